"""`TaskMetadata`: hierarchical task metadata, as ``lsst.pipe.base.TaskMetadata``."""

from __future__ import annotations

__all__ = ["TaskMetadata"]


import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


# ---------------------------------------------------------------------------
# TaskMetadata
# ---------------------------------------------------------------------------

_PRIMITIVES = (str, int, float, bool)


def _toPrimitive(value: Any) -> str | int | float | bool | None:
    """Convert ``value`` to a plain Python primitive, or return `None`.

    Parameters
    ----------
    value : `~typing.Any`
        Candidate value (numpy scalars are accepted and converted).

    Returns
    -------
    primitive : `str`, `int`, `float`, `bool` or `None`
        The converted value, or `None` if it is not a supported scalar.
    """
    if type(value) in _PRIMITIVES:
        return value
    if isinstance(value, bool | str):
        return value
    # numpy.bool_ is neither Integral nor a bool subclass.
    if type(value).__name__ in ("bool_", "bool") and hasattr(value, "item"):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


class TaskMetadata:
    """Hierarchical, dictionary-like container for task metadata.

    Parameters
    ----------
    mapping : `~collections.abc.Mapping`, optional
        Initial items; nested mappings become nested `TaskMetadata`.

    Notes
    -----
    Values are scalars (`str`, `int`, `float`, `bool`), arrays (lists of
    those), or nested `TaskMetadata`.  A ``.`` in a key addresses nested
    metadata: ``md["a.b"] = 1`` stores ``1`` under ``b`` in the
    `TaskMetadata` stored under ``a``, creating it if needed.

    As with ``lsst.pipe.base.TaskMetadata`` (and ``PropertySet``), reading
    an array item with ``md[key]``, `get` or `getScalar` returns its *last*
    element; use `getArray` to obtain all values.  `add` appends to an
    array, which is how `lsst.utils.timer.logInfo` and `timeMethod` record
    timing information.

    Examples
    --------
    >>> md = TaskMetadata()
    >>> md["a.b"] = 1
    >>> md.add("a.c", 2.0)
    >>> md.add("a.c", 3.0)
    >>> md["a"]["b"], md["a.c"], md.getArray("a.c")
    (1, 3.0, [2.0, 3.0])
    >>> sorted(md.names())
    ['a', 'a.b', 'a.c']
    """

    def __init__(self, mapping: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = {}
        if mapping is not None:
            for key, value in mapping.items():
                self[key] = value

    # -- construction helpers ------------------------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaskMetadata:
        """Create metadata from a (possibly nested) mapping.

        Parameters
        ----------
        d : `~collections.abc.Mapping`
            Mapping to convert; nested mappings become nested metadata.

        Returns
        -------
        metadata : `TaskMetadata`
            New metadata holding the converted items.
        """
        return cls(d)

    @classmethod
    def from_metadata(cls, ps: Any) -> TaskMetadata:
        """Create metadata from a ``PropertySet``-like object.

        Parameters
        ----------
        ps : `~typing.Any`
            Object with ``paramNames(topLevelOnly=False)`` and ``getArray``
            methods, such as another `TaskMetadata`.

        Returns
        -------
        metadata : `TaskMetadata`
            New metadata; single-element arrays become scalars.
        """
        metadata = cls()
        for key in sorted(ps.paramNames(topLevelOnly=False)):
            values = list(ps.getArray(key))
            metadata[key] = values[0] if len(values) == 1 else values
        return metadata

    # -- key and value handling ---------------------------------------------

    @staticmethod
    def _splitKey(key: str) -> list[str]:
        """Split a dotted key into its components.

        Parameters
        ----------
        key : `str`
            Key, possibly hierarchical (``"a.b.c"``).

        Returns
        -------
        parts : `list` [`str`]
            Key components.

        Raises
        ------
        KeyError
            Raised if the key is not a string or has an empty component.
        """
        if not isinstance(key, str):
            raise KeyError(f"Invalid metadata key {key!r}: keys must be strings")
        parts = key.split(".")
        if any(not part for part in parts):
            raise KeyError(f"Invalid metadata key {key!r}: empty component")
        return parts

    @classmethod
    def _convert(cls, key: str, value: Any) -> Any:
        """Validate a value and convert it to its stored form.

        Parameters
        ----------
        key : `str`
            Key being assigned (used in error messages).
        value : `~typing.Any`
            Value to store.

        Returns
        -------
        stored : `~typing.Any`
            A primitive, a new `list` of primitives or a `TaskMetadata`.

        Raises
        ------
        TypeError
            Raised if the value (or an element of a list) is not supported.
        """
        if isinstance(value, TaskMetadata):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        scalar = _toPrimitive(value)
        if scalar is not None:
            return scalar
        if hasattr(value, "tolist") and hasattr(value, "ndim"):
            # numpy arrays and 0-d arrays.
            value = value.tolist()
            if not isinstance(value, list):
                return cls._convert(key, value)
        if isinstance(value, Sequence | set | frozenset) and not isinstance(value, str | bytes):
            items = []
            for item in value:
                converted = _toPrimitive(item)
                if converted is None:
                    raise TypeError(
                        f"Metadata item {key!r}: unsupported array element {item!r} "
                        f"of type {type(item).__name__}"
                    )
                items.append(converted)
            return items
        raise TypeError(
            f"Metadata item {key!r}: unsupported value {value!r} of type {type(value).__name__}"
        )

    def _lookup(self, key: str) -> Any:
        """Return the stored value for a possibly dotted key.

        Parameters
        ----------
        key : `str`
            Key to find.

        Returns
        -------
        value : `~typing.Any`
            Stored value (arrays are returned as the stored list).

        Raises
        ------
        KeyError
            Raised if the key is not present.
        """
        parts = self._splitKey(key)
        node: Any = self
        for part in parts:
            if not isinstance(node, TaskMetadata) or part not in node._data:
                raise KeyError(f"Metadata item {key!r} not found")
            node = node._data[part]
        return node

    def _parentFor(self, key: str, create: bool) -> tuple[TaskMetadata, str]:
        """Return the metadata that directly holds ``key`` and the leaf name.

        Parameters
        ----------
        key : `str`
            Possibly dotted key.
        create : `bool`
            Whether to create (or replace non-metadata values by) nested
            metadata along the path.

        Returns
        -------
        parent : `TaskMetadata`
            Metadata holding the last component.
        leaf : `str`
            Last key component.

        Raises
        ------
        KeyError
            Raised if ``create`` is false and the path does not exist.
        """
        parts = self._splitKey(key)
        node = self
        for part in parts[:-1]:
            child = node._data.get(part)
            if not isinstance(child, TaskMetadata):
                if not create:
                    raise KeyError(f"Metadata item {key!r} not found")
                child = TaskMetadata()
                node._data[part] = child
            node = child
        return node, parts[-1]

    # -- mapping interface ---------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        """Store a value, replacing any existing value of that key.

        Parameters
        ----------
        key : `str`
            Possibly dotted key; intermediate metadata is created as needed.
        value : `~typing.Any`
            Scalar, sequence of scalars (stored as an array), mapping or
            `TaskMetadata` (stored as nested metadata).

        Raises
        ------
        KeyError
            Raised if the key is invalid.
        TypeError
            Raised if the value type is not supported.
        """
        stored = self._convert(key, value)
        parent, leaf = self._parentFor(key, create=True)
        parent._data[leaf] = stored

    def __getitem__(self, key: str) -> Any:
        """Return the value of an item.

        Parameters
        ----------
        key : `str`
            Possibly dotted key.

        Returns
        -------
        value : `str`, `int`, `float`, `bool` or `TaskMetadata`
            Scalar value or nested metadata; for an array, its last element.

        Raises
        ------
        KeyError
            Raised if the key is not present (or holds an empty array).
        """
        value = self._lookup(key)
        if isinstance(value, list):
            if not value:
                raise KeyError(f"Metadata item {key!r} is an empty array")
            return value[-1]
        return value

    def __delitem__(self, key: str) -> None:
        """Remove an item.

        Parameters
        ----------
        key : `str`
            Possibly dotted key.

        Raises
        ------
        KeyError
            Raised if the key is not present.
        """
        parent, leaf = self._parentFor(key, create=False)
        if leaf not in parent._data:
            raise KeyError(f"Metadata item {key!r} not found")
        del parent._data[leaf]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self._lookup(key)
        except KeyError:
            return False
        return True

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskMetadata):
            return NotImplemented
        return self._data == other._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"_data": self._data}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._data = state["_data"]

    def keys(self) -> tuple[str, ...]:
        """Return the top-level keys.

        Returns
        -------
        keys : `tuple` [`str`]
            Top-level keys in insertion order.
        """
        return tuple(self._data)

    def items(self) -> Iterator[tuple[str, Any]]:
        """Iterate over top-level keys and values.

        Yields
        ------
        key : `str`
            Top-level key.
        value : `~typing.Any`
            Scalar, `list` copy of an array, or nested `TaskMetadata`.
        """
        for key, value in list(self._data.items()):
            yield key, (list(value) if isinstance(value, list) else value)

    def values(self) -> Iterator[Any]:
        """Iterate over top-level values (arrays as lists).

        Yields
        ------
        value : `~typing.Any`
            Scalar, `list` copy of an array, or nested `TaskMetadata`.
        """
        for _, value in self.items():
            yield value

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of an item, or a default if it is missing.

        Parameters
        ----------
        key : `str`
            Possibly dotted key.
        default : `~typing.Any`, optional
            Value to return if the key is not present.

        Returns
        -------
        value : `~typing.Any`
            As for ``self[key]`` (the last element of an array).
        """
        try:
            return self[key]
        except KeyError:
            return default

    def getScalar(self, key: str) -> Any:
        """Return a single value even if the item is an array.

        Parameters
        ----------
        key : `str`
            Possibly dotted key.

        Returns
        -------
        value : `str`, `int`, `float`, `bool` or `TaskMetadata`
            The value, or the last element if the item is an array.

        Raises
        ------
        KeyError
            Raised if the key is not present.
        """
        return self[key]

    def getArray(self, key: str) -> list[Any]:
        """Return all values of an item as a list, even if it is a scalar.

        Parameters
        ----------
        key : `str`
            Possibly dotted key.

        Returns
        -------
        values : `list`
            A new list of the item's values (one element for a scalar or
            nested metadata).

        Raises
        ------
        KeyError
            Raised if the key is not present.
        """
        value = self._lookup(key)
        if isinstance(value, list):
            return list(value)
        return [value]

    def add(self, name: str, value: Any) -> None:
        """Append a value to an array item, creating the array if needed.

        Parameters
        ----------
        name : `str`
            Possibly dotted key.
        value : `~typing.Any`
            Scalar to append, or a sequence of scalars to append in order.
            An existing scalar item is first converted to a one-element
            array.

        Raises
        ------
        TypeError
            Raised if the value is not a scalar or sequence of scalars, or if
            the key refers to nested metadata.

        Examples
        --------
        >>> md = TaskMetadata()
        >>> md.add("x", 1)
        >>> md.add("x", 2)
        >>> md.getArray("x")
        [1, 2]
        """
        stored = self._convert(name, value)
        if isinstance(stored, TaskMetadata):
            raise TypeError(f"Metadata item {name!r}: add() accepts only scalars and sequences")
        new = stored if isinstance(stored, list) else [stored]
        parent, leaf = self._parentFor(name, create=True)
        current = parent._data.get(leaf)
        if current is None:
            parent._data[leaf] = new
        elif isinstance(current, TaskMetadata):
            raise TypeError(f"Cannot add() to metadata item {name!r}: it holds nested metadata")
        elif isinstance(current, list):
            current.extend(new)
        else:
            parent._data[leaf] = [current, *new]

    def names(self) -> set[str]:
        """Return all keys, fully qualified, including nested ones.

        Returns
        -------
        names : `set` [`str`]
            Every key at every level, as dotted names; keys of nested
            metadata are included as well as their contents.
        """
        result: set[str] = set()
        for key, value in self._data.items():
            result.add(key)
            if isinstance(value, TaskMetadata):
                result.update(f"{key}.{sub}" for sub in value.names())
        return result

    def paramNames(self, topLevelOnly: bool = True) -> set[str]:
        """Return the names of items that hold values (not nested metadata).

        Parameters
        ----------
        topLevelOnly : `bool`, optional
            If `True`, only top-level value items are returned; otherwise
            fully qualified names of value items at every level.

        Returns
        -------
        names : `set` [`str`]
            Names of scalar and array items.
        """
        result: set[str] = set()
        for key, value in self._data.items():
            if isinstance(value, TaskMetadata):
                if not topLevelOnly:
                    result.update(f"{key}.{sub}" for sub in value.paramNames(topLevelOnly=False))
            else:
                result.add(key)
        return result

    def to_dict(self) -> dict[str, Any]:
        """Convert to a plain nested dictionary.

        Returns
        -------
        d : `dict` [`str`, `~typing.Any`]
            Scalars, lists (arrays) and nested dictionaries; no objects are
            shared with this metadata.
        """
        result: dict[str, Any] = {}
        for key, value in self._data.items():
            if isinstance(value, TaskMetadata):
                result[key] = value.to_dict()
            elif isinstance(value, list):
                result[key] = list(value)
            else:
                result[key] = value
        return result

    def get_dict(self, key: str) -> dict[str, Any]:
        """Return nested metadata as a plain dictionary.

        Parameters
        ----------
        key : `str`
            Key of a nested metadata item.

        Returns
        -------
        d : `dict` [`str`, `~typing.Any`]
            The nested items, or an empty dict if ``key`` is missing.
        """
        value = self.get(key)
        return value.to_dict() if isinstance(value, TaskMetadata) else {}

    def set_dict(self, key: str, value: Mapping[str, Any]) -> None:
        """Store a nested mapping as nested metadata.

        Parameters
        ----------
        key : `str`
            Key to store the mapping under.
        value : `~collections.abc.Mapping`
            Possibly nested mapping of primitives.
        """
        self[key] = value
