"""FITS files and astropy NDData/CCDData: reading, writing and converting exposures.

One reader for every FITS input (`Exposure.readFits` and the out-of-core
`~imagemapper.FitsSource`): `planLayout` decides from the headers alone which
HDUs hold the image, the mask and the variance, checks that they agree
(shapes, integer mask, plane bits, ``xy0``) and that the file holds every
byte they need, and verifies ``CHECKSUM``/``DATASUM`` where present. Pixels
are read with ordinary file reads (never a memory map, which turns a
truncated or sparse file into SIGBUS).

Layouts understood:

- LSST (``IMAGE``, ``MASK``, ``VARIANCE`` extensions; ``MP_*`` plane cards),
  as `Exposure.writeFits` writes it;
- astropy/ccdproc ``CCDData.write`` (data in the primary HDU, ``MASK``,
  ``UNCERT`` with ``UTYPE`` naming a standard deviation, a variance or an
  inverse variance);
- HST and JWST (``SCI``, ``ERR`` (standard deviation), ``DQ`` (bit flags),
  ``VAR``/``IVAR``), one ``EXTVER`` per chip;
- any image HDU (no mask, zero variance).

The writer publishes atomically: the file is written under a temporary name
beside the target, flushed to disk and renamed into place only when complete,
so the target is either the previous file or the complete new one.

(Why one module of this size: the readers, the writer and the NDData
conversions share the layout rules -- header cards, ``xy0``, planes --; the
layout issue may split it along reading / writing / NDData.)
"""

from __future__ import annotations

__all__ = [
    "FitsFormatError",
    "FitsLayout",
    "fromNDData",
    "nddataLike",
    "planLayout",
    "publishDirectory",
    "publishFile",
    "readExposure",
    "toCCDData",
    "toNDData",
    "writeExposure",
]

import bz2
import datetime
import gzip
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .image import Exposure
from .image._common import (
    asXY,
    floatImageArray,
    int32MaskArray,
    ownedArray,
    shiftedWcs,
    validatePlanes,
)
from .image._exposure import cardKey

if TYPE_CHECKING:
    from astropy.io import fits
    from astropy.nddata import NDData

_log = logging.getLogger("imagemapper.fits")


class FitsFormatError(OSError, ValueError):
    """A FITS file that cannot be read as an exposure: truncated, corrupt or inconsistent.

    An `OSError` (it is a problem of the file) and a `ValueError` (of its
    content); the message names the file and the HDU.
    """


# --------------------------------------------------------------------------
# header cards
# --------------------------------------------------------------------------

_STRUCTURAL_KEY = re.compile(
    r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|XTENSION|PCOUNT|GCOUNT|EXTNAME|EXTVER|EXTLEVEL|EXTTYPE|"
    r"BZERO|BSCALE|BLANK|INHERIT|CHECKSUM|DATASUM|ZIMAGE|ZCMPTYPE|ZBITPIX|ZNAXIS\d*|ZTILE\d*|"
    r"ZQUANTIZ|ZDITHER0|ZSIMPLE|ZEXTEND|ZPCOUNT|ZGCOUNT|ZNAME\d*|ZVAL\d*|ZHECKSUM|ZDATASUM|"
    r"TFIELDS|TTYPE\d+|TFORM\d+|TUNIT\d+|TDIM\d+|THEAP|"
    r"DATAMIN|DATAMAX|UTYPE)$"
)
_WCS_KEY = re.compile(
    r"^((WCSAXES|WCSNAME|CRPIX\d|CRVAL\d|CDELT\d|CTYPE\d|CUNIT\d|CROTA\d|CRDER\d|CSYER\d|"
    r"PC\d_\d|CD\d_\d|PV\d_\d+|PS\d_\d+|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|"
    r"MJDREF|MJDREFI|MJDREFF|DATEREF)[A-Z]?|LTV\d|LTM\d_\d|"
    r"(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+)|"
    r"CPDIS\d|CPERR\d|CQDIS\d|CQERR\d|DP\d(\..*)?|DQ\d(\..*)?|D2IM\w*|NPOLEXT|AXISCORR)$"
)
_COMMENTARY_KEYS = ("HISTORY", "COMMENT")


def metadataFromHeader(header: fits.Header, into: dict[str, Any] | None = None) -> dict[str, Any]:
    """The non-structural cards of ``header`` as a dict (``into``, updated, if given).

    Structural, data-describing (``DATAMIN``...), WCS and mask-plane
    (``MP_*``) cards are left out: the writer makes them anew. ``HISTORY``
    and ``COMMENT`` cards become lists of strings (appended to what
    ``into`` holds).
    """
    out: dict[str, Any] = {} if into is None else into
    for card in header.cards:
        key = card.keyword
        if key in _COMMENTARY_KEYS:
            previous = out.get(key)
            lines = list(previous) if isinstance(previous, (list, tuple)) else []
            lines.append(str(card.value))
            out[key] = lines
            continue
        if not key or _STRUCTURAL_KEY.match(key) or _WCS_KEY.match(key) or key.startswith("MP_"):
            continue
        out[key] = card.value
    return out


def headerFromMetadata(metadata: Mapping[str, Any]) -> fits.Header:
    """A FITS header with one card per metadata item (``HIERARCH`` for long
    names; a list under ``HISTORY``/``COMMENT`` becomes one card per line)."""
    from astropy.io import fits

    header = fits.Header()
    for key, value in metadata.items():
        key = str(key)
        if key.upper() in _COMMENTARY_KEYS:
            lines = value if isinstance(value, (list, tuple)) else [value]
            for line in lines:
                if key.upper() == "HISTORY":
                    header.add_history(str(line))
                else:
                    header.add_comment(str(line))
            continue
        header[cardKey(key)] = value
    return header


