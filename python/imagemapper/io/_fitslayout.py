"""Which HDUs of a FITS file hold the image, mask and variance, decided from the headers alone.

One planner for every reader (`Exposure.readFits` and the out-of-core
`~imagemapper.FitsSource`): `planLayout` decides which HDUs hold the image,
the mask and the variance, checks that they agree (shapes, integer mask, plane
bits, ``xy0``) and that the file holds every byte they need, and
`checkFile` verifies ``CHECKSUM``/``DATASUM`` where present.

Layouts understood:

- LSST (``IMAGE``, ``MASK``, ``VARIANCE`` extensions; ``MP_*`` plane cards),
  as `Exposure.writeFits` writes it;
- astropy/ccdproc ``CCDData.write`` (data in the primary HDU, ``MASK``,
  ``UNCERT`` with ``UTYPE`` naming a standard deviation, a variance or an
  inverse variance);
- HST and JWST (``SCI``, ``ERR`` (standard deviation), ``DQ`` (bit flags),
  ``VAR``/``IVAR``), one ``EXTVER`` per chip;
- any image HDU (no mask, zero variance).
"""

from __future__ import annotations

import bz2
import gzip
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..image._common import (
    shiftedWcs,
    validatePlanes,
)
from ..image._exposure import cardKey

if TYPE_CHECKING:
    from astropy.io import fits


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


def onesComplementAdd(a: int, b: int) -> int:
    total = a + b
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def sum32(stream: Any, nbytes: int) -> tuple[int, int]:
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
            total = onesComplementAdd(total, int(words.sum(dtype=np.uint64)))
    if carry:
        total = onesComplementAdd(total, int.from_bytes(carry.ljust(4, b"\0"), "big"))
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
class Plane:
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
    image, mask, variance : `Plane` or `None`
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
    image: Plane
    mask: Plane | None
    variance: Plane | None
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


def fail(path: str, where: str, problem: str) -> FitsFormatError:
    return FitsFormatError(f"{path}: {where}: {problem}")


_BITPIX_DTYPES = {8: np.uint8, 16: np.int16, 32: np.int32, 64: np.int64, -32: np.float32}


def hduName(hdu: Any, index: int) -> str:
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
        f"{i} {hduName(h, i) or '(no name)'}"
        + (f",{h.ver}" if hduName(h, i) not in ("", "PRIMARY") else "")
        for i, h in enumerate(hdul)
    )


def _chooseImage(hdul: Any, path: str, hdu: Any) -> tuple[int, list[str]]:
    """The index of the image HDU and the list of candidates (for the log line)."""
    wanted = _parseHdu(hdu)
    names = [hduName(h, i) for i, h in enumerate(hdul)]

    def hasData(i: int) -> bool:
        return _isImage(hdul[i]) and _imageShape(hdul[i].header) is not None

    if wanted is not None:
        if isinstance(wanted, int):
            if not -len(hdul) <= wanted < len(hdul):
                raise fail(path, f"hdu={hdu!r}", f"no such HDU; the file has {len(hdul)}")
            index = wanted % len(hdul)
        else:
            name, ver = wanted if isinstance(wanted, tuple) else (wanted, None)
            matches = [
                i for i, n in enumerate(names) if n == name and (ver is None or hdul[i].ver == ver)
            ]
            if not matches:
                raise fail(path, f"hdu={hdu!r}", f"no such HDU; the file has: {_hduListing(hdul)}")
            index = matches[0]
        if not hasData(index):
            raise fail(
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
        raise fail(
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


def _plane(hdul: Any, index: int, path: str) -> Plane:
    header = hdul[index].header
    shape = _imageShape(header)
    plane = Plane(index, hduName(hdul[index], index), int(hdul[index].ver), (0, 0), 0)
    if shape is None and _isConstant(header):
        shape = int(header["NPIX2"]), int(header["NPIX1"])
        plane.constant = float(header["PIXVALUE"])
    if shape is None:
        raise fail(path, plane.label(), f"is not a 2-d image (NAXIS={header.get('NAXIS')})")
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
    names = [hduName(h, i) for i, h in enumerate(hdul)]
    image = _plane(hdul, index, path)
    header = hdul[index].header
    try:
        xy0 = _xy0FromHeader(header) or (0, 0)
    except ValueError as err:
        raise fail(path, image.label(), str(err)) from None

    def check(plane: Plane, what: str) -> None:
        if plane.shape != image.shape:
            raise fail(
                path,
                plane.label(),
                f"the {what} has shape {plane.shape} but the image {image.label()} has "
                f"{image.shape}",
            )
        try:
            own = _xy0FromHeader(hdul[plane.index].header)
        except ValueError as err:
            raise fail(path, plane.label(), str(err)) from None
        if own is not None and own != xy0:
            raise fail(
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
            raise fail(
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
                raise fail(path, mask.label(), f"bad mask plane cards: {err}") from None

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
                raise fail(
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
                raise fail(path, image.label(), f"cannot read its WCS: {err}") from None

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
                where = f"HDU {index} ({hduName(hdul[index], index) or 'no name'})"
                stored = _storedHdu(hdul, index, raw)
                end = stored.dataStart + stored.dataBytes
                for plane in (layout.image, layout.mask, layout.variance):
                    if plane is not None and plane.index == index:
                        plane.dataEnd = end
                if size is not None and end > size:
                    raise fail(
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
                data32, got = sum32(raw, stored.dataBytes)
                if got < stored.dataBytes:
                    raise fail(
                        path,
                        where,
                        f"the file is truncated: {got} of {stored.dataBytes} data bytes",
                    )
                if datasum is not None and str(datasum).strip() and int(str(datasum)) != data32:
                    raise fail(
                        path,
                        where,
                        f"DATASUM {str(datasum).strip()} does not match the data ({data32}): "
                        "the file is corrupt",
                    )
                if checksum is not None:
                    raw.seek(stored.headerStart)
                    head32, _ = sum32(raw, stored.dataStart - stored.headerStart)
                    if onesComplementAdd(head32, data32) != 0xFFFFFFFF:
                        raise fail(
                            path, where, "CHECKSUM does not match the HDU: the file is corrupt"
                        )
    except FitsFormatError:
        raise
    except (EOFError, OSError, ValueError, gzip.BadGzipFile) as err:
        raise fail(path, "reading", f"the file is truncated or corrupt ({err})") from None
