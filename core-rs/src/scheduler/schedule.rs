//! Recurring schedules: cron expressions (through the `croner` crate, with an optional
//! seconds field and IANA time zones from `chrono-tz`) and fixed intervals.
//!
//! A schedule fires by enqueueing an ordinary task whose id is `"{name}@{fire time in
//! microseconds}"` and whose run-at time is the fire time, so a fire is idempotent: firing
//! the same instant twice (say, after a restore) finds the task already there.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Timelike};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde::{Deserialize, Serialize};

use super::error::{Result, SchedulerError};
use super::task::{
    check_name, check_span, payload_serde, Backoff, Payload, Priority, DEFAULT_CLASS,
    DEFAULT_MAX_ATTEMPTS,
};
use super::time::{micros, Time};

/// Longest cron expression accepted.
pub const MAX_CRON_LEN: usize = 256;
/// Shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// Most fires one schedule enqueues per tick; a longer backlog (catch-up after a long
/// outage) continues on the next tick, so one call never does unbounded work.
pub const MAX_FIRES_PER_TICK: usize = 1000;
/// Most fire times a preview returns.
pub const MAX_PREVIEW: usize = 10_000;

/// When a schedule fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Trigger {
    /// 5 fields (minute first) or 6 (seconds first), read in `timezone`.
    Cron { expr: String, timezone: String },
    /// Every `every`, from the schedule's start time.
    Interval { every: Duration },
}

/// What to do with fires that are more than the grace period late when the scheduler
/// gets to them (after a restart, or a long stall).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Misfire {
    /// Drop them.
    Skip,
    /// Replace all of them by one task, for the latest missed fire.
    #[default]
    RunOnce,
    /// Enqueue every one of them (at most [`MAX_FIRES_PER_TICK`] per tick).
    CatchUp,
}

impl FromStr for Misfire {
    type Err = SchedulerError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "skip" => Ok(Misfire::Skip),
            "run_once" => Ok(Misfire::RunOnce),
            "catch_up" => Ok(Misfire::CatchUp),
            other => Err(SchedulerError::invalid(
                "misfire",
                format!("{other:?}"),
                "is not one of 'skip', 'run_once', 'catch_up'",
            )),
        }
    }
}

/// The task each fire enqueues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskTemplate {
    #[serde(with = "payload_serde")]
    pub payload: Payload,
    pub priority: Priority,
    pub class: Arc<str>,
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Each fired task's deadline is its fire time plus this.
    pub deadline_after: Option<Duration>,
}

