//! The single-threaded heart of the scheduler. [`super::Scheduler`] wraps it in a mutex.
//!
//! Indexes: every task is in `tasks` (by sequence number) and `by_id`, and in exactly one
//! of: its class's `ready` set (pending, run-at reached), `delayed` (pending, run-at in
//! the future), `leases` + `expiry` (leased), `dead` (dead-lettered). All state changes go
//! through [`Core::detach`] / [`Core::attach`] or the two hot paths (`take`, `promote`),
//! which keep those indexes in step; `check_invariants` verifies them in tests.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::durable::{self, Counters, EventRef, Image, Journal, SnapshotRef, Why, FORMAT_VERSION};
use super::error::{Result, SchedulerError};
use super::schedule::{self, Compiled, Schedule, ScheduleRecord, ScheduleSpec, Trigger};
use super::task::{
    check_name, check_span, truncate, DeadLetter, DedupPolicy, Delivery, Enqueued, Merge,
    NackOptions, NackOutcome, Priority, Start, Task, TaskSpec, TaskState, TaskStatus,
    MAX_REASON_LEN,
};
use super::time::Time;
use super::Config;

/// Hash maps with foldhash: several times faster than SipHash on short ids, and still
/// seeded per process, so ids chosen by an attacker cannot force collisions.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Most distinct task classes one scheduler tracks.
pub const MAX_CLASSES: usize = 4096;
/// How many expired leases are remembered so a late ack says "expired", not "unknown".
const EXPIRED_MEMORY: usize = 4096;

/// A time and a number (sequence or lease) packed into one integer that orders like the
/// pair `(time, number)`: one comparison per B-tree step instead of a tuple's two or
/// three. Times are at most [`Time::MAX`] (under 2^58 microseconds), so a ready key can
/// put the priority above them.
type TimeKey = u128;

const _: () = assert!(Time::MAX.as_micros() < 1 << 58);

fn time_key(t: Time, n: u64) -> TimeKey {
    ((t.as_micros() as u128) << 64) | n as u128
}

fn key_time(k: TimeKey) -> Time {
    Time::from_micros(((k >> 64) & ((1 << 58) - 1)) as i64)
}

fn key_number(k: TimeKey) -> u64 {
    k as u64
}

/// Order among ready tasks: higher priority first, then earlier run-at, then FIFO
/// (sequence number). The inverted priority sits above the time.
type ReadyKey = TimeKey;

fn ready_key(t: &Task) -> ReadyKey {
    let rank = (Priority::Critical.index() - t.priority.index()) as u128;
    (rank << 122) | time_key(t.run_at, t.seq)
}

#[derive(Debug)]
struct Class {
    name: Arc<str>,
    ready: BTreeSet<ReadyKey>,
    leased: u32,
    limit: Option<u32>,
}

/// Depth and counters at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Pending tasks (ready or waiting for their run-at time).
    pub pending: usize,
    pub ready: usize,
    pub delayed: usize,
    pub leased: usize,
    pub dead_letters: usize,
    /// Pending tasks whose deadline has passed.
    pub overdue: usize,
    /// Pending tasks by priority, indexed by [`Priority::index`].
    pub pending_by_priority: [usize; 4],
    pub pending_by_class: BTreeMap<String, usize>,
    pub leased_by_class: BTreeMap<String, usize>,
    pub schedules: usize,
    /// Journal bytes recorded but not drained yet.
    pub journal_backlog: usize,
    pub counters: Counters,
}

#[derive(Debug)]
pub(crate) struct Core {
    max_payload: usize,
    rng: u64,
    tasks: HashMap<u64, Task>,
    by_id: HashMap<Arc<str>, u64>,
    by_key: HashMap<String, u64>,
    classes: Vec<Class>,
    class_ix: HashMap<Arc<str>, u32>,
    /// Pending tasks waiting for their run-at time: `time_key(run_at, seq)`.
    delayed: BTreeSet<TimeKey>,
    leases: HashMap<u64, u64>,
    /// Live leases by expiry: `time_key(expires_at, lease)`.
    expiry: BTreeSet<TimeKey>,
    expired: HashMap<u64, (Arc<str>, Time)>,
    expired_order: VecDeque<u64>,
    dead: BTreeSet<u64>,
    schedules: BTreeMap<String, Schedule>,
    timers: BTreeSet<(Time, String)>,
    next_seq: u64,
    next_lease: u64,
    counters: Counters,
    journal: Journal,
}

