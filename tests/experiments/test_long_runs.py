"""Long runs survive what happens to long runs: SIGKILL of ``kvopt ratio`` leaves no worker
behind and the rerun resumes; Ctrl-C saves and says so; ``--out`` is checked before any work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ctrl_c_as_at_a_terminal

import kvopt
from kvopt.generate import synthetic_set
from kvopt.read import write_instance

DATA = Path(__file__).parents[1] / "data"
ROOT = Path(kvopt.__file__).parents[1]
POSIX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _kvopt(*args: str) -> subprocess.Popen[str]:
    """``kvopt args`` in its own process group, as a terminal runs a command."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "kvopt.cli", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=ctrl_c_as_at_a_terminal)


def _ppid_and_state(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()   # after "pid (comm) "
    return int(fields[1]), fields[0]


def _descendants(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _ppid_and_state(int(entry.name))) is not None:
            parents[int(entry.name)] = info[0]
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    info = _ppid_and_state(pid)
    return info is not None and info[1] != "Z"   # a zombie has ended (its parent reaps it)


def _inputs(tmp_path: Path) -> Path:
    """Two instances solved at once and one whose solve runs for its whole time limit."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("mcsf_suboptimal.json", "two_identical.json"):
        shutil.copy(DATA / name, src / name)
    slow = synthetic_set("poisson", 7, 1)[0]    # 36 requests: unproven in a few seconds
    write_instance(src / f"{slow.name}.json", slow)
    return src


def _wait_for(condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.1)


@POSIX
def test_sigkill_leaves_no_worker_and_the_rerun_resumes(tmp_path):
    src, out = _inputs(tmp_path), tmp_path / "out"
    args = ("ratio", src, "--out", out, "--workers", "2", "--time-limit", "3", "--no-progress")
    proc = _kvopt(*args)
    try:
        # the two quick instances are stored while the slow one still runs
        _wait_for(lambda: len(list(out.glob("hindsight/*.json"))) >= 2 or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()
        workers = _descendants(proc.pid)
        assert workers, "no worker process found"
        proc.kill()
        proc.wait()
        _wait_for(lambda: not any(map(_alive, workers)), timeout=10.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (out / "results.json").exists()
    again = _kvopt(*args)
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert "2 hindsight solve(s) reused" in stdout
    assert len(json.loads((out / "results.json").read_text())["instances"]) == 3


@POSIX
def test_ctrl_c_says_how_many_are_saved(tmp_path):
    """Ctrl-C at a terminal reaches the whole process group: the workers ignore it, ``ratio``
    stops them and says how many instances it saved."""
    src, out = _inputs(tmp_path), tmp_path / "out"
    proc = _kvopt("ratio", src, "--out", out, "--workers", "2", "--time-limit", "30",
                  "--no-progress")
    try:
        _wait_for(lambda: len(list(out.glob("hindsight/*.json"))) >= 2 or proc.poll() is not None)
        workers = _descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == "interrupted: 2 of 3 saved; rerun to resume"
    assert "Traceback" not in stderr
    _wait_for(lambda: not any(map(_alive, workers)), timeout=10.0)