def _xy0FromHeader(header: fits.Header) -> tuple[int, int] | None:
    """``xy0`` from the ``PARENT`` ``A`` WCS or ``LTV1/2``; `None` when the header has neither."""
    found = False
    xy0 = []
    for axis in (1, 2):
        if f"CRVAL{axis}A" in header and (
            str(header.get("WCSNAMEA", "")).strip().upper() == "PARENT"
            or str(header.get(f"CTYPE{axis}A", "")).strip().upper() == "LINEAR"
        ):
            value = float(header[f"CRVAL{axis}A"]) - (float(header.get(f"CRPIX{axis}A", 1.0)) - 1.0)
            found = True
        elif f"LTV{axis}" in header:
            value = -float(header[f"LTV{axis}"])
            found = True
        else:
            value = 0.0
        if value != round(value):
            raise ValueError(f"non-integer xy0 component {value} in the FITS header")
        xy0.append(round(value))
    return (xy0[0], xy0[1]) if found else None


def _hasCelestialKeys(header: fits.Header) -> bool:
    return any(k in header for k in ("CTYPE1", "CRPIX1", "CRVAL1", "CD1_1", "PC1_1", "CDELT1"))


# --------------------------------------------------------------------------
# raw bytes: checksums and truncation
# --------------------------------------------------------------------------

_CHUNK = 1 << 23  # bytes per read when streaming (8 MiB)


def _openRaw(path: str) -> Any:
    """The file's bytes as astropy sees them (gzip and bzip2 decompressed)."""
    with open(path, "rb") as f:
        magic = f.read(3)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic == b"BZh":
        return bz2.open(path, "rb")
    return open(path, "rb")


def _isCompressedFile(path: str) -> bool:
    with open(path, "rb") as f:
        magic = f.read(3)
    return magic[:2] == b"\x1f\x8b" or magic == b"BZh"


def _onesComplementAdd(a: int, b: int) -> int:
    total = a + b
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def _sum32(stream: Any, nbytes: int) -> tuple[int, int]:
    """The FITS 32-bit ones'-complement sum of the next ``nbytes`` of ``stream``
    and the number of bytes actually read (fewer when the file ends)."""
    total = 0
    done = 0
    carry = b""
    while done < nbytes:
        chunk = stream.read(min(_CHUNK, nbytes - done))
        if not chunk:
            break
        done += len(chunk)
        chunk = carry + chunk
        usable = len(chunk) - len(chunk) % 4
        carry = chunk[usable:]
        if usable:
            words = np.frombuffer(chunk, dtype=">u4", count=usable // 4)
            total = _onesComplementAdd(total, int(words.sum(dtype=np.uint64)))
    if carry:
        total = _onesComplementAdd(total, int.from_bytes(carry.ljust(4, b"\0"), "big"))
    return total, done


@dataclass
class _Stored:
    """Where an HDU's bytes are in the (decompressed) file and what its stored header says."""

    header: Any
    headerStart: int
    dataStart: int
    dataBytes: int  # without the padding to 2880 bytes


def _storedHdu(hdul: Any, index: int, raw: Any) -> _Stored:
    """Read HDU ``index``'s stored header from ``raw`` (for a tile-compressed
    image, the binary table's own header, which holds its checksums)."""
    from astropy.io import fits

    info = hdul.fileinfo(index)
    start, dataStart = int(info["hdrLoc"]), int(info["datLoc"])
    raw.seek(start)
    text = raw.read(dataStart - start)
    header = fits.Header.fromstring(text.decode("ascii", errors="replace"))
    naxis = int(header.get("NAXIS", 0))
    count = math.prod(int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)) if naxis else 0
    bits = abs(int(header.get("BITPIX", 8)))
    nbytes = bits // 8 * int(header.get("GCOUNT", 1)) * (int(header.get("PCOUNT", 0)) + count)
    return _Stored(header, start, dataStart, nbytes)


# --------------------------------------------------------------------------
# the layout of an exposure in a FITS file
# --------------------------------------------------------------------------

#: Extension names of planes, with how the variance is stored.
_MASK_NAMES = ("MASK", "DQ")
_VARIANCE_NAMES = {
    "VARIANCE": "var",
    "VAR": "var",
    "UNCERT": None,  # UTYPE says
    "ERR": "std",
    "IVAR": "ivar",
    "INVVAR": "ivar",
}
_PLANE_NAMES = frozenset((*_MASK_NAMES, *_VARIANCE_NAMES, "PSF", "PSF_KERNEL"))
#: UTYPE values (astropy's class names and uncertainty_type strings).
_UTYPES = {
    "STDDEVUNCERTAINTY": "std",
    "STD": "std",
    "VARIANCEUNCERTAINTY": "var",
    "VAR": "var",
    "INVERSEVARIANCE": "ivar",
    "IVAR": "ivar",
}
_VARIANCE_WORDS = {
    "var": "a variance",
    "std": "a standard deviation",
    "ivar": "an inverse variance",
}


@dataclass
class _Plane:
    """One HDU used as a plane."""

    index: int
    name: str
    ver: int
    shape: tuple[int, int]
    bitpix: int
    kind: str = ""  # variance storage: var | std | ivar
    constant: float | None = None  # HST's constant arrays (NAXIS = 0, NPIXn, PIXVALUE)
    dataEnd: int = 0  # where its data end in the file (set by checkFile)

    def storedDtype(self) -> np.dtype:
        return np.dtype(_BITPIX_DTYPES.get(self.bitpix, np.float64))

    def label(self) -> str:
        return f"HDU {self.index} ({self.name},{self.ver})" if self.name else f"HDU {self.index}"


@dataclass
class FitsLayout:
    """Which HDUs of a FITS file make an exposure, decided from the headers.

    Attributes
    ----------
    path : `str`
        The file.
    image, mask, variance : `_Plane` or `None`
        The HDUs used (``mask``/``variance`` `None` when absent).
    xy0 : ``(int, int)``
        Parent position of the first pixel.
    dtype : `numpy.dtype`
        The image's (and variance's) dtype in memory.
    planes : `dict` or `None`
        Mask planes (``None``: the defaults).
    dqBit31 : `int` or `None`
        The bit that a ``DQ`` flag 2**31 moves to (a `Mask` has bits 0-30).
    wcs : `astropy.wcs.WCS` or `None`
        In parent pixels.
    metadata : `dict`
        The primary's and the image HDU's non-structural cards.
    psfHdus : `list` of `int`
        The PSF table and kernel HDUs.
    candidates : `list` of `str`
        Every HDU that could have been the image (for the log line).
    hdusRead : `list` of `int`
        Every HDU whose bytes are used.
    """

    path: str
    image: _Plane
    mask: _Plane | None
    variance: _Plane | None
    xy0: tuple[int, int]
    dtype: np.dtype
    planes: dict[str, int] | None
    dqBit31: int | None
    wcs: Any
    metadata: dict[str, Any]
    psfHdus: list[int] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape

    def describe(self) -> str:
        """``'HDU 1 (SCI,1)'`` and its planes, for messages."""
        parts = [self.image.label()]
        if self.mask is not None:
            parts.append(f"mask {self.mask.name},{self.mask.ver}")
        if self.variance is not None:
            word = _VARIANCE_WORDS[self.variance.kind]
            parts.append(f"{word} from {self.variance.name},{self.variance.ver}")
        return ", ".join(parts)


