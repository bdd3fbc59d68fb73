//! Blur an image cell by cell with the pure-Rust driver, and check that the
//! tiled result equals the whole-image blur when the border covers the kernel.
//!
//! Run: `cargo run --release -p imagemapper-core --example gaussian_blur [size] [threads]`

use std::time::Instant;

use imagemapper_core::builtin::{convolve_axis, gaussian_convolve_cell, gaussian_kernel};
use imagemapper_core::driver::{map_reduce, ImageView};
use imagemapper_core::grid::{generate_grid, AdjustGrid, GridSpec};
use imagemapper_core::reduce::{Params, ReduceOp, Reducer};
use imagemapper_core::{Box2I, Extent2I, Point2I};
use ndarray::{Array2, Axis};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let size: i32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1024);
    let threads: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(0);
    let sigma = 2.0;

    // A deterministic test image.
    let n = size as usize;
    let image = Array2::<f32>::from_shape_fn((n, n), |(y, x)| {
        ((x * 7919 + y * 104_729) % 1000) as f32 / 10.0
    });
    let variance = Array2::<f32>::ones((n, n));
    let mask = Array2::<i32>::zeros((n, n));
    let bbox = Box2I::from_corner_dims(Point2I::new(0, 0), Extent2I::new(size, size), true)?;

    // 128-pixel cells, step 128, border 4 sigma (= the kernel radius).
    let spec = GridSpec::new([128.0, 128.0], [128.0, 128.0], [8.0, 8.0], AdjustGrid::None);
    let grid = generate_grid(&bbox, &spec)?;

    let mut out = Reducer::new(
        ReduceOp::Copy,
        Params::default(),
        bbox,
        bbox,
        Some(mask.clone()),
        true,
        &grid.cells,
        threads,
    )?;
    let input = ImageView {
        bbox,
        image: image.view(),
        mask: mask.view(),
        variance: variance.view(),
    };

    let t0 = Instant::now();
    map_reduce(&input, &grid, &mut out, 1 << 9, threads, |cell| {
        gaussian_convolve_cell(cell, sigma)
    })?;
    let tiled = t0.elapsed();
    let out_img = out.into_output().image;

    let t1 = Instant::now();
    let k = gaussian_kernel(sigma)?;
    let whole = convolve_axis(convolve_axis(image.view(), &k, Axis(1)).view(), &k, Axis(0));
    let direct = t1.elapsed();

    let max_diff = out_img
        .iter()
        .zip(whole.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!(
        "{} cells on {size}x{size}: tiled {:.3} s, whole image {:.3} s, max |tiled - whole| = {max_diff}",
        grid.cells.len(),
        tiled.as_secs_f64(),
        direct.as_secs_f64()
    );
    if max_diff != 0.0 {
        return Err("tiled result differs from the whole-image result".into());
    }
    Ok(())
}
