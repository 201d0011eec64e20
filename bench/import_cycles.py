"""Import cycles between madoguchi's packages (issue 10's measure), from the graph import-linter
checks (grimp): imports at module level, inside functions and under TYPE_CHECKING all count.

    .venv/bin/python -m bench.import_cycles            # a package is a folder under madoguchi/
    .venv/bin/python -m bench.import_cycles --layers   # each domain's models.py and api.py apart
    .venv/bin/python -m bench.import_cycles -v         # with the imports that make each cycle

``--layers`` counts the way the layers contract (pyproject.toml) reads the code: a domain's
models.py belongs to the models layer and its api.py to the faces, so a route importing a higher
package, or a service importing another domain's table, is not a cycle there.

Prints each pair of packages that import each other, then the groups that import each other
through longer loops; exits 1 when there is a cycle.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import grimp

APART = ("models", "api")


def package_of(module: str, *, layers: bool) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return parts[0]
    if layers and len(parts) > 2 and parts[2] in APART:
        return parts[2]
    return parts[1]


def package_imports(*, layers: bool) -> dict[tuple[str, str], list[tuple[str, str]]]:
    graph = grimp.build_graph("madoguchi", cache_dir=None)
    imports: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            pair = (package_of(importer, layers=layers), package_of(imported, layers=layers))
            if pair[0] != pair[1]:
                imports[pair].append((importer, imported))
    return imports


def loops(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan)."""
    following: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        following[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in following[node]:
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted({p for edge in edges for p in edge}):
        if node not in index:
            visit(node)
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", action="store_true", help="models.py and api.py apart")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the imports")
    args = parser.parse_args(argv)
    imports = package_imports(layers=args.layers)
    pairs = sorted({tuple(sorted(pair)) for pair in imports if pair[::-1] in imports})
    print(f"{len(pairs)} pairs of packages that import each other")
    for a, b in pairs:
        print(f"  {a} <-> {b}")
        if args.verbose:
            for importer, imported in imports[(a, b)] + imports[(b, a)]:
                print(f"      {importer} -> {imported}")
    groups = loops(set(imports))
    print(f"{len(groups)} groups in a loop: " + "; ".join(", ".join(g) for g in groups))
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main())
