use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::hashing;

/// Inputs above this size are hashed with the GIL released.
const DETACH_BYTES: usize = 64 * 1024;

/// Borrow the bytes of a `bytes` or `str` (UTF-8) object. The caller keeps `obj` alive.
fn borrow_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(b.as_bytes())
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(s.to_str()?.as_bytes())
    } else {
        Err(PyTypeError::new_err(format!(
            "expected bytes or str, got {}",
            obj.get_type().name()?
        )))
    }
}

fn run<T: Send>(py: Python<'_>, data: &[u8], f: impl FnOnce(&[u8]) -> T + Send) -> T {
    if data.len() >= DETACH_BYTES {
        py.detach(|| f(data))
    } else {
        f(data)
    }
}

#[pyfunction]
fn content_id(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<String> {
    let bytes = borrow_bytes(data)?;
    Ok(run(py, bytes, hashing::content_id))
}

#[pyfunction(name = "blake3")]
fn blake3_digest<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = borrow_bytes(data)?;
    let digest = run(py, bytes, hashing::blake3_digest);
    Ok(PyBytes::new(py, &digest))
}

#[pyfunction]
fn keccak256<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = borrow_bytes(data)?;
    let digest = run(py, bytes, hashing::keccak256);
    Ok(PyBytes::new(py, &digest))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(content_id, m)?)?;
    m.add_function(wrap_pyfunction!(blake3_digest, m)?)?;
    m.add_function(wrap_pyfunction!(keccak256, m)?)?;
    Ok(())
}
