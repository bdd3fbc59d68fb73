//! Unit tests of the cell grid ([`super`]): boxes against numpy's
//! arithmetic and LSST's grid, box for box.

use super::*;

fn b(x0: i32, y0: i32, x1: i32, y1: i32) -> Box2I {
    Box2I::from_min_max(Point2I::new(x0, y0), Point2I::new(x1, y1), true).unwrap()
}

fn frame(x0: i32, y0: i32, w: i32, h: i32) -> Box2I {
    b(x0, y0, x0 + w - 1, y0 + h - 1)
}

fn spec(cell: [f64; 2], step: [f64; 2], border: [f64; 2], adjust: AdjustGrid) -> GridSpec {
    GridSpec::new(cell, step, border, adjust)
}

fn err_msg<T: std::fmt::Debug>(r: Result<T>) -> Error {
    r.expect_err("expected an error")
}

#[test]
fn parse_adjust() {
    assert_eq!(
        "spacing".parse::<AdjustGrid>().unwrap(),
        AdjustGrid::Spacing
    );
    assert_eq!("size".parse::<AdjustGrid>().unwrap(), AdjustGrid::Size);
    assert_eq!("none".parse::<AdjustGrid>().unwrap(), AdjustGrid::None);
    let e = err_msg("Spacing".parse::<AdjustGrid>());
    let Error::InvalidValue(m) = e else {
        panic!("{e:?}")
    };
    assert!(m.contains("\"Spacing\"") && m.contains("\"size\"") && m.contains("\"none\""));
    assert_eq!(AdjustGrid::Size.to_string(), "size");
}

#[test]
fn spacing_10x6() {
    // W = 10, H = 6, cell (4, 4), border (1, 2).
    // x: nX = 10 // 4 + 1 = 3, linspace(2, 8, 3) = [2, 5, 8]
    // y: nY = 6 // 4 + 1 = 2, linspace(2, 4, 2) = [2, 4]
    // template cell [0..3]x[0..3], offsets x - 2, y - 2.
    //   x=2 -> [0, 3]; x=5 -> [3, 6]; x=8 -> [6, 9] (all inside)
    //   y=2 -> [0, 3]; y=4 -> [2, 5]
    // expanded: x +-1, y +-2, clipped to [0, 9] x [0, 5]:
    //   x: [0, 4], [2, 7], [5, 9];  y: [0, 5], [0, 5]
    let g = generate_grid(
        &frame(0, 0, 10, 6),
        &spec([4.0, 4.0], [99.0, 99.0], [1.0, 2.0], AdjustGrid::Spacing),
    )
    .unwrap();
    let xs = [(0, 3), (3, 6), (6, 9)];
    let xe = [(0, 4), (2, 7), (5, 9)];
    let ys = [(0, 3), (2, 5)];
    let mut cells = vec![];
    let mut exp = vec![];
    for (x, e) in xs.iter().zip(&xe) {
        for y in &ys {
            cells.push(b(x.0, y.0, x.1, y.1));
            exp.push(b(e.0, 0, e.1, 5));
        }
    }
    assert_eq!(g.cells, cells);
    assert_eq!(g.expanded, exp);
}

#[test]
fn spacing_fractional_linspace() {
    // W = 7, cell 3 (x) -> nX = 3, linspace(1, 6, 3) = [1, 3.5, 6] -> floor 1, 3, 6
    // H = 3, cell 5 (y) -> nY = 1, linspace(2, 1, 1) = [2]
    // template [0..2] x [0..4], half (1, 2).
    //   x: 1 -> [0, 2]; 3 -> [2, 4]; 6 -> [5, 7] clipped [5, 6]
    //   y: 2 -> [0, 4] clipped [0, 2]
    let g = generate_grid(
        &frame(0, 0, 7, 3),
        &spec([3.0, 5.0], [1.0, 1.0], [0.0, 0.0], AdjustGrid::Spacing),
    )
    .unwrap();
    assert_eq!(g.cells, vec![b(0, 0, 2, 2), b(2, 0, 4, 2), b(5, 0, 6, 2)]);
    assert_eq!(g.expanded, g.cells);
}

