//! Fuzz `generate_grid` with arbitrary frames and grid specifications
//! (non-finite, negative, huge values; centroids anywhere). It must return a
//! grid of boxes inside the frame or an error: never panic, never hang.
#![no_main]

use imagemapper_core::grid::{generate_grid, AdjustGrid, GridSpec};
use imagemapper_core::{Box2I, Extent2I, Point2I};
use libfuzzer_sys::fuzz_target;

/// Reads little-endian values from the fuzzer's bytes (zeros once exhausted).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.take())
    }
    /// Mostly small sizes (so that valid grids stay small enough to build
    /// quickly), sometimes any bit pattern (NaN, inf, subnormals, 1e300).
    fn size(&mut self) -> f64 {
        match self.u8() % 4 {
            0 => f64::from_le_bytes(self.take()),
            _ => f64::from(self.u8()) / 4.0,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let (x0, y0) = (b.i32(), b.i32());
    // Frames up to 512 x 512 pixels with the generated grids, anywhere in the
    // plane; huge frames with explicit centroids or large cells.
    let big = b.u8() % 8 == 0;
    let (w, h) = if big {
        (b.i32(), b.i32())
    } else {
        (i32::from(b.u8()) * 2 + 1, i32::from(b.u8()) * 2 + 1)
    };
    let Ok(frame) = Box2I::from_corner_dims(Point2I::new(x0, y0), Extent2I::new(w, h), true) else {
        return;
    };
    let adjust = [AdjustGrid::Spacing, AdjustGrid::Size, AdjustGrid::None][usize::from(b.u8() % 3)];
    let mut spec = GridSpec::new(
        [b.size(), b.size()],
        [b.size(), b.size()],
        [b.size(), b.size()],
        adjust,
    );
    if big {
        // Keep a generated grid over a huge frame small: cells of >= 2^24 px.
        for v in spec.cell_size.iter_mut().chain(spec.grid_step.iter_mut()) {
            *v = v.abs() * f64::from(1u32 << 24) + f64::from(1u32 << 24);
        }
    }
    let n = usize::from(b.u8() % 8);
    spec.centroids = (0..n)
        .map(|_| (b.size() * 4.0 - 64.0, b.size() * 4.0 - 64.0))
        .collect();
    if b.u8() % 2 == 0 {
        spec.fwhm_scale = Some(b.size());
    }
    spec.force_even_sized = b.u8() % 2 == 0;
    if let Ok(grid) = generate_grid(&frame, &spec) {
        assert_eq!(grid.cells.len(), grid.expanded.len());
        for (c, e) in grid.cells.iter().zip(&grid.expanded) {
            assert!(frame.contains_box(c) && frame.contains_box(e));
            assert!(c.area() > 1 && e.area() > 1);
            assert!(c.slices_within(&frame).is_ok());
            if spec.force_even_sized {
                assert!(c.width() % 2 == 0 && c.height() % 2 == 0);
            } else {
                assert!(e.contains_box(c));
            }
        }
    }
});
