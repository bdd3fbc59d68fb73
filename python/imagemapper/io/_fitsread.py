"""Reading an exposure from a planned FITS layout: planes to variance and mask bits, the PSF.

Pixels are read with ordinary file reads (never a memory map, which turns a
truncated or sparse file into SIGBUS).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..image import Exposure
from ..image._common import (
    floatImageArray,
    int32MaskArray,
    ownedArray,
)
from ._fitslayout import FitsFormatError, FitsLayout, Plane, checkFile, fail, hduName, planLayout

_log = logging.getLogger("imagemapper.fits")

if TYPE_CHECKING:
    pass


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
            raise fail(
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
    from ._psfrecords import psfFromRecords

    table = next((i for i in layout.psfHdus if hduName(hdul[i], i) == "PSF"), None)
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
            if hduName(hdul[i], i) == "PSF_KERNEL":
                kernels[int(hdul[i].ver) - 1] = np.array(hdul[i].data, dtype=np.float64)
        ordered = [kernels.get(k) for k in range(max(kernels, default=-1) + 1)]
        return psfFromRecords(rows, ordered)
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise fail(layout.path, where, f"cannot read the PSF: {err}") from None


def _pixels(hdul: Any, plane: Plane, shape: tuple[int, int]) -> np.ndarray:
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
            raise fail(fspath, layout.describe(), f"cannot read the pixels: {err}") from None
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