impl Core {
    pub fn new(cfg: &Config) -> Self {
        let mut core = Core {
            max_payload: cfg.max_payload,
            rng: cfg.seed.unwrap_or_else(seed_from_entropy),
            tasks: HashMap::default(),
            by_id: HashMap::default(),
            by_key: HashMap::default(),
            classes: Vec::new(),
            class_ix: HashMap::default(),
            delayed: BTreeSet::new(),
            leases: HashMap::default(),
            expiry: BTreeSet::new(),
            expired: HashMap::default(),
            expired_order: VecDeque::new(),
            dead: BTreeSet::new(),
            schedules: BTreeMap::new(),
            timers: BTreeSet::new(),
            next_seq: 1,
            next_lease: 1,
            counters: Counters::default(),
            journal: Journal::new(cfg.journal, 0),
        };
        for (class, limit) in &cfg.class_limits {
            let ix = core.intern(class);
            core.classes[ix as usize].limit = Some(*limit);
        }
        core
    }

    /// Build from a restored image. Leased tasks become pending again (their workers are
    /// gone); the interrupted delivery still counts as an attempt.
    pub fn from_image(image: Image, cfg: &Config, now: Time) -> Result<Self> {
        let mut core = Core::new(&Config {
            class_limits: BTreeMap::new(),
            ..cfg.clone()
        });
        core.journal = Journal::new(cfg.journal, image.journal_seq);
        core.counters = image.counters;
        core.next_seq = image.next_seq.max(1);
        core.next_lease = image.next_lease.max(1);
        for (class, limit) in image.limits.iter().chain(cfg.class_limits.iter()) {
            check_name("task_class", class).map_err(|e| SchedulerError::Corrupt(e.to_string()))?;
            let ix = core.intern(class);
            core.classes[ix as usize].limit = Some(*limit);
        }
        for mut task in image.tasks {
            let corrupt =
                |what: &str, t: &Task| SchedulerError::Corrupt(format!("task {:?}: {what}", t.id));
            if core.tasks.contains_key(&task.seq) {
                return Err(corrupt("duplicate sequence number", &task));
            }
            if core.classes.len() >= MAX_CLASSES && !core.class_ix.contains_key(&*task.class) {
                return Err(corrupt("too many task classes", &task));
            }
            if task.state != TaskState::Dead {
                if let Some(k) = &task.dedup_key {
                    if core.by_key.contains_key(k) {
                        return Err(corrupt("dedup key held twice", &task));
                    }
                }
            }
            if let TaskState::Leased { .. } = task.state {
                task.state = TaskState::Pending;
            }
            task.class_ix = core.intern_arc(&task.class);
            task.class = core.classes[task.class_ix as usize].name.clone();
            core.next_seq = core.next_seq.max(task.seq + 1);
            core.attach(task, now);
        }
        for record in image.schedules {
            let name = record.spec.name.clone();
            let sched = Schedule::from_record(record)
                .map_err(|e| SchedulerError::Corrupt(format!("schedule {name:?}: {e}")))?;
            core.intern(&sched.record.spec.template.class);
            if let Some(t) = sched.record.next_fire {
                core.timers.insert((t, name.clone()));
            }
            core.schedules.insert(name, sched);
        }
        Ok(core)
    }

    fn rand_unit(&mut self) -> f64 {
        // splitmix64: fast, good enough for jitter, and seedable for tests.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn intern(&mut self, class: &str) -> u32 {
        match self.class_ix.get(class) {
            Some(ix) => *ix,
            None => self.add_class(Arc::from(class)),
        }
    }

    /// As [`Core::intern`], sharing the caller's string if the class is new.
    fn intern_arc(&mut self, class: &Arc<str>) -> u32 {
        match self.class_ix.get(&**class) {
            Some(ix) => *ix,
            None => self.add_class(class.clone()),
        }
    }

    fn add_class(&mut self, name: Arc<str>) -> u32 {
        let ix = self.classes.len() as u32;
        self.class_ix.insert(name.clone(), ix);
        self.classes.push(Class {
            name,
            ready: BTreeSet::new(),
            leased: 0,
            limit: None,
        });
        ix
    }

    fn check_class_room(&self, class: &str, extra: usize) -> Result<()> {
        if !self.class_ix.contains_key(class) && self.classes.len() + extra >= MAX_CLASSES {
            return Err(SchedulerError::invalid(
                "task_class",
                format!("{class:?}"),
                format!(
                    "would be class number {}, over the limit of {MAX_CLASSES}",
                    self.classes.len() + extra + 1
                ),
            ));
        }
        Ok(())
    }

    // ---- index maintenance ------------------------------------------------------------

    /// Take a task out of every index. `None` if there is no task with this sequence number.
    fn detach(&mut self, seq: u64) -> Option<Task> {
        let task = self.tasks.remove(&seq)?;
        match task.state {
            TaskState::Pending => {
                if !self.classes[task.class_ix as usize]
                    .ready
                    .remove(&ready_key(&task))
                {
                    self.delayed.remove(&time_key(task.run_at, seq));
                }
            }
            TaskState::Leased { lease, expires_at } => {
                self.leases.remove(&lease);
                self.expiry.remove(&time_key(expires_at, lease));
                let c = &mut self.classes[task.class_ix as usize];
                c.leased = c.leased.saturating_sub(1);
            }
            TaskState::Dead => {
                self.dead.remove(&seq);
            }
        }
        self.by_id.remove(&*task.id);
        if let Some(k) = &task.dedup_key {
            if self.by_key.get(k) == Some(&seq) {
                self.by_key.remove(k);
            }
        }
        Some(task)
    }

