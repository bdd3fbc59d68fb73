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
