"""Versions of kvopt and of what its numbers depend on, saved with every result.

``kvopt show-versions`` prints them; :func:`versions` returns them as a dict.
"""

from __future__ import annotations

import functools
import platform
import re
import subprocess
import sys
from importlib import metadata

__all__ = ["show_versions", "versions"]


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cbc_version() -> str:
    """The version line of the CBC binary PuLP would run (``'not available'`` without one)."""
    try:
        import pulp

        solver = pulp.PULP_CBC_CMD(msg=False)
        path = solver.path if solver.available() else None
    except Exception:  # noqa: BLE001 - pulp missing or broken: report, do not fail
        return "not available"
    if not path:
        return "not available"
    try:
        out = subprocess.run([path, "-quit"], capture_output=True, text=True, timeout=20,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return "not available"
    match = re.search(r"Version:\s*(\S+)", out)
    return match.group(1) if match else "unknown"


@functools.cache
def versions() -> dict[str, str]:
    """kvopt, Python, platform, numpy, highspy, pulp, CBC and OR-Tools versions (cached per
    process)."""
    from kvopt import __version__

    return {
        "kvopt": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": _dist_version("numpy"),
        "highspy": _dist_version("highspy"),
        "pulp": _dist_version("pulp"),
        "cbc": _cbc_version(),
        "ortools": _dist_version("ortools"),
    }


def show_versions() -> str:
    """:func:`versions` as aligned ``name: version`` lines."""
    info = versions()
    width = max(map(len, info))
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in info.items())
