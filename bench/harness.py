"""Shared pieces of the benchmarks: the result row, timing, the table and the JSON file."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Row:
    """One measured figure of DWC next to the same figure of its peer, from the same run.

    ``ratio`` is ``value / peer_value``; whether higher is better follows from ``metric``
    (throughput: higher; latency: lower). ``target`` is the ratio DWC aims for, or a
    physical limit where one applies (stated in ``unit``).
    """

    name: str
    metric: str
    value: float
    peer: str
    peer_value: float
    target: float | None
    unit: str

    @property
    def ratio(self) -> float:
        return self.value / self.peer_value if self.peer_value else float("inf")

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["ratio"] = round(self.ratio, 4)
        return d


def best_of(fn: Callable[[], object], *, repeat: int = 5, number: int = 1) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` rounds of ``number`` calls.

    The median (not the minimum) is reported so a figure reflects a typical run on a
    shared 2-core machine.
    """
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def print_table(title: str, rows: list[Row]) -> None:
    header = ("name", "metric", "dwc", "peer", "peer value", "ratio", "target", "unit")
    body = [
        (
            r.name,
            r.metric,
            f"{r.value:,.4g}",
            r.peer,
            f"{r.peer_value:,.4g}",
            f"{r.ratio:.2f}x",
            "-" if r.target is None else f"{r.target:g}",
            r.unit,
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    print(f"\n== bench {title} ==")
    for line in (header, *body):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))


def write_results(name: str, rows: list[Row]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps([r.to_json() for r in rows], indent=2) + "\n")
    return path
