"""Out-of-core inputs: `FitsSource` and `ZarrSource` read one box of an image on demand.

`FitsSource` reads only the expanded box of each cell from disk, through the
same layout planner and checks as `Exposure.readFits`; `ZarrSource` reads zarr
arrays.
"""

from __future__ import annotations

__all__ = ["FitsSource", "ZarrSource", "zarrModule"]

import os
import threading
import warnings
from typing import Any

import numpy as np

from .._core import Box2I, Extent2I, Point2I
from ..image import Exposure

# ----------------------------------------------------------------- sources


class _SourceBase:
    """A lazily read exposure: ``getBBox()``, ``readExposure(box)``."""

    bbox: Box2I
    dtype: np.dtype
    psf: Any = None
    wcs: Any = None
    planes: dict[str, int] | None = None

    def getBBox(self) -> Box2I:
        return Box2I(self.bbox)

    def getPsf(self) -> Any:
        return self.psf

    def getWcs(self) -> Any:
        return self.wcs

    def readMask(self, box: Box2I) -> np.ndarray:
        """The int32 mask of ``box`` (a copy)."""
        raise NotImplementedError

    def readExposure(self, box: Box2I) -> Exposure:
        """A new (writeable, in-memory) exposure holding ``box`` of the source."""
        raise NotImplementedError


class FitsSource(_SourceBase):
    """Read boxes of a FITS exposure from disk, never the whole image.

    Accepts every layout `Exposure.readFits` reads (LSST ``IMAGE``/``MASK``/
    ``VARIANCE``, ``CCDData.write`` files, HST/JWST ``SCI``/``ERR``/``DQ``, a
    plain image HDU) and checks it exactly as `Exposure.readFits` does, from
    the headers, when it is made: the planes' shapes, an integer mask, mask
    plane cards, ``xy0``, that the file holds every byte, and the
    ``CHECKSUM``/``DATASUM`` cards present (which reads the file once).
    Reads go through astropy's ``section`` with ordinary file reads (no
    memory map: a truncated or sparse file raises `OSError`, never SIGBUS),
    so the resident memory holds only the boxes asked for.

    Parameters
    ----------
    path : `str` or path-like
        The FITS file.
    psf : `Psf`, optional
        A PSF to attach; default the file's (``PSF`` table), if any.
    hdu : `int`, `str` or ``(str, int)``, optional
        The image HDU, as for `Exposure.readFits`.
    verifyChecksums : `bool`, optional
        Verify ``CHECKSUM``/``DATASUM`` when present (default True).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    OSError
        ``FitsFormatError`` (also a `ValueError`) for a file `Exposure.readFits`
        refuses; a box read later from a file truncated meanwhile raises it
        too. Messages name the file and the HDU.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        psf: Any = None,
        hdu: Any = None,
        verifyChecksums: bool = True,
    ) -> None:
        from ._fitslayout import checkFile, planLayout
        from ._fitsread import openFits, readPsf

        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no such FITS file: {self.path!r}")
        with openFits(self.path) as hdul:
            layout = planLayout(hdul, self.path, hdu)
            checkFile(hdul, layout, verify=verifyChecksums)
            self.psf = psf if psf is not None else readPsf(hdul, layout)
        self._layout = layout
        if layout.mask is not None and layout.mask.name == "DQ" and layout.planes is None:
            self._scanDqBits()
        self.dtype = layout.dtype
        self.planes = layout.planes
        self.wcs = layout.wcs
        self.metadata = layout.metadata
        height, width = layout.shape
        self.bbox = Box2I(Point2I(*layout.xy0), Extent2I(width, height))
        self._reset()

    def _scanDqBits(self) -> None:
        """Name the bits of a DQ plane (as `Exposure.readFits` does), band by band."""
        from ._fitsread import nameDqPlanes, openFits, orBits
        from ._nddata import iterRows

        layout = self._layout
        assert layout.mask is not None
        bits = 0
        with openFits(self.path) as hdul:
            for rows in iterRows(layout.shape[0], 256):
                bits |= orBits(self._section(hdul, layout.mask, rows, slice(None)))
        nameDqPlanes(layout, bits)

    def _reset(self) -> None:
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_local", "_opened", "_lock"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def _hdul(self) -> Any:
        """This thread's open file (one per thread: astropy reads are not
        thread-safe on a shared handle)."""
        from astropy.io import fits
        from astropy.utils.exceptions import AstropyUserWarning

        hdul = getattr(self._local, "hdul", None)
        if hdul is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AstropyUserWarning)  # a short file: see _section
                hdul = fits.open(self.path, memmap=False, lazy_load_hdus=True)
            self._local.hdul = hdul
            with self._lock:
                self._opened.append(hdul)
        return hdul

    def close(self) -> None:
        """Close the files opened for reading (they reopen when needed)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for hdul in opened:
            hdul.close()
        self._local = threading.local()

    def __enter__(self) -> FitsSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def _section(self, hdul: Any, plane: Any, sy: slice, sx: slice) -> np.ndarray:
        """Rows ``sy``, columns ``sx`` of ``plane`` as stored (checked: a file
        truncated after it was opened raises an error naming it)."""
        from astropy.utils.exceptions import AstropyUserWarning

        from ._fitslayout import FitsFormatError

        height, width = self._layout.shape
        ny = len(range(*sy.indices(height)))
        nx = len(range(*sx.indices(width)))
        if plane.constant is not None:
            return np.full((ny, nx), plane.constant, dtype=plane.storedDtype())
        try:
            with warnings.catch_warnings():
                # astropy warns of a short file; the shape check below says it.
                warnings.simplefilter("ignore", AstropyUserWarning)
                data = np.asarray(hdul[plane.index].section[sy, sx])
        except (OSError, ValueError, TypeError, EOFError, IndexError) as err:
            size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
            why = (
                f"the file is truncated ({size} bytes; its data end at byte {plane.dataEnd})"
                if plane.dataEnd and size < plane.dataEnd
                else str(err)
            )
            raise FitsFormatError(
                f"{self.path}: {plane.label()}: cannot read rows {sy.start}-{sy.stop}: {why}"
            ) from None
        if data.shape != (ny, nx):
            raise FitsFormatError(
                f"{self.path}: {plane.label()}: read {data.shape} pixels instead of "
                f"{(ny, nx)}: the file is truncated"
            )
        return data

    def _read(self, plane: Any, box: Box2I) -> np.ndarray:
        sy, sx = box.slices(self.bbox)
        return self._section(self._hdul(), plane, sy, sx)

    def readMask(self, box: Box2I) -> np.ndarray:
        from ._fitsread import toMaskBits

        mask = self._layout.mask
        if mask is None:
            return np.zeros((box.getHeight(), box.getWidth()), np.int32)
        return toMaskBits(self._read(mask, box), self._layout, mask.label())

    def readExposure(self, box: Box2I) -> Exposure:
        from ._fitslayout import FitsFormatError
        from ._fitsread import toVariance

        layout = self._layout
        try:
            image = np.ascontiguousarray(
                self._read(layout.image, box), dtype=self.dtype.newbyteorder("=")
            )
        except (TypeError, ValueError) as err:  # pragma: no cover - checked at open
            raise FitsFormatError(f"{self.path}: {layout.image.label()}: {err}") from None
        variance = None
        if layout.variance is not None:
            variance = toVariance(
                self._read(layout.variance, box), layout.variance.kind, self.dtype
            )
        return Exposure.fromArrays(
            image,
            self.readMask(box) if layout.mask is not None else None,
            variance,
            xy0=(box.getMinX(), box.getMinY()),
            psf=self.psf,
            wcs=self.wcs,
            planeDict=self.planes,
        )


