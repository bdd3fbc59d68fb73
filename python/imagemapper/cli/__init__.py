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
import logging
import sys
from collections.abc import Sequence

from ._config import CliError, applyConfigOverride, firstLine, parseFieldValue
from ._grid import cmdGrid
from ._io import loadMapperClass
from ._parser import buildParser
from ._run import cmdRun


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
    commands = {"demo": _cmdDemo, "run": cmdRun, "grid": cmdGrid}
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
            f"imagemapper {args.command}: error: {type(err).__name__}: {firstLine(err)} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


# Raised and caught inside the command; shown to users as imagemapper.cli.CliError.
CliError.__module__ = __name__
