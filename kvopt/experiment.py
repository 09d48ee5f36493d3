"""The ratio-experiment runner: instances x policies against the hindsight optimum.

Per instance a worker solves the hindsight integer program, runs every policy through the
simulator, verifies every schedule (:func:`kvopt.verify.verify`) and returns one JSON-ready
record (:func:`evaluate_instance`). :func:`run` farms instances out to a local process pool (or
runs them inline with one worker), or to a ``dask.distributed`` cluster given a scheduler
address, and, given an output directory, writes each finished record atomically to
``<out>/instances/<name>.json`` *in the calling process* (workers need no shared file system).
A restarted run with the same output directory reuses every record whose instance, backend,
time limit and policies match, so only missing instances are computed again.

Workers receive the instance as its JSON object, not a path, so a remote cluster needs no
access to the input files either. A policy's random stream is derived from the instance's
content hash and the policy name: results do not depend on the order, the number of workers or
the cluster.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kvopt.exceptions import KvoptError
from kvopt.hindsight.incumbents import SERIAL_MOVES
from kvopt.instance import Instance
from kvopt.ratio import RatioReport, RatioSummary, aggregate, competitive_ratio
from kvopt.read import atomic_target, read_instance, write_json_atomic
from kvopt.schedule import Schedule
from kvopt.show_versions import versions
from kvopt.verify import verify

__all__ = [
    "ExperimentConfig", "ExperimentResult", "collect_instance_paths", "evaluate_instance",
    "instance_digest", "run", "safe_name",
]

RECORD_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """What a record depends on besides its instance."""

    policies: tuple[str, ...]
    backend: str = "highs"
    time_limit_s: float | None = None
    local_search_evaluations: int = 0
    kth_time_limit_s: float | None = None
    deadline_time_limit_s: float | None = None
    serial_moves: int = SERIAL_MOVES

    def to_dict(self) -> dict[str, Any]:
        return {"policies": list(self.policies), "backend": self.backend,
                "time_limit_s": self.time_limit_s,
                "local_search_evaluations": self.local_search_evaluations,
                "kth_time_limit_s": self.kth_time_limit_s,
                "deadline_time_limit_s": self.deadline_time_limit_s,
                "serial_moves": self.serial_moves}


def instance_digest(instance: Instance) -> str:
    """SHA-256 of the instance's canonical JSON (detects an input changed between runs)."""
    text = json.dumps(instance.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def safe_name(name: str) -> str:
    """``name`` usable as a file name (characters outside ``[A-Za-z0-9._-]`` become ``_``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return cleaned or "instance"


def _policy_rng(digest: str, policy: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(f"{digest}:{policy}".encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def evaluate_instance(instance_data: dict[str, Any], config: ExperimentConfig) -> dict[str, Any]:
    """Solve one instance, run every policy, verify everything; a JSON-ready record.

    Raises
    ------
    KvoptError
        When a schedule fails verification or a policy beats a proven optimum.
    """
    # Imported here: a dask worker or a fresh process imports only what it needs.
    from kvopt.hindsight.solve import solve
    from kvopt.policies import POLICIES
    from kvopt.sim.engine import simulate

    instance = Instance.from_dict(instance_data)
    digest = instance_digest(instance)
    opt = solve(instance, config.backend, time_limit_s=config.time_limit_s,
                local_search_evaluations=config.local_search_evaluations,
                serial_moves=config.serial_moves,
                kth_time_limit_s=config.kth_time_limit_s,
                deadline_time_limit_s=config.deadline_time_limit_s)
    if opt.schedule is None:
        raise KvoptError(f"{instance.name}: hindsight solve returned no schedule "
                         f"({opt.status.value}: {opt.backend_status})")
    opt_eval = verify(instance, opt.schedule)
    if opt_eval.total_latency != opt.objective:
        raise KvoptError(f"{instance.name}: hindsight objective {opt.objective} differs from the "
                         f"verified total latency {opt_eval.total_latency}")
    record: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "instance": instance.name,
        "digest": digest,
        "num_requests": instance.num_requests,
        "memory": instance.memory,
        "config": config.to_dict(),
        "hindsight": opt.to_dict(),
        "policies": {},
    }
    for name in config.policies:
        schedule: Schedule = simulate(instance, POLICIES[name](), rng=_policy_rng(digest, name))
        evaluation = verify(instance, schedule)
        try:
            report = competitive_ratio(evaluation, opt)
        except ValueError as exc:
            raise KvoptError(f"{instance.name}: policy {name}: {exc}") from None
        record["policies"][name] = {
            "total_latency": evaluation.total_latency,
            "average_latency": evaluation.average_latency,
            "num_clearings": evaluation.num_clearings,
            **schedule.to_dict(),
            "ratio": report.to_dict(),
        }
    return record


def collect_instance_paths(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, directories expanded to their ``*.json`` files (sorted, not recursive).

    Raises
    ------
    KvoptError
        For a path that does not exist or a directory without JSON files.
    """
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.glob("*.json") if p.is_file())
            if not found:
                raise KvoptError(f"{item}: no .json instance files in this directory")
            paths.extend(found)
        elif item.exists():
            paths.append(item)
        else:
            raise KvoptError(f"{item}: no such file or directory")
    return paths


