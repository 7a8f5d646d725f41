"""dwc_core.Cache: the Python-facing contract (keys, values, weights, expiry,
single-flight, stats, thread safety, bad arguments)."""

from __future__ import annotations

import gc
import os
import random
import sys
import threading
import time
import weakref
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwc_core import Cache, CacheRecursionError, CacheStats


def wait_until(predicate: Callable[[], bool], cache: Cache, timeout: float = 5.0) -> bool:
    """Poll, running maintenance, until ``predicate()`` holds (moka counts removals lazily)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cache.run_pending_tasks()
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# -- keys and values ------------------------------------------------------------------


def test_get_set_delete_contains() -> None:
    c = Cache(1 << 20)
    assert c.get("a") is None
    assert c.get("a", "fallback") == "fallback"
    value = {"label": "invoice"}
    c.set("a", value)
    assert c.get("a") is value  # stored by reference, not copied
    assert c.contains("a")
    assert "a" in c
    assert c.delete("a") is True
    assert c.delete("a") is False
    assert "a" not in c
    assert c.get("a") is None


def test_key_kinds_are_distinct_like_a_dict() -> None:
    c = Cache(1 << 20)
    c.set("1", "str")
    c.set(b"1", "bytes")
    c.set(1, "int")
    assert (c.get("1"), c.get(b"1"), c.get(1)) == ("str", "bytes", "int")
    assert c.get(True) == "int"  # True == 1, as in a dict
    c.set(False, "zero")
    assert c.get(0) == "zero"


@pytest.mark.parametrize(
    "key", [0, -1, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 10**40, -(10**40)]
)
def test_int_keys_of_any_size_round_trip(key: int) -> None:
    c = Cache(1 << 20)
    c.set(key, "v")
    assert c.get(key) == "v"
    assert c.get(str(key)) is None
    c.run_pending_tasks()
    assert c.keys() == [key]
    assert type(c.keys()[0]) is int


def test_keys_snapshot() -> None:
    c = Cache(1 << 20)
    keys = ["doc", b"\x00\xff", 7, "ünïcode", ""]
    for k in keys:
        c.set(k, 1)
    assert sorted(map(repr, c.keys())) == sorted(map(repr, keys))


@pytest.mark.parametrize("key", [1.5, None, (1, 2), ["a"], bytearray(b"x"), object()])
def test_unsupported_keys_are_type_errors(key: object) -> None:
    c = Cache(100)
    for call in (
        lambda: c.get(key),  # type: ignore[arg-type]
        lambda: c.set(key, 1),  # type: ignore[arg-type]
        lambda: c.delete(key),  # type: ignore[arg-type]
        lambda: c.contains(key),  # type: ignore[arg-type]
        lambda: c.get_or_compute(key, lambda: 1),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match="cache keys must be str, bytes or int"):
            call()


def test_str_keys_must_be_utf8_encodable() -> None:
    c = Cache(100)
    with pytest.raises(UnicodeEncodeError):
        c.set("lone surrogate \ud800", 1)
    assert c.keys() == []


# -- bytes, compression and weights ---------------------------------------------------


def test_large_compressible_bytes_are_stored_compressed() -> None:
    c = Cache(1 << 30, compress_threshold=1024)
    value = b'{"label": "invoice", "score": 0.97} ' * 2000
    c.set("k", value)
    out = c.get("k")
    assert out == value
    assert out is not value  # rebuilt from the compressed copy
    c.run_pending_tasks()
    assert 0 < c.stats().weighted_size < len(value) // 4


def test_small_or_incompressible_bytes_are_kept_as_given() -> None:
    c = Cache(1 << 30, compress_threshold=1024)
    small = b"x" * 1023
    noise = random.Random(0).randbytes(64 * 1024)
    c.set("small", small)
    c.set("noise", noise)
    assert c.get("small") is small
    assert c.get("noise") is noise
    c.run_pending_tasks()
    assert c.stats().weighted_size == len(small) + len(noise)


def test_compression_can_be_turned_off() -> None:
    c = Cache(1 << 30, compress_threshold=None)
    value = b"a" * 100_000
    c.set("k", value)
    assert c.get("k") is value
    assert c.compress_threshold is None
    assert Cache(10).compress_threshold == 16384


def test_bytes_over_the_detach_threshold_round_trip() -> None:
    c = Cache(1 << 30)
    value = b"0123456789abcdef" * 65536  # 1 MiB, compressed and decompressed detached
    c.set("big", value)
    assert c.get("big") == value


def test_weights_explicit_weigher_and_getsizeof() -> None:
    c = Cache(1 << 20)
    c.set("explicit", [1, 2, 3], weight=500)
    c.set("bytes", b"12345")
    c.set("sized", "abc")
    c.run_pending_tasks()
    assert c.stats().weighted_size == 500 + 5 + sys.getsizeof("abc")

    seen = []

    def weigher(value: object) -> int:
        seen.append(value)
        return 7

    w = Cache(1 << 20, weigher=weigher)
    w.set("a", "x")
    w.set("b", b"bytes are weighed by length")
    w.set("c", "y", weight=3)
    w.run_pending_tasks()
    assert seen == ["x"]
    assert w.stats().weighted_size == 7 + 27 + 3


def test_weight_budget_evicts_by_size() -> None:
    c = Cache(1000)
    for i in range(100):
        c.set(i, i, weight=100)
    c.run_pending_tasks()
    s = c.stats()
    assert s.weighted_size <= 1000
    assert s.entries <= 10
    assert s.evicted_size >= 90
    assert len(c) == s.entries


def test_entry_heavier_than_the_budget_is_evicted() -> None:
    c = Cache(100)
    c.set("huge", b"x" * 101)
    assert wait_until(lambda: c.stats().evicted_size == 1, c)
    assert c.get("huge") is None


@pytest.mark.parametrize(
    ("weight", "exc", "match"),
    [
        (-1, ValueError, "weight=-1 must be >= 0"),
        (2**32, ValueError, "over the largest weight"),
        (2**80, ValueError, "out of range"),
        (1.5, TypeError, "weight must be an int"),
        ("1", TypeError, "weight must be an int"),
    ],
)
def test_bad_weights(weight: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        Cache(100).set("k", "v", weight=weight)  # type: ignore[arg-type]


def test_bad_weigher_results() -> None:
    with pytest.raises(ValueError, match="weigher result=-3"):
        Cache(100, weigher=lambda v: -3).set("k", "v")
    with pytest.raises(TypeError, match="weigher result must be an int"):
        Cache(100, weigher=lambda v: "heavy").set("k", "v")

    def boom(value: object) -> int:
        raise RuntimeError("cannot weigh")

    c = Cache(100, weigher=boom)
    with pytest.raises(RuntimeError, match="cannot weigh"):
        c.set("k", "v")
    assert "k" not in c


# -- expiry ---------------------------------------------------------------------------


def test_per_entry_ttl() -> None:
    c = Cache(1 << 20)
    c.set("short", "s", ttl=0.05)
    c.set("long", "l")
    time.sleep(0.15)
    assert c.get("short") is None  # lookups are exact at once
    assert c.get("long") == "l"
    assert wait_until(lambda: c.stats().evicted_expired == 1, c)


def test_overwrite_replaces_the_per_entry_ttl() -> None:
    c = Cache(1 << 20)
    c.set("k", "v1", ttl=0.05)
    c.set("k", "v2")
    time.sleep(0.15)
    assert c.get("k") == "v2"
    c.run_pending_tasks()
    assert c.stats().replaced == 1


def test_cache_wide_ttl_and_tti() -> None:
    ttl = Cache(1 << 20, ttl=0.05)
    ttl.set("k", "v")
    tti = Cache(1 << 20, tti=0.15)
    tti.set("read", "v")
    tti.set("idle", "v")
    for _ in range(4):
        time.sleep(0.05)
        assert tti.get("read") == "v"  # each read restarts its idle clock
    assert ttl.get("k") is None
    assert tti.get("idle") is None


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 1e12])
def test_bad_durations(bad: float) -> None:
    for kwargs in ({"ttl": bad}, {"tti": bad}):
        with pytest.raises(ValueError, match="finite number of seconds"):
            Cache(100, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl must be a finite number"):
        Cache(100).set("k", "v", ttl=bad)
    with pytest.raises(ValueError, match="ttl must be a finite number"):
        Cache(100).get_or_compute("k", lambda: 1, ttl=bad)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="max_weight must be > 0"):
        Cache(0)
    with pytest.raises(OverflowError):
        Cache(-1)
    with pytest.raises(ValueError, match="compress_threshold must be > 0"):
        Cache(100, compress_threshold=0)
    with pytest.raises(TypeError, match="weigher must be callable"):
        Cache(100, weigher=42)  # type: ignore[arg-type]


# -- get_or_compute -------------------------------------------------------------------


def test_get_or_compute_computes_once_and_caches() -> None:
    c = Cache(1 << 20)
    calls = []

    def compute() -> str:
        calls.append(1)
        return "value"

    assert c.get_or_compute("k", compute) == "value"
    assert c.get_or_compute("k", compute) == "value"
    assert len(calls) == 1
    s = c.stats()
    assert (s.misses, s.hits) == (1, 1)


def test_get_or_compute_passes_ttl_and_weight() -> None:
    c = Cache(1 << 20)
    c.get_or_compute("k", lambda: [1, 2], ttl=0.05, weight=123)
    c.run_pending_tasks()
    assert c.stats().weighted_size == 123
    time.sleep(0.15)
    assert c.get("k") is None


def test_get_or_compute_errors_propagate_and_are_not_cached() -> None:
    c = Cache(1 << 20)

    def fail() -> str:
        raise KeyError("upstream down")

    with pytest.raises(KeyError, match="upstream down"):
        c.get_or_compute("k", fail)
    assert "k" not in c
    assert c.get_or_compute("k", lambda: "ok") == "ok"


def test_single_flight_under_threads() -> None:
    c = Cache(1 << 20)
    calls = []
    barrier = threading.Barrier(8)
    results: list[object] = []
    lock = threading.Lock()

    def compute() -> object:
        calls.append(threading.get_ident())
        time.sleep(0.2)  # long enough for every thread to arrive and wait
        return object()

    def worker() -> None:
        barrier.wait()
        value = c.get_or_compute("shared", compute)
        with lock:
            results.append(value)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(calls) == 1
    assert len(results) == 8
    assert all(r is results[0] for r in results)
    s = c.stats()
    assert (s.misses, s.hits) == (1, 7)


def test_single_flight_shares_the_error() -> None:
    c = Cache(1 << 20)
    calls = []
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def compute() -> object:
        calls.append(1)
        time.sleep(0.2)
        raise ValueError("bad document")

    def worker() -> None:
        barrier.wait()
        try:
            c.get_or_compute("k", compute)
        except ValueError as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(calls) == 1
    assert len(errors) == 4
    assert all(str(e) == "bad document" for e in errors)


def test_recursion_into_the_same_key_raises() -> None:
    c = Cache(1 << 20)
    with pytest.raises(CacheRecursionError, match="already running on this thread"):
        c.get_or_compute("k", lambda: c.get_or_compute("k", lambda: 1))
    assert "k" not in c
    # Another key inside is fine, and the cache is usable afterwards.
    assert c.get_or_compute("a", lambda: c.get_or_compute("b", lambda: 2) + 1) == 3
    assert c.get_or_compute("k", lambda: 5) == 5


def test_other_threads_run_python_while_one_waits() -> None:
    """A waiter releases the GIL: the computing thread's Python keeps running."""
    c = Cache(1 << 20)
    started = threading.Event()

    def compute() -> int:
        started.set()
        return sum(range(200_000))  # pure Python, needs the GIL

    def waiter() -> None:
        started.wait(5)
        assert c.get_or_compute("k", compute) == sum(range(200_000))

    t = threading.Thread(target=waiter)
    t.start()
    assert c.get_or_compute("k", compute) == sum(range(200_000))
    t.join(timeout=30)
    assert not t.is_alive()


