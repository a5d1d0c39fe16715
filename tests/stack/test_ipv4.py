"""The IPv4 stack against what Linux does: ARP failure, forwarding errors, UDP, sysctls."""
import errno

import pytest
from scapy.layers.inet import ICMP, IP, UDP, IPerror, UDPerror
from scapy.layers.l2 import ARP, Ether

from emunet import Namespace, Simulator, veth_pair
from emunet.apps import Ping, UdpEchoServer, UdpSender
from emunet.docker import DockerHost
from emunet.sim import S
from emunet.observe.capture import Capture


def _link(sim, a: Namespace, b: Namespace, a_if="eth0", b_if="eth0", a_cidr=None, b_cidr=None,
          a_mac=None, b_mac=None, mtu=1500):
    x, y = veth_pair(sim, a_if, b_if, mac=a_mac, peer_mac=b_mac, mtu=mtu)
    a.add_device(x)
    b.add_device(y)
    x.set_up()
    y.set_up()
    if a_cidr:
        a.addr_add(x, a_cidr)
    if b_cidr:
        b.addr_add(y, b_cidr)
    return x, y


def routed(mtu_right=1500):
    """left 10.0.1.2 — router (10.0.1.1 | 10.0.2.1) — right 10.0.2.2"""
    sim = Simulator(seed=3)
    Capture.attach(sim)
    left, r, right = Namespace(sim, "left"), Namespace(sim, "router"), Namespace(sim, "right")
    _link(sim, left, r, "eth0", "eth1", "10.0.1.2/24", "10.0.1.1/24",
          "02:00:00:00:01:02", "02:00:00:00:01:01")
    _link(sim, r, right, "eth2", "eth0", "10.0.2.1/24", "10.0.2.2/24",
          "02:00:00:00:02:01", "02:00:00:00:02:02", mtu=mtu_right)
    left.route_add("default", via="10.0.1.1")
    right.route_add("default", via="10.0.2.1")
    r.set_sysctl("net.ipv4.ip_forward", 1)
    return sim, left, r, right


def test_arp_failure_three_probes_then_host_unreachable_via_lo():
    sim = Simulator(seed=1)
    Capture.attach(sim)
    host = DockerHost(sim)
    c1 = host.run("c1", ip="172.17.0.7")
    p = c1.ping("172.17.0.99", count=1)
    sim.run()
    reqs = [r for r in Capture.of(sim).on("c1/eth0") if r.direction == "out"]
    assert [r.time_ns for r in reqs] == [0, 1 * S, 2 * S]
    for r in reqs:
        arp = Ether(r.data)[ARP]
        assert Ether(r.data).dst == "ff:ff:ff:ff:ff:ff" and arp.pdst == "172.17.0.99"
        assert arp.psrc == "172.17.0.7"
    n = c1.ns.neigh.lookup(c1.ns.dev("eth0"), 0xAC110063)
    assert n.state == "FAILED"
    assert c1.ns.drop_reasons["NEIGH_FAILED"] == 1
    # the error is generated locally and delivered over lo, as tcpdump -i lo shows
    lo = [Ether(r.data) for r in Capture.of(sim).on("c1/lo")]
    assert lo and lo[0][ICMP].type == 3 and lo[0][ICMP].code == 1
    assert lo[0][IP].src == "172.17.0.7" and lo[0][IP].dst == "172.17.0.7" and lo[0][IP].tos == 0xC0
    assert lo[0][IPerror].dst == "172.17.0.99"
    assert Capture.of(sim).on("c1/lo")[0].time_ns == 3 * S  # FAILED after the third probe times out
    assert "From 172.17.0.7 icmp_seq=1 Destination Host Unreachable" in p.stdout
    assert "1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms" in p.stdout
    assert p.exit_code == 1


def test_pending_queue_holds_packets_until_resolution():
    sim, left, r, right = routed()
    ping = left.spawn(Ping("10.0.2.2", count=3, interval=0.2))
    sim.run()
    assert ping.received == 3
    # the first echo waited on the router for right's MAC and was sent right after the reply
    out = [Ether(x.data) for x in Capture.of(sim).on("router/eth2") if x.direction == "out"]
    assert ARP in out[0] and out[1][ICMP].type == 8 and out[1][IP].ttl == 63


