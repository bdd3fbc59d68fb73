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
    "Reducer",
    "__version__",
    "_panic_for_tests",
    "cell_slices",
    "generate_grid",
    "map_reduce_gaussian",
    "mesh_bilinear",
    "reduce_operations",
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
def cell_slices(
    parent: Box2I, boxes0: Sequence[Box2I], boxes1: Sequence[Box2I]
) -> list[tuple[slice, slice, slice, slice] | None]:
    """The numpy slices of a chunk of cells inside the array of ``parent``, in
    one call: for each ``(box0, box1)`` (a cell and its expanded cell), the
    tuple ``(slice_y1, slice_x1, slice_y0, slice_x0)`` of the expanded cell
    and the cell, or ``None`` where ``box1`` is not inside ``parent`` or
    ``box0`` not inside ``box1`` (the caller reports that cell)."""

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
_Window = Literal["linear", "cosine", "gaussian"]
_VariancePolicy = Literal["correlated", "independent"]
_Cell = tuple[int, Box2I, npt.NDArray[Any], npt.NDArray[Any] | None, npt.NDArray[Any] | None]

def reduce_operations() -> list[str]:
    """The names of every stitching operation (``copy``, ``sum``, ``average``,
    ``weighted``, ``owner``, ``max``, ``min``, ``mesh``), parsed in one place."""

@final
class Reducer:
    """The reduce step: one output's planes, owned in Rust, filled cell batch by
    cell batch (in cell order) and finished once.

    Parameters
    ----------
    op : `str`
        A name from `reduce_operations` other than ``mesh`` (ValueError
        otherwise, naming the choices).
    bbox : `Box2I`
        The output box (its planes are allocated here; MemoryError when they
        cannot be).
    dtype : numpy dtype
        The pixel type: ``float32``, ``float64``, or an integer type
        ``int8`` ... ``uint64`` (image-only, no ``weighted``: ValueError
        otherwise); TypeError for another dtype. Integer pixels are exact:
        ``copy``, ``owner``, ``max`` and ``min`` move values unchanged,
        ``sum`` wraps around as numpy's integer ``add`` does, ``average`` is
        the exact mean rounded to the nearest integer (ties to even), and a
        pixel no cell reached is 0 (counted in ``n_uncovered``).
    full_bbox : `Box2I`, optional
        The box every cell must lie in (default ``bbox``); a band of an
        out-of-core output is a ``bbox`` inside it.
    mask : int32 array, optional
        The starting output mask (copied), of ``bbox``'s shape; without it the
        output has no mask plane and cells' masks are ignored.
    variance : `bool`
        False for the image-only mode: no variance plane, and every value a
        cell gives is used as it is (NaN, ±inf and -0.0 included).
    grid : list of `Box2I`, optional
        The grid's cells: ``weighted`` ramps and ``owner`` centres come from
        them (a cell index beyond the grid uses its own box, no ramps).
    window, inverse_variance, variance_policy, max_ramp_fraction
        The parameters of ``weighted``.
    n_threads : `int`
        Threads (0: every core); the result is the same bits for any count.
    """

    def __new__(
        cls,
        op: str,
        bbox: Box2I,
        dtype: Any,
        *,
        full_bbox: Box2I | None = None,
        mask: _Int2D | None = None,
        variance: bool = True,
        grid: Sequence[Box2I] | None = None,
        window: _Window = "cosine",
        inverse_variance: bool = False,
        variance_policy: _VariancePolicy = "correlated",
        max_ramp_fraction: float = 0.5,
        n_threads: int = 0,
    ) -> Reducer: ...
    def band(
        self, bbox: Box2I, mask: _Int2D | None = None, n_threads: int | None = None
    ) -> Reducer:
        """A reducer for another box of the same output (same operation,
        parameters and grid geometry): one band of an out-of-core output."""
    def add(self, cells: Sequence[_Cell]) -> None:
        """Stitch ``(index, bbox, image, mask or None, variance or None)`` cells,
        in the order given. Planes of another real dtype are converted as
        numpy's ``astype`` does (an integer reducer takes integer and bool
        planes only: TypeError for a float plane); a cell outside
        ``full_bbox`` or with a plane of the wrong shape raises ValueError
        naming the cell, and nothing is written then."""
    def add_results(self, results: Sequence[tuple[int, Any]]) -> list[Any]:
        """Stitch mapper results ``(index, Struct(subExposure=Exposure))``
        (planes read without copying); TypeError naming the cell for a result
        without an `Exposure`. Returns the results' ``subExposure`` objects."""
    def add_batch(
        self,
        indices: Sequence[int],
        bboxes: Sequence[Box2I],
        image: npt.NDArray[Any],
        mask: npt.NDArray[Any] | None,
        variance: npt.NDArray[Any] | None,
        origin: tuple[int, int] | None = None,
    ) -> None:
        """Stitch equal-shape cells given as stacks of shape ``(n, h, w)``
        (cell ``k`` is ``indices[k]`` over ``bboxes[k]``), with the checks and
        messages of `add`. A plane given as a 2-D array instead is the plane
        the cells were cut from, whose pixel ``[0, 0]`` is at ``origin``
        ``(x0, y0)`` (parent coordinates): each cell reads its box from it,
        so a plane the mapper left untouched needs no stack."""
    def add_failed(self, boxes: Sequence[Box2I]) -> None:
        """Record cells whose mapper failed: `finish` flags every output pixel
        in their boxes."""
    def finish(self, bad_bits: int) -> dict[str, int | float]:
        """Normalise (``average``, ``weighted``), OR ``bad_bits`` into every
        pixel with no valid value or in a failed cell, and return ``n_bad``
        (pixels flagged), ``n_uncovered``, ``min_weight``, ``max_weight``,
        ``mean_weight`` and ``n_zero_weight``."""
    def take(
        self,
    ) -> tuple[
        npt.NDArray[Any],
        _Int2D | None,
        _Float2D | None,
        _Int2D | npt.NDArray[np.float64] | None,
    ]:
        """Hand the planes over to numpy, without copying: ``(image, mask,
        variance, weights)``; ``weights`` is the count of valid contributions
        (``average``) or the summed window weights (``weighted``)."""
    @property
    def op(self) -> str:
        """The operation's name."""
    @property
    def bbox(self) -> Box2I:
        """The output box."""
    @property
    def dtype(self) -> str:
        """The pixel type: ``"float32"``, ``"float64"`` or an integer type
        (``"int8"`` ... ``"uint64"``)."""

def map_reduce_gaussian(
    sigma: float,
    reducer: Reducer,
    image: _Float2D,
    mask: _Int2D,
    variance: _Float2D,
    cells: list[Box2I],
    expanded: list[Box2I],
    bad_bits: int,
) -> dict[str, int | float]:
    """Run the built-in Rust Gaussian mapper over the cells and stitch into
    ``reducer`` (finishing it), all in Rust; returns `Reducer.finish`'s
    statistics."""

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
