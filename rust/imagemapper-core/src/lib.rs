#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! `imagemapper-core`: the pure-Rust heart of imagemapper.
//!
//! * [`geom`]: `lsst.geom`-style points, extents and inclusive integer boxes;
//! * [`grid`]: the cell grid of `ImageMapReduceTask` (cells and expanded cells);
//! * [`reduce`]: one [`reduce::ReduceOp`] and one stateful
//!   [`reduce::Reducer`] for every operation that stitches per-cell results
//!   into an output image (NaN-aware, mask-OR'ing, deterministic, parallel
//!   over bands of rows), one module per family;
//! * [`driver`]: run a Rust closure on every cell (rayon) and stitch, with no
//!   Python involved; [`builtin`] holds mappers written in Rust.
//!
//! This crate never depends on Python; `imagemapper-py` wraps it.

pub mod builtin;
pub mod driver;
pub mod error;
pub mod geom;
pub mod grid;
pub mod reduce;

pub use error::{Error, Result};
pub use geom::{Box2I, Extent2I, Point2D, Point2I};
