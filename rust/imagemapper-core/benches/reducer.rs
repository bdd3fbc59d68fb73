//! Criterion benchmark of the core [`Reducer`]: a grid of overlapping cells
//! added in batches and finished, for the stitching operations that matter
//! most (copy, sum, average, weighted, max), on `f32`.
//!
//! The workload is a 2048 × 2048 output cut by the grid of
//! `cellSize = gridStep = 64`, `borderSize = 16` (`adjustGridOption = "none"`):
//! 1024 cells whose results cover their *expanded* boxes (96 × 96 inside the
//! image), so every output pixel receives about 2.2 contributions. The cell
//! results are made once, before timing; one iteration creates the reducer
//! (allocating and initialising its planes), adds the cells in batches of 256
//! in cell order (as the Python task streams them) and finishes.
//!
//! Two groups: `reduce_f32_masked` (image, mask and variance planes: an
//! `Exposure`) and `reduce_f32_image` (image only: the numpy façade). Each
//! group reports throughput as the bytes of cell planes the reducer consumes
//! per iteration, and holds a `memcpy` baseline that copies exactly that many
//! bytes (from one buffer far larger than the caches into another), so a
//! reduce's throughput divided by the baseline's is its fraction of copy
//! bandwidth. `weighted_bands` is the out-of-core path: one `weighted` reducer
//! per band of 256 output rows sharing the grid geometry
//! ([`Reducer::with_geoms`]), each fed the cells that touch it (a cell that
//! spans two bands is added to both).
//!
//! Run (release build; two to three minutes on two cores):
//! `cargo bench -p imagemapper-core --bench reducer`. Stitching threads: 1 by
//! default, or `IMAGEMAPPER_BENCH_THREADS=n` (0: all cores). Criterion
//! arguments pass after `--`, e.g. `-- reduce_f32_image` or `--quick`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use imagemapper_core::grid::{generate_grid, AdjustGrid, GridSpec};
use imagemapper_core::reduce::{CellGeom, CellView, Params, ReduceOp, Reducer};
use imagemapper_core::{Box2I, Extent2I, Point2I};
use ndarray::Array2;

const SIZE: i32 = 2048;
const CELL: f64 = 64.0;
const BORDER: f64 = 16.0;
const BATCH: usize = 256;
const BAND_ROWS: i32 = 256;
const BAD: i32 = 1 << 8;

/// The per-cell results, made once.
struct Workload {
    bbox: Box2I,
    boxes: Vec<Box2I>,
    images: Vec<Array2<f32>>,
    masks: Vec<Array2<i32>>,
    variances: Vec<Array2<f32>>,
}

/// A deterministic pseudo-random value in [0, 1) (a 64-bit LCG step).
fn unit(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*seed >> 40) as f32 / (1u64 << 24) as f32
}

impl Workload {
    fn new() -> Self {
        let bbox =
            Box2I::from_corner_dims(Point2I::new(0, 0), Extent2I::new(SIZE, SIZE), true).unwrap();
        let spec = GridSpec::new(
            [CELL, CELL],
            [CELL, CELL],
            [BORDER, BORDER],
            AdjustGrid::None,
        );
        let boxes = generate_grid(&bbox, &spec).unwrap().expanded;
        let mut seed = 1;
        let mut images = Vec::new();
        let mut masks = Vec::new();
        let mut variances = Vec::new();
        for (i, b) in boxes.iter().enumerate() {
            let shape = (b.height() as usize, b.width() as usize);
            images.push(Array2::from_shape_simple_fn(shape, || unit(&mut seed)));
            // A few mask bits set, as a mapper that flags pixels would.
            masks.push(Array2::from_shape_fn(shape, |(y, x)| {
                i32::from((x * 31 + y * 17 + i) % 97 == 0)
            }));
            variances.push(Array2::from_shape_simple_fn(shape, || {
                0.5 + unit(&mut seed)
            }));
        }
        Self {
            bbox,
            boxes,
            images,
            masks,
            variances,
        }
    }

    /// Bytes of cell planes one reduce consumes.
    fn cell_bytes(&self, masked: bool) -> u64 {
        let pixels: usize = self.images.iter().map(Array2::len).sum();
        let per_pixel = if masked { 4 + 4 + 4 } else { 4 };
        (pixels * per_pixel) as u64
    }