def _fail(path: str, where: str, problem: str) -> FitsFormatError:
    return FitsFormatError(f"{path}: {where}: {problem}")


_BITPIX_DTYPES = {8: np.uint8, 16: np.int16, 32: np.int32, 64: np.int64, -32: np.float32}


def _hduName(hdu: Any, index: int) -> str:
    name = str(getattr(hdu, "name", "") or "").strip().upper()
    return name or ("PRIMARY" if index == 0 else "")


def _imageShape(header: Any) -> tuple[int, int] | None:
    """``(height, width)`` of an image header (degenerate extra axes allowed), else None."""
    naxis = int(header.get("NAXIS", 0))
    if naxis < 2:
        return None
    extra = [int(header.get(f"NAXIS{i}", 1)) for i in range(3, naxis + 1)]
    if any(n != 1 for n in extra):
        return None
    return int(header.get("NAXIS2", 0)), int(header.get("NAXIS1", 0))


def _isImage(hdu: Any) -> bool:
    return bool(getattr(hdu, "is_image", False))


def _isConstant(header: Any) -> bool:
    """HST's constant arrays: no data, ``NPIX1``/``NPIX2`` pixels of value ``PIXVALUE``."""
    return int(header.get("NAXIS", 0)) == 0 and all(
        k in header for k in ("NPIX1", "NPIX2", "PIXVALUE")
    )


def imageDtype(bitpix: int) -> np.dtype:
    """The in-memory image dtype for a FITS ``BITPIX`` (the rules of `Exposure.fromArrays`)."""
    return np.dtype(np.float64 if bitpix in (-64, 32, 64) else np.float32)


def _parseHdu(hdu: Any) -> int | str | tuple[str, int] | None:
    """Normalise an ``hdu=`` argument."""
    if hdu is None or (isinstance(hdu, (int, np.integer)) and not isinstance(hdu, bool)):
        return None if hdu is None else int(hdu)
    if isinstance(hdu, str):
        text = hdu.strip()
        if "," in text:
            name, _, ver = text.partition(",")
            try:
                return name.strip().upper(), int(ver)
            except ValueError:
                raise ValueError(f"hdu={hdu!r}: expected NAME, NAME,VER or an index") from None
        if text.lstrip("-").isdigit():
            return int(text)
        return text.upper()
    if isinstance(hdu, tuple) and len(hdu) == 2:
        return str(hdu[0]).strip().upper(), int(hdu[1])
    raise TypeError(f"hdu must be an index, a name or a (name, version) pair, not {hdu!r}")


def _hduListing(hdul: Any) -> str:
    return ", ".join(
        f"{i} {_hduName(h, i) or '(no name)'}"
        + (f",{h.ver}" if _hduName(h, i) not in ("", "PRIMARY") else "")
        for i, h in enumerate(hdul)
    )


def _chooseImage(hdul: Any, path: str, hdu: Any) -> tuple[int, list[str]]:
    """The index of the image HDU and the list of candidates (for the log line)."""
    wanted = _parseHdu(hdu)
    names = [_hduName(h, i) for i, h in enumerate(hdul)]

    def hasData(i: int) -> bool:
        return _isImage(hdul[i]) and _imageShape(hdul[i].header) is not None

    if wanted is not None:
        if isinstance(wanted, int):
            if not -len(hdul) <= wanted < len(hdul):
                raise _fail(path, f"hdu={hdu!r}", f"no such HDU; the file has {len(hdul)}")
            index = wanted % len(hdul)
        else:
            name, ver = wanted if isinstance(wanted, tuple) else (wanted, None)
            matches = [
                i for i, n in enumerate(names) if n == name and (ver is None or hdul[i].ver == ver)
            ]
            if not matches:
                raise _fail(path, f"hdu={hdu!r}", f"no such HDU; the file has: {_hduListing(hdul)}")
            index = matches[0]
        if not hasData(index):
            raise _fail(
                path,
                f"HDU {index} ({names[index] or 'no name'})",
                "holds no 2-d image data (choose another with hdu= / --hdu; the file has: "
                f"{_hduListing(hdul)})",
            )
        return index, []
    for preferred in ("IMAGE", "SCI"):
        found = [i for i, n in enumerate(names) if n == preferred and hasData(i)]
        if found:
            found.sort(key=lambda i: hdul[i].ver)
            return found[0], [f"{preferred},{hdul[i].ver}" for i in found]
    found = [i for i, n in enumerate(names) if n not in _PLANE_NAMES and hasData(i)]
    if not found:
        raise _fail(
            path, "no image data", f"no HDU holds a 2-d image (the file has: {_hduListing(hdul)})"
        )
    return found[0], [f"{i} ({names[i] or 'no name'})" for i in found]


def _findPlane(hdul: Any, names: list[str], image: int, candidates: tuple[str, ...]) -> int | None:
    ver = hdul[image].ver
    for wanted in candidates:
        for i, n in enumerate(names):
            if i != image and n == wanted and _isImage(hdul[i]) and hdul[i].ver == ver:
                header = hdul[i].header
                if _imageShape(header) is not None or _isConstant(header):
                    return i
    return None


def _plane(hdul: Any, index: int, path: str) -> _Plane:
    header = hdul[index].header
    shape = _imageShape(header)
    plane = _Plane(index, _hduName(hdul[index], index), int(hdul[index].ver), (0, 0), 0)
    if shape is None and _isConstant(header):
        shape = int(header["NPIX2"]), int(header["NPIX1"])
        plane.constant = float(header["PIXVALUE"])
    if shape is None:
        raise _fail(path, plane.label(), f"is not a 2-d image (NAXIS={header.get('NAXIS')})")
    plane.shape = shape
    plane.bitpix = int(header.get("BITPIX", 0))
    return plane


