"""The abstract mapper: the task run on every cell of the grid."""

from __future__ import annotations

__all__ = ["ImageMapper", "ImageMapperConfig", "PassThroughMapper"]

import abc
from typing import Any, ClassVar

import lsst.pex.config as pexConfig

from ._core import Box2I
from ._image import Exposure
from ._task import Struct, Task


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

    Both exposures are read-only views of the input exposure (writing to them
    raises ``ValueError``) unless the task is run with ``doClone=True``; clone
    them (``subExposure.clone()``) to get an exposure to modify and return.

    If ``run`` returns an exposure (as the item ``subExposure`` of the
    result), the reducer can stitch the cells into a new exposure; otherwise
    set ``reducer.reduceOperation = 'none'`` to receive the list of results.

    Set the class attribute ``threadSafe = False`` on a mapper whose ``run``
    must not be called from several threads at once.
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = ImageMapperConfig
    _DefaultName: ClassVar[str] = "ip_diffim_ImageMapper"
    #: Whether `run` may be called from several threads at once.
    threadSafe: ClassVar[bool] = True

    @abc.abstractmethod
    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """Process one cell.

        Parameters
        ----------
        subExposure : `Exposure`
            The cell to operate upon (a read-only view unless ``doClone``).
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
