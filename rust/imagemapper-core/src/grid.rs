//! The cell grid of `ImageMapReduceTask`: the list of cells (`boxes0`) and of
//! cells grown by a border (`boxes1`) that cover an exposure.
//!
//! [`generate_grid`] reproduces the grid of LSST's
//! `ImageMapReduceTask._generateGrid` box for box, including its numpy
//! arithmetic:
//!
//! * sizes and steps are rounded half-to-even (numpy `rint`);
//! * `//` is floor division;
//! * the `spacing` centres are `numpy.linspace(start, stop, n)` evaluated in
//!   float64 exactly as numpy does (`i * step + start`, the last value set to
//!   `stop`), and each centre is then floored, so the boxes agree with numpy
//!   to the last pixel;
//! * the `size` and `none` centres are `numpy.arange(start, stop, step)` on
//!   integers (`stop` excluded).
//!
//! Grid centres are relative to the exposure's origin (`bbox.begin()`), while
//! explicit centroids are added to it as given: both are offsets applied to a
//! template cell that starts at `bbox.begin()`.
//!
//! Internally every box is computed in 64-bit integers and only the final
//! boxes, which are clipped to the exposure box, are converted to [`Box2I`];
//! no intermediate box can overflow.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::geom::{Box2I, Point2I};

/// How the grid is fitted to the exposure (LSST `adjustGridOption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustGrid {
    /// Keep the cell size; spread `W // cellSize + 1` centres evenly from
    /// `cellSize // 2` to `W - cellSize // 2` (`numpy.linspace`). As in LSST,
    /// a cell size equal to an even `W` gives two identical centres.
    Spacing,
    /// Cells as large as the grid step (plus one pixel so that neighbouring
    /// cells leave no gap), centred every `gridStep` pixels.
    Size,
    /// Keep both: cells of `cellSize` centred every `gridStep` pixels from
    /// `cellSize // 2`.
    None,
}

impl AdjustGrid {
    /// The configuration spelling: `"spacing"`, `"size"` or `"none"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            AdjustGrid::Spacing => "spacing",
            AdjustGrid::Size => "size",
            AdjustGrid::None => "none",
        }
    }
}

impl fmt::Display for AdjustGrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AdjustGrid {
    type Err = Error;

    /// Parse `"spacing"`, `"size"` or `"none"` (case-sensitive, as the LSST
    /// `ChoiceField`).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "spacing" => Ok(AdjustGrid::Spacing),
            "size" => Ok(AdjustGrid::Size),
            "none" => Ok(AdjustGrid::None),
            _ => Err(Error::InvalidValue(format!(
                "adjustGridOption = {s:?} is not a valid option; expected one of \"spacing\", \"size\", \"none\""
            ))),
        }
    }
}

/// The grid configuration (the LSST `ImageMapReduceConfig` grid fields plus
/// the run-time `forceEvenSized` flag). All pairs are `[x, y]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GridSpec {
    /// `cellSizeX/Y`: cell dimensions in pixels (or in FWHM units when
    /// `fwhm_scale` is set and the grid is generated).
    pub cell_size: [f64; 2],
    /// `gridStepX/Y`: distance between cell centres (`none`) or the cell size
    /// (`size`); unused by `spacing` apart from validation, and by explicit
    /// centroids.
    pub grid_step: [f64; 2],
    /// `borderSizeX/Y`: how far each expanded cell extends past its cell on
    /// every side; at least 0.
    pub border_size: [f64; 2],
    /// `adjustGridOption`.
    pub adjust: AdjustGrid,
    /// `(cellCentroidsX[i], cellCentroidsY[i])`: explicit cell centres,
    /// relative to the exposure origin. Empty: generate the grid.
    pub centroids: Vec<(f64, f64)>,
    /// `Some(fwhm)` when `scaleByFwhm`: sizes, steps and borders of a
    /// generated grid are multiplied by the PSF FWHM (in pixels) before
    /// rounding. Ignored (not even validated) with explicit centroids, as in
    /// LSST.
    pub fwhm_scale: Option<f64>,
    /// `forceEvenSized`: grow every clipped box by one pixel where needed so
    /// that both its dimensions are even.
    pub force_even_sized: bool,
}

