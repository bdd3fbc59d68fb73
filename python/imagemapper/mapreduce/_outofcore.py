"""Out-of-core map-reduce: images larger than memory, in and out.

The input is read lazily, cell by cell (`FitsSource`: only the expanded box
of each cell is read from disk, through astropy's ``section``; `ZarrSource`
for zarr arrays). The output is written band by band (`FitsSink`: rows are
written straight into a preallocated FITS file; `ZarrSink`) as soon as every
cell touching a band has been stitched, so peak memory is the cells in flight
plus one band of accumulators, whatever the image size.

Bands are processed top to bottom. The cells touching a band are mapped (by
the task's backend), stitched into the band in cell-index order — so each
pixel sees its cells in the same order as the in-memory run, and the result
is bit-identical to it — then the band is finalised, written and dropped.
Results of cells that also reach into the next band are kept until then, so
every cell is mapped exactly once.

With dask (`runOutOfCoreDask`), every band is an independent task on a
worker: the worker reads its cells from shared storage, maps and stitches
them and writes the band into a zarr array. Nothing but small descriptions
travels through the client; cells that straddle two bands are mapped by both
band tasks (a cost of about cellHeight / bandHeight extra work).
"""

from __future__ import annotations

__all__ = [
    "FitsSink",
    "FitsSource",
    "ZarrSink",
    "ZarrSource",
    "runOutOfCore",
    "runOutOfCoreDask",
]

import errno
import json
import os
import threading
import warnings
from typing import Any

import numpy as np

from .._core import Box2I, Extent2I, Point2I
from ..image import Exposure
from ..task import Struct
from ._executors import CellFailure, iterOrderedResults, runChunk
from ._reducer import ImageReducer, Stitcher

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
        from ..io._fitslayout import checkFile, planLayout
        from ..io._fitsread import openFits, readPsf

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
        from ..io._fitsread import nameDqPlanes, openFits, orBits
        from ..io._nddata import iterRows

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

        from ..io._fitslayout import FitsFormatError

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
        from ..io._fitsread import toMaskBits

        mask = self._layout.mask
        if mask is None:
            return np.zeros((box.getHeight(), box.getWidth()), np.int32)
        return toMaskBits(self._read(mask, box), self._layout, mask.label())

    def readExposure(self, box: Box2I) -> Exposure:
        from ..io._fitslayout import FitsFormatError
        from ..io._fitsread import toVariance

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


class _SourceReadError(Exception):
    """A failed read of the input inside a cell task: the run re-raises the
    `OSError` itself (it names the file and HDU), never a mapper failure, under
    any ``onMapperError`` policy."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


class _GuardedSource:
    """A source whose read errors are marked as such (see `_SourceReadError`)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def readExposure(self, box: Box2I) -> Exposure:
        try:
            return self._source.readExposure(box)
        except OSError as err:
            raise _SourceReadError(err) from err


def _guarded(source: Any) -> Any:
    """``source`` as the executors read it (`_GuardedSource`)."""
    return _GuardedSource(source)


def _raiseReadError(failure: Any) -> None:
    """Re-raise the input's read error that made ``failure``, if it is one."""
    if isinstance(failure.exception, _SourceReadError):
        raise failure.exception.error


def zarrModule() -> Any:
    try:
        import zarr
    except ImportError as err:  # pragma: no cover - optional extra
        raise ImportError("zarr input/output needs zarr: pip install 'imagemapper[zarr]'") from err
    return zarr


# ------------------------------------------------------------------- sinks


