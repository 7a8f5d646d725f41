//! `dwc_core.Cache`: the moka-backed cache holding Python objects.
//!
//! Arguments are converted once at the edge: keys to [`KeyRef`]/[`CacheKey`], seconds to
//! `Duration`, weights to `u32`. Weights are computed here, on the caller's thread with
//! the GIL held, before moka sees the entry; moka's weigher and eviction listener never
//! run Python (docs/adr/0002-cache-weighing-outside-moka.md).
//!
//! Python objects are never released inside moka either. A stored object is wrapped in
//! [`PyValue`], whose `Drop` only moves it to a queue; each `Cache` method empties the
//! queue on its way out, with the GIL held and no moka lock taken. So a `__del__` that
//! runs when an evicted value dies cannot re-enter the cache from inside its maintenance.

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString};

use super::errors::{cache_compute_err, cache_err};
use crate::cache::{
    duration_from_secs, weight_from, Cache as CoreCache, CacheConfig, CacheKey, Compressed, Entry,
    KeyRef, KeyView, Stats, Value,
};

/// Values at least this large are compressed or decompressed with the GIL released.
const DETACH_BYTES: usize = 256 * 1024;
/// Default `compress_threshold`: bytes values from 16 KiB up are LZ4-compressed.
const DEFAULT_COMPRESS_THRESHOLD: usize = 16 * 1024;

/// Objects whose last Rust owner went away, waiting for [`release_dropped`].
static DROPPED: Mutex<Vec<Py<PyAny>>> = Mutex::new(Vec::new());
static DROPPED_PENDING: AtomicBool = AtomicBool::new(false);

/// A stored Python object. Dropping it never touches the reference count: the object
/// is queued and released later by [`release_dropped`].
struct PyValue(ManuallyDrop<Py<PyAny>>);

impl Drop for PyValue {
    fn drop(&mut self) {
        // SAFETY: `self.0` is never used again after this take.
        let obj = unsafe { ManuallyDrop::take(&mut self.0) };
        DROPPED.lock().unwrap_or_else(|p| p.into_inner()).push(obj);
        DROPPED_PENDING.store(true, Ordering::Release);
    }
}

type Obj = Arc<PyValue>;

/// Release the queued objects. Called with the GIL held and outside every moka call, so
/// whatever their `__del__` does (even using this cache) runs at a safe point.
fn release_dropped(_py: Python<'_>) {
    // A plain load first: the common case is nothing queued, and a swap on every call
    // would be a locked instruction on the hot path.
    if !(DROPPED_PENDING.load(Ordering::Relaxed) && DROPPED_PENDING.swap(false, Ordering::Acquire))
    {
        return;
    }
    // Swap the queue with this thread's spare vector rather than taking it, so neither
    // side reallocates on every `set` that replaces a value. The spare is moved out of
    // its cell while the objects die: a `__del__` that re-enters here finds it empty.
    thread_local! {
        static SPARE: std::cell::Cell<Vec<Py<PyAny>>> = const { std::cell::Cell::new(Vec::new()) };
    }
    let mut dead = SPARE.take();
    std::mem::swap(
        &mut dead,
        &mut *DROPPED.lock().unwrap_or_else(|p| p.into_inner()),
    );
    dead.clear();
    SPARE.set(dead);
}

/// Run `f` on the key `obj` borrowed as a [`KeyRef`] (no allocation except for ints
/// outside the i64 range).
fn with_key<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(KeyRef<'_>) -> R) -> PyResult<R> {
    if let Ok(s) = obj.cast::<PyString>() {
        Ok(f(KeyRef::str(s.to_str()?)))
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(f(KeyRef::bytes(b.as_bytes())))
    } else if let Ok(i) = obj.cast::<PyInt>() {
        match i.extract::<i64>() {
            Ok(v) => Ok(f(KeyRef::int(v))),
            Err(_) => {
                let text = i.str()?;
                Ok(f(KeyRef::big_int(text.to_str()?)))
            }
        }
    } else {
        Err(PyTypeError::new_err(format!(
            "cache keys must be str, bytes or int, got {}",
            obj.get_type().name()?
        )))
    }
}

fn key_to_py(py: Python<'_>, key: &CacheKey) -> PyResult<Py<PyAny>> {
    Ok(match key.view() {
        KeyView::Str(s) => PyString::new(py, s).into_any().unbind(),
        KeyView::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
        KeyView::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        KeyView::BigInt(s) => py.get_type::<PyInt>().call1((s,))?.unbind(),
    })
}

fn parse_ttl(ttl: Option<f64>, name: &'static str) -> PyResult<Option<Duration>> {
    ttl.map(|s| duration_from_secs(name, s))
        .transpose()
        .map_err(cache_err)
}