#[test]
fn size_option() {
    // W = 10, H = 4, step (4, 4) -> cell := step; centres arange(2, 12, 4) = [2, 6, 10],
    // y: arange(2, 6, 4) = [2]. Then cell += 1 -> (5, 5), template [0..4]x[0..4],
    // half (2, 2): x offsets 0, 4, 8 -> [0, 4], [4, 8], [8, 12] -> clipped [8, 9];
    // y: [0, 4] clipped [0, 3]. Border 0.
    let g = generate_grid(
        &frame(0, 0, 10, 4),
        &spec([1.0, 1.0], [4.0, 4.0], [0.0, 0.0], AdjustGrid::Size),
    )
    .unwrap();
    assert_eq!(g.cells, vec![b(0, 0, 4, 3), b(4, 0, 8, 3), b(8, 0, 9, 3)]);
    assert_eq!(g.expanded, g.cells);
    // cellSize is unused by "size": even 0 is accepted.
    let g2 = generate_grid(
        &frame(0, 0, 10, 4),
        &spec([0.0, 0.0], [4.0, 4.0], [0.0, 0.0], AdjustGrid::Size),
    )
    .unwrap();
    assert_eq!(g2, g);
}

#[test]
fn none_option_with_origin() {
    // Exposure begins at (100, -50), W = 9, H = 5; cell (4, 2), step (3, 5), border (1, 1).
    // x: arange(2, 11, 3) = [2, 5, 8]; y: arange(1, 6, 5) = [1].
    // template [100..103] x [-50..-49], half (2, 1).
    //   x: 2 -> +0 [100, 103]; 5 -> +3 [103, 106]; 8 -> +6 [106, 109] clip [106, 108]
    //   y: 1 -> +0 [-50, -49]
    // expanded template [99..104] x [-51..-48] -> shifted and clipped to [100, 108] x [-50, -46]:
    //   x: [100, 104], [102, 107], [105, 108]; y: [-50, -48]
    let g = generate_grid(
        &frame(100, -50, 9, 5),
        &spec([4.0, 2.0], [3.0, 5.0], [1.0, 1.0], AdjustGrid::None),
    )
    .unwrap();
    assert_eq!(
        g.cells,
        vec![
            b(100, -50, 103, -49),
            b(103, -50, 106, -49),
            b(106, -50, 108, -49)
        ]
    );
    assert_eq!(
        g.expanded,
        vec![
            b(100, -50, 104, -48),
            b(102, -50, 107, -48),
            b(105, -50, 108, -48)
        ]
    );
}

#[test]
fn x_major_order() {
    // 4x4, none, cell 2, step 2: x = y = arange(1, 5, 2) = [1, 3]; half 1.
    let g = generate_grid(
        &frame(0, 0, 4, 4),
        &spec([2.0, 2.0], [2.0, 2.0], [0.0, 0.0], AdjustGrid::None),
    )
    .unwrap();
    assert_eq!(
        g.cells,
        vec![b(0, 0, 1, 1), b(0, 2, 1, 3), b(2, 0, 3, 1), b(2, 2, 3, 3)]
    );
}

#[test]
fn area_rule_drops_thin_cells() {
    // W = 5, H = 1, cell (2, 1), none, step (4, 1): x = arange(1, 6, 4) = [1, 5]
    // y = arange(0, 1, 1) = [0]. half (1, 0).
    //   x=1 -> [0, 1] area 2 -> kept; x=5 -> [4, 5] clipped [4, 4] area 1 -> dropped.
    let g = generate_grid(
        &frame(0, 0, 5, 1),
        &spec([2.0, 1.0], [4.0, 1.0], [0.0, 0.0], AdjustGrid::None),
    )
    .unwrap();
    assert_eq!(g.cells, vec![b(0, 0, 1, 0)]);
    // A 1x1 cell is dropped even when its expanded box is large.
    let g = generate_grid(
        &frame(0, 0, 3, 3),
        &spec([1.0, 1.0], [3.0, 3.0], [1.0, 1.0], AdjustGrid::None),
    )
    .unwrap();
    assert!(g.is_empty());
}

