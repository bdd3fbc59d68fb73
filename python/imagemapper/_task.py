"""Minimal task framework: `Task`, `Struct`, `TaskMetadata` and `timeMethod`.

This module re-creates the small part of the LSST ``pipe_base`` task
framework that ``imagemapper`` needs, without depending on ``lsst-pipe-base``.
Configuration uses the real `lsst.pex.config` package and logging uses
`lsst.utils.logging`, so tasks written against ``lsst.pipe.base.Task`` can be
ported by changing their imports.
"""

from __future__ import annotations

__all__ = ["Struct", "Task", "TaskMetadata", "replicateTask", "timeMethod"]

import contextlib
import copy
import logging
import numbers
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import lsst.pex.config
import lsst.utils.logging
from lsst.utils.timer import logInfo, timeMethod

if TYPE_CHECKING:
    from collections.abc import Callable


# ---------------------------------------------------------------------------
# Struct
# ---------------------------------------------------------------------------


class Struct:
    """A container whose items are accessed as attributes.

    Parameters
    ----------
    **kwargs : `~typing.Any`
        Names and values of the items to store.

    Raises
    ------
    RuntimeError
        Raised if an item name starts with ``__`` (two underscores) or
        clashes with an attribute of `Struct` itself (such as ``getDict``).

    Notes
    -----
    `Struct` is the conventional return type of ``Task.run`` methods: items
    are read by name (``result.exposure``) rather than by position, so adding
    new items never breaks callers.

    Examples
    --------
    >>> s = Struct(a=1, b="two")
    >>> s.a
    1
    >>> s
    Struct(a=1; b=two)
    >>> len(s)
    2
    """

    if TYPE_CHECKING:
        # Items are set dynamically: let type checkers accept any attribute.
        def __getattr__(self, name: str) -> Any: ...

    def __init__(self, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            self._addItem(name, value)

    @staticmethod
    def _checkName(name: str) -> None:
        """Raise if ``name`` is not a valid item name.

        Parameters
        ----------
        name : `str`
            Candidate item name.

        Raises
        ------
        RuntimeError
            Raised if ``name`` starts with two underscores.
        """
        if name.startswith("__"):
            raise RuntimeError(f"Struct item name {name!r} is invalid: it must not begin with '__'")

    def _addItem(self, name: str, value: Any) -> None:
        """Add a new item, refusing to replace an existing one.

        Parameters
        ----------
        name : `str`
            Name of the new item.
        value : `~typing.Any`
            Value of the new item.

        Raises
        ------
        RuntimeError
            Raised if the name is invalid or already present.
        """
        self._checkName(name)
        if hasattr(self, name):
            raise RuntimeError(f"Struct item {name!r} already exists")
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        self._checkName(name)
        object.__setattr__(self, name, value)

    def getDict(self) -> dict[str, Any]:
        """Return the items as a new dictionary.

        Returns
        -------
        items : `dict` [`str`, `~typing.Any`]
            A shallow copy of the items: modifying the dictionary does not
            modify the struct, but the values are the same objects.

        Examples
        --------
        >>> Struct(a=1).getDict()
        {'a': 1}
        """
        return dict(self.__dict__)

    def mergeItems(self, struct: Struct, *nameList: str) -> None:
        """Copy the named items of another struct into this one.

        Parameters
        ----------
        struct : `Struct`
            Struct to copy items from.
        *nameList : `str`
            Names of the items to copy.

        Raises
        ------
        RuntimeError
            Raised if an item already exists in this struct (items listed
            before the conflicting one have already been copied).
        AttributeError
            Raised if ``struct`` has no item of a given name.

        Examples
        --------
        >>> a = Struct(x=1)
        >>> a.mergeItems(Struct(y=2, z=3), "y")
        >>> a
        Struct(x=1; y=2)
        """
        for name in nameList:
            self._addItem(name, getattr(struct, name))

    def copy(self) -> Struct:
        """Return a one-level-deep copy (values are shared, not copied).

        Returns
        -------
        struct : `Struct`
            New struct holding the same values.
        """
        return type(self)(**self.getDict())

    def copyItems(self, *nameList: str) -> Struct:
        """Make a shallow copy of this struct, copying the named values.

        Parameters
        ----------
        *nameList : `str`
            Names of the items whose values are themselves copied with
            `copy.copy`; all other values are shared with this struct.

        Returns
        -------
        struct : `Struct`
            New struct with all items of this one.

        Raises
        ------
        AttributeError
            Raised if a name in ``nameList`` is not an item of this struct.

        Examples
        --------
        >>> a = Struct(x=[1], y=[2])
        >>> b = a.copyItems("x")
        >>> b.x is a.x, b.x == a.x, b.y is a.y
        (False, True, True)
        """
        items = self.getDict()
        for name in nameList:
            if name not in items:
                raise AttributeError(f"Struct has no item {name!r} to copy")
            items[name] = copy.copy(items[name])
        return type(self)(**items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Struct):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.__dict__)

    def __repr__(self) -> str:
        items = "; ".join(f"{name}={value}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({items})"

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


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


# ---------------------------------------------------------------------------
# Task
# ---------------------------------------------------------------------------


def _unpickleTask(factory: Callable[..., Task], kwargs: dict[str, Any]) -> Task:
    """Recreate a task by calling ``factory(**kwargs)`` (pickle helper).

    Parameters
    ----------
    factory : `~collections.abc.Callable`
        Task class.
    kwargs : `dict` [`str`, `~typing.Any`]
        Constructor keyword arguments.

    Returns
    -------
    task : `Task`
        The new task.
    """
    return factory(**kwargs)


def _unpickleSubtask(parent: Task, name: str) -> Task:
    """Return subtask ``name`` of an unpickled parent (pickle helper).

    Parameters
    ----------
    parent : `Task`
        Unpickled parent task, whose constructor made the subtask.
    name : `str`
        Attribute name of the subtask.

    Returns
    -------
    task : `Task`
        The subtask.
    """
    return getattr(parent, name)


class Task:
    """Base class for configurable, hierarchical data-processing tasks.

    Parameters
    ----------
    config : `lsst.pex.config.Config`, optional
        Configuration, an instance of ``ConfigClass``.  The task keeps a
        reference to it (it is not copied).  If `None`, a subtask uses
        ``getattr(parentTask.config, name)`` (the `~lsst.pex.config.Config`
        held by a `~lsst.pex.config.ConfigurableField`) and a top-level task
        uses ``ConfigClass()``.
    name : `str`, optional
        Brief name of the task.  Required for a subtask; a top-level task
        defaults to ``_DefaultName``.
    parentTask : `Task`, optional
        Parent task, if this is a subtask.  Only a weak reference is kept.
    log : `logging.Logger` or `lsst.utils.logging.LsstLogAdapter`, optional
        For a top-level task, a logger whose name prefixes this task's logger
        name.  Ignored for subtasks, whose logger is a child of the parent's.

    Raises
    ------
    RuntimeError
        Raised if a subtask has no ``name``, if a top-level task has neither
        ``name`` nor ``_DefaultName``, or if no config is given and the class
        has no ``ConfigClass``.

    Notes
    -----
    Subclasses define ``ConfigClass`` (a `lsst.pex.config.Config` subclass)
    and usually ``_DefaultName``.  Subtasks are declared in the config with
    `makeField` and built in ``__init__`` with `makeSubtask`.  Useful
    attributes are ``config``, ``log`` (an
    `lsst.utils.logging.LsstLogAdapter`) and ``metadata`` (a `TaskMetadata`).

    Tasks pickle by recreating themselves from their config and name, so a
    top-level task with subtasks can be sent to worker processes; metadata is
    not carried over.

    Examples
    --------
    >>> import lsst.pex.config as pexConfig
    >>> class AddConfig(pexConfig.Config):
    ...     offset = pexConfig.Field(dtype=int, default=1, doc="offset")
    >>> class AddTask(Task):
    ...     ConfigClass = AddConfig
    ...     _DefaultName = "add"
    ...     def run(self, x):
    ...         return Struct(value=x + self.config.offset)
    >>> AddTask().run(2).value
    3
    """

    ConfigClass: ClassVar[type[lsst.pex.config.Config]]
    _DefaultName: ClassVar[str]

    def __init__(
        self,
        config: lsst.pex.config.Config | None = None,
        *,
        name: str | None = None,
        parentTask: Task | None = None,
        log: logging.Logger | lsst.utils.logging.LsstLogAdapter | None = None,
    ) -> None:
        self.metadata = TaskMetadata()
        self._parentRef: weakref.ReferenceType[Task] | None = None
        self._logParent = None
        if parentTask is not None:
            if name is None:
                raise RuntimeError("name is required for a subtask")
            self._parentRef = weakref.ref(parentTask)
            self._name = name
            self._fullName = f"{parentTask.getFullName()}.{name}"
            if config is None:
                config = getattr(parentTask.config, name)
                if isinstance(config, lsst.pex.config.ConfigurableInstance):
                    # The field itself is a proxy; use the Config it holds.
                    config = config.value
            self._taskDict: dict[str, weakref.ReferenceType[Task]] = parentTask._taskDict
            loggerName = parentTask.log.getChild(name).name
        else:
            if name is None:
                name = getattr(self, "_DefaultName", None)
                if name is None:
                    raise RuntimeError(
                        f"{type(self).__name__}: name is required for a task "
                        "unless the class has a _DefaultName attribute"
                    )
            self._name = name
            self._fullName = name
            if config is None:
                configClass = getattr(self, "ConfigClass", None)
                if configClass is None:
                    raise RuntimeError(
                        f"{type(self).__name__}: config is required unless the class "
                        "has a ConfigClass attribute"
                    )
                config = configClass()
            self._taskDict = {}
            loggerName = self._fullName
            if log is not None:
                self._logParent = log
                loggerName = log.getChild(self._fullName).name
        # Typed Any: subclasses read their own fields (config.sigma, ...).
        self.config: Any = config
        self.config.validate()
        self.log: lsst.utils.logging.LsstLogAdapter = lsst.utils.logging.getLogger(loggerName)
        self._taskDict[self._fullName] = weakref.ref(self)

    @property
    def _parentTask(self) -> Task | None:
        """The parent task, or `None` for a top-level task (or if the parent
        no longer exists).
        """
        return None if self._parentRef is None else self._parentRef()

    def emptyMetadata(self) -> None:
        """Clear the metadata of this task and of every task in its
        hierarchy.
        """
        for ref in list(self._taskDict.values()):
            task = ref()
            if task is not None:
                task.metadata = TaskMetadata()

    def getFullMetadata(self) -> TaskMetadata:
        """Return the metadata of all tasks in the hierarchy.

        Returns
        -------
        metadata : `TaskMetadata`
            One item per task, keyed by the task's full name with ``.``
            replaced by ``:``; each value is that task's own ``metadata``
            (not a copy).  Items therefore read as
            ``top:sub:subsub.itemName``.

        Examples
        --------
        >>> class T(Task):
        ...     ConfigClass = lsst.pex.config.Config
        ...     _DefaultName = "top"
        >>> t = T()
        >>> t.metadata["n"] = 3
        >>> t.getFullMetadata()["top.n"]
        3
        """
        full = TaskMetadata()
        for fullName, ref in self._taskDict.items():
            task = ref()
            if task is not None:
                full[fullName.replace(".", ":")] = task.metadata
        return full

    def getFullName(self) -> str:
        """Return the hierarchical name of this task.

        Returns
        -------
        fullName : `str`
            Names of the top-level task and each subtask down to this one,
            joined by ``.``, e.g. ``"top.sub.sub2"``.
        """
        return self._fullName

    def getName(self) -> str:
        """Return the brief name of this task.

        Returns
        -------
        name : `str`
            The task's own name, e.g. ``"sub2"``.
        """
        return self._name

    def getTaskDict(self) -> dict[str, weakref.ReferenceType[Task]]:
        """Return all tasks in the hierarchy.

        Returns
        -------
        taskDict : `dict` [`str`, `weakref.ref`]
            Shallow copy of the mapping from full task name to a weak
            reference to the task, for the top-level task and all subtasks.
        """
        return dict(self._taskDict)

    @classmethod
    def makeField(cls, doc: str) -> lsst.pex.config.ConfigurableField:
        """Make a config field that configures (and can retarget) this task.

        Parameters
        ----------
        doc : `str`
            Help text for the field.

        Returns
        -------
        field : `lsst.pex.config.ConfigurableField`
            Field whose target is this class.

        Examples
        --------
        .. code-block:: python

            class ParentConfig(lsst.pex.config.Config):
                child = ChildTask.makeField("child task")
        """
        return lsst.pex.config.ConfigurableField(doc=doc, target=cls)

    def makeSubtask(self, name: str, **keyArgs: Any) -> None:
        """Create a subtask from the config and store it as attribute
        ``name``.

        Parameters
        ----------
        name : `str`
            Name of the subtask: a `~lsst.pex.config.ConfigurableField` or
            `~lsst.pex.config.RegistryField` of ``self.config``.
        **keyArgs : `~typing.Any`
            Extra keyword arguments for the subtask constructor; ``config``,
            ``name`` and ``parentTask`` are supplied automatically.

        Raises
        ------
        KeyError
            Raised if the config has no field called ``name``.
        TypeError
            Raised if the field is not a configurable field.
        """
        field = getattr(self.config, name, None)
        if field is None:
            raise KeyError(f"{self.getFullName()}'s config has no field {name!r}")
        if not callable(getattr(field, "apply", None)):
            raise TypeError(
                f"{self.getFullName()}'s config field {name!r} is not a ConfigurableField "
                f"or RegistryField (got {type(field).__name__})"
            )
        subtask = field.apply(name=name, parentTask=self, **keyArgs)
        setattr(self, name, subtask)

    @contextlib.contextmanager
    def timer(self, name: str, logLevel: int = logging.DEBUG) -> Iterator[None]:
        """Record timing and resource information for a block of code.

        Parameters
        ----------
        name : `str`
            Name of the timed block; items ``<name>StartCpuTime``,
            ``<name>EndCpuTime`` etc. are added to ``self.metadata`` and
            logged to the ``timer.<log name>`` logger.
        logLevel : `int`, optional
            `logging` level of the log messages.

        Yields
        ------
        None
            Control returns to the ``with`` block.

        Examples
        --------
        .. code-block:: python

            with self.timer("convolve"):
                result = convolve(image)
        """
        # stacklevel 3 attributes the log record to the ``with`` statement:
        # 1 is this generator, 2 is contextlib's __enter__/__exit__.
        logInfo(obj=self, prefix=name + "Start", logLevel=logLevel, stacklevel=3)
        try:
            yield
        finally:
            logInfo(obj=self, prefix=name + "End", logLevel=logLevel, stacklevel=3)

    def _reduce_kwargs(self) -> dict[str, Any]:
        """Return the constructor keyword arguments used for pickling.

        Returns
        -------
        kwargs : `dict` [`str`, `~typing.Any`]
            Subclasses with extra constructor arguments should extend the
            result of this method.
        """
        kwargs: dict[str, Any] = {"config": self.config, "name": self._name}
        parent = self._parentTask
        if parent is not None:
            kwargs["parentTask"] = parent
        elif self._logParent is not None:
            kwargs["log"] = self._logParent
        return kwargs

    def __reduce__(self) -> tuple[Any, ...]:
        parent = self._parentTask
        if parent is not None and getattr(parent, self._name, None) is self:
            # The parent's constructor recreates this subtask.
            return _unpickleSubtask, (parent, self._name)
        return _unpickleTask, (type(self), self._reduce_kwargs())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._fullName!r}>"


