"""The ``lsst.pex.exceptions`` hierarchy as plain Python exception classes.

The class tree is LSST's: `Exception` at the root, `LogicError` and
`RuntimeError` below it, and the specific errors below those; where LSST
also derives from a Python built-in (``RuntimeError``, ``OverflowError``,
``LookupError``, ``TypeError`` ...) these do too, so ``except RuntimeError``
catches `RuntimeError` here as it does with the LSST stack.

Two additions make the errors that imagemapper itself raises catchable by
LSST code: `InvalidParameterError`, `LengthError`, `DomainError` and
`OutOfRangeError` are also `ValueError` (``OutOfRangeError`` also
`IndexError`), the Python error for a bad argument value.
"""

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

import builtins


class Exception(builtins.Exception):  # LSST's name (shadows the built-in)
    """Base class of the LSST exceptions (``lsst.pex.exceptions.Exception``)."""

    __module__ = "imagemapper.lsst.pex.exceptions"

    def what(self) -> str:
        """Return the message (the C++ ``what()``)."""
        return str(self)


class LogicError(Exception):
    """An error in the program's logic, detectable before it runs."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class DomainError(LogicError, builtins.ValueError):
    """An argument outside the domain of a function."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class InvalidParameterError(LogicError, builtins.ValueError):
    """A parameter with an invalid value."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class LengthError(LogicError, builtins.ValueError):
    """An object that would exceed its maximum allowed size, or sizes that differ."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class OutOfRangeError(LogicError, builtins.ValueError, builtins.IndexError):
    """An argument outside its expected range (an index, say)."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class TypeError(LogicError, builtins.TypeError):  # LSST's name (shadows the built-in)
    """An argument of the wrong type."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class RuntimeError(Exception, builtins.RuntimeError):  # LSST's name (shadows the built-in)
    """An error that can only be detected when the program runs."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class RangeError(RuntimeError):
    """A result outside the range the computation can represent."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class OverflowError(RuntimeError, builtins.OverflowError):  # LSST's name (shadows the built-in)
    """An arithmetic overflow."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class UnderflowError(RuntimeError, builtins.ArithmeticError):
    """An arithmetic underflow."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class NotFoundError(Exception, builtins.LookupError):
    """A lookup that found nothing."""

    __module__ = "imagemapper.lsst.pex.exceptions"


class IoError(RuntimeError, builtins.OSError):
    """An input/output failure."""

    __module__ = "imagemapper.lsst.pex.exceptions"
