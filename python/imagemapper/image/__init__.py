"""The image layer: afw-style pixel containers backed by numpy, and the PSF models.

`Image`, `Mask`, `MaskedImage` and `Exposure` behave like their namesakes in
``lsst.afw.image``: pixel coordinates are *parent* coordinates, each image
carries ``xy0`` (the parent position of its array element ``[0, 0]``), numpy
arrays are indexed ``[y, x]`` and sub-images made with a `~imagemapper.Box2I`
are views that share pixels with their parent. An `Exposure` adds a PSF
(`imagemapper.image.psf`), an `astropy.wcs.WCS` in 0-based *parent* pixel
coordinates and a ``metadata`` dict of FITS header cards.
"""

from __future__ import annotations

__all__ = ["LOCAL", "PARENT", "Exposure", "Image", "ImageOrigin", "Mask", "MaskedImage"]

from ._common import LOCAL, PARENT, ImageOrigin
from ._exposure import Exposure
from ._image import Image
from ._mask import Mask
from ._maskedimage import MaskedImage
