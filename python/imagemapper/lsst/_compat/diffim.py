"""The ``lsst.ip.diffim`` names that its map-reduce clients import besides
``imageMapReduce``.

- ``imageDecorrelation`` imports ``computeAveragePsf`` from ``.utils``;
- ``zogy`` derives its task and config from ``ImagePsfMatchTask`` /
  ``ImagePsfMatchConfig`` and registers it in ``subtractAlgorithmRegistry``
  (``.imagePsfMatch``).

imagemapper does not do Alard-Lupton PSF matching or warping:
`ImagePsfMatchTask` here is the base those clients need (a task with a
config, and ``_validateWcs``), nothing more.
"""

from __future__ import annotations

__all__ = [
    "ImagePsfMatchConfig",
    "ImagePsfMatchTask",
    "computeAveragePsf",
    "subtractAlgorithmRegistry",
]

import itertools
from typing import Any, ClassVar

import lsst.pex.config as pexConfig
import numpy as np

from ..._core import Point2D
from ...image import Exposure, Image
from ...task import Task
from .exceptions import InvalidParameterError


def computeAveragePsf(exposure: Exposure, psfExposureBuffer: float, psfExposureGrid: int) -> Image:
    """Return the mean of the exposure PSF's kernel images over a grid of positions.

    Parameters
    ----------
    exposure : `~imagemapper.Exposure`
        An exposure with a PSF.
    psfExposureBuffer : `float`
        Fraction of the width and height left out on every side of the grid.
    psfExposureGrid : `int`
        Number of grid positions along each axis.

    Returns
    -------
    psfImage : `~imagemapper.Image`
        The mean kernel image (float64) of the positions where the PSF is
        defined (positions where it raises `InvalidParameterError`, or
        `ValueError`, are skipped).

    Raises
    ------
    ValueError
        If the PSF is defined at none of the positions.
    """
    psf = exposure.getPsf()
    if psf is None:
        raise ValueError("computeAveragePsf needs an exposure with a PSF")
    bbox = exposure.getBBox()
    xmin, ymin = bbox.getMinX(), bbox.getMinY()
    xmax, ymax = bbox.getMaxX(), bbox.getMaxY()
    xbuffer = psfExposureBuffer * (xmax - xmin)
    ybuffer = psfExposureBuffer * (ymax - ymin)
    total: np.ndarray | None = None
    count = 0
    for x, y in itertools.product(
        np.linspace(xmin + xbuffer, xmax - xbuffer, psfExposureGrid),
        np.linspace(ymin + ybuffer, ymax - ybuffer, psfExposureGrid),
    ):
        try:
            kernel = psf.computeKernelImage(Point2D(float(x), float(y)))
        except (InvalidParameterError, ValueError):
            continue
        array = np.asarray(kernel.getArray(), dtype=np.float64)
        total = array.copy() if total is None else total + array
        count += 1
    if total is None:
        raise ValueError("Unable to compute PSF image at any position on the exposure.")
    return Image(total / count)


subtractAlgorithmRegistry = pexConfig.makeRegistry(
    doc="A registry of subtraction algorithms for use as a subtask in imageDifference",
)


class ImagePsfMatchConfig(pexConfig.Config):
    """Configuration of `ImagePsfMatchTask` (the base of the clients' configs)."""


class ImagePsfMatchTask(Task):
    """The base task the ``zogy`` client derives from.

    It provides the task plumbing and `_validateWcs`; the Alard-Lupton
    matching, warping and subtraction methods of ``lsst.ip.diffim`` are not
    part of imagemapper (register the images first).
    """

    ConfigClass: ClassVar[type[pexConfig.Config]] = ImagePsfMatchConfig
    _DefaultName: ClassVar[str] = "imagePsfMatch"

    def _validateWcs(self, templateExposure: Exposure, scienceExposure: Exposure) -> bool:
        """Return whether the two exposures have the same WCS origin and extent.

        The sky positions of the lower-left corner (``getBegin``) and of
        ``getEnd`` are compared, and the dimensions.

        Raises
        ------
        RuntimeError
            If either exposure has no WCS, or the two do not overlap on the sky.
        """
        templateWcs, scienceWcs = templateExposure.getWcs(), scienceExposure.getWcs()
        if templateWcs is None or scienceWcs is None:
            raise RuntimeError("_validateWcs needs two exposures with a WCS")

        def corners(wcs: Any, exposure: Exposure) -> np.ndarray:
            box = exposure.getBBox()
            x = [box.getBeginX(), box.getEndX()]
            y = [box.getBeginY(), box.getEndY()]
            ra, dec = wcs.all_pix2world(x, y, 0)
            return np.array([ra, dec])

        template = corners(templateWcs, templateExposure)
        science = corners(scienceWcs, scienceExposure)
        self.log.info(
            "Template Wcs : %f,%f -> %f,%f",
            template[0, 0],
            template[1, 0],
            template[0, 1],
            template[1, 1],
        )
        self.log.info(
            "Science Wcs : %f,%f -> %f,%f",
            science[0, 0],
            science[1, 0],
            science[0, 1],
            science[1, 1],
        )
        lo_t, hi_t = template.min(axis=1), template.max(axis=1)
        lo_s, hi_s = science.min(axis=1), science.max(axis=1)
        if np.any(hi_t <= lo_s) or np.any(hi_s <= lo_t):
            raise RuntimeError("Input images do not overlap at all")
        return bool(
            np.array_equal(template, science)
            and templateExposure.getDimensions() == scienceExposure.getDimensions()
        )
