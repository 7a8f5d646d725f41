//! `dwc_core.Scheduler` and its small value classes: a thin layer over
//! [`crate::scheduler::Scheduler`] that converts arguments once (seconds to `Duration`,
//! Unix times to `Time`, strings to enums) and maps errors in `errors.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use super::errors::scheduler_err;
use crate::scheduler::{
    self as core, Backoff, Clock, Config, DedupPolicy, Delivery, Enqueued, Misfire, NackOptions,
    NackOutcome, Priority, ScheduleSpec, Start, TaskSpec, TaskStatus, TaskTemplate, Time, Trigger,
    MAX_SPAN,
};

/// A blocking take waits in slices of this length, re-taking the GIL between them to
/// let Ctrl-C (and other signal handlers) through.
const WAIT_SLICE: Duration = Duration::from_millis(100);

// ---- argument conversion ------------------------------------------------------------------

/// Seconds (>= 0, finite, at most 10 years) to a `Duration`.
fn duration(field: &str, secs: f64) -> PyResult<Duration> {
    if secs.is_nan() {
        return Err(PyValueError::new_err(format!(
            "{field}=nan is not a number of seconds"
        )));
    }
    if secs < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{field}={secs} must be >= 0 seconds"
        )));
    }
    if secs > MAX_SPAN.as_secs_f64() {
        return Err(PyValueError::new_err(format!(
            "{field}={secs} is over the 10-year limit ({} s)",
            MAX_SPAN.as_secs()
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn positive_duration(field: &str, secs: f64) -> PyResult<Duration> {
    let d = duration(field, secs)?;
    if d.is_zero() {
        return Err(PyValueError::new_err(format!(
            "{field}={secs} must be > 0 seconds"
        )));
    }
    Ok(d)
}

/// A Unix time in seconds to a `Time`.
fn unix_time(field: &str, secs: f64) -> PyResult<Time> {
    Time::from_secs_f64(secs).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{field}={secs} is not a Unix time in seconds between 0 and the year 9999"
        ))
    })
}

fn priority(s: &str) -> PyResult<Priority> {
    s.parse().map_err(scheduler_err)
}

fn lease_id(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(lease) = obj.cast::<Lease>() {
        return Ok(lease.get().lease_id);
    }
    obj.extract::<u64>().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!(
            "lease must be a Lease or a lease id (int >= 0), got {ty}"
        ))
    })
}

fn payload_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    let ty = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    Err(PyTypeError::new_err(format!(
        "payload must be bytes, got {ty}"
    )))
}

/// The per-task options shared by `enqueue`, `enqueue_many` and schedules.
#[derive(Clone)]
struct TaskOptions {
    priority: Priority,
    run_at: Option<f64>,
    delay: Option<f64>,
    deadline: Option<f64>,
    deadline_in: Option<f64>,
    dedup_key: Option<String>,
    on_duplicate: DedupPolicy,
    max_attempts: u32,
    backoff: [f64; 4],
    task_class: String,
}

impl TaskOptions {
    fn backoff(&self) -> PyResult<Backoff> {
        let [base, factor, cap, jitter] = self.backoff;
        Ok(Backoff {
            base: duration("backoff_base", base)?,
            factor,
            cap: duration("backoff_cap", cap)?,
            jitter,
        })
    }

    fn spec(&self, id: String, payload: Vec<u8>, now: Time) -> PyResult<TaskSpec> {
        self.spec_with(id, payload, now, self.backoff()?)
    }

