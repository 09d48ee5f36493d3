"""``kvopt experiment NAME [OPTIONS]``: run one of kvopt's experiments.

Each experiment is a module with its own options (``--out DIR`` at least; ``kvopt experiment
NAME --help`` lists them); this command forwards everything after ``NAME`` to that module's
``main``, so ``kvopt experiment bins --out results/bins`` and ``python -m kvopt.bins.experiment
--out results/bins`` are the same run. The Makefile's ``experiment-*`` targets call these.
Bad options end with one line and exit code 2 before any work
(:class:`kvopt.experiments.options.ExperimentParser`), as do kvopt's and the file system's errors
found later.
"""

from __future__ import annotations

import importlib

import typer

from kvopt.cli._app import _errors, _interrupted, app

#: name -> (module with ``main(argv) -> int``, one line of help)
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "synthetic": ("kvopt.experiments.synthetic",
                  "the paper's synthetic instances against the hindsight optimum"),
    "trace": ("kvopt.experiments.trace", "real traces in seconds (Azure, ShareGPT)"),
    "adversarial": ("kvopt.experiments.adversarial",
                    "MC-SF's ratio against n on adversarial arrivals"),
    "intervals": ("kvopt.experiments.intervals",
                  "interval predictions: A_max, A_min, H-SF over the alpha sweep"),
    "bins": ("kvopt.bins.experiment", "Multi-Bin Batching: figures B-F1..B-F5"),
    "burst": ("kvopt.experiments.burst",
              "a serving cluster under load bursts: KunServe against recompute, swap, migrate"),
    "fluid": ("kvopt.experiments.fluid",
              "WAIT and Nested WAIT against vLLM and Sarathi, latency against rate"),
    "leaderboard": ("kvopt.experiments.leaderboard",
                    "every registered policy on a fixed suite, certified ratio intervals"),
}

experiment_app = typer.Typer(
    no_args_is_help=True,
    help="Run an experiment (its options: kvopt experiment NAME --help): "
    + "; ".join(f"{name}: {text}" for name, (_, text) in EXPERIMENTS.items()) + ".")
app.add_typer(experiment_app, name="experiment")


def _register(name: str, module: str, text: str) -> None:
    @experiment_app.command(
        name, help=f"{text[0].upper()}{text[1:]} (python -m {module}).", add_help_option=False,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _run(ctx: typer.Context) -> None:
        try:
            with _errors():   # kvopt's and the file system's errors: one line, exit 2
                code = importlib.import_module(module).main(list(ctx.args))
        except KeyboardInterrupt as stop:   # e.g. the runner's "N of M saved; rerun to resume"
            raise _interrupted(f"interrupted: {stop}" if str(stop) else "interrupted") from None
        raise typer.Exit(int(code or 0))


for _name, (_module, _text) in EXPERIMENTS.items():
    _register(_name, _module, _text)
