"""Every walkthrough notebook runs end to end, and its committed outputs are current.

Whatever ``notebooks/*.ipynb`` exist are executed (a chapter added later is picked up
without touching this file); a cell that raises fails the test with the cell's error.
The outputs are compared with the committed ones (``tests/notebooks.py`` says what is
compared); a difference means the notebook is stale: ``python3 -m tests.notebooks``
refreshes it.
"""
import ast
import difflib
import pprint
import shutil

import nbformat
import pytest

from emunet.scenarios import SCENARIOS
from tests import notebooks as nbtools

PATHS = nbtools.notebooks()


def scenarios_run(path) -> list:
    """The scenarios a notebook's code builds: the names it passes to the registry's
    ``get`` (imported from emunet.scenarios), in the order they appear."""
    cells = [ast.parse(c.source) for c in nbformat.read(str(path), as_version=4).cells
             if c.cell_type == "code"]
    getters = {a.asname or a.name for tree in cells for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom)
               and node.module in ("emunet.scenarios", "emunet.scenarios.registry")
               for a in node.names if a.name == "get"}
    names = []
    for tree in cells:
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id in getters and n.args and isinstance(n.args[0], ast.Constant)]
        names += [n.args[0].value for n in sorted(calls, key=lambda n: (n.lineno, n.col_offset))]
    return names


def test_every_scenario_has_a_notebook_that_runs_it():
    """Each chapter builds the scenario it is named after (``NN-<scenario>.ipynb`` calls
    ``get("<scenario>")`` first), every name a notebook builds is registered, and every
    registered scenario is built by some notebook."""
    assert PATHS, "no notebooks/*.ipynb"
    run = {p.stem: scenarios_run(p) for p in PATHS}
    for stem, names in run.items():
        assert names, f"{stem}.ipynb builds no scenario"
        assert stem.split("-", 1)[1] == names[0], f"{stem}.ipynb first builds {names[0]!r}"
        assert set(names) <= set(SCENARIOS), f"{stem}.ipynb builds {set(names) - set(SCENARIOS)}"
    built = {n for names in run.values() for n in names}
    assert sorted(SCENARIOS) == sorted(built), f"no notebook runs {sorted(set(SCENARIOS) - built)}"


@pytest.mark.skipif(shutil.which("dot") is None, reason="the notebooks draw with Graphviz's dot, "
                    "which is not installed (the test command installs it: apt-get install graphviz)")
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_and_its_outputs_are_current(path, tmp_path):
    committed = nbformat.read(str(path), as_version=4)
    nbformat.validate(committed)
    assert all(c.get("outputs") for c in committed.cells if c.cell_type == "code" and c.source.strip()), \
        f"{path.name} is committed without outputs: python3 -m tests.notebooks {path}"
    ran = nbtools.execute(path, workdir=tmp_path)        # raises on the first failing cell
    want, got = nbtools.comparable(committed), nbtools.comparable(ran)
    if want != got:
        diff = "\n".join(difflib.unified_diff(pprint.pformat(want, width=120).splitlines(),
                                              pprint.pformat(got, width=120).splitlines(),
                                              "committed", "now", lineterm="", n=2))
        rel = path.relative_to(nbtools.ROOT)
        pytest.fail(f"{path.name} is stale (python3 -m tests.notebooks {rel} refreshes it):\n{diff[:6000]}")
    # what the notebook says it wrote, it wrote
    for name in {w for c in ran.cells if c.cell_type == "code"
                 for o in c.get("outputs", []) if o.output_type == "stream"
                 for w in o.text.split() if w.endswith(".pcapng")}:
        assert (tmp_path / name).stat().st_size > 0, f"{path.name} names {name} but did not write it"
