"""Every experiment checks its shared options (--out, --seed, --workers, the traces directory)
before any work: one line ``error: ...``, exit code 2, nothing written."""

from __future__ import annotations

import importlib

import pytest

from kvopt.cli import main as kvopt_main
from kvopt.cli.experiment import EXPERIMENTS


def _bad_cases(tmp_path):
    """``(option, argv)``: each argv is bad in ``option`` only."""
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    out = str(tmp_path / "out")
    return [("--out", ["--out", str(afile)]),
            ("--seed", ["--out", out, "--seed", "-1"]),
            ("--workers", ["--out", out, "--workers", "0"]),
            ("--workers", ["--out", out, "--workers", "100000"]),
            ("--traces-dir", ["--out", out, "--traces-dir", str(tmp_path / "nowhere")])]


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_bad_shared_options_are_one_line_exit_2(name, tmp_path, capsys):
    module = importlib.import_module(EXPERIMENTS[name][0])
    with pytest.raises(SystemExit):
        module.main(["--help"])
    accepted = capsys.readouterr().out
    tried = 0
    for option, argv in _bad_cases(tmp_path):
        if option not in accepted.split():
            continue
        tried += 1
        with pytest.raises(SystemExit) as stop:
            module.main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2, (name, argv)
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and option in err, err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"], (name, argv)
    assert tried >= 1


def test_leaderboard_traces_option_must_exist(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        kvopt_main(["experiment", "leaderboard", "--out", str(tmp_path / "out"),
                    "--traces", str(tmp_path / "nowhere")])
    nowhere = tmp_path / "nowhere"
    assert stop.value.code == 2
    assert capsys.readouterr().err == f"error: --traces {nowhere}: no such directory\n"
    assert not (tmp_path / "out").exists()
