"""The import graph: components never import rmpe, no cycle, and no import points up the stages.

Every ``import`` statement is read with ``ast`` (module-level and inside functions alike, so a
cycle hidden in a function-level import is found too).
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Set

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rmpe", "sppe", "detectors", "pose_nms", "pgpg")

#: Stages of rmpe, lowest first: a module may import its own stage and those below it.
LAYERS = (
    ("rmpe.errors", "rmpe.io", "rmpe.keypoints", "rmpe.structures", "rmpe.testing", "rmpe.precision",
     "rmpe.sigstack"),
    ("rmpe.geometry", "rmpe.codec", "rmpe.crop", "rmpe.stn", "rmpe.formats", "rmpe.render", "rmpe.evaluation",
     "rmpe.evaluation_bootstrap",
     "rmpe.data.annotations", "rmpe.data.augment", "rmpe.data.synthetic", "rmpe.tracking",
     "rmpe.bottomup", "rmpe.bottomup.limbs", "rmpe.bottomup.targets", "rmpe.bottomup.association"),
    ("rmpe.config", "rmpe.distributed", "rmpe.model", "rmpe.checkpoints", "rmpe.data.dataset", "rmpe.data.loader",
     "rmpe.sources", "rmpe.results_io", "rmpe.outputs", "rmpe.export", "rmpe.bottomup.network",
     "rmpe.bottomup.checkpoint", "rmpe.bottomup.data"),
    ("rmpe.pipeline", "rmpe.bottomup.pipeline"),
    ("rmpe.eval_runner",),
    ("rmpe.train",),
    ("rmpe.api",),
    ("rmpe.cli", "rmpe.config_reference", "rmpe"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", getattr(child.test, "attr", None)) == "TYPE_CHECKING":
                todo.extend(child.orelse)
                continue
            todo.append(child)


def imports_of(path: Path) -> Set[str]:
    """Project modules that ``path`` imports (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: Set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                root = ".".join(base + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            targets = [root] + [f"{root}.{a.name}" for a in node.names]
        else:
            continue
        out.update(t for t in targets if t.split(".")[0] in PACKAGES)
    return out


def graph() -> Dict[str, Set[str]]:
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    edges = {}
    for name, path in files.items():
        # an import of a name inside a module counts as an import of that module
        edges[name] = {t if t in files else t.rsplit(".", 1)[0] for t in imports_of(path)} & set(files) - {name}
    return edges


def layer(module: str) -> int:
    best = (-1, -1)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), index))
    assert best[1] >= 0, f"{module} is in no stage of LAYERS"
    return best[1]


def test_components_never_import_rmpe():
    for name, targets in graph().items():
        if name.split(".")[0] != "rmpe":
            assert not any(t.split(".")[0] == "rmpe" for t in targets), (name, sorted(targets))


def test_no_import_points_up_the_stages():
    bad = []
    for name, targets in graph().items():
        if not name.startswith("rmpe"):
            continue
        for t in targets:
            if t.startswith("rmpe") and t != "rmpe" and layer(t) > layer(name) and not t.startswith(name + "."):
                bad.append(f"{name} (stage {layer(name)}) imports {t} (stage {layer(t)})")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycle():
    edges = graph()
    # a package's __init__ re-exporting its own submodules is not a cycle
    edges = {n: {t for t in ts if not n.startswith(t + ".")} for n, ts in edges.items()}
    state: Dict[str, int] = {}
    stack = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
