"""Experiments that produce the project's reported results; each runs as
``python -m kvopt.experiments.<name> --out results/<name>``.

* :mod:`kvopt.experiments.synthetic`: the paper's synthetic instances against the hindsight
  optimum (``specs/kv-scheduling.md`` section 6);
* :mod:`kvopt.experiments.adversarial`: MC-SF's ratio against adversarial arrivals;
* :mod:`kvopt.experiments.trace`: the paper's real-data experiment on the traces we have
  (section 7; issue 4 items 4 and 5), simulated in seconds (:mod:`kvopt.sim.timed`).
"""