impl GridSpec {
    /// A generated-grid specification with no FWHM scaling, no explicit
    /// centroids and `force_even_sized = false`.
    pub fn new(
        cell_size: [f64; 2],
        grid_step: [f64; 2],
        border_size: [f64; 2],
        adjust: AdjustGrid,
    ) -> Self {
        Self {
            cell_size,
            grid_step,
            border_size,
            adjust,
            centroids: Vec::new(),
            fwhm_scale: None,
            force_even_sized: false,
        }
    }
}

/// The generated grid: `cells[i]` (LSST `boxes0`) is inside `expanded[i]`
/// (`boxes1`); both lists have the same length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grid {
    /// The cells (`boxes0`), clipped to the exposure box.
    pub cells: Vec<Box2I>,
    /// The cells grown by the border (`boxes1`), clipped to the exposure box.
    pub expanded: Vec<Box2I>,
}

impl Grid {
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }
    /// True when no cell was kept.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// An inclusive box in 64-bit coordinates; empty boxes are all
/// [`Rect::EMPTY`] (dimensions `(0, 0)`, as `Box2I`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
}

impl Rect {
    const EMPTY: Rect = Rect {
        x0: 0,
        y0: 0,
        x1: -1,
        y1: -1,
    };

    fn new(x0: i64, y0: i64, x1: i64, y1: i64) -> Rect {
        if x1 < x0 || y1 < y0 {
            Rect::EMPTY
        } else {
            Rect { x0, y0, x1, y1 }
        }
    }

    fn from_box(b: &Box2I) -> Rect {
        if b.is_empty() {
            return Rect::EMPTY;
        }
        // min + dims - 1 in 64 bits: `Box2I::max_x` adds in 32 bits, which
        // overflows for a box that ends at `i32::MAX`.
        let (x0, y0) = (i64::from(b.min_x()), i64::from(b.min_y()));
        let d = b.dimensions();
        Rect::new(x0, y0, x0 + i64::from(d.x) - 1, y0 + i64::from(d.y) - 1)
    }

    /// `Box2I(corner, Extent2I(w, h), invert=True)`.
    fn from_corner_dims(x: i64, y: i64, w: i64, h: i64) -> Rect {
        fn span(c: i64, d: i64) -> (i64, i64) {
            if d > 0 {
                (c, c + d - 1)
            } else {
                (c + d + 1, c)
            }
        }
        if w == 0 || h == 0 {
            return Rect::EMPTY;
        }
        let (x0, x1) = span(x, w);
        let (y0, y1) = span(y, h);
        Rect::new(x0, y0, x1, y1)
    }

    fn is_empty(&self) -> bool {
        self.x1 < self.x0 || self.y1 < self.y0
    }
    fn width(&self) -> i64 {
        if self.is_empty() {
            0
        } else {
            self.x1 - self.x0 + 1
        }
    }
    fn height(&self) -> i64 {
        if self.is_empty() {
            0
        } else {
            self.y1 - self.y0 + 1
        }
    }
    fn area(&self) -> i64 {
        self.width() * self.height()
    }
    /// `grow(Extent2I(bx, by))`; an empty box stays empty.
    fn grown(&self, bx: i64, by: i64) -> Rect {
        if self.is_empty() {
            return Rect::EMPTY;
        }
        Rect::new(self.x0 - bx, self.y0 - by, self.x1 + bx, self.y1 + by)
    }
    /// `shift(Extent2I(dx, dy))`; an empty box stays empty.
    fn shifted(&self, dx: i64, dy: i64) -> Rect {
        if self.is_empty() {
            return Rect::EMPTY;
        }
        Rect::new(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)
    }
    /// `clip(other)`: the intersection (empty if either is empty).
    fn clipped(&self, other: &Rect) -> Rect {
        if self.is_empty() || other.is_empty() {
            return Rect::EMPTY;
        }
        Rect::new(
            self.x0.max(other.x0),
            self.y0.max(other.y0),
            self.x1.min(other.x1),
            self.y1.min(other.y1),
        )
    }
    /// `include(Point2I(x, y))`.
    fn including(&self, x: i64, y: i64) -> Rect {
        if self.is_empty() {
            return Rect::new(x, y, x, y);
        }
        Rect::new(
            self.x0.min(x),
            self.y0.min(y),
            self.x1.max(x),
            self.y1.max(y),
        )
    }

