//! Durability: snapshots (the whole state) and a journal (one event per change).
//!
//! Both are MessagePack with named fields behind a 4-byte magic, so a newer DWC can read
//! what an older one wrote as long as fields are only added (with serde defaults). See
//! `docs/adr/0001-scheduler-durability.md` for why there are two and how they combine.
//!
//! Journal events are state writes, not commands: replaying one never re-runs scheduling
//! logic (no clock, no random jitter), so a replay cannot diverge from what happened.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{Result, SchedulerError};
use super::schedule::ScheduleRecord;
use super::task::{Task, TaskState};
use super::time::Time;

pub const SNAPSHOT_MAGIC: &[u8; 4] = b"DWCS";
pub const JOURNAL_MAGIC: &[u8; 4] = b"DWCJ";
pub const FORMAT_VERSION: u32 = 1;

/// Cumulative counters, kept across snapshots and replays.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub enqueued: u64,
    pub merged: u64,
    pub acked: u64,
    /// Nacks that scheduled another attempt.
    pub retried: u64,
    pub dead_lettered: u64,
    /// Leases that ran out before an ack or nack.
    pub expired: u64,
    pub cancelled: u64,
    /// Tasks first delivered after their deadline.
    pub late: u64,
    /// Tasks enqueued by schedules.
    pub fired: u64,
    /// Times a schedule found fires later than its grace period.
    pub misfires: u64,
}

/// Why a task was written or dropped; decides which counter moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Why {
    Enqueued,
    Merged,
    Acked,
    Retried,
    DeadLettered,
    Released,
    ExpiredDead,
    Requeued,
    Fired,
    Cancelled,
}

impl Counters {
    pub(crate) fn bump(&mut self, why: Why) {
        match why {
            Why::Enqueued => self.enqueued += 1,
            Why::Merged => self.merged += 1,
            Why::Acked => self.acked += 1,
            Why::Retried => self.retried += 1,
            Why::DeadLettered => self.dead_lettered += 1,
            Why::Released => self.expired += 1,
            Why::ExpiredDead => {
                self.expired += 1;
                self.dead_lettered += 1;
            }
            Why::Requeued => {}
            Why::Fired => self.fired += 1,
            Why::Cancelled => self.cancelled += 1,
        }
    }
}

/// An event as written (borrowing the live state).
#[derive(Serialize)]
pub(crate) enum EventRef<'a> {
    Put {
        task: &'a Task,
        why: Why,
    },
    Drop {
        id: &'a str,
        why: Why,
    },
    Lease {
        id: &'a str,
        lease: u64,
        attempts: u32,
        late: bool,
        first_late: bool,
    },
    Cursor {
        name: &'a str,
        next_fire: Option<Time>,
        fired: u64,
        misfired: bool,
    },
    PutSchedule {
        record: &'a ScheduleRecord,
    },
    DropSchedule {
        name: &'a str,
    },
    Limit {
        class: &'a str,
        limit: Option<u32>,
    },
}

/// An event as read back; same names and fields as [`EventRef`].
#[derive(Deserialize)]
pub(crate) enum Event {
    Put {
        task: Task,
        why: Why,
    },
    Drop {
        id: String,
        why: Why,
    },
    Lease {
        id: String,
        lease: u64,
        attempts: u32,
        late: bool,
        first_late: bool,
    },
    Cursor {
        name: String,
        next_fire: Option<Time>,
        fired: u64,
        misfired: bool,
    },
    PutSchedule {
        record: ScheduleRecord,
    },
    DropSchedule {
        name: String,
    },
    Limit {
        class: String,
        limit: Option<u32>,
    },
}

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    seq: u64,
    ev: &'a EventRef<'a>,
}

#[derive(Deserialize)]
struct Envelope {
    seq: u64,
    ev: Event,
}

/// The events not yet handed to the caller, already encoded.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub enabled: bool,
    /// Sequence number of the last event (counted even when disabled).
    pub seq: u64,
    buf: Vec<u8>,
    error: Option<String>,
}

impl Journal {
    pub fn new(enabled: bool, seq: u64) -> Self {
        Self {
            enabled,
            seq,
            buf: Vec::new(),
            error: None,
        }
    }

    pub fn record(&mut self, ev: &EventRef<'_>) {
        self.seq += 1;
        if !self.enabled {
            return;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let env = EnvelopeRef { seq: self.seq, ev };
        let written = rmp_serde::encode::write_named(&mut self.buf, &env)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                u32::try_from(self.buf.len() - start - 4).map_err(|_| "event over 4 GiB".to_owned())
            });
        match written {
            Ok(len) => self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes()),
            Err(e) => {
                // Leave a gap in the sequence: a restore then refuses this journal
                // rather than silently missing a change.
                self.buf.truncate(start);
                self.error.get_or_insert(e);
            }
        }
    }

    pub fn backlog(&self) -> usize {
        self.buf.len()
    }

    /// Everything recorded since the last drain, as one chunk (empty if nothing).
    pub fn drain(&mut self) -> Result<Vec<u8>> {
        if let Some(e) = self.error.take() {
            self.buf.clear();
            return Err(SchedulerError::Corrupt(format!(
                "journal event could not be encoded: {e}"
            )));
        }
        if self.buf.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(4 + self.buf.len());
        out.extend_from_slice(JOURNAL_MAGIC);
        out.append(&mut self.buf);
        Ok(out)
    }
}

/// Everything a snapshot holds.
#[derive(Serialize)]
pub(crate) struct SnapshotRef<'a> {
    pub version: u32,
    pub journal_seq: u64,
    pub next_seq: u64,
    pub next_lease: u64,
    pub tasks: Vec<&'a Task>,
    pub schedules: Vec<&'a ScheduleRecord>,
    pub limits: BTreeMap<&'a str, u32>,
    pub counters: &'a Counters,
}

