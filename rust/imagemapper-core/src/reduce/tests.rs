use super::*;
use crate::geom::{Extent2I, Point2I};
use ndarray::Array2;

fn bx(x: i32, y: i32, w: i32, h: i32) -> Box2I {
    Box2I::from_corner_dims(Point2I::new(x, y), Extent2I::new(w, h), true).unwrap()
}

fn reducer<T: Pixel>(op: ReduceOp, bbox: Box2I, with_var: bool, threads: usize) -> Reducer<T> {
    let mask = Some(Array2::<i32>::zeros(shape_of(&bbox)));
    Reducer::new(
        op,
        Params::default(),
        bbox,
        bbox,
        mask,
        with_var,
        &[],
        threads,
    )
    .unwrap()
}

#[test]
fn average_of_two_overlapping_cells_by_hand() {
    // Output 4x1 at x0 = 10; cell A covers x 10..12 with 1s, cell B x 11..13 with 3s.
    let a_img = Array2::from_elem((1, 3), 1.0f32);
    let b_img = Array2::from_elem((1, 3), 3.0f32);
    let ones = Array2::from_elem((1, 3), 1.0f32);
    let a_msk = Array2::from_elem((1, 3), 2i32);
    let cells = [
        CellView {
            index: 0,
            bbox: bx(10, 0, 3, 1),
            image: a_img.view(),
            mask: Some(a_msk.view()),
            variance: Some(ones.view()),
        },
        CellView {
            index: 1,
            bbox: bx(11, 0, 3, 1),
            image: b_img.view(),
            mask: None,
            variance: Some(ones.view()),
        },
    ];
    let mut r = reducer::<f32>(ReduceOp::Average, bx(10, 0, 4, 1), true, 2);
    r.add(&cells).unwrap();
    let stats = r.finish(1 << 9).unwrap();
    let out = r.into_output();
    assert_eq!(out.image.row(0).to_vec(), vec![1.0, 2.0, 2.0, 3.0]);
    assert_eq!(out.mask.unwrap().row(0).to_vec(), vec![2, 2, 2, 0]);
    let Some(Weights::Count(w)) = out.weights else {
        panic!("no count plane")
    };
    assert_eq!(w.row(0).to_vec(), vec![1, 2, 2, 1]);
    assert_eq!(stats.n_bad, 0);
    assert_eq!((stats.min_weight, stats.max_weight), (1.0, 2.0));
    assert!((stats.mean_weight - 1.5).abs() < 1e-12);
}

#[test]
fn copy_leaves_nan_and_flags_it() {
    let mut c_img = Array2::from_elem((1, 2), 5.0f64);
    c_img[[0, 1]] = f64::NAN;
    let c_var = Array2::from_elem((1, 2), 1.0f64);
    let cells = [CellView {
        index: 0,
        bbox: bx(1, 1, 2, 1),
        image: c_img.view(),
        mask: None,
        variance: Some(c_var.view()),
    }];
    let mut r = reducer::<f64>(ReduceOp::Copy, bx(0, 0, 3, 2), true, 1);
    r.add(&cells).unwrap();
    let stats = r.finish(4).unwrap();
    let out = r.into_output();
    let (img, msk) = (out.image, out.mask.unwrap());
    assert_eq!(stats.n_bad, 5);
    assert_eq!(img[[1, 1]], 5.0);
    assert!(img[[1, 2]].is_nan() && img[[0, 0]].is_nan());
    assert_eq!(msk[[1, 1]], 0);
    assert_eq!(msk[[1, 2]], 4);
}