/// A weight from Python: an int in 0..=2**32-1 (TypeError for other types).
fn parse_weight(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u32> {
    let int = obj.cast::<PyInt>().map_err(|_| {
        let type_name = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("{what} must be an int, got {type_name}"))
    })?;
    let value: i64 = int
        .extract()
        .map_err(|_| PyValueError::new_err(format!("{what}={int} is out of range")))?;
    if value < 0 {
        return Err(PyValueError::new_err(format!(
            "{what}={value} must be >= 0"
        )));
    }
    weight_from(value as u64).map_err(cache_err)
}

fn entry_to_py(py: Python<'_>, entry: Entry<Obj>) -> PyResult<Py<PyAny>> {
    match entry.value {
        Value::Object(obj) => Ok(obj.0.clone_ref(py)),
        Value::Compressed(z) => decompress_to_py(py, &z),
    }
}

fn decompress_to_py(py: Python<'_>, z: &Compressed) -> PyResult<Py<PyAny>> {
    let bytes = PyBytes::new_with(py, z.original_len(), |buf| {
        if buf.len() >= DETACH_BYTES {
            py.detach(|| z.decompress_into(buf))
        } else {
            z.decompress_into(buf)
        }
        .map_err(cache_err)
    })?;
    Ok(bytes.into_any().unbind())
}

/// A thread-safe in-memory cache with a weight budget, built on moka (TinyLFU admission,
/// LRU eviction window, TTL/TTI and per-entry TTL).
#[pyclass(frozen, module = "dwc_core._native")]
pub struct Cache {
    /// Dropped by hand in `Drop`, so the values it releases can be freed right after.
    inner: ManuallyDrop<CoreCache<Obj>>,
    /// Called on the caller's thread to weigh non-bytes values given without a weight.
    weigher: Py<PyAny>,
}

#[pymethods]
impl Cache {
    #[new]
    #[pyo3(signature = (max_weight, *, ttl=None, tti=None,
        compress_threshold=Some(DEFAULT_COMPRESS_THRESHOLD), weigher=None))]
    fn new(
        py: Python<'_>,
        max_weight: u64,
        ttl: Option<f64>,
        tti: Option<f64>,
        compress_threshold: Option<usize>,
        weigher: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let config = CacheConfig {
            max_weight,
            ttl: parse_ttl(ttl, "ttl")?,
            tti: parse_ttl(tti, "tti")?,
            compress_threshold,
        };
        let weigher = match weigher {
            Some(w) if w.bind(py).is_callable() => w,
            Some(_) => return Err(PyTypeError::new_err("weigher must be callable")),
            None => py.import("sys")?.getattr("getsizeof")?.unbind(),
        };
        let inner = ManuallyDrop::new(CoreCache::new(config).map_err(cache_err)?);
        Ok(Self { inner, weigher })
    }

    #[getter]
    fn max_weight(&self) -> u64 {
        self.inner.config().max_weight
    }

    #[getter]
    fn compress_threshold(&self) -> Option<usize> {
        self.inner.config().compress_threshold
    }

    #[pyo3(signature = (key, default=None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let found = with_key(key, |k| self.inner.get(k))?;
        let out = match found {
            Some(entry) => entry_to_py(py, entry),
            None => Ok(default.unwrap_or_else(|| py.None())),
        };
        release_dropped(py);
        out
    }

    #[pyo3(signature = (key, value, ttl=None, weight=None))]
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Option<f64>,
        weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let ttl = parse_ttl(ttl, "ttl")?;
        let weight = weight.map(|w| parse_weight(w, "weight")).transpose()?;
        let key = with_key(key, |k| k.to_owned_key())?;
        let entry = self.make_entry(py, value, ttl, weight)?;
        self.inner.insert(key, entry);
        release_dropped(py);
        Ok(())
    }

    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let removed = with_key(key, |k| self.inner.remove(k))?;
        release_dropped(py);
        Ok(removed)
    }

    fn contains(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        with_key(key, |k| self.inner.contains(k))
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.contains(key)
    }

    #[pyo3(signature = (key, func, ttl=None, weight=None))]
    fn get_or_compute(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        func: Py<PyAny>,
        ttl: Option<f64>,
        weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let ttl = parse_ttl(ttl, "ttl")?;
        let weight = weight.map(|w| parse_weight(w, "weight")).transpose()?;
        // Fast path with the GIL held: most calls are hits.
        let lookup = with_key(key, |k| match self.inner.get_uncounted(k) {
            Some(entry) => Ok(entry),
            None => Err(k.to_owned_key()),
        })?;
        let result = match lookup {
            Ok(entry) => {
                self.inner.record_hit();
                entry_to_py(py, entry)
            }
            Err(key) => {
                // Wait (or compute) with the GIL released, so the thread that computes
                // can take the GIL to run `func`.
                let computed = py.detach(|| {
                    self.inner.get_or_try_insert_with(key, || {
                        Python::attach(|py| {
                            let value = func.bind(py).call0()?;
                            self.make_entry(py, &value, ttl, weight)
                        })
                    })
                });
                match computed {
                    Ok(entry) => entry_to_py(py, entry),
                    Err(e) => Err(cache_compute_err(py, e)),
                }
            }
        };
        release_dropped(py);
        result
    }

    /// Remove everything and run the pending maintenance, so stats are exact afterwards.
    fn clear(&self, py: Python<'_>) {
        py.detach(|| {
            self.inner.clear();
            self.inner.run_pending_tasks();
        });
        release_dropped(py);
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let keys = self.inner.keys();
        let out = PyList::empty(py);
        for key in keys {
            out.append(key_to_py(py, &key)?)?;
        }
        release_dropped(py);
        Ok(out)
    }

    fn stats(&self) -> CacheStats {
        CacheStats::from(self.inner.stats())
    }

    fn run_pending_tasks(&self, py: Python<'_>) {
        py.detach(|| self.inner.run_pending_tasks());
        release_dropped(py);
    }

    fn __len__(&self) -> usize {
        self.inner.stats().entries as usize
    }

    fn __repr__(&self) -> String {
        let s = self.inner.stats();
        format!(
            "Cache(max_weight={}, entries={}, weighted_size={})",
            self.inner.config().max_weight,
            s.entries,
            s.weighted_size
        )
    }
}

