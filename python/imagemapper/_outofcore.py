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

import os
import threading
import warnings
from typing import Any

import numpy as np

from ._core import Box2I, Extent2I, Point2I
from ._executors import CellFailure, iterOrderedResults, runChunk
from ._image import Exposure
from ._reducer import ImageReducer, _Stitcher
from ._task import Struct

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
        from ._fitsio import checkFile, openFits, planLayout, readPsf

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
        from ._fitsio import iterRows, nameDqPlanes, openFits, orBits

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

        from ._fitsio import FitsFormatError

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
        from ._fitsio import toMaskBits

        mask = self._layout.mask
        if mask is None:
            return np.zeros((box.getHeight(), box.getWidth()), np.int32)
        return toMaskBits(self._read(mask, box), self._layout, mask.label())

    def readExposure(self, box: Box2I) -> Exposure:
        from ._fitsio import FitsFormatError, toVariance

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
        zarr = _zarr()
        self.store = store
        self.psf = psf
        group = zarr.open_group(store, mode="r")
        image = group["image"]
        height, width = image.shape
        x0, y0 = (int(v) for v in group.attrs.get("xy0", (0, 0)))
        self.bbox = Box2I(Point2I(x0, y0), Extent2I(width, height))
        self.dtype = np.dtype(image.dtype)
        self.planes = dict(group.attrs.get("maskPlanes", {})) or None

    def _group(self) -> Any:
        return _zarr().open_group(self.store, mode="r")

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


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as err:  # pragma: no cover - optional extra
        raise ImportError("zarr input/output needs zarr: pip install 'imagemapper[zarr]'") from err
    return zarr


# ------------------------------------------------------------------- sinks


