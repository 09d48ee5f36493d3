"""Jobs run inline, on a local process pool or on dask; records stored atomically; resume.

What every experiment runs on. :func:`execute` runs :class:`Job` s inline (one worker), on a
local process pool, or on a ``dask.distributed`` cluster given a scheduler address, and hands
each result to a callback *in the calling process* as it finishes, so workers need no shared
file system. A :class:`RecordStore` keeps one JSON record per key at ``<out>/<key>.json``, each
written atomically (:mod:`kvopt.atomic`); :meth:`RecordStore.load` returns a stored record only
when its identity fields (what the record depends on) equal the expected ones, so a rerun with
the same output directory computes only what is missing or stale.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import json
import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kvopt.atomic import write_json_atomic
from kvopt.exceptions import KvoptError

__all__ = ["Job", "RecordStore", "execute", "safe_name"]


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


def _local_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # forkserver: a forked copy of a process that already ran HiGHS threads can deadlock
    ctx = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


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
            try:
                from distributed import Client, as_completed
            except ImportError:
                raise KvoptError("--scheduler needs dask: pip install 'kvopt[dask]'") from None
            client = Client(scheduler)
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
            finally:
                pool.shutdown(cancel_futures=True)
    finally:
        bar.close()
    return failures


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
