//! Property tests of `generate_grid` against a naive, independent
//! implementation of the LSST `_generateGrid` rules written with plain
//! `(x0, y0, x1, y1)` tuples and simple loops.

use imagemapper_core::geom::{Box2I, Point2I};
use imagemapper_core::grid::{generate_grid, AdjustGrid, GridSpec};
use proptest::prelude::*;

/// Inclusive box; `None` is the empty box.
type R = Option<(i64, i64, i64, i64)>;

fn mk(x0: i64, y0: i64, x1: i64, y1: i64) -> R {
    if x1 >= x0 && y1 >= y0 {
        Some((x0, y0, x1, y1))
    } else {
        None
    }
}
fn w(r: R) -> i64 {
    r.map_or(0, |(x0, _, x1, _)| x1 - x0 + 1)
}
fn h(r: R) -> i64 {
    r.map_or(0, |(_, y0, _, y1)| y1 - y0 + 1)
}
fn clip(a: R, b: R) -> R {
    let (a, b) = (a?, b?);
    mk(a.0.max(b.0), a.1.max(b.1), a.2.min(b.2), a.3.min(b.3))
}
fn include(a: R, x: i64, y: i64) -> R {
    match a {
        None => mk(x, y, x, y),
        Some(a) => mk(a.0.min(x), a.1.min(y), a.2.max(x), a.3.max(y)),
    }
}

/// Python floor division for a positive divisor.
fn fdiv(a: i64, b: i64) -> i64 {
    let q = a / b;
    if (a % b != 0) && (a < 0) {
        q - 1
    } else {
        q
    }
}

fn rint(v: f64) -> i64 {
    // Round half to even, by hand.
    let f = v.floor();
    let d = v - f;
    let round_up = d > 0.5 || (d == 0.5 && (f as i64) % 2 != 0);
    if round_up {
        f as i64 + 1
    } else {
        f as i64
    }
}

fn linspace(start: i64, stop: i64, n: i64) -> Vec<f64> {
    let mut out = Vec::new();
    if n == 1 {
        out.push(start as f64);
        return out;
    }
    let step = (stop as f64 - start as f64) / ((n - 1) as f64);
    for i in 0..n {
        out.push((i as f64) * step + start as f64);
    }
    if n > 1 {
        out[(n - 1) as usize] = stop as f64;
    }
    out
}

fn arange(start: i64, stop: i64, step: i64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut v = start;
    while v < stop {
        out.push(v as f64);
        v += step;
    }
    out
}

fn even(bb: R, frame: R) -> Result<R, ()> {
    let mut bb = bb;
    if w(bb) % 2 == 1 {
        let b = bb.ok_or(())?;
        bb = clip(include(bb, b.2 + 1, b.3), frame);
        if w(bb) % 2 == 1 {
            let b = bb.ok_or(())?;
            bb = clip(include(bb, b.0 - 1, b.3), frame);
        }
    }
    if h(bb) % 2 == 1 {
        let b = bb.ok_or(())?;
        bb = clip(include(bb, b.2, b.3 + 1), frame);
        if h(bb) % 2 == 1 {
            let b = bb.ok_or(())?;
            bb = clip(include(bb, b.2, b.1 - 1), frame);
        }
    }
    if w(bb) % 2 == 1 || h(bb) % 2 == 1 {
        return Err(());
    }
    Ok(bb)
}

#[derive(Debug, PartialEq)]
enum NaiveErr {
    Invalid,
    Runtime,
}

