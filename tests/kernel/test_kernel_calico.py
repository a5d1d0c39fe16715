"""Calico's pod wiring (no BGP: the routes BGP would install are added by hand), built in
emunet from its primitives and in real namespaces, compared frame by frame on every
interface: the pods' eth0, the cali veths, the hosts' eth0.

What the kernel decides here and emunet must too: the pod ARPs for 169.254.1.1, an address
nobody has, and the host answers on the cali interface by proxy ARP with
ee:ee:ee:ee:ee:ee at once (``proxy_delay=0``); the host ARPs for a pod from the address
of another interface (the cali device has none); the routes are /32 per pod."""
import time

from emunet.apps.ping import Ping
from emunet.apps.udp import UdpEchoServer, UdpSender

from emunet.control.calico import veth_name
from emunet.observe.capture import Capture
from tests.kernel.cases import (CalicoHosts, KernelUdpEcho, Mirror, emunet_frames,
                                kernel_udp, settle, steady_clock)
from tests.kernel.compare import compare, compare_timing, dissect
from tests.kernel.harness import Topology

MS = 1_000_000
BIG = bytes(range(256)) * 5 + bytes(120)    # 1400 bytes


def _model():
    return CalicoHosts([("host1", "192.168.0.2/24", "10.20.0.0/24",
                         [("pod1", "10.20.0.2"), ("pod2", "10.20.0.3")]),
                        ("host2", "192.168.0.3/24", "10.20.1.0/24", [("pod3", "10.20.1.2")])],
                       gateway="192.168.0.1")


def _arp_times(cap, label, tpa):
    """(request time, reply time) of the first ARP exchange for ``tpa`` on ``label``."""
    req = rep = None
    for t, data, _ in cap[label]:
        f = dict(dissect(data))
        if req is None and f.get("arp.op") == 1 and f.get("arp.tpa") == tpa:
            req = t
        elif req is not None and f.get("arp.op") == 2 and f.get("arp.spa") == tpa:
            rep = t
            break
    return req, rep


def test_calico_pods_proxy_arp_ping_and_udp(netns):
    """pod1 → pod2 (same host) ping; pod1 → pod3 (other host) ping, a datagram to an echo
    server and a 1400-byte one to a closed port (port unreachable back across both hosts);
    then the hosts' unicast ARP probes of the pods ~5 s later (STALE → DELAY → PROBE)."""
    m = _model()
    labels = Mirror.labels_of(m.sim)
    steps = [(0.0, "ping", "10.20.0.3"), (0.3, "ping", "10.20.1.2"),
             (0.6, "echo", "10.20.1.2"), (0.9, "closed", "10.20.1.2")]

    def kernel():
        with Topology("cali") as t:
            k = Mirror(t, m.sim)
            echo = KernelUdpEcho(k.ns["pod3"], 7)
            sn = k.sniff(labels)
            t0 = time.monotonic()
            res = []
            try:
                for at, what, dst in steps:
                    left = t0 + at - time.monotonic()
                    if left > 0:
                        time.sleep(left)
                    if what == "ping":
                        res.append(t.exec(k.ns["pod1"], "ping", "-c", "1", dst).stdout)
                    elif what == "echo":
                        res.append(kernel_udp(k.ns["pod1"], dst, 7, b"hello calico\n", True))
                    else:
                        res.append(kernel_udp(k.ns["pod1"], dst, 9999, BIG, False))
                return settle(sn, until=5.8, start=t0), res
            finally:
                echo.close()
    kcap, res = steady_clock(kernel)
    assert "1 received" in res[0] and "1 received" in res[1], res
    assert res[2:] == ["reply", "refused"], res
    sim = m.sim
    pod1 = m.pod["pod1"]
    m.pod["pod3"].spawn(UdpEchoServer(port=7))
    for at, what, dst in steps:
        if what == "ping":
            sim.after(int(at * 1000) * MS, lambda dst=dst: pod1.spawn(Ping(dst, count=1)))
        else:
            sim.after(int(at * 1000) * MS, lambda dst=dst, what=what: pod1.spawn(
                UdpSender(dst, 7 if what == "echo" else 9999,
                          b"hello calico\n" if what == "echo" else BIG)))
    sim.run(until=7.0)
    ecap = emunet_frames(sim, labels)
    rep = compare("calico", kcap, ecap)
    cali1 = f"host1/{veth_name('default', 'pod1')}"
    # host1's unicast probe of pod1, 5 s after its entry went DELAY in the first exchange
    # (t≈0, the start of both clocks; later steps may start late on a busy machine)
    compare_timing(rep, kcap, ecap, tolerance_ns=250 * MS, ifaces=[cali1, "pod1/eth0"],
                   select=lambda d: d[12:14] == b"\x08\x06" and d[0] & 1 == 0 and d[21] == 1)
    assert len(kcap[cali1]) >= 8, rep.text()
    assert rep, rep.text()
    # who answers the ARP for 169.254.1.1, with which MAC, how fast: the host, as cali1,
    # at once (proxy_delay=0), on both sides
    for cap in (kcap, ecap):
        req, reply = _arp_times(cap, cali1, "169.254.1.1")
        assert req is not None and reply is not None and reply - req < 50 * MS, (req, reply)
    assert {"arp.sha", "arp.spa", "arp.tha", "eth.src", "icmp.quote.ip.ttl"} <= rep.fields


