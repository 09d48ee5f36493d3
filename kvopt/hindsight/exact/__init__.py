"""Exact combinatorial search for the hindsight optimum (a backend beside the MILP)."""
