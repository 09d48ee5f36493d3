"""Jobs run inline, on a local process pool or on dask; records stored atomically; resume.

What every experiment runs on. :func:`execute` runs :class:`Job` s inline (one worker), on a
local process pool, or on a ``dask.distributed`` cluster given a scheduler address, and hands
each result to a callback *in the calling process* as it finishes, so workers need no shared
file system. A :class:`RecordStore` keeps one JSON record per key at ``<out>/<key>.json``, each
written atomically (:mod:`kvopt.atomic`); :meth:`RecordStore.load` returns a stored record only
when its identity fields (what the record depends on) equal the expected ones, so a rerun with
the same output directory computes only what is missing or stale.

Local workers end with the process that started them, even when it is killed with SIGKILL
(:func:`_watch_parent`): on Linux the kernel signals them (``PR_SET_PDEATHSIG``), and on every
platform a thread in each worker checks once a second that its parent and the starting process
are still there. On Ctrl-C the running workers are terminated at once; the records already
stored stay, and a rerun resumes from them.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import json
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kvopt.atomic import write_json_atomic
from kvopt.exceptions import KvoptError

__all__ = ["MAX_WORKERS", "Job", "RecordStore", "check_output_dir", "execute", "safe_name"]

#: the most local workers (and solver threads) a command accepts: more is a typing error, not a
#: machine (a fixed number, so the limit and its message do not depend on the machine)
MAX_WORKERS = 256
#: seconds between a worker's checks that the process that started it is alive
PARENT_POLL_S = 1.0


@dataclasses.dataclass(frozen=True)
class Job:
    """``fn(*args)``, run in a worker; ``label`` names it in failures.

    ``fn`` must be a module-level function and ``args`` picklable (a process pool or a dask
    cluster sends them to another process).
    """

    label: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


def _progress(total: int, enabled: bool, unit: str, desc: str | None) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit=unit, disable=not enabled or total == 0,
                desc=desc)


def _set_parent_death_signal() -> None:
    """Linux: have the kernel send SIGKILL to this process when its parent ends (a no-op
    elsewhere, or if libc cannot be loaded)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch_parent(owner: int) -> None:
    """A pool worker's initializer: end this worker when its parent (the pool's process, or the
    forkserver, which ends with it) or ``owner`` (the process that made the pool) is gone,
    whichever is noticed first. Ctrl-C is left to ``owner``, which terminates the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    _set_parent_death_signal()

    def watch() -> None:
        while os.getppid() == parent and _alive(owner):
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    if os.getppid() != parent or not _alive(owner):   # the parent died before the signal was set
        os._exit(1)
    threading.Thread(target=watch, name="kvopt-parent-watch", daemon=True).start()


def _local_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # forkserver: a forked copy of a process that already ran HiGHS threads can deadlock
    ctx = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                                  initializer=_watch_parent,
                                                  initargs=(os.getpid(),))


def _terminate_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop the pool's running jobs now (``shutdown`` would wait for them to finish)."""
    # the executor has no public way to stop running jobs; its process table is the only handle
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def _connect(scheduler: str) -> Any:
    """A ``dask.distributed`` client of ``scheduler``, or one line saying why not."""
    try:
        from distributed import Client
    except ImportError:
        raise KvoptError("--scheduler needs dask: pip install 'kvopt[dask]'") from None
    try:
        return Client(scheduler)
    except Exception as exc:  # noqa: BLE001 - dask raises many kinds for a bad address
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise KvoptError(f"--scheduler {scheduler}: cannot connect to a dask scheduler "
                         f"({why})") from None


