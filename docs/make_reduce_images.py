"""Draw the pictures of docs/reduce-operations.md into docs/images/.

Run from the repository root: ``python docs/make_reduce_images.py``
(needs matplotlib and scipy). Every picture comes from a small synthetic
image and an imagemapper run, so the pictures show what the code does.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

import imagemapper as im

OUT = Path(__file__).resolve().parent / "images"
H, W = 160, 200


def cellOffset(box):
    return float((box.getMinX() * 7919 + box.getMinY() * 104729) % 11)


class OffsetMapper(im.ImageMapper):
    """Adds a different constant to every cell (a cell-dependent background)."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        out.image.array[...] += cellOffset(subExposure.getBBox())
        return im.Struct(subExposure=out)


class ExpandedBlurMapper(im.ImageMapper):
    """Gaussian blur of the expanded cell, returned whole (its rim is wrong)."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = expandedSubExposure.clone()
        out.image.array[...] = ndimage.gaussian_filter(
            expandedSubExposure.image.array, 3.0, mode="constant", truncate=4
        )
        return im.Struct(subExposure=out)


class NoisyCellMapper(im.ImageMapper):
    """The cell times a cell-dependent gain plus noise (for max/min)."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        out = subExposure.clone()
        b = subExposure.getBBox()
        rng = np.random.default_rng([b.getMinX() + 99, b.getMinY() + 99])
        out.image.array[...] = out.image.array * rng.uniform(0.6, 1.4) + rng.normal(
            0, 0.3, out.image.array.shape
        )
        return im.Struct(subExposure=out)


class MedianMapper(im.ImageMapper):
    """One scalar per cell: the median of the expanded cell (a background level)."""

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        return im.Struct(value=float(np.median(expandedSubExposure.image.array)))


def sceneExposure():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:H, 0:W]
    sky = 2.0 + 1.5 * np.sin(xx / 45.0) * np.cos(yy / 35.0)
    img = sky + 0.2 * rng.normal(size=(H, W))
    for _ in range(25):
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        img += rng.uniform(5, 30) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2))
    return im.Exposure.fromArrays(img, variance=np.ones((H, W)))


def config(mapper, op, cell=40, step=28, border=12, **reducer):
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(mapper)
    c.scaleByFwhm = False
    c.cellSizeX = c.cellSizeY = cell
    c.gridStepX = c.gridStepY = step
    c.borderSizeX = c.borderSizeY = border
    c.adjustGridOption = "none"
    c.reducer.reduceOperation = op
    for k, v in reducer.items():
        setattr(c.reducer, k, v)
    return c


def run(cfg, exp):
    task = im.ImageMapReduceTask(cfg)
    return task, task.run(exp, progress=False)


def save(fig, name):
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / name, dpi=80, bbox_inches="tight")
    plt.close(fig)
    print("wrote", OUT / name)


def panels(arrays, titles, name, cmap="viridis", boxes=None, vlim=None):
    fig, axes = plt.subplots(1, len(arrays), figsize=(4.2 * len(arrays), 3.6))
    axes = np.atleast_1d(axes)
    for ax, arr, title in zip(axes, arrays, titles):
        kw = {} if vlim is None else {"vmin": vlim[0], "vmax": vlim[1]}
        ax.imshow(arr, origin="lower", cmap=cmap, interpolation="nearest", **kw)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        for b in boxes or []:
            ax.add_patch(
                plt.Rectangle(
                    (b.getMinX() - 0.5, b.getMinY() - 0.5),
                    b.getWidth(),
                    b.getHeight(),
                    fill=False,
                    lw=0.4,
                    ec="w",
                    alpha=0.5,
                )
            )
    save(fig, name)


def _ramps(boxes, fraction):
    """Ramp widths (left, right, bottom, top) of the 'weighted' windows: on each
    edge the largest overlap with a cell reaching beyond it, capped."""
    out = []
    for c in boxes:
        r = [0, 0, 0, 0]
        for n in boxes:
            if n == c or not n.overlaps(c):
                continue
            if n.getMinX() < c.getMinX():
                r[0] = max(r[0], min(n.getMaxX(), c.getMaxX()) - c.getMinX() + 1)
            if n.getMaxX() > c.getMaxX():
                r[1] = max(r[1], c.getMaxX() - max(n.getMinX(), c.getMinX()) + 1)
            if n.getMinY() < c.getMinY():
                r[2] = max(r[2], min(n.getMaxY(), c.getMaxY()) - c.getMinY() + 1)
            if n.getMaxY() > c.getMaxY():
                r[3] = max(r[3], c.getMaxY() - max(n.getMinY(), c.getMinY()) + 1)
        cx, cy = int(fraction * c.getWidth()), int(fraction * c.getHeight())
        out.append((min(r[0], cx), min(r[1], cx), min(r[2], cy), min(r[3], cy)))
    return out


