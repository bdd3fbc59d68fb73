"""No module of ``python/imagemapper`` reaches into another module's private names.

The rule (also in ``docs/architecture.md``, "Private names"):

* A *private name* is an identifier with one leading underscore (``_x``, not
  a dunder ``__x__``): a module-level function, class or variable, or a
  class's method or attribute.
* A private name belongs to the module that defines it: at module level, in a
  class body, or as ``self._x = ...`` / ``cls._x = ...`` in a class's
  methods. Only that module uses it. Anything shared between modules is a
  public name (of a private module, so still not part of the user-facing API).
* Private *modules* (``_task.py``, the Rust extension ``_core``, the
  ``lsst/_compat`` package) are private to the distribution, not to their
  package: any module of ``imagemapper`` may import them and their public
  names (``from ..mapreduce._task import ImageMapReduceTask``,
  ``from .. import _core``). What users import is re-exported by the public
  packages.
* Inside a class hierarchy, ``self._x``, ``cls._x`` and ``super()._x`` are the
  class's own business (a subclass may use its base's protected members).

A use is a violation when, in module ``M``:

1. ``from X import _n`` where ``X`` is a module of the package and ``_n`` is
   not a submodule of ``X``;
2. ``X._n`` where ``X`` names a module of the package (imported) and ``_n`` is
   not a submodule of it;
3. ``C._n`` where ``C`` names a class imported from another module of the
   package;
4. ``obj._n`` (any other object, ``getattr(obj, "_n")`` and ``setattr``,
   ``hasattr``, ``delattr`` with a literal name included) where ``M`` does
   not define ``_n`` but another module of the package does: ``obj`` is, by
   name, an object of another module's class (``task._generateGrid(...)``).

Private names that the package does not define (``sys._getframe``, numpy's)
are outside this rule. Rule 4 matches by name, so a private name that ``M``
defines for itself and another module also defines is not caught; the
allow-list below names the exceptions, each with its reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "python" / "imagemapper"


@dataclass(frozen=True)
class Allowed:
    """Modules that may use some private names of other modules, and why."""

    modules: frozenset[str]
    names: frozenset[str]
    reason: str


#: The allow-list: every entry must still be needed (a test checks that each
#: name is used by one of its modules), so it shrinks as the code is fixed.
ALLOWED: tuple[Allowed, ...] = (
    Allowed(
        modules=frozenset(
            {
                "imagemapper.image._image",
                "imagemapper.image._mask",
                "imagemapper.image._maskedimage",
                "imagemapper.image._exposure",
                "imagemapper.mapreduce._cells",
                "imagemapper.mapreduce._batch",
            }
        ),
        names=frozenset(
            {
                # ImageBase / Image / Mask: pixels, parent origin, the write
                # hook, construction hooks, mask planes.
                "_array",
                "_x0",
                "_y0",
                "_writable",
                "_set",
                "_derive",
                "_slices",
                "_new_planes",
                "_planes",
                # MaskedImage: its planes and the key that compares boxes.
                "_image",
                "_mask",
                "_variance",
                "_box_key",
                # MaskedImage's constructor from ready planes (no checks, no copy).
                "_from_planes",
            }
        ),
        reason=(
            "The afw-style image family (Image, Mask, MaskedImage, Exposure) is one "
            "representation split over four modules for size: a composite builds and reads "
            "its planes through the planes' construction hooks. The copy-on-write cells "
            "(mapreduce/_cells.py subclasses the planes; _batch.py views the input's pixels) "
            "are built on that representation: reading `_array` never triggers the copy that "
            "the public `.array` (through `_writable`) does. Made public, these names would "
            "let users write pixels around copy-on-write."
        ),
    ),
)

_ATTR_FUNCS = {"getattr", "setattr", "hasattr", "delattr"}


def isPrivate(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def moduleName(path: Path, packageDir: Path) -> str:
    parts = list(path.relative_to(packageDir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def packageModules(packageDir: Path) -> dict[str, Path]:
    """Every Python module of the package, by dotted name."""
    return {moduleName(p, packageDir): p for p in sorted(packageDir.rglob("*.py"))}


def submoduleNames(modules: dict[str, Path], packageDir: Path) -> set[str]:
    """Every importable module name: the Python modules and the extension ``_core``
    (its stub ``_core.pyi``)."""
    names = set(modules)
    names |= {moduleName(p, packageDir) for p in packageDir.rglob("*.pyi")}
    return names


def resolveFrom(module: str, isPackage: bool, node: ast.ImportFrom) -> str:
    """The absolute module name of ``from X import ...`` inside ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not isPackage:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def definedPrivateNames(tree: ast.Module) -> set[str]:
    """The private names a module defines: module-level and class-body names,
    and ``self._x``/``cls._x`` assigned in its classes' methods."""
    names: set[str] = set()

    def bodyNames(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(stmt.name)
            for node in ast.walk(stmt) if not isinstance(stmt, ast.ClassDef) else ():
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    # Module-level (and, for classes, class-body) bindings;
                    # local variables of functions are never reached from outside.
                    if _enclosingIsBody(stmt, node):
                        names.add(node.id)

    bodyNames(tree.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bodyNames(node.body)
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.ctx, ast.Store)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id in ("self", "cls")
                ):
                    names.add(sub.attr)
                if (
                    isinstance(sub, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in sub.targets)
                    and isinstance(sub.value, (ast.Tuple, ast.List))
                ):
                    names |= {
                        e.value
                        for e in sub.value.elts
                        if isinstance(e, ast.Constant) and isinstance(e.value, str)
                    }
    return {n for n in names if isPrivate(n)}


