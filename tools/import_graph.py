"""Print which package of `server` imports which (direct imports), e.g. to compare two commits:

    python tools/import_graph.py

grimp comes with import-linter (the test extra); the contracts themselves live in pyproject.toml.
"""

from __future__ import annotations

import grimp


def package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def main() -> None:
    graph = grimp.build_graph("server", cache_dir=None)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            source, target = package(module), package(imported)
            if source != target and target.startswith("server"):
                edges.setdefault(source, set()).add(target.removeprefix("server."))
    for source in sorted(edges):
        print(f"{source:22} -> {', '.join(sorted(edges[source]))}")


if __name__ == "__main__":
    main()
