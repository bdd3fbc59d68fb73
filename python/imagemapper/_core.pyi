"""Type stubs for the Rust extension ``imagemapper._core`` (written by hand)."""

from collections.abc import Sequence
from typing import Any, Literal, final, overload

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
    "Box2I",
    "Extent2I",
    "Point2D",
    "Point2I",
    "__version__",
    "_panic_for_tests",
    "blend_accumulate",
    "blend_finalize",
    "blend_init",
    "cell_ramps",
    "generate_grid",
    "map_reduce_gaussian",
    "mesh_bilinear",
    "stitch_accumulate",
    "stitch_finalize",
    "stitch_init",
]

@final
class Point2I:
    """An integer point ``(x, y)`` (``lsst.geom.Point2I``).

    ``Point2I()`` is ``(0, 0)``; ``Point2I(x, y)``; ``Point2I(other)`` takes a
    Point2I, an Extent2I or an ``(x, y)`` tuple. Immutable and hashable;
    ``point + extent`` and ``point - extent`` are points, ``point - point`` is
    an Extent2I, and arithmetic that leaves 32 bits raises ``OverflowError``.
    """

    def __new__(
        cls, x: int | Point2I | Extent2I | tuple[int, int] | None = None, y: int | None = None
    ) -> Point2I: ...
    @property
    def x(self) -> int:
        """The x coordinate."""
    @property
    def y(self) -> int:
        """The y coordinate."""
    def getX(self) -> int:
        """The x coordinate."""
    def getY(self) -> int:
        """The y coordinate."""
    def __len__(self) -> int: ...
    def __getitem__(self, i: int, /) -> int: ...
    def __add__(self, other: Extent2I, /) -> Point2I: ...
    def __radd__(self, other: Extent2I, /) -> Point2I: ...
    @overload
    def __sub__(self, other: Point2I, /) -> Extent2I: ...
    @overload
    def __sub__(self, other: Extent2I, /) -> Point2I: ...
    def __rsub__(self, other: Any, /) -> Any: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Point2D:
    """A floating-point point ``(x, y)`` (``lsst.geom.Point2D``).

    ``Point2D()`` is ``(0.0, 0.0)``; ``Point2D(x, y)``; ``Point2D(other)``
    takes a Point2D, a Point2I or an ``(x, y)`` tuple. Immutable.
    """

    def __new__(
        cls,
        x: float | Point2D | Point2I | tuple[float, float] | None = None,
        y: float | None = None,
    ) -> Point2D: ...
    @property
    def x(self) -> float:
        """The x coordinate."""
    @property
    def y(self) -> float:
        """The y coordinate."""
    def getX(self) -> float:
        """The x coordinate."""
    def getY(self) -> float:
        """The y coordinate."""
    def __len__(self) -> int: ...
    def __getitem__(self, i: int, /) -> float: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Extent2I:
    """An integer extent ``(x, y)``: a size or an offset (``lsst.geom.Extent2I``).

    ``Extent2I()`` is ``(0, 0)``; ``Extent2I(x, y)``; ``Extent2I(n)`` is
    ``(n, n)``; ``Extent2I(other)`` takes an Extent2I, a Point2I or an
    ``(x, y)`` tuple. Immutable and hashable; supports ``+``, ``-``, unary
    ``-`` and ``*`` by an integer, raising ``OverflowError`` past 32 bits.
    """

    def __new__(
        cls, x: int | Extent2I | Point2I | tuple[int, int] | None = None, y: int | None = None
    ) -> Extent2I: ...
    @property
    def x(self) -> int:
        """The size in x."""
    @property
    def y(self) -> int:
        """The size in y."""
    def getX(self) -> int:
        """The size in x."""
    def getY(self) -> int:
        """The size in y."""
    def __len__(self) -> int: ...
    def __getitem__(self, i: int, /) -> int: ...
    def __add__(self, other: Extent2I, /) -> Extent2I: ...
    def __radd__(self, other: Extent2I, /) -> Extent2I: ...
    def __sub__(self, other: Extent2I, /) -> Extent2I: ...
    def __rsub__(self, other: Extent2I, /) -> Extent2I: ...
    def __neg__(self) -> Extent2I: ...
    def __mul__(self, k: int, /) -> Extent2I: ...
    def __rmul__(self, k: int, /) -> Extent2I: ...
    def asPoint(self) -> Point2I:
        """The extent as a point."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

_PointLike = Point2I | tuple[int, int]
_ExtentLike = int | Extent2I | tuple[int, int]

@final
class Box2I:
    """An inclusive integer box (``lsst.geom.Box2I``).

    ``Box2I()`` is empty; ``Box2I(minimum, maximum, invert=True)``;
    ``Box2I(corner, dimensions, invert=True)``; ``Box2I(other)`` copies.
    ``grow``, ``shift``, ``clip`` and ``include`` change the box in place, as
    in LSST; ``dilatedBy``, ``erodedBy``, ``shiftedBy`` and ``clippedTo``
    return new boxes. Every empty box equals every other.
    """

    def __new__(
        cls,
        *args: Box2I | _PointLike | Extent2I,
        minimum: _PointLike | None = None,
        maximum: _PointLike | None = None,
        dimensions: Extent2I | None = None,
        invert: bool = True,
    ) -> Box2I: ...
    def getMin(self) -> Point2I:
        """The minimum (lower-left) corner."""
    def getMax(self) -> Point2I:
        """The maximum (upper-right) corner, inclusive."""
    def getBegin(self) -> Point2I:
        """The minimum corner (the start of a half-open range)."""
    def getEnd(self) -> Point2I:
        """One past the maximum corner (the end of a half-open range)."""
    def getMinX(self) -> int:
        """The smallest x inside the box."""
    def getMinY(self) -> int:
        """The smallest y inside the box."""
    def getMaxX(self) -> int:
        """The largest x inside the box."""
    def getMaxY(self) -> int:
        """The largest y inside the box."""
    def getBeginX(self) -> int:
        """The smallest x (as getMinX)."""
    def getBeginY(self) -> int:
        """The smallest y (as getMinY)."""
    def getEndX(self) -> int:
        """One past the largest x."""
    def getEndY(self) -> int:
        """One past the largest y."""
    def getWidth(self) -> int:
        """The number of columns (0 for an empty box)."""
    def getHeight(self) -> int:
        """The number of rows (0 for an empty box)."""
    def getDimensions(self) -> Extent2I:
        """``Extent2I(width, height)``."""
    def getArea(self) -> int:
        """The number of pixels, width × height."""
    def getCenter(self) -> Point2D:
        """The centre, ``((minX + maxX) / 2, (minY + maxY) / 2)``, as a Point2D."""
    def getCorners(self) -> list[Point2I]:
        """The four corners: (minX, minY), (maxX, minY), (maxX, maxY), (minX, maxY)."""
    def isEmpty(self) -> bool:
        """True for a box with no pixel."""
    @property
    def minX(self) -> int:
        """The smallest x inside the box."""
    @property
    def minY(self) -> int:
        """The smallest y inside the box."""
    @property
    def maxX(self) -> int:
        """The largest x inside the box."""
    @property
    def maxY(self) -> int:
        """The largest y inside the box."""
    @property
    def width(self) -> int:
        """The number of columns (0 for an empty box)."""
    @property
    def height(self) -> int:
        """The number of rows (0 for an empty box)."""
    @property
    def area(self) -> int:
        """The number of pixels, width × height."""
    @property
    def dimensions(self) -> Extent2I:
        """``Extent2I(width, height)``."""
    def contains(self, other: Box2I | _PointLike) -> bool:
        """True when the point, or every pixel of the box, is inside this box."""
    def overlaps(self, other: Box2I) -> bool:
        """True when the boxes share a pixel (never for empty boxes)."""
    def grow(self, buffer: _ExtentLike) -> None:
        """Grow in place by ``buffer`` (int or Extent2I) on every side."""
    def erode(self, buffer: _ExtentLike) -> None:
        """Shrink in place by ``buffer`` (int or Extent2I) on every side."""
    def shift(self, offset: _ExtentLike) -> None:
        """Move in place by ``offset``."""
    def clip(self, other: Box2I) -> None:
        """Shrink in place to the intersection with ``other`` (empty if disjoint)."""
    def include(self, other: Box2I | _PointLike) -> None:
        """Expand in place to include a point or a box."""
    def dilatedBy(self, buffer: _ExtentLike) -> Box2I:
        """A new box grown by ``buffer`` on every side."""
    def erodedBy(self, buffer: _ExtentLike) -> Box2I:
        """A new box shrunk by ``buffer`` on every side."""
    def shiftedBy(self, offset: _ExtentLike) -> Box2I:
        """A new box moved by ``offset``."""
    def clippedTo(self, other: Box2I) -> Box2I:
        """A new box: the intersection with ``other``."""
    def expandedTo(self, other: Box2I | _PointLike) -> Box2I:
        """A new box that also includes a point or a box."""
    def slices(self, parent: Box2I) -> tuple[slice, slice]:
        """The ``(slice_y, slice_x)`` of this box inside the array of ``parent``
        (numpy order ``[y, x]``). Raises ``ValueError`` when this box is not
        contained in ``parent``.
        """
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __copy__(self) -> Box2I: ...
    def __deepcopy__(self, memo: Any) -> Box2I: ...

def _panic_for_tests(message: str) -> None: ...
def generate_grid(
    bbox: Box2I,
    *,
    cell_size: tuple[float, float],
    grid_step: tuple[float, float],
    border_size: tuple[float, float],
    adjust: Literal["spacing", "size", "none"] = "spacing",
    centroids_x: Sequence[float] | None = None,
    centroids_y: Sequence[float] | None = None,
    fwhm_scale: float | None = None,
    force_even_sized: bool = False,
) -> tuple[list[Box2I], list[Box2I]]:
    """Generate the cells and expanded cells covering ``bbox``, exactly as LSST
    ``ImageMapReduceTask._generateGrid``.

    Parameters
    ----------
    bbox : Box2I
        The exposure's bounding box (not empty).
    cell_size, grid_step, border_size : tuple[float, float]
        ``(cellSizeX, cellSizeY)``, ``(gridStepX, gridStepY)`` and
        ``(borderSizeX, borderSizeY)``, in pixels (in FWHM units when
        ``fwhm_scale`` is given and the grid is generated).
    adjust : {"spacing", "size", "none"}
        ``adjustGridOption``.
    centroids_x, centroids_y : list[float], optional
        Explicit cell centres (``cellCentroidsX/Y``), relative to the
        exposure origin; both or neither, of the same length. Sizes are then
        only rounded (no FWHM scaling) and ``grid_step`` is unused.
    fwhm_scale : float, optional
        The PSF FWHM in pixels when ``scaleByFwhm``.
    force_even_sized : bool
        Grow every box to even dimensions (``forceEvenSized``).

    Returns
    -------
    tuple[list[Box2I], list[Box2I]]
        ``(boxes0, boxes1)``: the cells and the cells grown by the border,
        both clipped to ``bbox``.

    Raises
    ------
    ValueError
        For an invalid parameter (the message names it) or centroid lists of
        different lengths.
    RuntimeError
        When ``force_even_sized`` cannot make a box even-sized.
    """

_Float2D = npt.NDArray[np.float32] | npt.NDArray[np.float64]
_Int2D = npt.NDArray[np.int32]
_Op = str  # "copy", "sum" or "average" (ValueError otherwise)

def stitch_init(
    op: _Op,
    image: _Float2D,
    mask: _Int2D,
    variance: _Float2D,
    weights: _Int2D | None = None,
    n_threads: int = 0,
) -> None: ...
def stitch_accumulate(
    op: _Op,
    out_bbox: Box2I,
    image: _Float2D,
    mask: _Int2D,
    variance: _Float2D,
    weights: _Int2D | None,
    cells: Sequence[tuple[Box2I, npt.NDArray[Any], npt.NDArray[Any] | None, npt.NDArray[Any]]],
    n_threads: int = 0,
) -> None: ...
def stitch_finalize(
    op: _Op,
    image: _Float2D,
    mask: _Int2D,
    variance: _Float2D,
    weights: _Int2D | None,
    bad_bits: int,
    n_threads: int = 0,
) -> dict[str, int | float]: ...
def map_reduce_gaussian(
    sigma: float,
    op: _Op,
    bbox: Box2I,
    image: _Float2D,
    mask: _Int2D,
    variance: _Float2D,
    cells: list[Box2I],
    expanded: list[Box2I],
    out_image: _Float2D,
    out_mask: _Int2D,
    out_variance: _Float2D,
    weights: _Int2D | None,
    bad_bits: int,
    n_threads: int = 0,
) -> dict[str, int | float]:
    """Run the built-in Rust Gaussian-convolution mapper over the cells and
    stitch with ``op``, entirely in Rust (no Python per cell).

    ``cells``/``expanded`` are the grid's boxes; the input and output planes
    cover ``bbox``; the output mask should start as a copy of the input mask.
    Returns the stitching statistics (as ``stitch_finalize``).
    """

_BlendOp = Literal["weighted", "owner", "max", "min"]
_Window = Literal["linear", "cosine", "gaussian"]
_VariancePolicy = Literal["correlated", "independent"]
_Geom = tuple[tuple[int, int, int, int], tuple[float, float]]

def blend_init(
    op: _BlendOp,
    image: _Float2D,
    mask: _Int2D,
    variance: _Float2D,
    weights: npt.NDArray[np.float64] | None = None,
    n_threads: int = 0,
) -> None: ...
def blend_accumulate(
    op: _BlendOp,
    out_bbox: Box2I,
    image: _Float2D,
    mask: _Int2D,
    variance: _Float2D,
    weights: npt.NDArray[np.float64] | None,
    cells: list[tuple[Box2I, _Float2D, _Int2D | None, _Float2D]],
    geoms: Sequence[_Geom],
    window: _Window = "cosine",
    inverse_variance: bool = False,
    variance_policy: _VariancePolicy = "correlated",
    n_threads: int = 0,
) -> None: ...
def blend_finalize(
    op: _BlendOp,
    image: _Float2D,
    mask: _Int2D,
    variance: _Float2D,
    weights: npt.NDArray[np.float64] | None,
    bad_bits: int,
    variance_policy: _VariancePolicy = "correlated",
    n_threads: int = 0,
) -> dict[str, int | float]: ...
def cell_ramps(
    cells: Sequence[Box2I], max_fraction: float = 0.5
) -> list[tuple[int, int, int, int]]: ...
def mesh_bilinear(
    xs: Sequence[float],
    ys: Sequence[float],
    values: npt.NDArray[np.float64],
    bbox: Box2I,
    out: _Float2D,
    n_threads: int = 0,
) -> None:
    """Bilinear interpolation of ``values`` (float64, shape ``(len(ys),
    len(xs))``) given at the nodes ``xs`` × ``ys`` (parent pixel
    coordinates) into ``out`` (covering ``bbox``), constant beyond the
    outermost nodes.
    """