def _inject_arp_request(ns: str, ifname: str, src_mac: bytes, spa: str, dst_mac: bytes, tpa: str):
    """One ARP request written on ``ifname`` with an AF_PACKET socket (what ``arping -U``
    or a neighbour PROBE sends: a unicast request, dst MAC the answerer's)."""
    import socket
    from tests.kernel.harness import in_netns
    with in_netns(ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.bind((ifname, 0))
        s.send(_arp_frame(src_mac, spa, dst_mac, tpa))
    finally:
        s.close()


def _arp_frame(src_mac: bytes, spa: str, dst_mac: bytes, tpa: str) -> bytes:
    import socket
    import struct
    return (dst_mac + src_mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src_mac
            + socket.inet_aton(spa) + bytes(6) + socket.inet_aton(tpa))


def test_proxy_arp_rules_delay_forwarding_and_route(netns):
    """What decides whether and when the host answers a proxy ARP (``arp_process``):

    * ``pa`` (proxy_arp=1, forwarding=1, the default ``proxy_delay`` of 0.8 s): the pod's
      broadcast ARP for 169.254.1.1 is answered after a random delay below 0.8 s
      (``pneigh_enqueue``); a unicast request to ee:ee:ee:ee:ee:ee is answered at once
      (``PACKET_HOST`` skips the delay);
    * ``pb`` (proxy_arp=1 but forwarding=0 on its cali device): never answered
      (``IN_DEV_FORWARD``): three broadcasts, then host unreachable over the pod's lo;
    * ``pc`` on ``bare``, a host without a default route: 169.254.1.1 has no route, so
      nobody answers either."""
    from emunet.stack.namespace import Namespace
    from tests.kernel.cases import CALI_MAC, calico_pod
    from emunet.devices.veth import veth_pair
    from emunet.sim import Simulator

    sim = Simulator(seed=3)
    Capture.attach(sim)
    host = Namespace(sim, "host")
    bare = Namespace(sim, "bare")
    up0, down0 = veth_pair(sim, "eth0", "eth0", mac=b"\x42\x01\xc0\xa8\x00\x02",
                           peer_mac=b"\x42\x01\xc0\xa8\x00\x03")
    for ns, dev, cidr in ((host, up0, "192.168.0.2/24"), (bare, down0, "192.168.0.3/24")):
        ns.set_sysctl("net.ipv4.ip_forward", 1)
        ns.add_device(dev)
        dev.set_up()
        ns.addr_add(dev, cidr)
    host.route_add("default", via="192.168.0.1", dev="eth0")
    pa = calico_pod(host, "pa", "10.20.0.2")
    pb = calico_pod(host, "pb", "10.20.0.3")
    pc = calico_pod(bare, "pc", "10.20.1.2")
    cali_a, cali_b = (veth_name("default", p) for p in ("pa", "pb"))
    host.dev(cali_a).conf["proxy_delay_ms"] = None     # back to the default, 0.8 s
    host.set_sysctl(f"net.ipv4.conf.{cali_b}.forwarding", 0)
    pa_mac = pa.dev("eth0").mac
    labels = Mirror.labels_of(sim, lo=False) + ["pb/lo", "pc/lo"]

    with Topology("parp") as t:
        k = Mirror(t, sim)
        sn = k.sniff(labels)
        t0 = time.monotonic()
        out = {}
        import threading
        jobs = [threading.Thread(target=lambda p=p, dst=dst: out.setdefault(p, t.exec(
                    k.ns[p], "ping", "-c", "1", "-W", "5", dst, check=False).stdout))
                for p, dst in (("pa", "192.168.0.2"), ("pb", "192.168.0.2"), ("pc", "192.168.0.3"))]
        for j in jobs:
            j.start()
        time.sleep(max(0.0, t0 + 1.2 - time.monotonic()))
        _inject_arp_request(k.ns["pa"], "eth0", pa_mac, "10.20.0.2", CALI_MAC, "169.254.1.1")
        for j in jobs:
            j.join()
        kcap = settle(sn, until=3.4, start=t0)
    assert "1 received" in out["pa"], out
    assert "Destination Host Unreachable" in out["pb"] and "Destination Host Unreachable" in out["pc"], out

    for p, dst in ((pa, "192.168.0.2"), (pb, "192.168.0.2"), (pc, "192.168.0.3")):
        p.spawn(Ping(dst, count=1, linger=5.0))
    sim.after(1200 * MS, lambda: pa.arp.arp_send(pa.dev("eth0"), 1, dst_mac=CALI_MAC, sha=pa_mac,
                                                 spa=bytes([10, 20, 0, 2]), tha=bytes(6),
                                                 tpa=bytes([169, 254, 1, 1]), note="a unicast ARP request"))
    sim.run(until=5.0)
    ecap = emunet_frames(sim, labels)
    rep = compare("proxy ARP rules", kcap, ecap)
    assert len(kcap["pb/eth0"]) == 3 and len(kcap["pc/eth0"]) == 3, rep.text()
    assert rep, rep.text()
    label = f"host/{cali_a}"
    for who, cap in (("kernel", kcap), ("emunet", ecap)):
        arps = [(t, dict(dissect(d))) for t, d, _ in cap[label] if dict(dissect(d)).get("eth.type") == "0x0806"]
        (t_req, req), (t_rep, _), (t_ureq, ureq), (t_urep, _) = arps[:4]
        assert req["eth.dst"] == "ff:ff:ff:ff:ff:ff" and ureq["eth.dst"] == "ee:ee:ee:ee:ee:ee", (who, arps)
        # below proxy_delay (0.8 s); the kernel's timer may fire a little late on a busy machine
        limit = 800 * MS if who == "emunet" else 950 * MS
        assert 0 <= t_rep - t_req < limit, (who, "broadcast request: delayed below proxy_delay",
                                            (t_rep - t_req) / 1e6)
        assert t_urep - t_ureq < 50 * MS, (who, "unicast request: answered at once", (t_urep - t_ureq) / 1e6)
