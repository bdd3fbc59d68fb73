"""Out-of-core outputs: `FitsSink` and `ZarrSink` take an image band by band and publish it
atomically when complete (see docs/reliability.md).
"""

from __future__ import annotations

__all__ = ["FitsSink", "ZarrSink"]

import errno
import json
import os
import warnings
from typing import Any

import numpy as np

from .._core import Box2I
from ..image import Exposure
from ._sources import zarrModule

# ------------------------------------------------------------------- sinks


class BandSink:
    """What `FitsSink` and `ZarrSink` share: the lock, the progress record and
    the publication of ``target`` (see `imagemapper.io._output`)."""

    target: str | None  # None: a store that is not a local path (no lock, no resume)
    overwrite: bool

    def _startOutput(self, target: str | None, overwrite: bool) -> None:
        from ._output import OutputLock, ProgressRecord, sideName

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
            from ._output import mismatch

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


class FitsSink(BandSink):
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
        from ._fitslayout import headerFromMetadata
        from ._fitswrite import packageVersion as _version

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
        from ._output import namedOSError

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
        from ._output import namedOSError

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
        from ._output import namedOSError

        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as err:
            raise namedOSError(err, self.path, "cannot flush the output to disk") from None

    def _finish(self) -> None:
        """Write ``DATASUM`` and ``CHECKSUM`` into every header (reading the data once)."""
        from ._fitslayout import onesComplementAdd as _onesComplementAdd
        from ._fitslayout import sum32 as _sum32
        from ._output import encodeChecksum, namedOSError

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
        from ._output import replaceFile

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


class ZarrSink(BandSink):
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
        from ._output import replaceDirectory

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
