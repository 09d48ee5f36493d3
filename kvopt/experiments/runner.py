"""The experiment runner: instances x policies x seeds against the hindsight optimum.

Jobs run inline, on a local process pool or on dask, and their records are stored atomically
and reused on a rerun, through :mod:`kvopt.experiments.jobs`; the synthetic, trace and
adversarial experiments (:mod:`kvopt.experiments`) are configurations of the same, plus their
own report rows.

**The ratio experiment** (``kvopt ratio``; :func:`run`): for each instance the hindsight solve,
and for each instance x policy x seed the policy's simulated schedule, every schedule verified
(:func:`kvopt.verify.verify`). They are stored as separate records because they depend on
different things::

    <out>/hindsight/<instance>.json          the solve: instance content, backend, time limit,
                                             local search, k-th/deadline seconds, serial moves
    <out>/policies/<instance>/<policy>.json  one run: instance content, policy, seed
    <out>/policies/<instance>/<policy>.seed<k>.json     (with explicit seeds)

Ratios are computed when the records are put together, never stored, so adding a policy to a
finished run computes that policy's runs only and reuses every hindsight solve, and a new time
limit re-solves but reuses every policy run. The per-instance record that ``ratio --json`` and
``results.json`` show (:data:`VIEW_FORMAT`) is assembled from them.

Workers receive an instance as its JSON object, not a path, so a remote cluster needs no access
to the input files either. A policy's random stream is derived from the instance's content hash,
the policy name and the seed: results do not depend on the order, the number of workers or the
cluster.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kvopt.atomic import write_csv_atomic, write_json_atomic
from kvopt.exceptions import KvoptError
from kvopt.experiments.jobs import Job, RecordStore, check_output_dir, execute, safe_name
from kvopt.hindsight.incumbents import SERIAL_MOVES
from kvopt.instance import Instance
from kvopt.ratio import RatioReport, RatioSummary, aggregate
from kvopt.read import read_instance
from kvopt.schedule import Schedule
from kvopt.show_versions import versions
from kvopt.verify import Evaluation, verify

__all__ = [
    "ExperimentConfig", "ExperimentResult", "RunInterrupted", "collect_instance_paths",
    "evaluate_instance", "instance_digest", "policy_rng", "run", "run_policy", "summary_rows",
    "write_outputs",
]

#: format of the hindsight and policy records on disk
RECORD_FORMAT = 2
#: format of the assembled per-instance record of ``ratio --json`` and ``results.json``
VIEW_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """What the records depend on besides their instance.

    ``seeds`` empty (the default) gives one run per policy, labelled with its name; otherwise
    one run per policy and seed, labelled ``<policy>@<seed>``.
    """

    policies: tuple[str, ...]
    backend: str = "highs"
    time_limit_s: float | None = None
    local_search_evaluations: int = 0
    kth_time_limit_s: float | None = None
    deadline_time_limit_s: float | None = None
    serial_moves: int = SERIAL_MOVES
    seeds: tuple[int, ...] = ()

    def hindsight_dict(self) -> dict[str, Any]:
        """What a hindsight solve depends on (the policies and seeds do not matter to it)."""
        return {"backend": self.backend, "time_limit_s": self.time_limit_s,
                "local_search_evaluations": self.local_search_evaluations,
                "kth_time_limit_s": self.kth_time_limit_s,
                "deadline_time_limit_s": self.deadline_time_limit_s,
                "serial_moves": self.serial_moves}

    def to_dict(self) -> dict[str, Any]:
        out = {"policies": list(self.policies), **self.hindsight_dict()}
        if self.seeds:
            out["seeds"] = list(self.seeds)
        return out

    def runs(self) -> list[tuple[str, str, int | None]]:
        """``(label, policy, seed)`` of every run per instance, policies first."""
        if not self.seeds:
            return [(p, p, None) for p in self.policies]
        return [(f"{p}@{s}", p, s) for p in self.policies for s in self.seeds]

    def labels(self) -> list[str]:
        return [label for label, _, _ in self.runs()]


def instance_digest(instance: Instance) -> str:
    """SHA-256 of the instance's canonical JSON (detects an input changed between runs)."""
    text = json.dumps(instance.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def policy_rng(digest: str, policy: str, seed: int | None = None) -> np.random.Generator:
    """The random stream of ``policy`` (and ``seed``) on the instance of content hash
    ``digest`` (:func:`instance_digest`): what ``ratio`` and ``bound --policies`` run it with."""
    text = f"{digest}:{policy}" if seed is None else f"{digest}:{policy}:{seed}"
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8],
                                                "little"))


_policy_rng = policy_rng   # the name it had before


