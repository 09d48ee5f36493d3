"""The hindsight side: the optimum of an instance known in full, and certified bounds on it.

:func:`kvopt.hindsight.solve.solve` is the entry point; ``bounds/`` holds the certified lower
bounds, ``milp/`` the integer program and its backends, ``exact/`` CP-SAT, the combinatorial
search and brute force.
"""
