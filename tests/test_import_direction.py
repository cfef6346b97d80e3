"""The package's imports run one way along the data's road, without cycles (docs/architecture.md).

contract → settings → reference data and the warehouse → landing → parse → validate → load / report / alert →
run → orchestration and outputs → commands → cli. A module may import from its own layer or a lower one; an
import of the package's own modules inside a function is allowed only where the listed reason holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "include" / "energystat"

#: Layers, lowest first: (layer name, module-name prefixes). The longest matching prefix decides.
LAYERS = [
    ("contract", ["energystat.contract", "energystat"]),
    ("settings", ["energystat.config", "energystat.creditcode"]),
    ("reference and warehouse", ["energystat.reference", "energystat.roles", "energystat.warehouse", "energystat.migrate",
                                 "energystat.assets"]),
    ("landing", ["energystat.ingest", "energystat.ingest.landing"]),
    ("parse", ["energystat.ingest.parse"]),
    ("validate", ["energystat.ingest.validate"]),
    ("load, report, alert", ["energystat.ingest.load", "energystat.ingest.report", "energystat.ingest.alert",
                             "energystat.ingest.review"]),
    ("run", ["energystat.ingest.run"]),
    ("orchestration and outputs", ["energystat.dbt_runner", "energystat.templates", "energystat.synth",
                                   "energystat.circular", "energystat.orchestration",
                                   "energystat.monitoring"]),
    ("portal", ["energystat.portal"]),
    ("commands", ["energystat.commands"]),
    ("cli", ["energystat.cli"]),
]

#: Modules that import the package's own modules inside functions, and why.
LAZY_OWN_IMPORTS = {
    # each command imports its work when it runs, so `energystat --help` does not pay for pandas, GX, dbt
    "energystat.commands": "the CLI stays instant",
    "energystat.cli": "the CLI stays instant",
    # owned by the circular (h17) and Airflow (h11) helpers; listed until their modules are reworked
    "energystat.circular.data": "h17's module (warehouse imported lazily)",
    "energystat.circular.document": "h17's module",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    best = max(((len(prefix), rank) for rank, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), default=None)
    assert best is not None, f"{module} is in no layer of {__name__}.LAYERS"
    return best[1]


def own_imports(module: str) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for each import of the package's own modules."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(id(inner) for inner in ast.walk(node) if inner is not node)
    type_checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_checking.update(id(inner) for inner in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
                     for alias in node.names]
        else:
            continue
        found += [(name, id(node) in nested) for name in names if name.split(".")[0] == "energystat"]
    return found


def test_every_import_goes_down_the_road_or_stays_in_its_layer() -> None:
    wrong = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
             for m in MODULES for target, _ in own_imports(m) if layer_of(target) > layer_of(m)]
    assert not wrong, "imports against the road:\n" + "\n".join(wrong)


def test_the_package_has_no_import_cycle() -> None:
    graph = {m: {t for t, _ in own_imports(m) if t in MODULES and t != m} for m in MODULES}
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append([*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_own_modules_are_imported_at_the_top_unless_listed() -> None:
    def allowed(module: str) -> bool:
        return any(module == p or module.startswith(p + ".") for p in LAZY_OWN_IMPORTS)

    hidden = sorted({f"{m} imports {target} inside a function" for m in MODULES if not allowed(m)
                     for target, lazy in own_imports(m) if lazy})
    assert not hidden, "\n".join(hidden)


def test_the_contract_imports_nothing_from_the_project() -> None:
    reaching = [f"{m} imports {t}" for m in MODULES if m.startswith("energystat.contract")
                for t, _ in own_imports(m) if not t.startswith("energystat.contract")]
    assert not reaching, reaching


def test_the_checks_see_the_whole_package() -> None:
    """The graph is not empty by accident: the road's stages are all found and import each other."""
    assert {"energystat.ingest.run", "energystat.ingest.parse", "energystat.contract.forms"} <= set(MODULES)
    assert ("energystat.ingest.parse", False) in own_imports("energystat.ingest.load")
