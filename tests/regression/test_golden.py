"""Every command prints the numbers it printed before the architecture move (issue 25).

One test per recorded case: the CLI's JSON (wall-clock fields aside) and the engine in seconds
must equal ``golden.json`` (``simulate --json``'s two fields added since, ``evictions`` and
``wasted_tokens``, are checked against the schedule instead). Solve cases of a backend not
installed here are skipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from golden import GOLDEN, POLICIES, cli_cases, installed_backends, run_cli, timed_case

_RECORDED = json.loads(GOLDEN.read_text())
_BACKENDS = installed_backends()
_ALL_CASES = cli_cases(["highs", "cbc", "search", "cpsat"])


@pytest.mark.parametrize(("case_id", "argv"), _ALL_CASES, ids=[c for c, _ in _ALL_CASES])
def test_cli_output_unchanged(case_id, argv):
    """The command's JSON equals the recorded one."""
    if case_id.startswith("solve ") and case_id.split()[-1] not in _BACKENDS:
        pytest.skip(f"backend {case_id.split()[-1]} not installed")
    if case_id not in _RECORDED["cli"]:
        pytest.skip(f"{case_id}: not recorded (backend missing when recorded)")
    got, recorded = run_cli(argv), _RECORDED["cli"][case_id]
    if case_id.startswith("simulate "):
        # `simulate --json` has said `evictions` and `wasted_tokens` since issue 27 (recorded
        # before): every recorded field equal, the two new ones from the same schedule
        assert got.pop("evictions") == got["num_clearings"]
        assert got.pop("wasted_tokens") == sum(e - k for _, k, e in got["clearings"])
    assert got == recorded


@pytest.mark.parametrize("policy", POLICIES)
def test_timed_engine_unchanged(policy):
    """The engine in seconds gives the recorded starts, clearings and clock for each policy."""
    assert timed_case(policy) == _RECORDED["timed"][policy]
