//! One place that maps the core's error enums to Python exceptions.
//!
//! Bad arguments and bad input are `ValueError`s (or `KeyError`s for a name that is not
//! there) with a message naming the problem; operational failures derive from
//! `DwcCoreError`. Two of them also derive from a builtin so generic handlers still work:
//! `LeaseError` is a `KeyError` and `SnapshotError` a `ValueError`.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIndexError, PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::cache::{CacheError, ComputeError};
use crate::featurizer::FeaturizerError;
use crate::merkle::MerkleError;
use crate::scheduler::SchedulerError;

create_exception!(
    dwc_core,
    DwcCoreError,
    PyException,
    "Base class of operational errors raised by dwc_core."
);

create_exception!(
    dwc_core,
    DuplicateTaskError,
    DwcCoreError,
    "A task id, dedup key or schedule name is already held by a live task or schedule."
);

static LEASE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SNAPSHOT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `class name(DwcCoreError, builtin)`, built once. `create_exception!` takes one base.
fn with_builtin<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
    builtin: Bound<'py, PyType>,
    doc: &str,
) -> PyResult<Bound<'py, PyType>> {
    let ty = cell.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let dict = PyDict::new(py);
        dict.set_item("__doc__", doc)?;
        dict.set_item("__module__", "dwc_core")?;
        let bases = PyTuple::new(py, [py.get_type::<DwcCoreError>(), builtin])?;
        let ty = py.get_type::<PyType>().call1((name, bases, dict))?;
        Ok(ty.cast_into::<PyType>()?.unbind())
    })?;
    Ok(ty.bind(py).clone())
}

fn lease_error(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    with_builtin(
        py,
        &LEASE_ERROR,
        "LeaseError",
        py.get_type::<PyKeyError>(),
        "A lease is unknown (never issued, already settled, or its task was cancelled) \
         or has expired. Also a KeyError.",
    )
}

fn snapshot_error(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    with_builtin(
        py,
        &SNAPSHOT_ERROR,
        "SnapshotError",
        py.get_type::<PyValueError>(),
        "Scheduler snapshot or journal bytes are corrupt, of an unknown format version, \
         or miss an event. Also a ValueError.",
    )
}

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
    let py = m.py();
    m.add("DwcCoreError", py.get_type::<DwcCoreError>())?;
    m.add("DuplicateTaskError", py.get_type::<DuplicateTaskError>())?;
    m.add("LeaseError", lease_error(py)?)?;
    m.add("SnapshotError", snapshot_error(py)?)?;
    m.add("CacheRecursionError", py.get_type::<CacheRecursionError>())?;
    m.add(
        "CacheCorruptionError",
        py.get_type::<CacheCorruptionError>(),
    )?;
    Ok(())
}

pub(crate) fn featurizer_err(e: FeaturizerError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

pub(crate) fn scheduler_err(e: SchedulerError) -> PyErr {
    use SchedulerError as E;
    let msg = e.to_string();
    Python::attach(|py| {
        let ty = match e.root() {
            E::InvalidArgument { .. }
            | E::UnknownPriority(_)
            | E::PayloadTooLarge { .. }
            | E::InvalidCron { .. }
            | E::UnknownTimeZone(_) => return PyValueError::new_err(msg),
            E::UnknownSchedule(_) | E::NotDeadLettered(_) => return PyKeyError::new_err(msg),
            E::DuplicateId(_) | E::DuplicateKey { .. } | E::DuplicateSchedule(_) => {
                return DuplicateTaskError::new_err(msg)
            }
            E::UnknownLease(_) | E::LeaseExpired { .. } => lease_error(py),
            E::Corrupt(_) | E::JournalGap { .. } | E::InBatch { .. } => snapshot_error(py),
        };
        match ty {
            Ok(ty) => PyErr::from_type(ty, msg),
            Err(e) => e,
        }
    })
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
