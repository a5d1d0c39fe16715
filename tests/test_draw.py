"""Topology pictures."""
import shutil

import pytest

from emunet.cli import main
from emunet.observe.draw import dot_source
from emunet.scenarios import SCENARIOS, get


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_drawing_names_every_namespace_and_device(name, tmp_path):
    lab = get(name).build(1)
    src = dot_source(lab.sim, name)
    for ns in lab.sim.namespaces.values():
        assert f"cluster_{ns.name}" in src
        for dev in ns.devices.values():
            if not dev.loopback:
                assert f'"{ns.name}/{dev.name}"' in src, f"{ns.name}/{dev.name} missing"
    out = tmp_path / f"{name}.dot"
    assert main(["draw", name, "--out", str(out), "--no-run"]) == 0
    assert out.read_text() == src


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed "
                    "(the test command installs it: apt-get install graphviz)")
def test_svg_is_rendered(tmp_path):
    out = tmp_path / "topo.svg"
    assert main(["draw", "docker-bridge", "--out", str(out)]) == 0
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "docker0" in svg and "172.17.0.7/16" in svg