class _BandSink:
    """What `FitsSink` and `ZarrSink` share: the lock, the progress record and
    the publication of ``target`` (see `imagemapper.io._output`)."""

    target: str | None  # None: a store that is not a local path (no lock, no resume)
    overwrite: bool

    def _startOutput(self, target: str | None, overwrite: bool) -> None:
        from ..io._output import OutputLock, ProgressRecord, sideName

        self.target = target
        self.overwrite = bool(overwrite)
        self._begun = False
        self._finished = False
        self._bandsDone = 0
        self._run: dict[str, Any] | None = None
        self._lock: Any = None
        self._progress: Any = None
        self._partial: Any = None
        if target is None:
            return
        if os.path.lexists(target) and not overwrite:
            raise FileExistsError(f"{target!r} exists (pass overwrite=True to replace it)")
        if not os.path.isdir(os.path.dirname(target)):
            raise FileNotFoundError(f"{target!r}: the output's folder does not exist")
        self._partial = sideName(target, ".partial")
        self._progress = ProgressRecord(target)
        self._lock = OutputLock(target)
        self._lock.acquire()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_lock"] = None  # the lock stays with the process that took it
        return state

    def _warnIfUnfinished(self) -> None:
        """Say so when the sink that holds the lock is dropped unpublished."""
        if self._begun and not self._finished and self._lock is not None:
            warnings.warn(
                f"{self.target}: the sink was never closed, so the output was not published "
                "(call close(), or use the sink as a context manager)",
                ResourceWarning,
                stacklevel=2,
            )

    # -- the run's life: begin, writeBand + commit per band, close (or abort)

    def begin(self, run: dict[str, Any] | None = None, resume: bool = False) -> int:
        """Prepare the partial output; return the number of bands already done.

        With ``resume``, a partial output left by a run described by the same
        ``run`` is continued (`ValueError` if the description differs);
        otherwise, or when there is none, a new one is started.
        """
        if self._finished:
            raise ValueError(f"{self.target or self}: this sink is closed")
        self._run = run
        if resume and self._progress is not None:
            from ..io._output import mismatch

            record = self._progress.load()
            if record is not None:
                diff = mismatch(record.get("run") or {}, run or {})
                if diff:
                    raise ValueError(
                        f"cannot resume {self.target}: its partial output was written by "
                        f"another run ({diff}); run without resume to start again"
                    )
                if self._reopen():
                    self._begun = True
                    self._bandsDone = int(record["bandsDone"])
                    return self._bandsDone
        self._create()
        self._begun = True
        self._bandsDone = 0
        if run is not None and self._progress is not None:
            self._progress.save(run, 0)
        return 0

    def _ensureBegun(self) -> None:
        if not self._begun:
            self.begin()

    def commit(self, bandsDone: int) -> None:
        """Record that the first ``bandsDone`` bands are written (flushed first)."""
        self._flush()
        self._bandsDone = bandsDone
        if self._run is not None and self._progress is not None:
            self._progress.save(self._run, bandsDone)

    def close(self) -> None:
        """Finish the output and publish it at its name (idempotent)."""
        if self._finished:
            return
        try:
            self._ensureBegun()
            self._finish()
            if self._partial is not None and self.target is not None:
                self._publish()
        except BaseException:
            self.abort(keep=True)
            raise
        self._finished = True
        if self._progress is not None:
            self._progress.remove()
        if self._lock is not None:
            self._lock.release()

    def abort(self, keep: bool = False) -> None:
        """Give up: the target stays as it was. The partial output is kept for a
        resumed run when ``keep`` and some band was committed, else removed."""
        if self._finished:
            return
        self._finished = True
        self._closeFiles()
        if self._begun and not (keep and self._bandsDone > 0 and self._run is not None):
            self._removePartial()
            if self._progress is not None:
                self._progress.remove()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, kind: Any, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort(keep=True)

    # -- what each format does
    def _create(self) -> None:
        raise NotImplementedError

    def _reopen(self) -> bool:
        raise NotImplementedError

    def _flush(self) -> None:
        pass

    def _finish(self) -> None:
        pass

    def _publish(self) -> None:
        raise NotImplementedError

    def _closeFiles(self) -> None:
        pass

    def _removePartial(self) -> None:
        raise NotImplementedError


