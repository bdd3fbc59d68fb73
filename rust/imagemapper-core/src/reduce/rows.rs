//! Row kernels: the inner loops of `copy`, `sum` / `average` and the mask
//! OR, over contiguous rows.
//!
//! The output planes are owned C-order arrays, so their rows are slices; a
//! cell plane's rows are slices whenever its columns are adjacent in memory
//! (any numpy array sliced from a C-order one). On such rows each kernel is a
//! plain indexed loop with a select (`Pixel::select`) instead of a branch, which the compiler
//! vectorises; it computes exactly what the element-wise `Zip` of the family
//! modules computes (the same operations on the same values, in the same
//! order per pixel), so the result is bit-identical. Each kernel returns
//! `false`, having written nothing, when a cell plane's rows are not
//! contiguous; the caller then runs the general `Zip` version (and always
//! for integer pixels, whose `average` and coverage the family modules keep).

use ndarray::{ArrayView2, ArrayViewMut2};

use super::band::{Band, Overlap};
use super::{BandStats, CellView, Pixel, ReduceOp};

/// The overlap of a cell plane when its rows are contiguous.
fn cell_rows<'a, A>(plane: &ArrayView2<'a, A>, o: &Overlap) -> Option<ArrayView2<'a, A>> {
    let v = o.cell(plane);
    (v.ncols() <= 1 || v.strides()[1] == 1).then_some(v)
}

const CHECKED: &str = "rows were checked to be contiguous";

/// Row `k` of a cell overlap checked by [`cell_rows`].
#[inline]
fn row<'a, A>(v: &'a ArrayView2<'_, A>, k: usize) -> &'a [A] {
    v.row(k).to_slice().expect(CHECKED)
}

/// Row `k` of an output overlap checked by [`out_contiguous`].
#[inline]
fn row_mut<'a, A>(v: &'a mut ArrayViewMut2<'_, A>, k: usize) -> &'a mut [A] {
    v.row_mut(k).into_slice().expect(CHECKED)
}

/// Whether every row of every output overlap is a slice.
fn out_contiguous<A>(v: &ArrayViewMut2<'_, A>) -> bool {
    v.ncols() <= 1 || v.strides()[1] == 1
}

/// `copy`: valid pixels overwrite (see `stitch::copy`).
pub(super) fn copy<T: Pixel>(band: &mut Band<'_, T>, cell: &CellView<'_, T>, o: &Overlap) -> bool {
    let Some(ci) = cell_rows(&cell.image, o) else {
        return false;
    };
    let mut oi = o.out(&mut band.image);
    match (band.variance.as_mut(), cell.variance.as_ref()) {
        (Some(ov), Some(cv)) => {
            let Some(cv) = cell_rows(cv, o) else {
                return false;
            };
            let mut ov = o.out(ov);
            if !(out_contiguous(&oi) && out_contiguous(&ov)) {
                return false;
            }
            for k in 0..ci.nrows() {
                copy_valid(
                    row_mut(&mut oi, k),
                    row_mut(&mut ov, k),
                    row(&ci, k),
                    row(&cv, k),
                );
            }
        }
        _ => {
            if !out_contiguous(&oi) {
                return false;
            }
            for k in 0..ci.nrows() {
                row_mut(&mut oi, k).copy_from_slice(row(&ci, k));
            }
        }
    }
    true
}

#[inline]
fn copy_valid<T: Pixel>(oi: &mut [T], ov: &mut [T], ci: &[T], cv: &[T]) {
    let n = oi.len();
    let (ov, ci, cv) = (&mut ov[..n], &ci[..n], &cv[..n]);
    for j in 0..n {
        let ok = T::valid(ci[j], cv[j]);
        oi[j] = T::select(ok, ci[j], oi[j]);
        ov[j] = T::select(ok, cv[j], ov[j]);
    }
}

