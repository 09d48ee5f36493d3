"""The hindsight integer program: one solver-neutral formulation (:mod:`~.formulation`), the
decoding of its columns (:mod:`~.decode`), thin backends (:mod:`~.backends`) and the export for
other solvers (:mod:`~.export`)."""
