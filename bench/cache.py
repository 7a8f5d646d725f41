"""dwc_core.Cache against the caches a Python user would reach for instead.

Two parts, each with its peers in the same run:

* Throughput through Python (ops/s) of get-hit, get-miss and set, against
  ``functools.lru_cache``, cachetools' ``LRUCache`` and ``TTLCache``, and two Rust-backed
  caches from PyPI: ``moka-py`` (the same moka engine) and ``cachebox``. Keys look like
  DWC content ids (``b3:`` + 64 hex digits), the agent's most common key. Implementations
  are measured in interleaved rounds and the median round is reported, so a burst of load
  on the shared machine hits every implementation alike.
* Hit ratio of a get-then-set-on-miss loop on three traces (Zipf 0.8, Zipf 1.0, and
  Zipf 1.0 polluted by scans of one-off keys), against an LRU of the same capacity and
  Belady's optimal policy computed offline (the upper limit of any cache): the textbook
  MIN, which admits every miss, and MIN with bypass, which may also refuse a newcomer
  (the true limit for an admission-controlled cache such as TinyLFU).

Every entry weighs 1 in the hit-ratio runs, so ``max_weight`` is an entry count and the
comparison with LRU and OPT is like for like.
"""

from __future__ import annotations

import collections
import functools
import heapq
import statistics
import time
from collections.abc import Callable, Sequence

import cachebox
import cachetools
import moka_py
import numpy as np

from bench.harness import Row
from dwc_core import Cache

GET_HIT_TARGET = 2.0  # issue 4: get-hit >= 2x cachetools


def _keys(n: int, salt: str = "") -> list[str]:
    return [f"b3:{salt}{i:0{64 - len(salt)}x}" for i in range(n)]


def _consume(it: object) -> None:
    collections.deque(it, maxlen=0)  # type: ignore[call-overload]


