//! The accumulate family: contributions are added, then normalised —
//! `sum` (no normalisation), `average` (by their count) and `weighted` (by
//! the summed window weights).

use ndarray::{ArrayViewMut2, Zip};

use super::band::{Band, Overlap};
use super::{BandStats, CellGeom, CellView, Params, Pixel, ReduceOp, VariancePolicy};

/// `sum` and `average`: add the valid pixels (and count them when there is
/// a count plane). A `sum` with a variance plane marks "no contribution
/// yet" with a NaN variance, so its first contribution is assigned.
pub(super) fn sum<T: Pixel>(band: &mut Band<'_, T>, cell: &CellView<'_, T>, o: &Overlap) {
    let ci = o.cell(&cell.image);
    let oi = o.out(&mut band.image);
    match (
        band.variance.as_mut(),
        cell.variance.as_ref(),
        band.count.as_mut(),
    ) {
        (Some(ov), Some(cv), Some(n)) => Zip::from(oi)
            .and(o.out(ov))
            .and(o.out(n))
            .and(ci)
            .and(o.cell(cv))
            .for_each(|oi, ov, n, &ci, &cv| {
                if T::valid(ci, cv) {
                    *oi = oi.add(ci);
                    *ov = ov.add(cv);
                    *n += 1;
                }
            }),
        (Some(ov), Some(cv), None) => Zip::from(oi)
            .and(o.out(ov))
            .and(ci)
            .and(o.cell(cv))
            .for_each(|oi, ov, &ci, &cv| {
                if T::valid(ci, cv) {
                    *oi = oi.add(ci);
                    *ov = if ov.is_nan() { cv } else { ov.add(cv) };
                }
            }),
        (_, _, Some(n)) => Zip::from(oi).and(o.out(n)).and(ci).for_each(|oi, n, &ci| {
            *oi = oi.add(ci);
            *n += 1;
        }),
        _ => Zip::from(oi).and(ci).for_each(|oi, &ci| *oi = oi.add(ci)),
    }
}

/// `weighted`: add `w · v` (and `w σ²` or `w² σ²`) in `f64`, rounded to
/// the pixel type after each cell; Σ w in the auxiliary plane.
pub(super) fn weighted<T: Pixel>(
    params: &Params,
    band: &mut Band<'_, T>,
    cell: &CellView<'_, T>,
    o: &Overlap,
    geom: &CellGeom,
    wx: &[f64],
) {
    let Some(aux) = band.aux.as_mut() else {
        return;
    };
    let independent = params.variance == VariancePolicy::Independent;
    let height = i64::from(cell.bbox.height());
    let ci = o.cell(&cell.image);
    let cv = cell.variance.as_ref().map(|v| o.cell(v));
    let mut oi = o.out(&mut band.image);
    let mut ov = band.variance.as_mut().map(|v| o.out(v));
    let mut ow = o.out(aux);
    let wx = &wx[o.cell_cols.clone()];
    for k in 0..ci.nrows() {
        let t = (o.cell_rows.start + k) as i64;
        let wy = super::window::window_1d(
            params.window,
            t,
            height - 1 - t,
            geom.ramps[2],
            geom.ramps[3],
        );
        for (j, &wxj) in wx.iter().enumerate() {
            let c = ci[[k, j]];
            let v = cv.as_ref().map(|cv| cv[[k, j]]);
            let mut w = wxj * wy;
            if let Some(v) = v {
                if !T::valid(c, v) {
                    continue;
                }
                if params.inverse_variance {
                    let vf = v.to_f64();
                    if vf <= 0.0 || vf.is_infinite() {
                        continue;
                    }
                    w /= vf;
                }
            }
            if w == 0.0 {
                continue;
            }
            oi[[k, j]] = T::from_f64(oi[[k, j]].to_f64() + w * c.to_f64());
            if let (Some(ov), Some(v)) = (ov.as_mut(), v) {
                let wv = if independent {
                    w * w * v.to_f64()
                } else {
                    w * v.to_f64()
                };
                ov[[k, j]] = T::from_f64(ov[[k, j]].to_f64() + wv);
            }
            ow[[k, j]] += w;
        }
    }
}