def main():
    exp = sceneExposure()

    # Seam map: average vs weighted on a cell-dependent offset.
    outs = {}
    for op in ("average", "weighted"):
        task, res = run(config(OffsetMapper, op, border=0), exp)
        outs[op] = res.exposure.image.array - exp.image.array
    panels(
        [outs["average"], outs["weighted"]],
        ["average: cell offsets, steps at every cell edge", "weighted (cosine): seam-free"],
        "reduce-seam-map.png",
        cmap="magma",
        boxes=task.boxes0,
        vlim=(0, 10),
    )

    # The weight windows (returnWeights) of three cells and their sum.
    task, res = run(config(OffsetMapper, "weighted", border=0, returnWeights=True), exp)
    ramps = _ramps(task.boxes0, 0.5)
    prof = np.zeros((H, W))
    for b, r in list(zip(task.boxes0, ramps))[8:11]:
        tx, ty = np.arange(b.getWidth()), np.arange(b.getHeight())

        def ramp(t, w):
            return np.where(t < w, np.sin(np.pi / 2 * (t + 0.5) / max(w, 1)) ** 2, 1.0)

        win = np.outer(ramp(ty, r[2]) * ramp(ty[::-1], r[3]), ramp(tx, r[0]) * ramp(tx[::-1], r[1]))
        prof[b.slices(exp.getBBox())] += win
    panels(
        [prof, res.weights.array],
        ["three neighbouring cosine windows", "sum of all windows (returnWeights): 1"],
        "reduce-weighted-windows.png",
        vlim=(0, 1.05),
    )

    # owner vs copy with a mapper whose output rim is wrong.
    whole = ndimage.gaussian_filter(exp.image.array, 3.0, mode="constant", truncate=4)
    errs = []
    for op in ("copy", "owner"):
        _, res = run(config(ExpandedBlurMapper, op), exp)
        errs.append(np.abs(res.exposure.image.array - whole))
    panels(
        errs,
        [f"copy: |tiled - whole| (max {errs[0].max():.2g})", f"owner: (max {errs[1].max():.1g})"],
        "reduce-owner-vs-copy.png",
        cmap="magma",
        vlim=(0, max(1e-9, errs[0].max())),
    )

    # copy, sum, average, max, min of a noisy per-cell transform.
    arrays, titles = [], []
    for op in ("copy", "sum", "average", "max", "min"):
        _, res = run(config(NoisyCellMapper, op, border=0), exp)
        arrays.append(res.exposure.image.array)
        titles.append(op)
    panels(arrays, titles, "reduce-basic-ops.png")

    # mesh: per-cell medians interpolated (the Background2D pattern).
    arrays, titles = [exp.image.array], ["input"]
    for how in ("bilinear", "bicubic"):
        _, res = run(
            config(MedianMapper, "mesh", 40, 40, 10, meshInterpolation=how, returnWeights=False),
            exp,
        )
        arrays.append(res.exposure.image.array)
        titles.append(f"mesh ({how})")
    panels(arrays, titles, "reduce-mesh.png", vlim=(0, 5))

    # Edge halos: what the mapper sees at a corner cell.
    corner = exp[im.Box2I(im.Point2I(0, 0), im.Extent2I(40, 40))]
    from imagemapper.mapreduce._edges import padExposure

    target = im.Box2I(im.Point2I(-20, -20), im.Extent2I(60, 60))
    arrays = [np.pad(corner.image.array, ((20, 0), (20, 0)), constant_values=np.nan)]
    titles = ["clip (reference): no halo"]
    for mode in ("reflect", "nearest", "constant"):
        arrays.append(padExposure(corner, target, mode, 0.0).image.array)
        titles.append(mode)
    panels(arrays, titles, "reduce-edge-halos.png", vlim=(0, 8))


if __name__ == "__main__":
    main()