    fn spec_with(
        &self,
        id: String,
        payload: Vec<u8>,
        now: Time,
        backoff: Backoff,
    ) -> PyResult<TaskSpec> {
        let start = match (self.run_at, self.delay) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err("pass run_at or delay, not both"));
            }
            (Some(t), None) => Start::At(unix_time("run_at", t)?),
            (None, Some(d)) => Start::After(duration("delay", d)?),
            (None, None) => Start::Now,
        };
        let deadline = match (self.deadline, self.deadline_in) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "pass deadline or deadline_in, not both",
                ));
            }
            (Some(t), None) => Some(unix_time("deadline", t)?),
            (None, Some(d)) => Some(now.saturating_add(duration("deadline_in", d)?)),
            (None, None) => None,
        };
        Ok(TaskSpec {
            id,
            payload,
            priority: self.priority,
            start,
            deadline,
            dedup_key: self.dedup_key.clone(),
            on_duplicate: self.on_duplicate,
            max_attempts: self.max_attempts,
            backoff,
            class: self.task_class.clone(),
        })
    }

    /// Apply one `enqueue_many` dict item's overrides.
    fn set(&mut self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let f = |v: &Bound<'_, PyAny>| v.extract::<Option<f64>>();
        match key {
            "priority" => self.priority = priority(&value.extract::<String>()?)?,
            "run_at" => self.run_at = f(value)?,
            "delay" => self.delay = f(value)?,
            "deadline" => self.deadline = f(value)?,
            "deadline_in" => self.deadline_in = f(value)?,
            "dedup_key" => self.dedup_key = value.extract()?,
            "on_duplicate" => {
                self.on_duplicate = value.extract::<String>()?.parse().map_err(scheduler_err)?
            }
            "max_attempts" => self.max_attempts = value.extract()?,
            "backoff_base" => self.backoff[0] = value.extract()?,
            "backoff_factor" => self.backoff[1] = value.extract()?,
            "backoff_cap" => self.backoff[2] = value.extract()?,
            "backoff_jitter" => self.backoff[3] = value.extract()?,
            "task_class" => self.task_class = value.extract()?,
            other => {
                return Err(PyTypeError::new_err(format!(
                    "unknown task option {other:?}"
                )));
            }
        }
        Ok(())
    }
}

fn outcome_str(o: NackOutcome) -> &'static str {
    match o {
        NackOutcome::Retry { .. } => "retry",
        NackOutcome::DeadLettered => "dead_letter",
    }
}

fn status_str(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Pending => "pending",
        TaskStatus::Leased => "leased",
        TaskStatus::DeadLettered => "dead_letter",
    }
}

// ---- value classes ------------------------------------------------------------------------

/// A clock that moves only when told to (for tests and simulations).
#[pyclass(frozen, module = "dwc_core._native")]
pub struct ManualClock {
    inner: Arc<core::ManualClock>,
}

#[pymethods]
impl ManualClock {
    #[new]
    #[pyo3(signature = (start=0.0))]
    fn new(start: f64) -> PyResult<Self> {
        Ok(Self {
            inner: Arc::new(core::ManualClock::new(unix_time("start", start)?)),
        })
    }

    fn now(&self) -> f64 {
        self.inner.now().as_secs_f64()
    }

    fn advance(&self, seconds: f64) -> PyResult<()> {
        self.inner.advance(duration("seconds", seconds)?);
        Ok(())
    }

    fn set(&self, t: f64) -> PyResult<()> {
        self.inner.set(unix_time("t", t)?);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("ManualClock({})", self.inner.now().as_secs_f64())
    }
}

/// A task leased to a worker. Pass it (or its `lease_id`) to `ack`, `nack` or `extend`.
#[pyclass(frozen, get_all, module = "dwc_core._native")]
pub struct Lease {
    lease_id: u64,
    task_id: String,
    payload: Py<PyBytes>,
    priority: &'static str,
    task_class: String,
    attempt: u32,
    max_attempts: u32,
    run_at: f64,
    deadline: Option<f64>,
    late: bool,
    expires_at: f64,
    schedule: Option<String>,
    last_error: Option<String>,
}

impl Lease {
    fn from_delivery(py: Python<'_>, d: Delivery) -> Self {
        Self {
            lease_id: d.lease,
            task_id: d.id,
            payload: PyBytes::new(py, &d.payload).unbind(),
            priority: d.priority.as_str(),
            task_class: d.class,
            attempt: d.attempt,
            max_attempts: d.max_attempts,
            run_at: d.run_at.as_secs_f64(),
            deadline: d.deadline.map(Time::as_secs_f64),
            late: d.late,
            expires_at: d.expires_at.as_secs_f64(),
            schedule: d.schedule,
            last_error: d.last_error,
        }
    }
}

