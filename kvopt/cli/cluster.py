"""``kvopt cluster``: replay a request trace on a serving cluster under memory pressure."""

from __future__ import annotations

import enum
import math
from pathlib import Path
from typing import Annotated

import typer

from kvopt.cli._app import _errors, _fail, _fmt, _pairs, _print_json, app
from kvopt.cluster.config import HANDLERS, ROUTERS
from kvopt.cluster.hardware import PRESETS

HandlerName = enum.Enum("HandlerName", {k: k for k in HANDLERS}, type=str)  # type: ignore[misc]
RouterName = enum.Enum("RouterName", {k: k for k in ROUTERS}, type=str)  # type: ignore[misc]
DEFAULT_HANDLER = HandlerName("recompute")
DEFAULT_ROUTER = RouterName("most-free")

PROFILE_HELP = ("Replica preset: " + ", ".join(PRESETS) + " (or the kvopt profile it names, "
                "e.g. llama2-13b-a100).")


def trace_workload(path: Path, *, time_scale: float, start: int, limit: int | None,
                   max_tokens: int | None):
    """Rows ``start .. start + limit`` of a trace CSV, arrivals from the first kept row with
    inter-arrival times divided by ``time_scale``; ``max_tokens`` drops requests with
    ``prompt + output`` above it."""
    import numpy as np

    from kvopt.cluster.config import Workload
    from kvopt.exceptions import KvoptError
    from kvopt.read import read_trace_columns

    cols = read_trace_columns(path)
    if "arrival_s" not in cols:
        raise KvoptError(f"{path}: the trace has no timestamps; kvopt cluster replays arrivals")
    n = len(cols["prompt"])
    if start >= n:
        raise KvoptError(f"--start: row {start} is past the trace's {n} rows")
    stop = n if limit is None else min(n, start + limit)
    t = cols["arrival_s"][start:stop]
    prompt, output = cols["prompt"][start:stop], cols["output"][start:stop]
    keep = np.ones(len(t), dtype=bool)
    if max_tokens is not None:
        keep = prompt + output <= max_tokens
        if not keep.any():
            raise KvoptError(f"--max-tokens: no request of {path} has prompt + output <= "
                             f"{max_tokens}")
    t = (t[keep] - t[keep].min()) / time_scale
    return Workload(t, prompt[keep], output[keep])


@app.command("cluster")
def cluster_command(
    trace: Annotated[Path, typer.Argument(help="Request trace CSV with timestamps (Azure, "
                                               "Vidur, ...).")],
    profile: Annotated[str, typer.Option(help=PROFILE_HELP)] = "13b-a100-tp1",
    replicas: Annotated[int, typer.Option(min=1, help="Data-parallel replicas.")] = 4,
    handler: Annotated[HandlerName, typer.Option(
        help="Memory-pressure handler: recompute (vLLM), swap (to host), migrate (Llumnix), "
             "param (KunServe).")] = DEFAULT_HANDLER,
    group: Annotated[int, typer.Option(min=2, help="Group size g of param.")] = 2,
    router: Annotated[RouterName, typer.Option(
        help="Where a new request goes.")] = DEFAULT_ROUTER,
    time_scale: Annotated[float, typer.Option(
        "--time-scale",
        help="Divide inter-arrival times by X (35 = the spec's 35x upscaling).")] = 1.0,
    start: Annotated[int, typer.Option(min=0, help="First trace row (0 = the first).")] = 0,
    limit: Annotated[int | None, typer.Option(min=1, help="Keep at most N requests.")] = None,
    max_tokens: Annotated[int | None, typer.Option(
        "--max-tokens", min=2, help="Drop requests with prompt + output above N.")] = None,
    micro_batches: Annotated[str, typer.Option(
        "--micro-batches", help="param's pipeline micro-batches: balanced or naive.")
    ] = "balanced",
    intra_node_pcie: Annotated[bool, typer.Option(
        "--intra-node-pcie", help="Price GPU-to-GPU transfers inside a node at PCIe speed.")
    ] = False,
    seed: Annotated[int, typer.Option(
        min=0, help="Recorded with the run; the replay itself draws no randomness.")] = 0,
    slo_ttft_ref: Annotated[float | None, typer.Option(
        "--slo-ttft-ref", help="Reference TTFT in s for SLO attainment (the no-burst run's "
                               "P50; default: this run's).")] = None,
    slo_tbt_ref: Annotated[float | None, typer.Option(
        "--slo-tbt-ref", help="Reference TBT in s for SLO attainment (the no-burst run's "
                              "P50; default: this run's).")] = None,
    slo_ttft_factor: Annotated[float, typer.Option(
        "--slo-ttft-factor", help="A request meets the SLO with TTFT <= X x the reference.")
    ] = 5.0,
    slo_tbt_factor: Annotated[float, typer.Option(
        "--slo-tbt-factor", help="... and a mean token gap <= X x the reference TBT.")] = 1.5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay a trace on R replicas with a memory-pressure handler; the run is verified
    (every pool, token and transfer) before its TTFT, TBT and counters are printed."""
    from kvopt.cluster.config import ClusterConfig
    from kvopt.cluster.run import simulate_cluster

    if not (time_scale > 0 and math.isfinite(time_scale)):
        raise _fail(f"kvopt cluster: --time-scale: must be a positive number, got {time_scale}")
    for name, value in (("--slo-ttft-ref", slo_ttft_ref), ("--slo-tbt-ref", slo_tbt_ref),
                        ("--slo-ttft-factor", slo_ttft_factor),
                        ("--slo-tbt-factor", slo_tbt_factor)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise _fail(f"kvopt cluster: {name}: must be a positive number, got {value}")
    if micro_batches not in ("balanced", "naive"):
        raise _fail(f"kvopt cluster: --micro-batches: expected balanced or naive, got "
                    f"{micro_batches!r}")
    with _errors():
        config = ClusterConfig(preset=profile, num_replicas=replicas, handler=handler.value,
                               router=router.value, group=group, micro_batches=micro_batches,
                               intra_node_at_pcie=intra_node_pcie)
        workload = trace_workload(trace, time_scale=time_scale, start=start, limit=limit,
                                  max_tokens=max_tokens)
        result = simulate_cluster(workload, config)
    assert not isinstance(result, tuple)
    data = result.summary()
    ttft_ref = data["p50_ttft_s"] if slo_ttft_ref is None else slo_ttft_ref
    tbt_ref = data["p50_tbt_s"] if slo_tbt_ref is None else slo_tbt_ref
    data.update({"slo_attainment": result.slo_attainment(
        ttft_ref, tbt_ref, ttft_factor=slo_ttft_factor, tbt_factor=slo_tbt_factor),
        "slo_ttft_ref_s": ttft_ref, "slo_tbt_ref_s": tbt_ref,
        "slo_ttft_factor": slo_ttft_factor, "slo_tbt_factor": slo_tbt_factor})
    data.update({"profile": profile, "replicas": replicas, "handler": handler.value,
                 "router": router.value, "group": group, "time_scale": time_scale,
                 "seed": seed, "trace": trace.name})
    if as_json:
        _print_json(data)
    else:
        typer.echo(_pairs([[k, _fmt(v) if isinstance(v, float) or v is None else str(v)]
                           for k, v in data.items()]))
