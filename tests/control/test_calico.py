"""Calico's BGP and IPIP modes on emunet's BIRD: the seed's routing tables, reachability,
what the UPDATEs carry (read back with tshark, not our parser), route reflection, IPIP
CrossSubnet on the wire, and what happens when a node goes away and comes back."""
import itertools

import pytest

from emunet.apps.ping import Ping
from emunet.control.calico import IpPool, selector_matches, veth_name
from emunet.observe.show import run_command
from emunet.scenarios.calico_bgp import build as build_bgp
from emunet.scenarios.calico_bgp_rr import build as build_rr
from emunet.scenarios.calico_ipip import build as build_ipip
from emunet.sim import Simulator
from emunet.topology import CalicoCluster
from tests.tshark import NO_REASSEMBLY, fields, needs_tshark, problems


@pytest.fixture(scope="module")
def bgp():
    return build_bgp().run()


@pytest.fixture(scope="module")
def rr():
    return build_rr().run()


@pytest.fixture(scope="module")
def ipip():
    return build_ipip().run()


def _routes(lab, node):
    return run_command(lab, node, "ip route").splitlines()


def test_the_routing_tables_are_the_seeds(bgp):
    c1, c2 = veth_name("default", "pod-1"), veth_name("default", "pod-2")
    c3, c4 = veth_name("default", "pod-3"), veth_name("default", "pod-4")
    assert _routes(bgp, "node1") == [
        "default via 192.168.0.1 dev eth0 ",
        "blackhole 10.20.0.0/24 proto bird ",
        f"10.20.0.2 dev {c1} scope link ",
        f"10.20.0.3 dev {c2} scope link ",
        "10.20.1.0/24 via 192.168.0.3 dev eth0 proto bird ",
        "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.2 ",
    ]
    assert _routes(bgp, "node2") == [
        "default via 192.168.0.1 dev eth0 ",
        "10.20.0.0/24 via 192.168.0.2 dev eth0 proto bird ",
        "blackhole 10.20.1.0/24 proto bird ",
        f"10.20.1.2 dev {c3} scope link ",
        f"10.20.1.3 dev {c4} scope link ",
        "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.3 ",
    ]
    assert "Mesh_192_168_0_3 BGP      master   up     " in run_command(bgp, "node1", "birdc show protocols")
    assert bgp.node1.bird.protocol("Mesh_192_168_0_3").cf.passive          # 192.168.0.3 > 192.168.0.2
    assert not bgp.node2.bird.protocol("Mesh_192_168_0_2").cf.passive


def test_every_pod_reaches_every_other(bgp):
    pods = list(bgp.cluster.pods.values())
    pings = [(a, b, a.ns.spawn(Ping(b.ip, count=1, linger=1.0))) for a, b in itertools.permutations(pods, 2)]
    bgp.sim.run(until=bgp.sim.time + 3)
    assert [(a.name, b.name) for a, b, p in pings if p.received != 1] == []
    assert len(pings) == 12


@needs_tshark
def test_tshark_reads_each_nodes_block_and_next_hop_in_its_update(bgp, tmp_path):
    path = bgp.capture.write(str(tmp_path / "bgp.pcapng"))
    assert problems(path) == []
    rows = fields(path, ["frame.interface_name", "ip.src", "bgp.type", "bgp.nlri_prefix",
                         "bgp.update.path_attribute.next_hop", "tcp.dstport", "tcp.srcport"],
                  ["-Y", "bgp", *NO_REASSEMBLY])
    sent = [r for r in rows if r[0] == {"192.168.0.2": "node1", "192.168.0.3": "node2"}[r[1]] + "/eth0"]
    types = [t for r in sent for t in r[2].split(",")]
    assert types.count("1") == 2 and "4" in types              # OPEN each way, KEEPALIVEs
    updates = {(r[1], r[3], r[4]) for r in sent if r[3]}
    assert updates == {("192.168.0.2", "10.20.0.0", "192.168.0.2"), ("192.168.0.3", "10.20.1.0", "192.168.0.3")}
    # node1 is passive towards node2: node2 opened the session to port 179
    syn = fields(path, ["ip.src", "tcp.dstport"], ["-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0"])
    assert {tuple(r) for r in syn} == {("192.168.0.3", "179")}


