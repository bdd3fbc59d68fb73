"""``imagemapper.lsst.ip.diffim``: the map-reduce framework under LSST's names.

``imageMapReduce`` holds the six task and config classes (imagemapper's),
with the names older client code uses; ``utils`` and ``imagePsfMatch`` hold
the other names the real clients (``imageDecorrelation``, ``zogy``) import.
Client modules can be dropped into this package's directory, or into an
``imagemapper/lsst/ip/diffim/`` directory of their own anywhere on
``sys.path`` (this package extends its ``__path__`` over ``sys.path``).
"""

from __future__ import annotations

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

from .imageMapReduce import *  # noqa: F403 - the package hoists its module's names
from .imageMapReduce import __all__ as __all__
