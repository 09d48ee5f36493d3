"""Experiments that produce the project's reported results, and the runner they share.

* :mod:`kvopt.experiments.jobs`: jobs inline, on a local process pool or on dask; one record
  per finished job, written atomically; a rerun reuses every record whose inputs match;
* :mod:`kvopt.experiments.runner`: instances x policies x seeds against the hindsight optimum
  (``kvopt ratio``): one record per hindsight solve, one per policy run.

Each experiment runs as ``python -m kvopt.experiments.<name> --out results/<name>``:

* :mod:`kvopt.experiments.synthetic`: the paper's synthetic instances against the hindsight
  optimum (``specs/kv-scheduling.md`` section 6), on the runner;
* :mod:`kvopt.experiments.adversarial`: MC-SF's ratio against adversarial arrivals, one job
  per instance size;
* :mod:`kvopt.experiments.trace`: the paper's real-data experiment on the traces we have
  (section 7; issue 4 items 4 and 5), simulated in seconds (:mod:`kvopt.sim.timed`), one job
  per scenario and policy;
* :mod:`kvopt.experiments.intervals`: A_max, A_min and H-SF under interval predictions, the
  alpha sweep against H-SF and the hindsight optimum (issue 27), one job per instance; its
  tables and figures in :mod:`kvopt.experiments.intervals_report`;
* :mod:`kvopt.experiments.leaderboard`: every registered policy on a fixed scenario suite,
  certified mean-ratio intervals, ranks and runtimes (issue 30), one job per instance; its
  Markdown, JSON and self-contained HTML in :mod:`kvopt.experiments.leaderboard_report`.
"""
