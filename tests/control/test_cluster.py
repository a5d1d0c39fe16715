"""The cluster model: the underlay, the lease store, and a 50-node flannel-vxlan cluster."""
import random

import pytest
from scapy.layers.l2 import ARP, Ether

from emunet import Ping, Simulator
from emunet.control.etcd import EtcdStore
from emunet.control.flannel import NetworkConfig, FlannelError
from emunet.sim import MS, S
from emunet.topology import Cluster, flannel_cluster
from emunet.observe.capture import Capture


def test_a_50_node_vxlan_cluster_builds_and_sampled_pods_reach_each_other():
    sim = Simulator(seed=11)
    c = flannel_cluster(sim, 50, backend="vxlan")
    assert len(c.nodes) == 50 and c.converged()
    subnets = {n.subnet for n in c.nodes.values()}
    assert len(subnets) == 50
    for n in c.nodes.values():
        assert len(n.ns.dev("flannel.1").fdb) == 49
        assert sum(1 for r in n.ns.fib.main if r.onlink) == 49
    rng = random.Random(0)
    pods = list(c.pods.values())
    pings = []
    for _ in range(25):
        a, b = rng.sample(pods, 2)
        pings.append((a, b, a.ping(b.ip, linger=1.0)))
    sim.run(until=sim.time + 2)
    assert [(a.name, b.name) for a, b, p in pings if p.received != 1] == []


def test_subnets_are_picked_among_the_first_100_free_without_a_previous_lease():
    sim = Simulator(seed=12)
    c = flannel_cluster(sim, 5, backend="host-gw")
    for n in c.nodes.values():
        assert n.subnet.prefixlen == 24 and n.subnet.subnet_of(c.network)
        assert int(n.subnet.network_address) >= int(c.network.network_address) + 256  # SubnetMin skips .0
        assert str(n.subnet.network_address).startswith("100.96.")
        assert int(str(n.subnet.network_address).split(".")[2]) <= 100 + len(c.nodes)


def test_network_config_defaults_follow_flannels_checks():
    cfg = NetworkConfig.parse('{"Network": "100.96.0.0/16", "Backend": {"Type": "vxlan"}}')
    assert (cfg.subnet_len, str(cfg.subnet_min), str(cfg.subnet_max)) == (24, "100.96.1.0", "100.96.255.0")
    assert NetworkConfig.parse('{"Network": "10.0.0.0/24"}').subnet_len == 26
    assert NetworkConfig.parse('{"Network": "10.0.0.0/8"}').backend_type == "udp"
    with pytest.raises(FlannelError, match="at least four subnets"):
        NetworkConfig.parse('{"Network": "10.0.0.0/24", "SubnetLen": 25}')


def test_etcd_ttl_leases_watches_and_create():
    sim = Simulator(seed=1)
    etcd = EtcdStore(sim)
    seen = []
    etcd.watch("/a/", lambda evs: seen.extend((sim.now, e.type, e.kv.key) for e in evs))
    lease = etcd.grant(10)
    assert etcd.create("/a/x", "1", lease.id) and not etcd.create("/a/x", "2")
    etcd.put("/b/y", "other")
    sim.run(until=5)
    assert seen == [(1 * MS, "PUT", "/a/x")]
    etcd.keepalive(lease.id)                 # now expires at 15 s
    sim.run(until=14)
    assert etcd.get("/a/x") is not None and etcd.time_to_live(lease.id) == 1
    sim.run(until=16)
    assert etcd.get("/a/x") is None and seen[-1] == (15 * S + 1 * MS, "DELETE", "/a/x")
    # a key put under a new lease is no longer deleted when the old one expires
    old = etcd.grant(5)
    etcd.put("/a/z", "v1", old.id)
    etcd.put("/a/z", "v2", ttl=100)
    sim.run(until=30)
    assert etcd.get("/a/z").value == "v2" and etcd.get("/a/z").version == 2
    # a watch from an old revision replays history
    replay = []
    etcd.watch("/a/", replay.extend, start_revision=1)
    sim.run(until=31)
    assert [e.type for e in replay] == ["PUT", "DELETE", "PUT", "PUT"]


def test_the_underlay_pads_short_frames_learns_and_floods():
    sim = Simulator(seed=2)
    Capture.attach(sim)
    c = Cluster(sim, backend="host-gw")
    c.add_segment("lan0", "10.168.0.0/24")
    n1, n2, n3 = (c.add_node(f"n{i}", f"10.168.0.{i + 1}") for i in (1, 2, 3))
    c.settle()
    p = n1.ns.spawn(Ping(n2.ip))
    sim.run(until=sim.time + 1)
    assert p.received == 1
    req_out = Capture.of(sim).on("n1/eth0")[0]
    assert len(req_out.data) == 42 and Ether(req_out.data)[ARP].op == 1
    req_in = Capture.of(sim).on("n3/eth0")[0]          # flooded to every port, padded on the wire
    assert len(req_in.data) == 60 and req_in.data[42:] == bytes(18)
    sw = c.segments["lan0"].switch
    assert sw.flooded == 1 and set(sw.fdb) >= {n1.eth0.mac, n2.eth0.mac}
    # the echo request went only to n2: n3 saw nothing but the broadcast
    assert len(Capture.of(sim).on("n3/eth0")) == 1
    # time on the wire: 1 µs per cable, serialisation at 10 Gbit/s, store-and-forward
    t_out = req_out.time_ns
    t_in = Capture.of(sim).on("n2/eth0")[0].time_ns
    assert t_in - t_out == 2 * (1000 + (60 + 24) * 8 // 10)


def test_runtimes_name_and_address_pods_as_docker_and_the_cni_bridge_plugin_do():
    sim = Simulator(seed=3)
    for runtime, bridge, prefix, hexlen in (("docker", "docker0", "0242", 7), ("cni", "cni0", "0a58", 8)):
        c = Cluster(sim, backend="udp", runtime=runtime, router_name=f"r-{runtime}")
        c.add_segment("lan0", "10.168.0.0/24")
        n = c.add_node(f"{runtime}-node", "10.168.0.2", subnet="100.96.5.0/24")
        p = c.add_pod(n, f"{runtime}-pod")
        assert n.bridge.name == bridge and p.ip == "100.96.5.2"
        assert p.mac.hex().startswith(prefix) and p.mac[2:] == bytes((100, 96, 5, 2))
        assert len(p.veth_host.name) == 4 + hexlen and p.eth0.mtu == 1472
        routes = [r.show() for r in p.ns.fib.main.routes()]
        assert routes[0] == "default via 100.96.5.1 dev eth0"
        assert ("100.96.0.0/16 via 100.96.5.1 dev eth0" in routes) == (runtime == "cni")


def test_bad_clusters_are_refused_with_the_culprit_named():
    sim = Simulator(seed=4)
    c = Cluster(sim)
    c.add_segment("lan0", "10.168.0.0/24")
    with pytest.raises(ValueError, match="no segment has 10.9.9.9"):
        c.add_node("x", "10.9.9.9")
    with pytest.raises(ValueError, match="router's address"):
        c.add_node("x", "10.168.0.1")
    with pytest.raises(ValueError, match="overlaps segment lan0"):
        c.add_segment("lan9", "10.168.0.128/25")
    n = c.add_node("node1", "10.168.0.2")
    with pytest.raises(ValueError, match="not a usable pod address"):
        c.add_pod(n, ip="100.200.0.5")