def _matches(record: Any, digest: str, config: ExperimentConfig) -> bool:
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return False
    cfg = record.get("config", {})
    return (record.get("digest") == digest and cfg.get("backend") == config.backend
            and cfg.get("time_limit_s") == config.time_limit_s
            and cfg.get("local_search_evaluations", 0) == config.local_search_evaluations
            and cfg.get("kth_time_limit_s") == config.kth_time_limit_s
            and cfg.get("deadline_time_limit_s") == config.deadline_time_limit_s
            and cfg.get("serial_moves", 0) == config.serial_moves
            and set(config.policies) <= set(record.get("policies", {})))


def _load_record(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclasses.dataclass
class ExperimentResult:
    """Records in input order, the per-policy summaries, and what went wrong."""

    config: ExperimentConfig
    records: list[dict[str, Any]]
    failures: list[tuple[str, str]]  # (instance name, error)
    num_reused: int
    versions: dict[str, str]

    def reports(self, policy: str) -> list[RatioReport]:
        return [RatioReport.from_dict(r["policies"][policy]["ratio"]) for r in self.records]

    def summaries(self) -> dict[str, RatioSummary]:
        return {p: aggregate(self.reports(p)) for p in self.config.policies}

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per (instance, policy): the CSV."""
        out = []
        for rec in self.records:
            hs = rec["hindsight"]
            for p in self.config.policies:
                pr = rec["policies"][p]
                rr = pr["ratio"]
                out.append({
                    "instance": rec["instance"], "num_requests": rec["num_requests"],
                    "memory": rec["memory"], "policy": p, "total_latency": pr["total_latency"],
                    "hindsight_status": hs["status"], "hindsight_objective": hs["objective"],
                    "hindsight_bound": hs["bound"], "hindsight_seconds": hs["seconds"],
                    "ratio": rr["ratio"], "ratio_low": rr["ratio_low"],
                    "ratio_high": rr["ratio_high"], "exactly_optimal": rr["exactly_optimal"],
                })
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "versions": self.versions,
            "aggregate_note": "each statistic applied to the lower ends (_low) and to the upper "
                              "ends (_high) of the per-instance ratio intervals",
            "summary": {p: s.to_dict() for p, s in self.summaries().items()},
            "failures": [{"instance": n, "error": e} for n, e in self.failures],
            "instances": self.records,
        }


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit="instance", disable=not enabled or total == 0,
                desc="ratio")


def _submit_local(workers: int) -> tuple[Callable[..., Any], Callable[[], None]]:
    # forkserver: a forked copy of a process that already ran HiGHS threads can deadlock
    ctx = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    return pool.submit, lambda: pool.shutdown(cancel_futures=True)


def run(
    inputs: Sequence[str | os.PathLike[str]] | Sequence[Instance],
    config: ExperimentConfig,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> ExperimentResult:
    """Evaluate every instance of ``inputs`` under ``config``.

    Parameters
    ----------
    inputs
        Instance files or directories of them (see :func:`collect_instance_paths`), or
        :class:`Instance` objects. All are read and validated before anything runs.
    out_dir
        Write ``instances/<name>.json`` per finished instance, atomically; reuse matching ones.
    workers
        Local processes (default ``os.cpu_count()``); 1 runs inline, in this process.
    scheduler
        Address of a ``dask.distributed`` scheduler (needs ``kvopt[dask]``); overrides ``workers``.
    progress
        A tqdm bar on stderr.

    Raises
    ------
    KvoptError
        Bad inputs (before any work), duplicate instance names, unknown policies.
    """
    from kvopt.policies import POLICIES

    if unknown := [p for p in config.policies if p not in POLICIES]:
        raise KvoptError(f"unknown policy '{unknown[0]}'; choose from {', '.join(POLICIES)}")
    if not config.policies:
        raise KvoptError("no policies given")
    if inputs and all(isinstance(x, Instance) for x in inputs):
        instances: list[Instance] = list(inputs)  # type: ignore[arg-type]
    else:
        instances = [read_instance(p) for p in collect_instance_paths(inputs)]  # type: ignore[arg-type]
    if not instances:
        raise KvoptError("no instances given")
    names = [safe_name(inst.name or f"instance-{j}") for j, inst in enumerate(instances)]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise KvoptError(f"two instances are named '{dup}'; names must be unique in one run")
    digests = [instance_digest(inst) for inst in instances]
    info = versions()

    records: list[dict[str, Any] | None] = [None] * len(instances)
    rec_dir = None if out_dir is None else Path(out_dir) / "instances"
    num_reused = 0
    if rec_dir is not None:
        for j, name in enumerate(names):
            old = _load_record(rec_dir / f"{name}.json")
            if _matches(old, digests[j], config):
                records[j] = old
                num_reused += 1
    todo = [j for j, r in enumerate(records) if r is None]
    failures: list[tuple[str, str]] = []

    def finish(j: int, record: dict[str, Any]) -> None:
        record["versions"] = info
        records[j] = record
        if rec_dir is not None:
            write_json_atomic(rec_dir / f"{names[j]}.json", record)

    bar = _progress(len(todo), progress)
    try:
        if scheduler is None and min(workers or os.cpu_count() or 1, len(todo)) <= 1:
            for j in todo:
                try:
                    finish(j, evaluate_instance(instances[j].to_dict(), config))
                except KvoptError as exc:
                    failures.append((instances[j].name, str(exc)))
                bar.update()
        elif todo:
            if scheduler is not None:
                try:
                    from distributed import Client
                except ImportError:
                    raise KvoptError("--scheduler needs dask: pip install 'kvopt[dask]'") from None
                client = Client(scheduler)
                def submit(f, *a) -> Any:
                    return client.submit(f, *a, pure=False)
                close: Callable[[], None] = client.close
                from distributed import as_completed as completed
            else:
                submit, close = _submit_local(min(workers or os.cpu_count() or 1, len(todo)))
                completed = concurrent.futures.as_completed
            try:
                futures = {submit(evaluate_instance, instances[j].to_dict(), config): j
                           for j in todo}
                for fut in completed(list(futures)):
                    j = futures[fut]
                    try:
                        finish(j, fut.result())
                    except KvoptError as exc:
                        failures.append((instances[j].name, str(exc)))
                    bar.update()
            finally:
                close()
    finally:
        bar.close()
    done = [r for r in records if r is not None]
    return ExperimentResult(config, done, failures, num_reused, info)


def summary_rows(result: ExperimentResult) -> list[dict[str, Any]]:
    """One row per policy: the aggregate CSV."""
    rows = []
    for policy, s in result.summaries().items():
        row: dict[str, Any] = {"policy": policy}
        row.update(s.to_dict())
        rows.append(row)
    return rows


def write_outputs(result: ExperimentResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """``ratios.csv`` (instance x policy), ``summary.csv`` (per policy), ``results.json``
    (everything, with versions), each atomically. Returns the paths written."""
    out = Path(out_dir)
    paths = [out / "ratios.csv", out / "summary.csv", out / "results.json"]
    write_csv_atomic(paths[0], result.rows())
    write_csv_atomic(paths[1], summary_rows(result))
    write_json_atomic(paths[2], result.to_dict(), indent=1)
    return paths


def write_csv_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as CSV to ``path`` atomically (:func:`kvopt.read.atomic_target`)."""
    import csv

    with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v))
                                     else v) for k, v in row.items()})