class FitsSink:
    """Write an exposure into a FITS file band by band.

    The file (LSST layout: empty primary, IMAGE, MASK, VARIANCE) is laid out
    on disk at creation with its full size (a sparse file); `writeBand`
    writes rows straight to their place with ordinary file writes, so no
    image-sized buffer is ever held. The result reads back with
    `Exposure.readFits`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        bbox: Box2I,
        dtype: Any,
        planes: dict[str, int],
        wcs: Any = None,
        overwrite: bool = True,
    ) -> None:
        from astropy.io import fits

        from ._image import _card_key, _shifted_wcs

        self.path = os.fspath(path)
        if os.path.exists(self.path) and not overwrite:
            raise FileExistsError(f"{self.path!r} exists (pass overwrite=True to replace it)")
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
            common.extend(_shifted_wcs(wcs, -x0, -y0).to_header(relax=True))
        self._offsets: dict[str, int] = {}
        self._types = {
            "IMAGE": self.dtype.newbyteorder(">"),
            "MASK": np.dtype(">i4"),
            "VARIANCE": self.dtype.newbyteorder(">"),
        }
        with open(self.path, "wb") as f:
            f.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
            for name in ("IMAGE", "MASK", "VARIANCE"):
                hdu = fits.ImageHDU(data=np.zeros((1, 1), self._types[name]), name=name)
                header = hdu.header
                header["NAXIS1"] = width
                header["NAXIS2"] = height
                header.extend(common)
                header["EXTTYPE"] = name
                if name == "MASK":
                    for pname, bit in sorted(planes.items(), key=lambda kv: kv[1]):
                        header[_card_key(f"MP_{pname}")] = bit
                f.write(header.tostring().encode("ascii"))
                self._offsets[name] = f.tell()
                nbytes = width * height * self._types[name].itemsize
                padded = -(-nbytes // 2880) * 2880
                if padded:
                    f.seek(padded - 1, os.SEEK_CUR)
                    f.write(b"\0")
        self._rowBytes = {k: width * t.itemsize for k, t in self._types.items()}

    def writeBand(
        self, box: Box2I, image: np.ndarray, mask: np.ndarray, variance: np.ndarray
    ) -> None:
        """Write full-width rows ``box`` (its x range must be the sink's)."""
        if box.getMinX() != self.bbox.getMinX() or box.getWidth() != self.bbox.getWidth():
            raise ValueError(f"band {box} must span the full width of {self.bbox}")
        row0 = box.getMinY() - self.bbox.getMinY()
        with open(self.path, "r+b") as f:
            for name, arr in (("IMAGE", image), ("MASK", mask), ("VARIANCE", variance)):
                f.seek(self._offsets[name] + row0 * self._rowBytes[name])
                f.write(np.ascontiguousarray(arr, dtype=self._types[name]).tobytes())


class ZarrSink:
    """Write an exposure into a zarr group band by band (arrays ``image``,
    ``mask``, ``variance``; attributes ``xy0``, ``maskPlanes``).

    Chunks are ``(bandHeight, width)`` so that bands written by different
    workers never share a chunk.
    """

    def __init__(
        self,
        store: Any,
        bbox: Box2I,
        dtype: Any,
        planes: dict[str, int],
        bandHeight: int,
        overwrite: bool = True,
    ) -> None:
        zarr = _zarr()
        self.store = store
        self.bbox = Box2I(bbox)
        self.bandHeight = int(bandHeight)
        shape = (bbox.getHeight(), bbox.getWidth())
        chunks = (self.bandHeight, bbox.getWidth())
        group = zarr.open_group(store, mode="w" if overwrite else "w-")
        for name, dt in (("image", dtype), ("mask", np.int32), ("variance", dtype)):
            group.create_array(name, shape=shape, chunks=chunks, dtype=np.dtype(dt), fill_value=0)
        group.attrs["xy0"] = [bbox.getMinX(), bbox.getMinY()]
        group.attrs["maskPlanes"] = dict(planes)

    def writeBand(
        self, box: Box2I, image: np.ndarray, mask: np.ndarray, variance: np.ndarray
    ) -> None:
        """Write full-width rows ``box``."""
        sy, sx = box.slices(self.bbox)
        group = _zarr().open_group(self.store, mode="r+")
        group["image"][sy, sx] = image
        group["mask"][sy, sx] = mask
        group["variance"][sy, sx] = variance

    @classmethod
    def fromExposure(cls, store: Any, exposure: Exposure, bandHeight: int = 256) -> ZarrSink:
        """Write an in-memory exposure to a zarr group (e.g. to make test inputs)."""
        sink = cls(
            store, exposure.getBBox(), exposure.dtype, exposure.mask.getMaskPlaneDict(), bandHeight
        )
        sink.writeBand(
            exposure.getBBox(), exposure.image.array, exposure.mask.array, exposure.variance.array
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
) -> tuple[_Stitcher, list, list]:
    """The grid, the bands and the output's template stitcher; refuses an
    operation the out-of-core drivers cannot do before anything is written."""
    bbox = source.getBBox()
    # Refused first: nothing (not even the grid) is made for an operation
    # that cannot be stitched band by band.
    _Stitcher.forSource(task.reducer, bbox, source.dtype, None, [], 1)
    grid = task.makeGrid(bbox, source.getPsf())
    boxes0, boxes1 = grid.boxes0, grid.boxes1
    cells = [(i, b0, b1) for i, (b0, b1) in enumerate(zip(boxes0, boxes1))]
    if bandHeight is None:
        tallest = max((b.getHeight() for b in boxes0), default=1)
        bandHeight = max(256, 4 * tallest)
    if bandHeight < 1:
        raise ValueError(f"bandHeight={bandHeight} must be a positive number of rows")
    template = _Stitcher.forSource(
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
        The output; or give ``outputPath`` to write a FITS file.
    bandHeight : `int`, optional
        Output rows per band (default: 4 cell heights, at least 256).
    backend, numWorkers
        Override the task's config (``serial`` or ``threads``).
    **kwargs
        Passed to ``mapper.run``.

    Returns
    -------
    result : `Struct`
        ``numCells``, ``numBands``, ``maxCellsHeld`` (cell results held at
        once), ``failedCells`` and the ``sink``.
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
    if sink is None:
        if outputPath is None:
            raise ValueError("give a sink or an outputPath")
        sink = FitsSink(outputPath, source.getBBox(), source.dtype, planes, wcs=source.getWcs())
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
    order = sorted((c for c in cells if c[0] in firstBand), key=lambda c: (firstBand[c[0]], c[0]))
    pos = 0
    for k, band in enumerate(bands):
        # Map the cells whose first band is this one.
        todo = []
        while pos < len(order) and firstBand[order[pos][0]] == k:
            todo.append(order[pos])
            pos += 1
        if todo:
            for batch in iterOrderedResults(
                backend=backend,
                mapper=task.mapper,
                exposure=source,
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
                    elif policy == "raise":
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
        for i in [i for i in held if lastBand[i] <= k]:
            del held[i]
        del stitcher, image, mask, variance
    if hasattr(source, "close"):
        source.close()
    return Struct(
        numCells=len(cells),
        numBands=len(bands),
        maxCellsHeld=maxHeld,
        failedCells=failures,
        sink=sink,
    )


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
    outcomes = runChunk(mapper, source, cells, False, False, kwargs, portable=True)
    failures = [p for _, ok, p in outcomes if not ok]
    if failures:
        raise failures[0].asError()
    template = _Stitcher.forSource(
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
    client never holds pixels.

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

    from ._executors import _dumpsMapper

    _dumpsMapper(task.mapper, "dask")
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
    stats.sort(key=lambda s: s["band"])
    return Struct(numCells=len(cells), numBands=len(bands), bandStats=stats, sink=sink)
