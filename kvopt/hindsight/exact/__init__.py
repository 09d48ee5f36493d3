"""Exact solvers that share nothing with the integer program: CP-SAT on an interval model
(:mod:`~kvopt.hindsight.exact.cpsat`), a branch and bound over decision rounds
(:mod:`~kvopt.hindsight.exact.search`) and brute force for tiny instances
(:mod:`~kvopt.hindsight.exact.bruteforce`, a reference for tests)."""