def replicateTask(task: Task) -> Task:
    """Make another instance of ``task`` the way it was made: same class,
    config (shared, not copied), name and parent task.

    Used to give each worker thread its own mapper, so that state a mapper
    keeps on ``self`` is never shared between threads. Attributes set on
    ``task`` after its construction (and not set by the constructor) are
    carried over by reference; the new instance has its own metadata and
    subtasks. The parent's task dictionary keeps pointing at ``task``.

    Parameters
    ----------
    task : `Task`
        The task to replicate.

    Returns
    -------
    replica : `Task`
        The new instance.

    Raises
    ------
    TypeError
        If the task's class cannot be constructed from ``config``, ``name``
        and ``parentTask`` (or ``log``) alone.
    """
    kwargs: dict[str, Any] = {"config": task.config, "name": task._name}
    parent = task._parentTask
    if parent is not None:
        kwargs["parentTask"] = parent
    elif task._logParent is not None:
        kwargs["log"] = task._logParent
    registry = task._taskDict
    saved = dict(registry)
    try:
        replica = type(task)(**kwargs)
    finally:
        # The replica registered itself (and its subtasks) under the same
        # full names: the hierarchy keeps the original.
        registry.clear()
        registry.update(saved)
    for key, value in task.__dict__.items():
        replica.__dict__.setdefault(key, value)
    return replica
