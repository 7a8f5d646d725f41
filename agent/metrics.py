"""Prometheus text exposition (format 0.0.4) without a client library: the agent's
metrics are a handful of gauges and counters read at scrape time."""

from __future__ import annotations

from collections.abc import Iterable


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(10), " ").replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + body + "}"


class Metrics:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def _family(
        self, kind: str, name: str, help_: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(labels)} {value}")

    def gauge(self, name: str, help_: str, samples: Iterable[tuple[dict[str, str], float]]) -> None:
        self._family("gauge", name, help_, samples)

    def counter(
        self, name: str, help_: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        self._family("counter", name, help_, samples)

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"
