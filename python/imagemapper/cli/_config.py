"""Config on the command line: defaults and ``-c field=value`` overrides, parsed by field type."""

from __future__ import annotations

import argparse
import ast
import difflib
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

BACKENDS = ("serial", "threads", "processes", "dask")
HDU_HELP = (
    "the image HDU: an index (0 = primary), an EXTNAME or EXTNAME,EXTVER (e.g. SCI,2); "
    "default IMAGE, else the first SCI, else the first HDU with a 2-d image; the mask "
    "(MASK/DQ) and variance (VARIANCE/VAR, UNCERT, ERR, IVAR) with the same EXTVER go with it"
)


def reduceOps() -> tuple[str, ...]:
    """The reducer's reduceOperation choices that make sense from the command line."""
    from ..mapreduce._reducer import ImageReducerConfig

    allowed = cast(Any, ImageReducerConfig.reduceOperation).allowed
    return tuple(k for k in allowed if k is not None and k != "coaddPsf")


REDUCE_OPS = reduceOps()


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
        raise CliError(f"{name}={text}: {firstLine(err)}") from err


def firstLine(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def passThroughMapper() -> type:
    from ..mapreduce._mapper import ImageMapper

    class GridOnlyMapper(ImageMapper):
        """Placeholder mapper for ``imagemapper grid`` (never run)."""

        _DefaultName = "gridOnly"

        def run(self, subExposure: Any, expandedSubExposure: Any, fullBBox: Any, **kw: Any) -> Any:
            return super().run(subExposure, expandedSubExposure, fullBBox, **kw)

    return GridOnlyMapper


def makeConfig(args: argparse.Namespace, mapperClass: type) -> Any:
    import lsst.pex.config as pexConfig

    from ..mapreduce._task import ImageMapReduceConfig

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
                f"config override file {value!r}: {type(err).__name__}: {firstLine(err)}"
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
        raise CliError(f"invalid configuration: {firstLine(err)}") from err
    return config


def boxText(box: Any) -> str:
    return f"({box.getMinX()}, {box.getMinY()})-({box.getMaxX()}, {box.getMaxY()})"


def showConfig(config: Any) -> int:
    from ..task._configdoc import configLines

    print("\n".join(configLines(config, markRequired=True)))
    return 0