#[allow(clippy::type_complexity)]
fn naive(frame: (i64, i64, i64, i64), s: &GridSpec) -> Result<(Vec<R>, Vec<R>), NaiveErr> {
    let (fx0, fy0, width, height) = frame;
    let fr = mk(fx0, fy0, fx0 + width - 1, fy0 + height - 1);
    if s.border_size[0] < 0.0 || s.border_size[1] < 0.0 {
        return Err(NaiveErr::Invalid);
    }
    let (mut cx, mut cy, bx, by);
    let mut cents: Vec<(f64, f64)> = Vec::new();
    if !s.centroids.is_empty() {
        cx = rint(s.cell_size[0]);
        cy = rint(s.cell_size[1]);
        bx = rint(s.border_size[0]);
        by = rint(s.border_size[1]);
        cents = s.centroids.clone();
    } else {
        let f = s.fwhm_scale.unwrap_or(1.0);
        let sc = |v: f64| {
            if s.fwhm_scale.is_some() {
                rint(v * f)
            } else {
                rint(v)
            }
        };
        cx = sc(s.cell_size[0]);
        cy = sc(s.cell_size[1]);
        let gx = sc(s.grid_step[0]);
        let gy = sc(s.grid_step[1]);
        bx = sc(s.border_size[0]);
        by = sc(s.border_size[1]);
        if gx < 1 || gy < 1 {
            return Err(NaiveErr::Invalid);
        }
        if s.adjust != AdjustGrid::Size && (cx < 1 || cy < 1) {
            return Err(NaiveErr::Invalid);
        }
        let (xs, ys);
        match s.adjust {
            AdjustGrid::Spacing => {
                xs = linspace(fdiv(cx, 2), width - fdiv(cx, 2), fdiv(width, cx) + 1);
                ys = linspace(fdiv(cy, 2), height - fdiv(cy, 2), fdiv(height, cy) + 1);
            }
            AdjustGrid::Size => {
                cx = gx;
                cy = gy;
                xs = arange(fdiv(cx, 2), width + fdiv(cx, 2), cx);
                ys = arange(fdiv(cy, 2), height + fdiv(cy, 2), cy);
                cx += 1;
                cy += 1;
            }
            AdjustGrid::None => {
                xs = arange(fdiv(cx, 2), width + fdiv(cx, 2), gx);
                ys = arange(fdiv(cy, 2), height + fdiv(cy, 2), gy);
            }
        }
        for &x in &xs {
            for &y in &ys {
                cents.push((x, y));
            }
        }
    }
    // Template (cell sizes here are non-negative).
    let t0 = if cx == 0 || cy == 0 {
        None
    } else {
        mk(fx0, fy0, fx0 + cx - 1, fy0 + cy - 1)
    };
    let t1 = t0.and_then(|t| mk(t.0 - bx, t.1 - by, t.2 + bx, t.3 + by));
    let (hw, hh) = (fdiv(w(t0), 2), fdiv(h(t0), 2));
    let shift = |r: R, dx: i64, dy: i64| r.and_then(|r| mk(r.0 + dx, r.1 + dy, r.2 + dx, r.3 + dy));
    let mut out0 = Vec::new();
    let mut out1 = Vec::new();
    for (x, y) in cents {
        let dx = x.floor() as i64 - hw;
        let dy = y.floor() as i64 - hh;
        let mut b0 = clip(shift(t0, dx, dy), fr);
        if s.force_even_sized {
            b0 = even(b0, fr).map_err(|_| NaiveErr::Runtime)?;
        }
        let mut b1 = clip(shift(t1, dx, dy), fr);
        if s.force_even_sized {
            b1 = even(b1, fr).map_err(|_| NaiveErr::Runtime)?;
        }
        if w(b0) * h(b0) > 1 && w(b1) * h(b1) > 1 {
            out0.push(b0);
            out1.push(b1);
        }
    }
    Ok((out0, out1))
}

fn to_r(b: &Box2I) -> R {
    if b.is_empty() {
        None
    } else {
        let (x0, y0) = (i64::from(b.min_x()), i64::from(b.min_y()));
        mk(
            x0,
            y0,
            x0 + i64::from(b.width()) - 1,
            y0 + i64::from(b.height()) - 1,
        )
    }
}

fn adjust_strategy() -> impl Strategy<Value = AdjustGrid> {
    prop_oneof![
        Just(AdjustGrid::Spacing),
        Just(AdjustGrid::Size),
        Just(AdjustGrid::None)
    ]
}

/// Sizes in 0.5..80, with a good share of integers and half-integers (ties).
fn size_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.5f64..80.0,
        (1i32..80).prop_map(f64::from),
        (1i32..160).prop_map(|v| f64::from(v) / 2.0),
    ]
}

fn border_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![0.0f64..20.0, (0i32..40).prop_map(|v| f64::from(v) / 2.0)]
}

#[derive(Debug, Clone)]
struct Case {
    frame: (i64, i64, i64, i64),
    spec: GridSpec,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        (-1000i64..1000, -1000i64..1000, 1i64..300, 1i64..300),
        [size_strategy(), size_strategy()],
        [size_strategy(), size_strategy()],
        [border_strategy(), border_strategy()],
        adjust_strategy(),
        proptest::option::of(0.5f64..5.0),
        any::<bool>(),
        proptest::collection::vec((-50.0f64..350.0, -50.0f64..350.0), 0..12),
        0u8..4,
    )
        .prop_map(
            |(frame, cell, step, border, adjust, fwhm, force, cents, mode)| Case {
                frame,
                spec: GridSpec {
                    cell_size: cell,
                    grid_step: step,
                    border_size: border,
                    adjust,
                    // One case in four uses explicit centroids.
                    centroids: if mode == 0 { cents } else { Vec::new() },
                    fwhm_scale: fwhm,
                    force_even_sized: force,
                },
            },
        )
}