    fn to_box(self) -> Result<Box2I> {
        if self.is_empty() {
            return Ok(Box2I::EMPTY);
        }
        let conv = |v: i64| {
            i32::try_from(v).map_err(|_| {
                Error::Runtime(format!(
                    "grid box corner {v} does not fit in a 32-bit integer"
                ))
            })
        };
        Box2I::from_min_max(
            Point2I::new(conv(self.x0)?, conv(self.y0)?),
            Point2I::new(conv(self.x1)?, conv(self.y1)?),
            false,
        )
    }
}

impl fmt::Display for Rect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return write!(f, "Box2I()");
        }
        write!(
            f,
            "Box2I(minimum=({}, {}), dimensions=({}, {}))",
            self.x0,
            self.y0,
            self.width(),
            self.height()
        )
    }
}

/// LSST `_makeBoxEvenSized`: grow an odd dimension by one pixel to the right
/// (up), or if the exposure edge prevents that, to the left (down), clipping
/// to the exposure box each time.
fn make_even_sized(bb: Rect, bbox: &Rect) -> Result<Rect> {
    let mut b = bb;
    if b.width() % 2 == 1 {
        b = b.including(b.x1 + 1, b.y1).clipped(bbox);
        if b.width() % 2 == 1 {
            b = b.including(b.x0 - 1, b.y1).clipped(bbox);
        }
    }
    if b.height() % 2 == 1 {
        b = b.including(b.x1, b.y1 + 1).clipped(bbox);
        if b.height() % 2 == 1 {
            b = b.including(b.x1, b.y0 - 1).clipped(bbox);
        }
    }
    if b.width() % 2 == 1 || b.height() % 2 == 1 {
        return Err(Error::Runtime(format!(
            "Cannot make bounding box {bb} even-sized inside the exposure box {bbox} \
             (it became {b}); the cell is probably as large as an odd-sized exposure"
        )));
    }
    Ok(b)
}

const AXIS: [char; 2] = ['X', 'Y'];

fn check_finite(name: &str, axis: char, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidValue(format!(
            "{name}{axis} = {v:?} is not finite; expected a finite number of pixels"
        )))
    }
}

/// A config value in pixels: `rint(value * fwhm)` (or `rint(value)`), which
/// must fit in 32 bits and, when `min_one`, be at least 1.
fn to_pixels(name: &str, axis: char, value: f64, fwhm: Option<f64>, min_one: bool) -> Result<i64> {
    let (scaled, what) = match fwhm {
        Some(f) => (value * f, format!("{name}{axis} = {value:?} x FWHM {f:?}")),
        None => (value, format!("{name}{axis} = {value:?}")),
    };
    let r = scaled.round_ties_even();
    if !r.is_finite() || r < f64::from(i32::MIN) || r > f64::from(i32::MAX) {
        return Err(Error::InvalidValue(format!(
            "{what} rounds to {r:?} pixels, which does not fit in a 32-bit integer"
        )));
    }
    // In range and integral: the cast is exact.
    let px = r as i64;
    if min_one && px < 1 {
        return Err(Error::InvalidValue(format!(
            "{what} rounds to {px} pixels; expected at least 1"
        )));
    }
    Ok(px)
}

