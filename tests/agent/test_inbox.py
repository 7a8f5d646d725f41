"""agent/sources/inbox.py: folders and the claiming scanner."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.errors import DataDirError
from agent.sources import inbox
from agent.sources.inbox import CLAIM_SEP, Folders, InboxScanner, original_name


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    f = Folders.under(tmp_path / "data", tmp_path / "in")
    f.create()
    return f


class FakeClock:
    """Stands in for the module's ``time`` so settling needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(inbox, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


def _drop(folders: Folders, name: str, data: bytes = b"hello") -> Path:
    path = folders.inbox / name
    path.write_bytes(data)
    return path


# --- folders ------------------------------------------------------------------------------
def test_folders_under(tmp_path: Path) -> None:
    f = Folders.under(tmp_path / "data", tmp_path / "in")
    assert f.inbox == tmp_path / "in"
    assert f.processing == tmp_path / "data" / "processing"
    assert f.done == tmp_path / "data" / "done"
    assert f.failed == tmp_path / "data" / "failed"


def test_folders_create_makes_every_folder_and_is_idempotent(tmp_path: Path) -> None:
    f = Folders.under(tmp_path / "a" / "data", tmp_path / "b" / "in")
    f.create()
    f.create()
    for d in (f.inbox, f.processing, f.done, f.failed):
        assert d.is_dir()


def test_folders_create_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "done").write_text("not a folder")
    f = Folders.under(tmp_path / "data", tmp_path / "in")
    with pytest.raises(DataDirError, match=r"done: exists and is not a directory$"):
        f.create()


