"""`Struct`: a simple attribute container, as ``lsst.pipe.base.Struct``."""

from __future__ import annotations

__all__ = ["Struct"]


import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


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
