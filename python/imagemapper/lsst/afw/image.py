"""``imagemapper.lsst.afw.image``: the ``lsst.afw.image`` names LSST mappers use.

``Image``, ``Mask``, ``MaskedImage`` and ``Exposure`` are imagemapper's
classes (``Mask.getPlaneBitMask`` and ``Mask.addMaskPlane`` also work on the
class, as in ``afw``); the typed spellings ``ImageF`` ... ``ExposureD`` fix
the pixel type they allocate. As importing ``lsst.afw.image`` does, importing
this module adds ``assertImagesAlmostEqual``, ``assertMasksEqual`` and
``assertMaskedImagesAlmostEqual`` (and the ``...Equal`` forms) to
``lsst.utils.tests.TestCase``.
"""

from __future__ import annotations

__all__ = [
    "LOCAL",
    "PARENT",
    "Exposure",
    "ExposureD",
    "ExposureF",
    "Image",
    "ImageD",
    "ImageF",
    "ImageI",
    "ImageL",
    "ImageOrigin",
    "ImageU",
    "Mask",
    "MaskX",
    "MaskedImage",
    "MaskedImageD",
    "MaskedImageF",
    "PhotoCalib",
    "makeExposure",
    "makeMaskedImage",
    "makeMaskedImageFromArrays",
]

from ...image import LOCAL, PARENT, Exposure, Image, ImageOrigin, Mask, MaskedImage
from .._compat import testing as _testing
from .._compat.image import (
    ExposureD,
    ExposureF,
    ImageD,
    ImageF,
    ImageI,
    ImageL,
    ImageU,
    MaskedImageD,
    MaskedImageF,
    MaskX,
    PhotoCalib,
    makeExposure,
    makeMaskedImage,
    makeMaskedImageFromArrays,
)

_testing.install()