def _interleaved(cases: dict[str, Callable[[], None]], ops: int, rounds: int) -> dict[str, float]:
    """Median ops/s of each case, the cases run in turn within every round."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(ops / (time.perf_counter() - t0))
    return {name: statistics.median(v) for name, v in samples.items()}


def throughput(quick: bool) -> list[Row]:
    n = 20_000 if quick else 100_000
    rounds = 5 if quick else 9
    present = _keys(n)
    absent = _keys(n, salt="ff")
    values = [object() for _ in range(n)]
    capacity = 2 * n

    dwc = Cache(1 << 40)
    ct_lru: cachetools.LRUCache[str, object] = cachetools.LRUCache(maxsize=capacity)
    ct_ttl: cachetools.TTLCache[str, object] = cachetools.TTLCache(maxsize=capacity, ttl=3600)
    moka: moka_py.Moka[str, object] = moka_py.Moka(capacity)
    cbox: cachebox.LRUCache[str, object] = cachebox.LRUCache(capacity)
    for k, v in zip(present, values, strict=True):
        dwc.set(k, v)
        ct_lru[k] = v
        ct_ttl[k] = v
        moka.set(k, v)
        cbox.insert(k, v)
    dwc.run_pending_tasks()

    lookup = dict(zip(present, values, strict=True))

    @functools.lru_cache(maxsize=capacity)
    def lru_fn(key: str) -> object:
        return lookup.get(key)

    _consume(map(lru_fn, present))

    get_hit = {
        "dwc": lambda: _consume(map(dwc.get, present)),
        "functools.lru_cache": lambda: _consume(map(lru_fn, present)),
        "cachetools.LRUCache": lambda: _consume(map(ct_lru.get, present)),
        "cachetools.TTLCache": lambda: _consume(map(ct_ttl.get, present)),
        "moka-py": lambda: _consume(map(moka.get, present)),
        "cachebox.LRUCache": lambda: _consume(map(cbox.get, present)),
    }
    get_miss = {
        "dwc": lambda: _consume(map(dwc.get, absent)),
        "cachetools.LRUCache": lambda: _consume(map(ct_lru.get, absent)),
        "cachetools.TTLCache": lambda: _consume(map(ct_ttl.get, absent)),
        "moka-py": lambda: _consume(map(moka.get, absent)),
        "cachebox.LRUCache": lambda: _consume(map(cbox.get, absent)),
    }
    # Overwrites of present keys, so no implementation evicts during the timing.
    dwc_set = dwc.set
    set_ops = {
        "dwc": lambda: _consume(map(dwc_set, present, values)),
        "cachetools.LRUCache": lambda: _consume(map(ct_lru.__setitem__, present, values)),
        "cachetools.TTLCache": lambda: _consume(map(ct_ttl.__setitem__, present, values)),
        "moka-py": lambda: _consume(map(moka.set, present, values)),
        "cachebox.LRUCache": lambda: _consume(map(cbox.insert, present, values)),
    }

    rows: list[Row] = []
    for op, cases in (("get-hit", get_hit), ("get-miss", get_miss), ("set", set_ops)):
        result = _interleaved(cases, n, rounds)
        for peer, peer_value in result.items():
            if peer == "dwc":
                continue
            target = GET_HIT_TARGET if op == "get-hit" and peer.startswith("cachetools") else None
            rows.append(Row(op, "ops/s", result["dwc"], peer, peer_value, target, "ops/s"))
    return rows


# -- hit ratio ------------------------------------------------------------------------


def zipf_trace(rng: np.random.Generator, n_keys: int, length: int, s: float) -> np.ndarray:
    """``length`` draws from a Zipf(s) law over ``n_keys`` keys (rank r has weight r**-s),
    the ranks shuffled onto key ids."""
    weights = np.arange(1, n_keys + 1, dtype=np.float64) ** -s
    ranks = rng.choice(n_keys, size=length, p=weights / weights.sum())
    return rng.permutation(n_keys)[ranks]


def scan_trace(rng: np.random.Generator, n_keys: int, length: int) -> np.ndarray:
    """Zipf(1.0) traffic where every 20,000 requests a scan of 5,000 one-off keys (ids
    above ``n_keys``) passes through: a backup, a re-index, a crawler."""
    base = zipf_trace(rng, n_keys, length, 1.0)
    out: list[np.ndarray] = []
    next_scan_id = n_keys
    for start in range(0, length, 20_000):
        out.append(base[start : start + 20_000])
        out.append(np.arange(next_scan_id, next_scan_id + 5_000))
        next_scan_id += 5_000
    return np.concatenate(out)


def hit_ratio_dwc(trace: Sequence[int], capacity: int) -> float:
    cache = Cache(capacity, compress_threshold=None)
    get, put = cache.get, cache.set
    hits = 0
    for key in trace:
        if get(key) is None:
            put(key, True, None, 1)
        else:
            hits += 1
    return hits / len(trace)


def hit_ratio_lru(trace: Sequence[int], capacity: int) -> float:
    cache: collections.OrderedDict[int, bool] = collections.OrderedDict()
    hits = 0
    for key in trace:
        if key in cache:
            cache.move_to_end(key)
            hits += 1
        else:
            cache[key] = True
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / len(trace)


def hit_ratio_belady(trace: Sequence[int], capacity: int, *, bypass: bool = True) -> float:
    """Belady's MIN: on a miss with a full cache, evict the key used furthest in the
    future. With ``bypass`` (the true optimum for a cache that may refuse admission, as
    TinyLFU does) a newcomer whose next use is furthest is not admitted at all; without
    it, this is the textbook MIN that admits every miss."""
    n = len(trace)
    next_use = [n] * n
    last: dict[int, int] = {}
    for i in range(n - 1, -1, -1):
        next_use[i] = last.get(trace[i], n)
        last[trace[i]] = i
    cached: dict[int, int] = {}  # key -> its next use
    heap: list[tuple[int, int]] = []  # (-next use, key), stale entries skipped
    hits = 0
    for i, key in enumerate(trace):
        nxt = next_use[i]
        if key in cached:
            hits += 1
        elif len(cached) >= capacity:
            while True:
                neg, victim = heap[0]
                if cached.get(victim) == -neg:
                    break
                heapq.heappop(heap)
            if bypass and -neg <= nxt:  # the newcomer is needed last: don't admit it
                continue
            heapq.heappop(heap)
            del cached[victim]
        cached[key] = nxt
        heapq.heappush(heap, (-nxt, key))
    return hits / n


def hit_ratios(quick: bool) -> list[Row]:
    n_keys = 100_000
    length = 200_000 if quick else 1_000_000
    capacity = 2_000
    rng = np.random.default_rng(20260401)
    traces = {
        "zipf-0.8": zipf_trace(rng, n_keys, length, 0.8),
        "zipf-1.0": zipf_trace(rng, n_keys, length, 1.0),
        "zipf-1.0+scans": scan_trace(rng, n_keys, length),
    }
    rows: list[Row] = []
    for name, array in traces.items():
        trace = array.tolist()
        dwc = hit_ratio_dwc(trace, capacity)
        lru = hit_ratio_lru(trace, capacity)
        opt = hit_ratio_belady(trace, capacity)
        textbook = hit_ratio_belady(trace, capacity, bypass=False)
        unit = f"hit ratio, {capacity} of {n_keys} keys, {len(trace):,} requests"
        rows.append(Row(f"hit ratio {name}", "hit ratio", dwc, "LRU", lru, 1.0, unit))
        rows.append(Row(f"hit ratio {name}", "hit ratio", dwc, "Belady MIN", textbook, None, unit))
        rows.append(
            Row(f"hit ratio {name}", "hit ratio", dwc, "Belady OPT, bypass", opt, None, unit)
        )
    return rows


def run(quick: bool) -> list[Row]:
    return throughput(quick) + hit_ratios(quick)