    /// Put a task into the indexes its state calls for.
    fn attach(&mut self, task: Task, now: Time) {
        let seq = task.seq;
        self.by_id.insert(task.id.clone(), seq);
        if task.state != TaskState::Dead {
            if let Some(k) = &task.dedup_key {
                self.by_key.insert(k.clone(), seq);
            }
        }
        match task.state {
            TaskState::Pending => {
                if task.run_at <= now {
                    self.classes[task.class_ix as usize]
                        .ready
                        .insert(ready_key(&task));
                } else {
                    self.delayed.insert(time_key(task.run_at, seq));
                }
            }
            TaskState::Leased { lease, expires_at } => {
                self.leases.insert(lease, seq);
                self.expiry.insert(time_key(expires_at, lease));
                self.classes[task.class_ix as usize].leased += 1;
            }
            TaskState::Dead => {
                self.dead.insert(seq);
            }
        }
        self.tasks.insert(seq, task);
    }

    fn note_put(&mut self, seq: u64, why: Why) {
        self.counters.bump(why);
        if !self.journal.enabled {
            self.journal.seq += 1;
        } else if let Some(task) = self.tasks.get(&seq) {
            self.journal.record(&EventRef::Put { task, why });
        }
    }

    fn note_drop(&mut self, id: &str, why: Why) {
        self.counters.bump(why);
        self.journal.record(&EventRef::Drop { id, why });
    }

    fn apply_merge(&mut self, task: &mut Task) {
        if let Some(m) = task.merge.take().map(|m| *m) {
            task.payload = m.payload;
            task.priority = task.priority.max(m.priority);
            task.run_at = m.run_at;
            task.deadline = m.deadline;
            task.attempts = 0;
            task.late = false;
            task.last_error = None;
            task.seq = self.next_seq;
            self.next_seq += 1;
            task.state = TaskState::Pending;
        }
    }

    // ---- time passing -----------------------------------------------------------------

    /// Apply everything due at `now`: expired leases, schedule fires, delayed tasks.
    pub fn tick(&mut self, now: Time) {
        while let Some(&k) = self.expiry.first() {
            if key_time(k) > now {
                break;
            }
            self.expire(key_number(k), now);
        }
        self.fire_schedules(now);
        while let Some(&k) = self.delayed.first() {
            if key_time(k) > now {
                break;
            }
            let seq = key_number(k);
            self.delayed.pop_first();
            if let Some(task) = self.tasks.get(&seq) {
                self.classes[task.class_ix as usize]
                    .ready
                    .insert(ready_key(task));
            }
        }
    }