# -- clear, stats, memory -------------------------------------------------------------


def test_clear_and_stats() -> None:
    c = Cache(1 << 20)
    for i in range(10):
        c.set(i, str(i), weight=1)
    c.get(0)
    c.get(99)
    c.clear()
    s = c.stats()
    assert isinstance(s, CacheStats)
    assert (s.entries, s.weighted_size, s.removed_explicit) == (0, 0, 10)
    assert (s.hits, s.misses) == (1, 1)
    assert s.hit_ratio == 0.5
    assert c.keys() == []
    assert s.as_dict() == {
        "hits": 1,
        "misses": 1,
        "evicted_size": 0,
        "evicted_expired": 0,
        "removed_explicit": 10,
        "replaced": 0,
        "weighted_size": 0,
        "entries": 0,
    }
    assert "hits=1" in repr(s)
    assert Cache(1).stats().hit_ratio == 0.0
    assert "max_weight=1048576" in repr(c)


def test_values_are_released_after_removal() -> None:
    class Value:
        pass

    c = Cache(1 << 20)
    v = Value()
    ref = weakref.ref(v)
    c.set("k", v)
    del v
    assert ref() is not None
    c.delete("k")
    assert wait_until(lambda: ref() is None, c)


def test_values_are_released_with_the_cache() -> None:
    class Value:
        pass

    c = Cache(1 << 20)
    v = Value()
    ref = weakref.ref(v)
    c.set("k", v)
    del v, c
    gc.collect()
    assert ref() is None