def run_policy(instance: Instance, policy: str, digest: str | None = None,
               seed: int | None = None) -> tuple[Schedule, Evaluation]:
    """``policy``'s verified schedule on ``instance``, with the random stream ``ratio`` gives it
    (:func:`policy_rng`); ``digest``: the instance's :func:`instance_digest`, if known."""
    from kvopt.policies import POLICIES
    from kvopt.sim.engine import simulate

    spec = POLICIES[policy]    # H-SF brings its own (exact) predictions
    digest = instance_digest(instance) if digest is None else digest
    schedule = simulate(instance, spec(), rng=policy_rng(digest, policy, seed),
                        predicted=spec.predictions)
    return schedule, verify(instance, schedule)


def _hindsight_identity(digest: str, config: ExperimentConfig) -> dict[str, Any]:
    return {"format": RECORD_FORMAT, "kind": "hindsight", "digest": digest,
            "config": config.hindsight_dict()}


def _run_identity(digest: str, policy: str, seed: int | None) -> dict[str, Any]:
    return {"format": RECORD_FORMAT, "kind": "policy", "digest": digest, "policy": policy,
            "seed": seed}


def _hindsight_key(name: str) -> str:
    return f"hindsight/{name}"


def _run_key(name: str, policy: str, seed: int | None) -> str:
    tail = "" if seed is None else f".seed{seed}"
    return f"policies/{name}/{safe_name(policy)}{tail}"


def evaluate_instance(
    instance_data: dict[str, Any],
    config: ExperimentConfig,
    solve_hindsight: bool = True,
    runs: Sequence[tuple[str, str, int | None]] | None = None,
) -> dict[str, Any]:
    """Solve one instance and/or run policies on it, verifying every schedule.

    Parameters
    ----------
    instance_data
        The instance's JSON object.
    solve_hindsight
        Solve the hindsight problem under ``config``'s solver settings.
    runs
        ``(label, policy, seed)`` to simulate (default: all of ``config.runs()``).

    Returns
    -------
    dict
        ``{"hindsight": record or None, "runs": {label: record}}``, the records as stored
        (without ``versions``, which the calling process adds).

    Raises
    ------
    KvoptError
        When the solve returns no schedule or a schedule fails verification.
    """
    # Imported here: a dask worker or a fresh process imports only what it needs.
    from kvopt.hindsight.solve import solve

    instance = Instance.from_dict(instance_data)
    digest = instance_digest(instance)
    about = {"instance": instance.name, "num_requests": instance.num_requests,
             "memory": instance.memory}
    hindsight = None
    if solve_hindsight:
        opt = solve(instance, config.backend, time_limit_s=config.time_limit_s,
                    local_search_evaluations=config.local_search_evaluations,
                    serial_moves=config.serial_moves,
                    kth_time_limit_s=config.kth_time_limit_s,
                    deadline_time_limit_s=config.deadline_time_limit_s,
                    interval_if_too_large=True)
        if opt.schedule is None:
            raise KvoptError(f"{instance.name}: hindsight solve returned no schedule "
                             f"({opt.status.value}: {opt.backend_status})")
        if verify(instance, opt.schedule).total_latency != opt.objective:
            raise KvoptError(f"{instance.name}: hindsight objective {opt.objective} differs from "
                             "the verified total latency")
        hindsight = {**_hindsight_identity(digest, config), **about, "hindsight": opt.to_dict()}
    records = {}
    for label, policy, seed in config.runs() if runs is None else runs:
        schedule, evaluation = run_policy(instance, policy, digest, seed)
        records[label] = {
            **_run_identity(digest, policy, seed), **about,
            "total_latency": evaluation.total_latency,
            "average_latency": evaluation.average_latency,
            "num_clearings": evaluation.num_clearings,
            **schedule.to_dict(),
        }
    return {"hindsight": hindsight, "runs": records}


_RUN_META = frozenset(["format", "kind", "digest", "policy", "seed", "instance", "num_requests",
                       "memory", "versions"])


