//! The PyO3 binding layer: thin wrappers that convert arguments once and call the plain
//! Rust types. Nothing in here holds logic worth testing on its own.

mod cache;
mod errors;
mod featurizer;
mod hashing;
mod merkle;
mod scheduler;

use pyo3::prelude::*;

/// mimalloc instead of the system allocator, as pydantic-core does: the scheduler makes
/// and frees small objects (ids, payloads) at a high rate, and glibc's malloc spends a
/// large share of a batch consolidating its free lists (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", crate::VERSION)?;
    errors::register(m)?;
    hashing::register(m)?;
    featurizer::register(m)?;
    cache::register(m)?;
    merkle::register(m)?;
    scheduler::register(m)?;
    Ok(())
}
