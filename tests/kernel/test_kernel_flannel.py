"""Flannel's datapaths, built in emunet and in real namespaces the way flanneld wires
them, compared frame by frame on every interface: pod eth0, the host-side veth, cni0,
flannel.1 (inner frames), the nodes' eth0 (outer frames)."""
import time

from emunet.apps.ping import Ping
from emunet.apps.udp import UdpEchoServer, UdpSender

from tests.kernel.cases import (KernelUdpEcho, Mirror, Nodes, emunet_frames, kernel_udp,
                                settle)
from tests.kernel.compare import compare
from tests.kernel.harness import Topology

MS = 1_000_000
BIG = bytes(range(256)) * 5 + bytes(120)    # 1400 bytes


def _traffic_kernel(k: Mirror, dst: str, t0: float, steps) -> None:
    """Run ``steps`` = [(seconds after t0, callable)] against the kernel, in order."""
    for at, fn in steps:
        left = t0 + at - time.monotonic()
        if left > 0:
            time.sleep(left)
        fn()


def test_flannel_vxlan_pod_to_pod(netns):
    """pod1 (node1) → pod2 (node2) over flannel.1: ping, a UDP datagram to an echo server,
    a 1400-byte one to a closed port (ICMP port unreachable back through the tunnel)."""
    m = Nodes([("node1", "10.168.0.2", 24, "100.96.1.0/24"),
               ("node2", "10.168.0.3", 24, "100.96.2.0/24")], pod_mtu=1450)
    m.cable("node1", "node2", (b"\x42\x01\x0a\xa8\x00\x02", b"\x42\x01\x0a\xa8\x00\x03"))
    m.vxlan()
    labels = Mirror.labels_of(m.sim)
    dst = "100.96.2.2"
    with Topology("vx") as t:
        k = Mirror(t, m.sim)
        echo = KernelUdpEcho(k.ns["pod2"], 7)
        sn = k.sniff(labels)
        t0 = time.monotonic()
        res = {}
        try:
            _traffic_kernel(k, dst, t0, [
                (0.0, lambda: res.setdefault("ping", t.exec(k.ns["pod1"], "ping", "-c", "1", dst).stdout)),
                (0.2, lambda: res.setdefault("echo", kernel_udp(k.ns["pod1"], dst, 7, b"hello vxlan\n", True))),
                (0.4, lambda: res.setdefault("closed", kernel_udp(k.ns["pod1"], dst, 9999, BIG, False))),
            ])
            kcap = settle(sn, until=0.8, start=t0)
        finally:
            echo.close()
    assert "1 received" in res["ping"] and res["echo"] == "reply" and res["closed"] == "refused", res
    sim = m.sim
    pod1, pod2 = m.pod["pod1"], m.pod["pod2"]
    pod2.spawn(UdpEchoServer(port=7))
    pod1.spawn(Ping(dst, count=1))
    sim.after(200 * MS, lambda: pod1.spawn(UdpSender(dst, 7, b"hello vxlan\n")))
    sim.after(400 * MS, lambda: pod1.spawn(UdpSender(dst, 9999, BIG)))
    sim.run(until=1.5)
    ecap = emunet_frames(sim, labels)
    rep = compare("flannel-vxlan", kcap, ecap)
    assert len(kcap["node1/eth0"]) >= 8, rep.text()
    assert rep, rep.text()
    assert {"vxlan.vni", "vxlan.flags", "inner.ip.ttl", "inner.icmp.quote.udp.len",
            "udp.checksum", "ip.id.copies_inner"} <= rep.fields


