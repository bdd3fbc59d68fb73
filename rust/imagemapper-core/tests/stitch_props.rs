//! The reducer (every stitching operation) against a naive per-pixel reference, bit for bit:
//! random output boxes (any origin), random overlapping cells with NaNs in
//! image or variance, random masks, f32 and f64, strided / transposed /
//! reversed views, several thread counts and batchings.

use std::sync::Arc;

use imagemapper_core::reduce::{CellGeom, CellView, Params, Pixel, ReduceOp, Reducer};
use imagemapper_core::{Box2I, Extent2I, Point2I};
use ndarray::{s, Array2, ArrayView2, ShapeBuilder};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Cell {
    bbox: Box2I,
    image: Array2<f64>,
    variance: Array2<f64>,
    mask: Array2<i32>,
    layout: u8, // 0 C order, 1 Fortran order, 2 strided (every other column), 3 reversed rows
}

#[derive(Debug, Clone)]
struct Case {
    out: Box2I,
    cells: Vec<Cell>,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (-30i32..30, -30i32..30, 1i32..40, 1i32..40).prop_flat_map(|(x0, y0, w, h)| {
        let out = Box2I::from_corner_dims(Point2I::new(x0, y0), Extent2I::new(w, h), true).unwrap();
        let cell = (0..w, 0..h, 1i32..20, 1i32..20, any::<u64>(), 0u8..4).prop_map(
            move |(cx, cy, cw, ch, seed, layout)| {
                let cw = cw.min(w - cx);
                let ch = ch.min(h - cy);
                let bbox = Box2I::from_corner_dims(
                    Point2I::new(x0 + cx, y0 + cy),
                    Extent2I::new(cw, ch),
                    true,
                )
                .unwrap();
                let (hh, ww) = (ch as usize, cw as usize);
                let mut s = seed | 1;
                let mut next = move || {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    s
                };
                let mut image = Array2::<f64>::zeros((hh, ww));
                let mut variance = Array2::<f64>::zeros((hh, ww));
                let mut mask = Array2::<i32>::zeros((hh, ww));
                for v in image.iter_mut() {
                    let r = next();
                    *v = if r % 9 == 0 {
                        f64::NAN
                    } else {
                        (r % 2000) as f64 / 7.0 - 100.0
                    };
                }
                for v in variance.iter_mut() {
                    let r = next();
                    *v = match r % 11 {
                        0 => f64::NAN,
                        1 => f64::INFINITY,
                        _ => (r % 500) as f64 / 3.0,
                    };
                }
                for v in mask.iter_mut() {
                    *v = 1 << (next() % 8);
                }
                Cell {
                    bbox,
                    image,
                    variance,
                    mask,
                    layout,
                }
            },
        );
        (Just(out), proptest::collection::vec(cell, 0..9))
            .prop_map(|(out, cells)| Case { out, cells })
    })
}

/// Arrays in the requested memory layout (values identical).
fn laid_out<T: Copy + Default>(a: &Array2<T>, layout: u8) -> Array2<T> {
    let (h, w) = a.dim();
    match layout {
        1 => {
            let mut f = Array2::<T>::default((h, w).f());
            f.assign(a);
            f
        }
        2 => {
            let mut wide = Array2::<T>::default((h, 2 * w));
            wide.slice_mut(s![.., ..;2]).assign(a);
            wide
        }
        3 => {
            let mut r = Array2::<T>::default((h, w));
            r.slice_mut(s![..;-1, ..]).assign(a);
            r
        }
        _ => a.clone(),
    }
}

fn view_of<T>(a: &Array2<T>, layout: u8) -> ArrayView2<'_, T> {
    match layout {
        2 => a.slice(s![.., ..;2]),
        3 => a.slice(s![..;-1, ..]),
        _ => a.view(),
    }
}