#[test]
fn force_even_sized() {
    // W = 7, H = 4, none, cell (3, 3), step (3, 4), border (0, 0).
    // x = arange(1, 8, 3) = [1, 4, 7]; y = arange(1, 5, 4) = [1]; half (1, 1).
    //   x: [0, 2], [3, 5], [6, 8] -> clip [6, 6]; y: [0, 2]
    // even-sizing (width 3 -> include maxX+1):
    //   [0, 2] -> [0, 3]; [3, 5] -> [3, 6]; [6, 6] -> [6, 7] clip [6, 6] -> left [5, 6]
    // height 3 -> include maxY+1: [0, 3] (inside H = 4).
    let mut s = spec([3.0, 3.0], [3.0, 4.0], [0.0, 0.0], AdjustGrid::None);
    s.force_even_sized = true;
    let g = generate_grid(&frame(0, 0, 7, 4), &s).unwrap();
    assert_eq!(g.cells, vec![b(0, 0, 3, 3), b(3, 0, 6, 3), b(5, 0, 6, 3)]);
    assert_eq!(g.expanded, g.cells);
    for c in &g.cells {
        assert_eq!(c.width() % 2, 0);
        assert_eq!(c.height() % 2, 0);
    }
}

#[test]
fn force_even_sized_impossible() {
    // W = 5 (odd), cell 6 covers the full width: width stays 5 after both attempts.
    let mut s = spec([6.0, 2.0], [6.0, 2.0], [0.0, 0.0], AdjustGrid::Spacing);
    s.force_even_sized = true;
    let e = err_msg(generate_grid(&frame(10, 20, 5, 4), &s));
    let Error::Runtime(m) = e else {
        panic!("{e:?}")
    };
    assert!(m.contains("Cannot make bounding box"), "{m}");
    assert!(m.contains("even-sized"), "{m}");
    assert!(
        m.contains("Box2I(minimum=(10, 20), dimensions=(5, 4))"),
        "{m}"
    );
    // Without forcing, the same grid is fine.
    s.force_even_sized = false;
    assert!(generate_grid(&frame(10, 20, 5, 4), &s).is_ok());
}

#[test]
fn explicit_centroids() {
    // Sizes rounded half-to-even, no FWHM scaling: cell (2.5 -> 2, 3.5 -> 4), border 0.5 -> 0.
    // template [10..11] x [10..13] (begin (10, 10)), half (1, 2).
    // (3.7, 2.2): floor (3, 2) -> offset (2, 0) -> [12, 13] x [10, 13]
    // (0.0, 0.0): offset (-1, -2) -> [9, 10] x [8, 11] clipped to [10, 10] x [10, 11] area 2.
    // (-0.5, 9.9): floor (-1, 9) -> offset (-2, 7): x [8, 9] outside -> empty -> dropped.
    let mut s = spec([2.5, 3.5], [0.0, f64::MAX], [0.5, 0.5], AdjustGrid::Spacing);
    s.centroids = vec![(3.7, 2.2), (0.0, 0.0), (-0.5, 9.9)];
    s.fwhm_scale = Some(10.0);
    let g = generate_grid(&frame(10, 10, 20, 20), &s).unwrap();
    assert_eq!(g.cells, vec![b(12, 10, 13, 13), b(10, 10, 10, 11)]);
    assert_eq!(g.expanded, g.cells);
}

#[test]
fn fwhm_scaling() {
    // Exact binary fractions, so the ties are real ties:
    // cell 2.75 x FWHM 2 = 5.5 -> rint 6; step 1.25 x 2 = 2.5 -> 2; border 0.25 x 2 = 0.5 -> 0.
    // W = H = 6: "none": arange(3, 9, 2) = [3, 5, 7], each cell [c-3, c+2] clipped.
    let mut s = spec([2.75, 2.75], [1.25, 1.25], [0.25, 0.25], AdjustGrid::None);
    s.fwhm_scale = Some(2.0);
    let g = generate_grid(&frame(0, 0, 6, 6), &s).unwrap();
    let xs = [(0, 5), (2, 5), (4, 5)];
    let mut want = vec![];
    for x in xs {
        for y in xs {
            want.push(b(x.0, y.0, x.1, y.1));
        }
    }
    assert_eq!(g.cells, want);
}

