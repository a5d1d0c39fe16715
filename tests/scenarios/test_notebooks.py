"""Every walkthrough notebook runs end to end, and its committed outputs are current.

Whatever ``notebooks/*.ipynb`` exist are executed (a chapter added later is picked up
without touching this file); a cell that raises fails the test with the cell's error.
The outputs are compared with the committed ones (``tests/notebooks.py`` says what is
compared); a difference means the notebook is stale: ``python3 -m tests.notebooks``
refreshes it.
"""
import difflib
import pprint
import shutil

import nbformat
import pytest

from tests import notebooks as nbtools

PATHS = nbtools.notebooks()


def test_there_are_notebooks_for_the_chapters():
    names = [p.name for p in PATHS]
    for chapter in ("docker-bridge", "host-network", "flannel-udp", "calico-ipip", "flannel-vxlan",
                    "calico-vxlan", "bgp-border", "calico-bgp", "calico-bgp-rr", "vlan", "flannel-host-gw"):
        assert any(chapter in n for n in names), f"no notebook for {chapter}"


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