fn frame_box(f: (i64, i64, i64, i64)) -> Box2I {
    Box2I::from_min_max(
        Point2I::new(f.0 as i32, f.1 as i32),
        Point2I::new((f.0 + f.2 - 1) as i32, (f.1 + f.3 - 1) as i32),
        true,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn matches_naive(case in case_strategy()) {
        let bbox = frame_box(case.frame);
        let got = generate_grid(&bbox, &case.spec);
        let want = naive(case.frame, &case.spec);
        match (got, want) {
            (Ok(g), Ok((w0, w1))) => {
                let g0: Vec<R> = g.cells.iter().map(to_r).collect();
                let g1: Vec<R> = g.expanded.iter().map(to_r).collect();
                prop_assert_eq!(g0, w0);
                prop_assert_eq!(g1, w1);
            }
            (Err(imagemapper_core::Error::InvalidValue(_)), Err(NaiveErr::Invalid)) => {}
            (Err(imagemapper_core::Error::Runtime(_)), Err(NaiveErr::Runtime)) => {}
            (g, w) => prop_assert!(false, "mismatch: core {:?}, naive {:?}", g, w),
        }
    }

    #[test]
    fn cells_inside_frame_and_expanded(case in case_strategy()) {
        let bbox = frame_box(case.frame);
        if let Ok(g) = generate_grid(&bbox, &case.spec) {
            prop_assert_eq!(g.cells.len(), g.expanded.len());
            for (c, e) in g.cells.iter().zip(&g.expanded) {
                prop_assert!(c.area() > 1 && e.area() > 1);
                prop_assert!(bbox.contains_box(c), "{} not in {}", c, bbox);
                prop_assert!(bbox.contains_box(e), "{} not in {}", e, bbox);
                if !case.spec.force_even_sized {
                    // Even-sizing can grow a cell past its expanded box's
                    // edge only when the two were grown differently; without
                    // it the cell is always inside its expanded box.
                    prop_assert!(e.contains_box(c), "{} not in {}", c, e);
                } else {
                    prop_assert_eq!((c.width() % 2, c.height() % 2), (0, 0));
                    prop_assert_eq!((e.width() % 2, e.height() % 2), (0, 0));
                }
            }
        }
    }

    /// Number of cells of a generated grid with no cell lost at the edges:
    /// `spacing` with cells no larger than the exposure keeps every centre.
    #[test]
    fn spacing_cell_count(
        w in 4i64..300, h in 4i64..300,
        cx in 2i64..80, cy in 2i64..80,
        border in 0i64..10,
    ) {
        let (cx, cy) = (cx.min(w), cy.min(h));
        let bbox = frame_box((0, 0, w, h));
        let spec = GridSpec::new(
            [cx as f64, cy as f64], [1.0, 1.0], [border as f64, border as f64],
            AdjustGrid::Spacing,
        );
        let g = generate_grid(&bbox, &spec).unwrap();
        prop_assert_eq!(g.len() as i64, (w / cx + 1) * (h / cy + 1));
    }

    /// `size` cells tile the exposure: every pixel is in some cell.
    #[test]
    fn size_cells_cover(
        w in 2i64..120, h in 2i64..120, sx in 2i64..40, sy in 2i64..40,
    ) {
        let bbox = frame_box((5, -7, w, h));
        let spec = GridSpec::new([1.0, 1.0], [sx as f64, sy as f64], [0.0, 0.0], AdjustGrid::Size);
        let g = generate_grid(&bbox, &spec).unwrap();
        let nx = (w + sx - 1) / sx;
        let ny = (h + sy - 1) / sy;
        prop_assert!(g.len() as i64 <= nx * ny);
        let mut covered = vec![false; (w * h) as usize];
        for c in &g.cells {
            for y in c.min_y()..=c.max_y() {
                for x in c.min_x()..=c.max_x() {
                    covered[((y + 7) as i64 * w + (x - 5) as i64) as usize] = true;
                }
            }
        }
        // A pixel may only be missed where the last cell was a 1-pixel sliver
        // (area <= 1 is dropped), i.e. a 1-pixel-wide last column or row.
        let edge_x = if w % sx == 1 { w - 1 } else { w };
        let edge_y = if h % sy == 1 { h - 1 } else { h };
        for y in 0..edge_y {
            for x in 0..edge_x {
                prop_assert!(covered[(y * w + x) as usize], "pixel ({}, {}) uncovered", x, y);
            }
        }
    }
}
