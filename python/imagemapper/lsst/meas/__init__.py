"""``imagemapper.lsst.meas``: mirrors ``lsst.meas`` (see `imagemapper.lsst`)."""

from __future__ import annotations

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
