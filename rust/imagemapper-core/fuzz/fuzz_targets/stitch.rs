//! Fuzz the reducer with arbitrary output boxes, mask shapes,
//! cells (outside the output, empty, mis-shaped), pixel values (NaN, inf),
//! operations and thread counts. It must succeed exactly when every plane
//! fits its box, and never panic.
#![no_main]

use imagemapper_core::reduce::{CellView, Params, ReduceOp, Reducer};
use imagemapper_core::{Box2I, Extent2I, Point2I};
use libfuzzer_sys::fuzz_target;
use ndarray::Array2;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }
    fn small(&mut self) -> i32 {
        i32::from(self.u8() % 24) - 6
    }
    fn dim(&mut self) -> usize {
        usize::from(self.u8() % 12)
    }
    fn value(&mut self) -> f64 {
        match self.u8() % 8 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => 0.0,
            4 => f64::MAX,
            v => f64::from(v) - 5.5,
        }
    }
}

fn boxed(x: i32, y: i32, w: i32, h: i32) -> Box2I {
    Box2I::from_corner_dims(Point2I::new(x, y), Extent2I::new(w, h), true).unwrap_or_default()
}

type Owned = (Box2I, Array2<f64>, Array2<f64>, Option<Array2<i32>>);

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let op = ReduceOp::ALL[usize::from(b.u8() % 7)];
    let threads = usize::from(b.u8() % 6);
    let bbox = boxed(b.small(), b.small(), b.small(), b.small());
    let fit = b.u8() % 4 != 0;
    let want = (bbox.height().max(0) as usize, bbox.width().max(0) as usize);
    let shape = if fit { want } else { (b.dim(), b.dim()) };
    let bad_bits = i32::from(b.u8()) << 20;
    let n_cells = usize::from(b.u8() % 6);
    let mut cells: Vec<Owned> = Vec::new();
    for _ in 0..n_cells {
        let cb = boxed(b.small(), b.small(), b.small(), b.small());
        let cs = (cb.height().max(0) as usize, cb.width().max(0) as usize);
        let exact = b.u8() % 4 != 0;
        let (is, vs) = if exact {
            (cs, cs)
        } else {
            ((b.dim(), b.dim()), (b.dim(), b.dim()))
        };
        let (iv, vv) = (b.value(), b.value());
        let mask = match b.u8() % 3 {
            0 => None,
            1 => Some(Array2::from_elem(cs, i32::from(b.u8()))),
            _ => Some(Array2::from_elem((b.dim(), b.dim()), -1)),
        };
        cells.push((
            cb,
            Array2::from_elem(is, iv),
            Array2::from_elem(vs, vv),
            mask,
        ));
    }
    let views: Vec<CellView<'_, f64>> = cells
        .iter()
        .enumerate()
        .map(|(k, (cb, i, v, m))| CellView {
            index: k,
            bbox: *cb,
            image: i.view(),
            mask: m.as_ref().map(|m| m.view()),
            variance: Some(v.view()),
        })
        .collect();
    let mask = Array2::<i32>::zeros(shape);
    let cells_fit = cells.iter().all(|(cb, i, v, m)| {
        let s = (cb.height() as usize, cb.width() as usize);
        bbox.contains_box(cb)
            && i.dim() == s
            && v.dim() == s
            && m.as_ref().is_none_or(|m| m.dim() == s)
    });
    let r = Reducer::new(op, Params::default(), bbox, bbox, Some(mask), true, &[], threads)
        .and_then(|mut out| {
            out.add(&views)?;
            out.finish(bad_bits)
        });
    assert_eq!(r.is_ok(), cells_fit && shape == want, "{:?}", r.err());
});
