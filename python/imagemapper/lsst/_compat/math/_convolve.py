"""Kernels and convolution (``lsst.afw.math.Kernel``, ``FixedKernel``,
``ConvolutionControl``, ``convolve``); the formula and the border are in
`imagemapper.lsst._compat.math`'s docstring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ...._core import Box2I, Extent2I, Point2I
from ....image import Image, MaskedImage
from ....image._image import ImageBase
from ..exceptions import InvalidParameterError, OverflowError


class Kernel:
    """A convolution kernel of fixed size with a centre pixel (``lsst.afw.math.Kernel``).

    Subclasses implement `_pixels` (the unnormalised kernel image, float64,
    ``[y, x]``).
    """

    def __init__(self, width: int, height: int) -> None:
        if width < 1 or height < 1:
            raise InvalidParameterError(f"kernel height = {height} and/or width = {width} < 1")
        self._width, self._height = int(width), int(height)
        self._ctrX, self._ctrY = (self._width - 1) // 2, (self._height - 1) // 2

    def _pixels(self, x: float, y: float) -> np.ndarray:
        raise NotImplementedError

    def getWidth(self) -> int:
        """Return the kernel width."""
        return self._width

    def getHeight(self) -> int:
        """Return the kernel height."""
        return self._height

    def getDimensions(self) -> Extent2I:
        """Return ``(width, height)``."""
        return Extent2I(self._width, self._height)

    def getCtr(self) -> Point2I:
        """Return the centre pixel (index into the kernel image)."""
        return Point2I(self._ctrX, self._ctrY)

    def setCtr(self, ctr: Point2I | Sequence[int]) -> None:
        """Set the centre pixel; it must lie inside the kernel."""
        x, y = int(ctr[0]), int(ctr[1])
        if not (0 <= x < self._width and 0 <= y < self._height):
            raise InvalidParameterError(
                f"kernel centre ({x}, {y}) is outside the {self._width}x{self._height} kernel"
            )
        self._ctrX, self._ctrY = x, y

    def getCtrX(self) -> int:
        """Return the x of the centre pixel."""
        return self._ctrX

    def getCtrY(self) -> int:
        """Return the y of the centre pixel."""
        return self._ctrY

    def getBBox(self) -> Box2I:
        """Return the kernel image's box: ``-ctr`` to ``dimensions - 1 - ctr``."""
        return Box2I(Point2I(-self._ctrX, -self._ctrY), self.getDimensions())

    def isSpatiallyVarying(self) -> bool:
        """Return `False`: these kernels do not vary over the image."""
        return False

    def shrinkBBox(self, bbox: Box2I) -> Box2I:
        """Return the part of ``bbox`` a convolution with this kernel computes fully."""
        if bbox.getWidth() < self._width or bbox.getHeight() < self._height:
            raise InvalidParameterError(
                f"bbox dimensions {bbox.getDimensions()!r} < ({self._width}, {self._height})"
            )
        return Box2I(
            Point2I(bbox.getMinX() + self._ctrX, bbox.getMinY() + self._ctrY),
            Extent2I(bbox.getWidth() - self._width + 1, bbox.getHeight() - self._height + 1),
        )

    def growBBox(self, bbox: Box2I) -> Box2I:
        """Return the input box a convolution needs to compute all of ``bbox``."""
        return Box2I(
            Point2I(bbox.getMinX() - self._ctrX, bbox.getMinY() - self._ctrY),
            Extent2I(bbox.getWidth() + self._width - 1, bbox.getHeight() + self._height - 1),
        )

    def computeImage(
        self, image: Image, doNormalize: bool = True, x: float = 0.0, y: float = 0.0
    ) -> float:
        """Fill ``image`` with the kernel and return the kernel's sum.

        Parameters
        ----------
        image : `~imagemapper.Image`
            Of the kernel's dimensions; its ``xy0`` becomes ``-ctr``.
        doNormalize : `bool`, optional
            Scale the pixels to sum to one (the returned sum is then 1).
        x, y : `float`, optional
            Where to evaluate a spatially varying kernel (ignored here).

        Returns
        -------
        sum : `float`

        Raises
        ------
        InvalidParameterError
            If the image's dimensions differ from the kernel's.
        OverflowError
            If ``doNormalize`` and the kernel sums to zero.
        """
        if image.getDimensions() != self.getDimensions():
            raise InvalidParameterError(
                f"image dimensions = {image.getDimensions()!r} != "
                f"{self.getDimensions()!r} = kernel dimensions"
            )
        pixels = self._pixels(x, y)
        total = float(np.sum(pixels))
        if doNormalize:
            if total == 0:
                raise OverflowError("Cannot normalize; kernel sum is 0")
            pixels = pixels / total
            total = 1.0
        image.setXY0(Point2I(-self._ctrX, -self._ctrY))
        image.getArray()[...] = pixels
        return total

    def _image(self, doNormalize: bool, x: float = 0.0, y: float = 0.0) -> np.ndarray:
        image = Image(self.getDimensions(), dtype=np.float64)
        self.computeImage(image, doNormalize, x, y)
        return image.getArray()


