"""Imports run one way: every import in emunet/, at module level or inside a function, is
read with ``ast`` and checked against the layers of DESIGN.md.

    wire, sim ← devices ← stack ← apps ← control ← topology ← scenarios ← compare, bench ← cli

observe/ reads the model (wire, sim, devices, stack, apps) and is read by scenarios and
above; nothing in the model imports it, and it imports no control plane, builder or
scenario.  ``emunet/__init__.py``, ``emunet/docker.py`` and ``__main__`` are the public
doors and may import what they offer.  No two modules import each other, directly or
around a loop, however lazily.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "emunet"

_MODEL = ["wire", "sim", "devices", "stack", "apps", "control", "topology"]
_BELOW = {layer: set(_MODEL[:i + 1]) for i, layer in enumerate(_MODEL)}
_BELOW["sim"] = {"sim"}
_BELOW["wire"] = {"wire"}
#: what each layer may import (itself included)
ALLOWED = {
    **_BELOW,
    "observe": {"wire", "sim", "devices", "stack", "apps", "observe"},
    "strategies": {"wire", "sim", "strategies"},
    "scenarios": _BELOW["topology"] | {"observe", "scenarios"},
    "compare": _BELOW["topology"] | {"observe", "scenarios", "compare"},
    "bench": _BELOW["topology"] | {"observe", "scenarios", "compare", "bench"},
}
#: the doors: they may import anything below them
DOORS = {"cli", "__main__", "__init__", "docker"}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _imports(path: pathlib.Path):
    """(line, imported module) for every import of an emunet module in ``path``."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "emunet":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "emunet":
                continue
            for alias in node.names:
                # ``from emunet.wire import bgp``: the submodule, if there is one
                sub = f"{name}.{alias.name}"
                yield node.lineno, sub if _exists(sub) else name


def _exists(module: str) -> bool:
    rel = pathlib.Path(*module.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


MODULES = sorted(ROOT.rglob("*.py"))


def test_the_package_has_its_layers():
    layers = {_layer(_module_name(p)) for p in MODULES}
    assert set(_MODEL) | {"observe", "scenarios", "bench", "compare", "cli"} <= layers


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_imports_run_downhill(path):
    mod = _module_name(path)
    layer = _layer(mod)
    if layer in DOORS:
        return
    assert layer in ALLOWED, f"{mod}: layer {layer!r} is in no rule of this test; add it"
    upward = [f"{path.relative_to(ROOT.parent)}:{line} imports {target}"
              for line, target in _imports(path)
              if _layer(target) not in ALLOWED[layer] and _layer(target) != "__init__"]
    assert not upward, f"{layer} may import only {sorted(ALLOWED[layer])}:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = {}
    for p in MODULES:
        mod = _module_name(p)
        package = mod if p.name == "__init__.py" else None
        # a package's __init__ re-exporting its own submodules is not a dependency between them
        graph[mod] = {t for _, t in _imports(p) if t != mod and not (package and t.startswith(package + "."))}
    cycles = []
    index, low, stack, on_stack = {}, {}, [], set()

    def strongconnect(v, counter=[0]):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    assert not cycles, "modules that import each other (around a loop):\n" + \
        "\n".join(" ↔ ".join(c) for c in cycles)