def planLayout(hdul: Any, path: str, hdu: Any = None) -> FitsLayout:
    """Decide from the headers which HDUs make the exposure, and check them.

    Parameters
    ----------
    hdul : `astropy.io.fits.HDUList`
        The open file (lazily loaded; no data is read).
    path : `str`
        Its name, for messages.
    hdu : `int`, `str` or ``(str, int)``, optional
        The image HDU: an index, an ``EXTNAME`` (``"SCI"``, ``"SCI,2"``) or
        ``(EXTNAME, EXTVER)``. Default: ``IMAGE``, else the first ``SCI``,
        else the first HDU with 2-d image data that is not a plane.

    Returns
    -------
    layout : `FitsLayout`

    Raises
    ------
    FitsFormatError
        When no HDU fits, or the planes disagree with the image (shape, dtype,
        ``xy0``, mask planes, ``UTYPE``); the message names the file and HDU.
    """
    from astropy.wcs import WCS

    index, candidates = _chooseImage(hdul, path, hdu)
    names = [_hduName(h, i) for i, h in enumerate(hdul)]
    image = _plane(hdul, index, path)
    header = hdul[index].header
    try:
        xy0 = _xy0FromHeader(header) or (0, 0)
    except ValueError as err:
        raise _fail(path, image.label(), str(err)) from None

    def check(plane: _Plane, what: str) -> None:
        if plane.shape != image.shape:
            raise _fail(
                path,
                plane.label(),
                f"the {what} has shape {plane.shape} but the image {image.label()} has "
                f"{image.shape}",
            )
        try:
            own = _xy0FromHeader(hdul[plane.index].header)
        except ValueError as err:
            raise _fail(path, plane.label(), str(err)) from None
        if own is not None and own != xy0:
            raise _fail(
                path,
                plane.label(),
                f"the {what} starts at parent pixel {own} but the image at {xy0}",
            )

    mask = None
    planes: dict[str, int] | None = None
    maskIndex = _findPlane(hdul, names, index, _MASK_NAMES)
    if maskIndex is not None:
        mask = _plane(hdul, maskIndex, path)
        check(mask, "mask")
        mheader = hdul[maskIndex].header
        if mask.bitpix < 0 or float(mheader.get("BSCALE", 1.0)) != 1.0:
            raise _fail(
                path,
                mask.label(),
                f"a mask holds integer bits, but this HDU has BITPIX={mask.bitpix}"
                + (f", BSCALE={mheader['BSCALE']}" if "BSCALE" in mheader else ""),
            )
        found = {key[3:]: value for key, value in mheader.items() if key.startswith("MP_")}
        if found:
            try:
                planes = validatePlanes(found)
            except (TypeError, ValueError) as err:
                raise _fail(path, mask.label(), f"bad mask plane cards: {err}") from None

    variance = None
    varIndex = _findPlane(hdul, names, index, tuple(_VARIANCE_NAMES))
    if varIndex is not None:
        variance = _plane(hdul, varIndex, path)
        check(variance, "variance")
        kind = _VARIANCE_NAMES[variance.name]
        if kind is None:
            utype = str(hdul[varIndex].header.get("UTYPE", "StdDevUncertainty")).strip()
            kind = _UTYPES.get(utype.upper())
            if kind is None:
                raise _fail(
                    path,
                    variance.label(),
                    f"unknown UTYPE {utype!r}; expected StdDevUncertainty, VarianceUncertainty "
                    "or InverseVariance (std, var, ivar)",
                )
        variance.kind = kind

    wcs = None
    if _hasCelestialKeys(header):
        import warnings

        from astropy.wcs import FITSFixedWarning

        with warnings.catch_warnings():
            # The fixes astropy applies (e.g. 'datfix') are reported once by the caller.
            warnings.simplefilter("ignore", FITSFixedWarning)
            try:
                wcs = shiftedWcs(WCS(header, fobj=hdul), xy0[0], xy0[1])
            except Warning:  # a warning the caller turned into an error
                raise
            except Exception as err:
                raise _fail(path, image.label(), f"cannot read its WCS: {err}") from None

    metadata: dict[str, Any] = {}
    if index != 0:
        metadataFromHeader(hdul[0].header, metadata)
    metadataFromHeader(header, metadata)

    psfHdus = [i for i, n in enumerate(names) if n in ("PSF", "PSF_KERNEL")]
    return FitsLayout(
        path=path,
        image=image,
        mask=mask,
        variance=variance,
        xy0=xy0,
        dtype=imageDtype(image.bitpix),
        planes=planes,
        dqBit31=None,
        wcs=wcs,
        metadata=metadata,
        psfHdus=psfHdus,
        candidates=candidates if len(candidates) > 1 else [],
    )


