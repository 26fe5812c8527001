"""Import-layer checker: which project package may import which.

The tree is layered bottom to top (see `LAYERS`); a module may import its own layer and
the layers below. The check reads source text with `ast` and never imports the code, so
it is fast, has no side effects, and can judge synthetic sources in tests just as well as
the real tree. Imports under `if TYPE_CHECKING:` are ignored: they never run.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

LAYERS: dict[str, int] = {
    "contracts": 0,
    "templates": 0,
    "policies": 1,
    "context": 2,
    "adapters": 3,
    "activities": 4,
    "workflows": 5,
    "worker": 6,
    "csops": 7,
}
"""Top-level package (or module) -> layer, bottom first."""

SINGLE_FILE_MODULES = frozenset({"worker"})
"""Top-level names that are one `.py` file rather than a package folder."""

CONTRACTS_THIRD_PARTY = (
    "pydantic",
    "temporalio.common",
    "temporalio.contrib.pydantic",
    "temporalio.converter",
)
"""All contracts may take from third parties: workflow code imports contracts, so they
must stay light and safe inside Temporal's workflow sandbox. The data converter (and
its failure converter) lives here, so the SDK's converter module is allowed."""

NEVER_IMPORTED = ("tests", "bench")
"""Not shipped with the project, so production code must not depend on them."""

PASS_THROUGH = "imports_passed_through"


@dataclass(frozen=True)
class Import:
    """One imported name as the checker sees it.

    Attributes:
        module: Dotted name of the importing module.
        line: Line of the import statement.
        target: Dotted name imported; for `from a import b` this is `a.b` when that is a
            project module (a submodule), else `a`.
        names: For `from` imports, the names taken from `target`'s package (empty otherwise).
        passed_through: Whether the statement sits in `with workflow.unsafe.imports_passed_through():`.
    """

    module: str
    line: int
    target: str
    names: tuple[str, ...]
    passed_through: bool


def project_sources(root: Path) -> dict[str, str]:
    """Read every layered module under `root`, so the check needs no import machinery.

    Args:
        root: The repository root.

    Returns:
        Dotted module name -> source text, for the `LAYERS` folders and single-file modules
        (tests/, bench/ and .venv/ are never read: they are not in `LAYERS`).
    """
    sources: dict[str, str] = {}
    for top in LAYERS:
        single = root / f"{top}.py"
        files = [single] if single.is_file() else sorted((root / top).rglob("*.py"))
        for path in files:
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            sources[".".join(parts)] = path.read_text(encoding="utf-8")
    return sources