/// The reference: plain loops, pixel by pixel, cells in order.
fn naive<T: Pixel + Default>(
    case: &Case,
    op: ReduceOp,
    bad: i32,
    mask0: &Array2<i32>,
) -> (Array2<T>, Array2<T>, Array2<i32>) {
    let (h, w) = (case.out.height() as usize, case.out.width() as usize);
    let start = if op == ReduceOp::Copy {
        T::EMPTY
    } else {
        T::ZERO
    };
    let mut img = Array2::from_elem((h, w), start);
    let mut var = Array2::from_elem((h, w), start);
    let mut msk = mask0.clone();
    let mut cnt = Array2::<i32>::zeros((h, w));
    for c in &case.cells {
        for r in 0..c.bbox.height() as usize {
            for q in 0..c.bbox.width() as usize {
                let y = (c.bbox.min_y() - case.out.min_y()) as usize + r;
                let x = (c.bbox.min_x() - case.out.min_x()) as usize + q;
                let ci = T::from_f64(c.image[[r, q]]);
                let cv = T::from_f64(c.variance[[r, q]]);
                if T::valid(ci, cv) {
                    match op {
                        ReduceOp::Copy => {
                            img[[y, x]] = ci;
                            var[[y, x]] = cv;
                        }
                        _ => {
                            img[[y, x]] = img[[y, x]].add(ci);
                            var[[y, x]] = var[[y, x]].add(cv);
                            cnt[[y, x]] += 1;
                        }
                    }
                }
                msk[[y, x]] |= c.mask[[r, q]];
            }
        }
    }
    for y in 0..h {
        for x in 0..w {
            if op == ReduceOp::Average {
                if cnt[[y, x]] > 0 {
                    let n = f64::from(cnt[[y, x]]);
                    img[[y, x]] = T::from_f64(img[[y, x]].to_f64() / n);
                    var[[y, x]] = T::from_f64(var[[y, x]].to_f64() / n);
                } else {
                    img[[y, x]] = T::EMPTY;
                    var[[y, x]] = T::EMPTY;
                }
            }
            // A sum pixel with no valid contribution is 0 and flagged.
            let uncovered = op == ReduceOp::Sum && cnt[[y, x]] == 0;
            if uncovered || !T::valid(img[[y, x]], var[[y, x]]) {
                msk[[y, x]] |= bad;
            }
        }
    }
    (img, var, msk)
}

fn same_bits<T: Pixel>(a: &Array2<T>, b: &Array2<T>) -> bool {
    a.dim() == b.dim()
        && a.iter().zip(b.iter()).all(|(&x, &y)| {
            (x.is_nan() && y.is_nan()) || x.to_f64().to_bits() == y.to_f64().to_bits()
        })
}

fn run_kernel<T: Pixel + Default>(
    case: &Case,
    op: ReduceOp,
    bad: i32,
    mask0: &Array2<i32>,
    threads: usize,
    batches: usize,
) -> (Array2<T>, Array2<T>, Array2<i32>) {
    let conv = converted::<T>(case);
    let views = views_of(case, &conv);
    let mut out = Reducer::new(
        op,
        Params::default(),
        case.out,
        case.out,
        Some(mask0.clone()),
        true,
        &[],
        threads,
    )
    .unwrap();
    let per = views.len().div_ceil(batches.max(1)).max(1);
    for chunk in views.chunks(per) {
        out.add(chunk).unwrap();
    }
    out.finish(bad).unwrap();
    let out = out.into_output();
    (out.image, out.variance.unwrap(), out.mask.unwrap())
}

type Converted<T> = Vec<(Array2<T>, Array2<T>, Array2<i32>)>;

/// The cells' planes in the pixel type and their memory layout.
fn converted<T: Pixel + Default>(case: &Case) -> Converted<T> {
    case.cells
        .iter()
        .map(|c| {
            (
                laid_out(&c.image.mapv(T::from_f64), c.layout),
                laid_out(&c.variance.mapv(T::from_f64), c.layout),
                laid_out(&c.mask, c.layout),
            )
        })
        .collect()
}

fn views_of<'a, T: Pixel>(case: &Case, conv: &'a Converted<T>) -> Vec<CellView<'a, T>> {
    case.cells
        .iter()
        .zip(conv)
        .enumerate()
        .map(|(k, (c, (i, v, m)))| CellView {
            index: k,
            bbox: c.bbox,
            image: view_of(i, c.layout),
            mask: Some(view_of(m, c.layout)),
            variance: Some(view_of(v, c.layout)),
        })
        .collect()
}

