//! One place that maps the core's error enums to Python exceptions.
//!
//! Bad arguments and bad input are `ValueError`s with a message naming the problem;
//! operational failures derive from `DwcCoreError`.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIndexError, PyValueError};
use pyo3::prelude::*;

use crate::cache::{CacheError, ComputeError};
use crate::featurizer::FeaturizerError;
use crate::merkle::MerkleError;

create_exception!(
    dwc_core,
    DwcCoreError,
    PyException,
    "Base class of operational errors raised by dwc_core."
);

create_exception!(
    dwc_core,
    CacheRecursionError,
    DwcCoreError,
    "A get_or_compute function asked its own cache for the key it is computing."
);

create_exception!(
    dwc_core,
    CacheCorruptionError,
    DwcCoreError,
    "A compressed cache value could not be decompressed."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DwcCoreError", m.py().get_type::<DwcCoreError>())?;
    m.add(
        "CacheRecursionError",
        m.py().get_type::<CacheRecursionError>(),
    )?;
    m.add(
        "CacheCorruptionError",
        m.py().get_type::<CacheCorruptionError>(),
    )?;
    Ok(())
}

pub(crate) fn featurizer_err(e: FeaturizerError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

pub(crate) fn cache_err(e: CacheError) -> PyErr {
    match e {
        CacheError::InvalidConfig(_)
        | CacheError::InvalidDuration { .. }
        | CacheError::WeightTooLarge(_) => PyValueError::new_err(e.to_string()),
        CacheError::Decompress(_) => CacheCorruptionError::new_err(e.to_string()),
        CacheError::RecursiveCompute => CacheRecursionError::new_err(e.to_string()),
    }
}

/// The error of a failed get_or_compute: the compute function's own exception (the same
/// one for every caller that waited on it), or a recursion error.
pub(crate) fn cache_compute_err(py: Python<'_>, e: ComputeError<PyErr>) -> PyErr {
    match e {
        ComputeError::Recursive => cache_err(CacheError::RecursiveCompute),
        ComputeError::Failed(err) => err.clone_ref(py),
    }
}

pub(crate) fn merkle_err(e: MerkleError) -> PyErr {
    match e {
        MerkleError::IndexOutOfRange { .. } => PyIndexError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}
