//! The mesh family: per-cell scalars interpolated over the cell centres to
//! a full-resolution image (`mesh`).

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::band::thread_pool;
use super::{shape_of, Pixel};
use crate::error::{Error, Result};
use crate::geom::Box2I;

/// Index and fraction of `v` among the sorted nodes (constant beyond the
/// first and last node).
fn bracket(nodes: &[f64], v: f64) -> (usize, f64) {
    let n = nodes.len();
    if n == 1 || v <= nodes[0] {
        return (0, 0.0);
    }
    if v >= nodes[n - 1] {
        return (n - 2, 1.0);
    }
    let k = nodes.partition_point(|&x| x <= v).clamp(1, n - 1) - 1;
    let f = (v - nodes[k]) / (nodes[k + 1] - nodes[k]);
    (k, f)
}

/// Bilinear interpolation of `values` (shape `(ys.len(), xs.len())`, at the
/// nodes `xs` × `ys` in parent pixel coordinates) at every pixel of `out`
/// (covering `bbox`). Beyond the outermost nodes the value is that at the
/// nearest point of the node rectangle (constant extrapolation).
///
/// # Errors
/// [`Error::InvalidValue`] for empty or non-increasing nodes, or non-finite
/// values; [`Error::Shape`] when the shapes disagree.
pub fn bilinear<T: Pixel>(
    xs: &[f64],
    ys: &[f64],
    values: ArrayView2<'_, f64>,
    bbox: &Box2I,
    mut out: ArrayViewMut2<'_, T>,
    n_threads: usize,
) -> Result<()> {
    for (name, nodes) in [("x", xs), ("y", ys)] {
        if nodes.is_empty()
            || nodes
                .windows(2)
                .any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
        {
            return Err(Error::InvalidValue(format!(
                "mesh {name} nodes {nodes:?} must be non-empty and strictly increasing"
            )));
        }
    }
    if values.dim() != (ys.len(), xs.len()) {
        return Err(Error::Shape(format!(
            "mesh values have shape {:?} but the nodes need ({}, {})",
            values.dim(),
            ys.len(),
            xs.len()
        )));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidValue(
            "mesh values must be finite (fill missing nodes first)".to_string(),
        ));
    }
    if out.dim() != shape_of(bbox) {
        return Err(Error::Shape(format!(
            "output image has shape {:?} but the output box {bbox} needs {:?} (rows, columns)",
            out.dim(),
            shape_of(bbox)
        )));
    }
    let x0 = f64::from(bbox.min_x());
    let y0 = i64::from(bbox.min_y());
    let cols: Vec<(usize, f64)> = (0..out.ncols())
        .map(|j| bracket(xs, x0 + j as f64))
        .collect();
    let nx = xs.len();
    let pool = thread_pool(n_threads)?;
    pool.install(|| {
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut row)| {
                let (ky, fy) = bracket(ys, (y0 + i as i64) as f64);
                let ky1 = (ky + 1).min(ys.len() - 1);
                let (r0, r1) = (values.row(ky), values.row(ky1));
                for (o, &(kx, fx)) in row.iter_mut().zip(&cols) {
                    let kx1 = (kx + 1).min(nx - 1);
                    let a = r0[kx] + fx * (r0[kx1] - r0[kx]);
                    let b = r1[kx] + fx * (r1[kx1] - r1[kx]);
                    *o = T::from_f64(a + fy * (b - a));
                }
            });
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_clamps() {
        let n = [10.0, 20.0, 40.0];
        assert_eq!(bracket(&n, 0.0), (0, 0.0));
        assert_eq!(bracket(&n, 15.0), (0, 0.5));
        assert_eq!(bracket(&n, 20.0), (1, 0.0));
        assert_eq!(bracket(&n, 50.0), (1, 1.0));
        assert_eq!(bracket(&[3.0], 7.0), (0, 0.0));
    }
}