def execute(
    jobs: Sequence[Job],
    on_result: Callable[[Job, Any], None],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    unit: str = "job",
    desc: str | None = None,
) -> list[tuple[Job, str]]:
    """Run every job and call ``on_result(job, value)`` here as each one finishes.

    Parameters
    ----------
    workers
        Local processes (default ``os.cpu_count()``); 1 runs the jobs inline, in order, in this
        process. Otherwise results arrive in completion order.
    scheduler
        Address of a ``dask.distributed`` scheduler (needs ``kvopt[dask]``); overrides
        ``workers``.
    progress, unit, desc
        A tqdm bar on stderr counting finished jobs.

    Returns
    -------
    list
        ``(job, message)`` for every job whose ``fn`` or ``on_result`` raised
        :class:`~kvopt.exceptions.KvoptError`; the other jobs are done. Any other exception
        stops the run (pending jobs are cancelled) and propagates.
    """
    failures: list[tuple[Job, str]] = []

    def finish(job: Job, value: Callable[[], Any]) -> None:
        try:
            on_result(job, value())
        except KvoptError as exc:
            failures.append((job, str(exc)))

    bar = _progress(len(jobs), progress, unit, desc)
    try:
        if scheduler is None and min(workers or os.cpu_count() or 1, len(jobs)) <= 1:
            for job in jobs:
                finish(job, functools.partial(job.fn, *job.args))
                bar.update()
        elif jobs and scheduler is not None:
            client = _connect(scheduler)
            from distributed import as_completed

            try:
                futures = {client.submit(j.fn, *j.args, pure=False): j for j in jobs}
                for fut in as_completed(list(futures)):
                    finish(futures[fut], fut.result)
                    bar.update()
            finally:
                client.close()
        elif jobs:
            pool = _local_pool(min(workers or os.cpu_count() or 1, len(jobs)))
            try:
                local = {pool.submit(j.fn, *j.args): j for j in jobs}
                for done in concurrent.futures.as_completed(local):
                    finish(local[done], done.result)
                    bar.update()
            except BaseException:
                _terminate_workers(pool)   # Ctrl-C or an error: do not wait for running jobs
                raise
            finally:
                pool.shutdown(cancel_futures=True)
    finally:
        bar.close()
    return failures


def check_output_dir(out: str | os.PathLike[str],
                     inputs: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Fail (before any work) when ``out`` cannot be an output directory: it exists and is not
    a directory, or is not writable, or its nearest existing ancestor is not a writable
    directory, or it is one of the ``inputs`` directories (whose ``*.json`` files are read as
    instances, so a rerun would read its own ``results.json``). Creates nothing."""
    out = Path(out)
    for item in map(Path, inputs):
        if item.is_dir() and item.resolve() == out.resolve():
            raise KvoptError(f"--out {out}: is an input directory; choose another directory "
                             "(its .json files would be read as instances)")
    if out.exists():
        if not out.is_dir():
            raise KvoptError(f"--out {out}: exists and is not a directory")
        try:
            with tempfile.NamedTemporaryFile(dir=out, prefix=".kvopt-probe-"):
                pass
        except OSError as exc:
            raise KvoptError(f"--out {out}: not writable ({exc.strerror or exc})") from None
        return
    ancestor = out.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise KvoptError(f"--out {out}: cannot be created ({ancestor} is not a directory)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise KvoptError(f"--out {out}: cannot be created ({ancestor} is not writable)")


def safe_name(name: str) -> str:
    """``name`` usable as a file name (characters outside ``[A-Za-z0-9._-]`` become ``_``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return cleaned or "instance"


def _json_value(value: Any) -> Any:
    """``value`` as a JSON round trip gives it back (tuples become lists, ...)."""
    return json.loads(json.dumps(value))


class RecordStore:
    """One JSON record per key at ``<root>/<key>.json``; nothing is stored when ``root`` is None.

    A key is ``/``-separated names made by :func:`safe_name`, so a record cannot land outside
    ``root``.
    """

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = None if root is None else Path(root)

    def path(self, key: str) -> Path:
        if self.root is None:
            raise ValueError("this store keeps no files")
        parts = key.split("/")
        if any(not p or p != safe_name(p) for p in parts):
            raise ValueError(f"record key {key!r}: each part must be a safe_name")
        return self.root.joinpath(*parts[:-1], parts[-1] + ".json")

    def load(self, key: str, identity: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored record of ``key`` if each field of ``identity`` equals the record's;
        ``None`` when there is none, it does not parse, or it belongs to other inputs."""
        if self.root is None:
            return None
        try:
            record = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        expected = _json_value(dict(identity))
        return record if all(record.get(k) == v for k, v in expected.items()) else None

    def save(self, key: str, record: Mapping[str, Any]) -> None:
        """Write ``record`` atomically (a no-op without a root)."""
        if self.root is not None:
            write_json_atomic(self.path(key), record)
