//! What a task is: its spec (what the caller asks for), its record (what the scheduler
//! keeps and persists) and its delivery (what a worker gets with a lease).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{Result, SchedulerError};
use super::time::{Time, MAX_SPAN};

/// Longest task id, dedup key, class or schedule name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Longest nack reason kept; longer ones are cut at a character boundary.
pub const MAX_REASON_LEN: usize = 4096;

/// Delivery order: every ready critical task goes before any ready high one, and so on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Priority {
    type Err = SchedulerError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "low" => Ok(Priority::Low),
            "normal" => Ok(Priority::Normal),
            "high" => Ok(Priority::High),
            "critical" => Ok(Priority::Critical),
            other => Err(SchedulerError::UnknownPriority(other.to_owned())),
        }
    }
}

/// What a second enqueue with a live dedup key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DedupPolicy {
    /// Refuse it with [`SchedulerError::DuplicateKey`].
    #[default]
    Refuse,
    /// Fold it into the live task: see [`crate::scheduler::Scheduler::enqueue`].
    Merge,
}

impl FromStr for DedupPolicy {
    type Err = SchedulerError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "refuse" => Ok(DedupPolicy::Refuse),
            "merge" => Ok(DedupPolicy::Merge),
            other => Err(SchedulerError::invalid(
                "on_duplicate",
                format!("{other:?}"),
                "is not 'refuse' or 'merge'",
            )),
        }
    }
}

/// Retry delays: `min(cap, base * factor^(retry-1))`, shortened by up to `jitter` (a
/// fraction in 0..=1) at random so that tasks failing together do not retry together.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    pub base: Duration,
    pub factor: f64,
    pub cap: Duration,
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            factor: 2.0,
            cap: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    pub fn validate(&self) -> Result<()> {
        if !(self.factor.is_finite() && (1.0..=1000.0).contains(&self.factor)) {
            return Err(SchedulerError::invalid(
                "backoff_factor",
                self.factor,
                "must be in 1..=1000",
            ));
        }
        if !(self.jitter.is_finite() && (0.0..=1.0).contains(&self.jitter)) {
            return Err(SchedulerError::invalid(
                "backoff_jitter",
                self.jitter,
                "must be in 0..=1",
            ));
        }
        check_span("backoff_base", self.base)?;
        check_span("backoff_cap", self.cap)?;
        Ok(())
    }

    /// The delay before retry number `retry` (1 for the first). `unit` is a uniform
    /// random number in `0..1` (0 gives the longest delay).
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let exp = retry.saturating_sub(1).min(2000) as i32;
        let cap = self.cap.as_secs_f64();
        let raw = self.base.as_secs_f64() * self.factor.powi(exp);
        let capped = if raw.is_finite() { raw.min(cap) } else { cap };
        let jittered = capped * (1.0 - self.jitter * unit.clamp(0.0, 1.0));
        Duration::try_from_secs_f64(jittered.max(0.0)).unwrap_or(self.cap)
    }
}

pub(crate) fn check_span(field: &'static str, d: Duration) -> Result<()> {
    if d > MAX_SPAN {
        Err(SchedulerError::invalid(
            field,
            format!("{}s", d.as_secs_f64()),
            "is over the 10-year limit",
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn check_name(field: &'static str, s: &str) -> Result<()> {
    if s.is_empty() {
        Err(SchedulerError::invalid(field, "''", "must not be empty"))
    } else if s.len() > MAX_NAME_LEN {
        Err(SchedulerError::invalid(
            field,
            format!("<{} bytes>", s.len()),
            format!("is longer than {MAX_NAME_LEN} bytes"),
        ))
    } else {
        Ok(())
    }
}

/// When a task becomes ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Start {
    #[default]
    Now,
    At(Time),
    After(Duration),
}

/// A task's payload. Shared, not copied, between the task and its deliveries, so a take
/// costs a reference count and not an allocation per task.
pub type Payload = Arc<[u8]>;

/// What the caller asks for. `TaskSpec::new(id, payload)` gives the defaults.
///
/// Ids and classes are `Arc<str>` so that the scheduler's indexes, the leases it hands
/// out and a batch of specs that share one class hold one allocation between them.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    pub id: Arc<str>,
    pub payload: Payload,
    pub priority: Priority,
    pub start: Start,
    pub deadline: Option<Time>,
    pub dedup_key: Option<String>,
    pub on_duplicate: DedupPolicy,
    /// Deliveries allowed before a failure dead-letters the task (at least 1).
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Concurrency-cap class; see [`crate::scheduler::Scheduler::set_class_limit`].
    pub class: Arc<str>,
}

pub const DEFAULT_CLASS: &str = "default";
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

impl TaskSpec {
    pub fn new(id: impl Into<Arc<str>>, payload: impl Into<Payload>) -> Self {
        Self {
            id: id.into(),
            payload: payload.into(),
            priority: Priority::Normal,
            start: Start::Now,
            deadline: None,
            dedup_key: None,
            on_duplicate: DedupPolicy::Refuse,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: Backoff::default(),
            class: DEFAULT_CLASS.into(),
        }
    }

    /// Everything that can be checked without the scheduler's state.
    pub fn validate(&self, max_payload: usize) -> Result<()> {
        check_name("task_id", &self.id)?;
        check_name("task_class", &self.class)?;
        if let Some(k) = &self.dedup_key {
            check_name("dedup_key", k)?;
        }
        if self.payload.len() > max_payload {
            return Err(SchedulerError::PayloadTooLarge {
                id: self.id.to_string(),
                size: self.payload.len(),
                limit: max_payload,
            });
        }
        if self.max_attempts == 0 {
            return Err(SchedulerError::invalid(
                "max_attempts",
                0,
                "must be at least 1",
            ));
        }
        if let Start::After(d) = self.start {
            check_span("delay", d)?;
        }
        self.backoff.validate()
    }
}

/// Where a task is. Every task is in exactly one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TaskState {
    Pending,
    Leased { lease: u64, expires_at: Time },
    Dead,
}

/// Public view of [`TaskState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskStatus {
    Pending,
    Leased,
    DeadLettered,
}

