"""The ``imagemapper`` command: ``demo``, ``run`` and ``grid``.

``imagemapper demo`` PSF-matches a synthetic 4k x 4k exposure and writes FITS
and PNG files; ``imagemapper run IN.fits -o OUT.fits --mapper pkg.module:Class``
runs any `~imagemapper.ImageMapper` over a FITS file with LSST-style config
overrides (``-c cellSizeX=64``, ``-C overrides.py``); ``imagemapper grid``
shows the grid of cells without running a mapper.

Exit codes: 0 success, 1 runtime error (a one-line message on stderr; add
``--debug`` for the traceback), 2 command-line usage error.
"""

from __future__ import annotations

__all__ = ["CliError", "applyConfigOverride", "loadMapperClass", "main", "parseFieldValue"]

import argparse
import ast
import difflib
import importlib
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

#: What the command line sets before the user's overrides: FITS files carry no PSF model, so
#: cells are sized in pixels.
CLI_DEFAULTS: dict[str, Any] = {
    "scaleByFwhm": False,
    "cellSizeX": 256.0,
    "cellSizeY": 256.0,
    "gridStepX": 256.0,
    "gridStepY": 256.0,
    "borderSizeX": 16.0,
    "borderSizeY": 16.0,
}

_BACKENDS = ("serial", "threads", "processes", "dask")
_HDU_HELP = (
    "the image HDU: an index (0 = primary), an EXTNAME or EXTNAME,EXTVER (e.g. SCI,2); "
    "default IMAGE, else the first SCI, else the first HDU with a 2-d image; the mask "
    "(MASK/DQ) and variance (VARIANCE/VAR, UNCERT, ERR, IVAR) with the same EXTVER go with it"
)


def _reduceOps() -> tuple[str, ...]:
    """The reducer's reduceOperation choices that make sense from the command line."""
    from ._reducer import ImageReducerConfig

    allowed = cast(Any, ImageReducerConfig.reduceOperation).allowed
    return tuple(k for k in allowed if k is not None and k != "coaddPsf")


_REDUCE_OPS = _reduceOps()


class CliError(Exception):
    """An error the user can act on; printed as one line, exit status 1."""


# ---------------------------------------------------------------------------
# config overrides
# ---------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1", "t", "y"}
_FALSE = {"false", "no", "off", "0", "f", "n"}


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _parseScalar(dtype: type, text: str, what: str) -> Any:
    text = text.strip()
    if dtype is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise CliError(f"{what}: expected true or false, got {text!r}")
    if dtype is int:
        try:
            return int(text)
        except ValueError:
            raise CliError(f"{what}: expected an integer, got {text!r}") from None
    if dtype is float:
        try:
            return float(text)
        except ValueError:
            raise CliError(f"{what}: expected a number, got {text!r}") from None
    if dtype is str:
        return _unquote(text)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise CliError(f"{what}: cannot parse {text!r} as a {dtype.__name__}") from None


def parseFieldValue(field: Any, text: str, name: str = "value") -> Any:
    """Parse the command-line text of a config override with the field's type.

    Parameters
    ----------
    field : `lsst.pex.config.Field`
        The field (its ``dtype``; for a ``ListField`` its ``itemtype``).
    text : `str`
        The text after ``=``: ``64``, ``true``, ``average``, ``None`` (for
        optional fields), and for list fields ``BAD,SAT``, ``[1, 2]`` or ``[]``.
    name : `str`
        The field's name, for error messages.

    Returns
    -------
    value
        The parsed value.

    Raises
    ------
    CliError
        When the text does not parse as the field's type.
    """
    import lsst.pex.config as pexConfig

    stripped = text.strip()
    if stripped == "None":
        if getattr(field, "optional", False) or isinstance(field, pexConfig.ListField):
            return None
        raise CliError(f"{name}: this field is not optional, it cannot be None")
    what = f"{name}={text}"
    if isinstance(field, pexConfig.ListField):
        itemtype = field.itemtype
        if stripped.startswith(("[", "(")):
            inner = stripped[1:-1] if stripped.endswith(("]", ")")) else stripped[1:]
        else:
            inner = stripped
        if not inner.strip():
            return []
        return [_parseScalar(itemtype, item, what) for item in inner.split(",")]
    if isinstance(field, pexConfig.ChoiceField):
        value = _parseScalar(field.dtype, stripped, what)
        allowed = [k for k in field.allowed if k is not None]
        if value not in allowed:
            hint = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise CliError(f"{what}: {value!r} is not one of {allowed}{extra}")
        return value
    return _parseScalar(field.dtype, stripped, what)


