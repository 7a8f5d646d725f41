"""Type stubs for the compiled extension ``dwc_core._native`` (written by hand).

``tests/core/test_stub.py`` checks that the names here match the built module.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypedDict, TypeVar, final, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "Cache",
    "CacheCorruptionError",
    "CacheRecursionError",
    "CacheStats",
    "DeadLetter",
    "DuplicateTaskError",
    "DwcCoreError",
    "Featurizer",
    "Lease",
    "LeaseError",
    "ManualClock",
    "MerkleTree",
    "Scheduler",
    "SchedulerStats",
    "SnapshotError",
    "__version__",
    "blake3",
    "content_id",
    "keccak256",
    "verify_proof",
    "verify_proof_json",
]

__version__: str

class DwcCoreError(Exception):
    """Base class of operational errors raised by dwc_core."""

class DuplicateTaskError(DwcCoreError):
    """A task id, dedup key or schedule name is already held by a live task or schedule."""

class LeaseError(DwcCoreError, KeyError):
    """A lease is unknown (never issued, already settled, or its task was cancelled) or
    has expired. Also a KeyError."""

class SnapshotError(DwcCoreError, ValueError):
    """Scheduler snapshot or journal bytes are corrupt, of an unknown format version, or
    miss an event. Also a ValueError."""

def content_id(data: bytes | str) -> str:
    """Content id of ``data``: ``"b3:"`` + 64 hex digits of its BLAKE3 digest.

    ``str`` is hashed as UTF-8. Inputs of 64 KiB or more are hashed with the GIL
    released (and, from 1 MiB, on several threads).

    Raises:
        TypeError: ``data`` is neither bytes nor str.
    """

def blake3(data: bytes | str) -> bytes:
    """The 32-byte BLAKE3 digest of ``data`` (``str`` as UTF-8)."""

def _panic_for_tests(message: str) -> None:
    """Panics in Rust on purpose: tests use it to prove a panic reaches Python as
    ``pyo3_runtime.PanicException`` instead of aborting the interpreter."""

def keccak256(data: bytes | str) -> bytes:
    """The 32-byte keccak256 digest of ``data`` (Ethereum's hash, not SHA3-256)."""

@final
class Featurizer:
    """Hashes word and character n-grams of a text into a fixed-size float32 vector.

    Immutable and thread-safe. Every option is saved by ``config_json()``, which a model
    manifest stores so training and inference featurize identically. Deterministic
    across runs and platforms (FNV-1a, no seed).
    """

    def __init__(
        self,
        *,
        n_features: int | None = None,
        word_ngrams: tuple[int, int] | None = None,
        char_ngrams: tuple[int, int] | None = None,
        normalization: Literal["none", "nfc", "nfkc"] | None = None,
        lowercase: bool | None = None,
        sublinear_tf: bool | None = None,
        alternate_sign: bool | None = None,
        l2_norm: bool | None = None,
        max_input_bytes: int | None = None,
        idf: npt.NDArray[np.float32] | npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Defaults: 2**18 features, word 1-2 grams, no char n-grams, NFKC, lower-case,
        sublinear tf, no alternate sign, l2 norm, 16 MiB max input.

        ``idf`` may be float32 or float64 (narrowed to float32).

        Raises:
            ValueError: an option is out of range (negative counts included), or ``idf``
                has the wrong length or holds a NaN, infinite or negative weight.
            TypeError: a count is not an int, or ``idf`` is not a 1-D float numpy array.
        """

    @staticmethod
    def from_json(
        config_json: str, *, idf: npt.NDArray[np.float32] | npt.NDArray[np.float64] | None = None
    ) -> Featurizer:
        """Rebuild from ``config_json()`` output. Unknown keys raise ``ValueError``."""

    def config_json(self) -> str:
        """Every option as a JSON object (what a model manifest stores)."""

    @property
    def n_features(self) -> int: ...
    @property
    def has_idf(self) -> bool: ...
    def tokens(self, text: str | bytes) -> list[str]:
        """The normalised, lower-cased tokens word n-grams are built from."""

    def transform(self, text: str | bytes) -> npt.NDArray[np.float32]:
        """One text -> vector of length ``n_features`` (numpy owns the buffer; no copy).

        Raises:
            ValueError: ``bytes`` that are not valid UTF-8, or a text over
                ``max_input_bytes``.
            TypeError: ``text`` is neither str nor bytes.
        """

    def transform_batch(self, texts: Sequence[str | bytes]) -> npt.NDArray[np.float32]:
        """Many texts -> matrix ``(len(texts), n_features)``; row i equals
        ``transform(texts[i])``. Rows are computed in parallel with the GIL released.

        Raises:
            ValueError, TypeError: as ``transform``, for the first bad text.
        """

_Priority: TypeAlias = Literal["low", "normal", "high", "critical"]
_OnDuplicate: TypeAlias = Literal["refuse", "merge"]
_Misfire: TypeAlias = Literal["skip", "run_once", "catch_up"]

class _TaskOptions(TypedDict, total=False):
    """One ``enqueue_many`` item given as a dict: ``task_id`` is required, every other key
    overrides the keyword of the same name for that item."""

    task_id: str
    payload: bytes
    priority: _Priority
    run_at: float | None
    delay: float | None
    deadline: float | None
    deadline_in: float | None
    dedup_key: str | None
    on_duplicate: _OnDuplicate
    max_attempts: int
    backoff_base: float
    backoff_factor: float
    backoff_cap: float
    backoff_jitter: float
    task_class: str

@final
class ManualClock:
    """A clock that moves only when told to, for tests and simulations. Pass it to
    ``Scheduler(clock=...)``; times are Unix seconds."""

    def __init__(self, start: float = 0.0) -> None: ...
    def now(self) -> float: ...
    def advance(self, seconds: float) -> None:
        """Raises:
        ValueError: ``seconds`` is negative, NaN or over 10 years."""

    def set(self, t: float) -> None: ...

@final
class Lease:
    """A task leased to a worker. Pass it (or ``lease_id``) to ``ack``, ``nack`` or
    ``extend`` before ``expires_at``; after that the task may be delivered again.

    Fields are read-only and made when read: the task id, class and payload are shared
    with the scheduler until then, so a worker that only acks never pays for them.
    ``payload`` is the same ``bytes`` object on every read."""

    @property
    def lease_id(self) -> int: ...
    @property
    def task_id(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def priority(self) -> _Priority: ...
    @property
    def task_class(self) -> str: ...
    @property
    def attempt(self) -> int:
        """1 for the first delivery; a delivery cut short by a restart counts too."""
    @property
    def max_attempts(self) -> int: ...
    @property
    def run_at(self) -> float: ...
    @property
    def deadline(self) -> float | None: ...
    @property
    def late(self) -> bool:
        """The deadline had passed when this (or an earlier) delivery was made."""
    @property
    def expires_at(self) -> float: ...
    @property
    def schedule(self) -> str | None:
        """The schedule that fired this task, if any."""
    @property
    def last_error(self) -> str | None:
        """The reason given with the previous nack, if any."""

@final
class DeadLetter:
    """A task that used up its attempts, or was nacked with ``dead_letter=True``."""

    @property
    def task_id(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def priority(self) -> _Priority: ...
    @property
    def task_class(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def schedule(self) -> str | None: ...

@final
class SchedulerStats:
    """Queue depth (``pending`` = ready + delayed, by priority and class) and cumulative
    counters (kept across snapshots and journal replays). ``late`` counts tasks first
    delivered after their deadline; ``overdue`` counts pending tasks already past it."""

    @property
    def pending(self) -> int: ...
    @property
    def ready(self) -> int: ...
    @property
    def delayed(self) -> int: ...
    @property
    def leased(self) -> int: ...
    @property
    def dead_letters(self) -> int: ...
    @property
    def overdue(self) -> int: ...
    @property
    def pending_by_priority(self) -> dict[str, int]: ...
    @property
    def pending_by_class(self) -> dict[str, int]: ...
    @property
    def leased_by_class(self) -> dict[str, int]: ...
    @property
    def schedules(self) -> int: ...
    @property
    def journal_backlog(self) -> int:
        """Journal bytes recorded but not yet returned by ``drain_journal``."""
    @property
    def enqueued(self) -> int: ...
    @property
    def merged(self) -> int: ...
    @property
    def acked(self) -> int: ...
    @property
    def retried(self) -> int: ...
    @property
    def dead_lettered(self) -> int: ...
    @property
    def expired(self) -> int: ...
    @property
    def cancelled(self) -> int: ...
    @property
    def late(self) -> int: ...
    @property
    def fired(self) -> int: ...
    @property
    def misfires(self) -> int: ...
    def as_dict(self) -> dict[str, int | dict[str, int]]: ...

@final
class Scheduler:
    """Priorities, timers, leases, retries with backoff, dedup keys, per-class concurrency
    caps, cron and interval schedules, snapshot and journal (issue 3).

    Thread-safe: share one instance between threads. Calls hold an internal lock for
    microseconds; a blocking ``take``/``take_many`` releases the GIL while it waits.
    Times are Unix seconds (float) on the scheduler's clock; durations are seconds and
    must be finite, >= 0 and at most 10 years.

    Delivery order among ready tasks: priority (critical, high, normal, low), then
    run-at time, then enqueue order. Delivery is at-least-once: a lease that runs out
    makes its task available again. Durability: see ``snapshot``, ``drain_journal``,
    ``restore`` and docs/adr/0001-scheduler-durability.md.
    """

    def __init__(
        self,
        *,
        clock: ManualClock | None = None,
        max_payload: int = 1048576,
        journal: bool = False,
        class_limits: Mapping[str, int] | None = None,
        seed: int | None = None,
    ) -> None:
        """``journal=True`` records an event per change for ``drain_journal``.
        ``class_limits`` caps concurrent leases per task class. ``seed`` makes retry
        jitter reproducible.

        Raises:
            ValueError: ``max_payload`` over 256 MiB, or a class name empty or too long.
        """

    @staticmethod
    def restore(
        snapshot: bytes | None = None,
        journal_chunks: Iterable[bytes] | None = None,
        *,
        clock: ManualClock | None = None,
        max_payload: int = 1048576,
        journal: bool = False,
        class_limits: Mapping[str, int] | None = None,
        seed: int | None = None,
    ) -> Scheduler:
        """Rebuild a scheduler from the last stored snapshot (if any) and every journal
        chunk drained since, in any order. Every task comes back; tasks that were leased
        are pending again (the interrupted delivery counts as an attempt).

        Raises:
            SnapshotError: bytes that are not a snapshot or journal chunk, an unknown
                format version, or a missing event after the snapshot.
        """

    def now(self) -> float:
        """The scheduler's clock, in Unix seconds."""

    def enqueue(
        self,
        task_id: str,
        payload: bytes | None = None,
        *,
        priority: _Priority = "normal",
        run_at: float | None = None,
        delay: float | None = None,
        deadline: float | None = None,
        deadline_in: float | None = None,
        dedup_key: str | None = None,
        on_duplicate: _OnDuplicate = "refuse",
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_factor: float = 2.0,
        backoff_cap: float = 300.0,
        backoff_jitter: float = 0.2,
        task_class: str = "default",
    ) -> str:
        """Add a task; returns the id of the task that holds the work.

        Ready at ``run_at`` (Unix seconds) or after ``delay`` seconds (default: now).
        A task taken after ``deadline`` (or ``deadline_in`` seconds from now) is still
        delivered, with ``Lease.late`` set and ``stats().late`` counted. The n-th retry
        waits ``min(backoff_cap, backoff_base * backoff_factor**(n-1))``, shortened by up
        to ``backoff_jitter`` (a fraction) at random.

        With ``dedup_key`` held by a live (pending or leased) task: ``"refuse"`` raises
        ``DuplicateTaskError``; ``"merge"`` folds this enqueue into that task and returns
        its id: the payload is replaced, the priority raised to the higher, run-at and
        deadline moved to the earlier. A leased task keeps running and runs once more,
        with the merged payload, when its lease ends.

        Raises:
            ValueError: unknown priority or on_duplicate; a negative, NaN or over-10-year
                duration; both run_at and delay; an empty or over-1 KiB id, key or class;
                a payload over ``max_payload``; bad backoff numbers; max_attempts < 1.
            DuplicateTaskError: ``task_id`` is already queued, leased or dead-lettered,
                or ``dedup_key`` is held and ``on_duplicate="refuse"``.
            TypeError: ``task_id`` is not str, or ``payload`` is not bytes.
        """

    def enqueue_many(
        self,
        tasks: Iterable[tuple[str, bytes] | _TaskOptions],
        *,
        priority: _Priority = "normal",
        run_at: float | None = None,
        delay: float | None = None,
        deadline: float | None = None,
        deadline_in: float | None = None,
        dedup_key: str | None = None,
        on_duplicate: _OnDuplicate = "refuse",
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_factor: float = 2.0,
        backoff_cap: float = 300.0,
        backoff_jitter: float = 0.2,
        task_class: str = "default",
    ) -> list[str]:
        """Add many tasks in one call: all of them, or none if one is refused. Items are
        ``(task_id, payload)`` tuples using the keyword options, or dicts overriding them.

        Raises:
            ValueError, DuplicateTaskError, TypeError: as ``enqueue``; the message starts
                with ``tasks[i]:`` naming the item.
        """

    def take(self, *, lease: float = 30.0, timeout: float | None = None) -> Lease | None:
        """Lease the next ready task for ``lease`` seconds, or return None. With
        ``timeout``, wait up to that many seconds (GIL released) for one.

        Raises:
            ValueError: ``lease`` <= 0 or over 10 years; bad ``timeout``.
        """

    def take_many(
        self, max_tasks: int, *, lease: float = 30.0, timeout: float | None = None
    ) -> list[Lease]:
        """Lease up to ``max_tasks`` ready tasks, in delivery order, skipping classes at
        their cap. With ``timeout``, wait (GIL released) until at least one is ready.

        Raises:
            ValueError: ``max_tasks`` < 1, bad ``lease`` or ``timeout``.
        """

    def ack(self, lease: Lease | int) -> None:
        """Complete a leased task.

        Raises:
            LeaseError: the lease is unknown, already settled, its task was cancelled, or
                it expired (then the task is available again or dead-lettered).
        """

    def ack_many(self, leases: Iterable[Lease | int]) -> int:
        """Ack many leases in one call; returns how many.

        Raises:
            LeaseError: some leases could not be acked; all the others were.
        """

    def nack(
        self,
        lease: Lease | int,
        reason: str = "",
        *,
        retry_after: float | None = None,
        dead_letter: bool = False,
    ) -> Literal["retry", "dead_letter"]:
        """Fail a leased task: retry after its backoff (or ``retry_after`` seconds), or
        dead-letter it if that was its last attempt or ``dead_letter`` is set. ``reason``
        (cut to 4 KiB) is kept as ``last_error``.

        Raises:
            LeaseError: as ``ack``.
            ValueError: bad ``retry_after``.
        """

    def extend(self, lease: Lease | int, seconds: float) -> float:
        """Move a lease's expiry to ``seconds`` from now; returns the new expiry.

        Raises:
            LeaseError: as ``ack``.
            ValueError: ``seconds`` <= 0 or over 10 years.
        """

    def cancel(self, task_id: str) -> bool:
        """Remove a pending, leased or dead-lettered task. False if there is none."""

    def status(self, task_id: str) -> Literal["pending", "leased", "dead_letter"] | None: ...
    def __len__(self) -> int:
        """Tasks held: pending, leased and dead-lettered."""

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Dead-lettered tasks, oldest first."""

    def requeue_dead_letter(self, task_id: str) -> None:
        """Queue a dead-lettered task again with a fresh retry budget.

        Raises:
            KeyError: no dead-lettered task has this id.
            DuplicateTaskError: its dedup key is held by another live task.
        """

    def set_class_limit(self, task_class: str, limit: int | None) -> None:
        """Cap concurrent leases of a class (None: no cap; 0 pauses it). Lowering a cap
        does not revoke leases already taken.

        Raises:
            ValueError: empty or over-1 KiB class name, or over 4096 classes.
        """

    def class_limits(self) -> dict[str, int]: ...
    def add_schedule(
        self,
        name: str,
        *,
        cron: str | None = None,
        every: float | None = None,
        timezone: str = "UTC",
        start_at: float | None = None,
        payload: bytes | None = None,
        priority: _Priority = "normal",
        task_class: str = "default",
        misfire: _Misfire = "run_once",
        misfire_grace: float = 1.0,
        deadline_after: float | None = None,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_factor: float = 2.0,
        backoff_cap: float = 300.0,
        backoff_jitter: float = 0.2,
        replace: bool = False,
    ) -> float:
        """Add a recurring schedule; returns its first fire time.

        ``cron``: 5 fields (minute first) or 6 (seconds first), read in ``timezone`` (an
        IANA name). ``every``: seconds (>= 0.001), from ``start_at`` or one interval from
        now. Each fire enqueues a task with id ``"{name}@{fire time in microseconds}"``,
        run-at the fire time and deadline ``deadline_after`` later. Fires found more than
        ``misfire_grace`` seconds late are skipped, collapsed into one (``run_once``) or
        all enqueued (``catch_up``, at most 1000 per tick). With ``replace=True`` an
        existing schedule is changed; an unchanged trigger keeps its place.

        Raises:
            ValueError: invalid cron expression (named in the message), unknown time
                zone, both or neither of cron/every, a cron that never fires, bad options.
            DuplicateTaskError: a schedule of this name exists and ``replace`` is False.
        """

    def remove_schedule(self, name: str) -> bool:
        """Remove a schedule; tasks it already enqueued stay."""

    def schedules(self) -> list[str]: ...
    def preview(self, name: str, n: int = 5, *, after: float | None = None) -> list[float]:
        """The schedule's next ``n`` fire times (after ``after`` if given).

        Raises:
            KeyError: no schedule of this name.
            ValueError: ``n`` over 10000.
        """

    @staticmethod
    def preview_cron(
        expr: str, n: int = 5, *, timezone: str = "UTC", after: float | None = None
    ) -> list[float]:
        """The next ``n`` fire times of a cron expression after ``after`` (default: now).

        Raises:
            ValueError: invalid expression or time zone, ``n`` over 10000.
        """

    def tick(self) -> None:
        """Apply what is due now (lease expiries, schedule fires) without taking."""

    def stats(self) -> SchedulerStats: ...
    def snapshot(self) -> bytes:
        """The whole state (MessagePack). It covers every journal event recorded so far:
        once it is stored, older journal chunks may be deleted."""

    def drain_journal(self) -> bytes:
        """The events recorded since the last drain as one chunk (``b""`` if none, or if
        the scheduler was built without ``journal=True``). A change is durable once the
        chunk holding it is stored.

        Raises:
            SnapshotError: an event could not be encoded (the journal then has a gap and
                a fresh snapshot is needed).
        """

_T = TypeVar("_T")

_D = TypeVar("_D")

_Key = str | bytes | int

class CacheRecursionError(DwcCoreError):
    """A ``get_or_compute`` function asked its own cache for the key it is computing
    (on the same thread). Waiting for itself would never end, so this is raised instead."""

class CacheCorruptionError(DwcCoreError):
    """A compressed cache value could not be decompressed (should never happen)."""

@final
class Cache:
    """A thread-safe in-memory cache with a weight budget, built on moka.

    Policy (moka's): TinyLFU admission with an LRU eviction window, so a burst of
    one-off keys cannot flush the frequently used ones. A consequence: when the cache is
    full, a ``set`` of a new, rarely seen key may be refused admission, and a ``get``
    right after it can miss. Expiry: cache-wide ``ttl`` (from the last write) and
    ``tti`` (from the last read or write), plus a per-entry ``ttl`` given to ``set``; the
    earliest wins.

    Keys are ``str``, ``bytes`` or ``int``. The three kinds never collide (``"1"``,
    ``b"1"`` and ``1`` are three keys); ``True``/``False`` are the ints 1 and 0, as in a
    ``dict``. A ``str`` key with a lone surrogate (not encodable as UTF-8) raises
    ``UnicodeEncodeError``. Values are any Python object, stored by reference (not copied). A ``bytes``
    value of ``compress_threshold`` bytes or more is stored LZ4-compressed when that saves
    at least an eighth of it; ``get`` then returns an equal, new ``bytes`` object.

    Weights (what ``max_weight`` bounds) are computed on the caller's thread before the
    insert, never inside the cache (docs/adr/0002-cache-weighing-outside-moka.md):
    ``bytes`` weigh their stored length, anything else the ``weight`` given to ``set`` or
    else ``weigher(value)``, which defaults to ``sys.getsizeof`` (shallow: a list weighs
    its pointers, not its items; pass ``weight=`` for containers). Weights are ints in
    ``0..2**32-1``.

    Counts such as ``stats().entries``, ``weighted_size``, ``len()`` and the removal
    counters are approximate until pending maintenance runs: moka batches it and runs it
    during later calls, or now with ``run_pending_tasks()``. Lookups themselves are exact:
    a deleted or expired key is never returned.

    Thread-safe; calls other than ``get_or_compute``'s wait hold the GIL only briefly.
    The cache does not take part in cyclic garbage collection: a value that refers back
    to its cache keeps both alive until it is deleted or the cache is cleared.
    """

    def __init__(
        self,
        max_weight: int,
        *,
        ttl: float | None = None,
        tti: float | None = None,
        compress_threshold: int | None = 16384,
        weigher: Callable[[Any], int] | None = None,
    ) -> None:
        """
        Arguments:
            max_weight: the budget, in weight units (bytes for the agent, which passes
                its device profile's cache budget). Must be > 0.
            ttl, tti: cache-wide time-to-live and time-to-idle in seconds, or None.
            compress_threshold: bytes values at least this long are compressed; None
                turns compression off.
            weigher: weighs non-bytes values given without ``weight=``; called on the
                caller's thread, must return an int.

        Raises:
            ValueError: ``max_weight`` is 0, ``ttl``/``tti`` is not a finite number of
                seconds in (0, 100 years], or ``compress_threshold`` is 0.
            OverflowError: ``max_weight`` is negative or over 2**64-1.
            TypeError: ``weigher`` is not callable.
        """

    @property
    def max_weight(self) -> int: ...
    @property
    def compress_threshold(self) -> int | None: ...
    @overload
    def get(self, key: _Key) -> Any | None:
        """The value under ``key`` or ``default``; counted as a hit or a miss.

        Raises:
            TypeError: ``key`` is not str, bytes or int.
        """

    @overload
    def get(self, key: _Key, default: _D) -> Any | _D: ...
    def set(
        self, key: _Key, value: object, ttl: float | None = None, weight: int | None = None
    ) -> None:
        """Insert or replace. ``ttl`` (seconds) applies to this entry only and replaces
        any per-entry TTL the key had; ``None`` leaves only the cache-wide limits. An entry
        heavier than ``max_weight`` is evicted at once.

        Raises:
            ValueError: ``ttl`` is not a finite number of seconds in (0, 100 years], or
                ``weight`` (or the weigher's result) is negative or over 2**32-1.
            TypeError: ``key`` is not str, bytes or int; ``weight`` is not an int.
            Exception: whatever the weigher raises.
        """

    def delete(self, key: _Key) -> bool:
        """Remove ``key``; True if it was present."""

    def contains(self, key: _Key) -> bool:
        """Whether ``key`` is present. Not a read: no hit/miss, no effect on the policy."""

    def __contains__(self, key: _Key, /) -> bool: ...
    def get_or_compute(
        self,
        key: _Key,
        func: Callable[[], _T],
        ttl: float | None = None,
        weight: int | None = None,
    ) -> _T:
        """The value under ``key``; on a miss, ``func()`` is called, its result stored (as
        ``set(key, result, ttl, weight)`` would) and returned.

        Single-flight: when several threads miss the same key at once, ``func`` runs in
        one of them and the others wait (with the GIL released) and get its result. If
        ``func`` raises, nothing is stored and every waiting caller gets that exception.
        The caller that ran ``func`` counts a miss, the others a hit.

        ``func`` must not call ``get_or_compute`` for the same key on this cache: that
        raises ``CacheRecursionError``. Two threads whose functions need each other's keys
        deadlock, as with any pair of locks.

        Raises:
            CacheRecursionError: ``func`` asked for its own key.
            ValueError, TypeError: as ``set``.
            Exception: whatever ``func`` raises.
        """

    def clear(self) -> None:
        """Remove every entry and run pending maintenance (stats are exact afterwards)."""

    def keys(self) -> list[_Key]:
        """The keys present now, in no particular order (a snapshot). Ints outside the
        64-bit range come back as equal ints."""

    def stats(self) -> CacheStats:
        """Counters and sizes now (approximate until ``run_pending_tasks``)."""

    def run_pending_tasks(self) -> None:
        """Run moka's pending maintenance now (evictions, expirations, counters), with
        the GIL released."""

    def __len__(self) -> int:
        """Entries, approximate until ``run_pending_tasks`` (same as ``stats().entries``)."""

@final
class CacheStats:
    """A snapshot of ``Cache.stats()``. Export ``as_dict()`` as metrics."""

    @property
    def hits(self) -> int: ...
    @property
    def misses(self) -> int: ...
    @property
    def evicted_size(self) -> int:
        """Evicted to stay under ``max_weight``, including entries refused admission."""

    @property
    def evicted_expired(self) -> int:
        """Removed because ``ttl``, ``tti`` or a per-entry TTL passed. Per-entry expiry is
        processed on a timer wheel with about one second's resolution, so this count can
        trail the (exact) lookups by a second or so."""

    @property
    def removed_explicit(self) -> int:
        """Removed by ``delete`` or ``clear``."""

    @property
    def replaced(self) -> int:
        """Overwritten by a ``set`` of a key already present."""

    @property
    def weighted_size(self) -> int: ...
    @property
    def entries(self) -> int: ...
    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses); 0.0 before the first lookup."""

    def as_dict(self) -> dict[str, int]:
        """The eight counters (not ``hit_ratio``) by name."""

@final
class MerkleTree:
    """A Merkle tree over 32-byte leaves, compatible with OpenZeppelin's ``MerkleProof``.

    A parent is ``keccak256(min(a, b) + max(a, b))`` (sorted pair), so the proofs verify
    on-chain with ``MerkleProof.verify(proof, root, leaf)``. The layout is the complete
    binary tree of ``@openzeppelin/merkle-tree`` (``SimpleMerkleTree.of(leaves,
    {sortLeaves: false})`` gives the same root): every internal node has two children, so
    no lone node is ever promoted or duplicated; proofs are ``floor(log2 n)`` or
    ``ceil(log2 n)`` hashes long. One leaf: the root is the leaf, its proof is empty.
    Leaves keep the order given; make them with ``keccak256(data)``. Never use 64 bytes of
    raw data as a leaf's preimage in a contract: an inner node is the keccak256 of 64
    bytes, so such a leaf could pose as a node (OpenZeppelin's StandardMerkleTree hashes
    leaf data twice for this reason).

    Immutable and thread-safe. Trees of 1024 leaves or more are built in parallel with
    the GIL released.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        """
        Raises:
            ValueError: no leaves, or a leaf is not exactly 32 bytes (the message names
                its index).
            TypeError: a leaf is not ``bytes``, or ``leaves`` is a single bytes object.
        """

    @property
    def root(self) -> bytes:
        """The 32-byte root."""

    @property
    def root_hex(self) -> str:
        """The root as ``0x`` and 64 lower-case hex digits."""

    def __len__(self) -> int:
        """Number of leaves."""

    def leaf(self, index: int) -> bytes:
        """Leaf ``index`` (negative counts from the end). Raises IndexError."""

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf ``index`` up to the root's child: the ``bytes32[]``
        that ``MerkleProof.verify`` takes. Raises IndexError."""

    def proofs(self) -> list[list[bytes]]:
        """Every leaf's proof, in leaf order (equal to ``[proof(i) for i in range(n)]``;
        the lists share their ``bytes`` objects)."""

    def proof_json(self, index: int) -> str:
        """Leaf ``index``'s proof in DWC's stable JSON form, one line in this key order:
        ``{"format":"dwc-merkle-proof/1","leaf_count":N,"index":I,"leaf":"0x…",
        "proof":["0x…",…],"root":"0x…"}`` with lower-case hex. The same proof always
        gives the same string. Raises IndexError."""

def verify_proof(leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` leads from ``leaf`` to ``root`` with sorted-pair keccak256
    (what OpenZeppelin's ``MerkleProof.verify`` computes). A wrong proof is ``False``.

    Raises:
        ValueError: ``leaf``, ``root`` or a proof node is not exactly 32 bytes, or the
            proof has more than 32 nodes (no tree of up to 2**32 leaves needs more).
        TypeError: an argument is not bytes (or a sequence of bytes for ``proof``).
    """

def verify_proof_json(proof_json: str, root: bytes) -> bool:
    """Whether a proof made by ``MerkleTree.proof_json`` verifies and its root is
    ``root`` (the one you trust, for example the anchored one).

    Raises:
        ValueError: malformed JSON, unknown keys, another ``format``, hex that is not 32
            bytes, ``index`` outside ``leaf_count``, or a proof whose length does not fit
            that leaf's place in a tree of ``leaf_count`` leaves.
    """
