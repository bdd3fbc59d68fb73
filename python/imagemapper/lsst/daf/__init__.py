"""``imagemapper.lsst.daf``: mirrors ``lsst.daf`` (see `imagemapper.lsst`)."""

from __future__ import annotations

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