def _asConfig(obj: Any, path: str) -> Any:
    import lsst.pex.config as pexConfig
    from lsst.pex.config.configurableField import ConfigurableInstance

    if isinstance(obj, pexConfig.Config):
        return obj
    if isinstance(obj, ConfigurableInstance):
        return obj.value
    raise CliError(f"{path!r} is a value, not a group of config fields")


def _unknownField(cfg: Any, name: str, path: str) -> CliError:
    known = sorted(cfg._fields)
    hint = difflib.get_close_matches(name, known, n=1)
    extra = f"; did you mean {hint[0]!r}?" if hint else ""
    where = f" in {path!r}" if path else ""
    return CliError(f"unknown config field {name!r}{where}{extra} (fields: {', '.join(known)})")


def applyConfigOverride(config: Any, assignment: str) -> None:
    """Apply one ``-c name=value`` override to a pex_config ``config``.

    ``name`` may be dotted (``mapper.sigma``, ``reducer.reduceOperation``);
    the value is parsed with the field's type (`parseFieldValue`).

    Raises
    ------
    CliError
        For a missing ``=``, an unknown field, a value of the wrong type or
        one the field rejects.
    """
    import lsst.pex.config as pexConfig

    if "=" not in assignment:
        raise CliError(f"config override {assignment!r} must look like name=value")
    name, text = assignment.split("=", 1)
    name = name.strip()
    parts = name.split(".")
    if not all(parts):
        raise CliError(f"config override {assignment!r}: bad field name {name!r}")
    cfg = _asConfig(config, "")
    for i, part in enumerate(parts[:-1]):
        if part not in cfg._fields:
            raise _unknownField(cfg, part, ".".join(parts[:i]))
        cfg = _asConfig(getattr(cfg, part), ".".join(parts[: i + 1]))
    last = parts[-1]
    field = cfg._fields.get(last)
    if field is None:
        raise _unknownField(cfg, last, ".".join(parts[:-1]))
    if isinstance(field, (pexConfig.ConfigurableField, pexConfig.ConfigField)):
        raise CliError(
            f"{name!r} is a group of fields: set them one by one ({name}.FIELD=value)"
            + (" or choose the mapper with --mapper" if last == "mapper" else "")
        )
    value = parseFieldValue(field, text, name)
    try:
        setattr(cfg, last, value)
    except (pexConfig.FieldValidationError, ValueError, TypeError) as err:
        raise CliError(f"{name}={text}: {_firstLine(err)}") from err


