"""MC-SF against adversarial arrivals: its ratio grows with ``n`` (``kvopt.adversarial``).

``python -m kvopt.experiments.adversarial --out results/adversarial [--shorts 1,2,...]
[--solve-up-to 12] [--time-limit 20]`` builds, for each number of short requests ``m``, the
instance adapted to MC-SF (:func:`kvopt.adversarial.ratio_vs_n`; ``n = m + 1``, ``P = m^2``,
``M = 2P``), measures MC-SF's verified cost, brackets the optimum between the best verified
schedule (shorts-first, or the solver's) and a proven lower bound (the solver's for
``m <= --solve-up-to``, otherwise the sum of outputs), and writes ``table.md``, ``table.csv``,
``table.json`` and ``ratio-vs-n.png`` to ``--out``. A ratio is one number only where the
optimum is proven; otherwise it is the interval ``[vs best known, vs certified bound]``.

Each size is one job of the runner (:mod:`kvopt.experiments.jobs`; ``--workers``, default 1),
stored as ``points/m<m>.json`` as soon as it is done; a rerun reuses every stored size whose
solve settings (solved or not, time limit, backend) are unchanged.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kvopt.adversarial import RatioPoint, ratio_vs_n
from kvopt.atomic import write_csv_atomic, write_json_atomic, write_text_atomic
from kvopt.experiments.jobs import Job, RecordStore, execute
from kvopt.experiments.options import ExperimentParser
from kvopt.ratio import format_interval

__all__ = ["DEFAULT_SHORTS", "main", "markdown_table", "measure"]

DEFAULT_SHORTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 30)


def markdown_table(points: Sequence[RatioPoint], meta: dict[str, object]) -> str:
    """One row per instance size."""
    lines = [
        "# MC-SF on adversarial arrivals", "",
        ("Instances: `kvopt.adversarial.adaptive_adversarial_instance` with P = m^2, M = 2P; "
         f"integer program ({meta['backend']}, {meta['time_limit_s']} s) for m <= "
         f"{meta['solve_up_to']}, sum of outputs as the bound above. Ratio: exact where the "
         "optimum is proven, else `[MC-SF / best known schedule, MC-SF / certified bound]`; "
         "*analytic* is the construction's ALG / shorts-first schedule."), "",
        "| n | m | P | M | MC-SF cost | OPT upper | OPT lower | status | ratio | analytic |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.num_requests} | {p.num_short} | {p.long_output} | {p.memory} | "
            f"{p.policy_cost} | {p.opt_upper} | {p.opt_lower:g} | {p.opt_status} | "
            f"{format_interval((p.ratio_low, p.ratio_high), 3)} | {p.analytic_ratio:.3f} |")
    return "\n".join(lines) + "\n"


def measure(num_short: int, solve_up_to: int, time_limit_s: float, backend: str
            ) -> dict[str, object]:
    """One size's point (:func:`kvopt.adversarial.ratio_vs_n` for ``m = num_short``)."""
    (point,) = ratio_vs_n([num_short], solve_up_to=solve_up_to, time_limit_s=time_limit_s,
                          backend=backend)
    return point.to_dict()


def _identity(num_short: int, solve_up_to: int, time_limit_s: float, backend: str
              ) -> dict[str, object]:
    """What a size's point depends on: the solve settings only when it is solved."""
    solved = num_short <= solve_up_to
    return {"num_short": num_short, "solved": solved,
            "time_limit_s": time_limit_s if solved else None,
            "backend": backend if solved else None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = ExperimentParser(prog="python -m kvopt.experiments.adversarial",
                              description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--shorts", default=",".join(map(str, DEFAULT_SHORTS)),
                        help="comma-separated numbers of short requests m (n = m + 1)")
    parser.add_argument("--solve-up-to", type=int, default=12,
                        help="solve the integer program for m up to this (default 12)")
    parser.add_argument("--time-limit", type=float, default=20.0,
                        help="seconds per solve (default 20)")
    parser.add_argument("--backend", default="highs")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes, one size each (default 1)")
    args = parser.parse_checked(argv)
    try:
        shorts = sorted({int(x) for x in args.shorts.split(",") if x.strip()})
    except ValueError:
        parser.error(f"--shorts must be comma-separated integers, got {args.shorts!r}")
    if not shorts or shorts[0] < 1:
        parser.error("--shorts needs integers >= 1")
    if args.time_limit <= 0:
        parser.error("--time-limit must be positive")
    from kvopt.plots import plot_ratio_vs_n
    from kvopt.policies import display_name
    from kvopt.show_versions import versions

    t0 = time.perf_counter()
    out: Path = args.out
    store = RecordStore(out)
    found: dict[str, dict[str, Any]] = {}
    jobs = []
    for m in shorts:
        settings = (m, args.solve_up_to, args.time_limit, args.backend)
        if (stored := store.load(f"points/m{m}", _identity(*settings))) is not None:
            found[f"points/m{m}"] = stored
        else:
            jobs.append(Job(f"points/m{m}", measure, settings))

    def save(job: Job, point: dict[str, object]) -> None:
        record = {**_identity(*job.args), "point": point}
        store.save(job.label, record)
        found[job.label] = record

    if failures := execute(jobs, save, workers=args.workers):
        for job, err in failures:
            print(f"FAILED {job.label}: {err}", file=sys.stderr)
        return 1
    points = [RatioPoint(**found[f"points/m{m}"]["point"]) for m in shorts]
    meta = {"shorts": shorts, "solve_up_to": args.solve_up_to, "time_limit_s": args.time_limit,
            "backend": args.backend, "policy": "mcsf",
            "wall_seconds": round(time.perf_counter() - t0, 1)}
    text = markdown_table(points, meta)
    write_text_atomic(out / "table.md", text)
    rows = [p.to_dict() for p in points]
    write_csv_atomic(out / "table.csv", rows)
    write_json_atomic(out / "table.json", {"config": meta, "points": rows,
                                           "versions": versions()}, indent=1)
    plot_ratio_vs_n(points, out / "ratio-vs-n.png", policy=display_name("mcsf"))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
