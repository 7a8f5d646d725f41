use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};

use super::errors::featurizer_err;
use crate::featurizer::{Featurizer as CoreFeaturizer, FeaturizerConfig, Normalization};

/// Texts above this size (in total) are featurized with the GIL released.
const DETACH_BYTES: usize = 16 * 1024;

/// Borrow a text from a `str`, or from `bytes` that must be valid UTF-8.
fn borrow_text<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    if let Ok(s) = obj.cast::<PyString>() {
        s.to_str()
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        std::str::from_utf8(b.as_bytes()).map_err(|e| {
            PyValueError::new_err(format!(
                "text is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ))
        })
    } else {
        Err(PyTypeError::new_err(format!(
            "expected str or bytes, got {}",
            obj.get_type().name()?
        )))
    }
}

fn parse_normalization(s: &str) -> PyResult<Normalization> {
    match s.to_ascii_lowercase().as_str() {
        "none" => Ok(Normalization::None),
        "nfc" => Ok(Normalization::Nfc),
        "nfkc" => Ok(Normalization::Nfkc),
        other => Err(PyValueError::new_err(format!(
            "normalization={other:?} must be one of 'none', 'nfc', 'nfkc'"
        ))),
    }
}

/// A non-negative integer option. Negative or oversized ints are `ValueError`s naming the
/// option (PyO3's own conversion would raise `OverflowError`).
fn count_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    let int = obj.cast::<PyInt>().map_err(|_| {
        let type_name = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("{name} must be an int, got {type_name}"))
    })?;
    match int.extract::<i64>() {
        Ok(v) if v >= 0 => usize::try_from(v)
            .map_err(|_| PyValueError::new_err(format!("{name}={v} is too large"))),
        _ => Err(PyValueError::new_err(format!(
            "{name}={int} must be a non-negative int"
        ))),
    }
}

fn range_arg((lo, hi): (Bound<'_, PyAny>, Bound<'_, PyAny>), name: &str) -> PyResult<[usize; 2]> {
    Ok([count_arg(&lo, name)?, count_arg(&hi, name)?])
}

/// idf weights from a 1-D float32 or float64 numpy array (float64 is narrowed to f32;
/// values beyond f32's range become infinite and are refused by the core's check).
fn idf_weights(obj: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, f32>>() {
        Ok(a.as_array().to_vec())
    } else if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, f64>>() {
        Ok(a.as_array().iter().map(|&x| x as f32).collect())
    } else {
        Err(PyTypeError::new_err(
            "idf must be a 1-D numpy array of float32 or float64",
        ))
    }
}

#[pyclass(frozen, module = "dwc_core._native")]
pub struct Featurizer {
    inner: CoreFeaturizer,
}