    /// The earliest time something will become due, if anything is waiting.
    pub fn next_wakeup(&self) -> Option<Time> {
        [
            self.delayed.first().map(|k| key_time(*k)),
            self.expiry.first().map(|k| key_time(*k)),
            self.timers.first().map(|x| x.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn expire(&mut self, lease: u64, now: Time) {
        let Some(seq) = self.leases.get(&lease).copied() else {
            self.expiry.retain(|k| key_number(*k) != lease);
            return;
        };
        let Some(mut task) = self.detach(seq) else {
            return;
        };
        let expired_at = match task.state {
            TaskState::Leased { expires_at, .. } => expires_at,
            _ => now,
        };
        self.remember_expired(lease, &task.id, expired_at);
        let why = if task.merge.is_some() {
            self.apply_merge(&mut task);
            Why::Released
        } else if task.attempts >= task.max_attempts {
            task.state = TaskState::Dead;
            task.last_error = Some(format!(
                "lease expired on attempt {}/{}",
                task.attempts, task.max_attempts
            ));
            Why::ExpiredDead
        } else {
            task.state = TaskState::Pending;
            Why::Released
        };
        let seq = task.seq;
        self.attach(task, now);
        self.note_put(seq, why);
    }

    fn remember_expired(&mut self, lease: u64, id: &Arc<str>, at: Time) {
        if self.expired_order.len() >= EXPIRED_MEMORY {
            if let Some(old) = self.expired_order.pop_front() {
                self.expired.remove(&old);
            }
        }
        self.expired.insert(lease, (id.clone(), at));
        self.expired_order.push_back(lease);
    }

    fn fire_schedules(&mut self, now: Time) {
        let due: Vec<String> = self
            .timers
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, n)| n.clone())
            .collect();
        for name in due {
            self.fire_one(&name, now);
        }
    }

    fn fire_one(&mut self, name: &str, now: Time) {
        let Some(sched) = self.schedules.get(name) else {
            return;
        };
        let Some(first) = sched.record.next_fire else {
            return;
        };
        if first > now {
            return;
        }
        let due = schedule::due(sched, first, now);
        let template = sched.record.spec.template.clone();
        self.timers.remove(&(first, name.to_owned()));
        if let Some(next) = due.next {
            self.timers.insert((next, name.to_owned()));
        }
        let fired = {
            let Some(sched) = self.schedules.get_mut(name) else {
                return;
            };
            sched.record.next_fire = due.next;
            sched.record.fired += due.fires.len() as u64;
            sched.record.fired
        };
        if due.misfired {
            self.counters.misfires += 1;
        }
        self.journal.record(&EventRef::Cursor {
            name,
            next_fire: due.next,
            fired,
            misfired: due.misfired,
        });
        let class_ix = self.intern_arc(&template.class);
        let class = self.classes[class_ix as usize].name.clone();
        let schedule: Arc<str> = Arc::from(name);
        for t in due.fires {
            let id: Arc<str> = Arc::from(format!("{name}@{}", t.as_micros()));
            if self.by_id.contains_key(&*id) {
                continue;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            let task = Task {
                id,
                payload: template.payload.clone(),
                priority: template.priority,
                class: class.clone(),
                run_at: t,
                deadline: template.deadline_after.map(|d| t.saturating_add(d)),
                dedup_key: None,
                max_attempts: template.max_attempts,
                backoff: template.backoff,
                seq,
                attempts: 0,
                late: false,
                state: TaskState::Pending,
                last_error: None,
                schedule: Some(schedule.clone()),
                merge: None,
                class_ix,
            };
            self.attach(task, now);
            self.note_put(seq, Why::Fired);
        }
    }

    // ---- enqueue ----------------------------------------------------------------------

    /// Enqueue all of `specs` or none of them: everything that can fail is checked first.
    pub fn enqueue(
        &mut self,
        specs: Vec<TaskSpec>,
        now: Time,
        batch: bool,
    ) -> Result<Vec<Enqueued>> {
        let wrap = |index: usize, e: SchedulerError| {
            if batch {
                SchedulerError::InBatch {
                    index,
                    source: Box::new(e),
                }
            } else {
                e
            }
        };
        let mut run_ats = Vec::with_capacity(specs.len());
        {
            let cap = specs.len();
            let hasher = foldhash::fast::RandomState::default;
            // A single enqueue cannot clash with itself: skip the set (and its allocation).
            let mut new_ids: HashSet<&str> =
                HashSet::with_capacity_and_hasher(if cap > 1 { cap } else { 0 }, hasher());
            let mut new_keys: HashMap<&str, &str> = HashMap::with_hasher(hasher());
            let mut new_classes: HashSet<&str> = HashSet::with_hasher(hasher());
            // Specs of one batch usually share one class string: look it up once.
            let mut checked_class: Option<&Arc<str>> = None;
            for (i, spec) in specs.iter().enumerate() {
                spec.validate(self.max_payload).map_err(|e| wrap(i, e))?;
                run_ats.push(match spec.start {
                    Start::Now => now,
                    Start::At(t) => t,
                    Start::After(d) => now.saturating_add(d),
                });
                if let Some(key) = spec.dedup_key.as_deref() {
                    let holder = match self.by_key.get(key).and_then(|s| self.tasks.get(s)) {
                        Some(t) => Some(&*t.id),
                        None => new_keys.get(key).copied(),
                    };
                    if let Some(holder) = holder {
                        if spec.on_duplicate == DedupPolicy::Refuse {
                            return Err(wrap(
                                i,
                                SchedulerError::DuplicateKey {
                                    key: key.to_owned(),
                                    holder: holder.to_owned(),
                                },
                            ));
                        }
                        continue; // merges into the holder; its own id is not used
                    }
                    new_keys.insert(key, &spec.id);
                }
                if self.by_id.contains_key(&*spec.id) || (cap > 1 && !new_ids.insert(&spec.id)) {
                    return Err(wrap(i, SchedulerError::DuplicateId(spec.id.to_string())));
                }
                if checked_class.is_some_and(|c| Arc::ptr_eq(c, &spec.class)) {
                    continue;
                }
                if !self.class_ix.contains_key(&*spec.class) && new_classes.insert(&spec.class) {
                    self.check_class_room(&spec.class, new_classes.len() - 1)
                        .map_err(|e| wrap(i, e))?;
                }
                checked_class = Some(&spec.class);
            }
        }
        let mut out = Vec::with_capacity(specs.len());
        let mut class = None;
        for (spec, run_at) in specs.into_iter().zip(run_ats) {
            out.push(self.enqueue_one(spec, run_at, now, &mut class));
        }
        Ok(out)
    }

    /// `class` caches the last class interned, by pointer, for a batch that shares one.
    fn enqueue_one(
        &mut self,
        spec: TaskSpec,
        run_at: Time,
        now: Time,
        class: &mut Option<(Arc<str>, u32)>,
    ) -> Enqueued {
        let holder = spec
            .dedup_key
            .as_deref()
            .and_then(|k| self.by_key.get(k).copied());
        if let Some(seq) = holder {
            if let Some(mut task) = self.detach(seq) {
                match task.state {
                    TaskState::Leased { .. } => {
                        let m = match task.merge.take() {
                            None => Merge {
                                payload: spec.payload,
                                priority: spec.priority,
                                run_at,
                                deadline: spec.deadline,
                            },
                            Some(m) => Merge {
                                payload: spec.payload,
                                priority: m.priority.max(spec.priority),
                                run_at: m.run_at.min(run_at),
                                deadline: min_opt(m.deadline, spec.deadline),
                            },
                        };
                        task.merge = Some(Box::new(m));
                    }
                    _ => {
                        task.payload = spec.payload;
                        task.priority = task.priority.max(spec.priority);
                        task.run_at = task.run_at.min(run_at);
                        task.deadline = min_opt(task.deadline, spec.deadline);
                    }
                }
                let id = task.id.clone();
                self.attach(task, now);
                self.note_put(seq, Why::Merged);
                return Enqueued::Merged(id);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let class_ix = match class {
            Some((c, ix)) if Arc::ptr_eq(c, &spec.class) => *ix,
            _ => {
                let ix = self.intern_arc(&spec.class);
                *class = Some((spec.class.clone(), ix));
                ix
            }
        };
        let id = spec.id.clone();
        let task = Task {
            id: spec.id,
            payload: spec.payload,
            priority: spec.priority,
            class: self.classes[class_ix as usize].name.clone(),
            run_at,
            deadline: spec.deadline,
            dedup_key: spec.dedup_key,
            max_attempts: spec.max_attempts,
            backoff: spec.backoff,
            seq,
            attempts: 0,
            late: false,
            state: TaskState::Pending,
            last_error: None,
            schedule: None,
            merge: None,
            class_ix,
        };
        self.attach(task, now);
        self.note_put(seq, Why::Enqueued);
        Enqueued::Added(id)
    }

    // ---- leasing ----------------------------------------------------------------------

    fn best_ready(&self) -> Option<(usize, ReadyKey)> {
        let mut best: Option<(usize, ReadyKey)> = None;
        for (ix, c) in self.classes.iter().enumerate() {
            if c.limit.is_some_and(|l| c.leased >= l) {
                continue;
            }
            if let Some(k) = c.ready.first() {
                if best.is_none_or(|(_, b)| *k < b) {
                    best = Some((ix, *k));
                }
            }
        }
        best
    }

    pub fn take(&mut self, max: usize, lease_for: Duration, now: Time) -> Vec<Delivery> {
        self.tick(now);
        let expires_at = now.saturating_add(lease_for);
        let ready: usize = self.classes.iter().map(|c| c.ready.len()).sum();
        let mut out = Vec::with_capacity(max.min(ready));
        while out.len() < max {
            let Some((ix, _)) = self.best_ready() else {
                break;
            };
            let Some(key) = self.classes[ix].ready.pop_first() else {
                break;
            };
            let seq = key_number(key);
            let Some(task) = self.tasks.get_mut(&seq) else {
                continue;
            };
            let lease = self.next_lease;
            self.next_lease += 1;
            task.attempts = task.attempts.saturating_add(1);
            let overdue = task.deadline.is_some_and(|d| now > d);
            let first_late = overdue && !task.late;
            task.late |= overdue;
            task.state = TaskState::Leased { lease, expires_at };
            self.leases.insert(lease, seq);
            self.expiry.insert(time_key(expires_at, lease));
            self.classes[ix].leased += 1;
            if first_late {
                self.counters.late += 1;
            }
            self.journal.record(&EventRef::Lease {
                id: &task.id,
                lease,
                attempts: task.attempts,
                late: task.late,
                first_late,
            });
            out.push(Delivery {
                lease,
                id: task.id.clone(),
                payload: task.payload.clone(),
                priority: task.priority,
                class: task.class.clone(),
                attempt: task.attempts,
                max_attempts: task.max_attempts,
                run_at: task.run_at,
                deadline: task.deadline,
                late: task.late,
                expires_at,
                schedule: task.schedule.clone(),
                last_error: task.last_error.clone(),
            });
        }
        out
    }

    /// The task behind a live lease; expires it first if its time is up.
    fn check_lease(&mut self, lease: u64, now: Time) -> Result<u64> {
        if let Some(&seq) = self.leases.get(&lease) {
            if let Some(TaskState::Leased { expires_at, .. }) =
                self.tasks.get(&seq).map(|t| t.state)
            {
                if expires_at > now {
                    return Ok(seq);
                }
            }
            self.expire(lease, now);
        }
        match self.expired.get(&lease) {
            Some((task, at)) => Err(SchedulerError::LeaseExpired {
                lease,
                task: task.to_string(),
                expired_at: *at,
            }),
            None => Err(SchedulerError::UnknownLease(lease)),
        }
    }

    pub fn ack(&mut self, lease: u64, now: Time) -> Result<()> {
        let seq = self.check_lease(lease, now)?;
        let Some(mut task) = self.detach(seq) else {
            return Err(SchedulerError::UnknownLease(lease));
        };
        if task.merge.is_some() {
            self.apply_merge(&mut task);
            let seq = task.seq;
            self.attach(task, now);
            self.note_put(seq, Why::Acked);
        } else {
            self.note_drop(&task.id, Why::Acked);
        }
        Ok(())
    }

    pub fn nack(
        &mut self,
        lease: u64,
        reason: &str,
        opts: NackOptions,
        now: Time,
    ) -> Result<NackOutcome> {
        if let Some(d) = opts.retry_after {
            check_span("retry_after", d)?;
        }
        let seq = self.check_lease(lease, now)?;
        let Some(mut task) = self.detach(seq) else {
            return Err(SchedulerError::UnknownLease(lease));
        };
        task.last_error = Some(truncate(reason, MAX_REASON_LEN));
        let (outcome, why) = if task.merge.is_some() {
            self.apply_merge(&mut task);
            task.last_error = Some(truncate(reason, MAX_REASON_LEN));
            (NackOutcome::Retry { at: task.run_at }, Why::Retried)
        } else if opts.dead_letter || task.attempts >= task.max_attempts {
            task.state = TaskState::Dead;
            (NackOutcome::DeadLettered, Why::DeadLettered)
        } else {
            let delay = match opts.retry_after {
                Some(d) => d,
                None => {
                    let unit = self.rand_unit();
                    task.backoff.delay(task.attempts, unit)
                }
            };
            task.run_at = now.saturating_add(delay);
            task.state = TaskState::Pending;
            (NackOutcome::Retry { at: task.run_at }, Why::Retried)
        };
        let seq = task.seq;
        self.attach(task, now);
        self.note_put(seq, why);
        Ok(outcome)
    }

    pub fn extend(&mut self, lease: u64, by: Duration, now: Time) -> Result<Time> {
        check_span("seconds", by)?;
        let seq = self.check_lease(lease, now)?;
        let new = now.saturating_add(by);
        if let Some(task) = self.tasks.get_mut(&seq) {
            if let TaskState::Leased { expires_at, .. } = task.state {
                self.expiry.remove(&time_key(expires_at, lease));
                self.expiry.insert(time_key(new, lease));
                task.state = TaskState::Leased {
                    lease,
                    expires_at: new,
                };
            }
        }
        Ok(new)
    }

    // ---- inspection and management ----------------------------------------------------

    pub fn cancel(&mut self, id: &str) -> bool {
        let Some(seq) = self.by_id.get(id).copied() else {
            return false;
        };
        match self.detach(seq) {
            Some(task) => {
                self.note_drop(&task.id, Why::Cancelled);
                true
            }
            None => false,
        }
    }

    pub fn status(&self, id: &str) -> Option<TaskStatus> {
        let task = self.by_id.get(id).and_then(|s| self.tasks.get(s))?;
        Some(match task.state {
            TaskState::Pending => TaskStatus::Pending,
            TaskState::Leased { .. } => TaskStatus::Leased,
            TaskState::Dead => TaskStatus::DeadLettered,
        })
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn dead_letters(&self, limit: usize) -> Vec<DeadLetter> {
        self.dead
            .iter()
            .filter_map(|s| self.tasks.get(s))
            .take(limit)
            .map(|t| DeadLetter {
                id: t.id.clone(),
                payload: t.payload.clone(),
                priority: t.priority,
                class: t.class.clone(),
                attempts: t.attempts,
                last_error: t.last_error.clone(),
                schedule: t.schedule.clone(),
            })
            .collect()
    }

    pub fn requeue_dead_letter(&mut self, id: &str, now: Time) -> Result<()> {
        let seq = match self.by_id.get(id).copied() {
            Some(seq)
                if self
                    .tasks
                    .get(&seq)
                    .is_some_and(|t| t.state == TaskState::Dead) =>
            {
                seq
            }
            _ => return Err(SchedulerError::NotDeadLettered(id.to_owned())),
        };
        if let Some(key) = self.tasks.get(&seq).and_then(|t| t.dedup_key.as_deref()) {
            if let Some(holder) = self.by_key.get(key).and_then(|s| self.tasks.get(s)) {
                return Err(SchedulerError::DuplicateKey {
                    key: key.to_owned(),
                    holder: holder.id.to_string(),
                });
            }
        }
        let Some(mut task) = self.detach(seq) else {
            return Err(SchedulerError::NotDeadLettered(id.to_owned()));
        };
        task.state = TaskState::Pending;
        task.attempts = 0;
        task.run_at = now;
        self.attach(task, now);
        self.note_put(seq, Why::Requeued);
        Ok(())
    }

    pub fn set_class_limit(&mut self, class: &str, limit: Option<u32>) -> Result<()> {
        check_name("task_class", class)?;
        self.check_class_room(class, 0)?;
        let ix = self.intern(class);
        self.classes[ix as usize].limit = limit;
        self.journal.record(&EventRef::Limit { class, limit });
        Ok(())
    }

    pub fn class_limits(&self) -> BTreeMap<String, u32> {
        self.classes
            .iter()
            .filter_map(|c| c.limit.map(|l| (c.name.to_string(), l)))
            .collect()
    }

    // ---- schedules ----------------------------------------------------------------------

    /// Add (or with `replace`, change) a schedule; returns its next fire time.
    pub fn add_schedule(&mut self, spec: ScheduleSpec, replace: bool, now: Time) -> Result<Time> {
        spec.validate(self.max_payload)?;
        self.check_class_room(&spec.template.class, 0)?;
        let anchor = match (&spec.trigger, spec.start_at) {
            (_, Some(t)) => t,
            (Trigger::Interval { every }, None) => now.saturating_add(*every),
            (Trigger::Cron { .. }, None) => now,
        };
        let compiled = Compiled::new(&spec.trigger, anchor)?;
        let existing = self.schedules.get(&spec.name);
        if existing.is_some() && !replace {
            return Err(SchedulerError::DuplicateSchedule(spec.name));
        }
        // Re-adding the same trigger keeps its place, so an agent that re-applies its
        // schedules after a restore does not reset them (and misfires still count).
        let kept = existing
            .filter(|s| {
                s.record.spec.trigger == spec.trigger && s.record.spec.start_at == spec.start_at
            })
            .map(|s| (s.record.anchor, s.record.next_fire, s.record.fired));
        let (anchor, next_fire, fired) = match kept {
            Some(k) => k,
            None => {
                let first = match (&spec.trigger, spec.start_at) {
                    (Trigger::Interval { .. }, _) => Some(anchor),
                    (Trigger::Cron { .. }, Some(t)) => compiled.next_after(t.pred()),
                    (Trigger::Cron { .. }, None) => compiled.next_after(now),
                };
                if first.is_none() {
                    if let Trigger::Cron { expr, .. } = &spec.trigger {
                        return Err(SchedulerError::InvalidCron {
                            expr: expr.clone(),
                            reason: "it never fires".into(),
                        });
                    }
                }
                (anchor, first, 0)
            }
        };
        let compiled = Compiled::new(&spec.trigger, anchor)?;
        if let Some(old) = self
            .schedules
            .get(&spec.name)
            .and_then(|s| s.record.next_fire)
        {
            self.timers.remove(&(old, spec.name.clone()));
        }
        self.intern(&spec.template.class);
        let name = spec.name.clone();
        let record = ScheduleRecord {
            spec,
            anchor,
            next_fire,
            fired,
        };
        if let Some(t) = next_fire {
            self.timers.insert((t, name.clone()));
        }
        self.journal
            .record(&EventRef::PutSchedule { record: &record });
        self.schedules.insert(name, Schedule { record, compiled });
        Ok(next_fire.unwrap_or(Time::MAX))
    }

    pub fn remove_schedule(&mut self, name: &str) -> bool {
        let Some(s) = self.schedules.remove(name) else {
            return false;
        };
        if let Some(t) = s.record.next_fire {
            self.timers.remove(&(t, name.to_owned()));
        }
        self.journal.record(&EventRef::DropSchedule { name });
        true
    }

    pub fn schedule_names(&self) -> Vec<String> {
        self.schedules.keys().cloned().collect()
    }

    /// The next `n` fires of a schedule: from its next unhandled fire, or after `after`.
    pub fn preview(&self, name: &str, n: usize, after: Option<Time>) -> Result<Vec<Time>> {
        let s = self
            .schedules
            .get(name)
            .ok_or_else(|| SchedulerError::UnknownSchedule(name.to_owned()))?;
        Ok(match (after, s.record.next_fire) {
            (Some(t), _) => s.compiled.preview(n, t),
            (None, Some(first)) if n > 0 => {
                let mut v = vec![first];
                v.extend(s.compiled.preview(n - 1, first));
                v
            }
            _ => Vec::new(),
        })
    }

    // ---- stats and durability -------------------------------------------------------------

    pub fn stats(&self, now: Time) -> Stats {
        let mut s = Stats {
            leased: self.leases.len(),
            dead_letters: self.dead.len(),
            delayed: self.delayed.len(),
            schedules: self.schedules.len(),
            journal_backlog: self.journal.backlog(),
            counters: self.counters.clone(),
            ..Stats::default()
        };
        let mut by_class = vec![0usize; self.classes.len()];
        for t in self.tasks.values() {
            if t.state == TaskState::Pending {
                s.pending += 1;
                s.pending_by_priority[t.priority.index()] += 1;
                by_class[t.class_ix as usize] += 1;
                if t.deadline.is_some_and(|d| now > d) {
                    s.overdue += 1;
                }
            }
        }
        s.ready = s.pending - s.delayed;
        for (c, pending) in self.classes.iter().zip(by_class) {
            if pending > 0 {
                s.pending_by_class.insert(c.name.to_string(), pending);
            }
            if c.leased > 0 {
                s.leased_by_class
                    .insert(c.name.to_string(), c.leased as usize);
            }
        }
        s
    }

    pub fn snapshot(&self) -> Result<Vec<u8>> {
        let mut tasks: Vec<&Task> = self.tasks.values().collect();
        tasks.sort_by_key(|t| t.seq);
        durable::encode_snapshot(&SnapshotRef {
            version: FORMAT_VERSION,
            journal_seq: self.journal.seq,
            next_seq: self.next_seq,
            next_lease: self.next_lease,
            tasks,
            schedules: self.schedules.values().map(|s| &s.record).collect(),
            limits: self
                .classes
                .iter()
                .filter_map(|c| c.limit.map(|l| (&*c.name, l)))
                .collect(),
            counters: &self.counters,
        })
    }

    pub fn drain_journal(&mut self) -> Result<Vec<u8>> {
        self.journal.drain()
    }

    /// Verify that every index agrees with the task table (tests only; O(n)).
    #[cfg(test)]
    pub fn check_invariants(&self) {
        let mut seen = 0;
        for (seq, t) in &self.tasks {
            assert_eq!(*seq, t.seq);
            assert_eq!(self.by_id.get(&t.id), Some(seq), "by_id for {}", t.id);
            let in_ready = self.classes[t.class_ix as usize]
                .ready
                .contains(&ready_key(t));
            let in_delayed = self.delayed.contains(&time_key(t.run_at, *seq));
            let in_dead = self.dead.contains(seq);
            let in_lease = matches!(t.state, TaskState::Leased { lease, expires_at }
                if self.leases.get(&lease) == Some(seq) && self.expiry.contains(&time_key(expires_at, lease)));
            let places = [in_ready, in_delayed, in_dead, in_lease]
                .iter()
                .filter(|x| **x)
                .count();
            assert_eq!(
                places, 1,
                "task {} is in {places} places ({:?})",
                t.id, t.state
            );
            match t.state {
                TaskState::Pending => assert!(in_ready || in_delayed),
                TaskState::Leased { .. } => assert!(in_lease),
                TaskState::Dead => assert!(in_dead),
            }
            if let (Some(k), false) = (&t.dedup_key, t.state == TaskState::Dead) {
                assert_eq!(self.by_key.get(k), Some(seq), "by_key for {}", t.id);
            }
            seen += 1;
        }
        assert_eq!(self.by_id.len(), seen);
        let ready: usize = self.classes.iter().map(|c| c.ready.len()).sum();
        assert_eq!(
            ready + self.delayed.len() + self.leases.len() + self.dead.len(),
            seen
        );
        assert_eq!(self.expiry.len(), self.leases.len());
        for c in &self.classes {
            let leased = self
                .tasks
                .values()
                .filter(|t| t.class == c.name && matches!(t.state, TaskState::Leased { .. }))
                .count();
            assert_eq!(
                c.leased as usize, leased,
                "leased count of class {}",
                c.name
            );
        }
    }

    /// The live tasks as (id, state, attempts, payload), sorted by id (tests only).
    #[cfg(test)]
    pub fn dump(&self) -> Vec<(String, TaskStatus, u32, Vec<u8>)> {
        let mut v: Vec<_> = self
            .tasks
            .values()
            .filter_map(|t| {
                self.status(&t.id)
                    .map(|s| (t.id.to_string(), s, t.attempts, t.payload.to_vec()))
            })
            .collect();
        v.sort();
        v
    }

    #[cfg(test)]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    #[cfg(test)]
    pub fn class_of(&self, id: &str) -> Option<String> {
        self.by_id
            .get(id)
            .and_then(|s| self.tasks.get(s))
            .map(|t| t.class.to_string())
    }

    /// Keys of every ready task (tests only).
    #[cfg(test)]
    pub fn ready_keys(&self) -> Vec<(Priority, Time, String)> {
        self.classes
            .iter()
            .flat_map(|c| c.ready.iter())
            .filter_map(|k| {
                self.tasks
                    .get(&key_number(*k))
                    .map(|t| (t.priority, t.run_at, t.id.to_string()))
            })
            .collect()
    }
}

fn min_opt(a: Option<Time>, b: Option<Time>) -> Option<Time> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn seed_from_entropy() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS once per process; good enough for jitter.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(super::time::Clock::now(&super::time::SystemClock).as_micros() as u64);
    h.finish()
}