/// Normalise one band and measure its weights; returns the pixels with no
/// valid contribution marked in `uncovered` (row-major over the band).
pub(super) fn finish<T: Pixel>(
    op: ReduceOp,
    params: &Params,
    band: &mut Band<'_, T>,
    uncovered: &mut [bool],
) -> BandStats {
    let mut st = BandStats::default();
    let w = band.image.ncols();
    match op {
        ReduceOp::Sum => {
            if let Some(var) = band.variance.as_mut() {
                Zip::indexed(&mut band.image)
                    .and(var)
                    .for_each(|(r, c), oi, ov| {
                        if ov.is_nan() {
                            *oi = T::ZERO;
                            *ov = T::ZERO;
                            uncovered[r * w + c] = true;
                        }
                    });
            } else if let Some(n) = band.count.as_ref() {
                Zip::indexed(&mut band.image)
                    .and(n)
                    .for_each(|(r, c), oi, &n| {
                        if n == 0 {
                            *oi = T::ZERO;
                            uncovered[r * w + c] = true;
                        }
                    });
            }
            st.n_uncovered = uncovered.iter().filter(|&&u| u).count() as u64;
        }
        ReduceOp::Average => {
            if let Some(n) = band.count.as_ref() {
                normalise(
                    &mut band.image,
                    band.variance.as_mut(),
                    n,
                    w,
                    uncovered,
                    |n| (n > 0).then_some((f64::from(n), f64::from(n))),
                );
                for &n in n {
                    let nf = f64::from(n);
                    st.min_w = st.min_w.min(nf);
                    st.max_w = st.max_w.max(nf);
                    st.sum_w += nf;
                    st.n_zero += u64::from(n == 0);
                }
                st.n_uncovered = st.n_zero;
            }
        }
        ReduceOp::Weighted => {
            let independent = params.variance == VariancePolicy::Independent;
            if let Some(a) = band.aux.as_ref() {
                normalise(
                    &mut band.image,
                    band.variance.as_mut(),
                    a,
                    w,
                    uncovered,
                    |sw| (sw > 0.0).then_some((sw, if independent { sw * sw } else { sw })),
                );
                for &sw in a {
                    if sw > 0.0 {
                        st.min_w = st.min_w.min(sw);
                        st.max_w = st.max_w.max(sw);
                        st.sum_w += sw;
                    } else {
                        st.n_zero += 1;
                    }
                }
                st.n_uncovered = st.n_zero;
            }
        }
        _ => {}
    }
    st
}

/// Divide image and variance by the divisors `div(weight)` gives (in `f64`,
/// rounded once); EMPTY and marked uncovered where it gives none.
fn normalise<T: Pixel, A: Copy>(
    image: &mut ArrayViewMut2<'_, T>,
    variance: Option<&mut ArrayViewMut2<'_, T>>,
    weights: &ArrayViewMut2<'_, A>,
    width: usize,
    uncovered: &mut [bool],
    div: impl Fn(A) -> Option<(f64, f64)>,
) {
    match variance {
        Some(var) => Zip::indexed(image)
            .and(var)
            .and(weights)
            .for_each(|(r, c), oi, ov, &w| match div(w) {
                Some((di, dv)) => {
                    *oi = T::from_f64(oi.to_f64() / di);
                    *ov = T::from_f64(ov.to_f64() / dv);
                }
                None => {
                    *oi = T::EMPTY;
                    *ov = T::EMPTY;
                    uncovered[r * width + c] = true;
                }
            }),
        None => Zip::indexed(image)
            .and(weights)
            .for_each(|(r, c), oi, &w| match div(w) {
                Some((di, _)) => *oi = T::from_f64(oi.to_f64() / di),
                None => {
                    *oi = T::EMPTY;
                    uncovered[r * width + c] = true;
                }
            }),
    }
}
