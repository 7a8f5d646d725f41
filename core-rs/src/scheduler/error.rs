//! The scheduler's one error enum. `core-rs/src/py/errors.rs` maps each variant to a
//! Python exception.

use super::time::Time;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchedulerError {
    /// A bad argument: `field` names it as the Python signature does.
    #[error("{field}={value} {reason}")]
    InvalidArgument {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("priority={0:?} is not one of 'low', 'normal', 'high', 'critical'")]
    UnknownPriority(String),
    #[error("payload of task {id:?} is {size} bytes, over max_payload={limit}")]
    PayloadTooLarge {
        id: String,
        size: usize,
        limit: usize,
    },
    #[error("invalid cron expression {expr:?}: {reason}")]
    InvalidCron { expr: String, reason: String },
    #[error("timezone={0:?} is not a known IANA time zone")]
    UnknownTimeZone(String),
    #[error("task id {0:?} is already queued, leased or dead-lettered")]
    DuplicateId(String),
    #[error("dedup_key={key:?} is held by live task {holder:?}")]
    DuplicateKey { key: String, holder: String },
    #[error("schedule {0:?} already exists (pass replace=True to change it)")]
    DuplicateSchedule(String),
    #[error("lease {0} is unknown: never issued, already settled, or its task was cancelled")]
    UnknownLease(u64),
    #[error("lease {lease} on task {task:?} expired at {expired_at}")]
    LeaseExpired {
        lease: u64,
        task: String,
        expired_at: Time,
    },
    #[error("no schedule named {0:?}")]
    UnknownSchedule(String),
    #[error("task {0:?} is not in the dead-letter set")]
    NotDeadLettered(String),
    #[error("corrupt scheduler state: {0}")]
    Corrupt(String),
    #[error("scheduler journal has a gap: expected event {expected}, found {found}")]
    JournalGap { expected: u64, found: u64 },
    #[error("tasks[{index}]: {source}")]
    InBatch {
        index: usize,
        source: Box<SchedulerError>,
    },
}

impl SchedulerError {
    pub(crate) fn invalid(
        field: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        SchedulerError::InvalidArgument {
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The error itself, looking through [`SchedulerError::InBatch`].
    pub fn root(&self) -> &SchedulerError {
        match self {
            SchedulerError::InBatch { source, .. } => source.root(),
            other => other,
        }
    }
}

pub type Result<T, E = SchedulerError> = std::result::Result<T, E>;
