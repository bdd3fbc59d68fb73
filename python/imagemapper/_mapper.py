"""The abstract mapper: the task run on every cell of the grid."""

from __future__ import annotations

__all__ = ["ImageMapper", "ImageMapperConfig", "PassThroughMapper", "replicateMapper"]

import abc
from typing import Any, ClassVar

import lsst.pex.config as pexConfig

from ._core import Box2I
from .image import Exposure
from .task import Struct, Task, replicateTask


class ImageMapperConfig(pexConfig.Config):
    """Configuration of an `ImageMapper` (empty; subclasses add fields)."""


class ImageMapper(Task, metaclass=abc.ABCMeta):
    """Abstract base class of the task run on every cell of the grid.

    Subclass it, implement `run`, and retarget
    ``ImageMapReduceConfig.mapper`` to the subclass. ``run`` is given the
    cell (``subExposure``) and the cell with its border
    (``expandedSubExposure``): compute on the expanded cell (a convolution,
    say) and return the part that covers the cell, so that the result has no
    edge effects.

    The two exposures are the mapper's own, as in LSST: it may write into
    them (``subExposure`` is a view of ``expandedSubExposure``, so writes to
    one are seen in the other) and return them, and the input exposure is
    never modified — a plane's pixels are copied the first time the mapper
    asks for them as a writable array (``.array``, ``getArray()``, in-place
    arithmetic), so a mapper that only reads or clones pays no copy. With
    ``ImageMapReduceConfig.readOnlyCells`` they are read-only views instead
    (writes raise ``ValueError``); with ``doClone=True`` eager deep copies.

    If ``run`` returns an exposure (as the item ``subExposure`` of the
    result), the reducer can stitch the cells into a new exposure; otherwise
    set ``reducer.reduceOperation = 'none'`` to receive the list of results.

    Each worker thread (and process) runs its own instance of the mapper,
    made as the task makes its own (same class, config and parent task; see
    `replicateMapper`), so state a mapper keeps on ``self`` during ``run`` is
    never shared between threads and results do not depend on the backend.
    Set the class attribute ``threadSafe = True`` on a mapper whose ``run``
    may be called on one instance from several threads at once, to share
    that instance instead.
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = ImageMapperConfig
    _DefaultName: ClassVar[str] = "ip_diffim_ImageMapper"
    #: Whether one instance's `run` may be called from several threads at
    #: once (otherwise every worker thread gets its own instance).
    threadSafe: ClassVar[bool] = False

    @abc.abstractmethod
    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """Process one cell.

        Parameters
        ----------
        subExposure : `Exposure`
            The cell to operate upon (a view of ``expandedSubExposure``).
        expandedSubExposure : `Exposure`
            The cell grown by the border: operate on it and crop to
            ``subExposure.getBBox()`` to avoid edge effects.
        fullBBox : `Box2I`
            The bounding box of the whole input exposure.
        **kwargs
            Keyword arguments given to ``ImageMapReduceTask.run``.

        Returns
        -------
        result : `Struct`
            The cell's result. For a stitching reduce it must hold the
            processed exposure as ``subExposure``: any box inside the input
            exposure (usually the cell's), with arrays of that box's shape;
            its pixels are cast to the input's dtype (a float64 result of a
            float32 input is rounded to float32). A box outside the input or
            mis-shaped arrays raise ``ValueError`` naming the cell. This base
            implementation passes the cell through unchanged.
        """
        return Struct(subExposure=subExposure)


class PassThroughMapper(ImageMapper):
    """The concrete form of `ImageMapper`'s default: returns each cell as it is.

    Used when ``ImageMapReduceConfig.mapper`` still targets the abstract
    `ImageMapper` (the default), so that a default task runs — and stitches
    the input back — instead of failing.
    """

    _DefaultName: ClassVar[str] = "ip_diffim_ImageMapper"

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """Return ``Struct(subExposure=subExposure)``."""
        return super().run(subExposure, expandedSubExposure, fullBBox, **kwargs)


def replicateMapper(mapper: Any) -> Any:
    """Another instance of ``mapper`` for another worker thread.

    A task is rebuilt as its parent built it (`replicateTask`); an object with
    a ``replicate()`` method (a wrapper such as the edge-halo mapper) makes
    its own copy.

    Parameters
    ----------
    mapper : `ImageMapper` or wrapper
        The mapper to replicate.

    Returns
    -------
    replica
        The new instance.

    Raises
    ------
    TypeError
        If ``mapper`` cannot be replicated.
    """
    replicate = getattr(type(mapper), "replicate", None)
    if callable(replicate):
        return mapper.replicate()
    if isinstance(mapper, Task):
        return replicateTask(mapper)
    raise TypeError(
        f"cannot make a per-worker copy of the mapper {type(mapper).__name__}: it is not a Task "
        "and has no replicate() method"
    )
