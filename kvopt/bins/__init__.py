"""Multi-Bin Batching (arXiv 2412.04504): a batch-atomic static-batch engine and its theory.

Requests are sorted by predicted output length into ``k`` bins; a bin that holds ``B`` requests
sends them, as one static batch, to a central FIFO queue served by ``m`` servers, and a batch
lasts ``t0 + t_tok * max(true lengths)`` (``specs/prediction-intervals-and-bins.md`` Part B).
This system never runs on the continuous-batching engine of :mod:`kvopt.sim`.

Modules (imported one by one; this package file imports none of them):

- :mod:`kvopt.bins.lengths`: length distributions (uniform, lognormal, exponential, a trace);
- :mod:`kvopt.bins.edges`: bin edges (equal mass, equal width, log) and predictors (oracle,
  symmetric errors ``p_e``, the Table-1 confusion matrix);
- :mod:`kvopt.bins.engine`: the workload, the vectorised engine and its results;
- :mod:`kvopt.bins.reference`: the plain event-by-event engine the fast one must equal;
- :mod:`kvopt.bins.verify`: the batch verifier, the only source of reported numbers;
- :mod:`kvopt.bins.theory`: closed forms and the numerical integral for any distribution;
- :mod:`kvopt.bins.experiment`: figures B-F1..B-F5 (``python -m kvopt.bins.experiment``).
"""