def test_route_reflection_one_session_per_node_and_the_reflected_attributes(rr, tmp_path):
    assert len(rr.rr.bird.sessions()) == 4
    assert all(list(n.bird.sessions()) == ["Node_192_168_0_10"] for n in rr.nodes)
    assert "10.20.3.0/24 via 192.168.0.5 dev eth0 proto bird " in _routes(rr, "node1")
    assert rr.ping.received == 1
    assert all(rr.rr.bird.protocol(f"Node_192_168_0_{i}").cf.rr_client for i in range(2, 6))


@needs_tshark
def test_tshark_reads_originator_id_and_cluster_list_on_reflected_updates(rr, tmp_path):
    path = rr.capture.write(str(tmp_path / "rr.pcapng"))
    assert problems(path) == []
    rows = fields(path, ["frame.interface_name", "ip.src", "ip.dst", "bgp.nlri_prefix",
                         "bgp.update.path_attribute.next_hop", "bgp.update.path_attribute.originator_id",
                         "bgp.path_attribute.cluster_id"],
                  ["-Y", "bgp.type == 2", *NO_REASSEMBLY])
    to_node1 = {(r[3], r[4], r[5], r[6]) for r in rows
                if r[0] == "rr1/eth0" and r[1] == "192.168.0.10" and r[2] == "192.168.0.2" and r[3]}
    for prefixes, hops, origs, clusters in to_node1:
        assert clusters == "244.0.0.1"
        assert prefixes.split(",") and hops == origs        # next hop kept: the originating node
    reflected = {p: h for prefixes, h, _, _ in to_node1 for p in prefixes.split(",")}
    assert reflected == {"10.20.1.0": "192.168.0.3", "10.20.2.0": "192.168.0.4", "10.20.3.0": "192.168.0.5"}


def test_ipip_crosssubnet_tunnels_only_to_the_other_subnet(ipip):
    assert _routes(ipip, "node1")[3:5] == ["10.20.1.0/24 via 192.168.0.3 dev eth0 proto bird ",
                                           "10.20.2.0/24 via 192.168.1.2 dev tunl0 proto bird onlink "]
    tunl0 = ipip.node1.ns.dev("tunl0")
    assert tunl0.mtu == 1480 and ipip.pod1.eth0.mtu == 1480
    assert "inet 10.20.0.0/32 scope global tunl0" in run_command(ipip, "node1", "ip addr show tunl0")
    assert ipip.ping.received == 1 and ipip.ping_same_subnet.received == 1
    cap = ipip.capture
    req = [r.data for r in cap.on("node1/eth0") if r.pid == ipip.ping.pids[0] and r.direction == "out"][0]
    assert req[23] == 4 and len(req) == 14 + 20 + 84                  # Ether / IPv4 proto 4 / the ping
    assert req[26:34] == bytes([192, 168, 0, 2, 192, 168, 1, 2])
    assert req[14 + 8] == 63 and req[14 + 6] & 0x40                     # TTL and DF inherited
    plain = [r.data for r in cap.on("node1/eth0") if r.pid == ipip.ping_same_subnet.pids[0]
             and r.direction == "out"][0]
    assert plain[23] == 1 and len(plain) == 98                         # ICMP, no tunnel
    assert ipip.node3.ns.dev("tunl0").decapsulated >= 2


@needs_tshark
def test_tshark_sees_the_inner_icmp_inside_ipip(ipip, tmp_path):
    path = ipip.capture.write(str(tmp_path / "ipip.pcapng"))
    assert problems(path) == []
    rows = fields(path, ["frame.interface_name", "ip.proto", "ip.src", "icmp.type"], ["-Y", "ip.proto == 4"])
    assert {r[0] for r in rows} >= {"node1/eth0", "router/eth0", "router/eth1", "node3/eth0"}
    assert all(r[1].startswith("4,1") and r[3] in ("8", "0") for r in rows if r[3])


def _mesh(n=3, pods=True):
    sim = Simulator(seed=5)
    c = CalicoCluster(sim, IpPool("10.20.0.0/16", block_size=24))
    c.add_segment("lan0", "192.168.0.0/24")
    nodes = [c.add_node(f"node{i + 1}", f"192.168.0.{i + 2}", block=f"10.20.{i}.0/24") for i in range(n)]
    for i, node in enumerate(nodes):
        if pods:
            c.add_pod(node, f"p{i + 1}", f"10.20.{i}.2")
    sim.run(until=10)
    assert c.established()
    return sim, c, nodes


