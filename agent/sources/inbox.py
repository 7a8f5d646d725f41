"""The watched inbox folder.

A file is *claimed* by an atomic rename into ``processing/`` (so two scanners never take
the same file and a half-claimed file does not exist), and leaves ``processing/`` only
after its result is committed: to ``done/``, or to ``failed/`` with a ``.error`` file
saying why. Nothing is deleted.

Writers should write elsewhere and rename into the inbox; for those that don't, a file
is only claimed once its size and mtime have been stable for ``settle_seconds``.
Hidden files (``.name``) and names ending in ``.tmp``/``.part`` are never claimed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from agent.errors import DataDirError
from agent.protocol import new_id

_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")
CLAIM_SEP = "__"


@dataclass(frozen=True)
class Folders:
    inbox: Path
    processing: Path
    done: Path
    failed: Path

    @classmethod
    def under(cls, data_dir: Path, inbox: Path) -> Folders:
        return cls(inbox, data_dir / "processing", data_dir / "done", data_dir / "failed")

    def create(self) -> None:
        for d in (self.inbox, self.processing, self.done, self.failed):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise DataDirError(f"{d}: exists and is not a directory") from None
            except OSError as e:
                raise DataDirError(f"{d}: cannot create: {e.strerror}") from None
            if not os.access(d, os.R_OK | os.W_OK | os.X_OK):
                raise DataDirError(f"{d}: not readable and writable")


def original_name(claimed: Path) -> str:
    """The file's name as it arrived, from its claimed name ``<id>__<name>``."""
    _, _, name = claimed.name.partition(CLAIM_SEP)
    return name or claimed.name


class InboxScanner:
    def __init__(self, folders: Folders, *, settle_seconds: float) -> None:
        self.folders = folders
        self.settle_seconds = settle_seconds
        self._seen: dict[str, tuple[int, int, float]] = {}

    def scan(self, limit: int) -> list[Path]:
        """Claim up to ``limit`` settled files; returns their paths in ``processing/``."""
        claimed: list[Path] = []
        now = time.monotonic()
        seen_now: dict[str, tuple[int, int, float]] = {}
        try:
            entries = sorted(os.scandir(self.folders.inbox), key=lambda e: e.name)
        except OSError:
            return []
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name.lower().endswith(_IGNORED_SUFFIXES):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            sig = (st.st_size, st.st_mtime_ns)
            prev = self._seen.get(name)
            first_seen = prev[2] if prev and prev[:2] == sig else now
            seen_now[name] = (*sig, first_seen)
            if now - first_seen < self.settle_seconds or len(claimed) >= limit:
                continue
            target = self.folders.processing / f"{new_id()}{CLAIM_SEP}{name}"
            try:
                os.rename(entry.path, target)
            except FileNotFoundError:
                continue  # taken by someone else, or removed by its writer
            seen_now.pop(name, None)
            claimed.append(target)
        self._seen = seen_now
        return claimed
