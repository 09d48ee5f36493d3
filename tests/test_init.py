"""The package's public API: ``import kvopt`` exposes the library, lightly."""

from __future__ import annotations

import subprocess
import sys

import kvopt


def test_every_exported_name_resolves():
    """Each name of ``kvopt.__all__`` is an attribute (the lazy ones load on access)."""
    for name in kvopt.__all__:
        assert getattr(kvopt, name) is not None, name
    from kvopt.hindsight.solve import solve
    from kvopt.policies import POLICIES
    from kvopt.sim.timed import simulate_timed

    assert (kvopt.solve, kvopt.POLICIES, kvopt.simulate_timed) == (solve, POLICIES,
                                                                   simulate_timed)
    assert {"solve", "read_trace", "load_profile"} <= set(dir(kvopt))


def test_unknown_attribute_is_an_attribute_error():
    """A misspelt name fails as for any module."""
    try:
        kvopt.solv  # noqa: B018
    except AttributeError as exc:
        assert "solv" in str(exc)
    else:
        raise AssertionError("kvopt.solv resolved")


def test_import_kvopt_does_not_load_the_solver():
    """``import kvopt`` leaves the hindsight solver and the engines unloaded until used."""
    code = ("import sys, kvopt; print(sorted(m for m in ('kvopt.hindsight.solve', "
            "'kvopt.sim.timed', 'kvopt.profiles') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
