//! `imagemapper._core`: thin PyO3 bindings over `imagemapper-core`.
//!
//! Every function converts its arguments, releases the GIL, runs the core
//! and converts the result back; core errors become `ValueError` /
//! `RuntimeError` (see `errors.rs`).

mod errors;
mod geom;
mod grid;
mod reducer;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    #[pymodule_export]
    use crate::errors::_panic_for_tests;
    #[pymodule_export]
    use crate::geom::{Box2I, Extent2I, Point2D, Point2I};
    #[pymodule_export]
    use crate::grid::{cell_slices, generate_grid};
    #[pymodule_export]
    use crate::reducer::{map_reduce_gaussian, mesh_bilinear, reduce_operations, PyReducer};

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
