"""Topology pictures: every scenario draws, naming every namespace and device."""
import shutil
import xml.etree.ElementTree as ET

import pytest

from emunet.cli import main
from emunet.observe.draw import dot_source, parent_of
from emunet.scenarios import SCENARIOS, get

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed "
                               "(the test command installs it: apt-get install graphviz)")
SVG = "{http://www.w3.org/2000/svg}"


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


@needs_dot
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_svg_is_rendered_with_every_namespace_device_and_address(name, tmp_path):
    out = tmp_path / f"{name}.svg"
    assert main(["draw", name, "--out", str(out)]) == 0
    root = ET.parse(out).getroot()
    texts = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    lab = get(name).build(1)
    lab.run()
    for ns in lab.sim.namespaces.values():
        assert any(t.split("\n")[0] == ns.name for t in texts), f"namespace {ns.name} not drawn"
        for dev in ns.devices.values():
            if not dev.loopback:
                assert dev.name in texts, f"{ns.name}/{dev.name} not drawn"
                for a in ns.addresses(dev):
                    assert f"{a.ip}/{a.prefixlen}" in texts


def test_containers_are_drawn_inside_their_host():
    lab = get("flannel-udp").build(1)
    assert parent_of(lab.container1.ns) is lab.node1.ns
    assert parent_of(lab.container4.ns) is lab.node2.ns
    assert parent_of(lab.node1.ns) is None and parent_of(lab.sim.ns("router")) is None
    src = dot_source(lab.sim)
    # the container's box is opened inside node1's, before node1's box closes
    assert src.index("cluster_node1") < src.index("cluster_container-1") < src.index("cluster_node2")


def test_calico_hosts_in_the_seeds_layout():
    """Calico's hosts have no bridge: the cali veths (enslaved to nothing) stand above tunl0,
    tunl0 above the NIC, as the seed draws a host; tunl0 says it is bound to no peer."""
    lab = get("calico-ipip").build(1)
    src = dot_source(lab.sim)
    cali = lab.pod1.veth_host.name
    assert f'"node1/{cali}" -- "node1/tunl0" [style=invis]' in src
    assert '"node1/tunl0" -- "node1/eth0" [style=invis]' in src
    assert "tunl0\\n10.20.0.0/32\\nipip remote any" in src
    # a pod's own eth0 (a veth too) is not ranked against anything
    assert not any(line.lstrip().startswith('"pod-1/') and "invis" in line for line in src.splitlines())


def test_a_route_reflector_hangs_below_the_switch_with_its_daemons():
    """rr1 holds no pods: like the router it hangs below the switch the nodes stand on, and
    its BIRD, confd and Felix go with it rather than floating up to the nodes' row."""
    lab = get("calico-bgp-rr").build(1)
    src = dot_source(lab.sim)
    assert '"rr1/eth0" -- "switch/lan0" [label=cable constraint=false penwidth=2]' in src
    assert '"switch/lan0" -- "rr1/eth0" [style=invis]' in src
    procs = [p for p in lab.rr.ns.processes if p.running]
    assert sorted(p.name for p in procs) == ["bird", "calico-felix", "confd"]
    for p in procs:
        assert f'"switch/lan0" -- "rr1/process {p.pid}" [style=invis]' in src
    # the nodes' daemons are not pulled down
    assert '"switch/lan0" -- "node1/process' not in src
