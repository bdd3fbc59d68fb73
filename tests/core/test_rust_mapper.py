"""A mapper written in Rust runs through the core's driver, with no Python per cell."""

from __future__ import annotations

import numpy as np
import pytest

import imagemapper as im
from imagemapper.testing import assertExposuresEqual

ndimage = pytest.importorskip("scipy.ndimage")


def config(op, sigma=2.0, step=64, border=8):
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(im.RustGaussianConvolveMapper)
    c.mapper.sigma = sigma
    c.scaleByFwhm = False
    c.cellSizeX = c.cellSizeY = 64
    c.gridStepX = c.gridStepY = step
    c.adjustGridOption = "none"
    c.borderSizeX = c.borderSizeY = border
    c.reducer.reduceOperation = op
    c.progress = False
    return c


@pytest.fixture
def exposure():
    rng = np.random.default_rng(5)
    img = rng.normal(size=(200, 230))
    return im.Exposure.fromArrays(img, None, np.full_like(img, 2.0), xy0=(-7, 12))


@pytest.mark.parametrize("op,step", [("copy", 64), ("average", 32)])
def test_rust_mapper_equals_whole_image_convolution(exposure, op, step):
    out = im.ImageMapReduceTask(config(op, step=step)).run(exposure).exposure
    ref = ndimage.gaussian_filter(exposure.image.array, 2.0, mode="constant", truncate=4.0)
    np.testing.assert_allclose(out.image.array, ref, atol=1e-12)
    # The variance is convolved with the squared kernel.
    k = np.exp(-(np.arange(-8, 9) ** 2) / 8.0)
    k /= k.sum()
    k2 = np.outer(k**2, k**2)
    var = exposure.variance.array
    assert out.variance.array[100, 100] == pytest.approx(float((var[92:109, 92:109] * k2).sum()))


def test_rust_path_and_python_path_agree_bit_for_bit(exposure):
    fast = im.ImageMapReduceTask(config("average", step=32)).run(exposure).exposure
    # doClone forces the per-cell Python path (mapper.run) through the stitcher.
    slow = im.ImageMapReduceTask(config("average", step=32)).run(exposure, doClone=True).exposure
    assertExposuresEqual(fast, slow)
    for n in (1, 3):
        again = im.ImageMapReduceTask(config("average", step=32)).run(exposure, numWorkers=n)
        assertExposuresEqual(again.exposure, fast)


def test_bad_sigma_is_rejected():
    c = config("copy")
    with pytest.raises(Exception, match="sigma"):
        c.mapper.sigma = -1.0
        c.validate()
