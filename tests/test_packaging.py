"""Package data: what a non-editable ``pip install .`` must carry for kvopt to work anywhere."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_data_file_is_declared_as_package_data():
    """Every file under kvopt/data/ (and py.typed) matches a package-data pattern of
    pyproject.toml, so the installed package holds what the source tree holds."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["kvopt"]
    package = ROOT / "kvopt"
    files = [p.relative_to(package).as_posix() for p in (package / "data").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert files and "py.typed" in [p.name for p in package.iterdir()]
    for name in [*files, "py.typed"]:
        assert any(fnmatch.fnmatchcase(name, pat) and name.count("/") == pat.count("/")
                   for pat in patterns), name


def test_shipped_data_is_reached_through_the_package():
    """Profiles and instances are found relative to the imported package, not the cwd."""
    from kvopt.profiles import MODELS_DIR, available_profiles
    from kvopt.read import INSTANCES_DIR, shipped_instances

    assert Path(str(MODELS_DIR)).parent.parent == Path(__file__).parents[1] / "kvopt"
    assert Path(str(INSTANCES_DIR)).parent == Path(str(MODELS_DIR)).parent
    assert len(available_profiles()) == 6 and "demo/paper-zero-n10" in shipped_instances()
