//! `dwc_core.Scheduler` and its small value classes: a thin layer over
//! [`crate::scheduler::Scheduler`] that converts arguments once (seconds to `Duration`,
//! Unix times to `Time`, strings to enums) and maps errors in `errors.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::errors::scheduler_err;
use crate::scheduler::{
    self as core, Backoff, Clock, Config, DedupPolicy, Delivery, Enqueued, Misfire, NackOptions,
    NackOutcome, Payload, Priority, ScheduleSpec, Start, TaskSpec, TaskStatus, TaskTemplate, Time,
    Trigger, DEFAULT_CLASS, MAX_SPAN,
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
        return Ok(lease.get().d.lease);
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

/// Every lease id in `leases` (a list, or any iterable, of `Lease`s or ints).
fn lease_ids(leases: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    if let Ok(list) = leases.cast::<PyList>() {
        let mut ids = Vec::with_capacity(list.len());
        for l in list.iter() {
            ids.push(lease_id(&l)?);
        }
        return Ok(ids);
    }
    leases.try_iter()?.map(|l| lease_id(&l?)).collect()
}

/// A task id: one allocation, shared from then on by the scheduler's indexes and the
/// leases it hands out.
fn task_id(obj: &Bound<'_, PyAny>) -> PyResult<Arc<str>> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(Arc::from(s.to_str()?)),
        Err(_) => {
            let ty = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            Err(PyTypeError::new_err(format!(
                "task_id must be str, got {ty}"
            )))
        }
    }
}