def _enclosingIsBody(stmt: ast.stmt, target: ast.AST) -> bool:
    """Whether ``target`` (inside ``stmt``) binds at ``stmt``'s level, not inside
    a nested function, lambda or comprehension."""
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if node is target:
            return True
        if node is not stmt and isinstance(
            node,
            (
                ast.FunctionDef,
                ast.AsyncFunctionDef,
                ast.Lambda,
                ast.ClassDef,
                ast.ListComp,
                ast.SetComp,
                ast.DictComp,
                ast.GeneratorExp,
            ),
        ):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


@dataclass(frozen=True)
class Use:
    module: str
    line: int
    name: str
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


def findViolations(packageDir: Path = PACKAGE_DIR) -> list[Use]:
    """Every use of another module's private name in the package at ``packageDir``."""
    modules = packageModules(packageDir)
    importable = submoduleNames(modules, packageDir)
    trees = {m: ast.parse(p.read_text(), str(p)) for m, p in modules.items()}
    defined = {m: definedPrivateNames(t) for m, t in trees.items()}
    classesOf = {
        m: {n.name for n in t.body if isinstance(n, ast.ClassDef)} for m, t in trees.items()
    }
    uses: list[Use] = []
    for module, tree in trees.items():
        isPackage = modules[module].name == "__init__.py"
        elsewhere = set().union(*(d for m, d in defined.items() if m != module))
        importedModules: dict[str, str] = {}  # local name -> module
        importedClasses: dict[str, str] = {}  # local name -> defining module
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in importable:
                        importedModules[a.asname or a.name.split(".")[0]] = (
                            a.name if a.asname else a.name.split(".")[0]
                        )
            elif isinstance(node, ast.ImportFrom):
                source = resolveFrom(module, isPackage, node)
                if source not in importable:
                    continue
                for a in node.names:
                    local = a.asname or a.name
                    if f"{source}.{a.name}" in importable:
                        importedModules[local] = f"{source}.{a.name}"
                        continue
                    if isPrivate(a.name):
                        uses.append(
                            Use(module, node.lineno, a.name, f"from {source} import {a.name}")
                        )
                    if a.name in classesOf.get(source, set()):
                        importedClasses[local] = source
        for node in ast.walk(tree):
            owner: ast.expr | None = None
            name = ""
            if isinstance(node, ast.Attribute) and isPrivate(node.attr):
                owner, name = node.value, node.attr
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in _ATTR_FUNCS
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and isPrivate(node.args[1].value)
            ):
                owner, name = node.args[0], node.args[1].value
            if owner is None:
                continue
            text = f"{ast.unparse(owner)}.{name}"
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if (
                isinstance(owner, ast.Call)
                and isinstance(owner.func, ast.Name)
                and owner.func.id == "super"
            ):
                continue
            if isinstance(owner, ast.Name) and owner.id in importedModules:
                target = importedModules[owner.id]
                if f"{target}.{name}" not in importable:
                    uses.append(Use(module, node.lineno, name, f"{text} (module {target})"))
                continue
            if isinstance(owner, ast.Name) and owner.id in importedClasses:
                uses.append(
                    Use(
                        module,
                        node.lineno,
                        name,
                        f"{text} (class of {importedClasses[owner.id]})",
                    )
                )
                continue
            if name not in defined[module] and name in elsewhere:
                owners = sorted(m for m, d in defined.items() if name in d and m != module)
                uses.append(
                    Use(module, node.lineno, name, f"{text} (defined in {', '.join(owners)})")
                )
    return uses


def isAllowed(use: Use) -> bool:
    return any(use.module in a.modules and use.name in a.names for a in ALLOWED)


def test_no_module_uses_another_modules_private_names():
    violations = [u for u in findViolations() if not isAllowed(u)]
    assert not violations, (
        "private names used outside the module that defines them (make them public, "
        "or move the code to the module that owns them):\n"
        + "\n".join(f"  {u}" for u in violations)
    )


def test_every_allowed_name_is_still_needed():
    used = {(u.module, u.name) for u in findViolations()}
    for entry in ALLOWED:
        stale = sorted(n for n in entry.names if not any((m, n) in used for m in entry.modules))
        assert not stale, f"no longer used across modules, remove from the allow-list: {stale}"


def test_the_checker_finds_each_kind_of_violation_and_nothing_else(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from ._a import Task\nfrom . import _a\n",
        "_a.py": (
            "def _helper():\n    pass\n"
            "class Task:\n"
            "    def __init__(self):\n        self._state = 1\n"
            "    def _grid(self):\n        return self._state\n"
        ),
        "_b.py": (
            "import sys\n"
            "from ._a import _helper\n"  # 1: private name imported
            "from . import _a\n"  # a private module: fine
            "from ._a import Task\n"
            "from .sub import _c\n"  # a private module: fine
            "_a._helper()\n"  # 2: on an imported module
            "Task._grid\n"  # 3: on an imported class
            "def _own(x):\n"
            "    x._own\n"  # this module's own name: fine
            "    sys._getframe()\n"  # not the package's: outside the rule
            "    _c.public()\n"
            "def use(task):\n"
            "    task._grid()\n"  # 4: by name, on another module's object
            "    getattr(task, '_state')\n"  # 4, through getattr
            "class Sub(Task):\n"
            "    def g(self):\n"
            "        self._grid()\n"  # a subclass's own business: fine
            "        super()._grid()\n"
            "        return self._state\n"
        ),
        "sub/__init__.py": "",
        "sub/_c.py": "def public():\n    pass\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    found = sorted((u.module, u.line, u.name) for u in findViolations(pkg))
    assert found == [
        ("pkg._b", 2, "_helper"),
        ("pkg._b", 6, "_helper"),
        ("pkg._b", 7, "_grid"),
        ("pkg._b", 13, "_grid"),
        ("pkg._b", 14, "_state"),
    ]