/// The state rebuilt from a snapshot and a journal, before indexes are built.
#[derive(Deserialize, Default, Debug)]
pub(crate) struct Image {
    pub version: u32,
    pub journal_seq: u64,
    pub next_seq: u64,
    pub next_lease: u64,
    pub tasks: Vec<Task>,
    pub schedules: Vec<ScheduleRecord>,
    #[serde(default)]
    pub limits: BTreeMap<String, u32>,
    #[serde(default)]
    pub counters: Counters,
}

pub(crate) fn encode_snapshot(s: &SnapshotRef<'_>) -> Result<Vec<u8>> {
    let mut out = SNAPSHOT_MAGIC.to_vec();
    rmp_serde::encode::write_named(&mut out, s)
        .map_err(|e| SchedulerError::Corrupt(format!("snapshot could not be encoded: {e}")))?;
    Ok(out)
}

fn decode_snapshot(bytes: &[u8]) -> Result<Image> {
    let body = bytes.strip_prefix(SNAPSHOT_MAGIC).ok_or_else(|| {
        SchedulerError::Corrupt("snapshot does not start with the DWCS magic".into())
    })?;
    let image: Image = rmp_serde::from_slice(body)
        .map_err(|e| SchedulerError::Corrupt(format!("snapshot: {e}")))?;
    if image.version == 0 || image.version > FORMAT_VERSION {
        return Err(SchedulerError::Corrupt(format!(
            "snapshot format version {} is not supported (this build reads 1..={FORMAT_VERSION})",
            image.version
        )));
    }
    Ok(image)
}

fn decode_chunk(chunk: &[u8], out: &mut Vec<(u64, Event)>) -> Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    let mut rest = chunk.strip_prefix(JOURNAL_MAGIC).ok_or_else(|| {
        SchedulerError::Corrupt("journal chunk does not start with the DWCJ magic".into())
    })?;
    while !rest.is_empty() {
        let (len, body) = rest.split_first_chunk::<4>().ok_or_else(|| {
            SchedulerError::Corrupt("journal chunk ends inside a frame header".into())
        })?;
        let len = u32::from_le_bytes(*len) as usize;
        if body.len() < len {
            return Err(SchedulerError::Corrupt(
                "journal chunk ends inside an event".into(),
            ));
        }
        let (frame, tail) = body.split_at(len);
        let env: Envelope = rmp_serde::from_slice(frame)
            .map_err(|e| SchedulerError::Corrupt(format!("journal event: {e}")))?;
        out.push((env.seq, env.ev));
        rest = tail;
    }
    Ok(())
}

/// Rebuild the state: the snapshot (if any), then every journal event after it, in
/// sequence order whatever order the chunks come in. Events the snapshot already covers
/// are skipped; a missing event is an error ([`SchedulerError::JournalGap`]).
pub(crate) fn load(snapshot: Option<&[u8]>, chunks: &[&[u8]]) -> Result<Image> {
    let mut image = match snapshot {
        Some(bytes) => decode_snapshot(bytes)?,
        None => Image {
            version: FORMAT_VERSION,
            ..Image::default()
        },
    };
    let mut events = Vec::new();
    for chunk in chunks {
        decode_chunk(chunk, &mut events)?;
    }
    events.sort_by_key(|(seq, _)| *seq);
    let mut tasks: BTreeMap<Arc<str>, Task> = std::mem::take(&mut image.tasks)
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    let mut schedules: BTreeMap<String, ScheduleRecord> = std::mem::take(&mut image.schedules)
        .into_iter()
        .map(|s| (s.spec.name.clone(), s))
        .collect();
    let mut expected = image.journal_seq + 1;
    for (seq, ev) in events {
        if seq < expected {
            continue; // covered by the snapshot, or a chunk stored twice
        }
        if seq > expected {
            return Err(SchedulerError::JournalGap {
                expected,
                found: seq,
            });
        }
        expected += 1;
        match ev {
            Event::Put { task, why } => {
                image.counters.bump(why);
                image.next_seq = image.next_seq.max(task.seq + 1);
                tasks.insert(task.id.clone(), task);
            }
            Event::Drop { id, why } => {
                image.counters.bump(why);
                tasks.remove(&*id);
            }
            Event::Lease {
                id,
                lease,
                attempts,
                late,
                first_late,
            } => {
                if first_late {
                    image.counters.late += 1;
                }
                image.next_lease = image.next_lease.max(lease + 1);
                if let Some(t) = tasks.get_mut(&*id) {
                    t.attempts = attempts;
                    t.late = late;
                    t.state = TaskState::Leased {
                        lease,
                        expires_at: Time::EPOCH,
                    };
                }
            }
            Event::Cursor {
                name,
                next_fire,
                fired,
                misfired,
            } => {
                if misfired {
                    image.counters.misfires += 1;
                }
                if let Some(s) = schedules.get_mut(&name) {
                    s.next_fire = next_fire;
                    s.fired = fired;
                }
            }
            Event::PutSchedule { record } => {
                schedules.insert(record.spec.name.clone(), record);
            }
            Event::DropSchedule { name } => {
                schedules.remove(&name);
            }
            Event::Limit { class, limit } => match limit {
                Some(l) => {
                    image.limits.insert(class, l);
                }
                None => {
                    image.limits.remove(&class);
                }
            },
        }
    }
    image.journal_seq = expected - 1;
    image.tasks = tasks.into_values().collect();
    image.schedules = schedules.into_values().collect();
    Ok(image)
}
