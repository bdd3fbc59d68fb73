"""Mappers used by the execution tests (module level, so that they pickle)."""

from __future__ import annotations

import os
import threading
import time
import weakref

import lsst.pex.config as pexConfig
import numpy as np

import imagemapper as im


class SleepyConfig(im.ImageMapperConfig):
    maxSleep = pexConfig.Field(dtype=float, doc="longest sleep per cell (s)", default=0.003)
    seed = pexConfig.Field(dtype=int, doc="seed of the sleep times", default=1)


class SleepyMapper(im.ImageMapper):
    """Sleeps a seeded random time per cell (so completion order varies), then
    returns a cell-dependent, non-trivial transform of the cell."""

    ConfigClass = SleepyConfig
    _DefaultName = "sleepy"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        b = subExposure.getBBox()
        rng = np.random.default_rng([self.config.seed, b.getMinX() & 0xFFFF, b.getMinY() & 0xFFFF])
        time.sleep(rng.uniform(0, self.config.maxSleep))
        out = subExposure.clone()
        big = expandedSubExposure.image.array
        out.image.array[:] = out.image.array * np.float32(1.5) + np.float32(big.mean())
        out.variance.array[:] *= 2
        return im.Struct(subExposure=out)


class FailingConfig(im.ImageMapperConfig):
    failCells = pexConfig.ListField(dtype=int, doc="cell min-x values that fail", default=[])


class FailingMapper(im.ImageMapper):
    """Adds 1; raises ZeroDivisionError on cells whose box starts at given x."""

    ConfigClass = FailingConfig
    _DefaultName = "failing"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        if subExposure.getBBox().getMinX() in self.config.failCells:
            raise ZeroDivisionError("planted failure")
        out = subExposure.clone()
        out.maskedImage += 1.0
        return im.Struct(subExposure=out)


class DieOnceConfig(im.ImageMapperConfig):
    marker = pexConfig.Field(
        dtype=str, doc="file created when the worker has died once", default=""
    )
    always = pexConfig.Field(dtype=bool, doc="die every time", default=False)


class DieOnceMapper(im.ImageMapper):
    """Kills its worker process (os._exit) on the cell at the origin, once
    (or always), then behaves like an add-one mapper."""

    ConfigClass = DieOnceConfig
    _DefaultName = "dieOnce"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        b = subExposure.getBBox()
        if b.getMinX() == fullBBox.getMinX() and b.getMinY() == fullBBox.getMinY():
            if self.config.always or not os.path.exists(self.config.marker):
                with open(self.config.marker, "w") as f:
                    f.write("died")
                os._exit(17)
        out = subExposure.clone()
        out.maskedImage += 1.0
        return im.Struct(subExposure=out)


class LiveCounter:
    """Counts live result exposures (instrumentation for the memory bound)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.alive = 0
        self.maxAlive = 0

    def inc(self):
        with self.lock:
            self.alive += 1
            self.maxAlive = max(self.maxAlive, self.alive)

    def dec(self):
        with self.lock:
            self.alive -= 1


COUNTER = LiveCounter()


class CountedMapper(im.ImageMapper):
    """Returns a large (expanded-cell sized, then cropped) clone and counts
    how many of its results are alive at once."""

    _DefaultName = "counted"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        out.maskedImage += 1.0
        COUNTER.inc()
        weakref.finalize(out, COUNTER.dec)
        return im.Struct(subExposure=out)


class NotThreadSafeMapper(im.ImageMapper):
    """Records how many threads run one instance at once; every instance it
    made is listed in ``INSTANCES`` (to count per-worker copies)."""

    _DefaultName = "notThreadSafe"
    INSTANCES: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.active = 0
        self.maxActive = 0
        self.lock = threading.Lock()
        type(self).INSTANCES.append(self)

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        with self.lock:
            self.active += 1
            self.maxActive = max(self.maxActive, self.active)
        time.sleep(0.001)
        with self.lock:
            self.active -= 1
        return im.Struct(subExposure=subExposure.clone())


class SharedMapper(NotThreadSafeMapper):
    """The same, declaring that one instance may run on several threads."""

    _DefaultName = "shared"
    threadSafe = True
    INSTANCES: list = []


class DecorrelationLikeConfig(im.ImageMapperConfig):
    maxSleep = pexConfig.Field(dtype=float, doc="longest sleep per cell (s)", default=0.002)


class DecorrelationLikeMapper(im.ImageMapper):
    """Behaves like ip_diffim's DecorrelateALKernelMapper where it matters here:
    it keeps per-call state on ``self`` (the FFT shape of the expanded cell,
    set in one method and used in another), and writes its result into the
    expanded cell it is handed, then returns the cell (a view of it).

    The transform is a circular FFT low-pass of the expanded cell, which is
    deterministic per cell; with one instance shared by several threads the
    shape set by one cell is used by another and the call fails or gives
    wrong pixels.
    """

    ConfigClass = DecorrelationLikeConfig
    _DefaultName = "decorrelationLike"

    def _prepare(self, expanded):
        self.freqSpaceShape = expanded.image.array.shape
        b = expanded.getBBox()
        self.offset = decorrelationOffset(b)
        rng = np.random.default_rng([b.getMinX() & 0xFFFF, b.getMinY() & 0xFFFF])
        time.sleep(rng.uniform(0, self.config.maxSleep))

    def _filter(self, array):
        ky = np.fft.fftfreq(self.freqSpaceShape[0])[:, None]
        kx = np.fft.fftfreq(self.freqSpaceShape[1])[None, :]
        transfer = np.exp(-(kx**2 + ky**2) * 20.0)
        return np.fft.ifft2(np.fft.fft2(array) * transfer).real + self.offset

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        self._prepare(expandedSubExposure)
        arr = expandedSubExposure.image.array
        arr[...] = self._filter(arr.astype(np.float64))
        expandedSubExposure.variance.array[...] *= 0.5
        return im.Struct(subExposure=subExposure)


def decorrelationOffset(box1):
    """A per-cell constant the mapper adds (so that a shared state shows)."""
    return box1.getMinX() * 1e-3 + box1.getMinY() * 1e-6


def decorrelationLikeCell(imageArray, box1, box0, full):
    """What DecorrelationLikeMapper makes of one cell, computed on plain numpy
    arrays of the whole image (the independent reference)."""
    sy1, sx1 = box1.slices(full)
    expanded = imageArray[sy1, sx1].astype(np.float64)
    ky = np.fft.fftfreq(expanded.shape[0])[:, None]
    kx = np.fft.fftfreq(expanded.shape[1])[None, :]
    filtered = np.fft.ifft2(np.fft.fft2(expanded) * np.exp(-(kx**2 + ky**2) * 20.0)).real
    filtered += decorrelationOffset(box1)
    return filtered.astype(imageArray.dtype)[box0.slices(box1)]


class PidConfig(im.ImageMapperConfig):
    pidDir = pexConfig.Field(dtype=str, doc="folder where workers record their pid", default="")
    sleep = pexConfig.Field(dtype=float, doc="seconds per cell", default=0.2)


class PidRecordingMapper(im.ImageMapper):
    """Records the worker's pid, then sleeps: a long run to interrupt."""

    ConfigClass = PidConfig
    _DefaultName = "pidRecording"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        with open(os.path.join(self.config.pidDir, str(os.getpid())), "w") as f:
            f.write("alive")
        time.sleep(self.config.sleep)
        return im.Struct(subExposure=subExposure.clone())