def _firstLine(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------------------
# mapper lookup and I/O
# ---------------------------------------------------------------------------


def loadMapperClass(spec: str) -> type:
    """Import the mapper class named by ``spec``.

    Parameters
    ----------
    spec : `str`
        ``package.module:Class`` (or ``package.module.Class``); a bare name
        such as ``GaussianConvolveMapper`` is looked up in
        `imagemapper.mappers`, then in `imagemapper`. The current directory is
        importable, so ``mymappers:MyMapper`` finds ``./mymappers.py``.

    Returns
    -------
    cls : `type`
        A concrete subclass of `~imagemapper.ImageMapper`.

    Raises
    ------
    CliError
        If the module cannot be imported, has no such attribute, or the
        attribute is not a concrete ImageMapper subclass.
    """
    import inspect

    from . import mappers as builtin
    from ._mapper import ImageMapper

    spec = spec.strip()
    if ":" in spec:
        moduleName, _, attr = spec.partition(":")
    elif "." in spec:
        moduleName, _, attr = spec.rpartition(".")
    else:
        moduleName, attr = "", spec
    if not attr:
        raise CliError(f"--mapper {spec!r}: expected package.module:ClassName")
    if moduleName:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(moduleName)
        except ImportError as err:
            raise CliError(
                f"--mapper {spec!r}: cannot import module {moduleName!r} ({_firstLine(err)}); "
                "is it installed, or in the current directory?"
            ) from err
        except Exception as err:
            raise CliError(
                f"--mapper {spec!r}: importing {moduleName!r} raised "
                f"{type(err).__name__}: {_firstLine(err)}"
            ) from err
        sources = [module]
    else:
        import imagemapper

        sources = [builtin, imagemapper]
    obj: Any = None
    for source in sources:
        obj = source
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            break
    if obj is None:
        candidates = sorted(
            n
            for src in sources
            for n, v in vars(src).items()
            if inspect.isclass(v) and issubclass(v, ImageMapper) and v is not ImageMapper
        )
        where = moduleName or "imagemapper.mappers"
        listed = f" (mappers there: {', '.join(candidates)})" if candidates else ""
        raise CliError(f"--mapper {spec!r}: {where} has no attribute {attr!r}{listed}")
    if not (inspect.isclass(obj) and issubclass(obj, ImageMapper)):
        raise CliError(
            f"--mapper {spec!r} is a {type(obj).__name__}, not a subclass of "
            "imagemapper.ImageMapper"
        )
    if inspect.isabstract(obj):
        raise CliError(f"--mapper {spec!r} is abstract: it does not implement run()")
    return obj


def _parseHdu(text: str) -> Any:
    """``--hdu`` text: ``INDEX``, ``NAME`` or ``NAME,VER``."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    name, comma, ver = text.partition(",")
    if not name.strip() or (comma and not ver.strip().isdigit()):
        raise argparse.ArgumentTypeError(
            f"expected an HDU index, NAME or NAME,VERSION (e.g. 1, SCI, SCI,2), got {text!r}"
        )
    return (name.strip().upper(), int(ver)) if comma else name.strip().upper()


def _warningText(messages: list[str]) -> list[str]:
    """One line per distinct warning; astropy's multi-line verification reports
    (a warning per line) become one line."""
    out: list[str] = []
    report: list[str] = []
    for message in messages:
        text = " ".join(message.split())
        if not text or text.startswith("Note: astropy.io.fits uses zero-based"):
            continue
        if text == "Verification reported errors:":
            report = ["FITS verification:"]
            continue
        if report:
            report.append(text)
            continue
        if text not in out:
            out.append(text)
    if report and " ".join(report) not in out:
        out.append(" ".join(report))
    return out


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _readExposure(path: str, hdu: Any = None, command: str = "run") -> Any:
    """Read the input, printing each astropy warning once and, when the file
    has several image HDUs, which one is used."""
    import warnings

    from .image import Exposure

    p = Path(path)
    if not p.exists():
        raise CliError(f"input file {path!r} does not exist")
    if p.is_dir():
        raise CliError(f"input {path!r} is a directory, expected a FITS file")
    handler = _Collected()
    logger = logging.getLogger("imagemapper.fits")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                exposure = Exposure.readFits(p, hdu=hdu)
            except OSError as err:
                raise CliError(f"cannot read {path!r} as FITS: {_firstLine(err)}") from err
            except (ValueError, TypeError) as err:
                raise CliError(f"{path!r} is not a 2-d FITS image: {_firstLine(err)}") from err
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    for line in _warningText([str(w.message) for w in caught]):
        print(f"imagemapper {command}: warning: {path}: {line}", file=sys.stderr)
    for line in handler.lines:
        print(f"{line.replace('hdu=', '--hdu')}")
    return exposure


#: Output names the ``run`` command writes an exposure to.
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fz")


def _outputKind(path: str) -> str:
    """``'fits'`` or ``'zarr'`` for an exposure output name; `CliError` otherwise."""
    lower = path.lower().rstrip("/")
    if lower.endswith(_FITS_SUFFIXES):
        return "fits"
    if lower.endswith(".zarr"):
        return "zarr"
    raise CliError(
        f"output {path!r}: give a FITS name (.fits, .fits.gz, .fz: tile-compressed) or a zarr "
        "directory (.zarr)"
    )


def _checkOutput(path: str, overwrite: bool, directory: bool = False) -> Path:
    p = Path(path)
    if p.is_dir() and not directory:
        raise CliError(f"output {path!r} is a directory; give a file name")
    if not p.parent.exists():
        raise CliError(f"output folder {str(p.parent)!r} does not exist")
    if p.exists() and not overwrite:
        raise CliError(f"output file {path!r} exists; pass --overwrite to replace it")
    return p


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
        choices=_BACKENDS,
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
    from . import __version__

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
    run.add_argument("--hdu", type=_parseHdu, metavar="NAME[,VER]|INDEX", help=_HDU_HELP)
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
        choices=_reduceOps(),
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
    grid.add_argument("--hdu", type=_parseHdu, metavar="NAME[,VER]|INDEX", help=_HDU_HELP)
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


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------


def _passThroughMapper() -> type:
    from ._mapper import ImageMapper

    class GridOnlyMapper(ImageMapper):
        """Placeholder mapper for ``imagemapper grid`` (never run)."""

        _DefaultName = "gridOnly"

        def run(self, subExposure: Any, expandedSubExposure: Any, fullBBox: Any, **kw: Any) -> Any:
            return super().run(subExposure, expandedSubExposure, fullBBox, **kw)

    return GridOnlyMapper


def _makeConfig(args: argparse.Namespace, mapperClass: type) -> Any:
    import lsst.pex.config as pexConfig

    from ._mapreduce import ImageMapReduceConfig

    config = ImageMapReduceConfig()
    config.mapper.retarget(mapperClass)
    for name, value in CLI_DEFAULTS.items():
        setattr(config, name, value)
    preferred = getattr(mapperClass, "preferredReduceOperation", None)
    if preferred:
        config.reducer.reduceOperation = preferred
    if args.cell is not None:
        config.cellSizeX = config.cellSizeY = float(args.cell)
        if args.step is None:
            config.gridStepX = config.gridStepY = float(args.cell)
    if args.step is not None:
        config.adjustGridOption = "none"
        config.gridStepX = config.gridStepY = float(args.step)
    if args.border is not None:
        config.borderSizeX = config.borderSizeY = float(args.border)
    if getattr(args, "reduce", None):
        config.reducer.reduceOperation = args.reduce
    for kind, value in getattr(args, "overrides", None) or []:
        if kind == "set":
            applyConfigOverride(config, value)
            continue
        path = Path(value)
        if not path.is_file():
            raise CliError(f"config override file {value!r} does not exist")
        try:
            config.load(str(path))
        except Exception as err:
            raise CliError(
                f"config override file {value!r}: {type(err).__name__}: {_firstLine(err)}"
            ) from err
    if getattr(args, "backend", None):
        config.backend = args.backend
    if getattr(args, "workers", None) is not None:
        config.numWorkers = args.workers
    if getattr(args, "progress", None) is not None:
        config.progress = args.progress
    if getattr(args, "show_config", False):
        return config  # shown as it is, required fields marked
    try:
        config.validate()
    except (pexConfig.FieldValidationError, ValueError) as err:
        raise CliError(f"invalid configuration: {_firstLine(err)}") from err
    return config


def _boxText(box: Any) -> str:
    return f"({box.getMinX()}, {box.getMinY()})-({box.getMaxX()}, {box.getMaxY()})"


def _showConfig(config: Any) -> int:
    from ._configdoc import configLines

    print("\n".join(configLines(config, markRequired=True)))
    return 0


def _cmdGrid(args: argparse.Namespace) -> int:
    from ._mapreduce import ImageMapReduceTask

    mapperClass = loadMapperClass(args.mapper) if args.mapper else _passThroughMapper()
    config = _makeConfig(args, mapperClass)
    if args.show_config:
        return _showConfig(config)
    exposure = _readExposure(args.input, args.hdu, "grid")
    task = ImageMapReduceTask(config)
    try:
        boxes0, boxes1 = task._generateGrid(exposure)
    except (ValueError, RuntimeError) as err:
        raise CliError(f"cannot make the grid: {_firstLine(err)}") from err
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
            print(f"  cell {i}: {_boxText(boxes0[i])}, expanded {_boxText(boxes1[i])}")
    if args.check_border:
        if not args.mapper:
            raise CliError("--check-border needs --mapper MODULE:CLASS (the mapper to check)")
        _checkBorder(task, exposure, args.check_border)
    if args.plot:
        _checkPlotName(args.plot)
        out = _checkOutput(args.plot, overwrite=True)
        try:
            from ._demo import _previewArray
            from ._plot import _matplotlib, plotBoxes

            plt = _matplotlib()
        except ImportError as err:
            raise CliError(f"--plot needs matplotlib: {_firstLine(err)}") from err
        fig = plotBoxes(
            boxes0, boxes1, bbox, skip=args.skip, image=_previewArray(exposure.image.array)
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


def _resultTable(results: Sequence[Any]) -> Any:
    import numbers

    from astropy.table import Table

    from ._core import Box2I

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


def _checkBorder(task: Any, exposure: Any, nCells: int) -> Any:
    """Run ``task.checkBorder`` and print what it found."""
    from ._executors import MapperError

    try:
        res = task.checkBorder(exposure, nCells=nCells)
    except (MapperError, ValueError, TypeError, RuntimeError) as err:
        raise CliError(f"border check failed: {_firstLine(err)}") from err
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


def _numWorkers(config: Any) -> int:
    from ._mapreduce import _usableCpus

    return int(config.numWorkers) or _usableCpus()


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
    from ._fitsio import publishDirectory

    publishDirectory(out, lambda tmp: _writeZarr(exposure, tmp), overwrite)


def _writeZarr(exposure: Any, path: str) -> None:
    """The exposure as a zarr group (``ZarrSource`` reads it), with its metadata,
    WCS header and PSF description as attributes."""
    import json

    from ._outofcore import ZarrSink, _zarr

    ZarrSink.fromExposure(path, exposure, bandHeight=max(1, min(256, exposure.getHeight())))
    group = _zarr().open_group(path, mode="r+")
    metadata = {k: v for k, v in exposure.metadata.items()}
    group.attrs["metadata"] = json.loads(json.dumps(metadata, default=str))
    wcs = exposure.getWcs()
    if wcs is not None:
        group.attrs["wcs"] = dict(wcs.to_header(relax=True))
    psf = exposure.getPsf()
    if psf is not None:
        from .io._psfrecords import psfToRecords

        rows, kernels, _ = psfToRecords(psf)
        group.attrs["psf"] = rows
        for k, kernel in enumerate(kernels):
            group.create_array(f"psf_kernel_{k}", data=kernel)


def _inputHdu(path: str, hdu: Any) -> str:
    """The HDU that was read, as ``NAME,VER (index i)``."""
    from ._fitsio import openFits, planLayout

    with openFits(path) as hdul:
        image = planLayout(hdul, path, hdu).image
    return f"{image.name},{image.ver} (index {image.index})" if image.name else str(image.index)


def _cmdRun(args: argparse.Namespace) -> int:
    from ._demo import localDaskClient
    from ._executors import MapperError
    from ._fitsio import addProvenance, provenance
    from ._mapreduce import ImageMapReduceTask

    mapperClass = loadMapperClass(args.mapper)
    config = _makeConfig(args, mapperClass)
    if args.show_config:
        return _showConfig(config)
    op = config.reducer.reduceOperation
    if op == "coaddPsf":
        raise CliError("reduceOperation 'coaddPsf' is not supported from the command line")
    if op != "none" and not args.output:
        raise CliError(f"-o OUT.fits is required (reduceOperation {op!r} makes an exposure)")
    kind = _outputKind(args.output) if args.output and op != "none" else "table"
    out = _checkOutput(args.output, args.overwrite, kind == "zarr") if args.output else None
    if out is not None and out.exists() and Path(args.input).exists():
        if os.path.samefile(out, args.input):
            raise CliError(f"output {args.output!r} is the input file; give another name")
    if args.resume or args.out_of_core or args.band_height:
        assert out is not None
        return _runOutOfCore(args, config, mapperClass, kind, out)
    exposure = _readExposure(args.input, args.hdu, "run")
    _checkInverseVariance(config, exposure, args.input)
    t0 = time.perf_counter()
    localDask = config.backend == "dask" and not config.daskScheduler
    try:
        with localDaskClient("dask" if localDask else "", _numWorkers(config)) as client:
            task = ImageMapReduceTask(config, client=client)
            if args.check_border:
                _checkBorder(task, exposure, args.check_border)
            t0 = time.perf_counter()
            result = task.run(exposure)
    except MapperError as err:
        raise CliError(_firstLine(err)) from err
    except (ValueError, TypeError, RuntimeError) as err:
        raise CliError(f"{type(err).__name__}: {_firstLine(err)}") from err
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
            from ._fitsio import publishFile

            try:  # atomically, as every output: complete, or the previous file untouched
                publishFile(out, lambda tmp: table.write(tmp, overwrite=True), overwrite=True)
            except Exception as err:
                raise CliError(
                    f"cannot write the table to {str(out)!r}: {_firstLine(err)}"
                ) from err
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
        raise CliError(f"cannot write {str(out)!r}: {_firstLine(err)}") from err
    print(f"wrote {out}")
    return 0


def _runOutOfCore(
    args: argparse.Namespace, config: Any, mapperClass: type, kind: str, out: Path
) -> int:
    """``run --out-of-core``: `runOutOfCore` from a `FitsSource` into OUT."""
    from ._executors import MapperError
    from ._fitsio import addProvenance, provenance
    from ._mapreduce import ImageMapReduceTask
    from ._outofcore import FitsSource, runOutOfCore
    from ._output import sideName

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
        raise CliError(_firstLine(err)) from err
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
        raise CliError(f"{what}{_firstLine(err)}{hint}") from err
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


def _cmdDemo(args: argparse.Namespace) -> int:
    from ._demo import runDemo

    config_backend = args.backend or "threads"
    runDemo(
        size=args.size,
        output=args.output,
        workers=args.workers or 0,
        backend=config_backend,
        seed=args.seed,
        cell=args.cell,
        step=args.step or None,
        border=args.border,
        targetSigma=args.target_sigma,
        writeFits=not args.no_fits,
        plots=not args.no_plots,
        progress=args.progress,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``imagemapper`` command; returns the exit status.

    Parameters
    ----------
    argv : sequence of `str`, optional
        The arguments (default ``sys.argv[1:]``).
    """
    parser = buildParser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    verbose = int(getattr(args, "verbose", 0) or 0)
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    commands = {"demo": _cmdDemo, "run": _cmdRun, "grid": _cmdGrid}
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("imagemapper: interrupted", file=sys.stderr)
        return 130
    except CliError as err:
        if debug:
            raise
        print(f"imagemapper {args.command}: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # an unexpected failure: still one line unless --debug
        if debug:
            raise
        print(
            f"imagemapper {args.command}: error: {type(err).__name__}: {_firstLine(err)} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
