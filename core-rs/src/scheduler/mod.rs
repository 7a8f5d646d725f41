//! The task scheduler the agent's workers pull work from.
//!
//! Tasks have a priority, a run-at time, an optional deadline and dedup key, a retry
//! budget with exponential backoff, and a class for concurrency caps. Workers take ready
//! tasks under a lease and ack or nack them; a lease that runs out makes the task
//! available again (at-least-once delivery). Recurring schedules (cron or fixed interval)
//! enqueue ordinary tasks. State can be saved as a snapshot and/or an event journal and
//! rebuilt after a crash ([`Scheduler::restore`]).
//!
//! Delivery order among ready tasks: priority (critical, high, normal, low), then run-at
//! time, then enqueue order. A task whose deadline has passed is still delivered, marked
//! late ([`Delivery::late`]) and counted ([`Counters::late`]).
//!
//! [`Scheduler`] is `Sync`: one mutex guards the state and a condition variable wakes
//! blocked takers (only when there are any: a notify is a system call). No call runs user
//! code under the lock.

mod core;
mod durable;
mod error;
mod schedule;
mod task;
mod time;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub use self::core::{Stats, MAX_CLASSES};
pub use self::durable::{Counters, FORMAT_VERSION};
pub use self::error::{Result, SchedulerError};
pub use self::schedule::{
    Misfire, ScheduleSpec, TaskTemplate, Trigger, MAX_CRON_LEN, MAX_FIRES_PER_TICK, MAX_PREVIEW,
    MIN_INTERVAL,
};
pub use self::task::{
    Backoff, DeadLetter, DedupPolicy, Delivery, Enqueued, NackOptions, NackOutcome, Payload,
    Priority, Start, TaskSpec, TaskStatus, DEFAULT_CLASS, DEFAULT_MAX_ATTEMPTS, MAX_NAME_LEN,
    MAX_REASON_LEN,
};
pub use self::time::{Clock, ManualClock, SystemClock, Time, MAX_SPAN};

use self::core::Core;
use self::task::check_span;

/// Default [`Config::max_payload`]: 1 MiB.
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;
/// Largest [`Config::max_payload`] accepted: 256 MiB.
pub const MAX_PAYLOAD_LIMIT: usize = 256 << 20;
/// Most tasks one take returns.
pub const MAX_TAKE: usize = 1 << 20;
/// A blocked take never sleeps less than this between looks at the queue, so a backlog
/// that cannot be taken (class caps) does not spin a core.
const MIN_WAIT: Duration = Duration::from_micros(50);

