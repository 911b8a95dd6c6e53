"""The README's examples run as written, and its configuration table is the settings table.

Each ```bash or ```python block of README.md carries a marker on the line before it:
- `<!-- readme-test: run SESSION -->`: run (bash as a shell script, python through `python FILE`);
- `<!-- readme-test: file SESSION NAME -->`: written to NAME for the session's later blocks;
- `<!-- readme-test: not run: REASON -->`: shown only (needs docker, a GPU, your data, a package index).
A session's blocks run in order in one bash process (so `export`s carry over), in a fresh folder with a
fresh HOME. When they name the default address, http://127.0.0.1:5055, a real `serve --demo` is
started on a free loopback port instead and its address replaces that one: that is the only edit.
`python`, `aws` and `lookoutvision-emulator` are this interpreter, its AWS CLI and `python -m server`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lookoutvision_emulator import EmulatorProcess
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEFAULT_URL = "http://127.0.0.1:5055"
MARKER = re.compile(r"<!-- readme-test: (?:(run|file) (\S+)(?: (\S+))?|not run: .+) -->")
RUNNABLE = ("bash", "python")


@dataclass
class Block:
    line: int
    language: str
    text: str
    marker: str  # the marker line, or "" when there is none


def blocks(text: str) -> list[Block]:
    found = []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        opening = re.fullmatch(r"```(\w*)\s*", lines[number])
        if opening:
            end = lines.index("```", number + 1)
            previous = lines[number - 1].strip() if number else ""
            marker = previous if previous.startswith("<!-- readme-test:") else ""
            found.append(
                Block(number + 1, opening.group(1), "\n".join(lines[number + 1 : end]) + "\n", marker)
            )
            number = end
        number += 1
    return found


def sessions() -> dict[str, list[tuple[str, str | None, Block]]]:
    """session -> [(run|file, file name, block)], in README order."""
    grouped: dict[str, list[tuple[str, str | None, Block]]] = {}
    for block in blocks(README.read_text(encoding="utf-8")):
        match = MARKER.fullmatch(block.marker)
        if match and match.group(1):
            grouped.setdefault(match.group(2), []).append((match.group(1), match.group(3), block))
    return grouped


def test_every_example_is_run_or_says_why_not():
    for block in blocks(README.read_text(encoding="utf-8")):
        if block.language in RUNNABLE:
            where = f"README.md line {block.line}"
            assert MARKER.fullmatch(block.marker), f"{where}: a {block.language} block without a marker"
            if block.marker.startswith("<!-- readme-test: run") and block.language == "python":
                compile(block.text, where, "exec")  # a syntax error fails here
    assert {"calling", "testing"} <= set(sessions())


def _shims(folder: Path) -> Path:
    folder.mkdir()
    commands = {
        "python": f'exec "{sys.executable}" "$@"',
        "aws": f'exec "{sys.executable}" -m awscli "$@"',
        "lookoutvision-emulator": f'exec "{sys.executable}" -m server "$@"',
    }
    for name, line in commands.items():
        (folder / name).write_text(f"#!/bin/sh\n{line}\n")
        (folder / name).chmod(0o755)
    return folder


@pytest.mark.parametrize("session", sorted(sessions()))
def test_readme_session_runs_as_written(session, tmp_path):
    steps = sessions()[session]
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOOKOUTVISION_", "PYTEST_"))}
    env.update(HOME=str(home), PATH=f"{_shims(tmp_path / 'bin')}{os.pathsep}{env.get('PATH', '')}")
    needs_server = any(DEFAULT_URL in block.text for _, _, block in steps)
    server = EmulatorProcess(extra_args=["--demo"]) if needs_server else None
    try:
        url = server.start().url if server else DEFAULT_URL
        script = ["set -eo pipefail"]
        for kind, name, block in steps:
            text = block.text.replace(DEFAULT_URL, url)
            if kind == "file":
                (work / str(name)).write_text(text, encoding="utf-8")
            elif block.language == "python":
                (work / f"readme_{block.line}.py").write_text(text, encoding="utf-8")
                script.append(f"echo '# README.md line {block.line}'; python readme_{block.line}.py")
            else:
                script.append(f"echo '# README.md line {block.line}'\n{text}")
        result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env, capture_output=True,
                                text=True, timeout=300)  # fmt: skip
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_the_configuration_table_is_the_settings_table():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Configuration") : text.index("\n## ", text.index("## Configuration") + 1)]
    rows = re.findall(
        r"^\| (`--[a-z0-9-]+`)? ?\| `(LOOKOUTVISION_EMULATOR_[A-Z0-9_]+)` \|", section, re.MULTILINE
    )
    documented = {env: flag.strip("`") or None for flag, env in rows}
    assert len(documented) == len(rows)
    assert documented == {option.env: option.flag for option in Settings.table()}