def test_forwarding_decrements_ttl_with_a_valid_checksum():
    sim, left, r, right = routed()
    left.spawn(Ping("10.0.2.2", count=1))
    sim.run()
    fwd = [Ether(x.data) for x in Capture.of(sim).on("right/eth0") if ICMP in Ether(x.data)][0]
    assert fwd[IP].ttl == 63 and fwd.src == "02:00:00:00:02:01" and fwd.dst == "02:00:00:00:02:02"
    raw = bytes(fwd)
    del fwd[IP].chksum
    assert bytes(Ether(bytes(fwd))) == raw


def test_ttl_expired_gets_time_exceeded_from_the_router():
    sim, left, r, right = routed()
    p = left.spawn(Ping("10.0.2.2", count=1, ttl=1))
    sim.run()
    assert r.drop_reasons["TTL_EXPIRED"] == 1
    err = [Ether(x.data) for x in Capture.of(sim).on("left/eth0") if x.direction == "in" and ICMP in Ether(x.data)]
    assert err[0][ICMP].type == 11 and err[0][IP].src == "10.0.1.1" and err[0][IP].tos == 0xC0
    assert err[0][IP].flags == 0 and err[0][IP].ttl == 64
    assert "From 10.0.1.1 icmp_seq=1 Time to live exceeded" in p.stdout


def test_no_route_gets_net_unreachable():
    sim, left, r, right = routed()
    p = left.spawn(Ping("192.0.2.1", count=1))
    sim.run()
    assert r.drop_reasons["IP_NOROUTE"] == 1
    assert "From 10.0.1.1 icmp_seq=1 Destination Net Unreachable" in p.stdout


def test_df_over_smaller_mtu_gets_frag_needed_with_the_mtu():
    sim, left, r, right = routed(mtu_right=1400)
    p = left.spawn(Ping("10.0.2.2", count=1, size=1400))
    sim.run()
    assert r.drop_reasons["PKT_TOO_BIG"] == 1
    err = [Ether(x.data) for x in Capture.of(sim).on("left/eth0") if x.direction == "in" and ICMP in Ether(x.data)]
    assert (err[0][ICMP].type, err[0][ICMP].code, err[0][ICMP].nexthopmtu) == (3, 4, 1400)
    # the quote is the offending datagram cut at 576 bytes in all
    assert len(err[0][IP]) == 576
    assert "From 10.0.1.1 icmp_seq=1 Frag needed and DF set" in p.stdout[1]


def test_ip_forward_off_drops_silently():
    sim, left, r, right = routed()
    r.set_sysctl("net.ipv4.ip_forward", 0)
    p = left.spawn(Ping("10.0.2.2", count=1, linger=2))
    sim.run()
    assert r.drop_reasons["IP_INADDRERRORS"] == 1
    assert p.received == 0 and p.errors == 0


def test_udp_echo_and_port_unreachable():
    sim, left, r, right = routed()
    right.spawn(UdpEchoServer(port=7))
    ok = left.spawn(UdpSender("10.0.2.2", 7, b"hello", sport=40000))
    closed = left.spawn(UdpSender("10.0.2.2", 9999, b"x" * 1000, sport=40001))
    sim.run()
    assert ok.replies == [(b"hello", ("10.0.2.2", 7))]
    assert closed.errors == [(errno.ECONNREFUSED, "10.0.2.2")]
    err = [Ether(x.data) for x in Capture.of(sim).on("right/eth0")
           if x.direction == "out" and ICMP in Ether(x.data)][0]
    assert (err[ICMP].type, err[ICMP].code) == (3, 3)
    assert err[IP].src == "10.0.2.2" and err[IP].tos == 0xC0 and err[IP].flags == 0
    assert err[UDPerror].dport == 9999 and len(err[IP]) == 576
    assert right.drop_reasons["NO_SOCKET"] == 1
    sent = [Ether(x.data) for x in Capture.of(sim).on("left/eth0") if UDP in Ether(x.data)]
    assert sent[0][IP].flags == "DF" and sent[0][UDP].sport == 40000