def checkFile(hdul: Any, layout: FitsLayout, verify: bool = True) -> None:
    """Check that the file holds every byte the layout needs (not truncated)
    and, with ``verify``, that the ``CHECKSUM``/``DATASUM`` cards present agree.

    Raises
    ------
    FitsFormatError
        Naming the file and the HDU.
    """
    path = layout.path
    used = [layout.image.index, *layout.psfHdus]
    used += [p.index for p in (layout.mask, layout.variance) if p is not None]
    compressed = _isCompressedFile(path)
    size = None if compressed else os.path.getsize(path)
    try:
        with _openRaw(path) as raw:
            for index in sorted(set(used)):
                where = f"HDU {index} ({_hduName(hdul[index], index) or 'no name'})"
                stored = _storedHdu(hdul, index, raw)
                end = stored.dataStart + stored.dataBytes
                for plane in (layout.image, layout.mask, layout.variance):
                    if plane is not None and plane.index == index:
                        plane.dataEnd = end
                if size is not None and end > size:
                    raise _fail(
                        path,
                        where,
                        f"the file is truncated: the data end at byte {end} but the file has "
                        f"{size} bytes",
                    )
                if not verify:
                    continue
                datasum = stored.header.get("DATASUM")
                checksum = stored.header.get("CHECKSUM")
                if datasum is None and checksum is None:
                    continue
                raw.seek(stored.dataStart)
                data32, got = _sum32(raw, stored.dataBytes)
                if got < stored.dataBytes:
                    raise _fail(
                        path,
                        where,
                        f"the file is truncated: {got} of {stored.dataBytes} data bytes",
                    )
                if datasum is not None and str(datasum).strip() and int(str(datasum)) != data32:
                    raise _fail(
                        path,
                        where,
                        f"DATASUM {str(datasum).strip()} does not match the data ({data32}): "
                        "the file is corrupt",
                    )
                if checksum is not None:
                    raw.seek(stored.headerStart)
                    head32, _ = _sum32(raw, stored.dataStart - stored.headerStart)
                    if _onesComplementAdd(head32, data32) != 0xFFFFFFFF:
                        raise _fail(
                            path, where, "CHECKSUM does not match the HDU: the file is corrupt"
                        )
    except FitsFormatError:
        raise
    except (EOFError, OSError, ValueError, gzip.BadGzipFile) as err:
        raise _fail(path, "reading", f"the file is truncated or corrupt ({err})") from None


# --------------------------------------------------------------------------
# pixels
# --------------------------------------------------------------------------


def toVariance(array: np.ndarray, kind: str, dtype: np.dtype) -> np.ndarray:
    """A variance plane (``dtype``, native order, a new array) from a stored
    variance (``var``), standard deviation (``std``) or inverse variance
    (``ivar``; 0 becomes ``inf``)."""
    arr = np.asarray(array)
    if kind == "std":
        out = np.square(arr.astype(dtype))
    elif kind == "ivar":
        ivar = arr.astype(np.float64)
        out = np.divide(1.0, ivar, out=np.full(ivar.shape, np.inf), where=ivar != 0).astype(dtype)
    else:
        out = np.array(arr, dtype=dtype)
    return ownedArray(out.astype(out.dtype.newbyteorder("="), copy=False))


def toMaskBits(array: np.ndarray, layout: FitsLayout, where: str) -> np.ndarray:
    """An int32 mask from stored mask bits (``DQ`` bit 31 moved, see `FitsLayout`)."""
    arr = _unsignedBits(np.asarray(array))
    if layout.dqBit31 is not None and arr.dtype.kind == "u" and arr.dtype.itemsize == 4:
        top = (arr >> np.uint32(31)).astype(np.uint32)
        arr = (arr & np.uint32(0x7FFFFFFF)) | (top << np.uint32(layout.dqBit31))
    try:
        return ownedArray(int32MaskArray(arr, f"the mask ({where})"))
    except (TypeError, ValueError) as err:
        raise FitsFormatError(f"{layout.path}: {where}: {err}") from None


def nameDqPlanes(layout: FitsLayout, bits: int) -> None:
    """Name the bits a ``DQ`` plane without ``MP_*`` cards uses (``DQ_BIT<n>``), so
    that the planes added later (``INVALID_MAPREDUCE``...) take free bits."""
    assert layout.mask is not None
    if layout.planes is not None or layout.mask.name != "DQ":
        return
    planes = {f"DQ_BIT{b}": b for b in range(31) if bits >> b & 1}
    if bits >> 31 & 1:
        free = [b for b in range(31) if not bits >> b & 1]
        if not free:
            raise _fail(
                layout.path,
                layout.mask.label(),
                "DQ uses all 32 bits; a mask holds 31 (bits 0-30)",
            )
        layout.dqBit31 = free[0]
        planes["DQ_BIT31"] = free[0]
    layout.planes = planes


def _unsignedBits(array: np.ndarray) -> np.ndarray:
    """Signed 8/16-bit flags as unsigned (their top bit is a flag, not a sign)."""
    if array.dtype.kind == "i" and array.dtype.itemsize < 4:
        return array.view(array.dtype.str.replace("i", "u"))
    return array


def orBits(array: np.ndarray) -> int:
    """Every bit set anywhere in ``array`` (stored flags)."""
    arr = _unsignedBits(np.asarray(array))
    if arr.size == 0:
        return 0
    if arr.dtype.kind == "i":
        arr = arr.view(arr.dtype.str.replace("i", "u"))
    return int(np.bitwise_or.reduce(arr, axis=None))


def openFits(path: str) -> Any:
    """Open ``path`` for reading: lazily, no memory map (a truncated or sparse
    file must raise an error, never SIGBUS)."""
    from astropy.io import fits

    try:
        return fits.open(path, memmap=False, lazy_load_hdus=True)
    except OSError as err:
        raise FitsFormatError(f"{path}: cannot read as FITS: {err}") from None


def readPsf(hdul: Any, layout: FitsLayout) -> Any:
    """The PSF stored in the file's ``PSF`` table and ``PSF_KERNEL`` images, or `None`."""
    from .io._psfrecords import psfFromRecords

    table = next((i for i in layout.psfHdus if _hduName(hdul[i], i) == "PSF"), None)
    if table is None:
        return None
    where = f"HDU {table} (PSF)"
    try:
        data = hdul[table].data
        rows = []
        names = list(data.columns.names) if data is not None else []
        for rec in data if data is not None else []:
            row: dict[str, Any] = {}
            for name in names:
                value = rec[name]
                if isinstance(value, (bytes, str)):
                    row[name] = value.decode() if isinstance(value, bytes) else value
                elif name == "parent":
                    row[name] = int(value)
                else:
                    row[name] = float(value)
            rows.append(row)
        kernels: dict[int, np.ndarray] = {}
        for i in layout.psfHdus:
            if _hduName(hdul[i], i) == "PSF_KERNEL":
                kernels[int(hdul[i].ver) - 1] = np.array(hdul[i].data, dtype=np.float64)
        ordered = [kernels.get(k) for k in range(max(kernels, default=-1) + 1)]
        return psfFromRecords(rows, ordered)
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise _fail(layout.path, where, f"cannot read the PSF: {err}") from None


