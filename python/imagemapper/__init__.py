"""imagemapper: tile-wise map-reduce over large astronomical images.

Split an exposure into a grid of overlapping cells, run a mapper on each
cell (with extra border pixels) and stitch the results back, as the LSST
Science Pipelines' ``ImageMapReduceTask`` does, with a Rust core.
"""

from __future__ import annotations

from ._core import Box2I, Extent2I, Point2D, Point2I
from ._core import __version__ as _core_version
from ._task import *  # noqa: F403  (explicit list written when the modules settle)
from ._image import *  # noqa: F403
from ._psf import *  # noqa: F403
from ._mapper import *  # noqa: F403
from ._reducer import *  # noqa: F403
from ._mapreduce import *  # noqa: F403
from ._executors import CellFailure, MapperError
from ._rustmappers import *  # noqa: F403

__version__ = _core_version
