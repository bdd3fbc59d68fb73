//! Mapping of core errors to Python exceptions, and the one helper that
//! releases the GIL around core work.

use imagemapper_core::Error;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::marker::Ungil;
use pyo3::prelude::*;

/// Convert a core error into the matching Python exception.
pub fn to_pyerr(err: Error) -> PyErr {
    match err {
        Error::InvalidValue(msg) | Error::Shape(msg) => PyValueError::new_err(msg),
        Error::Runtime(msg) => PyRuntimeError::new_err(msg),
    }
}

/// Run `f` with the GIL released and map its error to a Python exception.
///
/// Everything `f` touches must be plain Rust data (borrowed numpy views are
/// fine: the borrow guards that own them live on the caller's stack).
pub fn run_detached<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: Ungil + Send + FnOnce() -> imagemapper_core::Result<T>,
    T: Send,
{
    py.detach(f).map_err(to_pyerr)
}