#[pymethods]
impl Featurizer {
    #[new]
    #[pyo3(signature = (*, n_features=None, word_ngrams=None, char_ngrams=None,
        normalization=None, lowercase=None, sublinear_tf=None, alternate_sign=None,
        l2_norm=None, max_input_bytes=None, idf=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        n_features: Option<&Bound<'_, PyAny>>,
        word_ngrams: Option<(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
        char_ngrams: Option<(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
        normalization: Option<&str>,
        lowercase: Option<bool>,
        sublinear_tf: Option<bool>,
        alternate_sign: Option<bool>,
        l2_norm: Option<bool>,
        max_input_bytes: Option<&Bound<'_, PyAny>>,
        idf: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let d = FeaturizerConfig::default();
        let config = FeaturizerConfig {
            n_features: n_features
                .map(|v| count_arg(v, "n_features"))
                .transpose()?
                .unwrap_or(d.n_features),
            word_ngrams: word_ngrams
                .map(|r| range_arg(r, "word_ngrams"))
                .transpose()?
                .unwrap_or(d.word_ngrams),
            char_ngrams: char_ngrams
                .map(|r| range_arg(r, "char_ngrams"))
                .transpose()?
                .unwrap_or(d.char_ngrams),
            normalization: normalization
                .map(parse_normalization)
                .transpose()?
                .unwrap_or(d.normalization),
            lowercase: lowercase.unwrap_or(d.lowercase),
            sublinear_tf: sublinear_tf.unwrap_or(d.sublinear_tf),
            alternate_sign: alternate_sign.unwrap_or(d.alternate_sign),
            l2_norm: l2_norm.unwrap_or(d.l2_norm),
            max_input_bytes: max_input_bytes
                .map(|v| count_arg(v, "max_input_bytes"))
                .transpose()?
                .unwrap_or(d.max_input_bytes),
        };
        Self::build(config, idf)
    }

    /// Build from the JSON saved by `config_json()` (unknown keys are refused).
    #[staticmethod]
    #[pyo3(signature = (config_json, *, idf=None))]
    fn from_json(config_json: &str, idf: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let invalid = |e: serde_json::Error| {
            PyValueError::new_err(format!("invalid featurizer config JSON: {e}"))
        };
        // Parse to a value first: serde would also accept a JSON array as the struct.
        let doc: serde_json::Value = serde_json::from_str(config_json).map_err(invalid)?;
        if !doc.is_object() {
            return Err(PyValueError::new_err(
                "invalid featurizer config JSON: expected an object",
            ));
        }
        let config: FeaturizerConfig = serde_json::from_value(doc).map_err(invalid)?;
        Self::build(config, idf)
    }

    fn config_json(&self) -> String {
        serde_json::to_string(self.inner.config()).expect("config serialises")
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.inner.n_features()
    }

    #[getter]
    fn has_idf(&self) -> bool {
        self.inner.idf().is_some()
    }

    fn tokens(&self, text: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        Ok(self.inner.tokens(borrow_text(text)?))
    }

    /// One text -> float32 vector of length n_features (no copy: numpy owns the buffer).
    fn transform<'py>(
        &self,
        py: Python<'py>,
        text: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let text = borrow_text(text)?;
        let result = if text.len() >= DETACH_BYTES {
            py.detach(|| self.inner.transform(text))
        } else {
            self.inner.transform(text)
        };
        Ok(result.map_err(featurizer_err)?.into_pyarray(py))
    }

    /// Many texts -> float32 matrix (len(texts), n_features); row i equals transform(texts[i]).
    fn transform_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        if texts.cast::<PyString>().is_ok() || texts.cast::<PyBytes>().is_ok() {
            return Err(PyTypeError::new_err(
                "transform_batch takes a sequence of texts, not one text",
            ));
        }
        // Keep strong references so the borrowed UTF-8 buffers outlive the detached work.
        let owned: Vec<Bound<'py, PyAny>> = texts.try_iter()?.collect::<PyResult<_>>()?;
        let borrowed: Vec<&str> = owned
            .iter()
            .map(|o| borrow_text(o))
            .collect::<PyResult<_>>()?;
        let rows = borrowed.len();
        let total: usize = borrowed.iter().map(|t| t.len()).sum();
        let result = if total >= DETACH_BYTES {
            py.detach(|| self.inner.transform_batch(&borrowed))
        } else {
            self.inner.transform_batch(&borrowed)
        };
        let flat = result.map_err(featurizer_err)?;
        let array = Array2::from_shape_vec((rows, self.inner.n_features()), flat)
            .expect("batch has rows * n_features values");
        Ok(array.into_pyarray(py))
    }

    fn __repr__(&self) -> String {
        format!(
            "Featurizer({}, idf={})",
            self.config_json(),
            self.inner.idf().is_some()
        )
    }
}

impl Featurizer {
    fn build(config: FeaturizerConfig, idf: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let idf = idf.map(idf_weights).transpose()?;
        let inner = CoreFeaturizer::new(config, idf).map_err(featurizer_err)?;
        Ok(Self { inner })
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Featurizer>()?;
    Ok(())
}
