"""The package's layout: modules import one way (no module imports one that imports it back,
lazily or for type checking alone), and each folder holds one layer of the flow."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "emovox"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Each module's emovox modules, from every import in it (top level, in functions, under
    TYPE_CHECKING), a name imported from a package counted as the module it names when it is one."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("emovox"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    found.add(target if target in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("emovox.")}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = imports()
    assert "emovox.inference.streaming" in graph["emovox.inference.predictor"]
    assert cycles(graph) == []


def test_the_artifact_layer_holds_the_format_not_training() -> None:
    graph = imports()
    artifact = [name for name in graph if name.startswith("emovox.artifact")]
    later = ("emovox.evaluation", "emovox.recipes")
    assert artifact and not any(m.startswith(later) for a in artifact for m in graph[a])


def test_results_explain_themselves() -> None:
    """results/ holds an index and three folders; each benchmark table sits beside its script's
    name and says which script wrote it; each run folder is a cross-validation report, or the
    folds of one still in progress."""
    results = PACKAGE.parents[1] / "results"
    assert sorted(p.name for p in results.iterdir()) == ["README.md", "benchmarks", "examples", "runs"]
    for table in (results / "benchmarks").glob("*.md"):
        written_by = table.read_text().splitlines()[0]
        assert written_by in (f"<!-- written by benchmarks/{table.stem}.py -->",
                              f"<!-- written by scripts/{table.stem}.py -->"), table.name  # fmt: skip
    runs = [p for p in (results / "runs").iterdir() if p.is_dir()]
    reported = [(run / "report.json").is_file() or any(run.glob("folds/*.json")) for run in runs]
    assert len(runs) > 50 and all(reported)
