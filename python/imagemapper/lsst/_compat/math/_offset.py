"""Sub-pixel offsets of an image by Lanczos interpolation
(``lsst.afw.math.offsetImage``)."""

from __future__ import annotations

import math

import numpy as np

from ....image import Image
from ..exceptions import InvalidParameterError


def _lanczos(offsets: np.ndarray, order: int) -> np.ndarray:
    """The Lanczos window ``sinc(x) * sinc(x / order)`` for ``|x| < order``, else 0."""
    values = np.sinc(offsets) * np.sinc(offsets / order)
    values[np.abs(offsets) >= order] = 0.0
    return values


def _shiftAxis(array: np.ndarray, shift: float, order: int, axis: int) -> np.ndarray:
    """Move ``array``'s content by ``shift`` (``|shift| < 1``) pixels along ``axis``:
    ``out[k] = sum_t w(t) * in[k + t]`` with ``w(t) = L(t + shift)`` normalised.
    Pixels the kernel does not fit at the ends keep their input value."""
    taps = np.arange(-order, order + 1)
    weights = _lanczos(taps + shift, order)
    weights /= weights.sum()
    moved = np.moveaxis(array, axis, 0)
    n = moved.shape[0]
    out = moved.copy()
    if n > 2 * order:
        acc = np.zeros((n - 2 * order, *moved.shape[1:]), dtype=np.float64)
        for t, w in zip(taps, weights):
            if w != 0:
                acc += w * moved[order + t : n - order + t]
        out[order : n - order] = acc
    return np.moveaxis(out, 0, axis)


def offsetImage(
    image: Image, dx: float, dy: float, algorithmName: str = "lanczos5", buffer: int = 0
) -> Image:
    """Return a copy of ``image`` with its content moved by ``(dx, dy)`` pixels.

    The integer part of the offset (when an offset is 1 or more) moves
    ``xy0``; the remaining fraction is a Lanczos interpolation of order
    ``N`` (``algorithmName = "lanczosN"``). ``buffer`` zero-pads the image
    first, so that pixels near the edge are interpolated too (otherwise the
    outermost ``N`` pixels keep their values).

    Raises
    ------
    InvalidParameterError
        For an algorithm other than ``lanczosN``.
    """
    name = str(algorithmName).lower()
    if not (name.startswith("lanczos") and name[7:].isdigit() and int(name[7:]) > 0):
        raise InvalidParameterError(
            f"offsetImage supports the 'lanczosN' algorithms, not {algorithmName!r}"
        )
    order = int(name[7:])
    if -1 < dx < 1 and -1 < dy < 1:
        shiftX, shiftY, fracX, fracY = 0, 0, float(dx), float(dy)
    else:
        shiftX, shiftY = math.floor(dx + 0.5), math.floor(dy + 0.5)
        fracX, fracY = dx - shiftX, dy - shiftY
    data = np.asarray(image.getArray(), dtype=np.float64)
    if buffer > 0:
        data = np.pad(data, buffer)
    if fracX:
        data = _shiftAxis(data, fracX, order, axis=1)
    if fracY:
        data = _shiftAxis(data, fracY, order, axis=0)
    if buffer > 0:
        data = data[buffer:-buffer, buffer:-buffer]
    x0, y0 = image.getX0() + shiftX, image.getY0() + shiftY
    return Image(data.astype(image.getArray().dtype), xy0=(x0, y0))