/// `numpy.linspace(start, stop, n)` on integer end points, evaluated in
/// float64 as numpy does, each value floored.
fn linspace_floor(start: i64, stop: i64, n: i64) -> Vec<i64> {
    let (a, b) = (start as f64, stop as f64);
    if n <= 1 {
        return if n == 1 { vec![start] } else { Vec::new() };
    }
    let step = (b - a) / (n - 1) as f64;
    (0..n)
        .map(|i| {
            let v = if i == n - 1 { b } else { i as f64 * step + a };
            v.floor() as i64
        })
        .collect()
}

/// `numpy.arange(start, stop, step)` on integers (`step >= 1`).
fn arange(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let step = step.max(1);
    let mut out = Vec::new();
    let mut v = start;
    while v < stop {
        out.push(v);
        v += step;
    }
    out
}

/// The most cells a generated grid may have (2^26, about 67 million): the
/// boxes of such a grid already take 2 GiB, and larger requests come from a
/// cell size or step far too small for the image.
pub const MAX_CELLS: u64 = 1 << 26;

/// How many centres [`axis_centres`] gives on one axis, computed without
/// building them (`extent`, `cell`, `step` >= 1 where used).
fn axis_count(extent: i64, cell: i64, step: i64, adjust: AdjustGrid) -> u64 {
    let n = match adjust {
        AdjustGrid::Spacing => extent.div_euclid(cell.max(1)) + 1,
        // arange(half, extent + half, step): ceil(extent / step) values.
        AdjustGrid::Size | AdjustGrid::None => (extent + step.max(1) - 1).div_euclid(step.max(1)),
    };
    u64::try_from(n.max(0)).unwrap_or(0)
}

/// The floored grid centres of one axis and the (possibly adjusted) cell size.
fn axis_centres(extent: i64, cell: i64, step: i64, adjust: AdjustGrid) -> (Vec<i64>, i64) {
    match adjust {
        AdjustGrid::Spacing => {
            let n = extent.div_euclid(cell) + 1;
            let half = cell.div_euclid(2);
            (linspace_floor(half, extent - half, n), cell)
        }
        AdjustGrid::Size => {
            let half = step.div_euclid(2);
            (arange(half, extent + half, step), step + 1)
        }
        AdjustGrid::None => {
            let half = cell.div_euclid(2);
            (arange(half, extent + half, step), cell)
        }
    }
}

/// A floored centroid coordinate, checked to be finite and within reach of
/// 32-bit pixel coordinates.
fn floor_centroid(axis: char, i: usize, v: f64) -> Result<i64> {
    if !v.is_finite() {
        return Err(Error::InvalidValue(format!(
            "cellCentroids{axis}[{i}] = {v:?} is not finite; expected a pixel coordinate"
        )));
    }
    let f = v.floor();
    // 2^33 is well past any offset a 32-bit box can use; beyond it LSST's
    // Extent2I would overflow.
    const LIMIT: f64 = 8_589_934_592.0;
    if f.abs() > LIMIT {
        return Err(Error::InvalidValue(format!(
            "cellCentroids{axis}[{i}] = {v:?} is out of range; expected a pixel coordinate \
             within 32-bit integers"
        )));
    }
    Ok(f as i64)
}