def _pixels(hdul: Any, plane: _Plane, shape: tuple[int, int]) -> np.ndarray:
    if plane.constant is not None:
        return np.full(shape, plane.constant, dtype=plane.storedDtype())
    data = hdul[plane.index].data
    if data is None or int(np.size(data)) != shape[0] * shape[1]:
        got = None if data is None else np.shape(data)
        raise ValueError(f"{plane.label()} holds {got} pixels, its header says {shape}")
    return np.asarray(data).reshape(shape)


def readExposure(
    path: str | os.PathLike[str], hdu: Any = None, cls: type[Exposure] = Exposure
) -> Any:
    """Read an exposure (see `Exposure.readFits`)."""
    fspath = os.fspath(path)
    if not os.path.exists(fspath):
        raise FileNotFoundError(f"no such FITS file: {fspath!r}")
    with openFits(fspath) as hdul:
        layout = planLayout(hdul, fspath, hdu)
        if layout.candidates:
            _log.info(
                "%s: using %s (image HDUs: %s; choose one with hdu=)",
                fspath,
                layout.describe(),
                ", ".join(layout.candidates),
            )
        checkFile(hdul, layout)
        try:
            image = ownedArray(floatImageArray(_pixels(hdul, layout.image, layout.shape)))
            mask = None
            if layout.mask is not None:
                stored = _pixels(hdul, layout.mask, layout.shape)
                nameDqPlanes(layout, orBits(stored))
                mask = toMaskBits(stored, layout, layout.mask.label())
            variance = None
            if layout.variance is not None:
                stored = _pixels(hdul, layout.variance, layout.shape)
                variance = toVariance(stored, layout.variance.kind, image.dtype)
        except FitsFormatError:
            raise
        except (OSError, ValueError, TypeError, EOFError) as err:
            raise _fail(fspath, layout.describe(), f"cannot read the pixels: {err}") from None
        psf = readPsf(hdul, layout)
    return cls.fromArrays(
        image,
        mask,
        variance,
        layout.xy0,
        psf=psf,
        wcs=layout.wcs,
        planeDict=layout.planes,
        metadata=layout.metadata,
    )


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsyncDirectory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse
        pass
    finally:
        os.close(fd)


def publishFile(
    path: str | os.PathLike[str], write: Callable[[str], None], overwrite: bool = True
) -> None:
    """Write a file atomically: ``write(tmp)`` fills a temporary file beside
    ``path``, which is flushed to disk and renamed to ``path`` only when
    complete. On any error (or a kill) ``path`` is untouched: the previous
    file, or nothing; the temporary file is removed on errors.

    Parameters
    ----------
    path : path-like
        The target.
    write : callable
        Writes the whole file to the name it is given (which exists, empty);
        the name keeps ``path``'s suffix (``.gz``...).
    overwrite : `bool`
        Replace an existing ``path``; otherwise `FileExistsError`, also when
        another writer creates ``path`` meanwhile.
    """
    target = os.fspath(path)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(f"{target!r} exists (pass overwrite=True to replace it)")
    directory = os.path.dirname(os.path.abspath(target))
    name = os.path.basename(target)
    suffix = "".join(s for s in _suffixes(name) if s)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=f".partial{suffix}")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # refuses a target that appeared meanwhile
            except FileExistsError:
                raise FileExistsError(
                    f"{target!r} exists (pass overwrite=True to replace it)"
                ) from None
            except OSError:  # no hard links here: a (racy) check, then rename
                if os.path.lexists(target):
                    raise FileExistsError(
                        f"{target!r} exists (pass overwrite=True to replace it)"
                    ) from None
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
        _fsyncDirectory(directory)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError) and not isinstance(err, FileExistsError):
            from ._output import namedOSError

            raise namedOSError(err, target, "cannot write the file") from err
        raise


