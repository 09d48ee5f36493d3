"""Outputs of kvopt's commands recorded before the architecture move (issue 25), and the code
that produces them again.

Every case runs a command through the CLI (``simulate --json``, ``solve --json``, ``bound
--json``, ``ratio --json``) or, for the engine in seconds, through the Python API, and keeps its
output minus wall-clock fields. ``python tests/regression/golden.py --record`` rewrites
``golden.json``; do that only for a change meant to change results, and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
INSTANCES = HERE / "instances"
GOLDEN = HERE / "golden.json"
TRACE = HERE.parent / "data" / "trace_azure.csv"

#: fields that depend on wall-clock time, not on results (which certified source of a proven
#: bound finishes first is a race between threads)
_CLOCK_FIELDS = {"seconds", "runtime_s", "solve_seconds", "wall_s", "bound_source"}

POLICIES = ("mcsf", "mc-benchmark", "greedy-a0.3", "greedy-a0.25", "clear-a0.2-b0.2",
            "clear-a0.2-b0.1", "clear-a0.1-b0.2", "clear-a0.1-b0.1", "fcfs")
NOISE = (("--eps", "0.5", "--seed", "3"), ("--margin", "0.1"),
         ("--eps", "0.3", "--margin", "0.2", "--seed", "1"))
BOUND_OPTIONS = ((), ("--deadline-cuts",), ("--moves", "300", "--seed", "2"))


def _instances() -> list[Path]:
    return sorted(INSTANCES.glob("*.json"))


def _small(path: Path) -> bool:
    return len(json.loads(path.read_text())["arrival"]) <= 10


def _strip(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip(v) for k, v in data.items() if k not in _CLOCK_FIELDS}
    if isinstance(data, list):
        return [_strip(v) for v in data]
    return data


def cli_cases(backends: list[str]) -> list[tuple[str, list[str]]]:
    """``(case id, argv)`` for every CLI case; ``backends``: the solve backends to include."""
    cases: list[tuple[str, list[str]]] = []
    for path in _instances():
        for policy in POLICIES:
            cases.append((f"simulate {path.stem} {policy}",
                          ["simulate", str(path), "--policy", policy, "--json"]))
        for policy in ("mcsf", "mc-benchmark"):
            for opts in NOISE:
                cases.append((f"simulate {path.stem} {policy} {' '.join(opts)}",
                              ["simulate", str(path), "--policy", policy, *opts, "--json"]))
        if not _small(path):
            continue
        for backend in backends:
            cases.append((f"solve {path.stem} {backend}",
                          ["solve", str(path), "--backend", backend, "--json"]))
        for opts in BOUND_OPTIONS:
            cases.append((f"bound {path.stem} {' '.join(opts)}".rstrip(),
                          ["bound", str(path), *opts, "--json"]))
    demo = INSTANCES / "paper-zero-n10.json"
    # "all" meant these nine when recorded; the registry has grown since (issue 27)
    cases.append(("ratio paper-zero-n10 all",
                  ["ratio", str(demo), "--policies", ",".join(POLICIES), "--json"]))
    return cases


def run_cli(argv: list[str]) -> Any:
    """Run ``kvopt argv`` in-process; its JSON output without wall-clock fields."""
    from typer.testing import CliRunner

    from kvopt.cli import app

    result = CliRunner().invoke(app, argv)
    if result.exit_code != 0:
        raise RuntimeError(f"kvopt {' '.join(argv)} exited {result.exit_code}: {result.output}")
    return _strip(json.loads(result.stdout))


def timed_case(policy: str) -> dict[str, Any]:
    """The engine in seconds on the tiny Azure trace with a small memory (clearings happen)."""
    import numpy as np

    from kvopt.policies import POLICIES as REGISTRY
    from kvopt.profiles import load_profile
    from kvopt.read import read_trace_columns
    from kvopt.sim.timed import simulate_timed

    cols = read_trace_columns(TRACE)
    profile = load_profile("llama2-7b-a100")
    memory = int((cols["prompt"] + cols["output"]).max()) + 40
    policy_obj = REGISTRY[policy]()
    result = simulate_timed(cols["arrival_s"], cols["prompt"], cols["output"], memory,
                            policy_obj, profile.time_model, rng=np.random.default_rng(0))
    m = result.metrics()
    return {
        "memory": memory,
        "final_starts": result.schedule.final_starts().tolist(),
        "num_clearings": int(result.num_clearings().sum()),
        "round_end_s_sha256": hashlib.sha256(
            np.ascontiguousarray(result.round_end_s, dtype=np.float64).tobytes()).hexdigest(),
        "mean_latency_s": float(np.mean(m.latency_s)),
    }


def installed_backends() -> list[str]:
    """The solve backends installed here, as ``tests/conftest.py`` finds them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_kvopt_tests_conftest",
                                                  HERE.parent / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.installed_backends())


def record() -> None:
    backends = installed_backends()
    data: dict[str, Any] = {"cli": {}, "timed": {}}
    for case_id, argv in cli_cases(backends):
        data["cli"][case_id] = run_cli(argv)
    for policy in POLICIES:
        data["timed"][policy] = timed_case(policy)
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"{len(data['cli'])} CLI cases and {len(data['timed'])} timed cases; "
          f"backends {backends}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/regression/golden.py --record")
    record()
