//! The extremum family: `max` and `min` keep the largest / smallest valid
//! value (with its variance); ties keep the earlier cell.

use ndarray::Zip;

use super::band::{Band, Overlap};
use super::{CellView, Pixel};

fn better<T: Pixel>(want_max: bool, new: T, old: T) -> bool {
    old.is_nan() || if want_max { new > old } else { new < old }
}

/// Apply one cell (`want_max`: `max`, else `min`).
pub(super) fn apply<T: Pixel>(
    want_max: bool,
    band: &mut Band<'_, T>,
    cell: &CellView<'_, T>,
    o: &Overlap,
) {
    let ci = o.cell(&cell.image);
    let oi = o.out(&mut band.image);
    match (band.variance.as_mut(), cell.variance.as_ref()) {
        (Some(ov), Some(cv)) => Zip::from(oi)
            .and(o.out(ov))
            .and(ci)
            .and(o.cell(cv))
            .for_each(|oi, ov, &ci, &cv| {
                if T::valid(ci, cv) && better(want_max, ci, *oi) {
                    *oi = ci;
                    *ov = cv;
                }
            }),
        _ => Zip::from(oi).and(ci).for_each(|oi, &ci| {
            if !ci.is_nan() && better(want_max, ci, *oi) {
                *oi = ci;
            }
        }),
    }
}
