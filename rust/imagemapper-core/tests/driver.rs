//! The pure-Rust driver: equals the whole-image computation when the border
//! covers the mapper's footprint, is thread-count independent, and reports
//! mapper errors with the cell.

use imagemapper_core::builtin::{convolve_axis, gaussian_convolve_cell, gaussian_kernel};
use imagemapper_core::driver::{map_reduce, CellOutput, ImageView};
use imagemapper_core::grid::{generate_grid, AdjustGrid, GridSpec};
use imagemapper_core::reduce::{Params, ReduceOp, Reducer, Weights};
use imagemapper_core::{Box2I, Error, Extent2I, Point2I};
use ndarray::{Array2, Axis};

struct Planes {
    image: Array2<f64>,
    weights: Option<Array2<i32>>,
}

fn run(op: ReduceOp, threads: usize, step: f64, sigma: f64) -> (Planes, Array2<f64>) {
    let (w, h) = (150i32, 97i32);
    let bbox = Box2I::from_corner_dims(Point2I::new(-11, 40), Extent2I::new(w, h), true).unwrap();
    let image = Array2::from_shape_fn((h as usize, w as usize), |(y, x)| {
        ((x * 13 + y * 7) % 31) as f64
    });
    let variance = Array2::from_elem((h as usize, w as usize), 2.0);
    let mask = Array2::zeros((h as usize, w as usize));
    let border = (4.0 * sigma).ceil();
    let grid = generate_grid(
        &bbox,
        &GridSpec::new(
            [32.0, 24.0],
            [step, step * 0.75],
            [border, border],
            AdjustGrid::None,
        ),
    )
    .unwrap();
    let mut out = Reducer::new(
        op,
        Params::default(),
        bbox,
        bbox,
        Some(mask.clone()),
        true,
        &grid.cells,
        threads,
    )
    .unwrap();
    let input = ImageView {
        bbox,
        image: image.view(),
        mask: mask.view(),
        variance: variance.view(),
    };
    map_reduce(&input, &grid, &mut out, 1, threads, |c| {
        gaussian_convolve_cell(c, sigma)
    })
    .unwrap();
    let out = out.into_output();
    let p = Planes {
        image: out.image,
        weights: match out.weights {
            Some(Weights::Count(w)) => Some(w),
            _ => None,
        },
    };
    let k = gaussian_kernel(sigma).unwrap();
    let whole = convolve_axis(convolve_axis(image.view(), &k, Axis(1)).view(), &k, Axis(0));
    (p, whole)
}

#[test]
fn tiled_gaussian_equals_whole_image() {
    let (p, whole) = run(ReduceOp::Copy, 2, 32.0, 1.5);
    let bad: Vec<_> = p
        .image
        .indexed_iter()
        .filter(|(ix, v)| **v != whole[*ix])
        .map(|(ix, v)| (ix, *v, whole[ix]))
        .take(5)
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    let (p, whole) = run(ReduceOp::Average, 3, 16.0, 1.5);
    let max = p
        .image
        .iter()
        .zip(whole.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(max < 1e-12, "{max}");
}

#[test]
fn thread_count_does_not_change_bits() {
    let (a, _) = run(ReduceOp::Average, 1, 16.0, 2.0);
    for t in [2, 3, 8] {
        let (b, _) = run(ReduceOp::Average, t, 16.0, 2.0);
        assert!(a
            .image
            .iter()
            .zip(b.image.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        assert_eq!(a.weights, b.weights);
    }
}

#[test]
fn mapper_errors_name_the_cell() {
    let bbox = Box2I::from_corner_dims(Point2I::new(0, 0), Extent2I::new(40, 40), true).unwrap();
    let z = Array2::<f32>::zeros((40, 40));
    let m = Array2::<i32>::zeros((40, 40));
    let grid = generate_grid(
        &bbox,
        &GridSpec::new([10.0, 10.0], [10.0, 10.0], [0.0, 0.0], AdjustGrid::None),
    )
    .unwrap();
    let reducer = || {
        Reducer::new(
            ReduceOp::Copy,
            Params::default(),
            bbox,
            bbox,
            Some(m.clone()),
            true,
            &grid.cells,
            2,
        )
        .unwrap()
    };
    let input = ImageView {
        bbox,
        image: z.view(),
        mask: m.view(),
        variance: z.view(),
    };
    let err = map_reduce(&input, &grid, &mut reducer(), 1, 2, |c| {
        if c.index == 5 {
            return Err(Error::Runtime("boom".into()));
        }
        Ok(CellOutput {
            image: c.cell_image().to_owned(),
            mask: None,
            variance: c.cell_variance().to_owned(),
        })
    })
    .unwrap_err();
    assert!(
        matches!(err, Error::Runtime(ref s) if s.contains("cell 5") && s.contains("boom")),
        "{err}"
    );
    // A result of the wrong shape is an error too.
    let err = map_reduce(&input, &grid, &mut reducer(), 1, 2, |_| {
        Ok(CellOutput {
            image: Array2::zeros((3, 3)),
            mask: None,
            variance: Array2::zeros((3, 3)),
        })
    })
    .unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
}
