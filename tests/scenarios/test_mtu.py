"""docker-fragment and flannel-pmtu, read back from their captures and transcripts, held to
what the kernel did in the same runs (``/work``'s kernel comparison is
``tests/kernel/test_kernel_mtu.py``; the facts are ``tests/kernel/reference/FINDINGS.md``
§15): fragment sizes, offsets and flags per interface, where reassembly happens, the
fragmentation needed and what it teaches pod-1, and TCP's MSS."""
import struct

from emunet.apps.netcat import NcListen, NcSend
from emunet.scenarios import docker_fragment, flannel_pmtu
from emunet.sim import S


def _ipv4(lab, iface):
    """(total length, DF, MF, offset, ID, TTL, protocol, src, dst, frame) of each IPv4 frame
    on ``iface``."""
    out = []
    for r in lab.capture.on(iface):
        d = r.data
        if d[12:14] != b"\x08\x00":
            continue
        total, ident, frag, ttl, proto = struct.unpack_from("!2xHHHBB", d, 14)
        out.append((total, bool(frag & 0x4000), bool(frag & 0x2000), (frag & 0x1FFF) * 8, ident, ttl,
                    proto, d[26:30], d[30:34], d))
    return out


def _shape(rows):
    return [(t, df, mf, off) for t, df, mf, off, *_ in rows]


PIECES_3000 = [(1500, False, True, 0), (1500, False, True, 1480), (68, False, False, 2960)]


def test_docker_fragment_three_pieces_each_way_whole_on_docker0():
    lab = docker_fragment.build(seed=1).run()
    assert lab.ping.received == 1
    assert "3008 bytes from 172.17.0.8: icmp_seq=1 ttl=64" in "\n".join(lab.transcript)
    for iface in ("c1/eth0", f"host/{lab.c1.veth_host.name}", f"host/{lab.c2.veth_host.name}", "c2/eth0"):
        rows = _ipv4(lab, iface)
        assert _shape(rows) == PIECES_3000 * 2, (iface, _shape(rows))
        request, reply = rows[:3], rows[3:]
        assert len({r[4] for r in request}) == 1 and len({r[4] for r in reply}) == 1
        assert request[0][4] != 0 and reply[0][4] != 0
        assert all(r[5] == 64 for r in rows)
    # br_netfilter's defragmenter ran before docker0's copy went up: the bridge sees each
    # datagram once, whole
    assert _shape(_ipv4(lab, "host/docker0")) == [(3028, False, False, 0)] * 2
    c1, c2, host = lab.c1.ns.ipv4.stats, lab.c2.ns.ipv4.stats, lab.docker.ns.ipv4.stats
    for s in (c1, c2):
        assert (s["ReasmReqds"], s["ReasmOKs"], s["FragOKs"], s["FragCreates"]) == (3, 1, 1, 3)
    assert (host["ReasmReqds"], host["ReasmOKs"], host["FragOKs"], host["FragCreates"]) == (6, 2, 2, 6)


def test_flannel_pmtu_fragments_then_frag_needed_then_local_fragments_then_mss_1410():
    lab = flannel_pmtu.build(seed=1).run()
    text = "\n".join(lab.transcript)
    dont, do, want = lab.pings
    assert dont.received == 1 and want.received == 1 and do.received == 0 and do.errors == 1
    assert "From 100.96.1.1 icmp_seq=1 Frag needed and DF set (mtu = 1450)" in text
    assert "1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms" in text
    assert "100.96.2.2 via 100.96.1.1 dev eth0 src 100.96.1.2 uid 0 \n    cache expires 599sec mtu 1450 " in text
    assert "# pod-4 received 100000 of 100000 bytes intact" in text
    pod1 = _ipv4(lab, "pod-1/eth0")
    flannel = _ipv4(lab, "node1/flannel.1")
    icmp_out = [r for r in pod1 if r[6] == 1 and r[7] == bytes([100, 96, 1, 2])]
    # 1. -M dont: one 1500-byte request, DF clear; node1 cuts it for flannel.1 (TTL 63)
    assert _shape(icmp_out[:1]) == [(1500, False, False, 0)]
    assert [(t, mf, off, ttl) for t, _, mf, off, _, ttl, *_ in flannel[:2]] == \
        [(1444, True, 0, 63), (76, False, 1424, 63)]
    # 2. -M do: DF, ID 0; nothing crosses flannel.1, node1 answers from cni0's address
    assert _shape(icmp_out[1:2]) == [(1500, True, False, 0)] and icmp_out[1][4] == 0
    err = [r for r in pod1 if r[6] == 1 and r[9][34] == 3]
    assert len(err) == 1
    total, df, _, _, _, ttl, _, src, _, d = err[0]
    assert (total, df, ttl, src, d[15]) == (576, False, 64, bytes([100, 96, 1, 1]), 0xC0)
    assert d[34:36] == b"\x03\x04" and struct.unpack_from("!H", d, 40)[0] == 1450
    # 3. plain ping: pod-1 fragments at the learned 1450 itself, DF clear
    assert _shape(icmp_out[2:4]) == [(1444, False, True, 0), (76, False, False, 1424)]
    # the replies: pod-4 learned nothing, node2 cuts its 1500-byte replies for flannel.1
    replies = [r for r in pod1 if r[6] == 1 and r[7] == bytes([100, 96, 2, 2])]
    assert _shape(replies) == [(1444, False, True, 0), (76, False, False, 1424)] * 2
    # 4. TCP: the SYN's MSS comes from the learned path MTU; every segment fits flannel.1
    tcp = [r for r in pod1 if r[6] == 6 and r[7] == bytes([100, 96, 1, 2])]
    syn = tcp[0][9]
    assert syn[47] == 0x02 and syn[54:58] == b"\x02\x04\x05\x82"    # SYN, MSS 1410
    assert max(r[0] for r in tcp) == 1450 and all(r[1] for r in tcp)
    assert lab.node1.ns.drop_reasons["PKT_TOO_BIG"] == 1      # only phase 2's request
    assert lab.client.ns.ipv4.stats["FragCreates"] == 2 and lab.node1.ns.ipv4.stats["FragFails"] == 1


