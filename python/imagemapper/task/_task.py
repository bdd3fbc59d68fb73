"""`Task` and `replicateTask`: configurable hierarchical tasks, as ``lsst.pipe.base.Task``.

Configuration uses the real `lsst.pex.config` package and logging uses
`lsst.utils.logging`, so tasks written against ``lsst.pipe.base.Task`` can be
ported by changing their imports.
"""

from __future__ import annotations

__all__ = ["Task", "replicateTask", "timeMethod"]


import contextlib
import logging
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import lsst.pex.config
import lsst.utils.logging
from lsst.utils.timer import logInfo, timeMethod

from ._metadata import TaskMetadata

if TYPE_CHECKING:
    from collections.abc import Callable


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