/// `sum` and `average`: add the valid pixels, count them where there is a
/// count plane (see `accumulate::sum`, whose cases this mirrors).
pub(super) fn sum<T: Pixel>(band: &mut Band<'_, T>, cell: &CellView<'_, T>, o: &Overlap) -> bool {
    let Some(ci) = cell_rows(&cell.image, o) else {
        return false;
    };
    let cv = match cell.variance.as_ref() {
        Some(v) => match cell_rows(v, o) {
            Some(v) => Some(v),
            None => return false,
        },
        None => None,
    };
    let mut oi = o.out(&mut band.image);
    let mut ov = band.variance.as_mut().map(|v| o.out(v));
    let mut on = band.count.as_mut().map(|c| o.out(c));
    let contiguous = out_contiguous(&oi)
        && ov.as_ref().is_none_or(out_contiguous)
        && on.as_ref().is_none_or(out_contiguous);
    if !contiguous {
        return false;
    }
    for k in 0..ci.nrows() {
        let oi = row_mut(&mut oi, k);
        let c = row(&ci, k);
        match (ov.as_mut(), cv.as_ref(), on.as_mut()) {
            (Some(ov), Some(cv), Some(on)) => {
                sum_counted(oi, row_mut(ov, k), row_mut(on, k), c, row(cv, k));
            }
            (Some(ov), Some(cv), None) => {
                sum_first_assigned(oi, row_mut(ov, k), c, row(cv, k));
            }
            (_, _, Some(on)) => {
                let n = oi.len();
                let (on, c) = (&mut row_mut(on, k)[..n], &c[..n]);
                for j in 0..n {
                    oi[j] = oi[j].add(c[j]);
                    on[j] += 1;
                }
            }
            _ => {
                let n = oi.len();
                let c = &c[..n];
                for j in 0..n {
                    oi[j] = oi[j].add(c[j]);
                }
            }
        }
    }
    true
}

/// `average` (and `sum` without variance planes): add and count valid pixels.
#[inline]
fn sum_counted<T: Pixel>(oi: &mut [T], ov: &mut [T], on: &mut [i32], ci: &[T], cv: &[T]) {
    let n = oi.len();
    let (ov, on, ci, cv) = (&mut ov[..n], &mut on[..n], &ci[..n], &cv[..n]);
    for j in 0..n {
        let ok = T::valid(ci[j], cv[j]);
        let (a, b) = (oi[j].add(ci[j]), ov[j].add(cv[j]));
        oi[j] = T::select(ok, a, oi[j]);
        ov[j] = T::select(ok, b, ov[j]);
        on[j] += i32::from(ok);
    }
}

/// `sum` with variance: the first valid contribution's variance is assigned
/// (a NaN output variance marks "none yet").
#[inline]
fn sum_first_assigned<T: Pixel>(oi: &mut [T], ov: &mut [T], ci: &[T], cv: &[T]) {
    let n = oi.len();
    let (ov, ci, cv) = (&mut ov[..n], &ci[..n], &cv[..n]);
    for j in 0..n {
        let ok = T::valid(ci[j], cv[j]);
        let a = oi[j].add(ci[j]);
        let b = T::select(ov[j].is_nan(), cv[j], ov[j].add(cv[j]));
        oi[j] = T::select(ok, a, oi[j]);
        ov[j] = T::select(ok, b, ov[j]);
    }
}

/// OR the cell's mask into the band's over the overlap (see `or_mask`).
pub(super) fn or_mask<T>(band: &mut Band<'_, T>, cell: &CellView<'_, T>, o: &Overlap) -> bool {
    let (Some(out), Some(m)) = (band.mask.as_mut(), cell.mask.as_ref()) else {
        return true; // nothing to OR
    };
    let Some(cm) = cell_rows(m, o) else {
        return false;
    };
    let mut om = o.out(out);
    if !out_contiguous(&om) {
        return false;
    }
    for k in 0..cm.nrows() {
        let om = row_mut(&mut om, k);
        let c = row(&cm, k);
        let n = om.len();
        let c = &c[..n];
        for j in 0..n {
            om[j] |= c[j];
        }
    }
    true
}

