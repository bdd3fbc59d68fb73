//! Robustness: arbitrary (including absurd) inputs never panic, hang or
//! allocate without bound; index arithmetic stays exact past 2^31 pixels
//! (on boxes and offsets, without allocating such images).
//!
//! These are the proptest counterparts of the cargo-fuzz targets in
//! `fuzz/` (which need a nightly toolchain); see `docs/fuzzing.md`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use imagemapper_core::builtin::{gaussian_kernel, MAX_KERNEL_RADIUS};
use imagemapper_core::driver::{map_reduce, CellOutput, ImageView};
use imagemapper_core::grid::{generate_grid, AdjustGrid, Grid, GridSpec, MAX_CELLS};
use imagemapper_core::reduce::{CellView, Params, ReduceOp, Reducer};
use imagemapper_core::{Box2I, Error, Extent2I, Point2I};
use ndarray::Array2;
use proptest::prelude::*;

fn boxed(x0: i32, y0: i32, w: i32, h: i32) -> Box2I {
    Box2I::from_corner_dims(Point2I::new(x0, y0), Extent2I::new(w, h), true).unwrap()
}

/// Floats a config could hold, absurd ones included.
fn any_size() -> impl Strategy<Value = f64> {
    prop_oneof![
        24 => 1.0f64..24.0,
        1 => -5.0f64..1.0,
        1 => prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            0.5,
            1.5,
            1e9,
            3e9,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
        ]),
    ]
}

fn any_centroid() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -20.0f64..150.0,
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, -1e12, 1e12, 8.6e9, -0.5]),
    ]
}

fn any_adjust() -> impl Strategy<Value = AdjustGrid> {
    prop::sample::select(vec![
        AdjustGrid::Spacing,
        AdjustGrid::Size,
        AdjustGrid::None,
    ])
}

/// A frame of at most 128 x 128 pixels anywhere in the 32-bit plane
/// (including against both edges), so that valid grids stay small.
fn any_frame() -> impl Strategy<Value = Box2I> {
    (
        prop_oneof![
            Just(i32::MIN),
            Just(i32::MAX - 129),
            -200i32..200,
            any::<i32>()
        ],
        prop_oneof![
            Just(i32::MIN),
            Just(i32::MAX - 129),
            -200i32..200,
            any::<i32>()
        ],
        1i32..=128,
        1i32..=128,
    )
        .prop_filter_map("frame must fit in 32 bits", |(x, y, w, h)| {
            Box2I::from_corner_dims(Point2I::new(x, y), Extent2I::new(w, h), true).ok()
        })
}

fn any_spec() -> impl Strategy<Value = GridSpec> {
    (
        [any_size(), any_size()],
        [any_size(), any_size()],
        [any_size(), any_size()],
        any_adjust(),
        prop_oneof![
            2 => Just(Vec::new()),
            1 => prop::collection::vec((any_centroid(), any_centroid()), 1..6),
        ],
        prop_oneof![
            2 => Just(None),
            2 => (0.5f64..3.0).prop_map(Some),
            1 => any_size().prop_map(Some),
        ],
        any::<bool>(),
    )
        .prop_map(
            |(cell_size, grid_step, border_size, adjust, centroids, fwhm_scale, force)| GridSpec {
                cell_size,
                grid_step,
                border_size,
                adjust,
                centroids,
                fwhm_scale,
                force_even_sized: force,
            },
        )
}

