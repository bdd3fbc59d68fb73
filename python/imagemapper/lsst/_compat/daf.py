"""``lsst.daf.base.PropertySet`` and ``PropertyList``: named, typed metadata.

Values are stored as lists (an item may hold several values); `get` and
`getScalar` return the last one, `getArray` all of them. `PropertySet`
names are hierarchical (``"a.b"`` lives in the child set ``"a"``);
`PropertyList` names are flat, kept in insertion order and may carry a
comment, as FITS header cards do. Both convert to a `dict` (`toDict`) and
serve as the ``metadata`` of ``makeSkyWcs``.
"""

from __future__ import annotations

__all__ = ["PropertyList", "PropertySet"]

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np


def _values(value: Any) -> list[Any]:
    """A new list of the value(s) given: a scalar, or each item of a list/tuple/array."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return [value.item() if isinstance(value, np.generic) else value]


class PropertySet:
    """A hierarchical mapping of names to typed values (``lsst.daf.base.PropertySet``).

    Parameters
    ----------
    flat : `bool`, optional
        Used by `PropertyList`: names are not split at ``"."``.

    Examples
    --------
    >>> ps = PropertySet()
    >>> ps.setDouble("CRVAL1", 215.6)
    >>> ps.add("HISTORY", "a")
    >>> ps.add("HISTORY", "b")
    >>> ps.get("HISTORY"), ps.getArray("HISTORY")
    ('b', ['a', 'b'])
    """

    def __init__(self, flat: bool = False) -> None:
        self._flat = flat
        self._items: dict[str, list[Any] | PropertySet] = {}

    # -- navigation -----------------------------------------------------------

    def _split(self, name: str) -> tuple[str, str | None]:
        if not isinstance(name, str) or not name:
            raise TypeError(f"property names must be non-empty strings, not {name!r}")
        if self._flat or "." not in name:
            return name, None
        head, rest = name.split(".", 1)
        return head, rest

    def _child(self, head: str, create: bool) -> PropertySet | None:
        item = self._items.get(head)
        if isinstance(item, PropertySet):
            return item
        if not create:
            return None
        child = PropertySet()
        self._items[head] = child
        return child

    def _lookup(self, name: str) -> list[Any] | PropertySet:
        head, rest = self._split(name)
        if rest is None:
            if head not in self._items:
                raise KeyError(f"{name} not found")
            return self._items[head]
        child = self._child(head, create=False)
        if child is None:
            raise KeyError(f"{name} not found")
        return child._lookup(rest)

    # -- setting ---------------------------------------------------------------

    def set(self, name: str, value: Any) -> None:
        """Set item ``name`` to ``value`` (a scalar, a list of values or a `PropertySet`),
        replacing what was there."""
        head, rest = self._split(name)
        if rest is not None:
            child = self._child(head, create=True)
            assert child is not None
            child.set(rest, value)
            return
        if isinstance(value, PropertySet):
            self._items[head] = value
        else:
            values = _values(value)
            if not values:
                raise ValueError(f"cannot set {name!r} to an empty list")
            self._items[head] = values

    def add(self, name: str, value: Any) -> None:
        """Append ``value`` (or each of several values) to item ``name``; like `set` if
        the item does not exist yet."""
        try:
            item = self._lookup(name)
        except KeyError:
            self.set(name, value)
            return
        if isinstance(item, PropertySet) or isinstance(value, PropertySet):
            self.set(name, value)
        else:
            item.extend(_values(value))

    def setDouble(self, name: str, value: float) -> None:
        """Set a float item."""
        self.set(name, [float(v) for v in _values(value)])

    setFloat = setDouble

    def setInt(self, name: str, value: int) -> None:
        """Set an integer item."""
        self.set(name, [int(v) for v in _values(value)])

    setLongLong = setInt

    def setBool(self, name: str, value: bool) -> None:
        """Set a boolean item."""
        self.set(name, [bool(v) for v in _values(value)])

    def setString(self, name: str, value: str) -> None:
        """Set a string item."""
        self.set(name, [str(v) for v in _values(value)])

    def setPropertySet(self, name: str, value: PropertySet) -> None:
        """Set a nested `PropertySet`."""
        if not isinstance(value, PropertySet):
            raise TypeError(f"expected a PropertySet, not {type(value).__name__}")
        self.set(name, value)

    # -- getting ---------------------------------------------------------------

    def get(self, name: str, default: Any = None) -> Any:
        """Return the (last) value of ``name``, or ``default`` if it does not exist."""
        try:
            return self.getScalar(name)
        except KeyError:
            return default

    def getScalar(self, name: str) -> Any:
        """Return the last value of ``name``.

        Raises
        ------
        KeyError
            If the item does not exist.
        """
        item = self._lookup(name)
        return item if isinstance(item, PropertySet) else item[-1]

    def getArray(self, name: str) -> list[Any]:
        """Return all the values of ``name`` as a new list.

        Raises
        ------
        KeyError
            If the item does not exist.
        """
        item = self._lookup(name)
        if isinstance(item, PropertySet):
            raise TypeError(f"{name!r} is a PropertySet, not an array of values")
        return list(item)

    def getDouble(self, name: str) -> float:
        """Return the last value of ``name`` as a float."""
        return float(self.getScalar(name))

    getFloat = getDouble

    def getInt(self, name: str) -> int:
        """Return the last value of ``name`` as an integer."""
        return int(self.getScalar(name))

    getLongLong = getInt

    def getBool(self, name: str) -> bool:
        """Return the last value of ``name`` as a bool."""
        return bool(self.getScalar(name))

    def getString(self, name: str) -> str:
        """Return the last value of ``name`` as a string."""
        return str(self.getScalar(name))

    def getPropertySet(self, name: str) -> PropertySet:
        """Return the nested `PropertySet` ``name``."""
        item = self._lookup(name)
        if not isinstance(item, PropertySet):
            raise TypeError(f"{name!r} is not a PropertySet")
        return item

    # -- queries ---------------------------------------------------------------

    def exists(self, name: str) -> bool:
        """Return whether item ``name`` exists."""
        try:
            self._lookup(name)
        except KeyError:
            return False
        return True

    def isArray(self, name: str) -> bool:
        """Return whether ``name`` holds more than one value."""
        item = self._lookup(name)
        return not isinstance(item, PropertySet) and len(item) > 1

    def isPropertySetPtr(self, name: str) -> bool:
        """Return whether ``name`` is a nested `PropertySet`."""
        return isinstance(self._lookup(name), PropertySet)

    def valueCount(self, name: str) -> int:
        """Return the number of values of ``name``."""
        item = self._lookup(name)
        return 1 if isinstance(item, PropertySet) else len(item)

    def names(self, topLevelOnly: bool = True) -> list[str]:
        """Return the item names (with ``topLevelOnly=False``, also the dotted names
        inside nested sets)."""
        result: list[str] = []
        for head, item in self._items.items():
            result.append(head)
            if not topLevelOnly and isinstance(item, PropertySet):
                result.extend(f"{head}.{sub}" for sub in item.names(False))
        return result

    def paramNames(self, topLevelOnly: bool = True) -> list[str]:
        """Return the names of the items that hold values (not nested sets)."""
        result: list[str] = []
        for head, item in self._items.items():
            if isinstance(item, PropertySet):
                if not topLevelOnly:
                    result.extend(f"{head}.{sub}" for sub in item.paramNames(False))
            else:
                result.append(head)
        return result

    def nameCount(self, topLevelOnly: bool = True) -> int:
        """Return the number of names."""
        return len(self.names(topLevelOnly))

    def remove(self, name: str) -> None:
        """Remove item ``name`` (nothing happens if it does not exist)."""
        head, rest = self._split(name)
        if rest is None:
            self._items.pop(head, None)
            return
        child = self._child(head, create=False)
        if child is not None:
            child.remove(rest)

    def toDict(self) -> dict[str, Any]:
        """Return a (nested) `dict`: a single value as a scalar, several as a list."""
        result: dict[str, Any] = {}
        for head, item in self._items.items():
            if isinstance(item, PropertySet):
                result[head] = item.toDict()
            else:
                result[head] = item[0] if len(item) == 1 else list(item)
        return result

    def update(self, addition: Mapping[str, Any] | PropertySet) -> None:
        """Set every item of ``addition`` (a mapping or a set), replacing existing ones."""
        if isinstance(addition, PropertySet):
            for name in addition.names():
                item = addition._items[name]
                self.set(name, item if isinstance(item, PropertySet) else list(item))
        else:
            for name, value in addition.items():
                self.set(name, value)

    @classmethod
    def from_mapping(cls, metadata: Mapping[str, Any]) -> PropertySet:
        """Return a new set holding the items of ``metadata``."""
        result = cls()
        result.update(metadata)
        return result

    def copy(self) -> PropertySet:
        """Return a deep copy."""
        return copy.deepcopy(self)

    # -- mapping protocol ------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.exists(name)

    def __getitem__(self, name: str) -> Any:
        return self.getScalar(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        if not self.exists(name):
            raise KeyError(f"{name} not found")
        self.remove(name)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def keys(self) -> list[str]:
        """Return the top-level names."""
        return self.names()

    def items(self) -> Iterable[tuple[str, Any]]:
        """Iterate over ``(name, last value)``."""
        for name in self.names():
            yield name, self.getScalar(name)

    def values(self) -> Iterable[Any]:
        """Iterate over the last values."""
        for name in self.names():
            yield self.getScalar(name)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, PropertySet)
        return self._items == other._items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.toDict()!r})"


class PropertyList(PropertySet):
    """An ordered, flat `PropertySet` whose items may carry a comment, like FITS cards
    (``lsst.daf.base.PropertyList``)."""

    def __init__(self) -> None:
        super().__init__(flat=True)
        self._comments: dict[str, str] = {}

    def set(self, name: str, value: Any, comment: str | None = None) -> None:
        """Set item ``name``; a ``comment`` is kept with it."""
        super().set(name, value)
        if comment is not None:
            self._comments[name] = str(comment)

    def add(self, name: str, value: Any, comment: str | None = None) -> None:
        """Append to item ``name``; a ``comment`` replaces its comment."""
        super().add(name, value)
        if comment is not None:
            self._comments[name] = str(comment)

    def remove(self, name: str) -> None:
        """Remove item ``name`` and its comment."""
        super().remove(name)
        self._comments.pop(name, None)

    def getComment(self, name: str) -> str:
        """Return the comment of ``name`` (``""`` if none)."""
        self._lookup(name)
        return self._comments.get(name, "")

    def setComment(self, name: str, comment: str) -> None:
        """Set the comment of an existing item."""
        self._lookup(name)
        self._comments[name] = str(comment)

    def toList(self) -> list[tuple[str, Any, str]]:
        """Return ``(name, value, comment)`` for each value, in order."""
        result: list[tuple[str, Any, str]] = []
        for name in self.names():
            for value in self.getArray(name):
                result.append((name, value, self._comments.get(name, "")))
        return result

    def toOrderedDict(self) -> dict[str, Any]:
        """Return the items in order, as `toDict` does."""
        return self.toDict()

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, PropertyList)
        return (
            list(self._items.items()) == list(other._items.items())
            and self._comments == other._comments
        )