    fn views(&self, masked: bool) -> Vec<CellView<'_, f32>> {
        (0..self.boxes.len())
            .map(|i| CellView {
                index: i,
                bbox: self.boxes[i],
                image: self.images[i].view(),
                mask: masked.then(|| self.masks[i].view()),
                variance: masked.then(|| self.variances[i].view()),
            })
            .collect()
    }

    fn reducer(&self, op: ReduceOp, masked: bool, bbox: Box2I, threads: usize) -> Reducer<f32> {
        let shape = (bbox.height() as usize, bbox.width() as usize);
        let mask = masked.then(|| Array2::zeros(shape));
        Reducer::new(
            op,
            Params::default(),
            bbox,
            self.bbox,
            mask,
            masked,
            &self.boxes,
            threads,
        )
        .unwrap()
    }
}

/// Add every cell in batches (cell order) and finish.
fn reduce(mut reducer: Reducer<f32>, cells: &[CellView<'_, f32>]) -> Reducer<f32> {
    for batch in cells.chunks(BATCH) {
        reducer.add(batch).unwrap();
    }
    black_box(reducer.finish(BAD).unwrap());
    reducer
}

/// The out-of-core path: one reducer per band of rows, sharing the grid
/// geometry; each band gets the cells that touch it.
fn reduce_bands(
    w: &Workload,
    cells: &[CellView<'_, f32>],
    masked: bool,
    geoms: &Arc<[CellGeom]>,
    threads: usize,
) {
    let mut y0 = 0;
    while y0 < SIZE {
        let rows = BAND_ROWS.min(SIZE - y0);
        let band =
            Box2I::from_corner_dims(Point2I::new(0, y0), Extent2I::new(SIZE, rows), true).unwrap();
        let shape = (rows as usize, SIZE as usize);
        let reducer = Reducer::with_geoms(
            ReduceOp::Weighted,
            Params::default(),
            band,
            w.bbox,
            masked.then(|| Array2::zeros(shape)),
            masked,
            Arc::clone(geoms),
            threads,
        )
        .unwrap();
        let touching: Vec<CellView<'_, f32>> = cells
            .iter()
            .filter(|c| c.bbox.overlaps(&band))
            .map(|c| CellView {
                index: c.index,
                bbox: c.bbox,
                image: c.image.view(),
                mask: c.mask.as_ref().map(|m| m.view()),
                variance: c.variance.as_ref().map(|v| v.view()),
            })
            .collect();
        black_box(reduce(reducer, &touching).into_output());
        y0 += rows;
    }
}

fn threads() -> usize {
    std::env::var("IMAGEMAPPER_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn bench_group(c: &mut Criterion, w: &Workload, masked: bool) {
    let threads = threads();
    let cells = w.views(masked);
    let bytes = w.cell_bytes(masked);
    let name = if masked {
        "reduce_f32_masked"
    } else {
        "reduce_f32_image"
    };
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Bytes(bytes))
        .sample_size(10)
        // An iteration takes tens to hundreds of milliseconds: the same
        // number of iterations in every sample.
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    // The copy-bandwidth baseline: `bytes` copied between two buffers.
    let src = vec![1u8; bytes as usize];
    let mut dst = vec![0u8; bytes as usize];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        });
    });
    drop((src, dst));

    for op in [
        ReduceOp::Copy,
        ReduceOp::Sum,
        ReduceOp::Average,
        ReduceOp::Weighted,
        ReduceOp::Max,
    ] {
        group.bench_function(op.name(), |b| {
            b.iter(|| reduce(w.reducer(op, masked, w.bbox, threads), &cells).into_output());
        });
    }

    // The grid geometry of the out-of-core output, computed once per run
    // (a reducer over no pixels), as the Python driver's template reducer.
    let geoms = w
        .reducer(ReduceOp::Weighted, masked, Box2I::default(), 1)
        .geoms();
    group.bench_function("weighted_bands", |b| {
        b.iter(|| reduce_bands(w, &cells, masked, &geoms, threads));
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let w = Workload::new();
    // What is timed does the work: the cells cover every output pixel, and
    // `copy` leaves each its last cell's value.
    let out = reduce(w.reducer(ReduceOp::Copy, false, w.bbox, 1), &w.views(false)).into_output();
    let (last, corner) = (w.boxes.len() - 1, SIZE as usize - 1);
    let image = &w.images[last];
    assert!(out.image.iter().all(|v| !v.is_nan()), "a pixel got no cell");
    assert_eq!(
        (w.boxes[last].max_x(), w.boxes[last].max_y()),
        (SIZE - 1, SIZE - 1)
    );
    assert_eq!(
        out.image[[corner, corner]],
        image[[image.nrows() - 1, image.ncols() - 1]]
    );
    bench_group(c, &w, true);
    bench_group(c, &w, false);
}

criterion_group!(reducer, benches);
criterion_main!(reducer);
