//! A weighted, concurrent in-memory cache on top of `moka`.
//!
//! moka supplies the policy: TinyLFU admission with an LRU eviction window, a weight
//! budget, cache-wide time-to-live and time-to-idle, and per-entry expiry. This module
//! adds what DWC needs around it: keys of three kinds ([`key`]), LZ4 compression of large
//! byte values ([`compress`]), hit/miss/removal counters ([`stats`]) and single-flight
//! computation that refuses to recurse into its own key.
//!
//! [`Cache`] is generic over the stored object type `O`, so it carries no Python. The
//! binding layer stores Python objects; the `cargo test`s below use plain Rust values.
//!
//! Every weight is decided by the caller *before* an insert and carried in the
//! [`Entry`]: moka's weigher only reads that number, and the eviction listener only
//! counts. Neither hook runs foreign code (docs/adr/0002-cache-weighing-outside-moka.md).

pub mod compress;
pub mod key;
pub mod stats;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

pub use compress::Compressed;
pub use key::{CacheKey, KeyHasher, KeyRef, KeyView};
pub use stats::{Counters, Stats};

/// Longest TTL or TTI accepted: 100 years. moka refuses more than 1000 years; anything
/// near that is a unit mistake.
pub const MAX_DURATION_SECS: f64 = 100.0 * 365.0 * 86_400.0;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CacheError {
    #[error("invalid cache config: {0}")]
    InvalidConfig(String),
    #[error("{name} must be a finite number of seconds in (0, {MAX_DURATION_SECS}], got {value}")]
    InvalidDuration { name: &'static str, value: f64 },
    #[error("weight={0} is over the largest weight one entry can have ({max})", max = u32::MAX)]
    WeightTooLarge(u64),
    #[error("a compressed cache value could not be decompressed: {0}")]
    Decompress(String),
    #[error(
        "get_or_compute() was called for a key whose computation is already running on this \
         thread (the compute function asked for its own key)"
    )]
    RecursiveCompute,
}

/// Why [`Cache::get_or_try_insert_with`] returned no value.
#[derive(Debug)]
pub enum ComputeError<E> {
    /// The init function of this key is already running on this thread.
    Recursive,
    /// The init function failed. Every caller that waited for it gets the same error.
    Failed(Arc<E>),
}

/// Seconds (as a caller writes them) to a `Duration`, refusing NaN, infinities, zero,
/// negatives and absurdly long spans. `name` is the argument's name, for the message.
pub fn duration_from_secs(name: &'static str, secs: f64) -> Result<Duration, CacheError> {
    if secs.is_finite() && secs > 0.0 && secs <= MAX_DURATION_SECS {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(CacheError::InvalidDuration { name, value: secs })
    }
}

/// An entry's weight from a count of bytes or units: over `u32::MAX` is an error.
pub fn weight_from(n: u64) -> Result<u32, CacheError> {
    u32::try_from(n).map_err(|_| CacheError::WeightTooLarge(n))
}

/// Options fixed when a cache is built.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// The budget: the sum of entry weights the cache keeps (bytes, for DWC's agent).
    pub max_weight: u64,
    /// Cache-wide time-to-live, counted from each entry's last write.
    pub ttl: Option<Duration>,
    /// Cache-wide time-to-idle, counted from each entry's last read or write.
    pub tti: Option<Duration>,
    /// Byte values at least this long are LZ4-compressed (if that saves an eighth or
    /// more); `None` turns compression off.
    pub compress_threshold: Option<usize>,
}

impl CacheConfig {
    pub fn new(max_weight: u64) -> Self {
        Self {
            max_weight,
            ttl: None,
            tti: None,
            compress_threshold: None,
        }
    }

    fn validate(&self) -> Result<(), CacheError> {
        if self.max_weight == 0 {
            return Err(CacheError::InvalidConfig("max_weight must be > 0".into()));
        }
        for (name, d) in [("ttl", self.ttl), ("tti", self.tti)] {
            if let Some(d) = d {
                duration_from_secs(name, d.as_secs_f64())?;
            }
        }
        if self.compress_threshold == Some(0) {
            return Err(CacheError::InvalidConfig(
                "compress_threshold must be > 0 (None turns compression off)".into(),
            ));
        }
        Ok(())
    }
}

/// What an entry holds: the caller's object, or bytes the cache compressed.
#[derive(Debug, Clone)]
pub enum Value<O> {
    Object(O),
    Compressed(Compressed),
}

/// A stored value with the weight and per-entry TTL its caller gave it.
#[derive(Debug, Clone)]
pub struct Entry<O> {
    pub value: Value<O>,
    pub weight: u32,
    /// Per-entry time-to-live from the write; `None` leaves only the cache-wide limits.
    pub ttl: Option<Duration>,
}

