//! The stitch family: each output pixel takes one contribution — the later
//! valid cell (`copy`) or the valid cell whose centre is nearest (`owner`).

use ndarray::Zip;

use super::band::{Band, Overlap};
use super::{CellGeom, CellView, Pixel};

/// `copy`: valid pixels overwrite.
pub(super) fn copy<T: Pixel>(band: &mut Band<'_, T>, cell: &CellView<'_, T>, o: &Overlap) {
    let ci = o.cell(&cell.image);
    let oi = o.out(&mut band.image);
    match (band.variance.as_mut(), cell.variance.as_ref()) {
        (Some(ov), Some(cv)) => Zip::from(oi)
            .and(o.out(ov))
            .and(ci)
            .and(o.cell(cv))
            .for_each(|oi, ov, &ci, &cv| {
                if T::valid(ci, cv) {
                    *oi = ci;
                    *ov = cv;
                }
            }),
        _ => Zip::from(oi).and(ci).for_each(|oi, &ci| *oi = ci),
    }
}

/// `owner`: the valid contribution nearest to its cell centre (squared
/// distance in the auxiliary plane); ties keep the earlier cell.
pub(super) fn owner<T: Pixel>(
    band: &mut Band<'_, T>,
    cell: &CellView<'_, T>,
    o: &Overlap,
    geom: &CellGeom,
) {
    let Some(aux) = band.aux.as_mut() else {
        return;
    };
    let [gx, gy] = geom.centre;
    let x0 = f64::from(cell.bbox.min_x()) + o.cell_cols.start as f64;
    let y0 = f64::from(cell.bbox.min_y()) + o.cell_rows.start as f64;
    let ci = o.cell(&cell.image);
    let cv = cell.variance.as_ref().map(|v| o.cell(v));
    let mut oi = o.out(&mut band.image);
    let mut ov = band.variance.as_mut().map(|v| o.out(v));
    let mut od = o.out(aux);
    for k in 0..ci.nrows() {
        let dy = y0 + k as f64 - gy;
        let dy2 = dy * dy;
        for j in 0..ci.ncols() {
            let c = ci[[k, j]];
            let v = cv.as_ref().map(|cv| cv[[k, j]]);
            if let Some(v) = v {
                if !T::valid(c, v) {
                    continue;
                }
            }
            let dx = x0 + j as f64 - gx;
            let d2 = dx * dx + dy2;
            if d2 < od[[k, j]] {
                od[[k, j]] = d2;
                oi[[k, j]] = c;
                if let (Some(ov), Some(v)) = (ov.as_mut(), v) {
                    ov[[k, j]] = v;
                }
            }
        }
    }
}