/// Work merged into a task while it was leased; applied when that lease ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Merge {
    #[serde(with = "payload_serde")]
    pub payload: Payload,
    pub priority: Priority,
    pub run_at: Time,
    pub deadline: Option<Time>,
}

/// What the scheduler keeps for a task, and what a snapshot or journal stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Task {
    pub id: Arc<str>,
    #[serde(with = "payload_serde")]
    pub payload: Payload,
    pub priority: Priority,
    /// Shared with the scheduler's class table.
    pub class: Arc<str>,
    pub run_at: Time,
    pub deadline: Option<Time>,
    pub dedup_key: Option<String>,
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Enqueue order, for FIFO among equal priority and run-at time.
    pub seq: u64,
    /// Deliveries so far (a lease counts when it is taken).
    pub attempts: u32,
    /// Delivered at least once after its deadline.
    pub late: bool,
    pub state: TaskState,
    pub last_error: Option<String>,
    /// The schedule that fired it, if any.
    pub schedule: Option<Arc<str>>,
    /// Boxed: rare, and a task record is moved on every state change.
    #[serde(default)]
    pub merge: Option<Box<Merge>>,
    /// Index into the scheduler's class table; rebuilt on restore.
    #[serde(skip)]
    pub class_ix: u32,
}

/// A leased task, as handed to a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub lease: u64,
    pub id: Arc<str>,
    pub payload: Payload,
    pub priority: Priority,
    pub class: Arc<str>,
    /// 1 for the first delivery.
    pub attempt: u32,
    pub max_attempts: u32,
    pub run_at: Time,
    pub deadline: Option<Time>,
    /// The deadline had passed when this (or an earlier) delivery was made.
    pub late: bool,
    pub expires_at: Time,
    pub schedule: Option<Arc<str>>,
    /// The reason given with the last nack, if any.
    pub last_error: Option<String>,
}

/// A task that failed `max_attempts` times (or was nacked as permanent).
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub id: Arc<str>,
    pub payload: Payload,
    pub priority: Priority,
    pub class: Arc<str>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub schedule: Option<Arc<str>>,
}

/// What [`crate::scheduler::Scheduler::enqueue`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enqueued {
    Added(Arc<str>),
    /// Merged into the live task with this id.
    Merged(Arc<str>),
}

impl Enqueued {
    pub fn id(&self) -> &str {
        match self {
            Enqueued::Added(id) | Enqueued::Merged(id) => id,
        }
    }
}

/// How a nack wants the task handled.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct NackOptions {
    /// Retry after exactly this long instead of the task's backoff.
    pub retry_after: Option<Duration>,
    /// Dead-letter now, whatever attempts remain.
    pub dead_letter: bool,
}

/// What a nack did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NackOutcome {
    Retry { at: Time },
    DeadLettered,
}

/// Payloads are written as MessagePack bytes, exactly as `serde_bytes` wrote the
/// `Vec<u8>` they used to be, so snapshots and journals keep their format.
pub(crate) mod payload_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Payload;

    pub fn serialize<S: Serializer>(p: &Payload, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(p)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Payload, D::Error> {
        serde_bytes::ByteBuf::deserialize(d).map(|b| Payload::from(b.into_vec()))
    }
}

/// Cut `s` to at most `max` bytes at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_parses_and_orders() {
        assert_eq!("critical".parse::<Priority>().unwrap(), Priority::Critical);
        assert_eq!(
            "urgent".parse::<Priority>(),
            Err(SchedulerError::UnknownPriority("urgent".into()))
        );
        assert!(Priority::Critical > Priority::High && Priority::High > Priority::Normal);
        assert!(Priority::Normal > Priority::Low);
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            base: Duration::from_secs(1),
            factor: 2.0,
            cap: Duration::from_secs(10),
            jitter: 0.5,
        };
        assert_eq!(b.delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, 0.0), Duration::from_secs(4));
        assert_eq!(b.delay(50, 0.0), Duration::from_secs(10));
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(10));
        assert_eq!(b.delay(3, 0.999_999).as_millis(), 2000);
        assert!(Backoff { factor: 0.5, ..b }.validate().is_err());
        assert!(Backoff {
            jitter: f64::NAN,
            ..b
        }
        .validate()
        .is_err());
        assert!(Backoff {
            cap: Duration::from_secs(u64::MAX),
            ..b
        }
        .validate()
        .is_err());
    }

    #[test]
    fn spec_validation_names_the_field() {
        let ok = TaskSpec::new("a", vec![0; 10]);
        assert!(ok.validate(10).is_ok());
        assert!(matches!(
            ok.validate(9),
            Err(SchedulerError::PayloadTooLarge {
                size: 10,
                limit: 9,
                ..
            })
        ));
        let e = TaskSpec {
            max_attempts: 0,
            ..ok.clone()
        }
        .validate(10)
        .unwrap_err();
        assert!(e.to_string().starts_with("max_attempts=0"), "{e}");
        let e = TaskSpec {
            id: "".into(),
            ..ok.clone()
        }
        .validate(10)
        .unwrap_err();
        assert!(e.to_string().starts_with("task_id=''"), "{e}");
        let e = TaskSpec {
            start: Start::After(Duration::from_secs(u64::MAX)),
            ..ok
        }
        .validate(10)
        .unwrap_err();
        assert!(e.to_string().starts_with("delay="), "{e}");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
