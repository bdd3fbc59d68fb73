//! Mapping of core errors to Python exceptions, and the one helper that
//! releases the GIL around core work.

use std::panic::{catch_unwind, AssertUnwindSafe};

use imagemapper_core::Error;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::marker::Ungil;
use pyo3::prelude::*;

/// Convert a core error into the matching Python exception.
pub fn to_pyerr(err: Error) -> PyErr {
    match err {
        Error::InvalidValue(msg) | Error::Shape(msg) => PyValueError::new_err(msg),
        Error::Runtime(msg) => PyRuntimeError::new_err(msg),
        Error::Memory(msg) => PyMemoryError::new_err(msg),
    }
}

/// The message of a panic payload (`panic!("...")` gives a `&str` or a
/// `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Run `f` with the GIL released and map its error to a Python exception.
///
/// A panic inside `f` (a bug in the core, on this thread or re-raised from
/// a rayon worker) is caught here and becomes a `RuntimeError` naming it as
/// an internal error. Without this, PyO3 would raise
/// `pyo3_runtime.PanicException`, which derives from `BaseException`: an
/// `except Exception` (the task's `onMapperError`, a user's retry loop)
/// would not catch it. The core holds no state that a panic could leave
/// half-updated (outputs are caller-owned and rewritten by the next run), so
/// carrying on after the error is safe.
///
/// Everything `f` touches must be plain Rust data (borrowed numpy views are
/// fine: the borrow guards that own them live on the caller's stack).
pub fn run_detached<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: Ungil + Send + FnOnce() -> imagemapper_core::Result<T>,
    T: Send,
{
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|payload| {
            PyRuntimeError::new_err(format!(
                "internal error in imagemapper's Rust core (please report it): {}",
                panic_message(payload.as_ref())
            ))
        })?
        .map_err(to_pyerr)
}

/// Test hook: panic inside [`run_detached`], to check that a Rust panic
/// reaches Python as a `RuntimeError` (not exported in the stubs).
#[pyfunction]
pub fn _panic_for_tests(py: Python<'_>, message: String) -> PyResult<()> {
    run_detached(py, move || -> imagemapper_core::Result<()> {
        panic!("{message}")
    })
}