def test_udp_bind_conflict_is_eaddrinuse():
    sim = Simulator(seed=1)
    ns = Namespace(sim, "n")
    a = ns.udp.socket()
    a.bind(("0.0.0.0", 80))
    b = ns.udp.socket()
    with pytest.raises(OSError) as e:
        b.bind(("0.0.0.0", 80))
    assert e.value.errno == errno.EADDRINUSE
    assert "bind() to 0.0.0.0:80 failed (98: Address already in use)" in str(e.value)


def test_icmp_errors_are_rate_limited_per_destination():
    """Time exceeded: icmp_send's bucket, a burst of 6 then one a second.  Net unreachable
    for a packet the router cannot route: ip_error takes a token of its own from the same
    bucket first (burst 5 s), so a fresh peer gets 2 (what the kernel showed traceroute)."""
    sim, left, r, right = routed()
    p = left.spawn(Ping("10.0.2.2", count=10, interval=0.01, ttl=1))
    sim.run()
    assert p.errors == 6 and r.drop_reasons["ICMP_RATELIMIT"] == 4
    sim, left, r, right = routed()
    p = left.spawn(Ping("192.0.2.1", count=10, interval=0.01))
    sim.run()
    assert p.errors == 2 and r.drop_reasons["ICMP_RATELIMIT"] == 8


def test_gratuitous_arp_is_ignored_without_an_entry():
    from emunet.wire import ArpView, EthernetView, Frame
    sim, left, r, right = routed()
    garp = EthernetView.emit(b"\xff" * 6, b"\x02\x00\x00\x00\x09\x09", 0x0806) + \
        ArpView.emit(1, b"\x02\x00\x00\x00\x09\x09", bytes([10, 0, 1, 9]), b"\0" * 6, bytes([10, 0, 1, 9]))
    r.dev("eth1").receive(Frame(garp, 1))
    sim.run()
    assert r.neigh.lookup(r.dev("eth1"), 0x0A000109) is None


def test_connected_udp_numbers_ip_ids_unconnected_draws_them():
    sim, left, r, right = routed()
    right.spawn(UdpEchoServer(port=7))
    left.spawn(UdpSender("10.0.2.2", 7, b"abc", count=3, interval=0.1))
    sim.run()
    sent = [Ether(x.data) for x in Capture.of(sim).on("left/eth0") if x.direction == "out" and UDP in Ether(x.data)]
    ids = [p[IP].id for p in sent]
    assert ids[1] == (ids[0] + 1) & 0xFFFF and ids[2] == (ids[1] + 1) & 0xFFFF
    echoed = [Ether(x.data) for x in Capture.of(sim).on("right/eth0") if x.direction == "out" and UDP in Ether(x.data)]
    assert echoed[0][IP].flags == "DF"  # the echo server's unconnected sendto: DF, drawn ID


# -- proxy ARP and martian sources, as the kernel tests found them -----------------------
def _calico_like(proxy_delay=0, forwarding=1, default_route=True):
    """A host answering by proxy ARP on ``cali0`` for a pod routing via 169.254.1.1 (the
    wiring of tests/kernel/test_kernel_calico.py)."""
    sim = Simulator(seed=5)
    Capture.attach(sim)
    host, pod, far = Namespace(sim, "host"), Namespace(sim, "pod"), Namespace(sim, "far")
    host.set_sysctl("net.ipv4.ip_forward", 1)
    _link(sim, host, far, a_cidr="192.168.0.2/24", b_cidr="192.168.0.3/24")
    cali, eth0 = _link(sim, host, pod, "cali0", "eth0", a_mac="ee:ee:ee:ee:ee:ee",
                       b_mac="02:00:00:00:00:02")
    pod.addr_add(eth0, "10.20.0.2/32")
    pod.route_add("169.254.1.1", dev=eth0)
    pod.route_add("default", via="169.254.1.1", dev=eth0)
    host.route_add("10.20.0.2", dev=cali)
    if default_route:
        host.route_add("default", via="192.168.0.3", dev="eth0")
    host.set_sysctl("net.ipv4.conf.cali0.proxy_arp", 1)
    host.set_sysctl("net.ipv4.neigh.cali0.proxy_delay", proxy_delay)
    host.set_sysctl("net.ipv4.conf.cali0.forwarding", forwarding)
    return sim, host, pod, cali, eth0