fn check_grid(frame: &Box2I, spec: &GridSpec, grid: &Grid) {
    assert_eq!(grid.cells.len(), grid.expanded.len());
    for (c, e) in grid.cells.iter().zip(&grid.expanded) {
        assert!(frame.contains_box(c), "{c} outside {frame}");
        assert!(frame.contains_box(e), "{e} outside {frame}");
        assert!(c.area() > 1 && e.area() > 1);
        if spec.force_even_sized {
            assert_eq!((c.width() % 2, c.height() % 2), (0, 0));
            assert_eq!((e.width() % 2, e.height() % 2), (0, 0));
        } else {
            assert!(e.contains_box(c), "{c} not inside {e}");
        }
        let (ys, xs) = c.slices_within(frame).unwrap();
        assert_eq!(ys.len(), c.height() as usize);
        assert_eq!(xs.len(), c.width() as usize);
        assert_eq!(
            xs.start as i64,
            i64::from(c.min_x()) - i64::from(frame.min_x())
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any spec on any small frame: an error with a message, or a grid of
    /// boxes inside the frame. Never a panic.
    #[test]
    fn grid_generation_never_panics(frame in any_frame(), spec in any_spec()) {
        match generate_grid(&frame, &spec) {
            Ok(grid) => check_grid(&frame, &spec, &grid),
            Err(Error::InvalidValue(m) | Error::Runtime(m) | Error::Shape(m) | Error::Memory(m)) => {
                prop_assert!(!m.is_empty());
            }
        }
    }

    /// Huge frames (up to 2^31 - 1 pixels on a side, anywhere) with cells
    /// that keep the grid small: every box is exact and inside the frame.
    #[test]
    fn grids_over_huge_frames(
        x0 in prop_oneof![Just(i32::MIN), -1000i32..1000],
        y0 in prop_oneof![Just(i32::MIN), -1000i32..1000],
        w in prop_oneof![Just(i32::MAX), Just(1i32 << 30), 1000i32..2_000_000_000],
        h in prop_oneof![Just(i32::MAX), Just(1i32 << 30), 1000i32..2_000_000_000],
        cell in (1u32 << 26)..(1u32 << 31),
        border in 0u32..(1u32 << 31),
        adjust in any_adjust(),
        force in any::<bool>(),
    ) {
        let Ok(frame) = Box2I::from_corner_dims(Point2I::new(x0, y0), Extent2I::new(w, h), true)
        else {
            return Ok(());
        };
        prop_assert!(frame.area() > 0);
        let c = f64::from(cell);
        let mut spec = GridSpec::new([c, c], [c, c], [f64::from(border); 2], adjust);
        spec.force_even_sized = force;
        match generate_grid(&frame, &spec) {
            Ok(grid) => {
                prop_assert!(!grid.is_empty());
                prop_assert!(grid.len() <= 33 * 33);
                check_grid(&frame, &spec, &grid);
            }
            // An odd frame dimension entirely covered by a cell cannot be
            // made even; anything else is a bug.
            Err(Error::Runtime(m)) => prop_assert!(force && m.contains("even-sized"), "{m}"),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

#[test]
fn huge_grid_is_refused_before_it_is_built() {
    let frame = boxed(0, 0, 1 << 30, 1 << 30);
    for adjust in [AdjustGrid::Spacing, AdjustGrid::Size, AdjustGrid::None] {
        let spec = GridSpec::new([1.0, 1.0], [1.0, 1.0], [0.0, 0.0], adjust);
        let start = std::time::Instant::now();
        let err = generate_grid(&frame, &spec).unwrap_err();
        assert!(start.elapsed().as_secs_f64() < 1.0);
        let Error::InvalidValue(m) = err else {
            panic!("{err:?}")
        };
        assert!(
            m.contains(&format!("expected at most {MAX_CELLS} cells")),
            "{m}"
        );
        assert!(m.contains("1073741824 x 1073741824 pixel exposure"), "{m}");
    }
    // Just under the limit in cells is accepted (8193 x 8191 cells of 1 pixel
    // would be, but their boxes are dropped as single pixels: keep it cheap).
    let frame = boxed(0, 0, 8192, 4);
    let spec = GridSpec::new([2.0, 2.0], [2.0, 2.0], [0.0, 0.0], AdjustGrid::None);
    assert_eq!(generate_grid(&frame, &spec).unwrap().len(), 4096 * 2);
}

#[test]
fn slices_past_two_to_the_31_pixels() {
    // A frame of (2^31 - 1)^2 pixels: offsets, lengths and areas are exact.
    let frame = boxed(i32::MIN, i32::MIN, i32::MAX, i32::MAX);
    assert_eq!(frame.area(), (i64::from(i32::MAX)).pow(2));
    assert_eq!(frame.max(), Point2I::new(-2, -2));
    let corner = boxed(-12, -22, 10, 20);
    let (ys, xs) = corner.slices_within(&frame).unwrap();
    assert_eq!(
        (ys.start, xs.start),
        ((1usize << 31) - 22, (1usize << 31) - 12)
    );
    assert_eq!((ys.end, xs.end), ((1usize << 31) - 2, (1usize << 31) - 2));
    // The row-major offset of the last pixel is ~2^62: usize arithmetic.
    let flat = (ys.end - 1) * (frame.width() as usize) + (xs.end - 1);
    let want = (u128::from(1u32 << 31) - 3) * (u128::from(1u32 << 31) - 1) + (1u128 << 31) - 3;
    assert_eq!(flat as u128, want);
    assert!(flat > 1 << 61);
    // Grid over it: (W // 2^26 + 1)^2 = 32 x 32 cells of 2^26 pixels, the last
    // one flush with the edge.
    let spec = GridSpec::new(
        [f64::from(1u32 << 26); 2],
        [1.0; 2],
        [1e9; 2],
        AdjustGrid::Spacing,
    );
    let grid = generate_grid(&frame, &spec).unwrap();
    assert_eq!(grid.len(), 32 * 32);
    let last = grid.cells[grid.len() - 1];
    assert_eq!(last.max(), frame.max());
    let (ys, xs) = last.slices_within(&frame).unwrap();
    assert_eq!(xs.end, frame.width() as usize);
    assert_eq!(ys.end, frame.height() as usize);
    assert!(xs.start > 1 << 30);
    for e in &grid.expanded {
        assert!(frame.contains_box(e));
    }
}

// ------------------------------------------------------------------ stitching

#[derive(Debug, Clone)]
struct FuzzCell {
    bbox: (i32, i32, i32, i32),
    image: (usize, usize),
    variance: (usize, usize),
    mask: Option<(usize, usize)>,
}

fn any_cell() -> impl Strategy<Value = FuzzCell> {
    (
        (-6i32..10, -6i32..10, -2i32..8, -2i32..8),
        (0usize..8, 0usize..8),
        (0usize..8, 0usize..8),
        prop::option::of((0usize..8, 0usize..8)),
        any::<bool>(),
    )
        .prop_map(|(bbox, image, variance, mask, fit)| {
            // Half the time the planes fit the box, so that the happy path
            // is exercised as much as the error paths.
            if fit {
                let shape = (bbox.3.max(0) as usize, bbox.2.max(0) as usize);
                FuzzCell {
                    bbox,
                    image: shape,
                    variance: shape,
                    mask: mask.map(|_| shape),
                }
            } else {
                FuzzCell {
                    bbox,
                    image,
                    variance,
                    mask,
                }
            }
        })
}

/// A cell's box and its planes (image, variance, mask).
type OwnedCell = (Box2I, Array2<f64>, Array2<f64>, Option<Array2<i32>>);

fn any_op() -> impl Strategy<Value = ReduceOp> {
    prop::sample::select(
        ReduceOp::ALL
            .iter()
            .copied()
            .filter(|o| o.stitches())
            .collect::<Vec<_>>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary output boxes, plane shapes and cells (outside the output,
    /// empty, of the wrong shape): errors, never a panic; and when every
    /// cell fits, success.
    #[test]
    fn stitching_never_panics(
        out_box in (-4i32..4, -4i32..4, -1i32..9, -1i32..9),
        out_shape in prop::option::of((0usize..9, 0usize..9)),
        cells in prop::collection::vec(any_cell(), 0..5),
        op in any_op(),
        threads in 0usize..5,
        bad_bits in any::<i32>(),
        values in prop::sample::select(vec![0.0f64, 1.5, f64::NAN, f64::INFINITY, -1e300]),
    ) {
        let bbox = Box2I::from_corner_dims(
            Point2I::new(out_box.0, out_box.1),
            Extent2I::new(out_box.2, out_box.3),
            true,
        )
        .unwrap();
        let shape = out_shape.unwrap_or((bbox.height() as usize, bbox.width() as usize));
        let mask = Array2::<i32>::zeros(shape);
        let owned: Vec<OwnedCell> = cells
            .iter()
            .map(|c| {
                let b = Box2I::from_corner_dims(
                    Point2I::new(c.bbox.0, c.bbox.1),
                    Extent2I::new(c.bbox.2, c.bbox.3),
                    true,
                )
                .unwrap();
                (
                    b,
                    Array2::from_elem(c.image, values),
                    Array2::from_elem(c.variance, 1.0),
                    c.mask.map(|m| Array2::from_elem(m, -1)),
                )
            })
            .collect();
        let views: Vec<CellView<'_, f64>> = owned
            .iter()
            .enumerate()
            .map(|(k, (b, i, v, m))| CellView {
                index: k,
                bbox: *b,
                image: i.view(),
                mask: m.as_ref().map(|m| m.view()),
                variance: Some(v.view()),
            })
            .collect();
        let all_fit = owned.iter().all(|(b, i, v, m)| {
            let s = (b.height() as usize, b.width() as usize);
            bbox.contains_box(b) && i.dim() == s && v.dim() == s && m.as_ref().is_none_or(|m| m.dim() == s)
        });
        let out_fits = shape == (bbox.height() as usize, bbox.width() as usize);
        let r = Reducer::new(op, Params::default(), bbox, bbox, Some(mask), true, &[], threads)
            .and_then(|mut out| {
                out.add(&views)?;
                out.finish(bad_bits)
            });
        prop_assert_eq!(r.is_ok(), all_fit && out_fits, "{:?}", r.err());
    }
}

// ------------------------------------------------------------------- driver

fn input(bbox: Box2I) -> (Array2<f32>, Array2<i32>, Array2<f32>) {
    let s = (bbox.height() as usize, bbox.width() as usize);
    (
        Array2::from_shape_fn(s, |(y, x)| (x * 7 + y) as f32),
        Array2::zeros(s),
        Array2::ones(s),
    )
}

fn drive<F>(bbox: Box2I, grid: &Grid, mapper: F) -> imagemapper_core::Result<Array2<f32>>
where
    F: Fn(
            &imagemapper_core::driver::CellInput<'_, f32>,
        ) -> imagemapper_core::Result<CellOutput<f32>>
        + Sync,
{
    let (image, mask, variance) = input(bbox);
    let view = ImageView {
        bbox,
        image: image.view(),
        mask: mask.view(),
        variance: variance.view(),
    };
    let mut out = Reducer::new(
        ReduceOp::Average,
        Params::default(),
        bbox,
        bbox,
        Some(mask.clone()),
        true,
        &grid.cells,
        3,
    )?;
    map_reduce(&view, grid, &mut out, 1, 3, mapper)?;
    Ok(out.into_output().image)
}

fn identity(
    c: &imagemapper_core::driver::CellInput<'_, f32>,
) -> imagemapper_core::Result<CellOutput<f32>> {
    Ok(CellOutput {
        image: c.cell_image().to_owned(),
        mask: None,
        variance: c.cell_variance().to_owned(),
    })
}

#[test]
fn driver_reports_misbehaving_mappers_by_cell() {
    let bbox = boxed(-5, 3, 40, 30);
    let grid = generate_grid(
        &bbox,
        &GridSpec::new([8.0, 8.0], [8.0, 8.0], [2.0, 2.0], AdjustGrid::None),
    )
    .unwrap();
    assert!(drive(bbox, &grid, identity).is_ok());
    // Wrong shape from cell 7 only.
    let err = drive(bbox, &grid, |c| {
        let mut o = identity(c)?;
        if c.index == 7 {
            o.image = Array2::zeros((1, 1));
        }
        Ok(o)
    })
    .unwrap_err();
    assert!(err.to_string().contains("cell 7"), "{err}");
    // A mapper error names the cell and keeps the message.
    let err = drive(bbox, &grid, |c| {
        if c.index == 3 {
            return Err(Error::InvalidValue("bad pixel".into()));
        }
        identity(c)
    })
    .unwrap_err();
    let m = err.to_string();
    assert!(
        m.contains("mapper failed on cell 3") && m.contains("bad pixel"),
        "{m}"
    );
    // Grids that do not belong to the image.
    let mut bad = grid.clone();
    bad.expanded.pop();
    assert!(drive(bbox, &bad, identity).is_err());
    let mut bad = grid.clone();
    bad.expanded[2] = boxed(1000, 1000, 4, 4);
    bad.cells[2] = boxed(1000, 1000, 2, 2);
    let m = drive(bbox, &bad, identity).unwrap_err().to_string();
    assert!(m.contains("cell 2"), "{m}");
    let mut bad = grid.clone();
    bad.cells[4] = boxed(-5, 3, 40, 30);
    let m = drive(bbox, &bad, identity).unwrap_err().to_string();
    assert!(
        m.contains("cell 4") && m.contains("not inside its expanded box"),
        "{m}"
    );
}

#[test]
fn a_panicking_mapper_unwinds_and_leaves_the_driver_usable() {
    // The core does not catch panics (the binding's `run_detached` does, and
    // turns them into RuntimeError); it must unwind, not abort, and a later
    // run must work (no poisoned pool).
    let bbox = boxed(0, 0, 32, 32);
    let grid = generate_grid(
        &bbox,
        &GridSpec::new([8.0, 8.0], [8.0, 8.0], [2.0, 2.0], AdjustGrid::None),
    )
    .unwrap();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(|| {
        drive(bbox, &grid, |c| {
            if c.index == 5 {
                panic!("mapper bug");
            }
            identity(c)
        })
    }));
    std::panic::set_hook(hook);
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"mapper bug"));
    let (image, _, _) = input(bbox);
    assert_eq!(drive(bbox, &grid, identity).unwrap(), image);
}

#[test]
fn gaussian_kernel_refuses_absurd_sigmas() {
    for sigma in [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e12, f64::MAX] {
        assert!(gaussian_kernel(sigma).is_err(), "{sigma}");
    }
    let edge = (MAX_KERNEL_RADIUS / 4) as f64;
    assert_eq!(
        gaussian_kernel(edge).unwrap().len() as i64,
        2 * MAX_KERNEL_RADIUS + 1
    );
    let m = gaussian_kernel(edge + 1.0).unwrap_err().to_string();
    assert!(
        m.contains("sigma = 262145") && m.contains("at most 262144"),
        "{m}"
    );
}
