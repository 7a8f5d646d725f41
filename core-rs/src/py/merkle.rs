//! `dwc_core.MerkleTree`, `verify_proof` and `verify_proof_json`.

use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::errors::merkle_err;
use crate::hashing::to_hex;
use crate::merkle::{self, to_hash32, Hash32, MerkleTree as CoreTree, Proof};

/// Trees of at least this many leaves are built with the GIL released.
const DETACH_LEAVES: usize = 1024;

/// A 32-byte hash from a `bytes` argument; `what` names it in the error.
fn hash32_arg(obj: &Bound<'_, PyAny>, what: impl FnOnce() -> String) -> PyResult<Hash32> {
    let bytes = obj.cast::<PyBytes>().map_err(|_| {
        let type_name = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("Merkle hashes must be bytes, got {type_name}"))
    })?;
    to_hash32(bytes.as_bytes(), what).map_err(merkle_err)
}

fn hashes_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<Hash32>> {
    if obj.cast::<PyBytes>().is_ok() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a sequence of 32-byte hashes, not one bytes object"
        )));
    }
    let hint = obj.len().unwrap_or(0);
    let mut out = Vec::with_capacity(hint);
    for (i, item) in obj.try_iter()?.enumerate() {
        out.push(hash32_arg(&item?, || format!("{name}[{i}]"))?);
    }
    Ok(out)
}

/// A Python index (negative counts from the end) to a leaf index.
fn leaf_index(index: isize, len: usize) -> PyResult<usize> {
    let resolved = if index < 0 {
        index.checked_add(len as isize)
    } else {
        Some(index)
    };
    match resolved {
        Some(i) if i >= 0 && (i as usize) < len => Ok(i as usize),
        _ => Err(PyIndexError::new_err(format!(
            "leaf index {index} is out of range for a tree of {len} leaves"
        ))),
    }
}

fn hash_list<'py>(py: Python<'py>, hashes: &[Hash32]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, hashes.iter().map(|h| PyBytes::new(py, h)))
}

/// A Merkle tree over 32-byte leaves with OpenZeppelin-compatible sorted-pair keccak256.
#[pyclass(frozen, module = "dwc_core._native")]
pub struct MerkleTree {
    inner: CoreTree,
}

#[pymethods]
impl MerkleTree {
    #[new]
    fn new(py: Python<'_>, leaves: &Bound<'_, PyAny>) -> PyResult<Self> {
        let leaves = hashes_arg(leaves, "leaves")?;
        let inner = if leaves.len() >= DETACH_LEAVES {
            py.detach(|| CoreTree::new(&leaves))
        } else {
            CoreTree::new(&leaves)
        }
        .map_err(merkle_err)?;
        Ok(Self { inner })
    }

    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.root())
    }

    #[getter]
    fn root_hex(&self) -> String {
        format!("0x{}", to_hex(&self.inner.root()))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn leaf<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyBytes>> {
        let i = leaf_index(index, self.inner.len())?;
        Ok(PyBytes::new(py, &self.inner.leaf(i).map_err(merkle_err)?))
    }

    fn proof<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyList>> {
        let i = leaf_index(index, self.inner.len())?;
        hash_list(py, &self.inner.proof(i).map_err(merkle_err)?)
    }

    /// Every leaf's proof. Each tree node becomes one `bytes` object that all the proofs
    /// passing through it share, which keeps a million proofs affordable.
    fn proofs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        // Millions of new lists would set off the cyclic collector again and again (it
        // tripled the time at 1M leaves), yet lists of bytes cannot form cycles. Pause it
        // while building; the GIL is held throughout, so no other thread sees the pause.
        let gc = py.import("gc")?;
        let was_enabled = gc.call_method0("isenabled")?.is_truthy()?;
        if was_enabled {
            gc.call_method0("disable")?;
        }
        let result = self.build_proofs(py);
        if was_enabled {
            gc.call_method0("enable")?;
        }
        result
    }

    fn proof_json(&self, index: isize) -> PyResult<String> {
        let i = leaf_index(index, self.inner.len())?;
        Ok(self.inner.full_proof(i).map_err(merkle_err)?.to_json())
    }

    fn __repr__(&self) -> String {
        format!(
            "MerkleTree(leaves={}, root=0x{})",
            self.inner.len(),
            to_hex(&self.inner.root())
        )
    }
}

impl MerkleTree {
    fn build_proofs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let nodes: Vec<Bound<'py, PyBytes>> = self
            .inner
            .nodes()
            .iter()
            .map(|h| PyBytes::new(py, h))
            .collect();
        let n = self.inner.len();
        let mut out = Vec::with_capacity(n);
        let mut path = Vec::with_capacity(merkle::MAX_PROOF_LEN);
        for i in 0..n {
            path.clear();
            self.inner.proof_indices(i, &mut path).map_err(merkle_err)?;
            out.push(PyList::new(py, path.iter().map(|&k| &nodes[k]))?);
        }
        PyList::new(py, out)
    }
}

#[pyfunction]
fn verify_proof(
    leaf: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let leaf = hash32_arg(leaf, || "leaf".into())?;
    let proof = hashes_arg(proof, "proof")?;
    let root = hash32_arg(root, || "root".into())?;
    merkle::verify(&leaf, &proof, &root).map_err(merkle_err)
}

#[pyfunction]
fn verify_proof_json(proof_json: &str, root: &Bound<'_, PyAny>) -> PyResult<bool> {
    let root = hash32_arg(root, || "root".into())?;
    let proof = Proof::from_json(proof_json).map_err(merkle_err)?;
    Ok(proof.root == root && proof.verify())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MerkleTree>()?;
    m.add_function(wrap_pyfunction!(verify_proof, m)?)?;
    m.add_function(wrap_pyfunction!(verify_proof_json, m)?)?;
    Ok(())
}