impl Cache {
    /// Build the entry for `value`, weighing it here on the caller's thread: bytes by
    /// their length (compressed length if compressed), anything else by `weight` or, if
    /// not given, by the weigher (`sys.getsizeof` by default).
    fn make_entry(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        ttl: Option<Duration>,
        weight: Option<u32>,
    ) -> PyResult<Entry<Obj>> {
        if let Ok(bytes) = value.cast_exact::<PyBytes>() {
            let data = bytes.as_bytes();
            let compressed = if data.len() >= DETACH_BYTES {
                py.detach(|| self.inner.compress(data))
            } else {
                self.inner.compress(data)
            };
            let mut entry = match compressed {
                Some(z) => Entry::compressed(z, ttl),
                None => {
                    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                    Entry::object(wrap(value), len, ttl)
                }
            };
            if let Some(w) = weight {
                entry.weight = w;
            }
            return Ok(entry);
        }
        let weight = match weight {
            Some(w) => w,
            None => parse_weight(&self.weigher.bind(py).call1((value,))?, "weigher result")?,
        };
        Ok(Entry::object(wrap(value), weight, ttl))
    }
}

fn wrap(value: &Bound<'_, PyAny>) -> Obj {
    Arc::new(PyValue(ManuallyDrop::new(value.clone().unbind())))
}

impl Drop for Cache {
    fn drop(&mut self) {
        // SAFETY: `inner` is not used after this point.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        // The values it held are queued now; free them while we are here.
        Python::attach(release_dropped);
    }
}

/// A snapshot of a cache's counters (see `Cache.stats`).
#[pyclass(frozen, get_all, module = "dwc_core._native")]
pub struct CacheStats {
    hits: u64,
    misses: u64,
    evicted_size: u64,
    evicted_expired: u64,
    removed_explicit: u64,
    replaced: u64,
    weighted_size: u64,
    entries: u64,
}

impl From<Stats> for CacheStats {
    fn from(s: Stats) -> Self {
        Self {
            hits: s.hits,
            misses: s.misses,
            evicted_size: s.evicted_size,
            evicted_expired: s.evicted_expired,
            removed_explicit: s.removed_explicit,
            replaced: s.replaced,
            weighted_size: s.weighted_size,
            entries: s.entries,
        }
    }
}

#[pymethods]
impl CacheStats {
    #[getter]
    fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }

    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, value) in self.fields() {
            d.set_item(name, value)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let fields: Vec<String> = self
            .fields()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        format!("CacheStats({})", fields.join(", "))
    }
}

impl CacheStats {
    fn fields(&self) -> [(&'static str, u64); 8] {
        [
            ("hits", self.hits),
            ("misses", self.misses),
            ("evicted_size", self.evicted_size),
            ("evicted_expired", self.evicted_expired),
            ("removed_explicit", self.removed_explicit),
            ("replaced", self.replaced),
            ("weighted_size", self.weighted_size),
            ("entries", self.entries),
        ]
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Cache>()?;
    m.add_class::<CacheStats>()?;
    Ok(())
}
