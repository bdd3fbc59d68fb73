"""``imagemapper.lsst.afw.math`` statistics against numpy and a numpy
implementation of afw's clipping."""

from __future__ import annotations

import numpy as np
import pytest

import imagemapper.lsst.afw.image as afwImage
import imagemapper.lsst.afw.math as afwMath
from imagemapper.lsst.pex.exceptions import InvalidParameterError
from lsst_mappers_for_tests import QUARTILE_Z, afwClippedStats


def noisyImage(seed=1, shape=(60, 70), outliers=40):
    rng = np.random.default_rng(seed)
    array = rng.normal(5.0, 2.0, size=shape)
    idx = rng.choice(array.size, outliers, replace=False)
    array.flat[idx] = rng.uniform(30.0, 300.0, outliers)
    return array


def test_flag_values_are_afws():
    # Code stores and combines these numerically; the values are afw's.
    expected = {
        "NOTHING": 0x0,
        "ERRORS": 0x1,
        "NPOINT": 0x2,
        "MEAN": 0x4,
        "STDEV": 0x8,
        "VARIANCE": 0x10,
        "MEDIAN": 0x20,
        "IQRANGE": 0x40,
        "MEANCLIP": 0x80,
        "STDEVCLIP": 0x100,
        "VARIANCECLIP": 0x200,
        "MIN": 0x400,
        "MAX": 0x800,
        "SUM": 0x1000,
        "MEANSQUARE": 0x2000,
        "ORMASK": 0x4000,
        "NCLIPPED": 0x8000,
        "NMASKED": 0x10000,
    }
    for name, value in expected.items():
        assert int(getattr(afwMath, name)) == value
        assert afwMath.stringToStatisticsProperty(name) == value


