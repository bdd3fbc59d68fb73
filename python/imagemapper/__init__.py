"""imagemapper: tile-wise map-reduce over large astronomical images.

Split an exposure into a grid of overlapping cells, run a mapper on each
cell (with extra border pixels) and stitch the results back, as the LSST
Science Pipelines' ``ImageMapReduceTask`` does, with a Rust core.
"""

from __future__ import annotations

from . import mappers
from ._core import Box2I, Extent2I, Point2D, Point2I
from ._core import __version__ as _core_version
from .image import LOCAL, PARENT, Exposure, Image, ImageOrigin, Mask, MaskedImage
from .image.psf import CoaddPsf, DoubleGaussianPsf, GaussianPsf, KernelPsf, Psf, Quadrupole, psfFwhm
from .mappers._rust import RustGaussianConvolveConfig, RustGaussianConvolveMapper
from .mapreduce._batch import CellBatch
from .mapreduce._executors import CellFailure, MapperError, WorkerStartError
from .mapreduce._facade import map_reduce
from .mapreduce._mapper import ImageMapper, ImageMapperConfig, PassThroughMapper
from .mapreduce._outofcore import (
    FitsSink,
    FitsSource,
    ZarrSink,
    ZarrSource,
    runOutOfCore,
    runOutOfCoreDask,
)
from .mapreduce._reducer import STITCH_OPERATIONS, ImageReducer, ImageReducerConfig
from .mapreduce._task import ImageMapReduceConfig, ImageMapReduceTask
from .task import Struct, Task, TaskMetadata, timeMethod

__version__: str = _core_version

__all__ = [
    "LOCAL",
    "PARENT",
    "STITCH_OPERATIONS",
    "Box2I",
    "CellBatch",
    "CellFailure",
    "CoaddPsf",
    "DoubleGaussianPsf",
    "Exposure",
    "Extent2I",
    "FitsSink",
    "FitsSource",
    "GaussianPsf",
    "Image",
    "ImageMapReduceConfig",
    "ImageMapReduceTask",
    "ImageMapper",
    "ImageMapperConfig",
    "ImageOrigin",
    "ImageReducer",
    "ImageReducerConfig",
    "KernelPsf",
    "MapperError",
    "Mask",
    "MaskedImage",
    "PassThroughMapper",
    "Point2D",
    "Point2I",
    "Psf",
    "Quadrupole",
    "RustGaussianConvolveConfig",
    "RustGaussianConvolveMapper",
    "Struct",
    "Task",
    "TaskMetadata",
    "WorkerStartError",
    "ZarrSink",
    "ZarrSource",
    "__version__",
    "map_reduce",
    "mappers",
    "psfFwhm",
    "runOutOfCore",
    "runOutOfCoreDask",
    "timeMethod",
]

# The public exceptions print and pickle under the name users import them by
# (``imagemapper.MapperError``), not the private module that defines them.
for _cls in (CellFailure, MapperError, WorkerStartError):
    _cls.__module__ = __name__
del _cls