def test_flannel_host_gw_routes_via_the_peer_node(netns):
    """Nodes on one L2 segment (a bridge in namespace ``lan``); node1 routes pod2's subnet
    via node2 and back: pod1 pings pod2 (TTL 62 at pod2) and sends it a 1400-byte datagram
    to a closed port; both kernel and emunet refuse a host-gw route to a node that is not on
    the segment (Nexthop has invalid gateway)."""
    import pytest

    m = Nodes([("node1", "10.20.0.2", 24, "192.168.0.0/24"),
               ("node2", "10.20.0.3", 24, "192.168.1.0/24")], lan=True)
    m.host_gw()
    labels = Mirror.labels_of(m.sim)
    dst = "192.168.1.2"
    with Topology("hgw") as t:
        k = Mirror(t, m.sim)
        p = t.exec(k.ns["node1"], "ip", "route", "add", "192.168.2.0/24", "via", "10.20.1.2",
                   "dev", "eth0", check=False)
        assert p.returncode != 0 and "Nexthop has invalid gateway" in p.stderr, p
        sn = k.sniff(labels)
        t0 = time.monotonic()
        res = {}
        _traffic_kernel(k, dst, t0, [
            (0.0, lambda: res.setdefault("ping", t.exec(k.ns["pod1"], "ping", "-c", "1", dst).stdout)),
            (0.3, lambda: res.setdefault("closed", kernel_udp(k.ns["pod1"], dst, 9999, BIG, False))),
        ])
        kcap = settle(sn, until=0.6, start=t0)
    assert "ttl=62" in res["ping"] and res["closed"] == "refused", res
    with pytest.raises(ValueError, match="Nexthop has invalid gateway"):
        m.node["node1"].route_add("192.168.2.0/24", via="10.20.1.2", dev="eth0")
    sim = m.sim
    pod1 = m.pod["pod1"]
    pod1.spawn(Ping(dst, count=1))
    sim.after(300 * MS, lambda: pod1.spawn(UdpSender(dst, 9999, BIG)))
    sim.run(until=1.5)
    ecap = emunet_frames(sim, labels)
    rep = compare("flannel-host-gw", kcap, ecap)
    assert len(kcap["node1/eth0"]) >= 6, rep.text()
    assert rep, rep.text()
    assert {"icmp.quote.ip.ttl", "ip.ttl"} <= rep.fields


def test_icmp_errors_of_routers_on_the_host_gw_path(netns):
    """The nodes as routers answering with ICMP errors: TTL exceeded from node1 (TTL 1) and
    from node2 (TTL 2), destination net unreachable from node1 for an address it has no
    route to, and the same with TTL 1 (the route lookup comes before the TTL check)."""
    m = Nodes([("node1", "10.20.0.2", 24, "192.168.0.0/24"),
               ("node2", "10.20.0.3", 24, "192.168.1.0/24")], lan=True)
    m.host_gw()
    labels = Mirror.labels_of(m.sim)
    pings = [(0.0, "192.168.1.2", 1), (0.3, "192.168.1.2", 2), (0.6, "10.99.0.1", 64),
             (0.9, "10.99.0.1", 1)]
    with Topology("icmp") as t:
        k = Mirror(t, m.sim)
        sn = k.sniff(labels)
        t0 = time.monotonic()
        out = []
        _traffic_kernel(k, None, t0, [
            (at, lambda dst=dst, ttl=ttl: out.append(t.exec(
                k.ns["pod1"], "ping", "-c", "1", "-W", "1", "-t", str(ttl), dst, check=False).stdout))
            for at, dst, ttl in pings])
        kcap = settle(sn, until=1.2, start=t0)
    assert all("From " in o for o in out), out
    sim = m.sim
    pod1 = m.pod["pod1"]
    for at, dst, ttl in pings:
        sim.after(int(at * 1000) * MS, lambda dst=dst, ttl=ttl: pod1.spawn(
            Ping(dst, count=1, ttl=ttl, linger=1.0)))
    sim.run(until=2.0)
    ecap = emunet_frames(sim, labels)
    rep = compare("ICMP errors on the host-gw path", kcap, ecap)
    assert len(kcap["pod1/eth0"]) == 10, rep.text()
    assert rep, rep.text()


