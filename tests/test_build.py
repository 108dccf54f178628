"""The build does not rot: the venv is exactly requirements.lock, the lock is
made from pyproject.toml, and what a shared data folder and a decoder
release could change under the project is pinned down."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import lock
from milk_common.sqlite_wal import use_wal

REPO = Path(__file__).resolve().parent.parent


def test_the_lock_is_made_from_pyproject():
    assert lock.problems() == []


def test_every_locked_line_is_exact_and_hash_checked():
    text = lock.LOCK.read_text()
    pins = lock.lock_pins()
    assert len(pins) > 30
    # each pin is followed by at least one sha256 before the next pin
    blocks = [b for b in text.split("\n") if b and not b.startswith((" ", "#"))]
    assert len(blocks) == len(pins)
    assert text.count("--hash=sha256:") >= len(pins)
    names = {name for name, _, _ in pins}
    # the build tools the editable install uses without build isolation, and pip
    assert {"setuptools", "wheel", "pip"} <= names


def test_the_venv_holds_exactly_the_lock():
    extra, wrong = lock.differences(lock.wanted_here(), lock.installed())
    assert (extra, wrong) == ([], [])


def _project_with(tmp_path, old: str, new: str) -> Path:
    text = lock.PYPROJECT.read_text()
    assert old in text
    path = tmp_path / "pyproject.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_dependency_added_without_relocking_stops_the_bootstrap_with_one_line(tmp_path):
    pyproject = _project_with(tmp_path, 'dependencies = [\n', 'dependencies = [\n    "left-pad-milk>=1",\n')
    run = subprocess.run([sys.executable, "devtools/lock.py", "--pyproject", str(pyproject), "check"],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "left-pad-milk" in lines[0] and "make lock" in lines[0]
    assert run.stdout == ""


def test_a_changed_range_is_caught_too(tmp_path):
    """A name already locked but a new range: the lock may not satisfy it."""
    pyproject = _project_with(tmp_path, '"msgspec>=0.18,<1"', '"msgspec>=0.99,<1"')
    found = lock.problems(pyproject, lock.LOCK)
    assert len(found) == 1 and "changed" in found[0]
    assert lock.problems(lock.PYPROJECT, lock.LOCK) == []


def test_lock_lines_with_markers_are_read(tmp_path):
    path = tmp_path / "requirements.lock"
    path.write_text("colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:aa\n"
                    "Jinja2==3.1.6 \\\n    --hash=sha256:bb\n")
    assert lock.lock_pins(path) == [("colorama", "0.4.6", "sys_platform == 'win32'"),
                                    ("jinja2", "3.1.6", None)]


def _held_database(tmp_path):
    """A database another connection holds locked, and a late second connection."""
    path = tmp_path / "shared.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    return holder, sqlite3.connect(path, isolation_level=None, timeout=0)


def test_wal_is_switched_on_while_another_process_holds_the_database(tmp_path, monkeypatch):
    """Two hubs sharing a data folder start together: the one that finds the
    file locked waits and retries instead of stopping."""
    holder, late = _held_database(tmp_path)
    with pytest.raises(sqlite3.OperationalError):
        late.execute("PRAGMA journal_mode=WAL")       # what stopped the second hub
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 3:
            holder.execute("COMMIT")
    use_wal(late, wait_s=30, sleep=sleep)
    assert len(waits) == 3
    assert late.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_wal_gives_up_after_the_wait(tmp_path):
    _holder, late = _held_database(tmp_path)
    with pytest.raises(sqlite3.OperationalError):
        use_wal(late, wait_s=0.05)