class MeanOfExpandedMapper(im.ImageMapper):
    """Adds the mean of the expanded cell to the cell (border-dependent)."""

    _DefaultName = "meanOfExpanded"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        out.image.array[:] += np.float32(expandedSubExposure.image.array.mean())
        return im.Struct(subExposure=out)


class AddOneMapper(im.ImageMapper):
    _DefaultName = "addOne"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        out.image.array[:] += np.float32(1.0)
        return im.Struct(subExposure=out)


def cellExtras(index, box0):
    """What `ExtrasMapper` returns besides its cell, as a function of the cell
    (so the test can build the expected values independently)."""
    rng = np.random.default_rng(index)
    big = rng.normal(size=(40, 30))  # float64, 9.6 kB
    ro = np.arange(400, dtype=np.int32) * index
    ro.flags.writeable = False
    be = rng.normal(size=300).astype(">f4")  # big-endian
    rec = np.zeros(50, dtype=[("x", "i4"), ("y", "f8")])
    rec["x"] = np.arange(50) + index
    rec["y"] = rng.normal(size=50)
    return {
        "label": f"cell {index} {box0}",
        "index": index,
        "box": box0,
        "big": big,
        "fortran": np.asfortranarray(rng.normal(size=(33, 17)).astype(np.float32)),
        "strided": big[::2, 1::3],  # not contiguous
        "readOnly": ro,
        "bigEndian": be,
        "records": rec,
        "objects": np.array([f"o{index}", None, index], dtype=object),
        "scalar": np.float64(index) / 3.0,
        "zeroD": np.array(index * 1.5),
        "small": np.arange(5),
        "empty": np.zeros((0, 7), np.float32),
        "same": (big, big),  # one array twice: one copy, the same object
    }


class ExtrasMapper(im.ImageMapper):
    """Returns its cell plus arbitrary values (for ``reduceOperation='none'``):
    strings, boxes, numpy arrays of every layout, objects."""

    _DefaultName = "extras"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        box0 = subExposure.getBBox()
        index = (box0.getMinY() + 100) * 1000 + box0.getMinX() + 100
        out = subExposure.clone()
        out.image.array[:] *= np.float32(2.0)
        return im.Struct(subExposure=out, **cellExtras(index, box0))


class WideResultMapper(im.ImageMapper):
    """Returns float64 planes (20 bytes per pixel with the mask): more than a
    result slot sized from the float32 input holds."""

    _DefaultName = "wideResult"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        mi = subExposure.maskedImage
        box0 = subExposure.getBBox()
        return im.Struct(
            subExposure=im.Exposure.fromArrays(
                mi.image.array.astype(np.float64) * 3.0 + 0.5,
                mi.mask.array.copy(),
                mi.variance.array.astype(np.float64) * 9.0,
                xy0=(box0.getMinX(), box0.getMinY()),
            )
        )