def publishDirectory(
    path: str | os.PathLike[str], write: Callable[[str], None], overwrite: bool = True
) -> None:
    """Write a directory (a zarr store) atomically: ``write(tmp)`` fills a
    temporary directory beside ``path``, renamed to ``path`` when complete.

    A previous directory at ``path`` is moved aside first and removed only
    after the new one is in place (a crash between the two renames leaves
    both, under their temporary names, and nothing half-written at ``path``).
    """
    import shutil

    target = os.path.abspath(os.fspath(path)).rstrip(os.sep)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(f"{target!r} exists (pass overwrite=True to replace it)")
    directory, name = os.path.split(target)
    tmp = tempfile.mkdtemp(dir=directory, prefix=f".{name}.", suffix=".partial")
    try:
        write(tmp)
        _fsyncDirectory(tmp)
        old = None
        if os.path.lexists(target):
            old = tempfile.mkdtemp(dir=directory, prefix=f".{name}.", suffix=".old")
            os.rmdir(old)
            os.rename(target, old)
        os.rename(tmp, target)
        _fsyncDirectory(directory)
        if old is not None and os.path.isdir(old):
            shutil.rmtree(old, ignore_errors=True)
        elif old is not None:
            os.unlink(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _suffixes(name: str) -> list[str]:
    lower = name.lower()
    for ext in (".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fits.bz2", ".gz", ".fz", ".bz2"):
        if lower.endswith(ext):
            return [name[-len(ext) :]]
    return [os.path.splitext(name)[1]]


def isTileCompressedName(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a tile-compressed FITS file (``.fz``)."""
    return os.fspath(path).lower().endswith(".fz")


def _imageHdu(data: np.ndarray, header: Any, name: str, compress: bool) -> Any:
    from astropy.io import fits

    if not compress:
        return fits.ImageHDU(data=data, header=header, name=name)
    if data.dtype.kind == "f":
        # quantize_level=0: no quantisation, the floats are compressed losslessly.
        return fits.CompImageHDU(
            data=data, header=header, name=name, compression_type="GZIP_2", quantize_level=0.0
        )
    return fits.CompImageHDU(data=data, header=header, name=name, compression_type="RICE_1")


def psfHdus(psf: Any) -> tuple[list[Any], list[str]]:
    """The ``PSF`` table HDU and ``PSF_KERNEL`` image HDUs of ``psf``, and notes."""
    from astropy.io import fits

    from .io._psfrecords import psfToRecords

    rows, kernels, notes = psfToRecords(psf)
    columns = []
    types = np.array([r["type"] for r in rows])
    columns.append(fits.Column(name="type", format=f"{max(len(t) for t in types)}A", array=types))
    columns.append(
        fits.Column(name="parent", format="J", array=np.array([r["parent"] for r in rows]))
    )
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r if k not in ("type", "parent") and k not in names)
    for name in names:
        values = np.array([r.get(name, math.nan) for r in rows], dtype=np.float64)
        columns.append(fits.Column(name=name, format="D", array=values))
    table = fits.BinTableHDU.from_columns(columns, name="PSF")
    table.header["PSFTYPE"] = (rows[0]["type"], "the PSF class (components follow its row)")
    table.header["COMMENT"] = (
        "One row per PSF: type, parent row (-1: the root), parameters (NaN: not used); "
        "kernel = index k of HDU PSF_KERNEL,k+1"
    )
    for note in notes:
        table.header["HISTORY"] = note
    hdus: list[Any] = [table]
    for k, kernel in enumerate(kernels):
        hdu = fits.ImageHDU(np.asarray(kernel, dtype=">f8"), name="PSF_KERNEL", ver=k + 1)
        hdus.append(hdu)
    return hdus, notes


def _version() -> str:
    from . import _core

    return str(_core.__version__)


def writeExposure(
    exposure: Exposure,
    path: str | os.PathLike[str],
    overwrite: bool = True,
    compress: bool | None = None,
) -> None:
    """Write the LSST layout, atomically, with checksums (see `Exposure.writeFits`)."""
    from astropy.io import fits

    target = os.fspath(path)
    if compress is None:
        compress = isTileCompressedName(target)
    primary = fits.PrimaryHDU()
    primary.header.extend(headerFromMetadata(exposure.metadata))
    primary.header["IM_VERS"] = (_version(), "imagemapper version that wrote this file")

    x0, y0 = exposure.getX0(), exposure.getY0()
    common = fits.Header()
    common["LTV1"] = (-x0, "-x0: parent x of the first column, negated")
    common["LTV2"] = (-y0, "-y0: parent y of the first row, negated")
    for axis, origin in ((1, x0), (2, y0)):
        common[f"CTYPE{axis}A"] = "LINEAR"
        common[f"CRPIX{axis}A"] = 1.0
        common[f"CRVAL{axis}A"] = float(origin)
    common["WCSNAMEA"] = "PARENT"
    wcs = exposure.getWcs()
    if wcs is not None:
        common.extend(shiftedWcs(wcs, -x0, -y0).to_header(relax=True))

    hdus: list[Any] = [primary]
    planes = (exposure.image, exposure.mask, exposure.variance)
    for extname, plane in zip(Exposure._FITS_EXTNAMES, planes, strict=True):
        header = common.copy()
        header["EXTTYPE"] = extname
        if extname == "MASK":
            for name, bit in sorted(exposure.mask.getMaskPlaneDict().items(), key=lambda kv: kv[1]):
                header[cardKey(f"MP_{name}")] = bit
        if extname == "VARIANCE":
            header["UTYPE"] = ("VarianceUncertainty", "astropy: this plane is a variance")
        data = np.ascontiguousarray(plane.array, dtype=plane.dtype.newbyteorder(">"))
        hdus.append(_imageHdu(data, header, extname, compress))
    if exposure.getPsf() is not None:
        extra, notes = psfHdus(exposure.getPsf())
        for note in notes:
            _log.warning("%s: %s", target, note)
        hdus.extend(extra)
    hdul = fits.HDUList(hdus)
    publishFile(target, lambda tmp: hdul.writeto(tmp, overwrite=True, checksum=True), overwrite)


# --------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------


def configDigest(config: Any) -> str:
    """SHA-256 of the config as ``config.saveToString()`` writes it (first 16 hex digits)."""
    import hashlib

    return hashlib.sha256(config.saveToString().encode()).hexdigest()[:16]


def provenance(
    config: Any = None,
    mapperClass: type | None = None,
    *,
    inputPath: str | os.PathLike[str] | None = None,
    inputHdu: str | None = None,
    overrides: list[str] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Metadata cards that say how an output was made.

    Returns ``IM_VERS`` (package version), ``IM_DATE`` (UTC), ``IM_MAPPR``
    (mapper class), ``IM_REDUC`` (reduce operation), ``IM_CFGDG`` (config
    digest), ``IM_INPUT`` and ``IM_INHDU`` (input file and HDU), and
    ``HISTORY`` lines: the command, every override given and every config
    field's value, so that a FITS reader sees the whole configuration.
    """
    from ._configdoc import configLines

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    out: dict[str, Any] = {"IM_VERS": _version(), "IM_DATE": now.isoformat()}
    history = [f"imagemapper {_version()} {now.isoformat()}"]
    if command:
        history.append(f"command: {command}")
    if mapperClass is not None:
        out["IM_MAPPR"] = f"{mapperClass.__module__}.{mapperClass.__qualname__}"
    if config is not None:
        out["IM_REDUC"] = str(config.reducer.reduceOperation)
        out["IM_CFGDG"] = configDigest(config)
    if inputPath is not None:
        out["IM_INPUT"] = os.path.basename(os.fspath(inputPath))
    if inputHdu is not None:
        out["IM_INHDU"] = inputHdu
    for text in overrides or []:
        history.append(f"override: {text}")
    if config is not None:
        history.append(f"config (sha256 {out['IM_CFGDG']}):")
        history.extend(f"  {line}" for line in configLines(config))
    out["HISTORY"] = history
    return out


def addProvenance(metadata: dict[str, Any], cards: Mapping[str, Any]) -> None:
    """Merge ``cards`` into ``metadata``: keywords replaced, ``HISTORY`` appended."""
    for key, value in cards.items():
        if key == "HISTORY":
            previous = metadata.get("HISTORY")
            lines = list(previous) if isinstance(previous, (list, tuple)) else []
            metadata["HISTORY"] = lines + list(value)
        else:
            metadata[key] = value


# --------------------------------------------------------------------------
# astropy NDData / CCDData
# --------------------------------------------------------------------------


def _nddataItems(exposure: Exposure) -> dict[str, Any]:
    x0, y0 = exposure.getX0(), exposure.getY0()
    items: dict[str, Any] = dict(exposure.metadata)
    items["LTV1"] = -x0
    items["LTV2"] = -y0
    for name, bit in sorted(exposure.mask.getMaskPlaneDict().items(), key=lambda kv: kv[1]):
        items[f"MP_{name}"] = bit
    return items


def _arrayWcs(exposure: Exposure) -> Any:
    wcs = exposure.getWcs()
    if wcs is None:
        return None
    x0, y0 = exposure.getX0(), exposure.getY0()
    wcs = shiftedWcs(wcs, -x0, -y0)
    wcs.pixel_shape = (exposure.getWidth(), exposure.getHeight())
    return wcs


def _psfKwargs(exposure: Exposure) -> dict[str, Any]:
    """``{"psf": kernel image at the average position}`` for NDData, when there is a PSF."""
    psf = exposure.getPsf()
    if psf is None or "psf" not in _nddataInit():
        return {}
    return {"psf": np.asarray(psf.computeKernelImage(psf.getAveragePosition()).array)}


def toCCDData(exposure: Exposure, unit: Any = None) -> Any:
    """See `Exposure.toCCDData`."""
    from astropy import units as u
    from astropy.nddata import CCDData, VarianceUncertainty

    if unit is None:
        unit = exposure.metadata.get("BUNIT", u.dimensionless_unscaled)
    header = headerFromMetadata(_nddataItems(exposure))
    return CCDData(
        exposure.image.array,
        unit=u.Unit(unit),
        uncertainty=VarianceUncertainty(exposure.variance.array, copy=False),
        mask=exposure.mask.array != 0,
        wcs=_arrayWcs(exposure),
        meta=header,
        **_psfKwargs(exposure),
    )


def _nddataInit() -> frozenset[str]:
    import inspect

    from astropy.nddata import NDData

    return frozenset(inspect.signature(NDData.__init__).parameters)


def toNDData(exposure: Exposure, unit: Any = None) -> Any:
    """See `Exposure.toNDData`."""
    from astropy.nddata import NDData, VarianceUncertainty

    if unit is not None or "BUNIT" in exposure.metadata:
        return toCCDData(exposure, unit)
    items = _nddataItems(exposure)
    items["XY0"] = (exposure.getX0(), exposure.getY0())
    return NDData(
        exposure.image.array,
        uncertainty=VarianceUncertainty(exposure.variance.array, copy=False),
        mask=exposure.mask.array,
        wcs=_arrayWcs(exposure),
        meta=items,
        **_psfKwargs(exposure),
    )


def _varianceOf(uncertainty: Any) -> np.ndarray | None:
    from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

    if uncertainty is None:
        return None
    if isinstance(uncertainty, VarianceUncertainty):
        return np.asarray(uncertainty.array)
    if isinstance(uncertainty, StdDevUncertainty):
        return np.square(np.asarray(uncertainty.array, dtype=float))
    if isinstance(uncertainty, InverseVariance):
        ivar = np.asarray(uncertainty.array, dtype=float)
        return np.divide(1.0, ivar, out=np.full(ivar.shape, np.inf), where=ivar != 0)
    raise TypeError(
        f"unsupported uncertainty type {type(uncertainty).__name__}; use "
        "VarianceUncertainty, StdDevUncertainty or InverseVariance"
    )


def fromNDData(cls: type[Exposure], nddata: NDData) -> Any:
    """See `Exposure.fromNDData`."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from .image.psf import KernelPsf

    data = np.asarray(nddata.data)
    meta = nddata.meta if nddata.meta is not None else {}
    variance = _varianceOf(nddata.uncertainty)
    if variance is not None and variance.shape != data.shape:
        variance = np.broadcast_to(variance, data.shape)

    mask = nddata.mask
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim == 0:
            mask = np.full(data.shape, mask.item(), dtype=mask.dtype)

    if "XY0" in meta:
        xy0 = asXY(meta["XY0"], "meta['XY0']")
    else:
        xy0 = (-int(meta.get("LTV1", 0)), -int(meta.get("LTV2", 0)))
    found = {key[3:]: int(value) for key, value in meta.items() if str(key).startswith("MP_")}
    planes = validatePlanes(found) if found else None

    wcs = nddata.wcs
    if wcs is not None and not isinstance(wcs, WCS):
        wcs = getattr(wcs, "low_level_wcs", wcs)
        if not isinstance(wcs, WCS):
            raise TypeError(f"only astropy.wcs.WCS is supported, not {type(nddata.wcs).__name__}")
    if wcs is not None:
        wcs = shiftedWcs(wcs, xy0[0], xy0[1])

    if isinstance(meta, fits.Header):
        metadata = metadataFromHeader(meta)
    else:
        metadata = {
            key: value
            for key, value in meta.items()
            if key not in ("XY0", "LTV1", "LTV2") and not str(key).startswith("MP_")
        }
    if nddata.unit is not None:
        metadata["BUNIT"] = nddata.unit.to_string()
    psf = None
    psfArray = getattr(nddata, "psf", None)
    if psfArray is not None:
        psf = KernelPsf(np.asarray(psfArray))
    return cls.fromArrays(
        data, mask, variance, xy0, psf=psf, wcs=wcs, planeDict=planes, metadata=metadata
    )


def nddataLike(template: NDData, data: np.ndarray) -> NDData:
    """``data`` in an object of ``template``'s class carrying copies of its
    uncertainty, mask, WCS, meta, unit and PSF (what `map_reduce` returns for
    NDData input: the function maps the data; everything else is the input's)."""
    import copy

    kwargs: dict[str, Any] = {
        "uncertainty": copy.deepcopy(template.uncertainty),
        "mask": None if template.mask is None else np.array(template.mask, copy=True),
        "wcs": template.wcs,
        "meta": copy.deepcopy(template.meta),
        "unit": template.unit,
    }
    if getattr(template, "psf", None) is not None and "psf" in _nddataInit():
        kwargs["psf"] = np.array(template.psf, copy=True)
    return type(template)(data, **kwargs)


def iterRows(n: int, rows: int) -> Iterator[slice]:
    """Slices of ``rows`` rows covering ``range(n)``."""
    for start in range(0, n, max(1, rows)):
        yield slice(start, min(n, start + rows))
