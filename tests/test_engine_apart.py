"""The engine knows no target: no SecureConnect name in chaosgate/ or injectors/, no import of the
target or of a built-in injector module from the engine (they register by entry points), no symlink."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = (ROOT / "chaosgate", ROOT / "injectors")
TARGET_NAMES = re.compile(r"secureconnect|SC_[A-Z]|push-provider", re.IGNORECASE)


def _engine_files() -> list[Path]:
    return [p for base in ENGINE for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_no_file_of_the_engine_names_the_reference_target() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in _engine_files()
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if TARGET_NAMES.search(line)
    ]
    assert found == []


def test_the_engine_imports_neither_the_target_nor_its_own_injector_modules() -> None:
    """lint-imports cannot see chaosgate.injectors (mapped from injectors/ at install), so this looks."""
    offending = []
    for path in (ROOT / "chaosgate").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offending += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[0] in ("target_system", "injectors")
                or name.startswith("chaosgate.injectors")
            ]
    assert offending == []


def test_the_tree_holds_no_symlink() -> None:
    listed = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert [line for line in listed.stdout.splitlines() if line.startswith("120000")] == []
