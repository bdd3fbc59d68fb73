"""The argument parser of the ``imagemapper`` command and its option types."""

from __future__ import annotations

import argparse
import math
from typing import Any

from ._config import BACKENDS, HDU_HELP, reduceOps
from ._io import parseHdu

# ---------------------------------------------------------------------------
# argument parsing
# ---------------------------------------------------------------------------


class _OverrideAction(argparse.Action):
    """Collect -c and -C in command-line order into one list."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        items = list(getattr(namespace, "overrides", None) or [])
        kind = "file" if option_string in ("-C", "--config-file") else "set"
        items.append((kind, values))
        namespace.overrides = items


def _positiveInt(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonNegativeInt(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positiveFloat(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _addCommon(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log the task's progress (-v: info, -vv: debug)",
    )


def _addExecution(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution")
    g.add_argument(
        "--backend",
        choices=BACKENDS,
        help="where mapper.run runs: serial (this thread), threads (default), processes "
        "(the mapper must pickle), dask (a throw-away local cluster, or the scheduler at "
        "-c daskScheduler=ADDRESS)",
    )
    g.add_argument(
        "--workers",
        type=_nonNegativeInt,
        metavar="N",
        help="number of worker threads/processes (0 = all usable CPUs, the default)",
    )
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar over cells (default: only in an interactive terminal)",
    )


def _addGridOptions(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "grid and configuration",
        "Applied in this order: the command-line defaults (scaleByFwhm=False, cells of 256 "
        "pixels every 256 pixels, borders of 16 pixels, since FITS files carry no PSF model), "
        "the mapper's preferred reduce operation, --cell/--step/--border/--reduce, then every "
        "-C and -c in the order given.",
    )
    g.add_argument(
        "--cell", type=_positiveInt, metavar="PIXELS", help="cell width and height (cellSizeX/Y)"
    )
    g.add_argument(
        "--step",
        type=_positiveInt,
        metavar="PIXELS",
        help="distance between cell centres (gridStepX/Y, with adjustGridOption=none); "
        "without it the cells are spread evenly (adjustGridOption=spacing)",
    )
    g.add_argument(
        "--border",
        type=_nonNegativeInt,
        metavar="PIXELS",
        help="extra pixels around each cell given to the mapper (borderSizeX/Y)",
    )
    g.add_argument(
        "-c",
        "--config",
        action=_OverrideAction,
        metavar="NAME=VALUE",
        help="override a config field, LSST style: -c cellSizeX=64 -c mapper.sigma=2.5 "
        "-c reducer.reduceOperation=copy -c ignoreMaskPlanes=BAD,SAT (repeatable)",
    )
    g.add_argument(
        "-C",
        "--config-file",
        action=_OverrideAction,
        metavar="FILE.py",
        help="apply a pex_config override file (Python assigning to 'config', e.g. "
        "config.mapper.sigma = 2.0) (repeatable)",
    )
    g.add_argument(
        "--show-config",
        action="store_true",
        help="print every config field with the value this command would use, and exit "
        "(the input file is not read)",
    )


def buildParser() -> argparse.ArgumentParser:
    """The argument parser of the ``imagemapper`` command."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="imagemapper",
        description="Split a large image into overlapping cells, run a mapper on each cell "
        "(with border pixels) and stitch the results: LSST's ImageMapReduceTask with a Rust core.",
        epilog="Exit status: 0 success, 1 runtime error (one-line message; --debug shows the "
        "traceback), 2 usage error. Run 'imagemapper COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"imagemapper {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log the task's progress (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="PSF-match a synthetic 4k x 4k exposure and write FITS and PNG files",
        description="Synthesise a CCD-sized float32 exposure (stars whose double-Gaussian PSF "
        "widens towards the corners, sky, noise, variance, bad columns flagged BAD, saturated "
        "cores flagged SAT), match its PSF cell by cell to a common Gaussian with "
        "imagemapper.mappers.PsfMatchMapper over overlapping cells (reduce 'average'), write "
        "input.fits, output.fits and PNG previews (input, output, grid, zoom) and print a "
        "summary. Needs no input file.",
    )
    demo.add_argument(
        "--size", type=_positiveInt, default=4096, help="image width and height (default 4096)"
    )
    demo.add_argument(
        "--output",
        "-o",
        default="imagemapper-demo",
        metavar="DIR",
        help="folder for the files (default ./imagemapper-demo; created if needed)",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic image (default 0)")
    demo.add_argument(
        "--cell", type=_positiveInt, default=256, metavar="PIXELS", help="cell size (default 256)"
    )
    demo.add_argument(
        "--step",
        type=_nonNegativeInt,
        default=224,
        metavar="PIXELS",
        help="distance between cell centres (default 224, so cells overlap by 32 pixels; "
        "0 spreads the cells evenly)",
    )
    demo.add_argument(
        "--border",
        type=_nonNegativeInt,
        default=None,
        metavar="PIXELS",
        help="border around each cell (default: the radius of the widest matching kernel)",
    )
    demo.add_argument(
        "--target-sigma",
        type=_positiveFloat,
        default=None,
        metavar="PIXELS",
        help="sigma of the common Gaussian PSF (default: 5%% above the widest PSF)",
    )
    demo.add_argument("--no-fits", action="store_true", help="do not write the FITS files")
    demo.add_argument("--no-plots", action="store_true", help="do not write the PNG previews")
    _addExecution(demo)
    _addCommon(demo)

    run = sub.add_parser(
        "run",
        help="run a mapper over a FITS image and write the stitched result",
        description="Read IN.fits (an LSST-style IMAGE/MASK/VARIANCE file or any FITS image), "
        "run the mapper on every cell of the grid and write the reduced exposure to OUT.fits. "
        "With --reduce none the scalar items of the per-cell results are written as a table "
        "(.ecsv, .csv, .fits; printed when -o is omitted).",
    )
    run.add_argument("input", metavar="IN.fits", help="input FITS file")
    run.add_argument("--hdu", type=parseHdu, metavar="NAME[,VER]|INDEX", help=HDU_HELP)
    run.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output: a FITS file (.fits, .fits.gz, .fz for tile compression) or a zarr "
        "directory (.zarr), written atomically (complete, or the previous file is untouched); "
        "a table file (.ecsv, .csv, .fits) for --reduce none",
    )
    run.add_argument(
        "--mapper",
        required=True,
        metavar="MODULE:CLASS",
        help="the ImageMapper subclass, e.g. imagemapper.mappers:GaussianConvolveMapper, "
        "mypackage.mymodule:MyMapper, or a built-in's bare name (GaussianConvolveMapper, "
        "PsfMatchMapper, BackgroundMapper, CellStatisticsMapper); ./MODULE.py is importable",
    )
    run.add_argument(
        "--reduce",
        choices=reduceOps(),
        help="reducer.reduceOperation: how the cells' results are combined (default: the "
        "mapper's preference, else average)",
    )
    run.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    run.add_argument(
        "--check-border",
        type=_positiveInt,
        nargs="?",
        const=5,
        default=None,
        metavar="N",
        help="first run N random cells (default 5) with the border and with twice the border "
        "and print the largest difference inside the cells (task.checkBorder)",
    )
    outOfCore = run.add_argument_group("out of core (images larger than memory)")
    outOfCore.add_argument(
        "--out-of-core",
        action="store_true",
        help="read IN.fits cell by cell and write OUT (.fits or .zarr) band by band "
        "(runOutOfCore): memory holds the cells in flight plus one band, whatever the image "
        "size; --backend serial or threads; OUT is locked against a second writer",
    )
    outOfCore.add_argument(
        "--band-height",
        type=_positiveInt,
        default=None,
        metavar="ROWS",
        help="output rows per band with --out-of-core (default: 4 cell heights, at least 256)",
    )
    outOfCore.add_argument(
        "--resume",
        action="store_true",
        help="continue the partial output a killed or failed --out-of-core run left beside OUT "
        "(from its first band not done; bit-identical to an uninterrupted run); refused if "
        "that run had another config, mapper, input or band height; implies --out-of-core",
    )
    _addGridOptions(run)
    _addExecution(run)
    _addCommon(run)

    grid = sub.add_parser(
        "grid",
        help="show the grid of cells for a FITS image without running a mapper",
        description="Print the number of cells and a summary of the cell and expanded-cell "
        "boxes the configuration gives for IN.fits; --plot draws them over the image.",
    )
    grid.add_argument("input", metavar="IN.fits", help="input FITS file")
    grid.add_argument("--hdu", type=parseHdu, metavar="NAME[,VER]|INDEX", help=HDU_HELP)
    grid.add_argument(
        "--plot", metavar="FILE.png", help="draw the cells (solid) and expanded cells (dashed)"
    )
    grid.add_argument(
        "--skip",
        type=_positiveInt,
        default=1,
        help="draw one cell in SKIP (default 1: every cell)",
    )
    grid.add_argument(
        "--mapper",
        metavar="MODULE:CLASS",
        help="the mapper (only for its config fields in -c/-C overrides)",
    )
    grid.add_argument("--list", action="store_true", help="print every cell's boxes")
    grid.add_argument(
        "--check-border",
        type=_positiveInt,
        nargs="?",
        const=5,
        default=None,
        metavar="N",
        help="run the mapper (--mapper) on N random cells (default 5) with the border and with "
        "twice the border and print the largest difference inside the cells",
    )
    _addGridOptions(grid)
    _addCommon(grid)
    return parser