/// Settle one output row at `finish` for every operation but `weighted`
/// (see `accumulate::settle` and `finish_band`, whose per-pixel results
/// this reproduces bit for bit): `bad[j]` is set to 1 where the pixel holds
/// no valid value (or nothing valid reached a `sum` pixel). Returns the
/// number of pixels with no valid contribution, or None (nothing written)
/// for an operation or plane combination it does not handle.
pub(super) fn settle_row<T: Pixel>(
    op: ReduceOp,
    img: &mut [T],
    var: Option<&mut [T]>,
    cnt: Option<&[i32]>,
    bad: &mut [u8],
    st: &mut BandStats,
) -> Option<u64> {
    let n = img.len();
    let bad = &mut bad[..n];
    let mut uncovered = 0u64;
    match (op, var, cnt) {
        (ReduceOp::Copy | ReduceOp::Owner | ReduceOp::Max | ReduceOp::Min, var, _) => match var {
            Some(v) => {
                let v = &v[..n];
                for j in 0..n {
                    let u = img[j].is_nan();
                    uncovered += u64::from(u);
                    bad[j] = u8::from(u | !T::valid(img[j], v[j]));
                }
            }
            None => {
                for j in 0..n {
                    let u = img[j].is_nan();
                    uncovered += u64::from(u);
                    bad[j] = u8::from(u);
                }
            }
        },
        (ReduceOp::Sum, Some(v), _) => {
            // A NaN variance: nothing valid landed; image and variance become 0.
            let v = &mut v[..n];
            for j in 0..n {
                let u = v[j].is_nan();
                uncovered += u64::from(u);
                img[j] = T::select(u, T::ZERO, img[j]);
                v[j] = T::select(u, T::ZERO, v[j]);
                bad[j] = u8::from(u | !T::valid(img[j], v[j]));
            }
        }
        (ReduceOp::Sum, None, Some(c)) => {
            let c = &c[..n];
            for j in 0..n {
                let u = c[j] == 0;
                uncovered += u64::from(u);
                img[j] = T::select(u, T::ZERO, img[j]);
                bad[j] = u8::from(u | img[j].is_nan());
            }
        }
        (ReduceOp::Sum, None, None) => {
            for j in 0..n {
                bad[j] = u8::from(img[j].is_nan());
            }
        }
        (ReduceOp::Average, var, Some(c)) => {
            // Σ / count in f64, rounded once; EMPTY where the count is 0.
            // The weight statistics are integers: their sum is exact in any
            // order, so it is gathered as an integer.
            let c = &c[..n];
            let (mut lo, mut hi, mut sum) = (i32::MAX, i32::MIN, 0i64);
            match var {
                Some(v) => {
                    let v = &mut v[..n];
                    for j in 0..n {
                        let k = c[j];
                        let (u, nf) = (k <= 0, f64::from(k));
                        lo = lo.min(k);
                        hi = hi.max(k);
                        sum += i64::from(k);
                        uncovered += u64::from(u);
                        img[j] = T::select(u, T::EMPTY, T::from_f64(img[j].to_f64() / nf));
                        v[j] = T::select(u, T::EMPTY, T::from_f64(v[j].to_f64() / nf));
                        bad[j] = u8::from(u | !T::valid(img[j], v[j]));
                    }
                }
                None => {
                    for j in 0..n {
                        let k = c[j];
                        let (u, nf) = (k <= 0, f64::from(k));
                        lo = lo.min(k);
                        hi = hi.max(k);
                        sum += i64::from(k);
                        uncovered += u64::from(u);
                        img[j] = T::select(u, T::EMPTY, T::from_f64(img[j].to_f64() / nf));
                        bad[j] = u8::from(u | img[j].is_nan());
                    }
                }
            }
            if n > 0 {
                st.min_w = st.min_w.min(f64::from(lo));
                st.max_w = st.max_w.max(f64::from(hi));
                #[allow(clippy::cast_precision_loss)]
                {
                    st.sum_w += sum as f64;
                }
            }
            st.n_zero += uncovered;
        }
        _ => return None,
    }
    Some(uncovered)
}