def _assemble(config: ExperimentConfig, hindsight: dict[str, Any],
              runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The per-instance view: the solve, each run with its ratio to it (:data:`VIEW_FORMAT`).

    Raises
    ------
    KvoptError
        When a policy beats a proven optimum (the simulator and the solver disagree).
    """
    from kvopt.hindsight.solve import TOO_LARGE

    hs = hindsight["hindsight"]
    policies = {}
    for label in config.labels():
        run = runs[label]
        try:
            report = RatioReport(int(run["total_latency"]), float(hs["objective"]), hs["bound"],
                                 hs["status"] == "optimal")
        except ValueError as exc:
            raise KvoptError(f"{hindsight['instance']}: policy {label}: {exc}") from None
        policies[label] = {k: v for k, v in run.items() if k not in _RUN_META}
        policies[label]["ratio"] = report.to_dict()
    view = {"format": VIEW_FORMAT, "instance": hindsight["instance"],
            "digest": hindsight["digest"], "num_requests": hindsight["num_requests"],
            "memory": hindsight["memory"], "config": config.to_dict(), "hindsight": hs,
            "policies": policies, "versions": hindsight.get("versions")}
    if str(hs.get("backend_status", "")).startswith(TOO_LARGE):
        # only then, so the records of every other instance keep their recorded form
        view["hindsight_mode"] = f"interval ({hs['backend_status']})"
    return view


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


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run`: ``saved`` of ``total`` instances have every record stored
    (``stored`` is False without an output directory)."""

    def __init__(self, saved: int, total: int, stored: bool) -> None:
        super().__init__(f"{saved} of {total} saved; rerun to resume" if stored else
                         f"{saved} of {total} done; nothing saved without an output directory")
        self.saved, self.total, self.stored = saved, total, stored


@dataclasses.dataclass
class ExperimentResult:
    """Per-instance records (:data:`VIEW_FORMAT`) in input order, and what went wrong.

    ``num_reused`` counts instances that needed no work at all, ``num_hindsight_reused`` the
    hindsight solves read back from the output directory.
    """

    config: ExperimentConfig
    records: list[dict[str, Any]]
    failures: list[tuple[str, str]]  # (instance name, error)
    num_reused: int
    versions: dict[str, str]
    num_hindsight_reused: int = 0

    def reports(self, label: str) -> list[RatioReport]:
        return [RatioReport.from_dict(r["policies"][label]["ratio"]) for r in self.records]

    def summaries(self) -> dict[str, RatioSummary]:
        return {label: aggregate(self.reports(label)) for label in self.config.labels()}

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per (instance, run): the CSV."""
        out = []
        for rec in self.records:
            hs = rec["hindsight"]
            for p in self.config.labels():
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


def _read_inputs(inputs: Sequence[str | os.PathLike[str]] | Sequence[Instance]) -> list[Instance]:
    if inputs and all(isinstance(x, Instance) for x in inputs):
        return list(inputs)  # type: ignore[arg-type]
    return [read_instance(p) for p in collect_instance_paths(inputs)]  # type: ignore[arg-type]


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
        Keep the hindsight and policy records there (module docstring), each written
        atomically as it finishes; reuse the stored ones that match.
    workers
        Local processes (default ``os.cpu_count()``); 1 runs inline, in this process.
    scheduler
        Address of a ``dask.distributed`` scheduler (needs ``kvopt[dask]``); overrides ``workers``.
    progress
        A tqdm bar on stderr (one step per instance with work left).

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
    instances = _read_inputs(inputs)
    if not instances:
        raise KvoptError("no instances given")
    if out_dir is not None:
        check_output_dir(out_dir, [p for p in inputs if not isinstance(p, Instance)])
    names = [safe_name(inst.name or f"instance-{j}") for j, inst in enumerate(instances)]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise KvoptError(f"two instances are named '{dup}'; names must be unique in one run")
    digests = [instance_digest(inst) for inst in instances]
    info = versions()
    store = RecordStore(out_dir)

    hindsight: list[dict[str, Any] | None] = []
    runs: list[dict[str, dict[str, Any]]] = []
    jobs: list[Job] = []
    for j, (name, digest) in enumerate(zip(names, digests, strict=True)):
        hindsight.append(store.load(_hindsight_key(name), _hindsight_identity(digest, config)))
        runs.append({})
        missing = []
        for label, policy, seed in config.runs():
            stored = store.load(_run_key(name, policy, seed), _run_identity(digest, policy, seed))
            if stored is None:
                missing.append((label, policy, seed))
            else:
                runs[j][label] = stored
        if hindsight[j] is None or missing:
            jobs.append(Job(str(j), evaluate_instance,
                            (instances[j].to_dict(), config, hindsight[j] is None, missing)))
    num_reused = len(instances) - len(jobs)
    num_hindsight_reused = sum(h is not None for h in hindsight)
    runs_of = {label: (policy, seed) for label, policy, seed in config.runs()}

    def save(job: Job, value: dict[str, Any]) -> None:
        j = int(job.label)
        if value["hindsight"] is not None:
            record = {**value["hindsight"], "versions": info}
            store.save(_hindsight_key(names[j]), record)
            hindsight[j] = record
        for label, fresh in value["runs"].items():
            record = {**fresh, "versions": info}
            store.save(_run_key(names[j], *runs_of[label]), record)
            runs[j][label] = record

    try:
        failed = execute(jobs, save, workers=workers, scheduler=scheduler, progress=progress,
                         unit="instance", desc="ratio")
    except KeyboardInterrupt:
        labels = config.labels()
        saved = sum(h is not None and all(k in r for k in labels)
                    for h, r in zip(hindsight, runs, strict=True))
        raise RunInterrupted(saved, len(instances), out_dir is not None) from None
    errors = {int(job.label): message for job, message in failed}
    records, failures = [], []
    for j, inst in enumerate(instances):
        if j in errors:
            failures.append((inst.name, errors[j]))
            continue
        try:
            records.append(_assemble(config, hindsight[j], runs[j]))  # type: ignore[arg-type]
        except KvoptError as exc:
            failures.append((inst.name, str(exc)))
    return ExperimentResult(config, records, failures, num_reused, info, num_hindsight_reused)


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
