"""The image assertions ``afw`` adds to ``lsst.utils.tests.TestCase``.

Importing ``imagemapper.lsst.afw.image`` (as importing ``lsst.afw.image``
does) adds `assertImagesAlmostEqual`, `assertImagesEqual`,
`assertMasksEqual`, `assertMaskedImagesAlmostEqual` and
`assertMaskedImagesEqual` to ``lsst.utils.tests.TestCase``; they are also
plain functions taking the test case first.

Two images agree when they have the same shape, NaN in the same pixels,
the same infinities in the same pixels, and every other pixel within
``|value1 - value0| <= rtol * |value1| + atol``; masks must be identical.
A ``skipMask`` (array or image, non-zero = skip) leaves pixels out.
"""

from __future__ import annotations

__all__ = [
    "assertImagesAlmostEqual",
    "assertImagesEqual",
    "assertMaskedImagesAlmostEqual",
    "assertMaskedImagesEqual",
    "assertMasksEqual",
    "imagesDiffer",
]

from typing import Any

import lsst.utils.tests
import numpy as np

from ...image import MaskedImage


def _array(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "getArray"):
        value = value.getArray()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, not dtype {array.dtype}")
    return array


def imagesDiffer(
    image0: Any, image1: Any, skipMask: Any = None, rtol: float = 1.0e-05, atol: float = 1e-08
) -> str:
    """Return a description of how two images (or arrays) differ, or ``""``.

    Raises
    ------
    TypeError
        If the shapes differ or an argument is not numeric.
    """
    arr0 = _array(image0, "image0")
    arr1 = _array(image1, "image1")
    if arr0.shape != arr1.shape:
        raise TypeError(f"image shapes differ: {arr0.shape} != {arr1.shape}")
    keep = np.ones(arr0.shape, dtype=bool)
    if skipMask is not None:
        skip = _array(skipMask, "skipMask")
        if skip.shape != arr0.shape:
            raise TypeError(f"skipMask shape {skip.shape} differs from image shape {arr0.shape}")
        keep = ~skip.astype(bool)
    a0, a1 = arr0[keep], arr1[keep]
    problems = []
    if a0.dtype.kind == "f" or a1.dtype.kind == "f":
        a0, a1 = a0.astype(np.float64), a1.astype(np.float64)
        nan0, nan1 = np.isnan(a0), np.isnan(a1)
        if not np.array_equal(nan0, nan1):
            problems.append(f"NaNs differ in {int(np.sum(nan0 != nan1))} pixels")
        for sign, label in ((1, "+inf"), (-1, "-inf")):
            inf0, inf1 = a0 == sign * np.inf, a1 == sign * np.inf
            if not np.array_equal(inf0, inf1):
                problems.append(f"{label} differ in {int(np.sum(inf0 != inf1))} pixels")
        finite = np.isfinite(a0) & np.isfinite(a1)
        a0, a1 = a0[finite], a1[finite]
    if a0.size:
        if rtol == 0 and atol == 0:
            bad = a0 != a1
        else:
            bad = np.abs(a1 - a0) > rtol * np.abs(a1) + atol
        if np.any(bad):
            diff = np.abs(a1.astype(np.float64) - a0.astype(np.float64))
            problems.append(
                f"{int(np.sum(bad))} pixels differ by more than rtol={rtol}, atol={atol}; "
                f"maximum difference {float(np.max(diff)):.6g}"
            )
    return "; ".join(problems)


def assertImagesAlmostEqual(
    testCase: Any,
    image0: Any,
    image1: Any,
    skipMask: Any = None,
    rtol: float = 1.0e-05,
    atol: float = 1e-08,
    msg: str = "Images differ",
) -> None:
    """Fail ``testCase`` unless two images (or arrays) agree (see the module docstring)."""
    problem = imagesDiffer(image0, image1, skipMask=skipMask, rtol=rtol, atol=atol)
    if problem:
        testCase.fail(f"{msg}: {problem}")


def assertImagesEqual(
    testCase: Any, image0: Any, image1: Any, skipMask: Any = None, msg: str = "Images differ"
) -> None:
    """`assertImagesAlmostEqual` with ``rtol = atol = 0``."""
    assertImagesAlmostEqual(testCase, image0, image1, skipMask, rtol=0, atol=0, msg=msg)


def assertMasksEqual(
    testCase: Any, mask0: Any, mask1: Any, skipMask: Any = None, msg: str = "Masks differ"
) -> None:
    """Fail ``testCase`` unless two masks (or arrays) are identical."""
    problem = imagesDiffer(mask0, mask1, skipMask=skipMask, rtol=0, atol=0)
    if problem:
        testCase.fail(f"{msg}: {problem}")


def _planes(maskedImage: Any, name: str) -> tuple[Any, Any, Any]:
    if isinstance(maskedImage, MaskedImage):
        return maskedImage.getImage(), maskedImage.getMask(), maskedImage.getVariance()
    try:
        image, mask, variance = maskedImage
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a MaskedImage or an (image, mask, variance) triple, "
            f"not {type(maskedImage).__name__}"
        ) from None
    return image, mask, variance


def assertMaskedImagesAlmostEqual(
    testCase: Any,
    maskedImage0: Any,
    maskedImage1: Any,
    doImage: bool = True,
    doMask: bool = True,
    doVariance: bool = True,
    skipMask: Any = None,
    rtol: float = 1.0e-05,
    atol: float = 1e-08,
    msg: str = "Masked images differ",
) -> None:
    """Fail ``testCase`` unless two masked images agree: image and variance within the
    tolerances, masks exactly (each plane only if its ``do*`` flag is set)."""
    planes0 = _planes(maskedImage0, "maskedImage0")
    planes1 = _planes(maskedImage1, "maskedImage1")
    problems = []
    for index, (name, wanted) in enumerate(
        (("image", doImage), ("mask", doMask), ("variance", doVariance))
    ):
        if not wanted:
            continue
        exact = name == "mask"
        problem = imagesDiffer(
            planes0[index],
            planes1[index],
            skipMask=skipMask,
            rtol=0 if exact else rtol,
            atol=0 if exact else atol,
        )
        if problem:
            problems.append(f"{name} planes differ: {problem}")
    if problems:
        testCase.fail(f"{msg}: {'; '.join(problems)}")


def assertMaskedImagesEqual(
    testCase: Any,
    maskedImage0: Any,
    maskedImage1: Any,
    doImage: bool = True,
    doMask: bool = True,
    doVariance: bool = True,
    skipMask: Any = None,
    msg: str = "Masked images differ",
) -> None:
    """`assertMaskedImagesAlmostEqual` with ``rtol = atol = 0``."""
    assertMaskedImagesAlmostEqual(
        testCase,
        maskedImage0,
        maskedImage1,
        doImage,
        doMask,
        doVariance,
        skipMask,
        rtol=0,
        atol=0,
        msg=msg,
    )


def install() -> None:
    """Add the assertions to ``lsst.utils.tests.TestCase`` (idempotent)."""
    for function in (
        assertImagesAlmostEqual,
        assertImagesEqual,
        assertMasksEqual,
        assertMaskedImagesAlmostEqual,
        assertMaskedImagesEqual,
    ):
        lsst.utils.tests.inTestCase(function)