class FixedKernel(Kernel):
    """A kernel given by an image (``lsst.afw.math.FixedKernel``).

    ``FixedKernel(image)`` copies the image (as float64); ``FixedKernel(kernel,
    position)`` freezes another kernel at ``position``. The centre is pixel
    ``((width - 1) // 2, (height - 1) // 2)``; `setCtr` moves it.
    """

    def __init__(self, image: Image | Kernel | npt.ArrayLike, position: Any = None) -> None:
        if isinstance(image, Kernel):
            x, y = (0.0, 0.0) if position is None else (float(position[0]), float(position[1]))
            array = image._pixels(x, y)
        elif isinstance(image, Image):
            array = image.getArray()
        elif isinstance(image, ImageBase):
            raise TypeError(f"a FixedKernel is made from an Image, not a {type(image).__name__}")
        else:
            array = np.asarray(image)
        if array.ndim != 2 or array.dtype.kind not in "iuf":
            raise TypeError(f"a kernel image must be a 2-d numeric image, not {array!r}")
        super().__init__(array.shape[1], array.shape[0])
        self._array = np.array(array, dtype=np.float64)
        self._array.flags.writeable = False
        self._sum = float(np.sum(self._array))

    def _pixels(self, x: float, y: float) -> np.ndarray:
        return self._array.copy()

    def getSum(self) -> float:
        """Return the sum of the kernel's pixels."""
        return self._sum

    def getImage(self) -> Image:
        """Return a copy of the kernel image (``xy0 = -ctr``)."""
        return Image(self._array.copy(), xy0=(-self._ctrX, -self._ctrY))

    def clone(self) -> FixedKernel:
        """Return a copy (same centre)."""
        copy = FixedKernel(self._array)
        copy.setCtr(self.getCtr())
        return copy

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuildFixedKernel, (self._array, self._ctrX, self._ctrY))

    def __repr__(self) -> str:
        return (
            f"FixedKernel({self._width}x{self._height}, ctr=({self._ctrX}, {self._ctrY}), "
            f"sum={self._sum!r})"
        )


def _rebuildFixedKernel(array: np.ndarray, ctrX: int, ctrY: int) -> FixedKernel:
    kernel = FixedKernel(array)
    kernel.setCtr(Point2I(ctrX, ctrY))
    return kernel


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------


class ConvolutionControl:
    """Options of `convolve` (``lsst.afw.math.ConvolutionControl``).

    Parameters
    ----------
    doNormalize : `bool`, optional
        Normalise the kernel to sum to one (default `True`).
    doCopyEdge : `bool`, optional
        Copy the input into the border the kernel cannot reach and set the
        ``EDGE`` bit, instead of NaN / ``NO_DATA`` / infinite variance
        (default `False`).
    maxInterpolationDistance : `int`, optional
        Kept for ``afw`` compatibility; the kernels here are spatially
        constant, so no interpolation happens.
    """

    def __init__(
        self, doNormalize: bool = True, doCopyEdge: bool = False, maxInterpolationDistance: int = 10
    ) -> None:
        self._doNormalize = bool(doNormalize)
        self._doCopyEdge = bool(doCopyEdge)
        self._maxInterpolationDistance = int(maxInterpolationDistance)

    def getDoNormalize(self) -> bool:
        """Return whether the kernel is normalised."""
        return self._doNormalize

    def setDoNormalize(self, doNormalize: bool) -> None:
        """Set whether the kernel is normalised."""
        self._doNormalize = bool(doNormalize)

    def getDoCopyEdge(self) -> bool:
        """Return whether border pixels are copied from the input."""
        return self._doCopyEdge

    def setDoCopyEdge(self, doCopyEdge: bool) -> None:
        """Set whether border pixels are copied from the input."""
        self._doCopyEdge = bool(doCopyEdge)

    def getMaxInterpolationDistance(self) -> int:
        """Return the interpolation distance (unused: kernels are spatially constant)."""
        return self._maxInterpolationDistance

    def setMaxInterpolationDistance(self, distance: int) -> None:
        """Set the interpolation distance (unused: kernels are spatially constant)."""
        self._maxInterpolationDistance = int(distance)


def _orOverBox(mask: np.ndarray, kh: int, kw: int, out: np.ndarray) -> None:
    """``out |= OR of mask over every kh x kw window``, separably (OR is idempotent)."""
    height, width = out.shape
    rows = np.zeros((mask.shape[0], width), dtype=mask.dtype)
    for i in range(kw):
        rows |= mask[:, i : i + width]
    for j in range(kh):
        out |= rows[j : j + height]


def _correlate(
    planes: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    footprint: np.ndarray,
    out: Sequence[np.ndarray],
) -> None:
    """Accumulate ``sum_ij w[j, i] * plane[j:j+h, i:i+w]`` for each float plane (w = K for
    the image, K**2 for the variance) and the OR over the footprint for an int mask."""
    height, width = out[0].shape
    fullBox = bool(footprint.all())
    for plane, acc, weight in zip(planes, out, weights):
        if acc.dtype.kind != "f" and fullBox:
            _orOverBox(plane, footprint.shape[0], footprint.shape[1], acc)
            continue
        for j, i in zip(*np.nonzero(footprint)):
            window = plane[j : j + height, i : i + width]
            if acc.dtype.kind == "f":
                acc += weight[j, i] * window
            else:
                acc |= window