#[test]
fn sum_keeps_negative_zero_and_flags_what_nothing_reached() {
    // Three pixels: -0.0 from one cell, NaN (invalid) from the only cell, nothing.
    let img = Array2::from_shape_vec((1, 2), vec![-0.0f32, f32::NAN]).unwrap();
    let var = Array2::from_elem((1, 2), 1.0f32);
    let cells = [CellView {
        index: 0,
        bbox: bx(0, 0, 2, 1),
        image: img.view(),
        mask: None,
        variance: Some(var.view()),
    }];
    let mut r = reducer::<f32>(ReduceOp::Sum, bx(0, 0, 3, 1), true, 1);
    r.add(&cells).unwrap();
    let stats = r.finish(8).unwrap();
    let out = r.into_output();
    assert!(out.image[[0, 0]] == 0.0 && out.image[[0, 0]].is_sign_negative());
    assert_eq!(out.image.row(0).to_vec(), vec![0.0, 0.0, 0.0]);
    assert_eq!(out.variance.unwrap().row(0).to_vec(), vec![1.0, 0.0, 0.0]);
    assert_eq!(out.mask.unwrap().row(0).to_vec(), vec![0, 8, 8]);
    assert_eq!((stats.n_bad, stats.n_uncovered), (2, 2));
}

#[test]
fn failed_cells_are_flagged_under_good_ones_for_every_operation() {
    let ones = Array2::from_elem((2, 4), 1.0f64);
    for op in ReduceOp::ALL.iter().copied().filter(|o| o.stitches()) {
        let cells = [CellView {
            index: 0,
            bbox: bx(0, 0, 4, 2),
            image: ones.view(),
            mask: None,
            variance: Some(ones.view()),
        }];
        let mut r = reducer::<f64>(op, bx(0, 0, 4, 2), true, 2);
        r.add(&cells).unwrap();
        r.add_failed(&[bx(1, 1, 2, 1)]);
        let stats = r.finish(16).unwrap();
        let out = r.into_output();
        assert_eq!(
            out.mask.unwrap().row(1).to_vec(),
            vec![0, 16, 16, 0],
            "{op}"
        );
        assert_eq!(stats.n_bad, 2, "{op}");
        assert!(out.image.iter().all(|&v| v == 1.0), "{op}");
    }
}

#[test]
fn image_only_copy_keeps_every_value() {
    let img = Array2::from_shape_vec((1, 4), vec![f64::NAN, -0.0, f64::INFINITY, 2.0]).unwrap();
    let cells = [CellView {
        index: 0,
        bbox: bx(0, 0, 4, 1),
        image: img.view(),
        mask: None,
        variance: None,
    }];
    let mut r = Reducer::<f64>::new(
        ReduceOp::Copy,
        Params::default(),
        bx(0, 0, 4, 1),
        bx(0, 0, 4, 1),
        None,
        false,
        &[],
        1,
    )
    .unwrap();
    r.add(&cells).unwrap();
    r.finish(0).unwrap();
    let out = r.into_output();
    assert!(out.image[[0, 0]].is_nan());
    assert!(out.image[[0, 1]] == 0.0 && out.image[[0, 1]].is_sign_negative());
    assert_eq!(out.image[[0, 2]], f64::INFINITY);
    assert!(out.variance.is_none() && out.mask.is_none());
}

