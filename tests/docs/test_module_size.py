"""Long modules say why they are long.

The rule (``docs/architecture.md``, "Module size"): a Python module of the
repository (``python/``, ``tests/``, ``benchmarks/``) or a Rust source file
(``rust/``) longer than `MAX_LINES` lines has, in its module docstring (in
Rust: its leading ``//!`` comment), a line that starts with ``Long module:``
followed by the reason it is not split (at least a few words). A module at
or under the limit carries no such line, so the reason goes when the module
is split or shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 700
MARKER = "Long module:"
#: The reason after the marker: at least this many words.
MIN_REASON_WORDS = 5


def reasonOf(source: str, rust: bool = False) -> str | None:
    """The text after ``Long module:`` in the module docstring (None when absent).

    The reason runs from the marker to the end of its paragraph."""
    doc = rustModuleDoc(source) if rust else ast.get_docstring(ast.parse(source))
    if doc is None:
        return None
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(MARKER):
            paragraph = [line.strip()[len(MARKER) :]]
            for more in lines[i + 1 :]:
                if not more.strip():
                    break
                paragraph.append(more.strip())
            return " ".join(" ".join(paragraph).split())
    return None


def rustModuleDoc(source: str) -> str:
    """The leading ``//!`` comment of a Rust file, without the ``//!``."""
    doc = []
    for line in source.splitlines():
        if not line.startswith("//!"):
            break
        doc.append(line[3:])
    return "\n".join(doc)


def problems(paths: list[Path], root: Path) -> list[str]:
    """What breaks the rule in ``paths``, one line each."""
    found = []
    for path in paths:
        source = path.read_text()
        n = len(source.splitlines())
        reason = reasonOf(source, rust=path.suffix == ".rs")
        where = path.relative_to(root)
        if n > MAX_LINES and reason is None:
            found.append(
                f"{where}: {n} lines and no '{MARKER} <why>' line in its docstring: "
                "split it, or say why not"
            )
        elif n > MAX_LINES and reason is not None and len(reason.split()) < MIN_REASON_WORDS:
            found.append(f"{where}: the reason {reason!r} is too short to be one")
        elif n <= MAX_LINES and reason is not None:
            found.append(f"{where}: {n} lines, but still says '{MARKER}': remove the line")
    return found


def repositoryModules() -> list[Path]:
    python = [p for d in ("python", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py")]
    rust = [p for p in (ROOT / "rust").rglob("*.rs") if "target" not in p.parts]
    return sorted(python + rust)


def test_every_long_module_says_why():
    assert repositoryModules(), "no module found: the test looks in the wrong place"
    found = problems(repositoryModules(), ROOT)
    assert not found, "\n".join(found)


def test_the_rule_catches_a_long_module_without_a_reason_and_a_stale_reason(tmp_path):
    body = "x = 1\n" * MAX_LINES
    cases = {
        "long_no_reason.py": '"""A module."""\n' + body,
        "long_short_reason.py": '"""A module.\n\nLong module: because.\n"""\n' + body,
        "long_with_reason.py": (
            '"""A module.\n\nLong module: the four parts share one state\nmachine '
            'and would import each other.\n"""\n' + body
        ),
        "short_with_reason.py": '"""A module.\n\nLong module: no longer true at all here.\n"""\n',
        "short.py": '"""A module."""\n' + "x = 1\n" * (MAX_LINES - 1),
        "long_no_reason.rs": "//! A module.\n" + "fn f() {}\n" * MAX_LINES,
        "long_with_reason.rs": (
            "//! A module.\n//!\n//! Long module: one type whose methods share\n"
            "//! private state and cannot be parted.\n\n" + "fn f() {}\n" * MAX_LINES
        ),
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    found = problems(sorted(tmp_path.glob("*.*")), tmp_path)
    assert [line.split(":")[0] for line in found] == [
        "long_no_reason.py",
        "long_no_reason.rs",
        "long_short_reason.py",
        "short_with_reason.py",
    ]
    assert reasonOf(cases["long_with_reason.py"]) == (
        "the four parts share one state machine and would import each other."
    )
    assert reasonOf(cases["long_with_reason.rs"], rust=True) == (
        "one type whose methods share private state and cannot be parted."
    )
