//! Built-in mappers written in Rust, run through [`crate::driver`].

use ndarray::{Array2, ArrayView2, Axis};

use crate::driver::{CellInput, CellOutput};
use crate::error::{Error, Result};
use crate::reduce::Pixel;

/// The largest kernel half-width [`gaussian_kernel`] builds (2^20 pixels).
pub const MAX_KERNEL_RADIUS: i64 = 1 << 20;

/// A normalised 1-D Gaussian kernel of half-width `ceil(4 sigma)`.
///
/// # Errors
/// [`Error::InvalidValue`] for a non-finite or non-positive `sigma`, or one
/// whose kernel would be wider than [`MAX_KERNEL_RADIUS`] on each side.
pub fn gaussian_kernel(sigma: f64) -> Result<Vec<f64>> {
    if !sigma.is_finite() || sigma <= 0.0 {
        return Err(Error::InvalidValue(format!(
            "sigma = {sigma} must be a positive finite number of pixels"
        )));
    }
    let radius = (4.0 * sigma).ceil();
    if radius > MAX_KERNEL_RADIUS as f64 {
        return Err(Error::InvalidValue(format!(
            "sigma = {sigma} gives a kernel half-width of {radius} pixels; expected sigma of at \
             most {} pixels (half-width {MAX_KERNEL_RADIUS})",
            MAX_KERNEL_RADIUS / 4
        )));
    }
    let r = radius as i64;
    let mut k: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    Ok(k)
}

/// Convolve `a` with `k` along `axis`, treating pixels outside `a` as zero
/// (sums in f64). The same function applied to a whole image or to an
/// expanded cell gives the same value for a pixel whose kernel footprint is
/// inside both.
pub fn convolve_axis<T: Pixel>(a: ArrayView2<'_, T>, k: &[f64], axis: Axis) -> Array2<T> {
    let r = (k.len() / 2) as isize;
    let mut out = Array2::from_elem(a.dim(), T::ZERO);
    for (src, mut dst) in a.lanes(axis).into_iter().zip(out.lanes_mut(axis)) {
        let n = src.len() as isize;
        for i in 0..n {
            let mut acc = 0.0f64;
            let lo = (i - r).max(0);
            let hi = (i + r).min(n - 1);
            for j in lo..=hi {
                acc += k[(j - i + r) as usize] * src[j as usize].to_f64();
            }
            dst[i as usize] = T::from_f64(acc);
        }
    }
    out
}

/// A mapper: separable Gaussian convolution of the expanded cell (variance
/// with the squared kernel), cropped to the cell; the mask is the cell's.
///
/// # Errors
/// As [`gaussian_kernel`].
pub fn gaussian_convolve_cell<T: Pixel>(
    cell: &CellInput<'_, T>,
    sigma: f64,
) -> Result<CellOutput<T>> {
    let k = gaussian_kernel(sigma)?;
    let k2: Vec<f64> = k.iter().map(|v| v * v).collect();
    let img = convolve_axis(convolve_axis(cell.image, &k, Axis(1)).view(), &k, Axis(0));
    let var = convolve_axis(
        convolve_axis(cell.variance, &k2, Axis(1)).view(),
        &k2,
        Axis(0),
    );
    let y0 = (cell.bbox.min_y() - cell.expanded_bbox.min_y()) as usize;
    let x0 = (cell.bbox.min_x() - cell.expanded_bbox.min_x()) as usize;
    let (h, w) = (cell.bbox.height() as usize, cell.bbox.width() as usize);
    let crop = |a: &Array2<T>| a.slice(ndarray::s![y0..y0 + h, x0..x0 + w]).to_owned();
    Ok(CellOutput {
        image: crop(&img),
        mask: Some(cell.cell_mask().to_owned()),
        variance: crop(&var),
    })
}
