"""``kvopt bins``: Multi-Bin Batching on the static-batch engine."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kvopt.cli._app import (
    _errors,
    _fail,
    _pairs,
    _print_json,
    app,
)


@app.command("bins")
def bins_command(
    bins: Annotated[int, typer.Option("--bins", min=1, help="Number of bins k.")],
    batch: Annotated[int, typer.Option("--batch", min=1, help="Static batch size B.")],
    lengths: Annotated[str, typer.Option(
        help="True output lengths: uniform:LO:HI, lognormal:MU:SIGMA, exponential:MEAN or "
             "trace:FILE (rows drawn with replacement).")],
    requests: Annotated[int, typer.Option("--requests", min=1, help="Requests to run.")],
    servers: Annotated[int, typer.Option(min=1, help="Servers m.")] = 1,
    saturated: Annotated[bool, typer.Option(
        "--saturated", help="An unbounded backlog: all requests present at time 0.")] = False,
    rate: Annotated[float | None, typer.Option(help="Poisson arrivals per unit time.")] = None,
    trace_times: Annotated[bool, typer.Option(
        "--trace-times", help="Replay the first --requests rows of --lengths trace:FILE at "
                              "their own timestamps (seconds: set --t-tok or --profile).")] = False,
    assign_error: Annotated[float | None, typer.Option(
        "--assign-error", help="Probability p_e of a wrong bin (neighbouring; see "
                               "--error-mode).")] = None,
    error_mode: Annotated[str, typer.Option(help="neighbour or uniform_other.")] = "neighbour",
    table1: Annotated[bool, typer.Option(
        "--table1", help="Assign bins with the Table-1 confusion matrix (k = 2, 4, 8).")] = False,
    edges: Annotated[str, typer.Option(help="equal_mass, equal_width or log.")] = "equal_mass",
    flush: Annotated[str | None, typer.Option(
        help="none or at_end (default: none; at_end would serve the backlog's tail).")] = None,
    timeout_s: Annotated[float | None, typer.Option(
        "--timeout-s", help="Send a partial batch this long after its first request.")] = None,
    kv_limit: Annotated[float | None, typer.Option(
        help="KV tokens a batch may need: sum of prompt + true output.")] = None,
    t0: Annotated[float, typer.Option(help="Fixed time per batch.")] = 0.0,
    t_tok: Annotated[float, typer.Option(help="Time per token of the longest member.")] = 1.0,
    profile: Annotated[str | None, typer.Option(
        help="Batch times in seconds from a profile's time model (models/NAME.toml).")] = None,
    prompt_tokens: Annotated[int | None, typer.Option(
        min=0, help="Prompt tokens of every request (default: the trace's, else 0).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of lengths, arrivals and errors.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Multi-Bin Batching: k bins of predicted length feed static batches of B to m servers
    (arXiv 2412.04504); prints the verified capacity, latency and the closed form."""
    import math as _math

    from kvopt.bins.edges import ConfusionMatrix, Oracle, Predictor, SymmetricError
    from kvopt.bins.engine import EngineConfig, make_workload, run, trace_workload
    from kvopt.bins.errors import BinsError
    from kvopt.bins.lengths import Empirical, Uniform, parse_lengths
    from kvopt.bins.theory import capacity_uniform, latency_law, theory_capacity

    def option(name: str, check: Any) -> Any:
        try:
            return check()
        except BinsError as exc:
            raise _fail(f"kvopt bins: {name}: {exc}") from None

    if saturated + (rate is not None) + trace_times != 1:
        raise _fail("kvopt bins: give exactly one of --saturated, --rate and --trace-times")
    if trace_times and not lengths.startswith("trace:"):
        raise _fail("kvopt bins: --trace-times needs --lengths trace:FILE")
    if rate is not None and not (_math.isfinite(rate) and rate > 0):
        raise _fail(f"kvopt bins: --rate must be a positive number, got {rate}")
    if table1 and assign_error is not None:
        raise _fail("kvopt bins: --table1 and --assign-error exclude each other")
    if profile is not None and (t0 != 0.0 or t_tok != 1.0):
        raise _fail("kvopt bins: --profile sets the batch time; drop --t0 and --t-tok")
    dist = option("--lengths", lambda: parse_lengths(lengths))
    pred: Predictor = Oracle()
    if assign_error is not None:
        pred = option("--assign-error", lambda: SymmetricError(assign_error, error_mode))
    elif table1:
        pred = option("--table1", lambda: ConfusionMatrix.table1(bins))
    time_model = None
    if profile is not None:
        from kvopt.profiles import load_profile

        with _errors():
            time_model = load_profile(profile).time_model
    cfg = option("--flush/--timeout-s/--kv-limit/--t0/--t-tok", lambda: EngineConfig(
        batch, servers=servers, t0=t0, t_tok=t_tok, kv_limit_tokens=kv_limit,
        flush=flush or "none", timeout_s=timeout_s, time_model=time_model, saturated=saturated))
    if trace_times:
        workload = option("--lengths", lambda: trace_workload(
            lengths[len("trace:"):], num_bins=bins, seed=seed, num_requests=requests,
            edges=edges, predictor=pred))
        dist = Empirical(workload.length, label=dist.name)
    else:
        workload = option("--edges", lambda: make_workload(
            dist, requests, num_bins=bins, seed=seed,
            arrivals="saturated" if saturated else "poisson", rate=rate, edges=edges,
            predictor=pred, prompt_tokens=prompt_tokens))
    with _errors():
        result = run(workload, cfg)
    ev = result.evaluation
    theory, source = None, None
    if time_model is None and kv_limit is None and timeout_s is None:
        if isinstance(dist, Uniform) and isinstance(pred, Oracle) and edges != "log":
            theory = capacity_uniform(bins, batch, dist.lo, dist.hi, servers=servers, t0=t0,
                                      t_tok=t_tok)
            source = "closed form (uniform, equal bins)"
        else:
            theory = theory_capacity(dist, workload.edges, batch, servers=servers, t0=t0,
                                     t_tok=t_tok, confusion=pred.confusion(bins))
            source = "numerical integral"
    law = None
    if theory is not None and rate is not None:
        law = latency_law(bins, batch, rate, (servers * batch / theory - t0) / t_tok)
    data = {
        "bins": bins, "batch": batch, "servers": servers, "lengths": dist.name,
        "arrivals": ("saturated" if saturated else "trace timestamps" if trace_times
                     else f"poisson {rate:g}"), "requests": workload.num_requests,
        "predictor": pred.name, "edges": [float(x) for x in workload.edges], "seed": seed,
        "time_unit": "s" if time_model is not None else "token steps x t_tok",
        "capacity": ev.capacity, "tokens_per_unit": ev.tokens_per_unit,
        "mean_latency": ev.mean_latency, "p99_latency": ev.p99_latency,
        "theory_capacity": theory, "theory_source": source,
        "capacity_basis": "served / makespan" if saturated else "m x served / busy time",
        "latency_law_light_load": law, **ev.to_dict(),
    }
    if as_json:
        def finite(v: Any) -> Any:   # strict JSON: no Infinity or NaN (an open top edge: null)
            if isinstance(v, list):
                return [finite(x) for x in v]
            return None if isinstance(v, float) and not _math.isfinite(v) else v

        _print_json({key: finite(v) for key, v in data.items()})
        return
    rows = [
        ["setup", f"k = {bins}, B = {batch}, m = {servers}, {dist.name}, "
                  f"{data['arrivals']}, {requests} requests, {pred.name}, seed {seed}"],
        ["capacity", f"{ev.capacity:.6g} requests per unit time ({data['capacity_basis']})"],
        ["theory", "-" if theory is None else f"{theory:.6g} ({source}); measured / theory "
                                              f"= {ev.capacity / theory:.4f}"],
        ["tokens per unit", f"{ev.tokens_per_unit:.6g}"],
        ["latency", f"mean {ev.mean_latency:.6g}, P99 {ev.p99_latency:.6g}"],
        ["waits", f"batch formation {ev.mean_formation_wait:.6g}, queue "
                  f"{ev.mean_queue_wait:.6g}"],
        ["batches", f"{ev.num_batches} (mean size {ev.mean_batch_size:.4g}, mean time "
                    f"{ev.mean_batch_time:.6g}); {ev.num_unserved} requests unserved"],
        ["bin busy share", " ".join(f"{x:.3f}" for x in ev.bin_busy_share)],
        ["bin slot use", " ".join(f"{x:.3f}" for x in ev.bin_slot_use)],
    ]
    typer.echo(_pairs(rows))
