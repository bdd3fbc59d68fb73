"""``imagemapper.lsst.pex.exceptions``: the LSST exception classes (Python classes,
see `imagemapper.lsst._compat.exceptions`). ``lsst.pex.config`` is not here: it
is the real package."""

from __future__ import annotations

__all__ = [
    "DomainError",
    "Exception",
    "InvalidParameterError",
    "IoError",
    "LengthError",
    "LogicError",
    "NotFoundError",
    "OutOfRangeError",
    "OverflowError",
    "RangeError",
    "RuntimeError",
    "TypeError",
    "UnderflowError",
]

from .._compat.exceptions import (
    DomainError,
    Exception,
    InvalidParameterError,
    IoError,
    LengthError,
    LogicError,
    NotFoundError,
    OutOfRangeError,
    OverflowError,
    RangeError,
    RuntimeError,
    TypeError,
    UnderflowError,
)