#[test]
fn a_band_of_the_output_equals_the_same_rows_of_the_whole() {
    let full = bx(0, 0, 8, 40);
    let grid: Vec<Box2I> = (0..8)
        .map(|k| bx(0, 5 * k, 8, 10.min(40 - 5 * k)))
        .collect();
    let planes: Vec<Array2<f32>> = grid
        .iter()
        .enumerate()
        .map(|(k, b)| Array2::from_shape_fn(shape_of(b), |(y, x)| (k * 100 + y * 8 + x) as f32))
        .collect();
    let ones: Vec<Array2<f32>> = grid.iter().map(|b| Array2::ones(shape_of(b))).collect();
    let cells: Vec<CellView<'_, f32>> = grid
        .iter()
        .enumerate()
        .map(|(k, b)| CellView {
            index: k,
            bbox: *b,
            image: planes[k].view(),
            mask: None,
            variance: Some(ones[k].view()),
        })
        .collect();
    for op in [
        ReduceOp::Average,
        ReduceOp::Weighted,
        ReduceOp::Owner,
        ReduceOp::Max,
    ] {
        let mut whole =
            Reducer::<f32>::new(op, Params::default(), full, full, None, true, &grid, 3).unwrap();
        whole.add(&cells).unwrap();
        whole.finish(1).unwrap();
        let whole = whole.into_output();
        let band = bx(0, 13, 8, 11);
        let mut part =
            Reducer::<f32>::new(op, Params::default(), band, full, None, true, &grid, 1).unwrap();
        part.add(&cells[..4]).unwrap();
        part.add(&cells[4..]).unwrap();
        part.finish(1).unwrap();
        let part = part.into_output();
        let rows = whole.image.slice(ndarray::s![13..24, ..]);
        assert!(
            rows.iter()
                .zip(part.image.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{op}"
        );
    }
}

#[test]
fn errors_name_the_cell() {
    let c = Array2::<f32>::zeros((2, 2));
    let cells = [
        CellView {
            index: 0,
            bbox: bx(0, 0, 2, 2),
            image: c.view(),
            mask: None,
            variance: Some(c.view()),
        },
        CellView {
            index: 7,
            bbox: bx(1, 0, 2, 2),
            image: c.view(),
            mask: None,
            variance: Some(c.view()),
        },
    ];
    let mut r = reducer::<f32>(ReduceOp::Sum, bx(0, 0, 2, 2), true, 1);
    let err = r.add(&cells).unwrap_err();
    assert!(err.to_string().contains("cell 7"), "{err}");
    let bad = [CellView {
        index: 3,
        bbox: bx(0, 0, 1, 2),
        image: c.view(),
        mask: None,
        variance: Some(c.view()),
    }];
    let err = r.add(&bad).unwrap_err();
    assert!(err.to_string().contains("cell 3: image has shape"), "{err}");
    assert!("median".parse::<ReduceOp>().is_err());
    for op in ReduceOp::ALL {
        assert_eq!(op.name().parse::<ReduceOp>().unwrap(), op);
    }
    r.finish(0).unwrap();
    assert!(r.finish(0).is_err());
    let huge = bx(0, 0, i32::MAX, i32::MAX);
    let err = Reducer::<f64>::new(
        ReduceOp::Copy,
        Params::default(),
        huge,
        huge,
        None,
        true,
        &[],
        1,
    );
    assert!(matches!(err, Err(Error::Memory(_))));
}

// ------------------------------------------------------------ integer pixels

/// An image-only reducer of integer (or any) pixels over `out`, the grid
/// being the cells' boxes.
fn image_only<T: Pixel>(op: ReduceOp, out: Box2I, grid: &[Box2I], threads: usize) -> Reducer<T> {
    let mask = Some(Array2::<i32>::zeros(shape_of(&out)));
    Reducer::new(op, Params::default(), out, out, mask, false, grid, threads).unwrap()
}

fn run_ints<T: Pixel>(
    op: ReduceOp,
    out: Box2I,
    cells: &[(Box2I, Array2<T>)],
    threads: usize,
    batches: usize,
) -> (Array2<T>, Array2<i32>, Stats) {
    let grid: Vec<Box2I> = cells.iter().map(|c| c.0).collect();
    let views: Vec<CellView<'_, T>> = cells
        .iter()
        .enumerate()
        .map(|(k, (b, img))| CellView {
            index: k,
            bbox: *b,
            image: img.view(),
            mask: None,
            variance: None,
        })
        .collect();
    let mut r = image_only::<T>(op, out, &grid, threads);
    let per = views.len().div_ceil(batches.max(1)).max(1);
    for chunk in views.chunks(per) {
        r.add(chunk).unwrap();
    }
    let stats = r.finish(2).unwrap();
    let o = r.into_output();
    (o.image, o.mask.unwrap(), stats)
}

#[test]
fn integers_beyond_2_pow_53_are_exact_for_every_operation() {
    // Two overlapping 1x3 cells of i64 values next to i64::MAX, one pixel uncovered.
    let top = i64::MAX;
    let a = Array2::from_shape_vec((1, 3), vec![top, top - 1, top - 3]).unwrap();
    let b = Array2::from_shape_vec((1, 3), vec![top - 2, top - 4, -top]).unwrap();
    let cells = [(bx(0, 0, 3, 1), a), (bx(1, 0, 3, 1), b)];
    let out = bx(0, 0, 5, 1);
    let want: [(ReduceOp, [i64; 5]); 5] = [
        (ReduceOp::Copy, [top, top - 2, top - 4, -top, 0]),
        (ReduceOp::Max, [top, top - 1, top - 3, -top, 0]),
        (ReduceOp::Min, [top, top - 2, top - 4, -top, 0]),
        // (top - 1 + top - 2) / 2 = top - 1.5 -> ties to even: top - 1 (even)
        // (top - 3 + top - 4) / 2 = top - 3.5 -> top - 3 (even)
        (ReduceOp::Average, [top, top - 1, top - 3, -top, 0]),
        // wraps as i64 addition: top + top - 2 + ... in two's complement
        (
            ReduceOp::Sum,
            [
                top,
                (top - 1).wrapping_add(top - 2),
                (top - 3).wrapping_add(top - 4),
                -top,
                0,
            ],
        ),
    ];
    for (op, w) in want {
        for threads in [1, 3] {
            let (img, msk, st) = run_ints::<i64>(op, out, &cells, threads, 2);
            assert_eq!(img.row(0).to_vec(), w.to_vec(), "{op}");
            assert_eq!(msk.row(0).to_vec(), vec![0, 0, 0, 0, 2], "{op}: flags");
            assert_eq!((st.n_uncovered, st.n_bad), (1, 1), "{op}");
        }
    }
    // owner: the cell whose centre is nearer (x = 1 for a, x = 2 for b).
    let (img, _, _) = run_ints::<i64>(ReduceOp::Owner, out, &cells, 2, 1);
    assert_eq!(img.row(0).to_vec(), vec![top, top - 1, top - 4, -top, 0]);
}

#[test]
fn unsigned_64_bit_average_and_sum_near_2_pow_64() {
    let top = u64::MAX;
    let a = Array2::from_elem((2, 2), top);
    let b = Array2::from_elem((2, 2), top - 1);
    let c = Array2::from_elem((2, 2), top - 1);
    let cells = [
        (bx(0, 0, 2, 2), a),
        (bx(0, 0, 2, 2), b),
        (bx(0, 0, 2, 2), c),
    ];
    let (img, _, st) = run_ints::<u64>(ReduceOp::Average, bx(0, 0, 2, 2), &cells, 1, 3);
    // (3 * 2**64 - 6) / 3 = 2**64 - 2 - 1/3 -> top - 1 exactly
    assert!(img.iter().all(|&v| v == top - 1));
    assert_eq!((st.min_weight, st.max_weight), (3.0, 3.0));
    let (img, _, _) = run_ints::<u64>(ReduceOp::Sum, bx(0, 0, 2, 2), &cells, 1, 1);
    assert!(img
        .iter()
        .all(|&v| v == top.wrapping_add(top - 1).wrapping_add(top - 1)));
    let small = [
        (bx(0, 0, 1, 1), Array2::from_elem((1, 1), 200u8)),
        (bx(0, 0, 1, 1), Array2::from_elem((1, 1), 100u8)),
    ];
    let (img, _, _) = run_ints::<u8>(ReduceOp::Sum, bx(0, 0, 1, 1), &small, 1, 1);
    assert_eq!(img[[0, 0]], 44); // 300 mod 256
    let (img, _, _) = run_ints::<u8>(ReduceOp::Average, bx(0, 0, 1, 1), &small, 1, 1);
    assert_eq!(img[[0, 0]], 150);
    let neg = [
        (bx(0, 0, 1, 1), Array2::from_elem((1, 1), i8::MIN)),
        (bx(0, 0, 1, 1), Array2::from_elem((1, 1), -1i8)),
    ];
    let (img, _, _) = run_ints::<i8>(ReduceOp::Sum, bx(0, 0, 1, 1), &neg, 1, 1);
    assert_eq!(img[[0, 0]], i8::MAX);
    // -128.5 -> ties to even: -128
    let (img, _, _) = run_ints::<i8>(ReduceOp::Average, bx(0, 0, 1, 1), &neg, 1, 1);
    assert_eq!(img[[0, 0]], -64);
}

#[test]
fn integer_pixels_refuse_variance_and_weighted() {
    let b = bx(0, 0, 2, 2);
    let err = Reducer::<i64>::new(ReduceOp::Copy, Params::default(), b, b, None, true, &[], 1)
        .err()
        .unwrap();
    assert!(err.to_string().contains("image-only"), "{err}");
    let err = Reducer::<u16>::new(
        ReduceOp::Weighted,
        Params::default(),
        b,
        b,
        None,
        false,
        &[],
        1,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("weighted"), "{err}");
    // The float types keep both.
    assert!(Reducer::<f32>::new(
        ReduceOp::Weighted,
        Params::default(),
        b,
        b,
        None,
        false,
        &[],
        1
    )
    .is_ok());
}

#[test]
fn integer_from_f64_rounds_half_to_even_and_saturates() {
    assert_eq!(<i32 as Pixel>::from_f64(2.5), 2);
    assert_eq!(<i32 as Pixel>::from_f64(-3.5), -4);
    assert_eq!(<u8 as Pixel>::from_f64(300.0), 255);
    assert_eq!(<u8 as Pixel>::from_f64(-1.0), 0);
    assert_eq!(<i64 as Pixel>::from_f64(f64::NAN), 0);
}

/// The nearest integer to `s / n` by another route than
/// `div_round_half_even`: the candidates floor and floor + 1, the one with
/// the smaller |s - k n| (exact), ties to the even one.
fn nearest(s: i128, n: i128) -> i128 {
    let lo = if s >= 0 { s / n } else { -((-s + n - 1) / n) };
    let (dl, dh) = ((s - lo * n).abs(), (s - (lo + 1) * n).abs());
    match dl.cmp(&dh) {
        std::cmp::Ordering::Less => lo,
        std::cmp::Ordering::Greater => lo + 1,
        std::cmp::Ordering::Equal => {
            if lo % 2 == 0 {
                lo
            } else {
                lo + 1
            }
        }
    }
}

mod int_props {
    use super::*;
    use proptest::prelude::*;

    /// Values that reach both ends of a 64-bit type.
    fn arb_i64() -> impl Strategy<Value = i64> + Clone {
        prop_oneof![
            any::<i64>(),
            (0i64..1000).prop_map(|d| i64::MAX - d),
            (0i64..1000).prop_map(|d| i64::MIN + d),
            -5i64..5,
        ]
    }

    fn arb_u64() -> impl Strategy<Value = u64> + Clone {
        prop_oneof![
            any::<u64>(),
            (0u64..1000).prop_map(|d| u64::MAX - d),
            0u64..5,
        ]
    }

    type Cells<T> = Vec<(Box2I, Array2<T>)>;

    fn arb_cells<T: std::fmt::Debug + Clone + 'static>(
        value: impl Strategy<Value = T> + Clone + 'static,
    ) -> impl Strategy<Value = (Box2I, Cells<T>)> {
        (-5i32..5, -5i32..5, 1i32..12, 1i32..40).prop_flat_map(move |(x0, y0, w, h)| {
            let out = bx(x0, y0, w, h);
            let value = value.clone();
            let cell = (0..w, 0..h, 1i32..8, 1i32..30).prop_flat_map(move |(cx, cy, cw, ch)| {
                let (cw, ch) = (cw.min(w - cx), ch.min(h - cy));
                let b = bx(x0 + cx, y0 + cy, cw, ch);
                proptest::collection::vec(value.clone(), (cw * ch) as usize).prop_map(move |v| {
                    (
                        b,
                        Array2::from_shape_vec((ch as usize, cw as usize), v).unwrap(),
                    )
                })
            });
            (Just(out), proptest::collection::vec(cell, 0..7))
        })
    }

    /// The naive reference: per pixel, the contributions in cell order.
    fn naive<T: Pixel + Into<i128> + Ord>(op: ReduceOp, out: Box2I, cells: &Cells<T>) -> Array2<T> {
        let grid: Vec<Box2I> = cells.iter().map(|c| c.0).collect();
        let centres = unclipped_centres(&grid, &out);
        Array2::from_shape_fn(shape_of(&out), |(r, q)| {
            let (y, x) = (out.min_y() + r as i32, out.min_x() + q as i32);
            // (value, squared distance to its cell's centre)
            let got: Vec<(T, f64)> = cells
                .iter()
                .zip(centres.iter())
                .filter(|((b, _), _)| b.contains_point(Point2I::new(x, y)))
                .map(|((b, img), c)| {
                    let (dx, dy) = (f64::from(x) - c[0], f64::from(y) - c[1]);
                    let v = img[[(y - b.min_y()) as usize, (x - b.min_x()) as usize]];
                    (v, dx * dx + dy * dy)
                })
                .collect();
            if got.is_empty() {
                return T::EMPTY;
            }
            let vals = got.iter().map(|g| g.0);
            match op {
                ReduceOp::Copy => got.last().unwrap().0,
                ReduceOp::Max => vals.max().unwrap(),
                ReduceOp::Min => vals.min().unwrap(),
                ReduceOp::Sum => vals.fold(T::ZERO, |a, v| a.add(v)),
                ReduceOp::Average => {
                    let s: i128 = vals.map(Into::into).sum();
                    T::from_i128(nearest(s, got.len() as i128))
                }
                ReduceOp::Owner => {
                    // the first of the nearest
                    let mut best = got[0];
                    for g in &got[1..] {
                        if g.1 < best.1 {
                            best = *g;
                        }
                    }
                    best.0
                }
                _ => unreachable!(),
            }
        })
    }

    fn check<T: Pixel + Into<i128> + Ord + std::fmt::Debug>(
        out: Box2I,
        cells: &Cells<T>,
    ) -> std::result::Result<(), TestCaseError> {
        for op in [
            ReduceOp::Copy,
            ReduceOp::Sum,
            ReduceOp::Average,
            ReduceOp::Owner,
            ReduceOp::Max,
            ReduceOp::Min,
        ] {
            let want = naive(op, out, cells);
            let uncovered = (0..shape_of(&out).0 * shape_of(&out).1)
                .filter(|&k| {
                    let (y, x) = (
                        out.min_y() + (k / shape_of(&out).1) as i32,
                        out.min_x() + (k % shape_of(&out).1) as i32,
                    );
                    !cells
                        .iter()
                        .any(|(b, _)| b.contains_point(Point2I::new(x, y)))
                })
                .count() as u64;
            for (threads, batches) in [(1, 1), (2, 3), (5, 7)] {
                let (img, msk, st) = run_ints(op, out, cells, threads, batches);
                prop_assert_eq!(
                    &img,
                    &want,
                    "{} ({} threads, {} batches)",
                    op,
                    threads,
                    batches
                );
                prop_assert_eq!(st.n_uncovered, uncovered, "{}", op);
                prop_assert_eq!(msk.iter().filter(|&&m| m == 2).count() as u64, uncovered);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn i64_stitching_matches_naive((out, cells) in arb_cells(arb_i64())) {
            check::<i64>(out, &cells)?;
        }

        #[test]
        fn u64_stitching_matches_naive((out, cells) in arb_cells(arb_u64())) {
            check::<u64>(out, &cells)?;
        }

        #[test]
        fn i8_stitching_matches_naive((out, cells) in arb_cells(any::<i8>())) {
            check::<i8>(out, &cells)?;
        }

        #[test]
        fn rounded_division_is_the_nearest_integer_ties_to_even(
            s in any::<i64>().prop_map(i128::from), n in 1i128..1000,
        ) {
            prop_assert_eq!(div_round_half_even(s * 7, n), nearest(s * 7, n));
        }
    }
}