/// `bytes` as a payload; `empty` is shared by every task with an empty one.
fn payload_bytes(obj: &Bound<'_, PyAny>, empty: &Payload) -> PyResult<Payload> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        let b = b.as_bytes();
        return Ok(if b.is_empty() {
            empty.clone()
        } else {
            Payload::from(b)
        });
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
    task_class: Arc<str>,
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

    fn spec(&self, id: Arc<str>, payload: Payload, now: Time) -> PyResult<TaskSpec> {
        self.spec_with(id, payload, now, self.backoff()?)
    }

    fn spec_with(
        &self,
        id: Arc<str>,
        payload: Payload,
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
            "task_class" => self.task_class = Arc::from(value.extract::<&str>()?),
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
///
/// It holds the delivery as the core made it, whose id, class and payload are shared with
/// the scheduler rather than copied, and makes Python objects for its fields when they
/// are read (the payload's `bytes` once). A batch take then costs one small object per
/// task, and a worker that only acks never pays for fields it does not read.
#[pyclass(frozen, module = "dwc_core._native")]
pub struct Lease {
    d: Delivery,
    payload: PyOnceLock<Py<PyBytes>>,
}

impl Lease {
    fn new(d: Delivery) -> Self {
        Self {
            d,
            payload: PyOnceLock::new(),
        }
    }
}

#[pymethods]
impl Lease {
    #[getter]
    fn lease_id(&self) -> u64 {
        self.d.lease
    }

    #[getter]
    fn task_id(&self) -> &str {
        &self.d.id
    }

    #[getter]
    fn payload(&self, py: Python<'_>) -> Py<PyBytes> {
        self.payload
            .get_or_init(py, || PyBytes::new(py, &self.d.payload).unbind())
            .clone_ref(py)
    }

    #[getter]
    fn priority(&self) -> &'static str {
        self.d.priority.as_str()
    }

    #[getter]
    fn task_class(&self) -> &str {
        &self.d.class
    }

    #[getter]
    fn attempt(&self) -> u32 {
        self.d.attempt
    }

    #[getter]
    fn max_attempts(&self) -> u32 {
        self.d.max_attempts
    }

    #[getter]
    fn run_at(&self) -> f64 {
        self.d.run_at.as_secs_f64()
    }

    #[getter]
    fn deadline(&self) -> Option<f64> {
        self.d.deadline.map(Time::as_secs_f64)
    }

    #[getter]
    fn late(&self) -> bool {
        self.d.late
    }

    #[getter]
    fn expires_at(&self) -> f64 {
        self.d.expires_at.as_secs_f64()
    }

    #[getter]
    fn schedule(&self) -> Option<&str> {
        self.d.schedule.as_deref()
    }

    #[getter]
    fn last_error(&self) -> Option<&str> {
        self.d.last_error.as_deref()
    }

    fn __repr__(&self) -> String {
        let d = &self.d;
        format!(
            "Lease(lease_id={}, task_id={:?}, priority={:?}, attempt={}/{}, late={})",
            d.lease,
            &*d.id,
            d.priority.as_str(),
            d.attempt,
            d.max_attempts,
            if d.late { "True" } else { "False" }
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
    /// Shared by every task that uses them, so the common case allocates neither.
    default_class: Arc<str>,
    empty_payload: Payload,
}

impl Scheduler {
    fn wrap(inner: core::Scheduler) -> Self {
        Self {
            inner,
            default_class: Arc::from(DEFAULT_CLASS),
            empty_payload: Payload::from(&[][..]),
        }
    }

    fn class_name(&self, class: &str) -> Arc<str> {
        if class == DEFAULT_CLASS {
            self.default_class.clone()
        } else {
            Arc::from(class)
        }
    }

    /// Take up to `max_tasks`; with a timeout, wait with the GIL released, in slices
    /// so that Ctrl-C gets through.
    fn deliveries(
        &self,
        py: Python<'_>,
        max_tasks: usize,
        lease: f64,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Delivery>> {
        let lease = positive_duration("lease", lease)?;
        let Some(t) = timeout else {
            return self.inner.take(max_tasks, lease).map_err(scheduler_err);
        };
        let timeout = duration("timeout", t)?;
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let slice = left.min(WAIT_SLICE);
            let got = py
                .detach(|| self.inner.take_wait(max_tasks, lease, slice))
                .map_err(scheduler_err)?;
            if !got.is_empty() || left.is_zero() {
                return Ok(got);
            }
            py.check_signals()?;
        }
    }

    fn payload(&self, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Payload> {
        match obj {
            Some(p) => payload_bytes(p, &self.empty_payload),
            None => Ok(self.empty_payload.clone()),
        }
    }
}

/// The id `enqueue` returns: the caller's own `str` object when the task was added under
/// it (no new string), the holder's id when it was merged into a live task.
fn enqueued_id<'py>(
    py: Python<'py>,
    given: &Bound<'py, PyAny>,
    out: &Enqueued,
) -> Bound<'py, PyAny> {
    match out {
        Enqueued::Added(_) if given.is_exact_instance_of::<PyString>() => given.clone(),
        Enqueued::Added(id) | Enqueued::Merged(id) => PyString::new(py, id).into_any(),
    }
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
        Ok(Self::wrap(inner))
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
        Ok(Self::wrap(inner))
    }

    fn now(&self) -> f64 {
        self.inner.now().as_secs_f64()
    }

    #[pyo3(signature = (task_id, payload=None, *, priority="normal", run_at=None, delay=None,
        deadline=None, deadline_in=None, dedup_key=None, on_duplicate="refuse",
        max_attempts=5, backoff_base=1.0, backoff_factor=2.0,
        backoff_cap=300.0, backoff_jitter=0.2, task_class="default"))]
    #[allow(clippy::too_many_arguments)]
    fn enqueue<'py>(
        &self,
        task_id: &Bound<'py, PyAny>,
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
    ) -> PyResult<Bound<'py, PyAny>> {
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
            task_class: self.class_name(task_class),
        };
        let id = self::task_id(task_id)?;
        let spec = opts.spec(id, self.payload(payload)?, self.inner.now())?;
        let out = self.inner.enqueue(spec).map_err(scheduler_err)?;
        Ok(enqueued_id(task_id.py(), task_id, &out))
    }

    #[pyo3(signature = (tasks, *, priority="normal", run_at=None, delay=None,
        deadline=None, deadline_in=None, dedup_key=None, on_duplicate="refuse",
        max_attempts=5, backoff_base=1.0, backoff_factor=2.0,
        backoff_cap=300.0, backoff_jitter=0.2, task_class="default"))]
    #[allow(clippy::too_many_arguments)]
    fn enqueue_many<'py>(
        &self,
        tasks: &Bound<'py, PyAny>,
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
    ) -> PyResult<Bound<'py, PyList>> {
        let py = tasks.py();
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
            task_class: self.class_name(task_class),
        };
        let now = self.inner.now();
        // Every (task_id, payload) tuple gets these options: check them once, and copy the
        // finished spec (a few reference counts) for each item.
        let template = shared.spec(self.default_class.clone(), self.empty_payload.clone(), now)?;
        let n = tasks.len().unwrap_or(0);
        let mut specs = Vec::with_capacity(n);
        let mut given = Vec::with_capacity(n);
        let mut add = |i: usize, item: Bound<'py, PyAny>| -> PyResult<()> {
            let at = |e: PyErr| {
                let ty = e.get_type(py);
                PyErr::from_type(ty, format!("tasks[{i}]: {}", e.value(py)))
            };
            let spec = if let Ok(t) = item.cast::<PyTuple>() {
                if t.len() != 2 {
                    return Err(PyTypeError::new_err(format!(
                        "tasks[{i}]: a tuple item must be (task_id, payload), got {} elements",
                        t.len()
                    )));
                }
                let id_obj = t.get_item(0)?;
                let id = self::task_id(&id_obj).map_err(at)?;
                let payload = payload_bytes(&t.get_item(1)?, &self.empty_payload).map_err(at)?;
                given.push(id_obj);
                TaskSpec {
                    id,
                    payload,
                    priority: template.priority,
                    start: template.start,
                    deadline: template.deadline,
                    dedup_key: template.dedup_key.clone(),
                    on_duplicate: template.on_duplicate,
                    max_attempts: template.max_attempts,
                    backoff: template.backoff,
                    class: template.class.clone(),
                }
            } else if let Ok(d) = item.cast::<PyDict>() {
                let mut opts = shared.clone();
                let mut id = None;
                let mut payload = self.empty_payload.clone();
                for (k, v) in d.iter() {
                    let key = k.cast::<PyString>().map_err(|_| {
                        PyTypeError::new_err(format!("tasks[{i}]: option names must be str"))
                    })?;
                    match key.to_str()? {
                        "task_id" => id = Some((self::task_id(&v).map_err(at)?, v)),
                        "payload" => payload = self.payload(Some(&v)).map_err(at)?,
                        other => opts.set(other, &v).map_err(at)?,
                    }
                }
                let (id, id_obj) = id.ok_or_else(|| {
                    PyTypeError::new_err(format!("tasks[{i}]: a dict item needs 'task_id'"))
                })?;
                given.push(id_obj);
                opts.spec(id, payload, now).map_err(at)?
            } else {
                return Err(PyTypeError::new_err(format!(
                    "tasks[{i}] must be a (task_id, payload) tuple or a dict"
                )));
            };
            specs.push(spec);
            Ok(())
        };
        if let Ok(list) = tasks.cast::<PyList>() {
            for (i, item) in list.iter().enumerate() {
                add(i, item)?;
            }
        } else {
            for (i, item) in tasks.try_iter()?.enumerate() {
                add(i, item?)?;
            }
        }
        let out = self
            .inner
            .enqueue_many(specs, true)
            .map_err(scheduler_err)?;
        PyList::new(
            py,
            out.iter()
                .zip(&given)
                .map(|(e, obj)| enqueued_id(py, obj, e)),
        )
    }

    #[pyo3(signature = (*, lease=30.0, timeout=None))]
    fn take<'py>(
        &self,
        py: Python<'py>,
        lease: f64,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, Lease>>> {
        let got = self.deliveries(py, 1, lease, timeout)?;
        got.into_iter()
            .next()
            .map(|d| Bound::new(py, Lease::new(d)))
            .transpose()
    }

    #[pyo3(signature = (max_tasks, *, lease=30.0, timeout=None))]
    fn take_many<'py>(
        &self,
        py: Python<'py>,
        max_tasks: usize,
        lease: f64,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let got = self.deliveries(py, max_tasks, lease, timeout)?;
        // Straight into the list: each delivery is moved once, into its Lease object.
        let leases = got
            .into_iter()
            .map(|d| Bound::new(py, Lease::new(d)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, leases)
    }

    fn ack(&self, lease: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.ack(lease_id(lease)?).map_err(scheduler_err)
    }

    fn ack_many(&self, leases: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = lease_ids(leases)?;
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
                task_id: d.id.to_string(),
                payload: PyBytes::new(py, &d.payload).unbind(),
                priority: d.priority.as_str(),
                task_class: d.class.to_string(),
                attempts: d.attempts,
                last_error: d.last_error,
                schedule: d.schedule.as_deref().map(str::to_owned),
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
                payload: self.payload(payload)?,
                priority: self::priority(priority)?,
                class: self.class_name(task_class),
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
