"""Plotting helpers (matplotlib is an optional extra: ``imagemapper[plot]``)."""

from __future__ import annotations

__all__ = ["plotBoxes", "plotImage"]

from collections.abc import Sequence
from typing import Any

from ._core import Box2I


def _matplotlib() -> Any:
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in (
            "agg",
            "pdf",
            "svg",
            "module://matplotlib_inline.backend_inline",
        ):
            import os

            if not os.environ.get("DISPLAY"):
                matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'imagemapper[plot]'") from err
    return plt


def plotBoxes(
    boxes0: Sequence[Box2I],
    boxes1: Sequence[Box2I],
    fullBBox: Box2I,
    skip: int = 3,
    *,
    image: Any = None,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Draw every ``skip``-th cell (solid) and its expanded cell (dashed).

    Parameters
    ----------
    boxes0, boxes1 : sequence of `Box2I`
        Cells and expanded cells (``task.boxes0``, ``task.boxes1``).
    fullBBox : `Box2I`
        The exposure's box; sets the axis limits.
    skip : `int`
        Draw one cell in ``skip`` (a dense grid is unreadable otherwise).
    image : `numpy.ndarray`, optional
        An image to show underneath (array of ``fullBBox``'s shape).
    ax : `matplotlib.axes.Axes`, optional
        Axes to draw into; a new figure is made otherwise.
    title : `str`, optional
        The axes title.

    Returns
    -------
    figure : `matplotlib.figure.Figure`
    """
    if skip < 1:
        raise ValueError(f"skip must be a positive integer, got {skip}")
    plt = _matplotlib()
    from matplotlib.patches import Rectangle

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 7))
    else:
        fig = ax.figure
    x0, y0 = fullBBox.getMinX(), fullBBox.getMinY()
    if image is not None:
        import numpy as np

        finite = np.asarray(image)[np.isfinite(image)]
        lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0, 1)
        ax.imshow(
            image,
            origin="lower",
            cmap="gray",
            vmin=lo,
            vmax=hi,
            extent=(x0 - 0.5, fullBBox.getMaxX() + 0.5, y0 - 0.5, fullBBox.getMaxY() + 0.5),
        )
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for n, i in enumerate(range(0, len(boxes0), skip)):
        color = colors[n % len(colors)]
        for box, style in ((boxes0[i], "-"), (boxes1[i], "--")):
            ax.add_patch(
                Rectangle(
                    (box.getMinX() - 0.5, box.getMinY() - 0.5),
                    box.getWidth(),
                    box.getHeight(),
                    fill=False,
                    edgecolor=color,
                    linestyle=style,
                    linewidth=1.0,
                )
            )
    ax.set_xlim(x0 - 0.5, fullBBox.getMaxX() + 0.5)
    ax.set_ylim(y0 - 0.5, fullBBox.getMaxY() + 0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("x (parent pixels)")
    ax.set_ylabel("y (parent pixels)")
    ax.set_title(title or _boxesTitle(len(boxes0), skip))
    return fig


def _ordinal(n: int) -> str:
    """``2nd``, ``3rd``, ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _boxesTitle(n: int, skip: int) -> str:
    """The default title of `plotBoxes`."""
    shown = "all shown" if skip == 1 else f"every {_ordinal(skip)} shown"
    return f"{n} cells, {shown} (solid: cell; dashed: with border)"


def plotImage(
    image: Any,
    fullBBox: Box2I | None = None,
    *,
    ax: Any = None,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Any:
    """Show an image (grey scale, origin lower left) in parent coordinates.

    Parameters
    ----------
    image : `numpy.ndarray`
        The pixels ``[y, x]``; may be a binned preview of ``fullBBox``.
    fullBBox : `Box2I`, optional
        The box the image covers (sets the axis extent); default the array's
        own pixel grid.
    ax : `matplotlib.axes.Axes`, optional
        Axes to draw into; a new figure is made otherwise.
    title : `str`, optional
        The axes title.
    vmin, vmax : `float`, optional
        Display range; default the 1st and 99.5th percentiles of the finite pixels.

    Returns
    -------
    figure : `matplotlib.figure.Figure`
    """
    import numpy as np

    plt = _matplotlib()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 7))
    else:
        fig = ax.figure
    array = np.asarray(image)
    if vmin is None or vmax is None:
        finite = array[np.isfinite(array)]
        lo, hi = np.percentile(finite, [1.0, 99.5]) if finite.size else (0.0, 1.0)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    if fullBBox is None:
        extent = (-0.5, array.shape[1] - 0.5, -0.5, array.shape[0] - 0.5)
    else:
        extent = (
            fullBBox.getMinX() - 0.5,
            fullBBox.getMaxX() + 0.5,
            fullBBox.getMinY() - 0.5,
            fullBBox.getMaxY() + 0.5,
        )
    ax.imshow(array, origin="lower", cmap="gray", vmin=vmin, vmax=vmax, extent=extent)
    ax.set_xlabel("x (parent pixels)")
    ax.set_ylabel("y (parent pixels)")
    if title:
        ax.set_title(title)
    return fig