impl<O> Entry<O> {
    pub fn object(object: O, weight: u32, ttl: Option<Duration>) -> Self {
        Self {
            value: Value::Object(object),
            weight,
            ttl,
        }
    }

    /// Compressed bytes, weighing what they take in memory (the compressed length).
    pub fn compressed(data: Compressed, ttl: Option<Duration>) -> Self {
        let weight = u32::try_from(data.stored_len()).unwrap_or(u32::MAX);
        Self {
            value: Value::Compressed(data),
            weight,
            ttl,
        }
    }
}

/// Per-entry expiry: each write sets the entry's TTL from the entry itself (or clears
/// it). Reads leave it alone; time-to-idle is moka's cache-wide policy.
struct PerEntryTtl;

impl<O> Expiry<CacheKey, Entry<O>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Entry<O>,
        _at: Instant,
    ) -> Option<Duration> {
        value.ttl
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Entry<O>,
        _at: Instant,
        _remaining: Option<Duration>,
    ) -> Option<Duration> {
        value.ttl
    }
}

static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// (cache id, key) of every get_or_compute this thread is inside, innermost last.
    static COMPUTING: RefCell<Vec<(u64, CacheKey)>> = const { RefCell::new(Vec::new()) };
}

/// Pops this thread's innermost computation, also when the init function panics.
struct ComputingGuard;

impl Drop for ComputingGuard {
    fn drop(&mut self) {
        COMPUTING.with(|c| c.borrow_mut().pop());
    }
}

/// A thread-safe weighted cache of `O` values. Cheap operations; share it by reference
/// (or `Arc`) across threads.
pub struct Cache<O> {
    id: u64,
    inner: moka::sync::Cache<CacheKey, Entry<O>, KeyHasher>,
    counters: Arc<Counters>,
    config: CacheConfig,
}

