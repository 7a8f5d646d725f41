//! One place that maps the core's error enums to Python exceptions.
//!
//! Bad arguments and bad input are `ValueError`s with a message naming the problem;
//! operational failures derive from `DwcCoreError`.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

use crate::featurizer::FeaturizerError;

create_exception!(
    dwc_core,
    DwcCoreError,
    PyException,
    "Base class of operational errors raised by dwc_core."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DwcCoreError", m.py().get_type::<DwcCoreError>())?;
    Ok(())
}

pub(crate) fn featurizer_err(e: FeaturizerError) -> PyErr {
    PyValueError::new_err(e.to_string())
}