#[derive(Clone, Debug)]
pub struct Config {
    /// Payloads over this many bytes are refused.
    pub max_payload: usize,
    /// Record an event journal for [`Scheduler::drain_journal`].
    pub journal: bool,
    /// Seed for retry jitter; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// Concurrency caps per class (see [`Scheduler::set_class_limit`]).
    pub class_limits: BTreeMap<String, u32>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_payload: DEFAULT_MAX_PAYLOAD,
            journal: false,
            seed: None,
            class_limits: BTreeMap::new(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<()> {
        if self.max_payload > MAX_PAYLOAD_LIMIT {
            return Err(SchedulerError::invalid(
                "max_payload",
                self.max_payload,
                format!("is over the limit of {MAX_PAYLOAD_LIMIT} bytes"),
            ));
        }
        if self.class_limits.len() > MAX_CLASSES {
            return Err(SchedulerError::invalid(
                "class_limits",
                self.class_limits.len(),
                "names too many classes",
            ));
        }
        for class in self.class_limits.keys() {
            task::check_name("task_class", class)?;
        }
        Ok(())
    }
}

/// A thread-safe task scheduler. See the module docs.
#[derive(Debug)]
pub struct Scheduler {
    core: Mutex<Core>,
    wake: Condvar,
    /// Takers blocked in [`Scheduler::take_wait`]. Changed only with `core` locked, so a
    /// caller that changed the state under the lock and reads 0 afterwards knows no taker
    /// can be asleep on the old state, and skips the notify.
    waiters: AtomicUsize,
    clock: Arc<dyn Clock>,
}

impl Scheduler {
    pub fn new(config: Config) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            core: Mutex::new(Core::new(&config)),
            wake: Condvar::new(),
            waiters: AtomicUsize::new(0),
            clock,
        })
    }

    /// Rebuild a scheduler from a snapshot (if any) and the journal chunks drained after
    /// it, in any order. Every task comes back; tasks that were leased are pending again,
    /// with the interrupted delivery counted as an attempt. `config.class_limits` are
    /// applied over the restored ones.
    ///
    /// Errors: [`SchedulerError::Corrupt`] for bytes that are not a snapshot or journal
    /// chunk, [`SchedulerError::JournalGap`] if an event after the snapshot is missing.
    pub fn restore(
        config: Config,
        clock: Arc<dyn Clock>,
        snapshot: Option<&[u8]>,
        journal: &[&[u8]],
    ) -> Result<Self> {
        config.validate()?;
        let image = durable::load(snapshot, journal)?;
        let core = Core::from_image(image, &config, clock.now())?;
        Ok(Self {
            core: Mutex::new(core),
            wake: Condvar::new(),
            waiters: AtomicUsize::new(0),
            clock,
        })
    }

    /// Lock the state. A panic in another thread while it held the lock (which only a bug
    /// could cause) does not make the scheduler unusable.
    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wake blocked takers after a change that may let them take something. Call it
    /// after the lock is released.
    fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.wake.notify_all();
        }
    }

    pub fn now(&self) -> Time {
        self.clock.now()
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Enqueue one task.
    ///
    /// With a dedup key held by a live (pending or leased) task: refused with
    /// [`SchedulerError::DuplicateKey`], or with [`DedupPolicy::Merge`] folded into that
    /// task. A merge replaces its payload, raises its priority to the higher of the two,
    /// and moves its run-at time and deadline to the earlier; a task that is leased keeps
    /// running and runs once more, with the merged payload, when its lease ends.
    pub fn enqueue(&self, spec: TaskSpec) -> Result<Enqueued> {
        let out = self.enqueue_many(vec![spec], false)?;
        out.into_iter()
            .next()
            .ok_or_else(|| SchedulerError::Corrupt("enqueue returned nothing".into()))
    }

    /// Enqueue all of `specs` or, if one is refused, none of them (the error names its
    /// index when `batch` is true).
    pub fn enqueue_many(&self, specs: Vec<TaskSpec>, batch: bool) -> Result<Vec<Enqueued>> {
        let out = {
            let mut core = self.lock();
            core.enqueue(specs, self.clock.now(), batch)?
        };
        self.notify();
        Ok(out)
    }

    fn check_take(max: usize, lease: Duration) -> Result<()> {
        if max == 0 || max > MAX_TAKE {
            return Err(SchedulerError::invalid(
                "max_tasks",
                max,
                format!("must be in 1..={MAX_TAKE}"),
            ));
        }
        if lease.is_zero() {
            return Err(SchedulerError::invalid("lease", "0", "must be > 0 seconds"));
        }
        check_span("lease", lease)
    }

    /// Lease up to `max` ready tasks for `lease`, without waiting.
    pub fn take(&self, max: usize, lease: Duration) -> Result<Vec<Delivery>> {
        Self::check_take(max, lease)?;
        let mut core = self.lock();
        Ok(core.take(max, lease, self.clock.now()))
    }

    /// As [`Scheduler::take`], but wait up to `timeout` (real time) for at least one task.
    pub fn take_wait(
        &self,
        max: usize,
        lease: Duration,
        timeout: Duration,
    ) -> Result<Vec<Delivery>> {
        Self::check_take(max, lease)?;
        let started = Instant::now();
        let mut core = self.lock();
        loop {
            let now = self.clock.now();
            let got = core.take(max, lease, now);
            if !got.is_empty() {
                return Ok(got);
            }
            let elapsed = started.elapsed();
            if elapsed >= timeout {
                return Ok(got);
            }
            let mut wait = timeout - elapsed;
            if let Some(next) = core.next_wakeup() {
                wait = wait.min(next.since(now).max(MIN_WAIT));
            }
            if let Some(recheck) = self.clock.recheck_interval() {
                wait = wait.min(recheck);
            }
            self.waiters.fetch_add(1, Ordering::SeqCst);
            core = self
                .wake
                .wait_timeout(core, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            self.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Complete a leased task.
    ///
    /// Errors: [`SchedulerError::LeaseExpired`] (the task is available again, or
    /// dead-lettered if that was its last attempt) or [`SchedulerError::UnknownLease`].
    pub fn ack(&self, lease: u64) -> Result<()> {
        let r = self.lock().ack(lease, self.clock.now());
        self.notify();
        r
    }

    /// Ack every lease it can; returns the ones that failed, with why.
    pub fn ack_many(&self, leases: &[u64]) -> Vec<(u64, SchedulerError)> {
        let mut failed = Vec::new();
        {
            let mut core = self.lock();
            let now = self.clock.now();
            for &lease in leases {
                if let Err(e) = core.ack(lease, now) {
                    failed.push((lease, e));
                }
            }
        }
        self.notify();
        failed
    }

    /// Fail a leased task: retry after its backoff (or `opts.retry_after`), or
    /// dead-letter it when its attempts are used up or `opts.dead_letter` is set.
    pub fn nack(&self, lease: u64, reason: &str, opts: NackOptions) -> Result<NackOutcome> {
        let r = self.lock().nack(lease, reason, opts, self.clock.now());
        self.notify();
        r
    }

    /// Push a lease's expiry to `by` from now; returns the new expiry.
    pub fn extend(&self, lease: u64, by: Duration) -> Result<Time> {
        if by.is_zero() {
            return Err(SchedulerError::invalid("seconds", "0", "must be > 0"));
        }
        self.lock().extend(lease, by, self.clock.now())
    }

    /// Remove a task wherever it is (a leased task's lease becomes unknown). `false` if
    /// there is no such task.
    pub fn cancel(&self, id: &str) -> bool {
        let r = self.lock().cancel(id);
        self.notify();
        r
    }

    pub fn status(&self, id: &str) -> Option<TaskStatus> {
        self.lock().status(id)
    }

    /// Tasks held (pending, leased and dead-lettered).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dead-lettered tasks, oldest first.
    pub fn dead_letters(&self, limit: usize) -> Vec<DeadLetter> {
        self.lock().dead_letters(limit)
    }

    /// Put a dead-lettered task back in the queue with a fresh retry budget.
    pub fn requeue_dead_letter(&self, id: &str) -> Result<()> {
        let r = self.lock().requeue_dead_letter(id, self.clock.now());
        self.notify();
        r
    }

    /// Cap how many tasks of `class` may be leased at once (`None`: no cap). A cap of 0
    /// pauses the class. Lowering a cap does not revoke leases already taken.
    pub fn set_class_limit(&self, class: &str, limit: Option<u32>) -> Result<()> {
        let r = self.lock().set_class_limit(class, limit);
        self.notify();
        r
    }

    pub fn class_limits(&self) -> BTreeMap<String, u32> {
        self.lock().class_limits()
    }

    /// Add a recurring schedule; returns its first fire time ([`Time::MAX`] if none).
    /// With `replace`, an existing schedule of that name is changed; if its trigger and
    /// start are unchanged it keeps its place (no fire is skipped or repeated).
    pub fn add_schedule(&self, spec: ScheduleSpec, replace: bool) -> Result<Time> {
        let r = self.lock().add_schedule(spec, replace, self.clock.now());
        self.notify();
        r
    }

    /// Remove a schedule; tasks it already enqueued stay. `false` if there is none.
    pub fn remove_schedule(&self, name: &str) -> bool {
        self.lock().remove_schedule(name)
    }

    pub fn schedule_names(&self) -> Vec<String> {
        self.lock().schedule_names()
    }

    /// The next `n` fire times of a schedule (after `after`, if given).
    pub fn preview(&self, name: &str, n: usize, after: Option<Time>) -> Result<Vec<Time>> {
        check_preview(n)?;
        self.lock().preview(name, n, after)
    }

    /// The next `n` fire times of a trigger strictly after `after`, without a scheduler.
    /// For intervals the anchor is `after`, so the first fire is `after + every`.
    pub fn preview_trigger(trigger: &Trigger, n: usize, after: Time) -> Result<Vec<Time>> {
        check_preview(n)?;
        let compiled = schedule::Compiled::new(
            trigger,
            after.saturating_add(match trigger {
                Trigger::Interval { every } => *every,
                Trigger::Cron { .. } => Duration::ZERO,
            }),
        )?;
        Ok(compiled.preview(n, after))
    }

    /// Apply what is due now (lease expiries, schedule fires) without taking anything.
    pub fn tick(&self) {
        self.lock().tick(self.clock.now());
        self.notify();
    }

    pub fn stats(&self) -> Stats {
        let now = self.clock.now();
        let mut core = self.lock();
        core.tick(now);
        core.stats(now)
    }

    /// The whole state as bytes (see [`Scheduler::restore`]). It covers every journal
    /// event recorded so far, so journal chunks drained before it may be deleted once it
    /// is stored.
    pub fn snapshot(&self) -> Result<Vec<u8>> {
        self.lock().snapshot()
    }

    /// The journal events recorded since the last drain, as one chunk (empty if none, or
    /// if the journal is off). Store chunks in order of draining, or any order: a restore
    /// sorts their events.
    pub fn drain_journal(&self) -> Result<Vec<u8>> {
        self.lock().drain_journal()
    }

    #[cfg(test)]
    pub(crate) fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        f(&mut self.lock())
    }
}

fn check_preview(n: usize) -> Result<()> {
    if n > MAX_PREVIEW {
        return Err(SchedulerError::invalid(
            "n",
            n,
            format!("must be at most {MAX_PREVIEW}"),
        ));
    }
    Ok(())
}