impl<O: Clone + Send + Sync + 'static> Cache<O> {
    pub fn new(config: CacheConfig) -> Result<Self, CacheError> {
        config.validate()?;
        let counters = Arc::new(Counters::default());
        let listener_counters = counters.clone();
        let mut builder = moka::sync::Cache::builder()
            .max_capacity(config.max_weight)
            .weigher(|_key: &CacheKey, entry: &Entry<O>| entry.weight)
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_key, _value, cause| listener_counters.record_removal(cause));
        if let Some(ttl) = config.ttl {
            builder = builder.time_to_live(ttl);
        }
        if let Some(tti) = config.tti {
            builder = builder.time_to_idle(tti);
        }
        Ok(Self {
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
            inner: builder.build_with_hasher(KeyHasher),
            counters,
            config,
        })
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// `data` compressed, if the config turns compression on, `data` reaches the
    /// threshold and compressing saves at least an eighth; otherwise `None` (store the
    /// bytes as they are, weighing their length).
    pub fn compress(&self, data: &[u8]) -> Option<Compressed> {
        self.config
            .compress_threshold
            .and_then(|t| Compressed::try_compress(data, t))
    }

    /// The entry under `key`, counted as a hit or a miss.
    pub fn get(&self, key: KeyRef<'_>) -> Option<Entry<O>> {
        let found = self.inner.get(&key);
        if found.is_some() {
            self.counters.record_hit();
        } else {
            self.counters.record_miss();
        }
        found
    }

    /// The entry under `key`, without touching the hit/miss counters. Still a read for
    /// the policy (frequency and idle time).
    pub fn get_uncounted(&self, key: KeyRef<'_>) -> Option<Entry<O>> {
        self.inner.get(&key)
    }

    pub fn record_hit(&self) {
        self.counters.record_hit();
    }

    /// Insert or replace. The entry may be refused admission (TinyLFU) or evicted at
    /// once if it weighs more than the whole budget; that shows as a size eviction.
    pub fn insert(&self, key: CacheKey, entry: Entry<O>) {
        self.inner.insert(key, entry);
    }

    /// Remove `key`; true if it was present.
    pub fn remove(&self, key: KeyRef<'_>) -> bool {
        self.inner.remove(&key).is_some()
    }

    /// Whether `key` is present and unexpired. Not a read: no counters, no recency.
    pub fn contains(&self, key: KeyRef<'_>) -> bool {
        self.inner.contains_key(&key)
    }

    /// The entry under `key`, computing and inserting it with `init` on a miss. Under
    /// concurrency only one caller runs `init` for a key; the others block until it
    /// finishes and then share its entry or its error. The computing caller counts a miss,
    /// every other caller a hit.
    ///
    /// `init` must not ask this cache for the same key on the same thread: that would
    /// wait for itself, so it returns [`ComputeError::Recursive`] instead.
    pub fn get_or_try_insert_with<E, F>(
        &self,
        key: CacheKey,
        init: F,
    ) -> Result<Entry<O>, ComputeError<E>>
    where
        F: FnOnce() -> Result<Entry<O>, E>,
        E: Send + Sync + 'static,
    {
        let recursive =
            COMPUTING.with(|c| c.borrow().iter().any(|(id, k)| *id == self.id && *k == key));
        if recursive {
            return Err(ComputeError::Recursive);
        }
        COMPUTING.with(|c| c.borrow_mut().push((self.id, key.clone())));
        let _guard = ComputingGuard;
        match self.inner.entry(key).or_try_insert_with(init) {
            Ok(entry) => {
                if entry.is_fresh() {
                    self.counters.record_miss();
                } else {
                    self.counters.record_hit();
                }
                Ok(entry.into_value())
            }
            Err(e) => {
                self.counters.record_miss();
                Err(ComputeError::Failed(e))
            }
        }
    }

    /// Remove every entry. Lazy: entries vanish from lookups at once, and are counted as
    /// explicit removals when maintenance runs.
    pub fn clear(&self) {
        self.inner.invalidate_all();
    }

    /// The keys present now (a snapshot; expired entries are skipped).
    pub fn keys(&self) -> Vec<Arc<CacheKey>> {
        self.inner.iter().map(|(k, _)| k).collect()
    }

    /// Run moka's pending maintenance now: apply queued reads and writes, evict, expire
    /// and notify. Makes `stats()` exact for the moment.
    pub fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks();
    }

    pub fn stats(&self) -> Stats {
        self.counters
            .snapshot(self.inner.weighted_size(), self.inner.entry_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Barrier;

    fn cache(max_weight: u64) -> Cache<Arc<str>> {
        Cache::new(CacheConfig::new(max_weight)).unwrap()
    }

    fn entry(s: &str, weight: u32) -> Entry<Arc<str>> {
        Entry::object(Arc::from(s), weight, None)
    }

    fn object(e: Entry<Arc<str>>) -> Arc<str> {
        match e.value {
            Value::Object(o) => o,
            Value::Compressed(_) => panic!("expected an object"),
        }
    }

    #[test]
    fn get_set_delete_contains_and_counters() {
        let c = cache(100);
        c.insert("a".into(), entry("A", 1));
        c.insert(7.into(), entry("seven", 1));
        assert_eq!(&*object(c.get(KeyRef::str("a")).unwrap()), "A");
        assert_eq!(&*object(c.get(KeyRef::int(7)).unwrap()), "seven");
        assert!(c.get(KeyRef::bytes(b"a")).is_none());
        assert!(c.contains(KeyRef::str("a")));
        assert!(c.remove(KeyRef::str("a")));
        assert!(!c.remove(KeyRef::str("a")));
        assert!(!c.contains(KeyRef::str("a")));
        c.insert(7.into(), entry("sept", 1));
        c.run_pending_tasks();
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (2, 1));
        assert_eq!((s.removed_explicit, s.replaced), (1, 1));
        assert_eq!((s.entries, s.weighted_size), (1, 1));
        let keys = c.keys();
        assert_eq!(keys.len(), 1);
        assert_eq!(*keys[0], CacheKey::from(7));
    }

    #[test]
    fn weight_budget_evicts_by_size() {
        let c = cache(1000);
        for i in 0..50 {
            c.insert(CacheKey::from(i), entry("x", 100));
        }
        c.run_pending_tasks();
        let s = c.stats();
        assert!(s.weighted_size <= 1000, "{s:?}");
        assert!(s.entries <= 10);
        assert_eq!(s.evicted_size, 50 - s.entries);
    }

    #[test]
    fn entry_heavier_than_the_budget_is_not_kept() {
        let c = cache(10);
        c.insert("big".into(), entry("x", 11));
        c.run_pending_tasks();
        assert!(!c.contains(KeyRef::str("big")));
        assert_eq!(c.stats().evicted_size, 1);
    }

    #[test]
    fn per_entry_ttl_expires_only_that_entry() {
        let c = cache(100);
        c.insert(
            "short".into(),
            Entry::object(Arc::from("s"), 1, Some(Duration::from_millis(30))),
        );
        c.insert("long".into(), entry("l", 1));
        std::thread::sleep(Duration::from_millis(80));
        assert!(c.get(KeyRef::str("short")).is_none());
        assert!(c.get(KeyRef::str("long")).is_some());
        // Per-entry expiry runs on moka's timer wheel, whose finest buckets span about a
        // second: the removal is *counted* only once its bucket is processed.
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.stats().evicted_expired == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            c.run_pending_tasks();
        }
        assert_eq!(c.stats().evicted_expired, 1);
        assert_eq!(c.stats().entries, 1);
    }

    #[test]
    fn overwrite_without_ttl_clears_the_old_ttl() {
        let c = cache(100);
        c.insert(
            "k".into(),
            Entry::object(Arc::from("v1"), 1, Some(Duration::from_millis(30))),
        );
        c.insert("k".into(), entry("v2", 1));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(&*object(c.get(KeyRef::str("k")).unwrap()), "v2");
    }

    #[test]
    fn cache_wide_ttl_applies() {
        let config = CacheConfig {
            ttl: Some(Duration::from_millis(30)),
            ..CacheConfig::new(100)
        };
        let c: Cache<Arc<str>> = Cache::new(config).unwrap();
        c.insert("k".into(), entry("v", 1));
        assert!(c.contains(KeyRef::str("k")));
        std::thread::sleep(Duration::from_millis(80));
        assert!(!c.contains(KeyRef::str("k")));
    }

    #[test]
    fn clear_removes_everything() {
        let c = cache(100);
        for i in 0..5 {
            c.insert(CacheKey::from(i), entry("v", 1));
        }
        c.clear();
        assert!(c.get(KeyRef::int(0)).is_none());
        c.run_pending_tasks();
        assert_eq!(c.stats().entries, 0);
        assert!(c.keys().is_empty());
    }

    #[test]
    fn compresses_above_threshold_only_when_configured() {
        let config = CacheConfig {
            compress_threshold: Some(1024),
            ..CacheConfig::new(1 << 20)
        };
        let c: Cache<Arc<str>> = Cache::new(config).unwrap();
        let big = b"abcd".repeat(1000);
        let z = c.compress(&big).expect("should compress");
        let e: Entry<Arc<str>> = Entry::compressed(z.clone(), None);
        assert_eq!(e.weight as usize, z.stored_len());
        assert_eq!(z.decompress().unwrap(), big);
        assert!(c.compress(b"abcd").is_none());
        assert!(cache(1 << 20).compress(&big).is_none());
    }

    #[test]
    fn single_flight_runs_init_once() {
        let c = Arc::new(cache(100));
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (c, calls, barrier) = (c.clone(), calls.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let e = c
                        .get_or_try_insert_with("k".into(), || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            Ok::<_, String>(entry("computed", 1))
                        })
                        .unwrap();
                    object(e)
                })
            })
            .collect();
        for h in handles {
            assert_eq!(&*h.join().unwrap(), "computed");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let s = c.stats();
        assert_eq!((s.misses, s.hits), (1, 7));
    }

    #[test]
    fn failed_init_is_not_cached() {
        let c = cache(100);
        let r =
            c.get_or_try_insert_with("k".into(), || Err::<Entry<Arc<str>>, _>("boom".to_string()));
        match r {
            Err(ComputeError::Failed(e)) => assert_eq!(*e, "boom"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!c.contains(KeyRef::str("k")));
        let ok = c.get_or_try_insert_with("k".into(), || Ok::<_, String>(entry("v", 1)));
        assert!(ok.is_ok());
    }

    #[test]
    fn recursion_into_the_same_key_is_refused() {
        let c = cache(100);
        let r = c.get_or_try_insert_with("k".into(), || {
            match c.get_or_try_insert_with("k".into(), || Ok::<_, String>(entry("inner", 1))) {
                Err(ComputeError::Recursive) => Ok(entry("outer", 1)),
                _ => Err("recursion was not detected".to_string()),
            }
        });
        assert_eq!(&*object(r.unwrap()), "outer");
        // A different key inside is fine, and the guard is popped afterwards.
        let r = c.get_or_try_insert_with("a".into(), || {
            c.get_or_try_insert_with("b".into(), || Ok::<_, String>(entry("b", 1)))
                .map_err(|_| "inner failed".to_string())?;
            Ok::<_, String>(entry("a", 1))
        });
        assert!(r.is_ok());
        assert!(c
            .get_or_try_insert_with("k".into(), || Ok::<_, String>(entry("x", 1)))
            .is_ok());
    }

    #[test]
    fn config_is_validated() {
        assert!(matches!(
            Cache::<Arc<str>>::new(CacheConfig::new(0)),
            Err(CacheError::InvalidConfig(_))
        ));
        let zero = CacheConfig {
            compress_threshold: Some(0),
            ..CacheConfig::new(1)
        };
        assert!(Cache::<Arc<str>>::new(zero).is_err());
        for bad in [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e12] {
            assert!(duration_from_secs("ttl", bad).is_err(), "{bad}");
        }
        assert_eq!(
            duration_from_secs("ttl", 1.5).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(weight_from(7).unwrap(), 7);
        assert_eq!(
            weight_from(1 << 32),
            Err(CacheError::WeightTooLarge(1 << 32))
        );
    }
}