#[pymethods]
impl Lease {
    fn __repr__(&self) -> String {
        format!(
            "Lease(lease_id={}, task_id={:?}, priority={:?}, attempt={}/{}, late={})",
            self.lease_id,
            self.task_id,
            self.priority,
            self.attempt,
            self.max_attempts,
            if self.late { "True" } else { "False" }
        )
    }
}

/// A task that used up its attempts (or was nacked with ``dead_letter=True``).
#[pyclass(frozen, get_all, module = "dwc_core._native")]
pub struct DeadLetter {
    task_id: String,
    payload: Py<PyBytes>,
    priority: &'static str,
    task_class: String,
    attempts: u32,
    last_error: Option<String>,
    schedule: Option<String>,
}

#[pymethods]
impl DeadLetter {
    fn __repr__(&self) -> String {
        format!(
            "DeadLetter(task_id={:?}, attempts={}, last_error={:?})",
            self.task_id, self.attempts, self.last_error
        )
    }
}

/// Queue depth and cumulative counters at one moment.
#[pyclass(frozen, get_all, module = "dwc_core._native")]
pub struct SchedulerStats {
    pending: usize,
    ready: usize,
    delayed: usize,
    leased: usize,
    dead_letters: usize,
    overdue: usize,
    pending_by_priority: BTreeMap<&'static str, usize>,
    pending_by_class: BTreeMap<String, usize>,
    leased_by_class: BTreeMap<String, usize>,
    schedules: usize,
    journal_backlog: usize,
    enqueued: u64,
    merged: u64,
    acked: u64,
    retried: u64,
    dead_lettered: u64,
    expired: u64,
    cancelled: u64,
    late: u64,
    fired: u64,
    misfires: u64,
}

#[pymethods]
impl SchedulerStats {
    /// Every field as a plain dict (for logs and metrics exporters).
    fn as_dict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(slf.py());
        for name in [
            "pending",
            "ready",
            "delayed",
            "leased",
            "dead_letters",
            "overdue",
            "pending_by_priority",
            "pending_by_class",
            "leased_by_class",
            "schedules",
            "journal_backlog",
            "enqueued",
            "merged",
            "acked",
            "retried",
            "dead_lettered",
            "expired",
            "cancelled",
            "late",
            "fired",
            "misfires",
        ] {
            d.set_item(name, slf.getattr(name)?)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "SchedulerStats(pending={}, leased={}, dead_letters={}, late={}, retried={})",
            self.pending, self.leased, self.dead_letters, self.late, self.retried
        )
    }
}

// ---- the scheduler ------------------------------------------------------------------------

#[pyclass(frozen, module = "dwc_core._native")]
pub struct Scheduler {
    inner: core::Scheduler,
}

fn make_config(
    max_payload: usize,
    journal: bool,
    class_limits: Option<BTreeMap<String, u32>>,
    seed: Option<u64>,
) -> Config {
    Config {
        max_payload,
        journal,
        seed,
        class_limits: class_limits.unwrap_or_default(),
    }
}

fn clock_of(clock: Option<PyRef<'_, ManualClock>>) -> Arc<dyn Clock> {
    match clock {
        Some(c) => c.inner.clone(),
        None => Arc::new(core::SystemClock),
    }
}

