"""LSST module paths for porting LSST mapper code: the porting rule.

Every ``lsst.X`` import of LSST code becomes ``imagemapper.lsst.X``, except
``lsst.pex.config`` and ``lsst.utils``, which stay: they are the real
packages from PyPI, which imagemapper itself uses::

    import lsst.afw.image as afwImage
        -> import imagemapper.lsst.afw.image as afwImage
    from lsst.ip.diffim.imageMapReduce import ImageMapper
        -> from imagemapper.lsst.ip.diffim.imageMapReduce import ImageMapper
    import lsst.pex.config as pexConfig
        -> unchanged

The modules under this package re-export imagemapper's own classes where it
has them (``Exposure``, ``Box2I``, ``Task``, ``Struct``, ``CoaddPsf``,
``ImageMapReduceTask`` ...) and add, from ``imagemapper.lsst._compat``, the
few pieces that exist only for porting (``afw.math`` statistics and
convolution, ``KernelPsf``, ``PropertySet``, ``pex.exceptions`` ...).

The packages of this tree extend their ``__path__`` over ``sys.path``:
modules of a client (``imageDecorrelation.py``, ``zogy.py``) can be dropped
into ``imagemapper/lsst/ip/diffim/``, or into an ``imagemapper/lsst/...``
tree of their own in any directory on ``sys.path`` (no ``__init__.py``
needed there); their relative imports (``from .imageMapReduce import ...``)
find these modules, and these modules come first where names are the same.
"""

from __future__ import annotations

import os
import sys


def _portions() -> list[str]:
    """This package's directory, then every other ``<sys.path entry>/imagemapper/lsst``.

    The subpackages extend their own ``__path__`` from this one with
    `pkgutil.extend_path` (which searches the parent package's path).
    """
    path = list(__path__)
    seen = {os.path.realpath(p) for p in path}
    for entry in sys.path:
        if not isinstance(entry, str):
            continue
        candidate = os.path.join(entry or os.curdir, "imagemapper", "lsst")
        real = os.path.realpath(candidate)
        if real not in seen and os.path.isdir(candidate):
            seen.add(real)
            path.append(candidate)
    return path


__path__ = _portions()