def test_plain_statistics_equal_numpy():
    array = noisyImage()
    image = afwImage.ImageD(array)
    flags = (
        afwMath.NPOINT
        | afwMath.MEAN
        | afwMath.STDEV
        | afwMath.VARIANCE
        | afwMath.MEDIAN
        | afwMath.IQRANGE
        | afwMath.MIN
        | afwMath.MAX
        | afwMath.SUM
        | afwMath.MEANSQUARE
    )
    stats = afwMath.makeStatistics(image, flags)
    x = array.ravel()
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    assert stats.getValue(afwMath.NPOINT) == x.size
    np.testing.assert_allclose(stats.getValue(afwMath.MEAN), x.mean(), rtol=1e-13)
    np.testing.assert_allclose(stats.getValue(afwMath.VARIANCE), x.var(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(stats.getValue(afwMath.STDEV), x.std(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(stats.getValue(afwMath.MEDIAN), median, rtol=1e-14)
    np.testing.assert_allclose(stats.getValue(afwMath.IQRANGE), q3 - q1, rtol=1e-13)
    assert stats.getValue(afwMath.MIN) == x.min()
    assert stats.getValue(afwMath.MAX) == x.max()
    np.testing.assert_allclose(stats.getValue(afwMath.SUM), x.sum(), rtol=1e-13)
    np.testing.assert_allclose(stats.getValue(afwMath.MEANSQUARE), np.mean(x**2), rtol=1e-12)


@pytest.mark.parametrize("nIter", [1, 2, 3, 5])
@pytest.mark.parametrize("nSigma", [2.0, 3.0, 4.5])
def test_clipped_statistics_follow_afws_clipping(nIter, nSigma):
    array = noisyImage(seed=nIter)
    sctrl = afwMath.StatisticsControl()
    sctrl.setNumSigmaClip(nSigma)
    sctrl.setNumIter(nIter)
    flags = afwMath.MEANCLIP | afwMath.VARIANCECLIP | afwMath.STDEVCLIP | afwMath.NCLIPPED
    stats = afwMath.makeStatistics(afwImage.ImageD(array), flags, sctrl)
    mean, var, n = afwClippedStats(array, nSigma=nSigma, nIter=nIter)
    np.testing.assert_allclose(stats.getValue(afwMath.MEANCLIP), mean, rtol=1e-12)
    np.testing.assert_allclose(stats.getValue(afwMath.VARIANCECLIP), var, rtol=1e-10)
    np.testing.assert_allclose(stats.getValue(afwMath.STDEVCLIP), np.sqrt(var), rtol=1e-10)
    assert stats.getValue(afwMath.NCLIPPED) == array.size - n
    # the outliers are gone
    assert stats.getValue(afwMath.MEANCLIP) < 5.5


def test_first_pass_width_is_from_the_interquartile_range():
    # One pass only: kept pixels are those within n * IQR / 1.349 of the median.
    array = noisyImage(seed=7)
    sctrl = afwMath.StatisticsControl(3.0, 1)
    flags = afwMath.NCLIPPED | afwMath.MEANCLIP
    stats = afwMath.makeStatistics(afwImage.ImageD(array), flags, sctrl)
    q1, median, q3 = np.percentile(array, [25, 50, 75])
    kept = np.abs(array - median) <= 3.0 * (q3 - q1) / (2 * QUARTILE_Z)
    assert stats.getValue(afwMath.NCLIPPED) == array.size - kept.sum()
    assert stats.getValue(afwMath.MEANCLIP) == pytest.approx(array[kept].mean(), rel=1e-12)
    # NCLIPPED alone clips nothing (no clipped statistic was asked for), as in afw
    assert afwMath.makeStatistics(afwImage.ImageD(array), afwMath.NCLIPPED).getValue() == 0


def test_defaults_are_three_sigma_three_iterations():
    sctrl = afwMath.StatisticsControl()
    assert sctrl.getNumSigmaClip() == 3.0
    assert sctrl.getNumIter() == 3
    assert sctrl.getAndMask() == 0
    assert sctrl.getNanSafe()
    array = noisyImage(seed=11)
    value = afwMath.makeStatistics(afwImage.ImageD(array), afwMath.MEANCLIP).getValue()
    assert value == pytest.approx(afwClippedStats(array)[0], rel=1e-12)


def test_and_mask_nan_and_masked_image_forms():
    rng = np.random.default_rng(4)
    array = noisyImage(seed=4)
    array[3, :10] = np.nan
    array[5, 5] = np.inf
    mask = afwImage.Mask(array.shape[1], array.shape[0])
    bad = rng.uniform(size=array.shape) < 0.1
    mask.array[bad] = afwImage.Mask.getPlaneBitMask("BAD")
    mask.array[~bad & (rng.uniform(size=array.shape) < 0.1)] = afwImage.Mask.getPlaneBitMask("CR")
    sctrl = afwMath.StatisticsControl()
    sctrl.setAndMask(afwImage.Mask.getPlaneBitMask(["BAD", "EDGE"]))
    andMask = sctrl.getAndMask()
    expected = afwClippedStats(array, mask.array, andMask)
    image = afwImage.ImageF(array.astype(np.float32))
    mi = afwImage.MaskedImageF(image, mask)
    flags = afwMath.MEANCLIP | afwMath.NPOINT | afwMath.NMASKED | afwMath.ORMASK
    for stats in (
        afwMath.makeStatistics(image, mask, flags, sctrl),
        afwMath.makeStatistics(mi, flags, sctrl),
    ):
        f32 = afwClippedStats(array.astype(np.float32), mask.array, andMask)
        assert stats.getValue(afwMath.MEANCLIP) == pytest.approx(f32[0], rel=1e-12)
        assert stats.getValue(afwMath.MEANCLIP) == pytest.approx(expected[0], rel=1e-6)
        good = np.isfinite(array) & ((mask.array & andMask) == 0)
        assert stats.getValue(afwMath.NPOINT) == good.sum()
        assert stats.getValue(afwMath.NMASKED) == array.size - good.sum()
        assert stats.getOrMask() == afwImage.Mask.getPlaneBitMask("CR")
    # without NaN safety the NaNs reach the mean
    sctrl.setNanSafe(False)
    assert np.isnan(afwMath.makeStatistics(image, mask, afwMath.MEAN, sctrl).getValue())


def test_value_access_rules():
    stats = afwMath.makeStatistics(afwImage.ImageD(noisyImage()), afwMath.MEAN | afwMath.MEDIAN)
    with pytest.raises(InvalidParameterError, match="only one"):
        stats.getValue()
    with pytest.raises(InvalidParameterError, match="didn't ask"):
        stats.getValue(afwMath.MEANCLIP)
    value, error = stats.getResult(afwMath.MEAN)
    assert value == pytest.approx(noisyImage().mean(), rel=1e-13)
    assert np.isnan(error)  # no ERRORS asked for
    single = afwMath.makeStatistics(afwImage.ImageD(noisyImage()), afwMath.MEAN | afwMath.ERRORS)
    x = noisyImage().ravel()
    assert single.getError() == pytest.approx(x.std(ddof=1) / np.sqrt(x.size), rel=1e-12)


def test_degenerate_inputs():
    with pytest.raises(InvalidParameterError, match="no pixels"):
        afwMath.makeStatistics(afwImage.ImageD(np.zeros((0, 3))), afwMath.MEAN)
    allNan = afwImage.ImageD(np.full((4, 4), np.nan))
    stats = afwMath.makeStatistics(allNan, afwMath.MEAN | afwMath.MEANCLIP | afwMath.NPOINT)
    assert stats.getValue(afwMath.NPOINT) == 0
    assert np.isnan(stats.getValue(afwMath.MEAN))
    assert np.isnan(stats.getValue(afwMath.MEANCLIP))
    with pytest.raises(InvalidParameterError, match="positive"):
        afwMath.StatisticsControl().setNumSigmaClip(0)
    with pytest.raises(InvalidParameterError, match="positive"):
        afwMath.StatisticsControl().setNumIter(0)


def test_integer_median_is_the_grouped_data_median():
    # For integer pixels afw interpolates inside the run of tied values:
    # L + (n/2 - below) / count with L = value - 1/2 (the grouped-data median).
    values = np.array([[1, 2, 2, 2, 3, 7]], dtype=np.int32)
    stats = afwMath.makeStatistics(afwImage.ImageI(values), afwMath.MEDIAN)
    below, count = 1, 3  # values < 2, values == 2
    assert stats.getValue() == pytest.approx(2 - 0.5 + (values.size / 2 - below) / count)


def test_mask_statistics_or_the_bits():
    mask = afwImage.Mask(5, 4)
    mask.array[1, 2] = 0b100
    mask.array[3, 4] = 0b001
    stats = afwMath.makeStatistics(mask, afwMath.SUM | afwMath.NPOINT)
    assert stats.getValue(afwMath.SUM) == 0b101
    assert stats.getValue(afwMath.NPOINT) == 20
    with pytest.raises(InvalidParameterError):
        afwMath.makeStatistics(mask, afwMath.MEAN)


def test_sequence_form():
    values = [1.0, 2.0, 4.0, 100.0]
    assert afwMath.makeStatistics(values, afwMath.MEDIAN).getValue() == 3.0
