"""`CoaddPsf`: the weighted mixture of the PSFs of the exposures in a coadd."""

from __future__ import annotations

__all__ = ["CoaddPsf"]


import math
import numbers
from collections.abc import Iterable, Sequence
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
# CoaddPsf
# ---------------------------------------------------------------------------


def _boxKey(bbox: Box2I) -> tuple[int, int, int, int]:
    """Return ``(minX, minY, width, height)`` of a box (hashable, comparable)."""
    return (bbox.getMinX(), bbox.getMinY(), bbox.getWidth(), bbox.getHeight())


class CoaddPsf(Psf):
    """Weighted mixture of component PSFs, after ``lsst.meas.algorithms.CoaddPsf``.

    Each component is a PSF valid on a box of the parent (coadd) pixel grid,
    with a weight. At a position, the model is the weighted mean of the
    models of the components whose box covers that position.

    Parameters
    ----------
    components : iterable of ``(psf, bbox, weight)``
        At least one triple of a `Psf`, a non-empty `Box2I` in parent pixels
        (copied) and a finite weight > 0.
    averagePosition : `Point2D`, `Point2I`, pair of `float` or `None`, optional
        Value for `getAveragePosition`; `None` (default) means the
        weight-averaged centre of the component boxes.

    Raises
    ------
    TypeError
        Raised if a component is not a triple, its PSF is not a `Psf` or its
        box is not a `Box2I`; the message names the component index.
    ValueError
        Raised if there are no components, or a box is empty, or a weight is
        not finite and > 0; the message names the component index and value.

    Notes
    -----
    A component covers ``position`` when its box contains the pixel whose
    area contains the position, ``floor(position + 0.5)``, the pixel on
    which `computeImage` is centred; this is LSST's ``Box2D(bbox).contains``
    test (pixel edges at half-integers).

    The component images are placed on the union of their pixel boxes
    (components may differ in size; they share the centre pixel), weighted,
    summed and divided by the total weight of the covering components, so the
    result sums to one. `computeShape` is the unweighted second moment (about
    the centroid) of `computeKernelImage`; `getDimensions` is the size of the
    union of all components' kernel boxes at the average position.

    Examples
    --------
    >>> from imagemapper import Box2I, Extent2I, Point2I
    >>> left = Box2I(Point2I(0, 0), Extent2I(50, 100))
    >>> right = Box2I(Point2I(50, 0), Extent2I(50, 100))
    >>> psf = CoaddPsf([(GaussianPsf(21, 21, 2.0), left, 1.0),
    ...                 (GaussianPsf(21, 21, 3.0), right, 2.0)])
    >>> len(psf)
    2
    """

    def __init__(
        self,
        components: Iterable[tuple[Psf, Box2I, float]],
        *,
        averagePosition: PointLike | None = None,
    ) -> None:
        psfs: list[Psf] = []
        bboxes: list[Box2I] = []
        weights: list[float] = []
        if isinstance(components, (str, bytes)) or not isinstance(components, Iterable):
            raise TypeError(
                f"components must be an iterable of (psf, bbox, weight) triples, got {components!r}"
            )
        for index, component in enumerate(components):
            try:
                psf, bbox, weight = component
            except (TypeError, ValueError):
                raise TypeError(
                    f"component {index} must be a (psf, bbox, weight) triple, got {component!r}"
                ) from None
            if not isinstance(psf, Psf):
                raise TypeError(f"component {index}: psf must be a Psf, got {psf!r}")
            if not isinstance(bbox, Box2I):
                raise TypeError(f"component {index}: bbox must be a Box2I, got {bbox!r}")
            if bbox.isEmpty():
                raise ValueError(f"component {index}: bbox {bbox!r} is empty")
            if (
                isinstance(weight, bool)
                or not isinstance(weight, numbers.Real)
                or not (math.isfinite(float(weight)) and float(weight) > 0.0)
            ):
                raise ValueError(
                    f"component {index}: weight must be finite and > 0, got {weight!r}"
                )
            psfs.append(psf)
            bboxes.append(Box2I(bbox))
            weights.append(float(weight))
        if not psfs:
            raise ValueError("CoaddPsf needs at least one (psf, bbox, weight) component")
        self._psfs: tuple[Psf, ...] = tuple(psfs)
        self._bboxes: tuple[Box2I, ...] = tuple(bboxes)
        self._weights: tuple[float, ...] = tuple(weights)
        if averagePosition is None:
            total = math.fsum(weights)
            xs = (
                math.fsum(w * b.getCenter().getX() for w, b in zip(weights, bboxes, strict=True))
                / total
            )
            ys = (
                math.fsum(w * b.getCenter().getY() for w, b in zip(weights, bboxes, strict=True))
                / total
            )
            self._averagePosition = (xs, ys)
            self._averageGiven = False
        else:
            point = asPoint2D(averagePosition, "averagePosition")
            self._averagePosition = (point.getX(), point.getY())
            self._averageGiven = True

    @classmethod
    def fromComponents(
        cls,
        psfs: Sequence[Psf],
        bboxes: Sequence[Box2I],
        weights: Sequence[float] | None = None,
        *,
        averagePosition: PointLike | None = None,
    ) -> CoaddPsf:
        """Build a `CoaddPsf` from parallel sequences.

        Parameters
        ----------
        psfs : sequence of `Psf`
            Component PSFs.
        bboxes : sequence of `Box2I`
            Their boxes in parent pixels, one per PSF.
        weights : sequence of `float` or `None`, optional
            Their weights, one per PSF; `None` (default) gives each weight 1.
        averagePosition : `Point2D`, `Point2I`, pair of `float` or `None`, optional
            As in the constructor.

        Returns
        -------
        psf : `CoaddPsf`
            The coadd PSF.

        Raises
        ------
        ValueError
            Raised if the sequences differ in length, or as the constructor.
        """
        psfs = list(psfs)
        bboxes = list(bboxes)
        weightList = [1.0] * len(psfs) if weights is None else list(weights)
        if len(bboxes) != len(psfs) or len(weightList) != len(psfs):
            raise ValueError(
                f"psfs, bboxes and weights must have the same length, got "
                f"{len(psfs)}, {len(bboxes)} and {len(weightList)}"
            )
        return cls(zip(psfs, bboxes, weightList, strict=True), averagePosition=averagePosition)

    # -- accessors ---------------------------------------------------------

    def getComponentCount(self) -> int:
        """Return the number of components."""
        return len(self._psfs)

    def __len__(self) -> int:
        return len(self._psfs)

    def _checkIndex(self, index: int) -> int:
        n = len(self._psfs)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"component index must be an integer, got {index!r}")
        if not -n <= index < n:
            raise IndexError(f"component index {index} out of range for {n} components")
        return int(index) % n

    def getPsf(self, index: int) -> Psf:
        """Return the PSF of component ``index`` (negative indices count from the end)."""
        return self._psfs[self._checkIndex(index)]

    def getBBox(self, index: int) -> Box2I:
        """Return a copy of the box of component ``index``."""
        return Box2I(self._bboxes[self._checkIndex(index)])

    def getWeight(self, index: int) -> float:
        """Return the weight of component ``index``."""
        return self._weights[self._checkIndex(index)]

    def getAveragePosition(self) -> Point2D:
        """Return the given average position, or the weighted mean of the box centres."""
        return Point2D(*self._averagePosition)

    def getDimensions(self) -> Extent2I:
        """Return the size of the union of all components' kernel boxes at the average position.

        This bounds the size of `computeKernelImage` wherever the component
        boxes do not depend on position (as for the analytic PSFs).
        """
        where = self.getAveragePosition()
        union = Box2I(self._psfs[0].computeBBox(where))
        for psf in self._psfs[1:]:
            union.include(psf.computeBBox(where))
        return union.getDimensions()

    # -- evaluation --------------------------------------------------------

    def _covering(self, position: Point2D) -> list[int]:
        """Return the indices of the components whose box covers ``position``."""
        pixel = Point2I(*nearestPixel(position))
        indices = [i for i, bbox in enumerate(self._bboxes) if bbox.contains(pixel)]
        if not indices:
            # LSST's CoaddPsf raises InvalidParameterError here (clients catch
            # it by that name); it is a ValueError.
            from ...lsst.pex.exceptions import InvalidParameterError

            raise InvalidParameterError(
                f"no component PSF covers position ({position.getX()!r}, {position.getY()!r})"
            )
        return indices

    def _combine(self, position: Point2D, kernel: bool) -> Image:
        """Weighted mean of the covering components' (kernel) images at ``position``."""
        indices = self._covering(position)
        images = []
        for i in indices:
            psf = self._psfs[i]
            images.append(
                psf.computeKernelImage(position) if kernel else psf.computeImage(position)
            )
        origins = [imageOrigin(image) for image in images]
        shapes = [np.shape(image.array) for image in images]
        x0 = min(o[0] for o in origins)
        y0 = min(o[1] for o in origins)
        x1 = max(o[0] + s[1] for o, s in zip(origins, shapes, strict=True))
        y1 = max(o[1] + s[0] for o, s in zip(origins, shapes, strict=True))
        result = np.zeros((y1 - y0, x1 - x0), dtype=np.float64)
        totalWeight = 0.0
        for i, image, (ox, oy), (h, w) in zip(indices, images, origins, shapes, strict=True):
            weight = self._weights[i]
            result[oy - y0 : oy - y0 + h, ox - x0 : ox - x0 + w] += weight * np.asarray(
                image.array, dtype=np.float64
            )
            totalWeight += weight
        result /= totalWeight
        return newImage(result, x0, y0)

    def _doComputeImage(self, position: Point2D) -> Image:
        return self._combine(position, kernel=False)

    def _doComputeKernelImage(self, position: Point2D) -> Image:
        return self._combine(position, kernel=True)

    def _doComputeBBox(self, position: Point2D) -> Box2I:
        indices = self._covering(position)
        union = Box2I(self._psfs[indices[0]].computeBBox(position))
        for i in indices[1:]:
            union.include(self._psfs[i].computeBBox(position))
        return union

    # -- value semantics ---------------------------------------------------

    def persistParams(self, kernels: list[np.ndarray]) -> dict[str, float]:
        x, y = self._averagePosition if self._averageGiven else (math.nan, math.nan)
        return {"averageX": x, "averageY": y}

    @classmethod
    def fromPersistParams(cls, p: dict[str, float], kernels: list[Any], children: list) -> Psf:
        given = math.isfinite(p["averageX"]) and math.isfinite(p["averageY"])
        average = (p["averageX"], p["averageY"]) if given else None
        return cls(children, averagePosition=average)

    def _key(self) -> tuple[Any, ...]:
        return (
            tuple(
                (psf, _boxKey(bbox), weight)
                for psf, bbox, weight in zip(self._psfs, self._bboxes, self._weights, strict=True)
            ),
            self._averagePosition,
        )

    def __repr__(self) -> str:
        parts = [
            f"({psf!r}, {bbox!r}, {weight!r})"
            for psf, bbox, weight in zip(self._psfs[:3], self._bboxes, self._weights, strict=False)
        ]
        if len(self._psfs) > 3:
            parts.append(f"... {len(self._psfs) - 3} more")
        average = ""
        if self._averageGiven:
            average = f", averagePosition=Point2D{self._averagePosition!r}"
        return f"CoaddPsf([{', '.join(parts)}]{average})"