/// Generate the cells (`boxes0`) and expanded cells (`boxes1`) covering
/// `bbox`, exactly as LSST `ImageMapReduceTask._generateGrid`.
///
/// With `W`, `H` the width and height of `bbox`:
///
/// 1. With explicit `centroids`, the cell and border sizes are the config
///    values rounded half-to-even, without FWHM scaling.
/// 2. Otherwise sizes and steps are multiplied by `fwhm_scale` (when set) and
///    rounded half-to-even; the centres of each axis follow `adjust` (see
///    [`AdjustGrid`]) and the centroids are all pairs, x-major (for each x
///    centre, every y centre).
/// 3. The template cell starts at `bbox.begin()` with dimensions
///    `(cellX, cellY)` (a zero dimension gives an empty box, a negative one
///    is inverted); the template expanded cell is that box grown by
///    `(borderX, borderY)`.
/// 4. For each centroid `(x, y)`, both templates are shifted by
///    `(floor(x) - cellWidth // 2, floor(y) - cellHeight // 2)` and clipped
///    to `bbox`; with `force_even_sized` each is then grown to even
///    dimensions (right, else left; up, else down; clipping each time). The
///    pair is kept when both boxes have an area greater than 1 pixel.
///
/// # Errors
/// * [`Error::InvalidValue`] for an empty `bbox`; a non-finite size, step or
///   border; a negative border; in a generated grid, a grid step (or, for
///   `spacing` and `none`, a cell size) that rounds to less than 1 pixel, or a
///   non-finite or non-positive `fwhm_scale`; a rounded value outside 32 bits;
///   a non-finite or far out-of-range centroid.
/// * [`Error::Runtime`] when `force_even_sized` cannot make a box even-sized
///   (an odd-sized exposure dimension entirely covered by the box).
///
/// # Examples
/// ```
/// use imagemapper_core::geom::{Box2I, Point2I};
/// use imagemapper_core::grid::{generate_grid, AdjustGrid, GridSpec};
///
/// let bbox = Box2I::from_min_max(Point2I::new(0, 0), Point2I::new(9, 9), true).unwrap();
/// let spec = GridSpec::new([4.0, 20.0], [4.0, 4.0], [1.0, 0.0], AdjustGrid::Spacing);
/// let grid = generate_grid(&bbox, &spec).unwrap();
/// // x centres: linspace(2, 8, 10 // 4 + 1 = 3) = [2, 5, 8]; y: linspace(10, 0, 1) = [10].
/// assert_eq!(grid.len(), 3);
/// let bx = |x0, y0, x1, y1| Box2I::from_min_max(Point2I::new(x0, y0), Point2I::new(x1, y1), true).unwrap();
/// assert_eq!(grid.cells[1], bx(3, 0, 6, 9));
/// assert_eq!(grid.expanded[1], bx(2, 0, 7, 9));
///
/// // LSST quirk, kept: with "spacing", a cell exactly as large as the image
/// // gives linspace(5, 5, 2), i.e. every cell twice.
/// let spec = GridSpec::new([10.0, 10.0], [1.0, 1.0], [0.0, 0.0], AdjustGrid::Spacing);
/// assert_eq!(generate_grid(&bbox, &spec).unwrap().cells, vec![bx(0, 0, 9, 9); 4]);
/// ```
pub fn generate_grid(bbox: &Box2I, spec: &GridSpec) -> Result<Grid> {
    if bbox.is_empty() {
        return Err(Error::InvalidValue(
            "the exposure box is empty; expected a box with at least one pixel".into(),
        ));
    }
    for (a, axis) in AXIS.into_iter().enumerate() {
        check_finite("cellSize", axis, spec.cell_size[a])?;
        check_finite("gridStep", axis, spec.grid_step[a])?;
        check_finite("borderSize", axis, spec.border_size[a])?;
        let b = spec.border_size[a];
        if b < 0.0 {
            return Err(Error::InvalidValue(format!(
                "borderSize{axis} = {b:?} is negative; expected a border of at least 0 pixels"
            )));
        }
    }
    let frame = Rect::from_box(bbox);
    let extent = [frame.width(), frame.height()];

    let mut cell = [0i64; 2];
    let mut border = [0i64; 2];
    // Floored centre coordinates: explicit pairs, or one list per axis.
    let explicit: Vec<(i64, i64)>;
    let mut axes: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
    if !spec.centroids.is_empty() {
        for a in 0..2 {
            cell[a] = to_pixels("cellSize", AXIS[a], spec.cell_size[a], None, false)?;
            border[a] = to_pixels("borderSize", AXIS[a], spec.border_size[a], None, false)?;
        }
        explicit = spec
            .centroids
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| Ok((floor_centroid('X', i, x)?, floor_centroid('Y', i, y)?)))
            .collect::<Result<_>>()?;
    } else {
        explicit = Vec::new();
        if let Some(f) = spec.fwhm_scale {
            if !f.is_finite() || f <= 0.0 {
                return Err(Error::InvalidValue(format!(
                    "fwhm_scale = {f:?} is not a valid PSF FWHM; expected a finite number of \
                     pixels greater than 0"
                )));
            }
        }
        let fwhm = spec.fwhm_scale;
        let cell_used = spec.adjust != AdjustGrid::Size;
        let mut px = [(0i64, 0i64); 2];
        for a in 0..2 {
            let c = to_pixels("cellSize", AXIS[a], spec.cell_size[a], fwhm, cell_used)?;
            let s = to_pixels("gridStep", AXIS[a], spec.grid_step[a], fwhm, true)?;
            border[a] = to_pixels("borderSize", AXIS[a], spec.border_size[a], fwhm, false)?;
            px[a] = (c, s);
        }
        // Refuse absurd grids before building them (they would exhaust the
        // memory or loop for hours).
        let counts = [0, 1].map(|a| axis_count(extent[a], px[a].0, px[a].1, spec.adjust));
        let total = counts[0].saturating_mul(counts[1]);
        if total > MAX_CELLS {
            return Err(Error::InvalidValue(format!(
                "the grid would have {} x {} = {total} cells for a {} x {} pixel exposure \
                 (cellSize = ({}, {}), gridStep = ({}, {}) pixels, adjustGridOption = {}); \
                 expected at most {MAX_CELLS} cells: use larger cells or steps",
                counts[0],
                counts[1],
                extent[0],
                extent[1],
                px[0].0,
                px[1].0,
                px[0].1,
                px[1].1,
                spec.adjust
            )));
        }
        for a in 0..2 {
            let (centres, c) = axis_centres(extent[a], px[a].0, px[a].1, spec.adjust);
            axes[a] = centres;
            cell[a] = c;
        }
    }

    let template0 = Rect::from_corner_dims(frame.x0, frame.y0, cell[0], cell[1]);
    let template1 = template0.grown(border[0], border[1]);
    let half = [template0.width() / 2, template0.height() / 2];

    let count = if explicit.is_empty() {
        axes[0].len().saturating_mul(axes[1].len())
    } else {
        explicit.len()
    };
    let mut grid = Grid {
        cells: Vec::with_capacity(count.min(1 << 20)),
        expanded: Vec::with_capacity(count.min(1 << 20)),
    };
    let mut add = |fx: i64, fy: i64| -> Result<()> {
        let (dx, dy) = (fx - half[0], fy - half[1]);
        let mut bb0 = template0.shifted(dx, dy).clipped(&frame);
        if spec.force_even_sized {
            bb0 = make_even_sized(bb0, &frame)?;
        }
        let mut bb1 = template1.shifted(dx, dy).clipped(&frame);
        if spec.force_even_sized {
            bb1 = make_even_sized(bb1, &frame)?;
        }
        if bb0.area() > 1 && bb1.area() > 1 {
            grid.cells.push(bb0.to_box()?);
            grid.expanded.push(bb1.to_box()?);
        }
        Ok(())
    };
    if explicit.is_empty() {
        for &fx in &axes[0] {
            for &fy in &axes[1] {
                add(fx, fy)?;
            }
        }
    } else {
        for &(fx, fy) in &explicit {
            add(fx, fy)?;
        }
    }
    Ok(grid)
}

#[cfg(test)]
#[path = "grid_tests.rs"]
mod tests;