def _arp_reply_delay(sim, cali, eth0, dst_mac):
    """Send a who-has 169.254.1.1 from the pod; the time until the host's reply, or None."""
    from emunet.wire.ethernet import mac_to_bytes
    t0, before = sim.now, len(Capture.of(sim).on("host/cali0"))
    eth0.ns.arp.arp_send(eth0, 1, dst_mac=mac_to_bytes(dst_mac), sha=eth0.mac, spa=bytes([10, 20, 0, 2]),
                         tha=bytes(6), tpa=bytes([169, 254, 1, 1]), note="who-has 169.254.1.1")
    sim.run(until=sim.time + 2)
    replies = [r.time_ns for r in Capture.of(sim).on("host/cali0")[before:]
               if r.direction == "out" and bytes(r.data[20:22]) == b"\x00\x02"]
    return (replies[0] - t0) if replies else None


def test_proxy_arp_needs_forwarding_and_a_route_through_another_device():
    sim, host, pod, cali, eth0 = _calico_like()
    assert _arp_reply_delay(sim, cali, eth0, "ff:ff:ff:ff:ff:ff") is not None
    # IN_DEV_FORWARD: proxy_arp alone is not enough (kernel 6.18: no reply at all)
    sim, host, pod, cali, eth0 = _calico_like(forwarding=0)
    assert _arp_reply_delay(sim, cali, eth0, "ff:ff:ff:ff:ff:ff") is None
    # no route to 169.254.1.1 (a host without a default route): nobody answers
    sim, host, pod, cali, eth0 = _calico_like(default_route=False)
    assert _arp_reply_delay(sim, cali, eth0, "ff:ff:ff:ff:ff:ff") is None


def test_proxy_arp_delays_broadcast_requests_only():
    """proxy_delay (1/100 s; default 80): a broadcast request waits a random time below it,
    a request sent to the host's own MAC (PACKET_HOST) is answered at once."""
    sim, host, pod, cali, eth0 = _calico_like(proxy_delay=80)
    assert cali.conf["proxy_delay_ms"] == 800
    d = _arp_reply_delay(sim, cali, eth0, "ff:ff:ff:ff:ff:ff")
    assert 0 < d < 800_000_000
    assert _arp_reply_delay(sim, cali, eth0, "ee:ee:ee:ee:ee:ee") < 1_000_000
    sim, host, pod, cali, eth0 = _calico_like(proxy_delay=0)
    assert _arp_reply_delay(sim, cali, eth0, "ff:ff:ff:ff:ff:ff") < 1_000_000


def test_a_packet_from_our_own_address_is_a_martian_source():
    """ip_route_input_slow → fib_validate_source: our own address as the source of a packet
    coming in on a real device is dropped (IP_LOCAL_SOURCE), unless accept_local."""
    sim, left, r, right = routed()
    pkt = bytes(Ether(src="02:00:00:00:01:02", dst="02:00:00:00:01:01") /
                IP(src="10.0.2.1", dst="10.0.2.2", id=1) / UDP(sport=9, dport=9))
    from emunet.wire.frame import Frame
    r.dev("eth1").receive(Frame(pkt, sim.new_pid()))
    sim.run()
    assert r.drop_reasons["IP_LOCAL_SOURCE"] == 1 and right.udp.no_ports == 0
    r.set_sysctl("net.ipv4.conf.eth1.accept_local", 1)
    r.dev("eth1").receive(Frame(pkt, sim.new_pid()))
    sim.run()
    assert r.drop_reasons["IP_LOCAL_SOURCE"] == 1 and right.udp.no_ports == 1


def test_a_connected_udp_socket_hears_of_hard_errors_only():
    """__udp4_lib_err without IP_RECVERR: port unreachable is fatal (ECONNREFUSED on the
    next call), net unreachable and TTL exceeded are soft and never reach the application."""
    sim, left, r, right = routed()
    soft = left.spawn(UdpSender("10.99.0.1", 53, b"q"))
    hard = left.spawn(UdpSender("10.0.2.2", 9, b"q"))
    sim.run(until=1)
    got = [Ether(x.data)[ICMP].code for x in Capture.of(sim).on("left/eth0")
           if x.direction == "in" and ICMP in Ether(x.data)]
    assert sorted(got) == [0, 3]            # both errors arrived
    assert soft.errors == [] and hard.errors == [(errno.ECONNREFUSED, "10.0.2.2")]


