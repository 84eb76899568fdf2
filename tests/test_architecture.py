"""Import contract of jffs_driver (docs/architecture.md), checked on the source with ``ast``.

Every ``import`` and ``from ... import`` anywhere in a module counts (module level, inside
functions, in ``try`` blocks), relative imports resolved, plus ``importlib.import_module`` /
``__import__`` with a literal name. Nothing is imported or executed. Rules:

(a) only modules under ``jffs_driver/engine`` import ``lammps``;
(b) only modules under ``jffs_driver/parallel`` import ``mpi4py``;
(c) no module imports a module of a higher layer (:data:`LAYERS`), except the edges in
    :data:`KNOWN_BACK_EDGES` (to be removed) and :data:`EXCEPTIONS` (by design). Imports in an
    ``if TYPE_CHECKING:`` block are exempt from (c) only;
(d) only modules under ``jffs_driver/engine`` drive LAMMPS: no other module imports
    ``engine.lammps_backend``, names ``LammpsHandle`` or reads an engine's ``.handle``, except
    those in :data:`HANDLE_EXCEPTIONS` (by design) and :data:`KNOWN_HANDLE_USERS` (to be removed).

A new top-level module or subpackage fails :func:`test_every_module_has_a_layer` until it is
given a layer here and in docs/architecture.md.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pytest

pytestmark = pytest.mark.quick

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "jffs_driver"
DOC = REPO / "docs" / "architecture.md"

#: Layer of each top-level module or subpackage of jffs_driver (key: the name after
#: ``jffs_driver.``; ``""`` is the package root, which holds ``__version__`` only).
#: A module may import its own layer and lower ones. Same table as docs/architecture.md.
LAYERS: dict[str, int] = {
    "": 0, "errors": 0, "units": 0, "schema": 0, "state": 0, "progress": 0, "resources": 0,
    "_mpilib": 0,
    "ffs": 1, "order_parameter": 1, "correction": 1,
    "engine": 2,
    "parallel": 3,
    "system": 4,
    "models": 5, "store": 5,
    "config": 6, "config_checks": 6, "config_doc": 6,
    "campaign_state": 7, "scheduling": 7, "scheduler": 7, "campaign": 7, "results": 7, "doctor": 7,
    "analysis": 8,
    "study": 9,
    "cli": 10, "api": 10, "__main__": 10,
}

#: External packages that only one part of jffs_driver may import (rules a and b).
BOUNDARIES: dict[str, str] = {"lammps": "engine", "mpi4py": "parallel"}

#: Current imports of a higher layer, to be removed (listed in docs/architecture.md under
#: "Known back-edges, to be removed"). Keys drop the ``jffs_driver.`` prefix.
KNOWN_BACK_EDGES: dict[tuple[str, str], str] = {
}

#: Upward imports that are part of the design (documented in docs/architecture.md).
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("", "api"): "PEP 562 lazy re-export of open_store: runs on first attribute access only",
}

#: Modules outside jffs_driver/engine that drive a LammpsHandle by design (rule d; keys drop
#: the ``jffs_driver.`` prefix; documented in docs/architecture.md).
HANDLE_EXCEPTIONS: dict[str, str] = {
    "doctor": "jffs doctor diagnoses the engine boundary itself: styles, library features, a probe run "
              "of the control block on the installed LAMMPS",
}

#: Modules outside jffs_driver/engine that drive a LammpsHandle today, to be removed (rule d;
#: listed in docs/architecture.md under "Known back-edges, to be removed").
KNOWN_HANDLE_USERS: dict[str, str] = {}

#: The module that owns LammpsHandle, and the names that reach a live instance (rule d).
LAMMPS_BACKEND = "jffs_driver.engine.lammps_backend"
HANDLE_NAMES = ("LammpsHandle", "handle")


@dataclass(frozen=True)
class Edge:
    """One import statement: ``importer`` imports ``target`` (both dotted, absolute)."""

    importer: str
    target: str
    line: int
    type_checking: bool = False


def all_modules(pkg_dir: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of the package (packages by their ``__init__``)."""
    out: dict[str, Path] = {}
    for path in sorted(pkg_dir.rglob("*.py")):
        parts = list(path.relative_to(pkg_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(source: str, module: str, is_package: bool, known: Iterable[str]) -> list[Edge]:
    """Every import in ``source`` (the text of ``module``), resolved to absolute names.

    ``from X import name`` yields ``X.name`` when that is a module in ``known``, else ``X``.
    """
    known = set(known)
    package = module.split(".") if is_package else module.split(".")[:-1]
    edges: list[Edge] = []

    def add(target: str, node: ast.AST, tc: bool) -> None:
        edges.append(Edge(module, target, getattr(node, "lineno", 0), tc))

    def visit(node: ast.AST, tc: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, tc)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node, tc)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                source_mod = ".".join(base + ([node.module] if node.module else []))
            else:
                source_mod = node.module or ""
            for alias in node.names:
                sub = f"{source_mod}.{alias.name}"
                add(sub if sub in known else source_mod, node, tc)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                add(node.args[0].value, node, tc)
        for child in ast.iter_child_nodes(node):
            visit(child, tc)

    visit(ast.parse(source), False)
    return edges


def short(name: str) -> str:
    """``jffs_driver.a.b`` -> ``a.b``; the package root -> ``""``."""
    return name[len(PACKAGE) + 1:] if name.startswith(PACKAGE + ".") else ("" if name == PACKAGE else name)


def layer_key(name: str) -> str:
    """The :data:`LAYERS` key of a module of the package."""
    return short(name).split(".")[0]


def resolve(target: str, known: Iterable[str]) -> str:
    """The longest prefix of ``target`` that is a module of the package."""
    known = set(known)
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target


def violations(edges: Iterable[Edge], modules: Iterable[str], layers: Mapping[str, int],
               allowed: Iterable[tuple[str, str]], boundaries: Mapping[str, str]) -> list[str]:
    """Every broken rule, one line each (empty: the contract holds)."""
    modules = set(modules)
    allowed = set(allowed)
    out: list[str] = []
    for e in edges:
        top = e.target.split(".")[0]
        if top in boundaries:
            owner = boundaries[top]
            if layer_key(e.importer) != owner:
                out.append(f"{e.importer}:{e.line} imports {e.target}; only jffs_driver.{owner} may")
            continue
        if top != PACKAGE or e.type_checking:
            continue
        target = resolve(e.target, modules)
        a, b = layers.get(layer_key(e.importer)), layers.get(layer_key(target))
        if a is None or b is None:
            out.append(f"{e.importer}:{e.line} -> {target}: module without a layer")
        elif b > a and (short(e.importer), short(target)) not in allowed:
            out.append(f"{e.importer}:{e.line} (layer {a}) imports {target} (layer {b}): "
                       "a lower layer must not import a higher one")
    return list(dict.fromkeys(out))  # one line per statement, not per imported name


def handle_uses(source: str, module: str) -> list[str]:
    """Where ``source`` (the text of ``module``) names ``LammpsHandle`` or reads an attribute
    ``.handle`` (a :class:`LammpsEngine`'s live instance), one line each (rule d)."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and node.id == HANDLE_NAMES[0]:
            out.append(f"{module}:{node.lineno} names LammpsHandle")
        elif isinstance(node, ast.Attribute) and node.attr in HANDLE_NAMES:
            out.append(f"{module}:{node.lineno} reads .{node.attr}")
        elif isinstance(node, ast.alias) and node.name == HANDLE_NAMES[0]:
            out.append(f"{module}:{getattr(node, 'lineno', 0)} imports LammpsHandle")
    return out


def lammps_drivers(edges: Iterable[Edge], sources: Mapping[str, str], known: Iterable[str],
                   allowed: Iterable[str]) -> list[str]:
    """Every module outside ``engine`` that drives LAMMPS itself (rule d), one line per use.

    A use is an import of :data:`LAMMPS_BACKEND` (any name from it, at any level) or a use
    found by :func:`handle_uses`; modules named in ``allowed`` (without the package prefix) are
    skipped.
    """
    allowed = set(allowed)
    out: list[str] = []
    for e in edges:
        if layer_key(e.importer) != "engine" and short(e.importer) not in allowed \
                and resolve(e.target, known) == LAMMPS_BACKEND:
            out.append(f"{e.importer}:{e.line} imports {LAMMPS_BACKEND}")
    for module, source in sources.items():
        if layer_key(module) != "engine" and short(module) not in allowed:
            out += handle_uses(source, module)
    return sorted(dict.fromkeys(out))


# ----------------------------------------------------------------------- the package itself
MODULES = all_modules(REPO / PACKAGE)


def package_edges() -> list[Edge]:
    out: list[Edge] = []
    for name, path in MODULES.items():
        out += imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", MODULES)
    return out


EDGES = package_edges()


def test_every_module_has_a_layer() -> None:
    missing = sorted({layer_key(m) for m in MODULES} - set(LAYERS))
    assert not missing, f"give these a layer in LAYERS and docs/architecture.md: {missing}"
    assert not sorted(set(LAYERS) - {layer_key(m) for m in MODULES}), "LAYERS names a module that is gone"


def test_only_engine_imports_lammps_and_only_parallel_imports_mpi4py() -> None:
    importers = {lib: sorted({e.importer for e in EDGES if e.target.split(".")[0] == lib}) for lib in BOUNDARIES}
    assert importers["lammps"], "no module imports lammps: has the import form changed?"
    assert importers["mpi4py"], "no module imports mpi4py: has the import form changed?"
    bad = [v for v in violations(EDGES, MODULES, LAYERS, (), BOUNDARIES) if "only jffs_driver." in v]
    assert not bad, "\n".join(bad)


def test_no_module_imports_a_higher_layer() -> None:
    bad = violations(EDGES, MODULES, LAYERS, {**KNOWN_BACK_EDGES, **EXCEPTIONS}, BOUNDARIES)
    assert not bad, "\n".join(bad)


def test_allowlisted_edges_exist_and_are_documented() -> None:
    present = {(short(e.importer), short(resolve(e.target, MODULES))) for e in EDGES
               if e.target.split(".")[0] == PACKAGE}
    doc = DOC.read_text(encoding="utf-8")
    for edge in {**KNOWN_BACK_EDGES, **EXCEPTIONS}:
        assert edge in present, f"{edge} no longer exists: remove it from the allowlist and the doc"
        shown = f"`{edge[0] or 'jffs_driver'} -> {edge[1]}`"
        assert shown in doc, f"docs/architecture.md does not list {shown}"
    back = doc.split("Known back-edges, to be removed", 1)[1]
    for edge in KNOWN_BACK_EDGES:
        assert f"`{edge[0]} -> {edge[1]}`" in back


def test_only_engine_drives_lammps() -> None:
    """Rule (d): the rest of the package reaches LAMMPS through engine-level functions and classes
    (Engine, LammpsEngine, force_split, staged_md, ...), never through a LammpsHandle."""
    sources = {name: path.read_text(encoding="utf-8") for name, path in MODULES.items()}
    assert lammps_drivers(EDGES, sources, MODULES, ()), "no module uses LammpsHandle: has the name changed?"
    bad = lammps_drivers(EDGES, sources, MODULES, {*HANDLE_EXCEPTIONS, *KNOWN_HANDLE_USERS})
    assert not bad, "drive LAMMPS through jffs_driver/engine (an engine-level function or class):\n" + "\n".join(bad)
    doc = DOC.read_text(encoding="utf-8")
    back = doc.split("Known back-edges, to be removed", 1)[1]
    for module in {**HANDLE_EXCEPTIONS, **KNOWN_HANDLE_USERS}:
        assert lammps_drivers(EDGES, {f"{PACKAGE}.{module}": sources[f"{PACKAGE}.{module}"]}, MODULES, ()), \
            f"{module} no longer drives LAMMPS: remove it from the allowlist and the doc"
        assert f"`{module}` drives a `LammpsHandle`" in doc, f"docs/architecture.md does not list `{module}`"
    for module in KNOWN_HANDLE_USERS:
        assert f"`{module}` drives a `LammpsHandle`" in back


def test_layer_table_matches_the_doc() -> None:
    doc = DOC.read_text(encoding="utf-8")
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) ([^\n]*)$", doc, re.M)}
    for name, layer in LAYERS.items():
        assert f"`{name or '__version__'}`" in rows.get(layer, ""), \
            f"docs/architecture.md: layer {layer} row does not name `{name or '__version__'}`"


# ------------------------------------------------------------- the checker can fail at all
def test_checker_reports_synthetic_violations() -> None:
    known = set(MODULES) | {"jffs_driver.store.fake", "jffs_driver.ffs.fake"}
    src_store = (
        "from typing import TYPE_CHECKING\n"
        "from ..errors import StoreError\n"            # down: fine
        "if TYPE_CHECKING:\n"
        "    from ..scheduler import Scheduler\n"      # up, annotations only: exempt
        "def f():\n"
        "    from ..campaign import run_campaign\n"    # up, function level: caught
        "    import importlib\n"
        "    importlib.import_module('jffs_driver.cli')\n"  # up, dynamic: caught
    )
    src_ffs = "import numpy\ntry:\n    import lammps\nexcept ImportError:\n    from mpi4py import MPI\n"
    edges = (imports_of(src_store, "jffs_driver.store.fake", False, known)
             + imports_of(src_ffs, "jffs_driver.ffs.fake", False, known))
    found = violations(edges, known, LAYERS, (), BOUNDARIES)
    assert len(found) == 4, found
    assert any("imports jffs_driver.campaign (layer 7)" in v for v in found)
    assert any("imports jffs_driver.cli (layer 10)" in v for v in found)
    assert any("imports lammps; only jffs_driver.engine may" in v for v in found)
    assert any("imports mpi4py; only jffs_driver.parallel may" in v for v in found)
    # The allowlist silences exactly its edge; the real engine/parallel modules may import.
    assert len(violations(edges, known, LAYERS, {("store.fake", "campaign")}, BOUNDARIES)) == 3
    ok = [Edge("jffs_driver.engine.lammps_backend", "lammps", 1),
          Edge("jffs_driver.parallel.mpi", "mpi4py.MPI", 1)]
    assert violations(ok, known, LAYERS, (), BOUNDARIES) == []
    # An unassigned module is reported, not silently accepted.
    assert violations([Edge("jffs_driver.newthing", "jffs_driver.errors", 1)],
                      known | {"jffs_driver.newthing"}, LAYERS, (), BOUNDARIES)


def test_lammps_driver_checker_reports_synthetic_uses() -> None:
    known = set(MODULES) | {"jffs_driver.analysis.fake", "jffs_driver.engine.fake"}
    src = (
        "def f(engine):\n"
        "    from ..engine.lammps_backend import LammpsHandle\n"   # import of the backend: caught
        "    h = LammpsHandle()\n"                                 # the name: caught
        "    engine.handle.command('run 0')\n"                     # an engine's instance: caught
        "    from ..engine.force_split import ForceSplitter\n"     # an engine-level class: fine
    )
    edges = imports_of(src, "jffs_driver.analysis.fake", False, known)
    found = lammps_drivers(edges, {"jffs_driver.analysis.fake": src}, known, ())
    assert len(found) == 4, found
    assert any("imports jffs_driver.engine.lammps_backend" in v for v in found)
    assert any(":3 names LammpsHandle" in v for v in found) and any(":4 reads .handle" in v for v in found)
    assert lammps_drivers(edges, {"jffs_driver.analysis.fake": src}, known, {"analysis.fake"}) == []
    # inside the engine the same text is the point of the layer
    inside = imports_of(src, "jffs_driver.engine.fake", False, known)
    assert lammps_drivers(inside, {"jffs_driver.engine.fake": src}, known, ()) == []


def test_relative_imports_resolve() -> None:
    known = set(MODULES)
    edges = imports_of("from . import __version__\nfrom .store import layout\n",
                       "jffs_driver.campaign", False, known)
    assert [e.target for e in edges] == ["jffs_driver", "jffs_driver.store.layout"]
    pkg = imports_of("from . import layout\nfrom .records import StageRecord\n", "jffs_driver.store", True, known)
    assert [e.target for e in pkg] == ["jffs_driver.store.layout", "jffs_driver.store.records"]