def test_a_dying_value_may_use_the_cache() -> None:
    """__del__ of an evicted value runs outside moka's maintenance, so it can re-enter."""
    c = Cache(1 << 20)

    class Reentrant:
        def __del__(self) -> None:
            c.set("from-del", c.get("other", 0) + 1)

    c.set("k", Reentrant())
    c.delete("k")
    assert wait_until(lambda: c.get("from-del") == 1, c)


def test_concurrent_mixed_operations() -> None:
    c = Cache(5000)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(3000):
                k = rng.randrange(200)
                op = rng.random()
                if op < 0.5:
                    v = c.get(k)
                    assert v is None or v == k
                elif op < 0.8:
                    c.set(k, k, weight=rng.randrange(1, 50))
                elif op < 0.9:
                    c.delete(k)
                else:
                    assert c.get_or_compute(k, lambda k=k: k) == k
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    c.run_pending_tasks()
    assert c.stats().weighted_size <= 5000


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["set", "get", "delete", "contains", "compute"]),
            st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", b"a", b""])),
            st.integers(0, 100),
        ),
        max_size=60,
    )
)
def test_behaves_like_a_dict_when_nothing_is_evicted(
    ops: list[tuple[str, int | str | bytes, int]],
) -> None:
    c = Cache(1 << 40)
    model: dict[object, int] = {}
    for op, key, value in ops:
        if op == "set":
            c.set(key, value)
            model[key] = value
        elif op == "get":
            assert c.get(key) == model.get(key)
        elif op == "delete":
            assert c.delete(key) == (key in model)
            model.pop(key, None)
        elif op == "contains":
            assert c.contains(key) == (key in model)
        else:
            assert c.get_or_compute(key, lambda value=value: value) == model.setdefault(key, value)
    c.run_pending_tasks()
    assert sorted(map(repr, c.keys())) == sorted(map(repr, model))
    assert len(c) == len(model)


@pytest.mark.slow
def test_many_threads_hammering_one_key() -> None:
    c = Cache(1 << 20)
    calls = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.05)
        return os.getpid()

    def worker() -> None:
        for _ in range(200):
            assert c.get_or_compute("k", compute) == os.getpid()
            if random.random() < 0.05:
                c.delete("k")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert calls
