"""Plotting helpers (matplotlib is an optional extra: ``imagemapper[plot]``)."""

from __future__ import annotations

__all__ = ["imageNorm", "plotBoxes", "plotImage"]

from collections.abc import Sequence
from typing import Any

from .._core import Box2I, Point2I


def matplotlibPyplot() -> Any:
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


#: ``stretch`` names and their astropy.visualization classes.
_STRETCHES = {
    "linear": "LinearStretch",
    "sqrt": "SqrtStretch",
    "asinh": "AsinhStretch",
    "log": "LogStretch",
}


def imageNorm(
    array: Any,
    stretch: str = "asinh",
    percentiles: tuple[float, float] = (1.0, 99.8),
    vmin: float | None = None,
    vmax: float | None = None,
) -> tuple[Any, str]:
    """An `astropy.visualization.ImageNormalize` and the words that state it.

    Parameters
    ----------
    array : `numpy.ndarray`
        The pixels (non-finite ones are ignored).
    stretch : `str`
        ``linear``, ``sqrt``, ``asinh`` (default) or ``log``.
    percentiles : pair of `float`
        The pixel percentiles mapped to black and white (astropy's
        ``AsymmetricPercentileInterval``), unless ``vmin``/``vmax`` are given.
        The default (1, 99.8) puts the sky a little above black.
    vmin, vmax : `float`, optional
        A fixed range instead (``ManualInterval``).

    Returns
    -------
    norm : `astropy.visualization.ImageNormalize`
    label : `str`
        E.g. ``"asinh stretch, 1-99.8 percentile range"``, for a colour-bar label.
    """
    import numpy as np
    from astropy import visualization as vis

    if stretch not in _STRETCHES:
        raise ValueError(f"stretch must be one of {sorted(_STRETCHES)}, not {stretch!r}")
    data = np.asarray(array)
    finite = data[np.isfinite(data)]
    if vmin is not None and vmax is not None:
        interval: Any = vis.ManualInterval(vmin, vmax)
        words = f"range {vmin:.4g} to {vmax:.4g}"
    else:
        interval = vis.AsymmetricPercentileInterval(*percentiles)
        words = f"{percentiles[0]:g}-{percentiles[1]:g} percentile range"
    norm = vis.ImageNormalize(
        finite if finite.size else np.zeros(1),
        interval=interval,
        stretch=getattr(vis, _STRETCHES[stretch])(),
        clip=True,
    )
    return norm, f"{stretch} stretch, {words}"


def _colorbar(fig: Any, shown: Any, ax: Any, norm: Any, label: str) -> None:
    """A colour bar with ticks evenly spaced in the stretched scale (so that a
    non-linear stretch does not pile its labels up at one end)."""
    import numpy as np

    bar = fig.colorbar(shown, ax=ax, shrink=0.8, label=label)
    ticks = np.asarray(norm.inverse(np.linspace(0.0, 1.0, 6)), dtype=float).ravel()
    bar.set_ticks(ticks)
    bar.set_ticklabels([f"{t:.4g}" for t in ticks])


def plotBoxes(
    boxes0: Sequence[Box2I],
    boxes1: Sequence[Box2I],
    fullBBox: Box2I,
    skip: int = 3,
    *,
    image: Any = None,
    ax: Any = None,
    title: str | None = None,
    region: Box2I | None = None,
    stretch: str = "asinh",
    annotate: bool = False,
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
        An image to show underneath (array covering ``fullBBox``; it may be
        a binned preview).
    ax : `matplotlib.axes.Axes`, optional
        Axes to draw into; a new figure is made otherwise.
    title : `str`, optional
        The axes title.
    region : `Box2I`, optional
        Show only this part of ``fullBBox`` (a zoom in which cells and
        borders can be told apart); every cell overlapping it is drawn.
    stretch : `str`, optional
        Stretch of the image (see `imageNorm`); a colour bar states it.
    annotate : `bool`, optional
        Write each drawn cell's index at its centre.

    Returns
    -------
    figure : `matplotlib.figure.Figure`
    """
    if skip < 1:
        raise ValueError(f"skip must be a positive integer, got {skip}")
    plt = matplotlibPyplot()
    from matplotlib.patches import Rectangle

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 7))
    else:
        fig = ax.figure
    x0, y0 = fullBBox.getMinX(), fullBBox.getMinY()
    view = fullBBox if region is None else region
    if image is not None:
        norm, words = imageNorm(image, stretch)
        shown = ax.imshow(
            image,
            origin="lower",
            cmap="gray",
            norm=norm,
            extent=(x0 - 0.5, fullBBox.getMaxX() + 0.5, y0 - 0.5, fullBBox.getMaxY() + 0.5),
        )
        _colorbar(fig, shown, ax, norm, f"pixel value ({words})")
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for n, i in enumerate(range(0, len(boxes0), skip)):
        if not boxes1[i].overlaps(view):
            continue
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
                    linewidth=1.5 if region is not None else 1.0,
                )
            )
        c = boxes0[i].getCenter()
        if annotate and view.contains(Point2I(round(c.getX()), round(c.getY()))):
            ax.text(
                c.getX(),
                c.getY(),
                f"cell {i}",
                color=color,
                ha="center",
                va="center",
                weight="bold",
            )
    ax.set_xlim(view.getMinX() - 0.5, view.getMaxX() + 0.5)
    ax.set_ylim(view.getMinY() - 0.5, view.getMaxY() + 0.5)
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
    stretch: str = "asinh",
    percentiles: tuple[float, float] = (1.0, 99.8),
    colorbar: str | None = "pixel value",
) -> Any:
    """Show an image (grey scale, origin lower left) in parent coordinates, with a colour bar.

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
        Display range; default the ``percentiles`` of the finite pixels.
    stretch : `str`, optional
        ``linear``, ``sqrt``, ``asinh`` (default) or ``log`` (`imageNorm`).
    percentiles : pair of `float`, optional
        The pixel percentiles shown as black and white (default 1 and 99.8).
    colorbar : `str` or `None`, optional
        Label of a colour bar (the stretch is appended); `None`: no bar.

    Returns
    -------
    figure : `matplotlib.figure.Figure`
    """
    import numpy as np

    plt = matplotlibPyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 7))
    else:
        fig = ax.figure
    array = np.asarray(image)
    norm, words = imageNorm(array, stretch, percentiles, vmin, vmax)
    if fullBBox is None:
        extent = (-0.5, array.shape[1] - 0.5, -0.5, array.shape[0] - 0.5)
    else:
        extent = (
            fullBBox.getMinX() - 0.5,
            fullBBox.getMaxX() + 0.5,
            fullBBox.getMinY() - 0.5,
            fullBBox.getMaxY() + 0.5,
        )
    shown = ax.imshow(array, origin="lower", cmap="gray", norm=norm, extent=extent)
    if colorbar is not None:
        _colorbar(fig, shown, ax, norm, f"{colorbar} ({words})")
    ax.set_xlabel("x (parent pixels)")
    ax.set_ylabel("y (parent pixels)")
    if title:
        ax.set_title(title)
    return fig
