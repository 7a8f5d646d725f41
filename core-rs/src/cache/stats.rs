//! Hit, miss and removal counters, updated lock-free from any thread.
//!
//! The eviction listener only calls [`Counters::record_removal`]: it never runs Python
//! and never takes a lock (see docs/adr/0002-cache-weighing-outside-moka.md).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use moka::notification::RemovalCause;

/// Live counters shared by a cache and its eviction listener.
#[derive(Debug, Default)]
pub struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    size: AtomicU64,
    expired: AtomicU64,
    explicit: AtomicU64,
    replaced: AtomicU64,
}

impl Counters {
    pub fn record_hit(&self) {
        self.hits.fetch_add(1, Relaxed);
    }

    pub fn record_miss(&self) {
        self.misses.fetch_add(1, Relaxed);
    }

    pub fn record_removal(&self, cause: RemovalCause) {
        let counter = match cause {
            RemovalCause::Size => &self.size,
            RemovalCause::Expired => &self.expired,
            RemovalCause::Explicit => &self.explicit,
            RemovalCause::Replaced => &self.replaced,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// Counters at this instant, with the cache's own size figures.
    pub fn snapshot(&self, weighted_size: u64, entries: u64) -> Stats {
        Stats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            evicted_size: self.size.load(Relaxed),
            evicted_expired: self.expired.load(Relaxed),
            removed_explicit: self.explicit.load(Relaxed),
            replaced: self.replaced.load(Relaxed),
            weighted_size,
            entries,
        }
    }
}

/// A snapshot of a cache's counters.
///
/// Removals are counted when the cache's maintenance processes them, so right after a
/// write they can lag until `run_pending_tasks` (or later cache activity) runs; the same
/// holds for `weighted_size` and `entries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    /// Evicted to stay under the maximum weight (or refused admission by TinyLFU).
    pub evicted_size: u64,
    /// Removed because a TTL, TTI or per-entry expiry passed.
    pub evicted_expired: u64,
    /// Removed by `delete` or `clear`.
    pub removed_explicit: u64,
    /// Overwritten by a `set` of the same key.
    pub replaced: u64,
    pub weighted_size: u64,
    pub entries: u64,
}

impl Stats {
    /// hits / (hits + misses), or 0.0 before the first lookup.
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_cause_apart() {
        let c = Counters::default();
        c.record_hit();
        c.record_hit();
        c.record_miss();
        for cause in [
            RemovalCause::Size,
            RemovalCause::Size,
            RemovalCause::Expired,
            RemovalCause::Explicit,
            RemovalCause::Replaced,
        ] {
            c.record_removal(cause);
        }
        let s = c.snapshot(10, 2);
        assert_eq!(
            s,
            Stats {
                hits: 2,
                misses: 1,
                evicted_size: 2,
                evicted_expired: 1,
                removed_explicit: 1,
                replaced: 1,
                weighted_size: 10,
                entries: 2,
            }
        );
        assert!((s.hit_ratio() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(Stats::default().hit_ratio(), 0.0);
    }

    #[test]
    fn counters_are_shared_across_threads() {
        let c = std::sync::Arc::new(Counters::default());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| c.record_hit()))
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(c.snapshot(0, 0).hits, 4000);
    }
}
