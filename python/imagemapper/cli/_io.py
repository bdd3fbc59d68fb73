"""What the commands read and write: mapper classes by name, input exposures, output names."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ._config import CliError, firstLine

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

    from .. import mappers as builtin
    from ..mapreduce._mapper import ImageMapper

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
                f"--mapper {spec!r}: cannot import module {moduleName!r} ({firstLine(err)}); "
                "is it installed, or in the current directory?"
            ) from err
        except Exception as err:
            raise CliError(
                f"--mapper {spec!r}: importing {moduleName!r} raised "
                f"{type(err).__name__}: {firstLine(err)}"
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


def parseHdu(text: str) -> Any:
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


def readExposure(path: str, hdu: Any = None, command: str = "run") -> Any:
    """Read the input, printing each astropy warning once and, when the file
    has several image HDUs, which one is used."""
    import warnings

    from ..image import Exposure

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
                raise CliError(f"cannot read {path!r} as FITS: {firstLine(err)}") from err
            except (ValueError, TypeError) as err:
                raise CliError(f"{path!r} is not a 2-d FITS image: {firstLine(err)}") from err
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


def outputKind(path: str) -> str:
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


def checkOutput(path: str, overwrite: bool, directory: bool = False) -> Path:
    p = Path(path)
    if p.is_dir() and not directory:
        raise CliError(f"output {path!r} is a directory; give a file name")
    if not p.parent.exists():
        raise CliError(f"output folder {str(p.parent)!r} does not exist")
    if p.exists() and not overwrite:
        raise CliError(f"output file {path!r} exists; pass --overwrite to replace it")
    return p
