"""Mappers written in Rust.

A Rust mapper runs through the core crate's driver: the task hands it the
whole grid and the stitcher's output planes, and every cell is mapped and
stitched in Rust on a thread pool, with no Python call per cell. Its `run`
method (used when the results must reach Python, e.g. with
``reduceOperation='none'`` or a custom reducer) runs the same Rust code on a
single cell, so both paths give the same bits.
"""

from __future__ import annotations

__all__ = ["RustGaussianConvolveConfig", "RustGaussianConvolveMapper"]

from typing import Any, ClassVar

import lsst.pex.config as pexConfig

from .. import _core
from .._core import Box2I
from ..image import Exposure
from ..mapreduce._mapper import ImageMapper, ImageMapperConfig
from ..task import Struct
from ..task._configfields import RangeField


class RustGaussianConvolveConfig(ImageMapperConfig):
    """Configuration of `RustGaussianConvolveMapper`."""

    sigma = RangeField(
        dtype=float,
        doc="Gaussian sigma in pixels; the kernel reaches ceil(4 sigma) pixels, so a border of "
        "at least that makes the tiled result equal the whole-image convolution.",
        default=2.0,
        min=0.0,
        inclusiveMin=False,
    )


class RustGaussianConvolveMapper(ImageMapper):
    """Convolve each expanded cell with a Gaussian (separable, in Rust) and
    crop to the cell; the variance is convolved with the squared kernel and
    the mask is the cell's.

    Pixels outside the image count as zero, so with a border of at least
    ``ceil(4 * sigma)`` the stitched result equals the whole-image
    convolution with the same edge treatment.

    Examples
    --------
    >>> import numpy as np, imagemapper as im
    >>> config = im.ImageMapReduceConfig()
    >>> config.mapper.retarget(im.RustGaussianConvolveMapper)
    >>> config.mapper.sigma = 1.5
    >>> config.scaleByFwhm = False
    >>> config.cellSizeX = config.cellSizeY = 64
    >>> config.borderSizeX = config.borderSizeY = 6
    >>> config.reducer.reduceOperation = "copy"
    >>> exp = im.Exposure.fromArrays(np.ones((100, 120), np.float32))
    >>> out = im.ImageMapReduceTask(config).run(exp).exposure
    >>> bool(abs(out.image.array[50, 60] - 1.0) < 1e-6)
    True
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = RustGaussianConvolveConfig
    _DefaultName: ClassVar[str] = "rustGaussianConvolve"

    def rustMapReduce(
        self,
        exposure: Exposure,
        boxes0: list[Box2I],
        boxes1: list[Box2I],
        stitcher: Any,
        badBits: int,
    ) -> dict:
        """Map over every cell and stitch into ``stitcher``'s reducer (and
        finish it), in Rust; returns the stitching statistics."""
        mi = exposure.maskedImage
        return _core.map_reduce_gaussian(
            float(self.config.sigma),
            stitcher.core,
            mi.image.array,
            mi.mask.array,
            mi.variance.array,
            list(boxes0),
            list(boxes1),
            badBits,
        )

    def run(
        self, subExposure: Exposure, expandedSubExposure: Exposure, fullBBox: Box2I, **kwargs: Any
    ) -> Struct:
        """One cell, through the same Rust code (for non-streaming reducers)."""
        ebox = expandedSubExposure.getBBox()
        emi = expandedSubExposure.maskedImage
        reducer = _core.Reducer(
            "copy", ebox, emi.image.array.dtype, mask=emi.mask.array, n_threads=1
        )
        _core.map_reduce_gaussian(
            float(self.config.sigma),
            reducer,
            emi.image.array,
            emi.mask.array,
            emi.variance.array,
            [subExposure.getBBox()],
            [ebox],
            0,
        )
        image, mask, variance, _ = reducer.take()
        cell = Exposure.fromArrays(
            image, mask, variance, xy0=ebox.getMin(), planeDict=emi.mask.getMaskPlaneDict()
        )
        return Struct(subExposure=Exposure(cell, subExposure.getBBox(), deep=True))
