"""``imagemapper.lsst.afw.geom``: ``makeSkyWcs`` returns the `astropy.wcs.WCS`
imagemapper uses for ``Exposure.getWcs()`` (0-based pixel coordinates)."""

from __future__ import annotations

__all__ = ["makeSkyWcs"]

from .._compat.wcs import makeSkyWcs
