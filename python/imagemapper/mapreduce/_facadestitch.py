"""Stitching the façade's results: the dtype plan (which pixel type the Rust
reducer combines an output dtype in) and one image-only reducer per plane.
"""

from __future__ import annotations

__all__ = ["Stitch"]

import math
from typing import Any

import numpy as np

from .. import _core
from .._core import Box2I
from ..image import Exposure
from ..task import Struct


def stitchDtype(dtype: np.dtype, reduce: str) -> np.dtype:
    """The pixel type the Rust reducer combines an output of ``dtype`` in.

    Integers are combined in their own type, exactly (``weighted``, a
    floating-point blend, in ``float64``); ``bool`` in ``float32`` (``sum``
    and ``average`` are then "any"); ``float16`` in ``float32``; complex
    types as two planes of their real type.
    """
    if dtype.kind in "iu":
        return np.dtype(np.float64) if reduce == "weighted" else dtype
    if dtype.kind == "b":
        return np.dtype(np.float32)
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    if dtype.kind == "f" and dtype.itemsize == 8:
        return np.dtype(np.float64)
    if dtype.kind == "c" and dtype.itemsize <= 8:
        return np.dtype(np.float32)
    if dtype.kind == "c" and dtype.itemsize == 16:
        return np.dtype(np.float64)
    raise TypeError(
        f"output dtype {dtype} is not supported; expected bool, integers, floats "
        "up to float64 or complex up to complex128"
    )


def _planes(out: np.ndarray, dtype: np.dtype, sdt: np.dtype, index: int) -> np.ndarray:
    """``(K, h, w)`` planes of type ``sdt`` of a ``(..., h, w)`` result, first
    converted to the output ``dtype`` as numpy's ``astype`` does (complex:
    real, imaginary)."""
    h, w = out.shape[-2:]
    if out.dtype != dtype:
        if dtype.kind in "iu" and out.dtype.kind in "fc" and not np.isfinite(out).all():
            raise ValueError(
                f"func returned NaN or infinite values for cell {index}, which the output "
                f"dtype {dtype} cannot hold; pass a float dtype= (or return {dtype})"
            )
        out = out.astype(dtype)
    if dtype.kind == "c":
        out = np.stack([out.real, out.imag])
    return np.asarray(out, dtype=sdt).reshape(-1, h, w)


def _fromPlanes(planes: np.ndarray, lead: tuple[int, ...], dtype: np.dtype, uncovered: int) -> Any:
    """The stitched ``(K, H, W)`` planes as ``(*lead, H, W)`` of ``dtype``;
    ``uncovered``: the pixels no cell reached."""
    H, W = planes.shape[-2:]
    if dtype.kind == "c":
        half = planes.shape[0] // 2
        planes = planes[:half] + 1j * planes[half:]
    out = planes.reshape(*lead, H, W)
    if dtype.kind not in "biu":
        return out.astype(dtype, copy=False)
    missing = uncovered if out.dtype.kind in "iu" else int(np.isnan(out).sum())
    if missing:
        raise ValueError(
            f"{missing} pixels have no value (no cell covers them, or func returned "
            f"no valid value there), which {dtype} cannot hold; pass dtype=np.float32 (NaN "
            "there) or a gridStep no larger than cellSize"
        )
    if dtype.kind == "b":
        return out != 0
    if out.dtype == dtype:  # combined exactly in the integer type
        return out
    # Blended in float64 (weighted, mesh): rounded to the nearest integer
    # (ties to even); a value rounded beyond the type's range (float64 has
    # 53 bits) saturates.
    info = np.iinfo(dtype)
    out = np.rint(out)
    hi, lo = out >= float(info.max), out <= float(info.min)
    res = np.where(hi | lo, 0, out).astype(dtype)
    res[hi] = info.max
    res[lo] = info.min
    return res


class Stitch:
    """Stitches the cells' results over ``box``: one image-only Rust
    `~imagemapper._core.Reducer` per output plane (created from the first
    result). Only the planes ``func`` returned move through it -- no mask,
    variance or weight planes are built -- and every value is used as ``func``
    gave it (NaN, ±inf and -0.0 included). ``mesh`` (one number per cell) goes
    through the task's mesh reducer."""

    def __init__(
        self, reduce: str, box: Box2I, boxes0: list[Box2I], dtype: Any, nThreads: int
    ) -> None:
        self.reduce = reduce
        self.box = box
        self.boxes0 = boxes0
        self.nThreads = nThreads
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.reducers: list[Any] = []
        self.lead: tuple[int, ...] | None = None

    def _start(self, first: Any) -> None:
        sdt = np.dtype(np.float64)
        if self.reduce == "mesh":
            from ._reducer import ImageReducer, ImageReducerConfig

            cfg = ImageReducerConfig()
            cfg.reduceOperation = "mesh"
            cfg.badMaskPlanes = []
            reducer = ImageReducer(config=cfg)
            reducer.numThreads = self.nThreads
            self.lead = ()
            self.dtype = self.dtype or sdt
            template = Exposure.fromArrays(
                np.broadcast_to(sdt.type(0), (self.box.getHeight(), self.box.getWidth())),
                xy0=self.box.getMin(),
            )
            self.reducers = [reducer._makeStitcher(template, self.boxes0)]
            return
        self.lead = tuple(first.shape[:-2])
        self.dtype = self.dtype or first.dtype
        sdt = stitchDtype(self.dtype, self.reduce)
        self.sdt = sdt
        nPlanes = math.prod(self.lead) * (2 if self.dtype.kind == "c" else 1)
        self.reducers = [
            _core.Reducer(
                self.reduce,
                self.box,
                sdt,
                variance=False,
                grid=self.boxes0,
                n_threads=self.nThreads,
            )
            for _ in range(nPlanes)
        ]

    def add(self, results: list[tuple[int, Any]]) -> None:
        """Stitch ``(cellIndex, result)`` pairs (cell order)."""
        if not results:
            return
        if not self.reducers:
            self._start(results[0][1])
        if self.reduce == "mesh":
            self.reducers[0].add((i, Struct(value=v)) for i, v in results)
            return
        perPlane: list[list[tuple[int, Box2I, np.ndarray, None, None]]] = [
            [] for _ in self.reducers
        ]
        assert self.dtype is not None  # set by _start
        for i, out in results:
            if tuple(out.shape[:-2]) != self.lead:
                raise ValueError(
                    f"func returned an array of shape {out.shape} for cell {i}; the first cell "
                    f"gave leading axes {self.lead} (all cells must give the same)"
                )
            cell = self.boxes0[i].clippedTo(self.box)
            if cell.isEmpty():
                continue
            sl = cell.slices(self.boxes0[i])
            planes = _planes(out, self.dtype, self.sdt, i)[:, sl[0], sl[1]]
            for k, plane in enumerate(planes):
                perPlane[k].append((i, cell, plane, None, None))
        for reducer, batch in zip(self.reducers, perPlane):
            reducer.add(batch)

    def finish(self) -> np.ndarray:
        if not self.reducers:  # no cell covers the box
            raise ValueError("no cell covers the image")
        uncovered = 0
        if self.reduce == "mesh":
            images = [self.reducers[0].finish()[0].image.array]
        else:
            images = []
            for reducer in self.reducers:
                # Every plane has the same cells: one count of uncovered pixels.
                uncovered = int(reducer.finish(0)["n_uncovered"])
                images.append(reducer.take()[0])
        planes = images[0][None] if len(images) == 1 else np.stack(images)
        assert self.lead is not None and self.dtype is not None
        return _fromPlanes(planes, self.lead, self.dtype, uncovered)