def _checksums(data: bytes, linktype: int) -> list:
    """Whether each checksum of a frame is right, outermost first, by the full checks: the
    IPv4 header, then ICMP, UDP or TCP (and a VXLAN frame's inner ones), or IPIP's inner
    packet."""
    from emunet.wire.errors import Malformed
    from emunet.wire.frame import LINKTYPE_RAW
    from emunet.wire.icmp import IcmpView
    from emunet.wire.ipv4 import Ipv4View
    from emunet.wire.tcp import TcpView
    from emunet.wire.udp import UdpView
    if linktype == LINKTYPE_RAW:
        off = 0
    elif data[12:14] == b"\x08\x00":
        off = 14
    else:
        return []
    try:
        ipv = Ipv4View.check(data, off, verify=False)
    except Malformed:
        return []
    out = [_ok(lambda: Ipv4View.check(data, off))]
    start, end = ipv.payload_offset, ipv.end
    if ipv.proto == 1:
        out.append(_ok(lambda: IcmpView.check(data, start, end)))
    elif ipv.proto == 6:
        out.append(_ok(lambda: TcpView.check(data, start, end, ipv.saddr, ipv.daddr)))
    elif ipv.proto == 17:
        out.append(_ok(lambda: UdpView.check(data, start, end, ipv.saddr, ipv.daddr)))
        udp = UdpView.check(data, start, end, verify=False)
        if udp.dport in (4789, 8472) and udp.end - udp.payload_offset >= 8 + 14:
            out += _checksums(data[udp.payload_offset + 8:udp.end], 1)
    elif ipv.proto == 4:
        out += _checksums(data[start:end], LINKTYPE_RAW)
    return out


def _ok(check) -> bool:
    from emunet.wire.errors import Malformed
    try:
        check()
        return True
    except Malformed:
        return False


def test_checksums_a_sender_vouches_for_are_right_others_are_checked():
    """A receiving stack does not add up again the checksums a frame's ``csum_level`` says its
    sender wrote (Frame.csum_level): every frame of six scenarios (forwarding, VXLAN, IPIP,
    flannel's UDP, BGP over TCP, ICMP errors) has that many right checksums, outermost
    first, by the full checks; a derived frame vouches for nothing; and the same bytes with
    a bad checksum, received as any other frame, are dropped as the kernel drops them."""
    from emunet.scenarios import get
    from emunet.wire.frame import LINKTYPE_RAW, Frame
    seen = []

    class Watch:
        def on_frame(self, now, dev, frame, direction, note):
            seen.append(frame)

        def on_note(self, *a):
            pass

        def on_drop(self, *a):
            pass

    for name in ("docker-bridge", "flannel-vxlan", "flannel-udp", "calico-ipip", "calico-vxlan",
                 "calico-bgp"):
        lab = get(name).build(1)
        lab.sim.observers.append(Watch())
        lab.run()
    levels = [f.csum_level for f in seen]
    assert {0, 1, 2, 3, 4} <= set(levels)   # ARP; forwarded; sent; VXLAN around forwarded, sent
    for f in seen:
        if f.csum_level:
            sums = _checksums(f.data, f.linktype)
            assert len(sums) >= f.csum_level and all(sums[:f.csum_level]), (f, sums)
        assert f.derive(f.data).csum_level == 0
    # a bad IPv4 header or ICMP checksum, on bytes a sender vouched for, received as a new frame
    sim, left, r, right = routed()
    eth1 = r.devices["eth1"]
    good = next(f for f in seen if f.linktype != LINKTYPE_RAW and f.csum_level >= 2 and f.data[23] == 1)
    for at, reason, ns in ((24, "IP_CSUM", r), (36, "ICMP_CSUM", r)):
        bad = bytearray(good.data)
        bad[at] ^= 0xFF
        bad[30:34] = bytes((10, 0, 1, 1))   # to the router itself, fixing the IP sum if intact
        if reason == "ICMP_CSUM":
            from emunet.wire.checksum import internet_checksum
            bad[24:26] = b"\0\0"
            bad[24:26] = internet_checksum(bytes(bad[14:34])).to_bytes(2, "big")
        before = ns.drop_reasons[reason]
        eth1.receive(Frame(bytes(eth1.mac) + bytes(bad[6:]), 99))
        assert ns.drop_reasons[reason] == before + 1, reason