class FitsSink(_BandSink):
    """Write an exposure into a FITS file band by band, atomically.

    The file (LSST layout: empty primary, IMAGE, MASK, VARIANCE) is written
    under a temporary name beside ``path`` (``.NAME.partial``), whose full
    size is reserved on disk when the first band comes (no sparse file: a full
    disk fails then, with an `OSError` naming the file). `writeBand` writes
    rows straight to their place with ordinary file writes, so no image-sized
    buffer is ever held. `close` adds ``DATASUM``/``CHECKSUM`` to every HDU
    and renames the file to ``path``: a previous file there stays intact until
    the new one is complete. The result reads back with `Exposure.readFits`.

    The sink holds an advisory lock on ``path`` from its creation to `close`
    or `abort` (a second writer is refused, the holder named). Used as a
    context manager, it is closed on success and aborted on an error.

    Parameters
    ----------
    path : `str` or path-like
        The output (uncompressed FITS).
    bbox : `Box2I`
        The output's box (its ``xy0`` and size).
    dtype
        Pixel type of the image and variance.
    planes : `dict` [`str`, `int`]
        Mask plane bits, written as ``MP_*`` cards.
    wcs : `astropy.wcs.WCS`, optional
        The sky WCS (of the parent frame).
    overwrite : `bool`, optional
        Replace an existing file (default True); else `FileExistsError`.
    metadata : mapping, optional
        Cards of the primary header (as `Exposure.metadata`), e.g. provenance.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        bbox: Box2I,
        dtype: Any,
        planes: dict[str, int],
        wcs: Any = None,
        overwrite: bool = True,
        metadata: Any = None,
    ) -> None:
        from astropy.io import fits

        from ..image._common import shiftedWcs
        from ..image._exposure import cardKey
        from ..io._fitslayout import headerFromMetadata
        from ..io._fitswrite import packageVersion as _version

        self.path = os.fspath(path)
        lower = self.path.lower()
        if lower.endswith((".gz", ".fz", ".bz2")):
            raise ValueError(
                f"{self.path!r}: FitsSink writes uncompressed FITS; give a name ending in .fits"
            )
        if os.path.isdir(self.path):
            raise IsADirectoryError(f"{self.path!r} is a directory; give a file name")
        self.bbox = Box2I(bbox)
        self.dtype = np.dtype(dtype)
        width, height = bbox.getWidth(), bbox.getHeight()
        x0, y0 = bbox.getMinX(), bbox.getMinY()
        common = fits.Header()
        common["LTV1"] = -x0
        common["LTV2"] = -y0
        for axis, origin in ((1, x0), (2, y0)):
            common[f"CTYPE{axis}A"] = "LINEAR"
            common[f"CRPIX{axis}A"] = 1.0
            common[f"CRVAL{axis}A"] = float(origin)
        common["WCSNAMEA"] = "PARENT"
        if wcs is not None:
            common.extend(shiftedWcs(wcs, -x0, -y0).to_header(relax=True))
        self._types = {
            "IMAGE": self.dtype.newbyteorder(">"),
            "MASK": np.dtype(">i4"),
            "VARIANCE": self.dtype.newbyteorder(">"),
        }
        primary = fits.PrimaryHDU().header
        primary.extend(headerFromMetadata(dict(metadata or {})))
        primary["IM_VERS"] = (_version(), "imagemapper version that wrote this file")
        headers = [primary]
        for name in ("IMAGE", "MASK", "VARIANCE"):
            header = fits.ImageHDU(data=np.zeros((1, 1), self._types[name]), name=name).header
            header["NAXIS1"] = width
            header["NAXIS2"] = height
            header.extend(common)
            header["EXTTYPE"] = name
            if name == "MASK":
                for pname, bit in sorted(planes.items(), key=lambda kv: kv[1]):
                    header[cardKey(f"MP_{pname}")] = bit
            if name == "VARIANCE":
                header["UTYPE"] = "VarianceUncertainty"
            headers.append(header)
        # (header, where it starts, where its data start, data bytes) per HDU
        self._hdus: list[tuple[Any, int, int, int]] = []
        self._offsets: dict[str, int] = {}
        position = 0
        for header in headers:
            header["DATASUM"] = ("0", "data unit checksum")
            header["CHECKSUM"] = ("0" * 16, "HDU checksum")
            start = position
            position += len(header.tostring())
            name = header.get("EXTNAME", "")
            nbytes = width * height * self._types[name].itemsize if name else 0
            if name:
                self._offsets[name] = position
            self._hdus.append((header, start, position, nbytes))
            position += -(-nbytes // 2880) * 2880
        self._size = position
        self._rowBytes = {k: width * t.itemsize for k, t in self._types.items()}
        self._file: Any = None
        self._startOutput(os.path.abspath(self.path), overwrite)

    def _create(self) -> None:
        from ..io._output import namedOSError

        assert self._partial is not None
        self._closeFiles()
        try:
            f = open(self._partial, "w+b")
        except OSError as err:
            raise namedOSError(err, self.path, "cannot create the output") from None
        self._file = f
        try:
            try:
                os.posix_fallocate(f.fileno(), 0, self._size)
            except OSError as err:
                if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                zeros = bytes(1 << 20)  # no fallocate here: real zeros, never a hole
                for start in range(0, self._size, len(zeros)):
                    f.write(zeros[: min(len(zeros), self._size - start)])
            for header, start, _, _ in self._hdus:
                f.seek(start)
                f.write(header.tostring().encode("ascii"))
            f.flush()
        except OSError as err:
            self._closeFiles()
            self._removePartial()
            raise namedOSError(
                err, self.path, f"cannot reserve {self._size} bytes for the output"
            ) from None

    def _reopen(self) -> bool:
        assert self._partial is not None
        try:
            if os.path.getsize(self._partial) != self._size:
                return False
            self._closeFiles()
            self._file = open(self._partial, "r+b")
        except OSError:
            return False
        return True

    def writeBand(
        self, box: Box2I, image: np.ndarray, mask: np.ndarray, variance: np.ndarray
    ) -> None:
        """Write full-width rows ``box`` (its x range must be the sink's)."""
        from ..io._output import namedOSError

        if box.getMinX() != self.bbox.getMinX() or box.getWidth() != self.bbox.getWidth():
            raise ValueError(f"band {box} must span the full width of {self.bbox}")
        self._ensureBegun()
        row0 = box.getMinY() - self.bbox.getMinY()
        f = self._file
        try:
            for name, arr in (("IMAGE", image), ("MASK", mask), ("VARIANCE", variance)):
                f.seek(self._offsets[name] + row0 * self._rowBytes[name])
                f.write(np.ascontiguousarray(arr, dtype=self._types[name]).tobytes())
        except OSError as err:
            raise namedOSError(err, self.path, f"cannot write rows of band {box}") from None

    def _flush(self) -> None:
        from ..io._output import namedOSError

        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as err:
            raise namedOSError(err, self.path, "cannot flush the output to disk") from None

    def _finish(self) -> None:
        """Write ``DATASUM`` and ``CHECKSUM`` into every header (reading the data once)."""
        from ..io._fitslayout import onesComplementAdd as _onesComplementAdd
        from ..io._fitslayout import sum32 as _sum32
        from ..io._output import encodeChecksum, namedOSError

        f = self._file
        try:
            f.flush()
            for header, start, dataStart, nbytes in self._hdus:
                f.seek(dataStart)
                datasum, got = _sum32(f, nbytes)
                if got != nbytes:  # pragma: no cover - the file shrank under us
                    raise OSError(errno.EIO, "the partial output is short")
                header["DATASUM"] = str(datasum)
                header["CHECKSUM"] = "0" * 16
                text = header.tostring().encode("ascii")
                headsum = int(np.frombuffer(text, ">u4").sum(dtype=np.uint64))
                header["CHECKSUM"] = encodeChecksum(_onesComplementAdd(headsum, datasum))
                text = header.tostring().encode("ascii")
                assert len(text) == dataStart - start
                f.seek(start)
                f.write(text)
            f.flush()
            os.fsync(f.fileno())
        except OSError as err:
            raise namedOSError(err, self.path, "cannot finish the output") from None
        self._closeFiles()

    def _publish(self) -> None:
        from ..io._output import replaceFile

        assert self._partial is not None and self.target is not None
        replaceFile(self._partial, self.target, self.overwrite)

    def _closeFiles(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()

    def _removePartial(self) -> None:
        if self._partial is not None:
            try:
                os.unlink(self._partial)
            except FileNotFoundError:
                pass

    def __del__(self) -> None:
        try:
            self._warnIfUnfinished()
            self._closeFiles()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class ZarrSink(_BandSink):
    """Write an exposure into a zarr group band by band (arrays ``image``,
    ``mask``, ``variance``; attributes ``xy0``, ``maskPlanes``).

    Chunks are ``(bandHeight, width)`` so that bands written by different
    workers never share a chunk. A local directory is written under a
    temporary name beside it (``.NAME.partial``) and renamed into place by
    `close`, a previous one being removed only then; the group's attribute
    ``imagemapper_complete`` is False until `close` sets it (last), and
    `ZarrSource` refuses a group where it is False (the only guard for a
    store that is not a local directory). The sink locks a local target as
    `FitsSink` does.
    """

    def __init__(
        self,
        store: Any,
        bbox: Box2I,
        dtype: Any,
        planes: dict[str, int],
        bandHeight: int,
        overwrite: bool = True,
        metadata: Any = None,
    ) -> None:
        self.store = store
        self.bbox = Box2I(bbox)
        self.dtype = np.dtype(dtype)
        self.planes = dict(planes)
        self.metadata = dict(metadata or {})
        self.bandHeight = int(bandHeight)
        local = isinstance(store, (str, os.PathLike)) and "://" not in os.fspath(store)
        self._startOutput(os.path.abspath(os.fspath(store)) if local else None, overwrite)
        self._writeStore = self._partial if local else store

    def _create(self) -> None:
        zarr = zarrModule()
        if self._partial is not None:
            self._removePartial()
        shape = (self.bbox.getHeight(), self.bbox.getWidth())
        chunks = (self.bandHeight, self.bbox.getWidth())
        mode = "w" if self.overwrite or self._partial is not None else "w-"
        group = zarr.open_group(self._writeStore, mode=mode)
        group.attrs["imagemapper_complete"] = False
        for name, dt in (("image", self.dtype), ("mask", np.int32), ("variance", self.dtype)):
            group.create_array(name, shape=shape, chunks=chunks, dtype=np.dtype(dt), fill_value=0)
        group.attrs["xy0"] = [self.bbox.getMinX(), self.bbox.getMinY()]
        group.attrs["maskPlanes"] = dict(self.planes)
        if self.metadata:
            group.attrs["metadata"] = json.loads(json.dumps(self.metadata, default=str))

    def _reopen(self) -> bool:
        try:
            group = zarrModule().open_group(self._writeStore, mode="r")
            return group["image"].shape == (self.bbox.getHeight(), self.bbox.getWidth())
        except Exception:
            return False

    def writeBand(
        self, box: Box2I, image: np.ndarray, mask: np.ndarray, variance: np.ndarray
    ) -> None:
        """Write full-width rows ``box``."""
        self._ensureBegun()
        sy, sx = box.slices(self.bbox)
        group = zarrModule().open_group(self._writeStore, mode="r+")
        group["image"][sy, sx] = image
        group["mask"][sy, sx] = mask
        group["variance"][sy, sx] = variance

    def _finish(self) -> None:
        group = zarrModule().open_group(self._writeStore, mode="r+")
        group.attrs["imagemapper_complete"] = True

    def _publish(self) -> None:
        from ..io._output import replaceDirectory

        assert self._partial is not None and self.target is not None
        replaceDirectory(self._partial, self.target, self.overwrite)

    def _removePartial(self) -> None:
        import shutil

        if self._partial is not None and os.path.lexists(self._partial):
            shutil.rmtree(self._partial, ignore_errors=True)

    def __del__(self) -> None:
        try:
            self._warnIfUnfinished()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    @classmethod
    def fromExposure(cls, store: Any, exposure: Exposure, bandHeight: int = 256) -> ZarrSink:
        """Write an in-memory exposure to a zarr group (e.g. to make test inputs)."""
        sink = cls(
            store, exposure.getBBox(), exposure.dtype, exposure.mask.getMaskPlaneDict(), bandHeight
        )
        with sink:
            sink.writeBand(
                exposure.getBBox(),
                exposure.image.array,
                exposure.mask.array,
                exposure.variance.array,
            )
        return sink


# ------------------------------------------------------------------- bands


def _bands(bbox: Box2I, bandHeight: int) -> list[Box2I]:
    out = []
    y = bbox.getMinY()
    while y <= bbox.getMaxY():
        h = min(bandHeight, bbox.getMaxY() - y + 1)
        out.append(Box2I(Point2I(bbox.getMinX(), y), Extent2I(bbox.getWidth(), h)))
        y += h
    return out


def _prepare(
    task: Any, source: Any, bandHeight: int | None, nThreads: int
) -> tuple[Stitcher, list, list]:
    """The grid, the bands and the output's template stitcher; refuses an
    operation the out-of-core drivers cannot do before anything is written."""
    bbox = source.getBBox()
    # Refused first: nothing (not even the grid) is made for an operation
    # that cannot be stitched band by band.
    Stitcher.forSource(task.reducer, bbox, source.dtype, None, [], 1)
    grid = task.makeGrid(bbox, source.getPsf())
    boxes0, boxes1 = grid.boxes0, grid.boxes1
    cells = [(i, b0, b1) for i, (b0, b1) in enumerate(zip(boxes0, boxes1))]
    if bandHeight is None:
        tallest = max((b.getHeight() for b in boxes0), default=1)
        bandHeight = max(256, 4 * tallest)
    if bandHeight < 1:
        raise ValueError(f"bandHeight={bandHeight} must be a positive number of rows")
    template = Stitcher.forSource(
        task.reducer, bbox, source.dtype, source.planes or None, boxes0, nThreads
    )
    return template, cells, _bands(bbox, bandHeight)


def runOutOfCore(
    task: Any,
    source: Any,
    sink: Any = None,
    *,
    outputPath: str | os.PathLike[str] | None = None,
    bandHeight: int | None = None,
    backend: str | None = None,
    numWorkers: int | None = None,
    resume: bool = False,
    outputMetadata: Any = None,
    **kwargs: Any,
) -> Struct:
    """Run ``task`` over a lazily read ``source`` into ``sink``, band by band.

    Parameters
    ----------
    task : `ImageMapReduceTask`
        Its config gives the grid, the mapper and the reduce operation
        (any stitching operation but ``mesh``; others are refused before the
        output exists).
    source : `FitsSource` or `ZarrSource`
        The input.
    sink : `FitsSink` or `ZarrSink`, optional
        The output; or give ``outputPath``: a FITS file, or a zarr
        directory when the name ends in ``.zarr``.
    bandHeight : `int`, optional
        Output rows per band (default: 4 cell heights, at least 256).
    backend, numWorkers
        Override the task's config (``serial`` or ``threads``).
    resume : `bool`, optional
        Continue the partial output a killed or failed run left beside the
        target, from its first band not done; the result is bit-identical
        to an uninterrupted run. A partial output of a different run (config,
        mapper, input, band height, ``kwargs``) is refused with `ValueError`
        naming what differs; with none, the run starts from the beginning.
    outputMetadata : mapping, optional
        Header cards (FITS primary header; zarr attribute ``metadata``) of the
        output made for ``outputPath``, e.g. provenance.
    **kwargs
        Passed to ``mapper.run``.

    Returns
    -------
    result : `Struct`
        ``numCells``, ``numBands``, ``maxCellsHeld`` (cell results held at
        once), ``failedCells`` (of this call), ``resumedBands`` (bands a
        previous run had done) and the ``sink``.

    Raises
    ------
    ValueError
        Before anything is written: the output is the input (also through a
        hard or symbolic link), the operation cannot be stitched band by band.
    OutputLockedError
        (a `BlockingIOError`) another writer holds the output's lock; the
        message names it (process id, host, start time).

    Notes
    -----
    The output is written under a temporary name beside the target and
    renamed into place only when complete (see `FitsSink`, `ZarrSink`): a
    killed or failed run leaves the previous output intact, and its partial
    output and progress record (``.NAME.partial``, ``.NAME.partial.json``)
    for ``resume``. See docs/reliability.md.
    """
    cfg = task.config
    backend = backend or cfg.backend
    if backend not in ("serial", "threads"):
        raise ValueError(
            f"runOutOfCore runs locally with backend 'serial' or 'threads', not {backend!r}; "
            "use runOutOfCoreDask for a cluster"
        )
    if numWorkers is not None and numWorkers > 0:
        nWorkers = numWorkers
    else:
        nWorkers = task.makeGrid(source.getBBox(), source.getPsf()).numWorkers
    template, cells, bands = _prepare(task, source, bandHeight, nWorkers)
    planes = template.planes.getMaskPlaneDict()
    if sink is None and outputPath is None:
        raise ValueError("give a sink or an outputPath")
    _refuseInputAsOutput(source, sink, outputPath)
    if sink is None:
        assert outputPath is not None
        if os.fspath(outputPath).rstrip("/").lower().endswith(".zarr"):
            sink = ZarrSink(
                os.fspath(outputPath),
                source.getBBox(),
                source.dtype,
                planes,
                bands[0].getHeight(),
                metadata=outputMetadata,
            )
        else:
            sink = FitsSink(
                outputPath,
                source.getBBox(),
                source.dtype,
                planes,
                wcs=source.getWcs(),
                metadata=outputMetadata,
            )
    begin = getattr(sink, "begin", None)
    try:
        start = begin(_runRecord(task, source, bands, kwargs), resume) if begin else 0
        struct = _runBands(
            task, source, sink, backend, nWorkers, template, cells, bands, start, kwargs
        )
    except BaseException:
        if hasattr(sink, "abort"):
            sink.abort(keep=True)
        raise
    finally:
        if hasattr(source, "close"):
            source.close()
    if hasattr(sink, "close"):
        sink.close()
    struct.resumedBands = start
    return struct


def _runBands(
    task: Any,
    source: Any,
    sink: Any,
    backend: str,
    nWorkers: int,
    template: Stitcher,
    cells: list,
    bands: list[Box2I],
    start: int,
    kwargs: dict[str, Any],
) -> Struct:
    """Map, stitch and write bands ``start`` onwards (the bands before are done)."""
    cfg = task.config
    policy = cfg.onMapperError
    # Cells in the order their bands need them: by first band touched, then index.
    # Bands all have the first band's height (the last may be shorter), so a
    # row's band is a division; cells lie inside the exposure.
    y0, bandH = bands[0].getMinY(), bands[0].getHeight()
    firstBand = {i: (b0.getMinY() - y0) // bandH for i, b0, _ in cells if not b0.isEmpty()}
    lastBand = {i: (b0.getMaxY() - y0) // bandH for i, b0, _ in cells if not b0.isEmpty()}
    held: dict[int, Any] = {}
    failures: list[CellFailure] = []
    maxHeld = 0
    # Resuming at band ``start``: the cells that reach into it from above are
    # mapped again (mappers are deterministic), as if their first band were it.
    firstBand = {i: max(b, start) for i, b in firstBand.items() if lastBand[i] >= start}
    order = sorted((c for c in cells if c[0] in firstBand), key=lambda c: (firstBand[c[0]], c[0]))
    pos = 0
    commit = getattr(sink, "commit", None)
    for k, band in enumerate(bands):
        if k < start:
            continue
        # Map the cells whose first band is this one.
        todo = []
        while pos < len(order) and firstBand[order[pos][0]] == k:
            todo.append(order[pos])
            pos += 1
        if todo:
            for batch in iterOrderedResults(
                backend=backend,
                mapper=task.mapper,
                exposure=_guarded(source),
                cells=todo,
                nWorkers=nWorkers,
                doClone=False,
                returnSubImages=False,
                kwargs=kwargs,
                maxCellsInFlight=cfg.maxCellsInFlight,
                log=task.log,
            ):
                for index, ok, payload in batch:
                    if ok:
                        held[index] = payload
                        continue
                    _raiseReadError(payload)
                    if policy == "raise":
                        raise payload.asError()
                    else:
                        task.log.warning("mapper.run failed on cell %d; masking it", index)
                        failures.append(payload)
                maxHeld = max(maxHeld, len(held))
        stitcher = template.band(band, source.readMask(band))
        stitcher.add(sorted((i, r) for i, r in held.items() if lastBand[i] >= k))
        stitcher.addFailed(f.bbox for f in failures if f.bbox.overlaps(band))
        image, mask, variance, _ = stitcher.finishArrays()
        sink.writeBand(band, image, mask, variance)
        if commit is not None:
            commit(k + 1)
        for i in [i for i in held if lastBand[i] <= k]:
            del held[i]
        del stitcher, image, mask, variance
    return Struct(
        numCells=len(cells),
        numBands=len(bands),
        maxCellsHeld=maxHeld,
        failedCells=failures,
        sink=sink,
    )


def _sourceName(source: Any) -> str | None:
    """The local path of a source's file or directory, if it has one."""
    name = getattr(source, "path", None) or getattr(source, "store", None)
    if isinstance(name, (str, os.PathLike)) and "://" not in os.fspath(name):
        return os.fspath(name)
    return None


def _refuseInputAsOutput(source: Any, sink: Any, outputPath: Any) -> None:
    """`ValueError` when the output is the input (links included), before anything is written."""
    inPath = _sourceName(source)
    if sink is not None:
        outPath = getattr(sink, "target", None) or _sourceName(sink)
    else:
        outPath = os.fspath(outputPath)
    if inPath is None or outPath is None or not os.path.exists(outPath):
        return
    if os.path.samefile(inPath, outPath):
        raise ValueError(
            f"the output {outPath!r} is the input {inPath!r} (the same file, maybe through a "
            "link): the input would be replaced; choose another output"
        )


def _runRecord(task: Any, source: Any, bands: list[Box2I], kwargs: dict[str, Any]) -> dict:
    """What makes a run's output: a partial output is resumed only by the same run."""
    import hashlib

    from ..io._fitswrite import configDigest

    name = _sourceName(source)
    if name is not None and os.path.exists(name):
        st = os.stat(name)
        inputId = f"{os.path.abspath(name)} ({st.st_size} bytes, mtime {st.st_mtime_ns} ns)"
    else:
        inputId = repr(getattr(source, "store", source))
    mapper = type(task.mapper)
    bbox = source.getBBox()
    return {
        "config": configDigest(task.config),
        "mapper": f"{mapper.__module__}.{mapper.__qualname__}",
        "input": inputId,
        "bbox": [bbox.getMinX(), bbox.getMinY(), bbox.getWidth(), bbox.getHeight()],
        "dtype": str(np.dtype(source.dtype)),
        "bandHeight": bands[0].getHeight(),
        "kwargs": hashlib.sha256(repr(sorted(kwargs.items())).encode()).hexdigest()[:16],
    }


def _processBand(
    mapper: Any,
    source: Any,
    sink: Any,
    shared: tuple[Any, list[Box2I]],
    band: Box2I,
    cells: list,
    kwargs: dict[str, Any],
) -> dict:
    """One dask task: map the cells touching ``band``, stitch, write the band."""
    reducerConfig, boxes0 = shared
    outcomes = runChunk(mapper, _guarded(source), cells, False, False, kwargs, portable=True)
    failures = [p for _, ok, p in outcomes if not ok]
    for failure in failures:
        _raiseReadError(failure)
    if failures:
        raise failures[0].asError()
    template = Stitcher.forSource(
        ImageReducer(config=reducerConfig), source.getBBox(), source.dtype,
        source.planes or None, boxes0, 1,
    )  # fmt: skip
    stitcher = template.band(band, source.readMask(band))
    stitcher.add([(i, r) for i, _, r in outcomes])
    image, mask, variance, stats = stitcher.finishArrays()
    sink.writeBand(band, image, mask, variance)
    if hasattr(source, "close"):
        source.close()
    return {"band": (band.getMinY(), band.getMaxY()), "cells": len(cells), "n_bad": stats["n_bad"]}


def runOutOfCoreDask(
    task: Any,
    source: Any,
    sink: ZarrSink,
    client: Any,
    *,
    bandHeight: int | None = None,
    **kwargs: Any,
) -> Struct:
    """Run ``task`` on a dask cluster: workers read from ``source`` (shared
    storage), map and stitch one band each, and write it into ``sink``.

    The mapper is scattered once; each band task carries only boxes. The
    client never holds pixels. The workers write into the sink's partial
    output; the client publishes it when every band is written (or removes
    it when a band fails: the previous output stays), as `runOutOfCore` does
    (which alone can resume).

    Returns
    -------
    result : `Struct`
        ``numCells``, ``numBands``, ``bandStats`` (per band), ``sink``.
    """
    template, cells, bands = _prepare(task, source, bandHeight, 1)
    if sink.bandHeight != bands[0].getHeight() and len(bands) > 1:
        raise ValueError(
            f"the zarr sink's chunks are {sink.bandHeight} rows but bands are "
            f"{bands[0].getHeight()} rows: make them equal so that no chunk is shared"
        )
    from distributed import as_completed

    from ._executors import dumpsMapper

    _refuseInputAsOutput(source, sink, None)
    dumpsMapper(task.mapper, "dask")
    try:
        sink.begin()  # the workers write into the partial output
        mapperF = client.scatter(task.mapper, broadcast=True, hash=False)
        # One future for the pair (a list given to scatter is scattered item by item).
        sharedF = client.scatter(
            [(task.reducer.config, template.cellBoxes or [])], broadcast=True, hash=False
        )[0]
        futures = []
        for band in bands:
            touching = [c for c in cells if c[1].overlaps(band)]
            futures.append(
                client.submit(
                    _processBand,
                    mapperF,
                    source,
                    sink,
                    sharedF,
                    band,
                    touching,
                    kwargs,
                    pure=False,
                    retries=2,
                )
            )
        stats = [f.result() for f in as_completed(futures)]
    except BaseException:
        sink.abort()
        raise
    sink.close()
    stats.sort(key=lambda s: s["band"])
    return Struct(numCells=len(cells), numBands=len(bands), bandStats=stats, sink=sink)
