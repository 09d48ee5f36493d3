"""The documentation: the README's Python runs, links resolve, the CLI tour names real commands."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import typer

from kvopt.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted([README, *(ROOT / "docs").rglob("*.md")])

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def fenced_blocks(text: str) -> list[tuple[str, str, int, int]]:
    """``(language, body, start, end)`` of every fenced code block."""
    return [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)]


def without_code_blocks(text: str) -> str:
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(without_code_blocks(path.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def section(text: str, title: str) -> str:
    """The text of the ``## title`` section, up to the next ``## ``."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


# -------------------------------------------------------------------------- the README's Python
def test_readme_python_runs_and_prints_what_it_shows(monkeypatch):
    """Every ```python block of the README runs, in order, from the repository root; a block
    followed directly by a ```text block prints exactly that text."""
    pytest.importorskip("kvopt.hindsight.solve",
                        reason="kvopt.hindsight.solve (the solver's new home) is not merged yet")
    text = README.read_text(encoding="utf-8")
    blocks = fenced_blocks(text)
    python = [i for i, (lang, *_rest) in enumerate(blocks) if lang == "python"]
    assert python, "the README has no ```python block"
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "readme"}
    for i in python:
        _, code, _, end = blocks[i]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"README.md python block {python.index(i) + 1}", "exec"), namespace)
        if i + 1 < len(blocks):
            lang, expected, start, _ = blocks[i + 1]
            if lang == "text" and not text[end:start].strip():
                assert out.getvalue() == expected


# ---------------------------------------------------------------------------------------- links
@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path):
    """Every relative link (and its #anchor, where it has one) in README.md and docs/ exists."""
    broken = []
    for target in LINK.findall(without_code_blocks(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):       # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


# ------------------------------------------------------------------------------- the CLI tour
def registered_commands() -> dict[str, set[str]]:
    """Top-level commands of ``kvopt.cli.app``, each with its subcommands (empty if none)."""
    group = typer.main.get_command(app)
    return {name: set(getattr(cmd, "commands", {}) or ()) for name, cmd in group.commands.items()}


def tour_commands() -> set[tuple[str, ...]]:
    """``kvopt <command> [<subcommand>]`` named in code of the README's "Command line" section."""
    tour = section(README.read_text(encoding="utf-8"), "Command line")
    code = [body for _, body, _, _ in fenced_blocks(tour)]
    code += re.findall(r"`([^`\n]+)`", without_code_blocks(tour))
    commands = registered_commands()
    named = set()
    for snippet in code:
        for first, second in re.findall(r"(?:^|\s)kvopt ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?",
                                        snippet, flags=re.MULTILINE):
            named.add((first, second) if commands.get(first) else (first,))
    return named


def test_cli_tour_names_only_registered_commands():
    """Every `kvopt <command>` of the README's tour is a command of kvopt.cli.app."""
    commands = registered_commands()
    unknown = [" ".join(c) for c in tour_commands()
               if c[0] not in commands or (len(c) == 2 and c[1] not in commands[c[0]])]
    assert not unknown, f"README names commands kvopt does not have: {sorted(unknown)}"


def test_cli_tour_names_every_registered_command():
    """The tour leaves no command of kvopt.cli.app out."""
    named = tour_commands()
    missing = [f"{name} {sub}".strip() for name, subs in registered_commands().items()
               for sub in (sorted(subs) or [""])
               if ((name, sub) if sub else (name,)) not in named]
    assert not missing, f"the README's CLI tour leaves out: {missing}"
