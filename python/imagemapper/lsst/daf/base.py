"""``imagemapper.lsst.daf.base``: ``PropertySet`` and ``PropertyList``
(`imagemapper.lsst._compat.daf`), usable as the metadata of ``makeSkyWcs``."""

from __future__ import annotations

__all__ = ["PropertyList", "PropertySet"]

from .._compat.daf import PropertyList, PropertySet
