//! Time as the scheduler sees it: microseconds since the Unix epoch, read from a [`Clock`].
//!
//! Wall-clock time (not a monotonic instant) is used on purpose: run-at times, deadlines
//! and cron fire times must mean the same thing after a snapshot is restored in a new
//! process. A clock stepped backwards delays tasks; it never loses or duplicates them.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Longest delay, lease, interval, grace or backoff accepted anywhere (10 years).
pub const MAX_SPAN: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A point in time: microseconds since 1970-01-01T00:00:00Z, between [`Time::EPOCH`] and
/// [`Time::MAX`]. Arithmetic saturates at both ends.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Time(i64);

impl Time {
    pub const EPOCH: Time = Time(0);
    /// 9999-12-31T23:59:59Z.
    pub const MAX: Time = Time(253_402_300_799_000_000);

    /// From microseconds since the epoch, clamped to `EPOCH..=MAX`.
    pub const fn from_micros(us: i64) -> Time {
        if us < 0 {
            Time(0)
        } else if us > Self::MAX.0 {
            Self::MAX
        } else {
            Time(us)
        }
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// From seconds since the epoch; `None` unless finite and within `EPOCH..=MAX`.
    pub fn from_secs_f64(secs: f64) -> Option<Time> {
        if !secs.is_finite() {
            return None;
        }
        let us = (secs * 1e6).round();
        if us < 0.0 || us > Self::MAX.0 as f64 {
            None
        } else {
            Some(Time(us as i64))
        }
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    pub fn saturating_add(self, d: Duration) -> Time {
        Time::from_micros(self.0.saturating_add(micros(d)))
    }

    pub fn saturating_sub(self, d: Duration) -> Time {
        Time::from_micros(self.0.saturating_sub(micros(d)))
    }

    /// How long after `earlier` this is (zero if it is not after it).
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// The previous representable instant (one microsecond earlier).
    pub(crate) fn pred(self) -> Time {
        Time::from_micros(self.0 - 1)
    }
}

pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match chrono::DateTime::from_timestamp_micros(self.0) {
            Some(dt) => write!(
                f,
                "{}",
                dt.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
            None => write!(f, "{}us", self.0),
        }
    }
}

/// Where the scheduler reads the time. Shared by every thread that uses one scheduler.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Time;

    /// Longest a blocking take sleeps before it reads the clock again. A clock that can
    /// jump without real time passing ([`ManualClock`]) returns a short interval so that
    /// waiting takers notice the jump; the system clock needs none.
    fn recheck_interval(&self) -> Option<Duration> {
        None
    }
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Time::from_micros(micros(d)),
            Err(_) => Time::EPOCH,
        }
    }
}

/// A clock that moves only when told to: tests use it to control time exactly.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Time) -> Self {
        Self {
            now: AtomicI64::new(start.as_micros()),
        }
    }

    pub fn set(&self, t: Time) {
        self.now.store(t.as_micros(), Ordering::SeqCst);
    }

    pub fn advance(&self, d: Duration) {
        let step = micros(d);
        // `fetch_update` only fails if the closure returns None, which it never does.
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(Time::from_micros(t.saturating_add(step)).as_micros())
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        Time::from_micros(self.now.load(Ordering::SeqCst))
    }

    fn recheck_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs_round_trip_and_bounds() {
        assert_eq!(Time::from_secs_f64(1.5), Some(Time::from_micros(1_500_000)));
        assert_eq!(Time::from_secs_f64(-1.0), None);
        assert_eq!(Time::from_secs_f64(f64::NAN), None);
        assert_eq!(Time::from_secs_f64(1e300), None);
        assert_eq!(Time::from_micros(-5), Time::EPOCH);
        assert_eq!(Time::MAX.saturating_add(Duration::from_secs(1)), Time::MAX);
        assert_eq!(
            Time::EPOCH.saturating_sub(Duration::from_secs(1)),
            Time::EPOCH
        );
        assert_eq!(
            Time::from_micros(10).since(Time::from_micros(20)),
            Duration::ZERO
        );
        assert_eq!(
            Time::from_micros(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Time::from_micros(100));
        assert_eq!(c.now(), Time::from_micros(100));
        c.advance(Duration::from_micros(5));
        assert_eq!(c.now(), Time::from_micros(105));
        c.set(Time::from_micros(7));
        assert_eq!(c.now(), Time::from_micros(7));
        c.advance(Duration::MAX);
        assert_eq!(c.now(), Time::MAX);
    }
}
