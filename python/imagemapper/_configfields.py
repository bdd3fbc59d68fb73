"""Config field types shared by the task, the reducer and the mappers.

`RangeField` is `lsst.pex.config.RangeField` with the range stated in the
rejection message and in the field's documentation, non-finite floats
rejected, and the range checked again by ``Config.validate`` (a value written
past assignment, e.g. into ``config._storage`` or by a hand-edited config file,
is still caught).
"""

from __future__ import annotations

__all__ = ["RangeField"]

import math
from typing import Any

import lsst.pex.config as pexConfig
from lsst.pex.config.callStack import getStackFrame


def _number(value: float) -> str:
    """``0``, ``0.5``, ``100``: a bound as a reader writes it."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


class RangeField(pexConfig.RangeField):
    """A number field whose value must lie in a range, named in every error.

    Parameters
    ----------
    doc : `str`
        What the field means.
    dtype : `int` or `float`
        The field's type.
    default : `int` or `float` or `None`
        The default value.
    min, max : `int` or `float` or `None`, optional
        The bounds; `None` leaves that side open. At least one is given.
    inclusiveMin : `bool`, optional
        Whether ``min`` itself is allowed (default `True`).
    inclusiveMax : `bool`, optional
        Whether ``max`` itself is allowed (default `True`, unlike
        `lsst.pex.config.RangeField`).
    optional : `bool`, optional
        Whether `None` is a valid value.
    note : `str`, optional
        Appended to the expectation in the error message, e.g.
        ``"0 = all usable CPUs"``.

    Notes
    -----
    A rejected value raises `~lsst.pex.config.FieldValidationError` naming
    the field, the value and the range, e.g. ``Value -1 is not allowed;
    expected an integer >= 0, range [0, inf)``. Floats must also be finite
    (an infinite bound is never a useful size, threshold or fraction).
    """

    def __init__(
        self,
        doc: str,
        dtype: type,
        default: Any = None,
        *,
        min: float | None = None,
        max: float | None = None,
        inclusiveMin: bool = True,
        inclusiveMax: bool = True,
        optional: bool = False,
        note: str | None = None,
    ) -> None:
        super().__init__(
            doc=doc,
            dtype=dtype,
            default=default,
            optional=optional,
            min=min,
            max=max,
            inclusiveMin=inclusiveMin,
            inclusiveMax=inclusiveMax,
        )
        # As pex_config's fields: the definition is the config class body
        # (our caller), not this constructor.
        self.source = getStackFrame()
        lo = "-inf" if min is None else _number(min)
        hi = "inf" if max is None else _number(max)
        self.rangeString = (
            f"{'[' if inclusiveMin and min is not None else '('}{lo}, "
            f"{hi}{']' if inclusiveMax and max is not None else ')'}"
        )
        kind = "an integer" if dtype is int else "a finite number"
        if min is not None and max is not None:
            bounds = f"in {self.rangeString}"
        elif min is not None:
            bounds = f"{'>=' if inclusiveMin else '>'} {lo}"
        else:
            bounds = f"{'<=' if inclusiveMax else '<'} {hi}"
        self.expected = f"{kind} {bounds}"
        if min is None or max is None:
            self.expected += f", range {self.rangeString}"
        if note:
            self.expected += f" ({note})"
        # pex_config appended its own spelling of the range to the field doc.
        base = (self.__doc__ or doc).split("\n\nValid Range = ")[0]
        self.__doc__ = f"{base}\n\nValid range: {self.rangeString}"

    def _inRange(self, value: Any) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return bool(self.minCheck(value, self.min) and self.maxCheck(value, self.max))

    def _rejection(self, value: Any) -> str:
        return f"Value {value!r} is not allowed; expected {self.expected}"

    def _validateValue(self, value: Any) -> None:
        if value is None:
            return
        pexConfig.Field._validateValue(self, value)  # the type check
        if not self._inRange(value):
            raise ValueError(self._rejection(value))

    def validate(self, instance: Any) -> None:
        super().validate(instance)
        value = self.__get__(instance)
        if value is not None and isinstance(value, self.dtype) and not self._inRange(value):
            raise pexConfig.FieldValidationError(self, instance, self._rejection(value))