def convolve(
    outImage: Image | MaskedImage,
    inImage: Image | MaskedImage,
    kernel: Kernel,
    convolutionControl: ConvolutionControl | bool | None = None,
    doCopyEdge: bool = False,
) -> None:
    """Convolve ``inImage`` with ``kernel`` into ``outImage``, as ``afw`` does.

    See the module docstring for the formula and the border. ``outImage``
    gets ``inImage``'s ``xy0`` and may be ``inImage`` itself.

    Parameters
    ----------
    outImage : `~imagemapper.Image` or `~imagemapper.MaskedImage`
        Output, of the same kind and dimensions as ``inImage``.
    inImage : `~imagemapper.Image` or `~imagemapper.MaskedImage`
        Input; at least as large as the kernel.
    kernel : `Kernel`
        The kernel (not flipped).
    convolutionControl : `ConvolutionControl`, optional
        Options; the older ``convolve(out, in, kernel, doNormalize,
        doCopyEdge)`` form is accepted too.

    Raises
    ------
    InvalidParameterError
        If the dimensions differ or the input is smaller than the kernel.
    """
    if convolutionControl is None:
        control = ConvolutionControl()
    elif isinstance(convolutionControl, ConvolutionControl):
        control = convolutionControl
    else:
        control = ConvolutionControl(bool(convolutionControl), doCopyEdge)
    if not isinstance(kernel, Kernel):
        raise TypeError(f"convolve() needs a Kernel, not {type(kernel).__name__}")
    masked = isinstance(inImage, MaskedImage)
    if (
        masked != isinstance(outImage, MaskedImage)
        or not isinstance(inImage, (Image, MaskedImage))
        or not isinstance(outImage, (Image, MaskedImage))
    ):
        raise TypeError(
            "convolve() takes two Images or two MaskedImages, not "
            f"{type(outImage).__name__} and {type(inImage).__name__}"
        )
    dims = inImage.getDimensions()
    if outImage.getDimensions() != dims:
        raise InvalidParameterError(
            f"convolvedImage dimensions {outImage.getDimensions()!r} != inImage dimensions {dims!r}"
        )
    kw, kh = kernel.getWidth(), kernel.getHeight()
    if dims.getX() < kw or dims.getY() < kh:
        raise InvalidParameterError(
            f"inImage dimensions {dims!r} are smaller than the kernel's ({kw}, {kh})"
        )
    kArr = kernel._image(control.getDoNormalize())
    footprint = kArr != 0
    ctrX, ctrY = kernel.getCtrX(), kernel.getCtrY()
    cnvH, cnvW = dims.getY() - kh + 1, dims.getX() - kw + 1
    inner = (slice(ctrY, ctrY + cnvH), slice(ctrX, ctrX + cnvW))
    if isinstance(inImage, MaskedImage):
        assert isinstance(outImage, MaskedImage)
        inPlanes = [
            inImage.getImage().getArray(),
            inImage.getVariance().getArray(),
            inImage.getMask().getArray(),
        ]
        outPlanes = [
            outImage.getImage().getArray(),
            outImage.getVariance().getArray(),
            outImage.getMask().getArray(),
        ]
        weights = [kArr, kArr * kArr, kArr]
        accs: list[np.ndarray] = [
            np.zeros((cnvH, cnvW), dtype=np.float64),
            np.zeros((cnvH, cnvW), dtype=np.float64),
            np.zeros((cnvH, cnvW), dtype=inPlanes[2].dtype),
        ]
        edgeBit = outImage.getMask().getPlaneBitMask("EDGE")
        noDataBit = outImage.getMask().getPlaneBitMask("NO_DATA")
    else:
        assert isinstance(outImage, Image)
        inPlanes = [inImage.getArray()]
        outPlanes = [outImage.getArray()]
        weights = [kArr]
        accs = [np.zeros((cnvH, cnvW), dtype=np.float64)]
    with np.errstate(invalid="ignore", over="ignore"):
        _correlate(inPlanes, weights, footprint, accs)
    border = np.ones(inPlanes[0].shape, dtype=bool)
    border[inner] = False
    if control.getDoCopyEdge():
        edgeValues = [plane[border] for plane in inPlanes]
    for k, (outPlane, acc) in enumerate(zip(outPlanes, accs)):
        outPlane[inner] = acc.astype(outPlane.dtype)
        if control.getDoCopyEdge():
            outPlane[border] = edgeValues[k]
    if masked:
        if control.getDoCopyEdge():
            outPlanes[2][border] |= edgeBit
        else:
            outPlanes[0][border] = np.nan
            outPlanes[1][border] = np.inf
            outPlanes[2][border] = noDataBit
    elif not control.getDoCopyEdge():
        outPlanes[0][border] = np.nan if outPlanes[0].dtype.kind == "f" else 0
    outImage.setXY0(inImage.getXY0())