def _has(node, prefix):
    return any(str(r.dst) == prefix for r in node.ns.fib.main.routes())


def test_a_node_whose_link_is_cut_is_withdrawn_after_the_hold_timer_and_restored_when_it_returns():
    sim, c, (n1, n2, n3) = _mesh()
    cut = sim.now
    c.unplug(n3)
    gone_at = {}
    while sim.time < 400 and len(gone_at) < 2:
        sim.run(until=sim.time + 1)
        for n in (n1, n2):
            if n not in gone_at and not _has(n, "10.20.2.0/24"):
                gone_at[n] = sim.now
    # each peer's own hold timer, jittered, after the last keepalive it heard
    for n in (n1, n2):
        assert n in gone_at, n
        waited = (gone_at[n] - cut) / 1e9
        assert 240 * 0.75 - 80 <= waited <= 241, (n, waited)
    assert "Hold timer expired" in n1.bird.birdc("show protocols")
    c.plug(n3)
    sim.run(until=sim.time + 60)
    assert _has(n1, "10.20.2.0/24") and _has(n2, "10.20.2.0/24") and c.established()
    ping = c.pods["p1"].ns.spawn(Ping("10.20.2.2", count=1))
    sim.run(until=sim.time + 2)
    assert ping.received == 1


def test_removing_a_node_withdraws_its_block_at_once_and_deconfigures_its_peers():
    sim, c, (n1, n2, n3) = _mesh()
    c.remove_node("node3")
    sim.run(until=sim.time + 1)
    assert not _has(n1, "10.20.2.0/24") and not _has(n2, "10.20.2.0/24")
    assert "Mesh_192_168_0_4" not in n1.bird.sessions()
    assert c.store.get("/calico/resources/v3/projectcalico.org/nodes/node3") is None
    assert c.store.get("/calico/ipam/v2/assignment/ipv4/block/10.20.2.0-24") is None
    # a node joining later is meshed by every confd
    n4 = c.add_node("node4", "192.168.0.9", block="10.20.9.0/24")
    sim.run(until=sim.time + 10)
    assert "Mesh_192_168_0_9" in n1.bird.sessions() and c.established()
    assert "Mesh_192_168_0_2" in n4.bird.sessions()
    assert _has(n1, "10.20.9.0/24")


def test_bgp_mode_across_a_router_dies_at_the_router_and_ipip_crosses_it(bgp, ipip):
    # (arrived, errors, drop reasons) of a ping from a pod to a pod on the other subnet
    assert bgp.across_router() == (False, [], ["IP_NOROUTE at router/eth0"])
    assert ipip.across_router() == (True, [], [])


def test_selectors_and_bad_input():
    assert selector_matches("all()", {}) and selector_matches("route-reflector == 'true'", {"route-reflector": "true"})
    assert not selector_matches("has(rr) && zone != 'a'", {"rr": "", "zone": "a"})
    with pytest.raises(ValueError, match="IPIP and VXLAN"):
        IpPool("10.0.0.0/16", ipip_mode="Always", vxlan_mode="Always")
    sim = Simulator()
    c = CalicoCluster(sim, IpPool("10.20.0.0/16", block_size=24))
    c.add_segment("lan0", "192.168.0.0/24")
    c.add_node("node1", "192.168.0.2", block="10.20.0.0/24")
    with pytest.raises(ValueError, match="already affine to node1"):
        c.add_node("node2", "192.168.0.3", block="10.20.0.0/24")
    with pytest.raises(ValueError, match="not in IP pool"):
        c.add_pod("node1", "x", "10.99.0.2")
    with pytest.raises(ValueError, match="cannot parse"):
        c.add_bgp_peer("bad", "all()", "zone ~ 'a'")


def test_birdc_takes_a_prefix_and_names_calicos_export_filter(rr):
    want = run_command(rr, "node1", "birdc show route for 10.20.3.7")
    assert "10.20.3.0/24       via 192.168.0.5 on eth0 [Node_192_168_0_10 " in want
    assert run_command(rr, "node1", "birdc show route for 10.20.3.0/24") == want
    assert run_command(rr, "node1", "birdc show route 10.20.3.0/24") == want
    assert "syntax error" in run_command(rr, "node1", "birdc show route for 10.20.3.0/99")
    detail = run_command(rr, "node1", "birdc show protocols all Node_192_168_0_10")
    assert "  Output filter:  calico_export_to_bgp_peers" in detail