def imports(sources: dict[str, str]) -> Iterator[Import]:
    """Every import that runs in `sources`, resolved to dotted names (relative ones too)."""
    for module, text in sorted(sources.items()):
        for node, passed in _statements([ast.parse(text, filename=_path(module, sources))]):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, node.lineno, alias.name, (), passed)
                continue
            base = _from_base(node, module, sources)
            by_target: dict[str, list[str]] = {}
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                by_target.setdefault(sub if sub in sources else base, []).append(alias.name)
            for target, names in by_target.items():
                yield Import(module, node.lineno, target, tuple(names), passed)


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Project module -> the project modules it imports (the edges cycles are made of)."""
    graph: dict[str, set[str]] = {module: set() for module in sources}
    for imp in imports(sources):
        target = _project_module(imp.target, sources)
        if target is not None and target != imp.module:
            graph[imp.module].add(target)
    return graph


def violations(sources: dict[str, str]) -> list[str]:
    """Check layering, the per-layer import rules and cycles.

    Args:
        sources: Dotted module name -> source text, e.g. from `project_sources`.

    Returns:
        One human-readable line per problem; empty when the tree is clean.
    """
    problems = [
        f"{_path(imp.module, sources)}:{imp.line}: {problem}"
        for imp in imports(sources)
        for problem in _rule_breaks(imp)
    ]
    return problems + _cycles(import_graph(sources))


def _rule_breaks(imp: Import) -> Iterator[str]:
    """The rules one import breaks, as messages without the `path:line:` prefix."""
    src, dst = _top(imp.module), _top(imp.target)
    if dst in NEVER_IMPORTED:
        yield f"{src} imports {imp.target}: {dst}/ is not part of the project"
    elif dst in LAYERS:
        if LAYERS[dst] > LAYERS[src]:
            yield f"{src} (layer {LAYERS[src]}) imports {imp.target} (layer {LAYERS[dst]}): upward"
        elif src == "workflows" and dst != "workflows" and not imp.passed_through:
            yield (
                f"workflows imports {imp.target} (layer {LAYERS[dst]}) "
                f"outside workflow.unsafe.{PASS_THROUGH}()"
            )
    elif src == "contracts" and dst not in sys.stdlib_module_names:
        if not _contracts_may_use(imp):
            allowed = ", ".join(CONTRACTS_THIRD_PARTY)
            yield f"contracts imports {imp.target}: third parties allowed are only {allowed}"
    elif src == "context" and dst == "temporalio":
        yield f"context imports {imp.target}: context must not depend on temporalio"


def _contracts_may_use(imp: Import) -> bool:
    """`from temporalio import common` counts as importing `temporalio.common`."""

    def allowed(name: str) -> bool:
        return any(name == ok or name.startswith(f"{ok}.") for ok in CONTRACTS_THIRD_PARTY)

    return allowed(imp.target) or (
        bool(imp.names) and all(allowed(f"{imp.target}.{name}") for name in imp.names)
    )


def _statements(
    nodes: Iterable[ast.AST], passed: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Import statements that run, each with whether it is inside imports_passed_through()."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, passed
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.orelse, passed)
        else:
            inside = isinstance(node, ast.With | ast.AsyncWith) and any(
                _is_pass_through(item.context_expr) for item in node.items
            )
            yield from _statements(ast.iter_child_nodes(node), passed or inside)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_pass_through(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Call) and ast.unparse(expr.func).split(".")[-1] == PASS_THROUGH


def _from_base(node: ast.ImportFrom, module: str, sources: dict[str, str]) -> str:
    """The absolute module a `from ... import` reads from, resolving leading dots."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if not _is_package(module, sources):
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _project_module(name: str, sources: dict[str, str]) -> str | None:
    """The longest prefix of `name` that is a project module (`a.b.C` -> `a.b`), if any."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if (candidate := ".".join(parts[:end])) in sources:
            return candidate
    return None


def _is_package(module: str, sources: dict[str, str]) -> bool:
    """Top-level layer folders are packages; below them, anything with submodules is."""
    if module in LAYERS:
        return module not in SINGLE_FILE_MODULES
    return any(name.startswith(f"{module}.") for name in sources)


def _path(module: str, sources: dict[str, str]) -> str:
    base = module.replace(".", "/")
    return f"{base}/__init__.py" if _is_package(module, sources) else f"{base}.py"


def _top(module: str) -> str:
    return module.partition(".")[0]


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """One line per group of mutually importing modules, showing one loop through it."""
    reach = {module: _reachable(graph, module) for module in graph}
    seen: set[str] = set()
    lines: list[str] = []
    for module in sorted(graph):
        if module in seen or module not in reach[module]:
            continue
        group = {other for other in reach[module] if module in reach[other]}
        seen |= group
        loop = _loop(graph, module, group)
        rest = sorted(group - set(loop))
        extra = f" (same cycle group: {', '.join(rest)})" if rest else ""
        lines.append(f"import cycle: {' -> '.join(loop)}{extra}")
    return lines


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Modules reachable from `start` through at least one import."""
    found: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in found:
            found.add(node)
            stack.extend(graph.get(node, ()))
    return found


def _loop(graph: dict[str, set[str]], start: str, group: set[str]) -> list[str]:
    """A shortest import path from `start` back to itself within `group`."""
    paths = {start: [start]}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, set()) & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"{start} is not on a cycle")