/// OR `bad_bits` into the mask where `bad` is set; the number of such pixels.
pub(super) fn flag_row(mask: Option<&mut [i32]>, bad: &[u8], bad_bits: i32) -> u64 {
    let n = bad.len();
    let mut count = 0u64;
    match mask {
        Some(m) => {
            let m = &mut m[..n];
            for j in 0..n {
                count += u64::from(bad[j]);
                m[j] |= bad_bits & -i32::from(bad[j]);
            }
        }
        None => {
            for &b in bad {
                count += u64::from(b);
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    //! The row kernels against the element-wise code they replace, bit for
    //! bit, on values that exercise every rule (NaN, ±inf, ±0.0, invalid
    //! pixels through the variance, zero counts).
    use super::super::{accumulate, Params, Reducer, Stats, Weights};
    use super::*;
    use crate::geom::{Box2I, Extent2I, Point2I};
    use ndarray::{s, Array2};

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn value(&mut self) -> f32 {
            match self.next() % 10 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => -0.0,
                3 => 0.0,
                4 => f32::NEG_INFINITY,
                _ => (self.next() % 2000) as f32 / 7.0 - 100.0,
            }
        }
    }

    fn bx(x: i32, y: i32, w: i32, h: i32) -> Box2I {
        Box2I::from_corner_dims(Point2I::new(x, y), Extent2I::new(w, h), true).unwrap()
    }

    fn bits(a: &Array2<f32>) -> Vec<u32> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    type Out = (
        Vec<u32>,
        Option<Vec<u32>>,
        Option<Vec<i32>>,
        Option<Vec<u64>>,
        Stats,
    );

    /// Stitch `cells` (image, mask, variance planes of width 2w: the even
    /// columns are the cell) through contiguous copies or strided views.
    fn run(op: ReduceOp, with_var: bool, strided: bool, seed: u64) -> Out {
        let full = bx(3, 5, 40, 30);
        let mut rng = Lcg(seed);
        let boxes = [
            bx(3, 5, 16, 12),
            bx(10, 9, 20, 14),
            bx(25, 20, 18, 15),
            bx(3, 5, 40, 30),
        ];
        let planes: Vec<(Array2<f32>, Array2<i32>, Array2<f32>)> = boxes
            .iter()
            .map(|b| {
                let (h, w) = (b.height() as usize, 2 * b.width() as usize);
                (
                    Array2::from_shape_fn((h, w), |_| rng.value()),
                    Array2::from_shape_fn((h, w), |_| 1 << (rng.next() % 5)),
                    Array2::from_shape_fn((h, w), |_| rng.value()),
                )
            })
            .collect();
        let owned: Vec<_> = planes
            .iter()
            .map(|(i, m, v)| {
                let even = s![.., ..;2];
                (
                    i.slice(even).to_owned(),
                    m.slice(even).to_owned(),
                    v.slice(even).to_owned(),
                )
            })
            .collect();
        let mask0 = Array2::from_shape_fn((30, 40), |(y, x)| i32::from((x + y) % 7 == 0) << 8);
        let mut r = Reducer::<f32>::new(
            op,
            Params::default(),
            full,
            full,
            Some(mask0),
            with_var,
            &boxes,
            1,
        )
        .unwrap();
        let views: Vec<CellView<'_, f32>> = boxes
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let even = s![.., ..;2];
                let (i, m, v) = if strided {
                    (
                        planes[k].0.slice(even),
                        planes[k].1.slice(even),
                        planes[k].2.slice(even),
                    )
                } else {
                    (owned[k].0.view(), owned[k].1.view(), owned[k].2.view())
                };
                CellView {
                    index: k,
                    bbox: *b,
                    image: i,
                    mask: Some(m),
                    variance: with_var.then_some(v),
                }
            })
            .collect();
        r.add(&views[..2]).unwrap();
        r.add(&views[2..]).unwrap();
        let stats = r.finish(1 << 12).unwrap();
        let out = r.into_output();
        let w = out.weights.map(|w| match w {
            Weights::Count(c) => c.iter().map(|&v| v as u64).collect(),
            Weights::Sum(s) => s.iter().map(|v| v.to_bits()).collect(),
        });
        (
            bits(&out.image),
            out.variance.as_ref().map(bits),
            out.mask.map(|m| m.iter().copied().collect()),
            w,
            stats,
        )
    }

    #[test]
    fn stitching_contiguous_rows_gives_the_bits_of_the_elementwise_code() {
        let ops = [
            ReduceOp::Copy,
            ReduceOp::Sum,
            ReduceOp::Average,
            ReduceOp::Owner,
            ReduceOp::Max,
        ];
        for op in ops {
            for with_var in [true, false] {
                for seed in 1..6 {
                    let fast = run(op, with_var, false, seed);
                    let general = run(op, with_var, true, seed);
                    assert_eq!(fast.0, general.0, "{op} var={with_var} seed={seed}: image");
                    assert_eq!(fast.1, general.1, "{op} var={with_var}: variance");
                    assert_eq!(fast.2, general.2, "{op} var={with_var}: mask");
                    assert_eq!(fast.3, general.3, "{op} var={with_var}: weights");
                    assert_eq!(fast.4, general.4, "{op} var={with_var}: stats");
                }
            }
        }
    }

    #[test]
    fn settle_row_gives_the_bits_of_settle() {
        let mut rng = Lcg(7);
        let n = 37;
        for op in [
            ReduceOp::Copy,
            ReduceOp::Sum,
            ReduceOp::Average,
            ReduceOp::Max,
        ] {
            for (with_var, with_cnt) in [(true, true), (true, false), (false, true), (false, false)]
            {
                if op == ReduceOp::Average && !with_cnt {
                    continue; // an average always has its count plane
                }
                let img: Vec<f32> = (0..n).map(|_| rng.value()).collect();
                let var: Vec<f32> = (0..n).map(|_| rng.value()).collect();
                let cnt: Vec<i32> = (0..n).map(|_| (rng.next() % 4) as i32).collect();
                let (mut i1, mut v1) = (img.clone(), var.clone());
                let mut bad = vec![0u8; n];
                let mut st1 = BandStats::default();
                let u1 = settle_row(
                    op,
                    &mut i1,
                    with_var.then_some(&mut v1[..]),
                    with_cnt.then_some(&cnt[..]),
                    &mut bad,
                    &mut st1,
                )
                .unwrap();
                let (mut i2, mut v2) = (img.clone(), var.clone());
                let mut st2 = BandStats::default();
                let mut u2 = 0;
                for j in 0..n {
                    let u = accumulate::settle(
                        op,
                        false,
                        &mut i2[j],
                        with_var.then_some(&mut v2[j]),
                        with_cnt.then_some(cnt[j]),
                        None,
                        None,
                        &mut st2,
                    );
                    u2 += u64::from(u);
                    let valid = if with_var {
                        f32::valid(i2[j], v2[j])
                    } else {
                        !i2[j].is_nan()
                    };
                    assert_eq!(bad[j] == 1, u || !valid, "{op} pixel {j}: bad flag");
                }
                let b = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(b(&i1), b(&i2), "{op} var={with_var} cnt={with_cnt}: image");
                if with_var {
                    assert_eq!(b(&v1), b(&v2), "{op}: variance");
                }
                assert_eq!(u1, u2, "{op}: uncovered");
                assert_eq!(
                    (st1.n_zero, st1.min_w, st1.max_w, st1.sum_w),
                    (st2.n_zero, st2.min_w, st2.max_w, st2.sum_w),
                    "{op}: stats"
                );
                let mut mask = vec![3i32; n];
                assert_eq!(
                    flag_row(Some(&mut mask), &bad, 1 << 9),
                    bad.iter().map(|&x| u64::from(x)).sum::<u64>()
                );
                for j in 0..n {
                    assert_eq!(mask[j], if bad[j] == 1 { 3 | 1 << 9 } else { 3 });
                }
            }
        }
    }
}