class ZarrSource(_SourceBase):
    """Read boxes of an exposure stored as a zarr group (arrays ``image``,
    ``mask``, ``variance``; attributes ``xy0`` and ``maskPlanes``), as
    written by `ZarrSink` or `ZarrSink.fromExposure`.

    Parameters
    ----------
    store : `str` or zarr store
        Path or URL of the group.
    psf : `Psf`, optional
        A PSF to attach.
    """

    def __init__(self, store: Any, psf: Any = None) -> None:
        zarr = zarrModule()
        self.store = store
        self.psf = psf
        group = zarr.open_group(store, mode="r")
        image = group["image"]
        height, width = image.shape
        x0, y0 = (int(v) for v in group.attrs.get("xy0", (0, 0)))
        self.bbox = Box2I(Point2I(x0, y0), Extent2I(width, height))
        self.dtype = np.dtype(image.dtype)
        self.planes = dict(group.attrs.get("maskPlanes", {})) or None
        if group.attrs.get("imagemapper_complete", True) is False:
            raise OSError(
                f"{store}: an incomplete output (its writer did not finish: "
                "imagemapper_complete is False); run it again, or resume it"
            )

    def _group(self) -> Any:
        return zarrModule().open_group(self.store, mode="r")

    def readMask(self, box: Box2I) -> np.ndarray:
        sy, sx = box.slices(self.bbox)
        g = self._group()
        if "mask" not in g:
            return np.zeros((box.getHeight(), box.getWidth()), np.int32)
        return np.asarray(g["mask"][sy, sx], dtype=np.int32)

    def readExposure(self, box: Box2I) -> Exposure:
        sy, sx = box.slices(self.bbox)
        g = self._group()
        image = np.asarray(g["image"][sy, sx])
        mask = np.asarray(g["mask"][sy, sx], dtype=np.int32) if "mask" in g else None
        variance = np.asarray(g["variance"][sy, sx]) if "variance" in g else None
        return Exposure.fromArrays(
            image,
            mask,
            variance,
            xy0=(box.getMinX(), box.getMinY()),
            psf=self.psf,
            planeDict=self.planes,
        )


def zarrModule() -> Any:
    try:
        import zarr
    except ImportError as err:  # pragma: no cover - optional extra
        raise ImportError("zarr input/output needs zarr: pip install 'imagemapper[zarr]'") from err
    return zarr