def test_folders_create_refuses_a_file_as_parent(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    f = Folders.under(tmp_path / "data", tmp_path / "in")
    with pytest.raises(DataDirError) as info:
        f.create()
    assert "processing" in str(info.value)
    assert "\n" not in str(info.value)


# --- claiming ----------------------------------------------------------------------------
def test_scan_claims_into_processing(folders: Folders) -> None:
    _drop(folders, "b.txt", b"bbb")
    _drop(folders, "a report.md", b"aaa")
    scanner = InboxScanner(folders, settle_seconds=0)
    claimed = scanner.scan(limit=10)
    assert [original_name(p) for p in claimed] == ["a report.md", "b.txt"]  # by name
    for path in claimed:
        assert path.parent == folders.processing
        claim_id, sep, _ = path.name.partition(CLAIM_SEP)
        assert sep == CLAIM_SEP
        assert len(claim_id) == 26
        assert path.exists()
    assert claimed[1].read_bytes() == b"bbb"
    assert list(folders.inbox.iterdir()) == []
    assert scanner.scan(limit=10) == []


def test_claimed_names_are_unique_for_the_same_name(folders: Folders) -> None:
    scanner = InboxScanner(folders, settle_seconds=0)
    _drop(folders, "same.txt", b"1")
    (first,) = scanner.scan(limit=10)
    _drop(folders, "same.txt", b"2")
    (second,) = scanner.scan(limit=10)
    assert first != second
    assert first.read_bytes() == b"1"
    assert second.read_bytes() == b"2"


@pytest.mark.parametrize(
    ("claimed", "name"),
    [
        ("01HZX__report.txt", "report.txt"),
        ("01HZX__with__separator.txt", "with__separator.txt"),
        ("plain.txt", "plain.txt"),
        ("01HZX__", "01HZX__"),
    ],
)
def test_original_name(claimed: str, name: str) -> None:
    assert original_name(Path("/p") / claimed) == name


@pytest.mark.parametrize(
    "name",
    [".hidden", ".hidden.txt", "upload.part", "upload.TMP", "x.partial", "f.crdownload"],
)
def test_hidden_and_partial_files_are_never_claimed(folders: Folders, name: str) -> None:
    _drop(folders, name)
    scanner = InboxScanner(folders, settle_seconds=0)
    assert scanner.scan(limit=10) == []
    assert scanner.scan(limit=10) == []
    assert (folders.inbox / name).exists()


def test_directories_and_symlinks_are_ignored(folders: Folders, tmp_path: Path) -> None:
    (folders.inbox / "sub.txt").mkdir()
    (folders.inbox / "sub.txt" / "inner.txt").write_text("x")
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    (folders.inbox / "link.txt").symlink_to(outside)
    _drop(folders, "real.txt")
    claimed = InboxScanner(folders, settle_seconds=0).scan(limit=10)
    assert [original_name(p) for p in claimed] == ["real.txt"]
    assert (folders.inbox / "sub.txt" / "inner.txt").exists()
    assert (folders.inbox / "link.txt").is_symlink()


def test_limit_is_respected(folders: Folders) -> None:
    for i in range(5):
        _drop(folders, f"{i}.txt")
    scanner = InboxScanner(folders, settle_seconds=0)
    assert [original_name(p) for p in scanner.scan(limit=2)] == ["0.txt", "1.txt"]
    assert [original_name(p) for p in scanner.scan(limit=2)] == ["2.txt", "3.txt"]
    assert scanner.scan(limit=0) == []
    assert [original_name(p) for p in scanner.scan(limit=2)] == ["4.txt"]


def test_missing_inbox_scans_as_empty(tmp_path: Path) -> None:
    f = Folders.under(tmp_path / "data", tmp_path / "absent")
    assert InboxScanner(f, settle_seconds=0).scan(limit=10) == []


def test_file_removed_before_the_rename_is_skipped(
    folders: Folders, monkeypatch: pytest.MonkeyPatch
) -> None:
    _drop(folders, "a.txt")
    _drop(folders, "b.txt")
    real_rename = os.rename

    def racing_rename(src: str, dst: Path) -> None:
        if os.path.basename(src) == "a.txt":
            os.remove(src)  # its writer (or another scanner) took it first
        real_rename(src, dst)

    monkeypatch.setattr(inbox.os, "rename", racing_rename)
    claimed = InboxScanner(folders, settle_seconds=0).scan(limit=10)
    assert [original_name(p) for p in claimed] == ["b.txt"]
    assert list(folders.processing.iterdir()) == claimed


# --- settling ----------------------------------------------------------------------------
def test_a_file_is_claimed_only_once_settled(folders: Folders, clock: FakeClock) -> None:
    scanner = InboxScanner(folders, settle_seconds=5)
    _drop(folders, "a.txt")
    assert scanner.scan(limit=10) == []  # first seen now
    clock.now += 4.9
    assert scanner.scan(limit=10) == []
    clock.now += 0.1
    assert [original_name(p) for p in scanner.scan(limit=10)] == ["a.txt"]


def test_a_changing_file_restarts_its_settle_time(folders: Folders, clock: FakeClock) -> None:
    scanner = InboxScanner(folders, settle_seconds=5)
    path = _drop(folders, "a.txt", b"1")
    assert scanner.scan(limit=10) == []
    clock.now += 4
    path.write_bytes(b"12")  # still being written: size changes
    assert scanner.scan(limit=10) == []
    clock.now += 4  # 8 s since first seen, 4 s since the change
    assert scanner.scan(limit=10) == []
    clock.now += 1
    assert [original_name(p) for p in scanner.scan(limit=10)] == ["a.txt"]


def test_a_new_scanner_starts_settling_again(folders: Folders, clock: FakeClock) -> None:
    _drop(folders, "a.txt")
    InboxScanner(folders, settle_seconds=5).scan(limit=10)
    clock.now += 10
    assert InboxScanner(folders, settle_seconds=5).scan(limit=10) == []


def test_settled_files_over_the_limit_stay_settled(folders: Folders, clock: FakeClock) -> None:
    scanner = InboxScanner(folders, settle_seconds=5)
    _drop(folders, "a.txt")
    _drop(folders, "b.txt")
    assert scanner.scan(limit=1) == []
    clock.now += 5
    assert [original_name(p) for p in scanner.scan(limit=1)] == ["a.txt"]
    # b.txt was not claimed for the limit but keeps its settle time
    assert [original_name(p) for p in scanner.scan(limit=1)] == ["b.txt"]


def test_zero_settle_claims_on_first_scan(folders: Folders, clock: FakeClock) -> None:
    _drop(folders, "a.txt")
    assert len(InboxScanner(folders, settle_seconds=0).scan(limit=10)) == 1
