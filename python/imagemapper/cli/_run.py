"""``imagemapper run``: a mapper over a FITS file, in memory or out of core."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._config import CliError, firstLine, makeConfig, showConfig
from ._grid import checkBorder
from ._io import checkOutput, loadMapperClass, outputKind, readExposure


def _resultTable(results: Sequence[Any]) -> Any:
    import numbers

    from astropy.table import Table

    from .._core import Box2I

    rows: list[dict[str, Any]] = []
    for i, res in enumerate(results):
        items = res.getDict() if hasattr(res, "getDict") else {"result": res}
        row: dict[str, Any] = {"cell": i}
        for key, value in items.items():
            if isinstance(value, Box2I):
                row.update(
                    {
                        f"{key}_minX": value.getMinX(),
                        f"{key}_minY": value.getMinY(),
                        f"{key}_maxX": value.getMaxX(),
                        f"{key}_maxY": value.getMaxY(),
                    }
                )
            elif isinstance(value, (numbers.Number, str, bool)):
                row[key] = value
            elif (
                isinstance(value, tuple)
                and len(value) == 2
                and all(isinstance(v, numbers.Number) for v in value)
            ):
                row[f"{key}_x"], row[f"{key}_y"] = value
        rows.append(row)
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    return Table(rows=[[row.get(n) for n in names] for row in rows], names=names)


def _numWorkers(config: Any) -> int:
    from ..mapreduce._task import usableCpus

    return int(config.numWorkers) or usableCpus()


def _overrideTexts(args: argparse.Namespace) -> list[str]:
    """The command line's config choices, as given (for the output's provenance)."""
    texts = []
    for flag in ("cell", "step", "border", "reduce", "backend", "workers"):
        value = getattr(args, flag, None)
        if value is not None:
            texts.append(f"--{flag} {value}")
    for kind, value in getattr(args, "overrides", None) or []:
        texts.append(f"-c {value}" if kind == "set" else f"-C {value}")
    return texts


def _checkInverseVariance(config: Any, exposure: Any, path: str) -> None:
    """Refuse inverse-variance blending when the input has no usable variance
    (every pixel would be invalid: an all-NaN output)."""
    import numpy as np

    reducer = config.reducer
    if reducer.reduceOperation != "weighted" or not getattr(reducer, "blendInverseVariance", False):
        return
    variance = exposure.variance.array
    if not bool(np.any(np.isfinite(variance) & (variance > 0))):
        raise CliError(
            f"reducer.blendInverseVariance=True weights pixels by 1/variance, but {path} has "
            "no positive finite variance (no VARIANCE, ERR or UNCERT plane?): every pixel "
            "would be NaN; drop the option or give an input with a variance"
        )


def _writeOutput(exposure: Any, out: Path, kind: str, overwrite: bool) -> None:
    """Publish the output atomically: complete, or the previous file untouched."""
    if kind == "fits":
        exposure.writeFits(out, overwrite=overwrite)
        return
    from ..io._fitswrite import publishDirectory

    publishDirectory(out, lambda tmp: _writeZarr(exposure, tmp), overwrite)


def _writeZarr(exposure: Any, path: str) -> None:
    """The exposure as a zarr group (``ZarrSource`` reads it), with its metadata,
    WCS header and PSF description as attributes."""
    import json

    from ..io._sinks import ZarrSink
    from ..io._sources import zarrModule

    ZarrSink.fromExposure(path, exposure, bandHeight=max(1, min(256, exposure.getHeight())))
    group = zarrModule().open_group(path, mode="r+")
    metadata = {k: v for k, v in exposure.metadata.items()}
    group.attrs["metadata"] = json.loads(json.dumps(metadata, default=str))
    wcs = exposure.getWcs()
    if wcs is not None:
        group.attrs["wcs"] = dict(wcs.to_header(relax=True))
    psf = exposure.getPsf()
    if psf is not None:
        from ..io._psfrecords import psfToRecords

        rows, kernels, _ = psfToRecords(psf)
        group.attrs["psf"] = rows
        for k, kernel in enumerate(kernels):
            group.create_array(f"psf_kernel_{k}", data=kernel)


def _inputHdu(path: str, hdu: Any) -> str:
    """The HDU that was read, as ``NAME,VER (index i)``."""
    from ..io._fitslayout import planLayout
    from ..io._fitsread import openFits

    with openFits(path) as hdul:
        image = planLayout(hdul, path, hdu).image
    return f"{image.name},{image.ver} (index {image.index})" if image.name else str(image.index)


def cmdRun(args: argparse.Namespace) -> int:
    from ..io._fitswrite import addProvenance, provenance
    from ..mapreduce._executors import MapperError
    from ..mapreduce._task import ImageMapReduceTask
    from ._demo import localDaskClient

    mapperClass = loadMapperClass(args.mapper)
    config = makeConfig(args, mapperClass)
    if args.show_config:
        return showConfig(config)
    op = config.reducer.reduceOperation
    if op == "coaddPsf":
        raise CliError("reduceOperation 'coaddPsf' is not supported from the command line")
    if op != "none" and not args.output:
        raise CliError(f"-o OUT.fits is required (reduceOperation {op!r} makes an exposure)")
    kind = outputKind(args.output) if args.output and op != "none" else "table"
    out = checkOutput(args.output, args.overwrite, kind == "zarr") if args.output else None
    if out is not None and out.exists() and Path(args.input).exists():
        if os.path.samefile(out, args.input):
            raise CliError(f"output {args.output!r} is the input file; give another name")
    if args.resume or args.out_of_core or args.band_height:
        assert out is not None
        return _runOutOfCore(args, config, mapperClass, kind, out)
    exposure = readExposure(args.input, args.hdu, "run")
    _checkInverseVariance(config, exposure, args.input)
    t0 = time.perf_counter()
    localDask = config.backend == "dask" and not config.daskScheduler
    try:
        with localDaskClient("dask" if localDask else "", _numWorkers(config)) as client:
            task = ImageMapReduceTask(config, client=client)
            if args.check_border:
                checkBorder(task, exposure, args.check_border)
            t0 = time.perf_counter()
            result = task.run(exposure)
    except MapperError as err:
        raise CliError(firstLine(err)) from err
    except (ValueError, TypeError, RuntimeError) as err:
        raise CliError(f"{type(err).__name__}: {firstLine(err)}") from err
    elapsed = time.perf_counter() - t0
    nCells = len(task.boxes0 or [])
    workers = config.numWorkers or "all"
    print(
        f"ran {mapperClass.__name__} on {nCells} cells of {args.input} "
        f"(backend {config.backend}, {workers} workers, reduce {op}) in {elapsed:.2f} s"
    )
    failed = list(task.metadata.getArray("failedCells")) if "failedCells" in task.metadata else []
    if failed:
        shown = ", ".join(str(i) for i in failed[:10]) + (", ..." if len(failed) > 10 else "")
        print(
            f"{len(failed)} of {nCells} cells failed (onMapperError={config.onMapperError}): "
            f"cells {shown}; their pixels are flagged {', '.join(config.reducer.badMaskPlanes)}"
        )
    if op == "none":
        table = _resultTable(result.result)
        if out is None:
            table.pprint_all()
        else:
            from ..io._fitswrite import publishFile

            try:  # atomically, as every output: complete, or the previous file untouched
                publishFile(out, lambda tmp: table.write(tmp, overwrite=True), overwrite=True)
            except Exception as err:
                raise CliError(f"cannot write the table to {str(out)!r}: {firstLine(err)}") from err
            print(f"wrote {len(table)} rows to {out}")
        return 0
    assert out is not None
    output = result.exposure
    addProvenance(
        output.metadata,
        provenance(
            config,
            mapperClass,
            inputPath=args.input,
            inputHdu=_inputHdu(args.input, args.hdu),
            overrides=_overrideTexts(args),
            command=f"imagemapper run --mapper {args.mapper}",
        ),
    )
    try:
        _writeOutput(output, out, kind, overwrite=True)
    except OSError as err:
        raise CliError(f"cannot write {str(out)!r}: {firstLine(err)}") from err
    print(f"wrote {out}")
    return 0


def _runOutOfCore(
    args: argparse.Namespace, config: Any, mapperClass: type, kind: str, out: Path
) -> int:
    """``run --out-of-core``: `runOutOfCore` from a `FitsSource` into OUT."""
    from ..io._fitswrite import addProvenance, provenance
    from ..io._output import sideName
    from ..mapreduce._executors import MapperError
    from ..mapreduce._outofcore import FitsSource, runOutOfCore
    from ..mapreduce._task import ImageMapReduceTask

    if config.backend not in ("serial", "threads"):
        raise CliError(
            f"--out-of-core runs with --backend serial or threads, not {config.backend!r}"
        )
    if kind not in ("fits", "zarr") or out.name.lower().endswith((".gz", ".fz", ".bz2")):
        raise CliError(
            "--out-of-core writes an uncompressed .fits file or a .zarr directory, "
            f"not {str(out)!r}"
        )
    if not Path(args.input).is_file():
        raise CliError(f"input file {args.input!r} does not exist")
    try:
        source = FitsSource(args.input, hdu=args.hdu)
    except OSError as err:
        raise CliError(firstLine(err)) from err
    task = ImageMapReduceTask(config)
    metadata: dict[str, Any] = {}
    addProvenance(
        metadata,
        provenance(
            config,
            mapperClass,
            inputPath=args.input,
            inputHdu=_inputHdu(args.input, args.hdu),
            overrides=_overrideTexts(args),
            command=f"imagemapper run --out-of-core --mapper {args.mapper}",
        ),
    )
    t0 = time.perf_counter()
    try:
        res = runOutOfCore(
            task,
            source,
            outputPath=out,
            bandHeight=args.band_height,
            resume=args.resume,
            outputMetadata=metadata,
        )
    except (MapperError, ValueError, TypeError, RuntimeError, OSError) as err:
        kept = os.path.exists(sideName(str(out), ".partial.json"))
        hint = (
            f"; {str(out)!r} is unchanged and the bands done are kept beside it: rerun with "
            "--resume to continue"
            if kept
            else f"; {str(out)!r} is unchanged"
        )
        what = "" if isinstance(err, (MapperError, OSError)) else f"{type(err).__name__}: "
        raise CliError(f"{what}{firstLine(err)}{hint}") from err
    elapsed = time.perf_counter() - t0
    resumed = f", resumed after {res.resumedBands} bands done" if res.resumedBands else ""
    print(
        f"ran {mapperClass.__name__} out of core on {res.numCells} cells in {res.numBands} "
        f"bands of {args.input} (backend {config.backend}, reduce "
        f"{config.reducer.reduceOperation}{resumed}) in {elapsed:.2f} s"
    )
    if res.failedCells:
        failed = [f.index for f in res.failedCells]
        shown = ", ".join(str(i) for i in failed[:10]) + (", ..." if len(failed) > 10 else "")
        print(
            f"{len(failed)} cells failed (onMapperError={config.onMapperError}): cells {shown}; "
            f"their pixels are flagged {', '.join(config.reducer.badMaskPlanes)}"
        )
    print(f"wrote {out}")
    return 0
