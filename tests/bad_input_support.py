"""What the bad-input tests share (tests/*/test_bad_*.py): a pass-through mapper, a small
config and exposure, coverage counts."""

from __future__ import annotations

import numpy as np

import imagemapper as im
import imagemapper.mappers


class IdentityMapper(im.ImageMapper):
    """Returns the (read-only) cell view itself."""

    _DefaultName = "test_identity"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        return im.Struct(subExposure=subExposure)


class CountingMapper(IdentityMapper):
    calls = 0

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        type(self).calls += 1
        return super().run(subExposure, expandedSubExposure, fullBBox, **kwargs)


def makeConfig(mapper=IdentityMapper, op="copy", backend="serial", **fields):
    config = im.ImageMapReduceConfig()
    config.mapper.retarget(mapper)
    config.reducer.reduceOperation = op
    config.scaleByFwhm = False
    config.backend = backend
    config.cellSizeX = config.cellSizeY = 8.0
    config.gridStepX = config.gridStepY = 8.0
    config.borderSizeX = config.borderSizeY = 2.0
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def makeExposure(width=24, height=20, xy0=(0, 0), dtype=np.float32, seed=3):
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 10.0, size=(height, width)).astype(dtype)
    variance = rng.uniform(1.0, 2.0, size=(height, width)).astype(dtype)
    return im.Exposure.fromArrays(image, variance=variance, xy0=xy0)


def run(exposure, **fields):
    return im.ImageMapReduceTask(makeConfig(**fields)).run(exposure)


def coverage(task, exposure):
    count = np.zeros(exposure.image.array.shape, dtype=np.int64)
    for box in task.boxes0:
        count[box.slices(exposure.getBBox())] += 1
    return count


def invalidBit(exposure):
    return exposure.mask.getPlaneBitMask("INVALID_MAPREDUCE")


def mapperOf(fn, name):
    return type(name, (im.ImageMapper,), {"run": lambda self, s, e, f, **kw: fn(s, e, f)})


def outsideCell(sub):
    return im.Exposure(im.Box2I(im.Point2I(1000, 1000), im.Extent2I(5, 5)))
