"""The pieces of the ``imagemapper.lsst`` namespace that exist only for porting.

Everything that imagemapper already has (exposures, boxes, tasks, PSFs, the
map-reduce task) is re-exported by the mirror modules
(``imagemapper.lsst.afw.image``, ``imagemapper.lsst.geom`` ...) from the
package itself. What LSST mapper code calls and the package has no use for
of its own lives here, in one place:

- `exceptions`: the ``lsst.pex.exceptions`` hierarchy;
- `daf`: ``PropertySet`` / ``PropertyList``;
- `geom`: ``Box2D``, ``Extent2D`` and the ``Point`` / ``Extent`` factories;
- `image`: the typed ``ImageF`` ... ``ExposureD`` spellings and ``PhotoCalib``;
- `math`: ``afw.math`` statistics, kernels, convolution and random images;
- `psf`: ``KernelPsf`` (a PSF made from a kernel);
- `wcs`: ``makeSkyWcs`` (FITS metadata to the `astropy.wcs.WCS` the package uses);
- `testing`: the image assertions ``afw`` adds to ``lsst.utils.tests.TestCase``;
- `diffim`: the few ``lsst.ip.diffim`` names the real mappers import besides
  ``imageMapReduce``.

These modules are private: import them through the mirror modules.
"""

from __future__ import annotations

__all__: list[str] = []
