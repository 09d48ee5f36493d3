"""The hindsight integer program: one solver-neutral formulation, thin backends."""
