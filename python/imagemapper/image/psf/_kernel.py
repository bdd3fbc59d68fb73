"""`KernelPsf`: a PSF given by one kernel image, as ``lsst.meas.algorithms.KernelPsf``."""

from __future__ import annotations

__all__ = ["KernelPsf"]


import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._core import Box2I, Extent2I, Point2D, Point2I
from ._base import Psf
from ._common import (
    PointLike,
    asPoint2D,
    imageOrigin,
    nearestPixel,
    newImage,
)

if TYPE_CHECKING:
    from .. import Image


# ---------------------------------------------------------------------------
# A PSF given by a kernel image
# ---------------------------------------------------------------------------


class KernelPsf(Psf):
    """A PSF given by one kernel image, the same at every position.

    After ``lsst.meas.algorithms.KernelPsf`` (a ``FixedKernel``): the model is
    the kernel image normalised to sum to one.

    Parameters
    ----------
    kernel : `Image` or 2-d `numpy.ndarray`
        The kernel. An array is centred on its pixel ``(width // 2, height //
        2)``, i.e. its box starts at ``(-(width // 2), -(height // 2))``; an
        `Image` keeps its own ``xy0`` (pixel ``(0, 0)`` is the centre).
    averagePosition : `Point2D`, `Point2I`, pair of `float` or `None`, optional
        Value for `getAveragePosition` (default ``(0, 0)``).

    Raises
    ------
    ValueError
        If the kernel is not 2-d, is empty, has non-finite values or does not
        sum to a finite non-zero value.

    Notes
    -----
    `computeKernelImage` returns the normalised kernel; `computeImage` places
    it on the pixel that contains the position and shifts it by the
    remaining sub-pixel offset with a Fourier phase ramp (exact for a
    band-limited kernel), so its centroid follows the position.
    `computeShape` is the adaptive moment of the kernel (as LSST's
    ``ImagePsf``).

    Examples
    --------
    >>> import numpy as np
    >>> psf = KernelPsf(np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]))
    >>> float(psf.computeKernelImage().array[1, 1])
    0.25
    """

    def __init__(self, kernel: Any, averagePosition: PointLike | None = None) -> None:
        from .. import Image

        if isinstance(kernel, Image):
            array = np.array(kernel.array, dtype=np.float64)
            x0, y0 = imageOrigin(kernel)
        else:
            array = np.array(kernel, dtype=np.float64)
            if array.ndim != 2:
                raise ValueError(f"a kernel must be a 2-d array, got shape {array.shape}")
            x0, y0 = -(array.shape[1] // 2), -(array.shape[0] // 2)
        if array.ndim != 2 or array.size == 0:
            raise ValueError(f"a kernel must be a non-empty 2-d array, got shape {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError("a kernel image must hold finite values only")
        total = float(array.sum())
        if not (math.isfinite(total) and total != 0.0):
            raise ValueError(f"a kernel image must sum to a finite non-zero value, got {total!r}")
        self._kernel = array / total
        self._kernel.flags.writeable = False
        self._x0, self._y0 = int(x0), int(y0)
        point = asPoint2D(
            (0.0, 0.0) if averagePosition is None else averagePosition, "averagePosition"
        )
        self._averagePosition = (point.getX(), point.getY())

    def getKernelArray(self) -> np.ndarray:
        """Return the normalised kernel (read-only array, ``[y, x]``)."""
        return self._kernel

    def getAveragePosition(self) -> Point2D:
        """Return the position given at construction (default ``(0, 0)``)."""
        return Point2D(*self._averagePosition)

    def _doComputeKernelImage(self, position: Point2D) -> Image:
        return newImage(self._kernel.copy(), self._x0, self._y0)

    def _doComputeImage(self, position: Point2D) -> Image:
        cx, cy = nearestPixel(position)
        dx, dy = position.getX() - cx, position.getY() - cy
        array = self._kernel.copy()
        if dx != 0.0 or dy != 0.0:
            h, w = array.shape
            ramp = np.exp(
                -2j
                * math.pi
                * (np.fft.fftfreq(h)[:, np.newaxis] * dy + np.fft.fftfreq(w)[np.newaxis, :] * dx)
            )
            array = np.fft.ifft2(np.fft.fft2(array) * ramp).real
            array /= array.sum()
        return newImage(array, cx + self._x0, cy + self._y0)

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        h, w = self._kernel.shape
        return Box2I(Point2I(self._x0, self._y0), Extent2I(w, h))

    def _key(self) -> tuple[Any, ...]:
        return (
            self._kernel.shape,
            self._kernel.tobytes(),
            self._x0,
            self._y0,
            self._averagePosition,
        )

    def persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        kernels.append(self._kernel)
        return {
            "kernel": float(len(kernels) - 1),
            "kernelX0": float(self._x0),
            "kernelY0": float(self._y0),
            "averageX": self._averagePosition[0],
            "averageY": self._averagePosition[1],
        }

    @classmethod
    def fromPersistParams(cls, p: dict[str, float], kernels: list[Any], children: list) -> Psf:

        # The stored kernel is already normalised: no second division (which
        # would change its last bits).
        kernel = np.array(kernels[int(p["kernel"])], dtype=np.float64)
        psf = cls(kernel, averagePosition=(p["averageX"], p["averageY"]))
        psf._kernel = kernel
        psf._kernel.flags.writeable = False
        psf._x0, psf._y0 = int(p["kernelX0"]), int(p["kernelY0"])
        return psf

    def __repr__(self) -> str:
        h, w = self._kernel.shape
        return f"KernelPsf(<{w}x{h} kernel, xy0=({self._x0}, {self._y0})>)"
