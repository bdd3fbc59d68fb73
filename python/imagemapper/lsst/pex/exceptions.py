"""``imagemapper.lsst.pex.exceptions``: the LSST exception classes (Python classes,
see `imagemapper.lsst._compat.exceptions`). ``lsst.pex.config`` is not here: it
is the real package."""

from __future__ import annotations

from .._compat.exceptions import *  # noqa: F403 - this module re-exports all of it
from .._compat.exceptions import __all__ as __all__
