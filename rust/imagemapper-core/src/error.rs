//! Errors of the core crate. Every message names the offending value.

use thiserror::Error;

/// Everything that can go wrong in the core crate.
///
/// The binding crate maps [`Error::InvalidValue`] and [`Error::Shape`] to
/// `ValueError`, [`Error::Runtime`] to `RuntimeError`, [`Error::Memory`] to
/// `MemoryError`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// A parameter had a value outside its allowed range.
    #[error("{0}")]
    InvalidValue(String),
    /// Array shapes or boxes did not agree.
    #[error("{0}")]
    Shape(String),
    /// A valid request that could not be carried out (e.g. a box that cannot
    /// be made even-sized).
    #[error("{0}")]
    Runtime(String),
    /// Memory for an output could not be allocated.
    #[error("{0}")]
    Memory(String),
}

/// Result alias of the core crate.
pub type Result<T> = std::result::Result<T, Error>;