#[test]
fn validation() {
    let f = frame(0, 0, 10, 10);
    let ok = spec([4.0, 4.0], [2.0, 2.0], [1.0, 1.0], AdjustGrid::Spacing);
    let inv = |s: &GridSpec, bx: &Box2I, needle: &[&str]| {
        let e = err_msg(generate_grid(bx, s));
        let Error::InvalidValue(m) = e else {
            panic!("{e:?}")
        };
        for n in needle {
            assert!(m.contains(n), "{m:?} lacks {n:?}");
        }
    };
    inv(&ok, &Box2I::EMPTY, &["empty"]);
    let mut s = ok.clone();
    s.cell_size[0] = 0.2;
    s.fwhm_scale = Some(2.0);
    inv(
        &s,
        &f,
        &["cellSizeX = 0.2 x FWHM 2.0 rounds to 0 pixels; expected at least 1"],
    );
    let mut s = ok.clone();
    s.grid_step[1] = 0.5; // rint(0.5) = 0
    inv(&s, &f, &["gridStepY = 0.5 rounds to 0 pixels"]);
    let mut s = ok.clone();
    s.border_size[0] = -1.0;
    inv(&s, &f, &["borderSizeX = -1.0", "negative"]);
    let mut s = ok.clone();
    s.cell_size[1] = f64::NAN;
    inv(&s, &f, &["cellSizeY = NaN", "finite"]);
    let mut s = ok.clone();
    s.fwhm_scale = Some(0.0);
    inv(&s, &f, &["fwhm_scale = 0.0"]);
    let mut s = ok.clone();
    s.fwhm_scale = Some(f64::INFINITY);
    inv(&s, &f, &["fwhm_scale = inf"]);
    let mut s = ok.clone();
    s.cell_size[0] = 1e12;
    inv(&s, &f, &["cellSizeX = 1000000000000.0", "32-bit"]);
    let mut s = ok.clone();
    s.centroids = vec![(1.0, 1.0), (2.0, f64::NAN)];
    inv(&s, &f, &["cellCentroidsY[1] = NaN"]);
    let mut s = ok.clone();
    s.centroids = vec![(1e300, 1.0)];
    inv(&s, &f, &["cellCentroidsX[0]", "out of range"]);
    // fwhm_scale is ignored with explicit centroids.
    let mut s = ok.clone();
    s.centroids = vec![(5.0, 5.0)];
    s.fwhm_scale = Some(f64::NAN);
    assert_eq!(generate_grid(&f, &s).unwrap().len(), 1);
}

#[test]
fn extreme_coordinates_do_not_overflow() {
    // An exposure ending one below i32::MAX (the largest maximum a box may
    // have: its exclusive end must fit in i32) with a large border:
    // intermediate boxes pass i32::MAX but the clipped results are exact.
    let f = b(i32::MAX - 10, i32::MIN, i32::MAX - 1, i32::MIN + 9);
    let mut s = spec([4.0, 4.0], [3.0, 3.0], [1e9, 1e9], AdjustGrid::None);
    s.force_even_sized = true;
    let g = generate_grid(&f, &s).unwrap();
    assert!(!g.is_empty());
    let fr = Rect::from_box(&f);
    for (c, e) in g.cells.iter().zip(&g.expanded) {
        let r = Rect::from_box(c);
        assert!(r.clipped(&fr) == r && !r.is_empty(), "{r} outside {fr}");
        assert_eq!(e, &f);
        assert_eq!((r.width() % 2, r.height() % 2), (0, 0));
    }
}

#[test]
fn large_grid_counts() {
    // 4096 x 4096, cell 64, spacing: 65 x 65 centres, all kept.
    let g = generate_grid(
        &frame(0, 0, 4096, 4096),
        &spec([64.0, 64.0], [32.0, 32.0], [8.0, 8.0], AdjustGrid::Spacing),
    )
    .unwrap();
    assert_eq!(g.len(), 65 * 65);
    assert_eq!(g.expanded.len(), g.len());
}
