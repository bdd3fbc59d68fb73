"""``imagemapper grid`` and the config a command builds from its options."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._config import CliError, boxText, firstLine, makeConfig, passThroughMapper, showConfig
from ._io import checkOutput, loadMapperClass, readExposure

# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------


def cmdGrid(args: argparse.Namespace) -> int:
    from ..mapreduce._task import ImageMapReduceTask

    mapperClass = loadMapperClass(args.mapper) if args.mapper else passThroughMapper()
    config = makeConfig(args, mapperClass)
    if args.show_config:
        return showConfig(config)
    exposure = readExposure(args.input, args.hdu, "grid")
    task = ImageMapReduceTask(config)
    try:
        grid = task.makeGrid(exposure.getBBox(), exposure.getPsf())
        boxes0, boxes1 = grid.boxes0, grid.boxes1
    except (ValueError, RuntimeError) as err:
        raise CliError(f"cannot make the grid: {firstLine(err)}") from err
    bbox = exposure.getBBox()
    print(
        f"{args.input}: {bbox.getWidth()} x {bbox.getHeight()} pixels, xy0 "
        f"({bbox.getMinX()}, {bbox.getMinY()})"
    )
    c = config
    step = f", step {c.gridStepX:g} x {c.gridStepY:g}" if c.adjustGridOption != "spacing" else ""
    unit = " x FWHM" if c.scaleByFwhm and not c.cellCentroidsX else " pixels"
    print(
        f"grid: adjustGridOption={c.adjustGridOption}, cell {c.cellSizeX:g} x {c.cellSizeY:g}"
        f"{step}, border {c.borderSizeX:g} x {c.borderSizeY:g}{unit}"
    )
    print(f"{len(boxes0)} cells")
    if boxes0:
        w0 = [b.getWidth() for b in boxes0]
        h0 = [b.getHeight() for b in boxes0]
        w1 = [b.getWidth() for b in boxes1]
        h1 = [b.getHeight() for b in boxes1]
        print(f"cell sizes: {min(w0)}..{max(w0)} x {min(h0)}..{max(h0)} pixels")
        print(f"expanded cell sizes: {min(w1)}..{max(w1)} x {min(h1)}..{max(h1)} pixels")
        shown = range(len(boxes0)) if args.list else sorted({0, len(boxes0) - 1})
        for i in shown:
            print(f"  cell {i}: {boxText(boxes0[i])}, expanded {boxText(boxes1[i])}")
    if args.check_border:
        if not args.mapper:
            raise CliError("--check-border needs --mapper MODULE:CLASS (the mapper to check)")
        checkBorder(task, exposure, args.check_border)
    if args.plot:
        _checkPlotName(args.plot)
        out = checkOutput(args.plot, overwrite=True)
        try:
            from ..mapreduce._plot import matplotlibPyplot, plotBoxes
            from ._demo import previewArray

            plt = matplotlibPyplot()
        except ImportError as err:
            raise CliError(f"--plot needs matplotlib: {firstLine(err)}") from err
        fig = plotBoxes(
            boxes0, boxes1, bbox, skip=args.skip, image=previewArray(exposure.image.array)
        )
        fig.savefig(out, dpi=100)
        plt.close(fig)
        print(f"wrote {out}")
    return 0


def _checkPlotName(path: str) -> None:
    suffix = Path(path).suffix.lower().lstrip(".")
    formats = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "webp", "tif", "tiff")
    if suffix not in formats:
        raise CliError(
            f"--plot {path!r}: give an image name ending in one of "
            + ", ".join(f".{f}" for f in formats)
        )


def checkBorder(task: Any, exposure: Any, nCells: int) -> Any:
    """Run ``task.checkBorder`` and print what it found."""
    from ..mapreduce._executors import MapperError

    try:
        res = task.checkBorder(exposure, nCells=nCells)
    except (MapperError, ValueError, TypeError, RuntimeError) as err:
        raise CliError(f"border check failed: {firstLine(err)}") from err
    bx, by = res.border
    print(
        f"border check: border {bx} x {by} pixels vs twice that on {len(res.cells)} random "
        f"cells: max |difference| inside the cells {res.maxDifference:.3g}"
    )
    for cell in res.cells:
        print(
            f"  cell {cell.index}: max |difference| {cell.maxDifference:.3g} "
            f"(max |value| {cell.maxAbsValue:.3g})"
        )
    return res
