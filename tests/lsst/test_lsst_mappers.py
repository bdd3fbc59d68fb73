"""Mappers written against ``imagemapper.lsst`` like ip_diffim's real clients,
run with the package defaults (threads) and compared with serial, processes
and a whole-image numpy computation; the inputs are never modified."""

from __future__ import annotations

import numpy as np
import pytest

import imagemapper as im
import imagemapper.lsst.afw.image as afwImage
import imagemapper.lsst.afw.math as afwMath
import imagemapper.lsst.meas.algorithms as measAlg
from imagemapper.lsst.ip.diffim.imageMapReduce import ImageMapReduceConfig, ImageMapReduceTask
from imagemapper.testing import assertExposuresEqual
from lsst_mappers_for_tests import (
    IGNORE_PLANES,
    DecorrelationStyleMapper,
    ZogyStyleMapper,
    averageStitch,
    decorrelationStyleCell,
    zogyStyleCell,
)


def gaussianArray(size, sigma, dx=0.0, dy=0.0):
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    g = np.exp(-((x - dx) ** 2 + (y - dy) ** 2) / (2 * sigma**2))
    return g / g.sum()


def makeScience(width=100, height=90, seed=5, psfSigma=1.2):
    rng = np.random.default_rng(seed)
    exposure = afwImage.ExposureD(width, height)
    exposure.setXY0((7, -4))
    exposure.image.array[...] = rng.normal(0.0, 1.0, size=(height, width))
    exposure.variance.array[...] = np.abs(rng.normal(1.0, 0.2, size=(height, width)))
    # a few bright outliers in the variance, some of them masked
    bad = rng.uniform(size=(height, width)) < 0.02
    exposure.variance.array[bad] = 50.0
    exposure.mask.array[bad & (rng.uniform(size=(height, width)) < 0.5)] = (
        afwImage.Mask.getPlaneBitMask("SAT")
    )
    exposure.setPsf(measAlg.SingleGaussianPsf(15, 15, psfSigma))
    return exposure


def defaultConfig(mapper):
    # Only the mapper and the reduce change; the grid and the execution
    # (backend threads, all CPUs) are the package defaults.
    config = ImageMapReduceConfig()
    config.mapper.retarget(mapper)
    config.reducer.reduceOperation = "average"
    return config


def runBackends(config, exposure, **kwargs):
    """Run on the default backend, then serial and processes; return the
    task (its grid) and the default run's exposure, checking all agree and
    that the inputs stay untouched."""
    inputs = [exposure] + [v for v in kwargs.values() if isinstance(v, im.Exposure)]
    before = [e.clone() for e in inputs]
    task = ImageMapReduceTask(config)
    assert task.config.backend == "threads"
    result = task.run(exposure, **kwargs).exposure
    for e, b in zip(inputs, before):
        assertExposuresEqual(e, b, msg="input after threads")
    for backend, n in (("serial", 0), ("processes", 2)):
        other = (
            ImageMapReduceTask(config)
            .run(exposure, backend=backend, numWorkers=n, **kwargs)
            .exposure
        )
        assertExposuresEqual(other, result, msg=backend)
        for e, b in zip(inputs, before):
            assertExposuresEqual(e, b, msg=f"input after {backend}")
    return task, result


def test_decorrelation_style_mapper_equals_whole_image_numpy():
    exposure = makeScience()
    kernel = afwMath.FixedKernel(afwImage.ImageD(gaussianArray(17, 1.5, dx=-1.0)))
    task, result = runBackends(defaultConfig(DecorrelationStyleMapper), exposure, kernel=kernel)
    assert len(task.boxes0) > 4  # overlapping cells of the default grid
    andMask = im.Mask(1, 1).getPlaneBitMask(list(IGNORE_PLANES))
    kernelArray = gaussianArray(17, 1.5, dx=-1.0)
    cells = [
        decorrelationStyleCell(exposure, kernelArray, b0, b1, andMask)
        for b0, b1 in zip(task.boxes0, task.boxes1)
    ]
    image, variance = averageStitch(
        exposure.image.array.shape, task.boxes0, exposure.getBBox(), cells
    )
    np.testing.assert_allclose(result.image.array, image, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.variance.array, variance, rtol=1e-10)
    # the clipping matters: the plain mean of the variance would differ
    assert not np.allclose(variance, exposure.variance.array.mean(), rtol=1e-3)


def test_zogy_style_mapper_fixes_infinities_in_its_cells_and_returns_kernel_psfs():
    science = makeScience(seed=8)
    science.image.array[20, 30] = np.inf
    science.image.array[61, 70] = -np.inf
    template = makeScience(seed=9)
    templatePsf = measAlg.KernelPsf(afwMath.FixedKernel(afwImage.ImageD(gaussianArray(15, 1.0))))
    template.setPsf(templatePsf)
    task, result = runBackends(defaultConfig(ZogyStyleMapper), science, template=template)
    assert np.isinf(science.image.array[20, 30])  # fixed in the cells only
    cells, psfs = zip(
        *(zogyStyleCell(science, template, b0, b1) for b0, b1 in zip(task.boxes0, task.boxes1))
    )
    image, variance = averageStitch(
        science.image.array.shape, task.boxes0, science.getBBox(), cells
    )
    assert np.all(np.isfinite(result.image.array))
    np.testing.assert_allclose(result.image.array, image, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.variance.array, variance, rtol=1e-12)
    # The reducer's CoaddPsf is made of the cells' KernelPsfs: at a point, the
    # mean of the kernel images of the cells that cover it.
    coadd = result.getPsf()
    assert isinstance(coadd, measAlg.CoaddPsf)
    assert all(isinstance(coadd.getPsf(i), measAlg.KernelPsf) for i in range(len(coadd)))
    for point in ((40, 30), (7, -4), (100, 80)):
        covering = [pd for b0, pd in zip(task.boxes0, psfs) if b0.contains(im.Point2I(*point))]
        assert covering
        np.testing.assert_allclose(
            coadd.computeKernelImage(im.Point2D(*point)).array,
            np.mean(covering, axis=0),
            rtol=1e-10,
            atol=1e-15,
        )


@pytest.mark.parametrize("mapper", [DecorrelationStyleMapper, ZogyStyleMapper])
def test_mapper_class_is_an_imagemapper_mapper(mapper):
    # the porting namespace hands out the package's own base class
    assert issubclass(mapper, im.ImageMapper)
