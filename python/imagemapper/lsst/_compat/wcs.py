"""``lsst.afw.geom.makeSkyWcs``: FITS WCS metadata to the package's WCS.

The package's WCS is an `astropy.wcs.WCS` in 0-based pixel coordinates,
which is also LSST's convention (FITS pixel 1 is LSST pixel 0), so the
metadata's ``CRPIX`` keep their FITS meaning.
"""

from __future__ import annotations

__all__ = ["makeSkyWcs"]

import re
import warnings
from collections.abc import Mapping
from typing import Any

from .daf import PropertySet
from .exceptions import InvalidParameterError

# Cards that describe the FITS file rather than the WCS.
_FILE_KEYS = frozenset({"SIMPLE", "BITPIX", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT"})
# The celestial WCS cards `makeSkyWcs(strip=True)` removes (primary WCS only).
_SKY_WCS_KEY = re.compile(
    r"^(WCSAXES|CTYPE\d|CRPIX\d|CRVAL\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|"
    r"RADESYS|RADECSYS|EQUINOX|EPOCH|LONPOLE|LATPOLE|(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+))$"
)


def makeSkyWcs(metadata: PropertySet | Mapping[str, Any], strip: bool = False) -> Any:
    """Return the `astropy.wcs.WCS` described by FITS WCS cards.

    Parameters
    ----------
    metadata : `PropertySet`, `PropertyList`, mapping or `astropy.io.fits.Header`
        The cards (``CTYPEi``, ``CRPIXi``, ``CRVALi``, ``CDi_j`` or
        ``CDELTi``/``PCi_j``, ``RADESYS``, ``EQUINOX``, SIP terms ...).
    strip : `bool`, optional
        Remove the WCS cards from ``metadata`` (a `PropertySet` or a
        mutable mapping) afterwards.

    Returns
    -------
    wcs : `astropy.wcs.WCS`
        A celestial WCS with two pixel axes, in 0-based pixel coordinates.

    Raises
    ------
    InvalidParameterError
        If the cards do not describe a celestial WCS.
    """
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    if isinstance(metadata, PropertySet):
        cards = {name: metadata.getScalar(name) for name in metadata.paramNames()}
    elif isinstance(metadata, Mapping):
        cards = dict(metadata)
    else:
        raise TypeError(
            f"makeSkyWcs needs a PropertySet, a PropertyList or a mapping, not "
            f"{type(metadata).__name__}"
        )
    header = fits.Header()
    for key, value in cards.items():
        if key in _FILE_KEYS or isinstance(value, (list, tuple, dict, PropertySet)):
            continue
        header[key] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header, naxis=2)
        except Exception as error:
            raise InvalidParameterError(f"the metadata do not describe a WCS: {error}") from error
    if not wcs.has_celestial or wcs.pixel_n_dim != 2:
        ctypes = [header.get(f"CTYPE{i}") for i in (1, 2)]
        raise InvalidParameterError(
            f"the metadata do not describe a celestial WCS (CTYPE1, CTYPE2 = {ctypes!r})"
        )
    if strip:
        for key in [k for k in cards if _SKY_WCS_KEY.match(k)]:
            if isinstance(metadata, PropertySet):
                metadata.remove(key)
            else:
                del metadata[key]  # type: ignore[attr-defined]
    return wcs
