"""`VariableGaussianPsf`: a Gaussian PSF whose width varies across the image (demo and tests)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._core import Box2I, Extent2I, Point2D, Point2I
from ..image import Image
from ..image.psf import DoubleGaussianPsf, Psf, Quadrupole

# ---------------------------------------------------------------------------
# A spatially varying PSF
# ---------------------------------------------------------------------------


class VariableGaussianPsf(Psf):
    """A (double) Gaussian PSF whose width grows quadratically away from a centre.

    The core sigma at ``(x, y)`` is ``sigmaCenter + (sigmaCorner -
    sigmaCenter) * (d / dCorner)**2``, where ``d`` is the distance to the
    centre of ``bbox`` and ``dCorner`` the distance from the centre to a corner.
    At every position the model is ``DoubleGaussianPsf(width, height, sigma,
    sigma2Ratio * sigma, b)``; with ``b = 0`` it is a Gaussian.

    Parameters
    ----------
    width, height : `int`
        Size of the model images.
    bbox : `Box2I`
        The image the PSF describes (its centre and corners set the scale).
    sigmaCenter, sigmaCorner : `float`
        Core sigma at the centre and at the corners, in pixels.
    b : `float`, optional
        Wing-to-core flux ratio (0: a single Gaussian).
    sigma2Ratio : `float`, optional
        Wing sigma over core sigma.

    Examples
    --------
    >>> import imagemapper as im
    >>> from imagemapper.mappers import VariableGaussianPsf
    >>> bbox = im.Box2I(im.Point2I(0, 0), im.Extent2I(101, 101))
    >>> psf = VariableGaussianPsf(21, 21, bbox, 1.0, 2.0)
    >>> psf.sigmaAt((50, 50)), psf.sigmaAt((0, 0))
    (1.0, 2.0)
    """

    def __init__(
        self,
        width: int,
        height: int,
        bbox: Box2I,
        sigmaCenter: float,
        sigmaCorner: float,
        b: float = 0.0,
        sigma2Ratio: float = 2.0,
    ) -> None:
        self._width, self._height = int(width), int(height)
        self._bbox = Box2I(bbox)
        self._sigmaCenter, self._sigmaCorner = float(sigmaCenter), float(sigmaCorner)
        self._b, self._ratio = float(b), float(sigma2Ratio)
        if min(self._sigmaCenter, self._sigmaCorner) <= 0:
            raise ValueError(
                f"sigmaCenter and sigmaCorner must be > 0, got {sigmaCenter!r}, {sigmaCorner!r}"
            )
        c = self._bbox.getCenter()
        self._cx, self._cy = c.getX(), c.getY()
        self._d2Corner = max(
            (self._bbox.getMinX() - self._cx) ** 2 + (self._bbox.getMinY() - self._cy) ** 2, 1.0
        )

    def sigmaAt(self, position: Any) -> float:
        """Core sigma at ``position`` (an ``(x, y)`` pair or a point)."""
        x, y = (position.getX(), position.getY()) if hasattr(position, "getX") else position
        return float(self.sigmaArray(np.asarray(x, float), np.asarray(y, float)))

    def sigmaArray(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Core sigma at arrays of positions (vectorised `sigmaAt`)."""
        d2 = ((x - self._cx) ** 2 + (y - self._cy) ** 2) / self._d2Corner
        return self._sigmaCenter + (self._sigmaCorner - self._sigmaCenter) * d2

    def _at(self, position: Point2D) -> DoubleGaussianPsf:
        s = self.sigmaAt(position)
        return DoubleGaussianPsf(self._width, self._height, s, self._ratio * s, self._b)

    def _doComputeImage(self, position: Point2D) -> Image:
        return self._at(position).computeImage(position)

    def _doComputeKernelImage(self, position: Point2D) -> Image:
        return self._at(position).computeKernelImage(position)

    def _doComputeShape(self, position: Point2D) -> Quadrupole:
        # The model's own second moment (core and wing, unit-integral
        # components): the width PSF matching to a Gaussian works with.
        s2 = self.sigmaAt(position) ** 2
        moment = s2 * (1.0 + self._b * self._ratio**2) / (1.0 + self._b)
        return Quadrupole(moment, moment, 0.0)

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        return Box2I(
            Point2I(-(self._width // 2), -(self._height // 2)),
            Extent2I(self._width, self._height),
        )

    def getAveragePosition(self) -> Point2D:
        """The centre of the image."""
        return Point2D(self._cx, self._cy)

    def getDimensions(self) -> Extent2I:
        """Size of the model images."""
        return Extent2I(self._width, self._height)

    def _key(self) -> tuple[Any, ...]:
        b = self._bbox
        return (
            self._width,
            self._height,
            (b.getMinX(), b.getMinY(), b.getWidth(), b.getHeight()),
            self._sigmaCenter,
            self._sigmaCorner,
            self._b,
            self._ratio,
        )

    def persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        b = self._bbox
        return {
            "width": self._width,
            "height": self._height,
            "imageMinX": b.getMinX(),
            "imageMinY": b.getMinY(),
            "imageWidth": b.getWidth(),
            "imageHeight": b.getHeight(),
            "sigmaCenter": self._sigmaCenter,
            "sigmaCorner": self._sigmaCorner,
            "b": self._b,
            "sigma2Ratio": self._ratio,
        }

    @classmethod
    def fromPersistParams(cls, p: dict[str, float], kernels: list, children: list) -> Psf:
        bbox = Box2I(
            Point2I(int(p["imageMinX"]), int(p["imageMinY"])),
            Extent2I(int(p["imageWidth"]), int(p["imageHeight"])),
        )
        return cls(
            int(p["width"]),
            int(p["height"]),
            bbox,
            p["sigmaCenter"],
            p["sigmaCorner"],
            b=p["b"],
            sigma2Ratio=p["sigma2Ratio"],
        )

    def __repr__(self) -> str:
        return (
            f"VariableGaussianPsf({self._width}, {self._height}, {self._bbox!r}, "
            f"sigmaCenter={self._sigmaCenter!r}, sigmaCorner={self._sigmaCorner!r}, "
            f"b={self._b!r}, sigma2Ratio={self._ratio!r})"
        )
