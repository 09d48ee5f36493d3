"""Human names of policies, for every table and figure: ``display_name("mcsf") == "MC-SF"``.

The registry keys (:data:`kvopt.policies.POLICIES`) stay what the command line takes; reports
print these names instead. Besides the registry, the real-trace experiment's MC-SF variants
(``mcsf-eps0.5``, ``mcsf-m0.1``, ``mcsf-eps0.5-m0.1``: noisy predictions, a protection margin)
and ``hindsight`` (the best known hindsight schedule) have names. Anything else is returned
unchanged, so a report never fails on a new policy.
"""

from __future__ import annotations

import re

__all__ = ["display_name"]

_FIXED = {
    "mcsf": "MC-SF",
    "mc-benchmark": "MC-Benchmark",
    "mcsf-benchmark": "MC-Benchmark",
    "fcfs": "FCFS",
    "amax": "A_max",
    "amin": "A_min (reconstructed)",
    "amin-lowest-estimate": "A_min (reconstructed), lowest estimate first",
    "amin-most-progress": "A_min (reconstructed), most progress first",
    "amin-random": "A_min (reconstructed), random victims",
    "hsf": "H-SF",
    "mcsf-upper": "MC-SF on the upper bound",
    "mcsf-lower": "MC-SF on the lower bound",
    "mcsf-mid": "MC-SF on the midpoint",
    "hindsight": "Hindsight (best known)",
    "svf": "SVF",
    "sorted-f": "Sorted-F (reconstructed)",
    "wait": "WAIT",
    "nested-wait": "Nested WAIT",
    "vllm": "vLLM",
    "sarathi": "Sarathi (approx.)",
}
_GREEDY = re.compile(r"greedy-a([0-9.]+)")
_CLEAR = re.compile(r"clear-a([0-9.]+)-b([0-9.]+)")
_VARIANT = re.compile(r"mcsf(?:-eps([0-9.]+))?(?:-m([0-9.]+))?")


def display_name(policy: str) -> str:
    """The human name of a policy key: ``mcsf`` -> ``MC-SF``, ``mc-benchmark`` ->
    ``MC-Benchmark``, ``fcfs`` -> ``FCFS``, ``greedy-a0.3`` -> ``α-greedy α=0.3``,
    ``clear-a0.2-b0.1`` -> ``β-clearing α=0.2 β=0.1``, ``mcsf-eps0.5-m0.1`` ->
    ``MC-SF ε=0.5 +10% margin``; an unknown key is returned as is."""
    if policy in _FIXED:
        return _FIXED[policy]
    if m := _GREEDY.fullmatch(policy):
        return f"α-greedy α={m[1]}"
    if m := _CLEAR.fullmatch(policy):
        return f"β-clearing α={m[1]} β={m[2]}"
    if (m := _VARIANT.fullmatch(policy)) and (m[1] or m[2]):
        parts = ["MC-SF"]
        if m[1]:
            parts.append(f"ε={m[1]}")
        if m[2]:
            parts.append(f"+{float(m[2]) * 100:g}% margin")
        return " ".join(parts)
    return policy