def test_tcp_path_mtu_discovery_resends_at_the_new_mss():
    """A fresh flannel-pmtu cluster, no ping first: pod-1's first flight is 1500-byte
    segments with DF, each answered by node1's fragmentation needed; pod-1 lowers the
    path MTU to 1450 at the first and resends what is unacknowledged in 1398-byte
    segments at once (no retransmission timeout); everything arrives."""
    lab = flannel_pmtu.build(seed=1)
    lab.settle()
    sink = lab.server.ns.spawn(NcListen(5001))
    lab.client.ns.spawn(NcSend(lab.server.ip, 5001, flannel_pmtu.TRANSFER))
    start = lab.sim.now
    lab.sim.run(until=lab.sim.time + 5)
    assert sink.received == flannel_pmtu.TRANSFER
    rows = _ipv4(lab, "pod-1/eth0")
    seg = [(r[0], r[9][34] if r[6] == 1 else None) for r in rows
           if (r[6] == 6 and r[0] - 20 - (r[9][46] >> 4) * 4 > 0 and r[7] == bytes([100, 96, 1, 2]))
           or r[6] == 1]
    assert seg[:10] == [(1500, None)] * 10                 # the initial window, MSS 1460 - 12
    assert seg[10] == (576, 3)                             # the first fragmentation needed
    assert seg[11] == (1450, None)                         # resent at once, at 1398 + 52
    assert all(n <= 1450 for n, kind in seg[11:] if kind is None)
    assert sum(1 for _, kind in seg if kind == 3) == 10    # never rate-limited
    sock_ns = lab.client.ns
    assert sock_ns.fib.exceptions[int.from_bytes(bytes([100, 96, 2, 2]), "big")].mtu == 1450
    first_error = next(r for r in lab.capture.on("pod-1/eth0") if len(r.data) == 590)
    resent = next(r for r in lab.capture.on("pod-1/eth0") if len(r.data) == 1464)
    assert resent.time_ns - first_error.time_ns < 1_000    # no RTO (200 ms at least) waited for
    assert resent.time_ns - start < 1 * S


def test_ping_dont_fragment_refused_locally_once_the_path_mtu_is_known():
    """ping -M do after pod-1 learned 1450: EMSGSIZE before anything leaves, as iputils
    prints it; nothing on the wire."""
    lab = flannel_pmtu.build(seed=1)
    lab.settle()
    from emunet.apps.ping import Ping
    first = lab.client.ns.spawn(Ping("100.96.2.2", count=1, size=1472, pmtudisc="do"))
    lab.sim.run(until=lab.sim.time + 1)
    before = len(list(lab.capture.on("pod-1/eth0")))
    again = lab.client.ns.spawn(Ping("100.96.2.2", count=1, size=1472, pmtudisc="do"))
    lab.sim.run(until=lab.sim.time + 1)
    assert first.errors == 1 and again.errors == 1 and again.exit_code == 1
    assert again.stderr == ["ping: local error: message too long, mtu=1450"]
    assert again.stdout[-3:-1] == ["--- 100.96.2.2 ping statistics ---",
                                   "1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms"]
    assert len(list(lab.capture.on("pod-1/eth0"))) == before
