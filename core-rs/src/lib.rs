//! DWC's hot path in Rust.
//!
//! Each area is plain Rust with its own `cargo test`s and no Python in it. The PyO3
//! binding layer lives in [`py`] and is only compiled with the `python` feature, which
//! maturin turns on when it builds the `dwc_core._native` extension.

pub mod cache;
pub mod featurizer;
pub mod hashing;
pub mod merkle;
pub mod scheduler;

#[cfg(feature = "python")]
mod py;

/// The crate version; the Python package reports the same string.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
