"""Every ```python block of README.md and docs/*.md runs, and the config reference is current.

The blocks of one file run in order in one fresh namespace (so a page can
build on its earlier blocks), in a temporary working directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def pythonBlocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, code)`` of every ```python fenced block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


def test_block_extraction():
    text = "x\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb = a\n```\n"
    assert pythonBlocks(text) == [(3, "a = 1\n"), (9, "b = a\n")]


@pytest.mark.parametrize("path", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_python_blocks_run(path, tmp_path, monkeypatch):
    blocks = pythonBlocks(path.read_text())
    if not blocks:
        return
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{path.stem.replace('-', '_')}"}
    try:
        for line, code in blocks:
            compiled = compile(code, f"{path.relative_to(ROOT)}:{line}", "exec")
            exec(compiled, namespace)
    finally:
        plt.close("all")


def test_config_reference_is_up_to_date():
    from imagemapper._configdoc import configReferenceMarkdown

    path = ROOT / "docs" / "config-reference.md"
    assert path.exists(), "docs/config-reference.md is missing"
    assert path.read_text() == configReferenceMarkdown(), (
        "docs/config-reference.md is out of date with the config classes: regenerate it with "
        "`python -m imagemapper._configdoc --write`"
    )


def test_docs_link_to_existing_pages():
    for path in DOC_FILES:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", path.read_text()):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_readme_keeps_the_two_setup_commands_first():
    text = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", text, re.DOTALL)
    assert commands[:2] == [
        'python -m pip install ".[plot,scipy]" && imagemapper demo',
        'python -m pip install ".[test]" && cargo test --locked && python -m pytest',
    ]


def _requirementNames(pyproject: dict, extras: list[str]) -> set[str]:
    """Distribution names installed by ``.[extras]`` (nested self-extras followed)."""
    project = pyproject["project"]
    optional = project.get("optional-dependencies", {})
    names: set[str] = set()
    todo = list(extras)
    reqs = list(project["dependencies"])
    seen: set[str] = set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        reqs.extend(optional.get(extra, []))
    for req in reqs:
        name = re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].strip().lower().replace("_", "-")
        if name == project["name"]:
            todo_extras = re.search(r"\[([^\]]*)\]", req)
            if todo_extras:
                names |= _requirementNames(pyproject, todo_extras.group(1).split(","))
            continue
        names.add(name)
    return names


def test_readme_examples_need_only_what_the_demo_command_installs():
    """Issue 15: the README's second example needed scipy, which `.[plot]` did not install."""
    import ast
    import importlib.metadata
    import sys

    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    text = (ROOT / "README.md").read_text()
    demo = re.findall(r"```bash\n(.*?)\n```", text, re.DOTALL)[0]
    extras = re.search(r'"\.\[([^\]]*)\]"', demo).group(1).split(",")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    installed = _requirementNames(pyproject, extras)
    owners = importlib.metadata.packages_distributions()
    modules = set()
    for _, code in pythonBlocks(text):
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    assert modules, "the README has Python examples"
    for module in sorted(modules - set(sys.stdlib_module_names) - {"imagemapper"}):
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [module])}
        assert dists & installed, (
            f"README imports {module!r} (from {sorted(dists)}), which "
            f"'pip install .[{','.join(extras)}]' does not install"
        )