fn check<T: Pixel + Default>(case: &Case) -> Result<(), TestCaseError> {
    let bad = 1 << 9;
    let mask0 = Array2::from_shape_fn(
        (case.out.height() as usize, case.out.width() as usize),
        |(y, x)| ((x * 31 + y * 17) % 5 == 0) as i32 * 4096,
    );
    for op in [ReduceOp::Copy, ReduceOp::Sum, ReduceOp::Average] {
        let (ni, nv, nm) = naive::<T>(case, op, bad, &mask0);
        for (threads, batches) in [(1, 1), (2, 1), (3, 2), (7, 5)] {
            let (ki, kv, km) = run_kernel::<T>(case, op, bad, &mask0, threads, batches);
            prop_assert!(
                same_bits(&ki, &ni),
                "{op:?} image differs ({threads} threads, {batches} batches)"
            );
            prop_assert!(
                same_bits(&kv, &nv),
                "{op:?} variance differs ({threads} threads, {batches} batches)"
            );
            prop_assert_eq!(&km, &nm, "{:?} mask differs", op);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn kernel_matches_naive_f32(case in arb_case()) {
        check::<f32>(&case)?;
    }

    #[test]
    fn kernel_matches_naive_f64(case in arb_case()) {
        check::<f64>(&case)?;
    }
}

#[test]
fn tall_image_many_bands_is_thread_count_independent() {
    // 300 rows so that several bands exist; 40 overlapping cells.
    let out = Box2I::from_corner_dims(Point2I::new(5, -7), Extent2I::new(23, 300), true).unwrap();
    let mut cells = Vec::new();
    for k in 0..40i32 {
        let bbox = Box2I::from_corner_dims(
            Point2I::new(5 + (k * 7) % 15, -7 + (k * 13) % 260),
            Extent2I::new(8, 40),
            true,
        )
        .unwrap();
        let image = Array2::from_shape_fn((40, 8), |(r, q)| {
            if (r + q + k as usize) % 17 == 0 {
                f64::NAN
            } else {
                (r * 8 + q) as f64 * 0.1 + f64::from(k)
            }
        });
        cells.push(Cell {
            bbox,
            image,
            variance: Array2::from_elem((40, 8), 1.5),
            mask: Array2::from_elem((40, 8), 1 << (k % 5)),
            layout: (k % 4) as u8,
        });
    }
    let case = Case { out, cells };
    check::<f32>(&case).unwrap();
}

// ------------------------------------------------------------ blend ops

mod blend_ops {
    use super::*;
    use imagemapper_core::reduce::{cell_ramps, window, VariancePolicy, Window};

    /// Geometry of cell `k`: ramps and a centre derived from its box and index.
    fn geom_of(c: &Cell, k: usize) -> CellGeom {
        let (w, h) = (c.bbox.width(), c.bbox.height());
        let kk = k as i32;
        CellGeom {
            ramps: [
                (kk * 3) % (w / 2 + 1),
                (kk * 5 + 1) % (w / 2 + 1),
                (kk * 7 + 2) % (h / 2 + 1),
                (kk + 3) % (h / 2 + 1),
            ],
            centre: [
                f64::from(c.bbox.min_x()) + f64::from(w - 1) / 2.0,
                f64::from(c.bbox.min_y()) + f64::from(h - 1) / 2.0 + (k % 3) as f64,
            ],
        }
    }

    fn profile_naive(window: Window, u: f64) -> f64 {
        window::profile(window, u)
    }

    fn ramp(window: Window, t: i64, r: i32) -> f64 {
        if r <= 0 || t >= i64::from(r) {
            1.0
        } else {
            profile_naive(window, (t as f64 + 0.5) / f64::from(r))
        }
    }

    /// The reference: plain loops over pixels, cells in order.
    fn naive<T: Pixel + Default>(
        case: &Case,
        op: ReduceOp,
        params: &Params,
        bad: i32,
        mask0: &Array2<i32>,
    ) -> (Array2<T>, Array2<T>, Array2<i32>, Array2<f64>) {
        let (h, w) = (case.out.height() as usize, case.out.width() as usize);
        let (ox, oy) = (i64::from(case.out.min_x()), i64::from(case.out.min_y()));
        let start = if op == ReduceOp::Weighted {
            T::ZERO
        } else {
            T::EMPTY
        };
        let mut img = Array2::<T>::from_elem((h, w), start);
        let mut var = Array2::<T>::from_elem((h, w), start);
        let mut msk = mask0.clone();
        let aux0 = if op == ReduceOp::Owner {
            f64::INFINITY
        } else {
            0.0
        };
        let mut aux = Array2::<f64>::from_elem((h, w), aux0);
        for (k, c) in case.cells.iter().enumerate() {
            let g = geom_of(c, k);
            let (cw, ch) = (i64::from(c.bbox.width()), i64::from(c.bbox.height()));
            for r in 0..ch {
                for q in 0..cw {
                    let (x, y) = (i64::from(c.bbox.min_x()) + q, i64::from(c.bbox.min_y()) + r);
                    let (i, j) = ((y - oy) as usize, (x - ox) as usize);
                    let (ru, qu) = (r as usize, q as usize);
                    msk[[i, j]] |= c.mask[[ru, qu]];
                    let ci = T::from_f64(c.image[[ru, qu]]);
                    let cv = T::from_f64(c.variance[[ru, qu]]);
                    if !T::valid(ci, cv) {
                        continue;
                    }
                    match op {
                        ReduceOp::Weighted => {
                            let mut wt = ramp(params.window, q, g.ramps[0])
                                * ramp(params.window, cw - 1 - q, g.ramps[1])
                                * (ramp(params.window, r, g.ramps[2])
                                    * ramp(params.window, ch - 1 - r, g.ramps[3]));
                            let v = cv.to_f64();
                            if params.inverse_variance {
                                if v <= 0.0 || v.is_infinite() {
                                    continue;
                                }
                                wt /= v;
                            }
                            if wt == 0.0 {
                                continue;
                            }
                            img[[i, j]] = T::from_f64(img[[i, j]].to_f64() + wt * ci.to_f64());
                            let wv = if params.variance == VariancePolicy::Independent {
                                wt * wt * v
                            } else {
                                wt * v
                            };
                            var[[i, j]] = T::from_f64(var[[i, j]].to_f64() + wv);
                            aux[[i, j]] += wt;
                        }
                        ReduceOp::Owner => {
                            let dx = x as f64 - g.centre[0];
                            let dy = y as f64 - g.centre[1];
                            let d2 = dx * dx + dy * dy;
                            if d2 < aux[[i, j]] {
                                aux[[i, j]] = d2;
                                img[[i, j]] = ci;
                                var[[i, j]] = cv;
                            }
                        }
                        ReduceOp::Max | ReduceOp::Min => {
                            let cur = img[[i, j]].to_f64();
                            let a = ci.to_f64();
                            let better = cur.is_nan()
                                || if op == ReduceOp::Max {
                                    a > cur
                                } else {
                                    a < cur
                                };
                            if better {
                                img[[i, j]] = ci;
                                var[[i, j]] = cv;
                            }
                        }
                        _ => unreachable!("not a blend operation"),
                    }
                }
            }
        }
        if op == ReduceOp::Weighted {
            for ((v, s), &wt) in img.iter_mut().zip(var.iter_mut()).zip(aux.iter()) {
                if wt > 0.0 {
                    *v = T::from_f64(v.to_f64() / wt);
                    let d = if params.variance == VariancePolicy::Independent {
                        wt * wt
                    } else {
                        wt
                    };
                    *s = T::from_f64(s.to_f64() / d);
                } else {
                    *v = T::EMPTY;
                    *s = T::EMPTY;
                }
            }
        }
        for ((m, &v), &s) in msk.iter_mut().zip(img.iter()).zip(var.iter()) {
            if !T::valid(v, s) {
                *m |= bad;
            }
        }
        (img, var, msk, aux)
    }

    fn run_kernel<T: Pixel + Default>(
        case: &Case,
        op: ReduceOp,
        params: &Params,
        bad: i32,
        mask0: &Array2<i32>,
        threads: usize,
        batches: usize,
    ) -> (Array2<T>, Array2<T>, Array2<i32>) {
        let conv = converted::<T>(case);
        let views = views_of(case, &conv);
        let geoms: Arc<[CellGeom]> = case
            .cells
            .iter()
            .enumerate()
            .map(|(k, c)| geom_of(c, k))
            .collect();
        let mut out = Reducer::with_geoms(
            op,
            *params,
            case.out,
            case.out,
            Some(mask0.clone()),
            true,
            geoms,
            threads,
        )
        .unwrap();
        let per = views.len().div_ceil(batches.max(1)).max(1);
        for chunk in views.chunks(per) {
            out.add(chunk).unwrap();
        }
        out.finish(bad).unwrap();
        let out = out.into_output();
        (out.image, out.variance.unwrap(), out.mask.unwrap())
    }

    fn check<T: Pixel + Default>(case: &Case, params: &Params) -> Result<(), TestCaseError> {
        let bad = 1 << 9;
        let mask0 = Array2::from_shape_fn(
            (case.out.height() as usize, case.out.width() as usize),
            |(y, x)| ((x * 31 + y * 17) % 5 == 0) as i32 * 4096,
        );
        for op in [
            ReduceOp::Weighted,
            ReduceOp::Owner,
            ReduceOp::Max,
            ReduceOp::Min,
        ] {
            let (ni, nv, nm, _) = naive::<T>(case, op, params, bad, &mask0);
            for (threads, batches) in [(1, 1), (3, 2), (7, 5)] {
                let (ki, kv, km) = run_kernel::<T>(case, op, params, bad, &mask0, threads, batches);
                prop_assert!(
                    same_bits(&ki, &ni),
                    "{op:?} image differs ({threads}, {batches})"
                );
                prop_assert!(
                    same_bits(&kv, &nv),
                    "{op:?} variance differs ({threads}, {batches})"
                );
                prop_assert_eq!(&km, &nm, "{:?} mask differs", op);
            }
        }
        Ok(())
    }

    fn arb_params() -> impl Strategy<Value = Params> {
        (0u8..3, any::<bool>(), any::<bool>()).prop_map(|(w, iv, ind)| Params {
            window: [Window::Linear, Window::Cosine, Window::Gaussian][w as usize],
            inverse_variance: iv,
            variance: if ind {
                VariancePolicy::Independent
            } else {
                VariancePolicy::Correlated
            },
            max_ramp_fraction: 0.5,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        #[test]
        fn blend_matches_naive_f32(case in arb_case(), params in arb_params()) {
            check::<f32>(&case, &params)?;
        }

        #[test]
        fn blend_matches_naive_f64(case in arb_case(), params in arb_params()) {
            check::<f64>(&case, &params)?;
        }

        /// On a regular 1-D chain of cells overlapping by the ramp width,
        /// the windows are a partition of unity.
        #[test]
        fn ramps_give_partition_of_unity(
            n in 2usize..6, width in 4i32..40, overlap_frac in 0.05f64..0.5, w in 0u8..3,
        ) {
            let overlap = ((f64::from(width) * overlap_frac) as i32).max(1);
            let step = width - overlap;
            let cells: Vec<Box2I> = (0..n as i32)
                .map(|k| Box2I::from_corner_dims(
                    Point2I::new(k * step, 0), Extent2I::new(width, 3), true).unwrap())
                .collect();
            let ramps = cell_ramps(&cells, 0.5).unwrap();
            let window = [Window::Linear, Window::Cosine, Window::Gaussian][w as usize];
            let total = (n as i32 - 1) * step + width;
            for x in 0..total {
                let mut s = 0.0;
                for (c, r) in cells.iter().zip(&ramps) {
                    if x >= c.min_x() && x <= c.max_x() {
                        let t = i64::from(x - c.min_x());
                        s += window::window_1d(window, t, i64::from(c.width()) - 1 - t, r[0], r[1]);
                    }
                }
                prop_assert!((s - 1.0).abs() < 1e-12, "x {}: sum {}", x, s);
            }
            prop_assert_eq!(ramps[0][0], 0);
            prop_assert_eq!(ramps[n - 1][1], 0);
        }
    }

    #[test]
    fn mesh_bilinear_matches_hand_values() {
        let xs = [0.0, 10.0];
        let ys = [0.0, 4.0];
        let vals = ndarray::arr2(&[[0.0, 10.0], [4.0, 14.0]]);
        let bbox =
            Box2I::from_corner_dims(Point2I::new(-2, -1), Extent2I::new(15, 7), true).unwrap();
        let mut out = Array2::<f32>::zeros((7, 15));
        imagemapper_core::reduce::mesh::bilinear(&xs, &ys, vals.view(), &bbox, out.view_mut(), 3)
            .unwrap();
        for (i, row) in out.rows().into_iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let x = (j as f64 - 2.0).clamp(0.0, 10.0);
                let y = (i as f64 - 1.0).clamp(0.0, 4.0);
                assert!((f64::from(v) - (x + y)).abs() < 1e-5, "{i} {j} {v}");
            }
        }
        assert!(imagemapper_core::reduce::mesh::bilinear(
            &[1.0, 1.0],
            &ys,
            vals.view(),
            &bbox,
            out.view_mut(),
            1
        )
        .is_err());
    }
}