def test_flannel_udp_through_flannel0(netns):
    """The seed's UDP backend: container-1 (node1) → container-4 (node2) through docker0,
    ``100.96.0.0/16 dev flannel0``, flanneld's proxy (TTL − 1 on each side) and UDP 8285
    between the nodes.  emunet's flanneld against a stand-in for its proxy
    (``reference/tools/flannel_udp_proxy.py``, doing what ``proxy_amd64.c`` does) on
    kernel TUNs: a ping, a datagram to an echo server, a 1400-byte one to a closed port
    (port unreachable back through both proxies), and a datagram to 100.96.3.2, a subnet no
    lease holds (the proxy writes ICMP net unreachable into flannel0, which node1's kernel
    drops: its source is node1's own address)."""
    import os
    import pytest
    from tests.kernel.cases import start_flannel_udp_proxies
    from tests.kernel.compare import LINKTYPE_RAW

    if not os.path.exists("/dev/net/tun"):
        pytest.skip("kernel comparison skipped: /dev/net/tun does not exist (no TUN driver here)")

    m = Nodes([("node1", "10.168.0.2", 24, "100.96.1.0/24"),
               ("node2", "10.168.0.3", 24, "100.96.2.0/24")], pod_mtu=1472, runtime="docker")
    m.cable("node1", "node2", (b"\x42\x01\x0a\xa8\x00\x02", b"\x42\x01\x0a\xa8\x00\x03"))
    daemons = m.flanneld("udp")
    labels = Mirror.labels_of(m.sim)
    linktypes = {f"{n}/flannel0": LINKTYPE_RAW for n in m.node}
    dst = "100.96.2.2"
    with Topology("fudp") as t:
        k = Mirror(t, m.sim)
        start_flannel_udp_proxies(t, k, daemons)
        echo = KernelUdpEcho(k.ns["pod2"], 7)
        sn = k.sniff(labels)
        t0 = time.monotonic()
        res = {}
        try:
            _traffic_kernel(k, dst, t0, [
                (0.0, lambda: res.setdefault("ping", t.exec(k.ns["pod1"], "ping", "-c", "1", dst).stdout)),
                (0.2, lambda: res.setdefault("echo", kernel_udp(k.ns["pod1"], dst, 7, b"hello flannel0\n", True))),
                (0.4, lambda: res.setdefault("closed", kernel_udp(k.ns["pod1"], dst, 9999, BIG, False))),
                (0.6, lambda: res.setdefault("nolease", kernel_udp(k.ns["pod1"], "100.96.3.2", 9999, b"anyone?\n",
                                                                   False, timeout=0.5))),
            ])
            kcap = settle(sn, until=1.7, start=t0)
        finally:
            echo.close()
    assert "1 received" in res["ping"] and "ttl=60" in res["ping"], res
    # flanneld's net unreachable for 100.96.3.2 comes from node1's own flannel0 address:
    # node1 drops it as a martian source, so the socket hears nothing
    assert res["echo"] == "reply" and res["closed"] == "refused" and res["nolease"] == "timeout", res
    sim = m.sim
    pod1, pod2 = m.pod["pod1"], m.pod["pod2"]
    pod2.spawn(UdpEchoServer(port=7))
    pod1.spawn(Ping(dst, count=1))
    sim.after(200 * MS, lambda: pod1.spawn(UdpSender(dst, 7, b"hello flannel0\n")))
    sim.after(400 * MS, lambda: pod1.spawn(UdpSender(dst, 9999, BIG)))
    sim.after(600 * MS, lambda: pod1.spawn(UdpSender("100.96.3.2", 9999, b"anyone?\n")))
    sim.run(until=sim.time + 2.0)
    ecap = emunet_frames(sim, labels)
    rep = compare("flannel-udp", kcap, ecap, linktypes)
    assert len(kcap["node1/eth0"]) >= 8, rep.text()
    assert rep, rep.text()
    assert {"inner.ip.ttl", "inner.ip.flags.df", "inner.icmp.quote.ip.ttl", "udp.checksum",
            "inner.ip.id.step", "ip.id.copies_inner"} <= rep.fields