#[pymethods]
impl Scheduler {
    #[new]
    #[pyo3(signature = (*, clock=None, max_payload=1048576, journal=false,
        class_limits=None, seed=None))]
    fn new(
        clock: Option<PyRef<'_, ManualClock>>,
        max_payload: usize,
        journal: bool,
        class_limits: Option<BTreeMap<String, u32>>,
        seed: Option<u64>,
    ) -> PyResult<Self> {
        let config = make_config(max_payload, journal, class_limits, seed);
        let inner = core::Scheduler::with_clock(config, clock_of(clock)).map_err(scheduler_err)?;
        Ok(Self { inner })
    }

    #[staticmethod]
    #[pyo3(signature = (snapshot=None, journal_chunks=None, *, clock=None,
        max_payload=1048576, journal=false, class_limits=None, seed=None))]
    #[allow(clippy::too_many_arguments)]
    fn restore(
        py: Python<'_>,
        snapshot: Option<Vec<u8>>,
        journal_chunks: Option<&Bound<'_, PyAny>>,
        clock: Option<PyRef<'_, ManualClock>>,
        max_payload: usize,
        journal: bool,
        class_limits: Option<BTreeMap<String, u32>>,
        seed: Option<u64>,
    ) -> PyResult<Self> {
        let config = make_config(max_payload, journal, class_limits, seed);
        let clock = clock_of(clock);
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        if let Some(it) = journal_chunks {
            for (i, chunk) in it.try_iter()?.enumerate() {
                let chunk = chunk?;
                let b = chunk.cast::<PyBytes>().map_err(|_| {
                    PyTypeError::new_err(format!("journal_chunks[{i}] must be bytes"))
                })?;
                chunks.push(b.as_bytes().to_vec());
            }
        }
        let inner = py
            .detach(|| {
                let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
                core::Scheduler::restore(config, clock, snapshot.as_deref(), &chunks)
            })
            .map_err(scheduler_err)?;
        Ok(Self { inner })
    }

    fn now(&self) -> f64 {
        self.inner.now().as_secs_f64()
    }

    #[pyo3(signature = (task_id, payload=None, *, priority="normal", run_at=None, delay=None,
        deadline=None, deadline_in=None, dedup_key=None, on_duplicate="refuse",
        max_attempts=5, backoff_base=1.0, backoff_factor=2.0,
        backoff_cap=300.0, backoff_jitter=0.2, task_class="default"))]
    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        task_id: String,
        payload: Option<&Bound<'_, PyAny>>,
        priority: &str,
        run_at: Option<f64>,
        delay: Option<f64>,
        deadline: Option<f64>,
        deadline_in: Option<f64>,
        dedup_key: Option<String>,
        on_duplicate: &str,
        max_attempts: u32,
        backoff_base: f64,
        backoff_factor: f64,
        backoff_cap: f64,
        backoff_jitter: f64,
        task_class: &str,
    ) -> PyResult<String> {
        let opts = TaskOptions {
            priority: self::priority(priority)?,
            run_at,
            delay,
            deadline,
            deadline_in,
            dedup_key,
            on_duplicate: on_duplicate.parse().map_err(scheduler_err)?,
            max_attempts,
            backoff: [backoff_base, backoff_factor, backoff_cap, backoff_jitter],
            task_class: task_class.to_owned(),
        };
        let payload = payload.map(payload_bytes).transpose()?.unwrap_or_default();
        let spec = opts.spec(task_id, payload, self.inner.now())?;
        let out = self.inner.enqueue(spec).map_err(scheduler_err)?;
        Ok(match out {
            Enqueued::Added(id) | Enqueued::Merged(id) => id,
        })
    }

    #[pyo3(signature = (tasks, *, priority="normal", run_at=None, delay=None,
        deadline=None, deadline_in=None, dedup_key=None, on_duplicate="refuse",
        max_attempts=5, backoff_base=1.0, backoff_factor=2.0,
        backoff_cap=300.0, backoff_jitter=0.2, task_class="default"))]
    #[allow(clippy::too_many_arguments)]
    fn enqueue_many(
        &self,
        tasks: &Bound<'_, PyAny>,
        priority: &str,
        run_at: Option<f64>,
        delay: Option<f64>,
        deadline: Option<f64>,
        deadline_in: Option<f64>,
        dedup_key: Option<String>,
        on_duplicate: &str,
        max_attempts: u32,
        backoff_base: f64,
        backoff_factor: f64,
        backoff_cap: f64,
        backoff_jitter: f64,
        task_class: &str,
    ) -> PyResult<Vec<String>> {
        let shared = TaskOptions {
            priority: self::priority(priority)?,
            run_at,
            delay,
            deadline,
            deadline_in,
            dedup_key,
            on_duplicate: on_duplicate.parse().map_err(scheduler_err)?,
            max_attempts,
            backoff: [backoff_base, backoff_factor, backoff_cap, backoff_jitter],
            task_class: task_class.to_owned(),
        };
        let now = self.inner.now();
        let shared_backoff = shared.backoff()?;
        let mut specs = Vec::with_capacity(tasks.len().unwrap_or(0));
        for (i, item) in tasks.try_iter()?.enumerate() {
            let item = item?;
            let at = |e: PyErr| {
                let ty = e.get_type(item.py());
                PyErr::from_type(ty, format!("tasks[{i}]: {}", e.value(item.py())))
            };
            let spec = if let Ok(t) = item.cast::<PyTuple>() {
                if t.len() != 2 {
                    return Err(PyTypeError::new_err(format!(
                        "tasks[{i}]: a tuple item must be (task_id, payload), got {} elements",
                        t.len()
                    )));
                }
                let id: String = t.get_item(0)?.extract().map_err(at)?;
                let payload = payload_bytes(&t.get_item(1)?).map_err(at)?;
                shared
                    .spec_with(id, payload, now, shared_backoff)
                    .map_err(at)?
            } else if let Ok(d) = item.cast::<PyDict>() {
                let mut opts = shared.clone();
                let mut id = None;
                let mut payload = Vec::new();
                for (k, v) in d.iter() {
                    let key = k.cast::<PyString>().map_err(|_| {
                        PyTypeError::new_err(format!("tasks[{i}]: option names must be str"))
                    })?;
                    match key.to_str()? {
                        "task_id" => id = Some(v.extract::<String>().map_err(at)?),
                        "payload" => payload = payload_bytes(&v).map_err(at)?,
                        other => opts.set(other, &v).map_err(at)?,
                    }
                }
                let id = id.ok_or_else(|| {
                    PyTypeError::new_err(format!("tasks[{i}]: a dict item needs 'task_id'"))
                })?;
                opts.spec(id, payload, now).map_err(at)?
            } else {
                return Err(PyTypeError::new_err(format!(
                    "tasks[{i}] must be a (task_id, payload) tuple or a dict"
                )));
            };
            specs.push(spec);
        }
        let out = self
            .inner
            .enqueue_many(specs, true)
            .map_err(scheduler_err)?;
        Ok(out
            .into_iter()
            .map(|e| match e {
                Enqueued::Added(id) | Enqueued::Merged(id) => id,
            })
            .collect())
    }

    #[pyo3(signature = (*, lease=30.0, timeout=None))]
    fn take(&self, py: Python<'_>, lease: f64, timeout: Option<f64>) -> PyResult<Option<Lease>> {
        Ok(self.take_many(py, 1, lease, timeout)?.pop())
    }

    #[pyo3(signature = (max_tasks, *, lease=30.0, timeout=None))]
    fn take_many(
        &self,
        py: Python<'_>,
        max_tasks: usize,
        lease: f64,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Lease>> {
        let lease = positive_duration("lease", lease)?;
        let got = match timeout {
            None => self.inner.take(max_tasks, lease).map_err(scheduler_err)?,
            Some(t) => {
                let timeout = duration("timeout", t)?;
                let until = Instant::now() + timeout;
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    let slice = left.min(WAIT_SLICE);
                    let got = py
                        .detach(|| self.inner.take_wait(max_tasks, lease, slice))
                        .map_err(scheduler_err)?;
                    if !got.is_empty() || left.is_zero() {
                        break got;
                    }
                    py.check_signals()?;
                }
            }
        };
        Ok(got
            .into_iter()
            .map(|d| Lease::from_delivery(py, d))
            .collect())
    }

    fn ack(&self, lease: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.ack(lease_id(lease)?).map_err(scheduler_err)
    }

    fn ack_many(&self, leases: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids: Vec<u64> = leases
            .try_iter()?
            .map(|l| lease_id(&l?))
            .collect::<PyResult<_>>()?;
        let failed = self.inner.ack_many(&ids);
        if let Some((_, first)) = failed.first() {
            let msg = failed
                .iter()
                .map(|(_, e)| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            let err = scheduler_err(first.clone());
            return Err(Python::attach(|py| {
                PyErr::from_type(
                    err.get_type(py),
                    format!(
                        "{} of {} leases not acked (the others were): {msg}",
                        failed.len(),
                        ids.len()
                    ),
                )
            }));
        }
        Ok(ids.len())
    }

    #[pyo3(signature = (lease, reason="", *, retry_after=None, dead_letter=false))]
    fn nack(
        &self,
        lease: &Bound<'_, PyAny>,
        reason: &str,
        retry_after: Option<f64>,
        dead_letter: bool,
    ) -> PyResult<&'static str> {
        let opts = NackOptions {
            retry_after: retry_after
                .map(|s| duration("retry_after", s))
                .transpose()?,
            dead_letter,
        };
        let out = self
            .inner
            .nack(lease_id(lease)?, reason, opts)
            .map_err(scheduler_err)?;
        Ok(outcome_str(out))
    }

    fn extend(&self, lease: &Bound<'_, PyAny>, seconds: f64) -> PyResult<f64> {
        let by = positive_duration("seconds", seconds)?;
        let t = self
            .inner
            .extend(lease_id(lease)?, by)
            .map_err(scheduler_err)?;
        Ok(t.as_secs_f64())
    }

    fn cancel(&self, task_id: &str) -> bool {
        self.inner.cancel(task_id)
    }

    fn status(&self, task_id: &str) -> Option<&'static str> {
        self.inner.status(task_id).map(status_str)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    #[pyo3(signature = (limit=100))]
    fn dead_letters(&self, py: Python<'_>, limit: usize) -> Vec<DeadLetter> {
        self.inner
            .dead_letters(limit)
            .into_iter()
            .map(|d| DeadLetter {
                task_id: d.id,
                payload: PyBytes::new(py, &d.payload).unbind(),
                priority: d.priority.as_str(),
                task_class: d.class,
                attempts: d.attempts,
                last_error: d.last_error,
                schedule: d.schedule,
            })
            .collect()
    }

    fn requeue_dead_letter(&self, task_id: &str) -> PyResult<()> {
        self.inner
            .requeue_dead_letter(task_id)
            .map_err(scheduler_err)
    }

    fn set_class_limit(&self, task_class: &str, limit: Option<u32>) -> PyResult<()> {
        self.inner
            .set_class_limit(task_class, limit)
            .map_err(scheduler_err)
    }

    fn class_limits(&self) -> BTreeMap<String, u32> {
        self.inner.class_limits()
    }

    #[pyo3(signature = (name, *, cron=None, every=None, timezone="UTC", start_at=None,
        payload=None, priority="normal", task_class="default", misfire="run_once",
        misfire_grace=1.0, deadline_after=None, max_attempts=5,
        backoff_base=1.0, backoff_factor=2.0, backoff_cap=300.0, backoff_jitter=0.2,
        replace=false))]
    #[allow(clippy::too_many_arguments)]
    fn add_schedule(
        &self,
        name: String,
        cron: Option<String>,
        every: Option<f64>,
        timezone: &str,
        start_at: Option<f64>,
        payload: Option<&Bound<'_, PyAny>>,
        priority: &str,
        task_class: &str,
        misfire: &str,
        misfire_grace: f64,
        deadline_after: Option<f64>,
        max_attempts: u32,
        backoff_base: f64,
        backoff_factor: f64,
        backoff_cap: f64,
        backoff_jitter: f64,
        replace: bool,
    ) -> PyResult<f64> {
        let trigger = match (cron, every) {
            (Some(expr), None) => Trigger::Cron {
                expr,
                timezone: timezone.to_owned(),
            },
            (None, Some(every)) => Trigger::Interval {
                every: duration("every", every)?,
            },
            _ => return Err(PyValueError::new_err("pass exactly one of cron= or every=")),
        };
        let spec = ScheduleSpec {
            name,
            trigger,
            misfire: misfire.parse::<Misfire>().map_err(scheduler_err)?,
            misfire_grace: duration("misfire_grace", misfire_grace)?,
            start_at: start_at.map(|t| unix_time("start_at", t)).transpose()?,
            template: TaskTemplate {
                payload: payload.map(payload_bytes).transpose()?.unwrap_or_default(),
                priority: self::priority(priority)?,
                class: task_class.to_owned(),
                max_attempts,
                backoff: Backoff {
                    base: duration("backoff_base", backoff_base)?,
                    factor: backoff_factor,
                    cap: duration("backoff_cap", backoff_cap)?,
                    jitter: backoff_jitter,
                },
                deadline_after: deadline_after
                    .map(|s| duration("deadline_after", s))
                    .transpose()?,
            },
        };
        let first = self
            .inner
            .add_schedule(spec, replace)
            .map_err(scheduler_err)?;
        Ok(first.as_secs_f64())
    }

    fn remove_schedule(&self, name: &str) -> bool {
        self.inner.remove_schedule(name)
    }

    fn schedules(&self) -> Vec<String> {
        self.inner.schedule_names()
    }

    #[pyo3(signature = (name, n=5, *, after=None))]
    fn preview(&self, name: &str, n: usize, after: Option<f64>) -> PyResult<Vec<f64>> {
        let after = after.map(|t| unix_time("after", t)).transpose()?;
        let v = self.inner.preview(name, n, after).map_err(scheduler_err)?;
        Ok(v.into_iter().map(Time::as_secs_f64).collect())
    }

    #[staticmethod]
    #[pyo3(signature = (expr, n=5, *, timezone="UTC", after=None))]
    fn preview_cron(
        expr: String,
        n: usize,
        timezone: &str,
        after: Option<f64>,
    ) -> PyResult<Vec<f64>> {
        let after = match after {
            Some(t) => unix_time("after", t)?,
            None => core::SystemClock.now(),
        };
        let trigger = Trigger::Cron {
            expr,
            timezone: timezone.to_owned(),
        };
        let v = core::Scheduler::preview_trigger(&trigger, n, after).map_err(scheduler_err)?;
        Ok(v.into_iter().map(Time::as_secs_f64).collect())
    }

    fn tick(&self) {
        self.inner.tick();
    }

    fn stats(&self) -> SchedulerStats {
        let s = self.inner.stats();
        let c = s.counters;
        SchedulerStats {
            pending: s.pending,
            ready: s.ready,
            delayed: s.delayed,
            leased: s.leased,
            dead_letters: s.dead_letters,
            overdue: s.overdue,
            pending_by_priority: Priority::ALL
                .iter()
                .map(|p| (p.as_str(), s.pending_by_priority[p.index()]))
                .collect(),
            pending_by_class: s.pending_by_class,
            leased_by_class: s.leased_by_class,
            schedules: s.schedules,
            journal_backlog: s.journal_backlog,
            enqueued: c.enqueued,
            merged: c.merged,
            acked: c.acked,
            retried: c.retried,
            dead_lettered: c.dead_lettered,
            expired: c.expired,
            cancelled: c.cancelled,
            late: c.late,
            fired: c.fired,
            misfires: c.misfires,
        }
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.inner.snapshot()).map_err(scheduler_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn drain_journal<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.inner.drain_journal().map_err(scheduler_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn __repr__(&self) -> String {
        let s = self.inner.stats();
        format!(
            "Scheduler(pending={}, leased={}, dead_letters={}, schedules={})",
            s.pending, s.leased, s.dead_letters, s.schedules
        )
    }
}

/// Panics on purpose, so tests can prove that a Rust panic reaches Python as an
/// exception (`pyo3_runtime.PanicException`) and does not abort the interpreter.
#[pyfunction]
fn _panic_for_tests(message: &str) {
    panic!("{message}");
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ManualClock>()?;
    m.add_class::<Lease>()?;
    m.add_class::<DeadLetter>()?;
    m.add_class::<SchedulerStats>()?;
    m.add_class::<Scheduler>()?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    Ok(())
}