impl Default for TaskTemplate {
    fn default() -> Self {
        Self {
            payload: Payload::from(&[][..]),
            priority: Priority::Normal,
            class: DEFAULT_CLASS.into(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: Backoff::default(),
            deadline_after: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub name: String,
    pub trigger: Trigger,
    pub misfire: Misfire,
    /// A fire handled at most this late is on time; later ones are misfires.
    pub misfire_grace: Duration,
    /// First fire at or after this; for intervals, the anchor of every fire.
    /// `None`: from now (cron) or one interval from now (intervals).
    pub start_at: Option<Time>,
    pub template: TaskTemplate,
}

impl ScheduleSpec {
    pub fn new(name: impl Into<String>, trigger: Trigger) -> Self {
        Self {
            name: name.into(),
            trigger,
            misfire: Misfire::RunOnce,
            misfire_grace: Duration::from_secs(1),
            start_at: None,
            template: TaskTemplate::default(),
        }
    }

    pub fn validate(&self, max_payload: usize) -> Result<()> {
        check_name("name", &self.name)?;
        check_name("task_class", &self.template.class)?;
        check_span("misfire_grace", self.misfire_grace)?;
        if let Some(d) = self.template.deadline_after {
            check_span("deadline_after", d)?;
        }
        if self.template.max_attempts == 0 {
            return Err(SchedulerError::invalid(
                "max_attempts",
                0,
                "must be at least 1",
            ));
        }
        if self.template.payload.len() > max_payload {
            return Err(SchedulerError::PayloadTooLarge {
                id: self.name.clone(),
                size: self.template.payload.len(),
                limit: max_payload,
            });
        }
        self.template.backoff.validate()
    }
}

/// A trigger ready to compute fire times.
#[derive(Clone, Debug)]
pub(crate) enum Compiled {
    Cron(Box<Cron>, Tz),
    /// Fires at `anchor + k * every` for k >= 0 (microseconds).
    Interval {
        every: i64,
        anchor: Time,
    },
}

fn bad_cron(expr: &str, reason: impl Into<String>) -> SchedulerError {
    SchedulerError::InvalidCron {
        expr: expr.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) fn parse_timezone(name: &str) -> Result<Tz> {
    Tz::from_str(name).map_err(|_| SchedulerError::UnknownTimeZone(name.to_owned()))
}

pub(crate) fn parse_cron(expr: &str) -> Result<Cron> {
    if expr.len() > MAX_CRON_LEN {
        return Err(bad_cron(expr, format!("longer than {MAX_CRON_LEN} bytes")));
    }
    // Vixie-style 5 fields, or 6 with seconds first; no year field.
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build();
    parser
        .parse(expr)
        .map_err(|e| bad_cron(expr, e.to_string()))
}

impl Compiled {
    /// `anchor` is only used by intervals.
    pub fn new(trigger: &Trigger, anchor: Time) -> Result<Self> {
        match trigger {
            Trigger::Cron { expr, timezone } => {
                let tz = parse_timezone(timezone)?;
                Ok(Compiled::Cron(Box::new(parse_cron(expr)?), tz))
            }
            Trigger::Interval { every } => {
                if *every < MIN_INTERVAL {
                    return Err(SchedulerError::invalid(
                        "every",
                        format!("{}s", every.as_secs_f64()),
                        "must be at least 0.001 s",
                    ));
                }
                check_span("every", *every)?;
                Ok(Compiled::Interval {
                    every: micros(*every),
                    anchor,
                })
            }
        }
    }

    /// The first fire strictly after `t`; `None` if there is none before [`Time::MAX`].
    pub fn next_after(&self, t: Time) -> Option<Time> {
        match self {
            Compiled::Cron(cron, tz) => {
                let dt = DateTime::from_timestamp_micros(t.as_micros())?
                    .with_nanosecond(0)?
                    .with_timezone(tz);
                let next = cron.find_next_occurrence(&dt, false).ok()?;
                Some(Time::from_micros(next.timestamp_micros()))
                    .filter(|n| *n > t && *n < Time::MAX)
            }
            Compiled::Interval { every, anchor } => {
                if t < *anchor {
                    return Some(*anchor);
                }
                let k = (t.as_micros() - anchor.as_micros()) as i128 / *every as i128 + 1;
                let next = anchor.as_micros() as i128 + k * *every as i128;
                (next < Time::MAX.as_micros() as i128).then(|| Time::from_micros(next as i64))
            }
        }
    }

    /// The last fire at or before `t`, if any.
    pub fn last_at_or_before(&self, t: Time) -> Option<Time> {
        match self {
            Compiled::Cron(cron, tz) => {
                let dt = DateTime::from_timestamp_micros(t.as_micros())?
                    .with_nanosecond(0)?
                    .with_timezone(tz);
                let prev = cron.find_previous_occurrence(&dt, true).ok()?;
                Some(Time::from_micros(prev.timestamp_micros())).filter(|p| *p <= t)
            }
            Compiled::Interval { every, anchor } => {
                if t < *anchor {
                    return None;
                }
                let k = (t.as_micros() - anchor.as_micros()) / *every;
                Some(Time::from_micros(anchor.as_micros() + k * *every))
            }
        }
    }

    /// Up to `n` fires strictly after `after`.
    pub fn preview(&self, n: usize, after: Time) -> Vec<Time> {
        let mut out = Vec::with_capacity(n.min(MAX_PREVIEW));
        let mut t = after;
        while out.len() < n.min(MAX_PREVIEW) {
            match self.next_after(t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }
}

/// A schedule's persisted state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScheduleRecord {
    pub spec: ScheduleSpec,
    /// Interval anchor (also kept for cron, unused there).
    pub anchor: Time,
    /// The next fire not yet handled; `None` once the trigger has no more fires.
    pub next_fire: Option<Time>,
    pub fired: u64,
}

/// A live schedule.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    pub record: ScheduleRecord,
    pub compiled: Compiled,
}

impl Schedule {
    pub fn from_record(record: ScheduleRecord) -> Result<Self> {
        let compiled = Compiled::new(&record.spec.trigger, record.anchor)?;
        Ok(Self { record, compiled })
    }
}

/// The fires of one schedule due at `now`, and where its cursor goes next.
pub(crate) struct Due {
    pub fires: Vec<Time>,
    pub next: Option<Time>,
    /// Some fires were late beyond the grace period.
    pub misfired: bool,
}

/// Work out which fires to enqueue. `first` is the schedule's next unhandled fire.
pub(crate) fn due(sched: &Schedule, first: Time, now: Time) -> Due {
    let spec = &sched.record.spec;
    let c = &sched.compiled;
    let mut fires = Vec::new();
    let mut misfired = false;
    let mut cursor = Some(first);
    let grace_floor = now.saturating_sub(spec.misfire_grace);
    if first < grace_floor {
        misfired = true;
        if spec.misfire != Misfire::CatchUp {
            // Fires in [first, grace_floor) are missed: jump over them without visiting
            // each one (an interval of 1 ms down for a day is 86 million of them).
            if spec.misfire == Misfire::RunOnce {
                if let Some(last) = c
                    .last_at_or_before(grace_floor.pred())
                    .filter(|t| *t >= first)
                {
                    fires.push(last);
                }
            }
            cursor = c.next_after(grace_floor.pred());
        }
    }
    while let Some(t) = cursor {
        if t > now || fires.len() >= MAX_FIRES_PER_TICK {
            break;
        }
        fires.push(t);
        cursor = c.next_after(t);
    }
    Due {
        fires,
        next: cursor,
        misfired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Time {
        Time::from_micros(s * 1_000_000)
    }

    fn interval(every_s: u64, anchor: Time) -> Compiled {
        Compiled::new(
            &Trigger::Interval {
                every: Duration::from_secs(every_s),
            },
            anchor,
        )
        .unwrap()
    }

    fn cron(expr: &str, tz: &str) -> Compiled {
        Compiled::new(
            &Trigger::Cron {
                expr: expr.into(),
                timezone: tz.into(),
            },
            Time::EPOCH,
        )
        .unwrap()
    }

    #[test]
    fn interval_fire_times() {
        let c = interval(10, at(100));
        assert_eq!(c.next_after(at(0)), Some(at(100)));
        assert_eq!(c.next_after(at(100)), Some(at(110)));
        assert_eq!(c.next_after(at(105)), Some(at(110)));
        assert_eq!(c.last_at_or_before(at(99)), None);
        assert_eq!(c.last_at_or_before(at(119)), Some(at(110)));
        assert_eq!(c.preview(3, at(100)), vec![at(110), at(120), at(130)]);
        assert!(Compiled::new(
            &Trigger::Interval {
                every: Duration::from_micros(10)
            },
            at(0)
        )
        .is_err());
    }

    #[test]
    fn cron_with_and_without_seconds() {
        // 2024-01-01T00:00:00Z is 1704067200.
        let c = cron("*/15 * * * *", "UTC");
        assert_eq!(
            c.next_after(at(1_704_067_200)),
            Some(at(1_704_067_200 + 900))
        );
        let c = cron("30 * * * * *", "UTC");
        assert_eq!(c.next_after(at(1_704_067_200)), Some(at(1_704_067_230)));
        assert_eq!(
            c.last_at_or_before(at(1_704_067_229)),
            Some(at(1_704_067_170))
        );
        // Sub-second starts round correctly.
        let c = cron("* * * * * *", "UTC");
        assert_eq!(
            c.next_after(Time::from_micros(1_704_067_200_500_000)),
            Some(at(1_704_067_201))
        );
    }

    #[test]
    fn cron_time_zone_and_dst() {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        let c = cron("0 9 * * *", "Europe/Berlin");
        assert_eq!(
            c.next_after(at(1_704_067_200)),
            Some(at(1_704_067_200 + 8 * 3600))
        );
        let july = 1_719_792_000; // 2024-07-01T00:00:00Z
        assert_eq!(c.next_after(at(july)), Some(at(july + 7 * 3600)));
    }

    #[test]
    fn bad_cron_and_zone_are_named() {
        let e = Compiled::new(
            &Trigger::Cron {
                expr: "61 * * * *".into(),
                timezone: "UTC".into(),
            },
            Time::EPOCH,
        )
        .unwrap_err();
        assert!(
            matches!(&e, SchedulerError::InvalidCron { expr, .. } if expr == "61 * * * *"),
            "{e}"
        );
        let e = Compiled::new(
            &Trigger::Cron {
                expr: "* * * * *".into(),
                timezone: "Mars/Olympus".into(),
            },
            Time::EPOCH,
        )
        .unwrap_err();
        assert_eq!(e, SchedulerError::UnknownTimeZone("Mars/Olympus".into()));
        for bad in ["", "* * *", "a b c d e", "* * * * * * *", "*/0 * * * *"] {
            assert!(parse_cron(bad).is_err(), "{bad:?} parsed");
        }
    }

    fn sched(misfire: Misfire, every: u64) -> Schedule {
        let mut spec = ScheduleSpec::new(
            "s",
            Trigger::Interval {
                every: Duration::from_secs(every),
            },
        );
        spec.misfire = misfire;
        spec.misfire_grace = Duration::from_secs(1);
        Schedule::from_record(ScheduleRecord {
            spec,
            anchor: at(0),
            next_fire: Some(at(0)),
            fired: 0,
        })
        .unwrap()
    }

    #[test]
    fn misfire_policies() {
        // Fires at 0, 10, ..., 100; handled at 100.5: only 100 is on time.
        let now = Time::from_micros(100_500_000);
        let d = due(&sched(Misfire::Skip, 10), at(0), now);
        assert_eq!(
            (d.fires, d.next, d.misfired),
            (vec![at(100)], Some(at(110)), true)
        );
        let d = due(&sched(Misfire::RunOnce, 10), at(0), now);
        assert_eq!((d.fires, d.next), (vec![at(90), at(100)], Some(at(110))));
        let d = due(&sched(Misfire::CatchUp, 10), at(0), now);
        assert_eq!(d.fires.len(), 11);
        assert_eq!(d.next, Some(at(110)));
        // On time: no misfire.
        let d = due(&sched(Misfire::Skip, 10), at(100), now);
        assert_eq!((d.fires, d.misfired), (vec![at(100)], false));
        // A huge backlog is bounded per tick.
        let s = sched(Misfire::CatchUp, 1);
        let d = due(&s, at(0), at(1_000_000));
        assert_eq!(d.fires.len(), MAX_FIRES_PER_TICK);
        assert_eq!(d.next, Some(at(MAX_FIRES_PER_TICK as i64)));
    }
}
