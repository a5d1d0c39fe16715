"""MTU against the real kernel (issue 12): IP fragmentation and reassembly, the ICMP
fragmentation needed, the path MTU a host learns from it, ping's ``-M`` and TCP's MSS and
retransmission after a fragmentation needed.  What the kernel does is written up in
``reference/FINDINGS.md`` §15; each case here builds the model's topology in namespaces
(``cases.Mirror``), runs the same traffic on both, and compares every interface frame by
frame (``compare.py``), plus what the programs print and ``ip route get``.

Two things ``compare.py`` does not look at are checked here as well: the bytes of a
fragment that is not the first (the dissector reads no payload past offset 0), and, for a
TCP transfer, the segments' sizes and sequence ranges (a 100 kB transfer is not the same
frame by frame twice on the kernel: see :func:`test_flannel_pmtu_tcp_learns_the_path_mtu`).
"""
import os
import re
import struct
import time

from emunet.apps.ping import Ping

from tests.kernel.cases import (DockerModel, KernelTcpSink, Mirror, Nodes, counter_deltas,
                                emunet_frames, kernel_tcp_send, kernel_tcp_sysctls, proc_net_snmp,
                                settle)
from tests.kernel.compare import compare, ip_checksum
from tests.kernel.harness import Topology

MS = 1_000_000
S = 1_000_000_000
POD1, POD2 = "100.96.1.2", "100.96.2.2"
#: what the TCP cases send: 100 000 bytes, a pattern a misplaced byte shows in
DATA = bytes(range(256)) * 390 + bytes(range(160))
PORT = 5001
#: the kernel's TCP transfers run on one CPU: frames between namespaces then keep their order
#: (``cases.kernel_tcp_send``)
CPU = min(os.sched_getaffinity(0))


# -- what the programs print ----------------------------------------------------------------
def kernel_ping(t: Topology, ns: str, *args) -> tuple:
    """``ping ARGS`` in namespace ``ns``: (stdout lines, stderr lines, exit status)."""
    p = t.exec(ns, "ping", *args, check=False)
    return _lines(p.stdout), _lines(p.stderr), p.returncode


def model_ping(p) -> tuple:
    """The same for emunet's :class:`Ping` (its stdout and stderr are lists of lines)."""
    return [_times(x) for x in p.stdout], list(p.stderr), p.exit_code


def _lines(text: str) -> list:
    # each line iputils prints ends in "\n": the text is exactly the lines plus their newlines
    assert text == "" or text.endswith("\n"), repr(text)
    return [_times(x) for x in text.split("\n")[:-1]]


def _times(line: str) -> str:
    """The round-trip times, measured on each side's own clock, are not compared."""
    line = re.sub(r"time=[0-9.]+ ms", "time=T ms", line)
    return re.sub(r"^rtt min/avg/max/mdev = \S+ ms", "rtt min/avg/max/mdev = T ms", line)


def route_get(text: str) -> tuple:
    """``ip route get`` with the seconds left on a PMTU exception taken out: (text, seconds)."""
    m = re.search(r" expires (\d+)sec ", text)
    if m is None:
        return text, None
    return text[:m.start(1)] + "N" + text[m.end(1):], int(m.group(1))


# -- what compare.py does not read ------------------------------------------------------------
def _ipv4_packets(data: bytes):
    """Every IPv4 header in an Ethernet frame, outer first and then a VXLAN frame's inner
    one: (offset, header fields) with the fields ``struct`` reads."""
    off = 14
    etype = struct.unpack_from("!H", data, 12)[0] if len(data) >= 14 else 0
    while etype == 0x0800 and len(data) >= off + 20:
        vihl, _tos, tot, ident, frag, ttl, proto = struct.unpack_from("!BBHHHBB", data, off)
        ihl = (vihl & 0x0F) * 4
        yield off, dict(ihl=ihl, len=tot, id=ident, frag=frag, proto=proto,
                        src=data[off + 12:off + 16], dst=data[off + 16:off + 20])
        l4 = off + ihl
        if proto == 17 and frag & 0x1FFF == 0 and len(data) >= l4 + 8 + 8 + 14 \
                and struct.unpack_from("!H", data, l4 + 2)[0] == 8472:
            off = l4 + 16 + 14       # UDP, VXLAN, the inner Ethernet header
            etype = struct.unpack_from("!H", data, off - 2)[0]
        else:
            return


def fragment_payloads(cap: dict) -> dict:
    """Per interface, the (offset, payload) of every IPv4 fragment that is not the first, in
    order: bytes compare.py does not compare (it dissects L4 at offset 0 only)."""
    out = {}
    for iface, frames in cap.items():
        rows = []
        for _, data, _ in frames:
            for off, h in _ipv4_packets(data):
                if h["frag"] & 0x1FFF:
                    rows.append(((h["frag"] & 0x1FFF) * 8, data[off + h["ihl"]:off + h["len"]].hex()))
        if rows:
            out[iface] = rows
    return out


def only(cap: dict, keep) -> dict:
    """Each interface's frames for which ``keep(innermost IPv4 header, frame, ip offset)`` holds."""
    out = {}
    for iface, frames in cap.items():
        kept = []
        for f in frames:
            pkts = list(_ipv4_packets(f[1]))
            if pkts and keep(pkts[-1][1], f[1], pkts[-1][0]):
                kept.append(f)
        out[iface] = kept
    return out


def without_quoted_psh(cap: dict) -> dict:
    """Each frame with PSH cleared in the TCP header an ICMP error quotes (its checksum
    recomputed if it was valid).  Which segments of a first flight carry PSH depends on how
    the sender's kernel cut its write queue into skbs (here every 7240 bytes: PSH on the 5th
    and 10th segment, whatever the congestion control, GSO or SO_SNDBUF), not on the MTU."""
    out = {}
    for iface, frames in cap.items():
        rows = []
        for t_ns, data, direction in frames:
            pkts = list(_ipv4_packets(data))
            if pkts and pkts[-1][1]["proto"] == 1:
                off, h = pkts[-1]
                icmp = off + h["ihl"]
                end = off + h["len"]
                q = icmp + 8
                if data[icmp] in (3, 11) and end >= q + 20 and data[q + 9] == 6:
                    flags = q + (data[q] & 0x0F) * 4 + 13
                    if flags < end and data[flags] & 0x08:
                        valid = ip_checksum(data[icmp:end]) == 0
                        b = bytearray(data)
                        b[flags] &= ~0x08
                        if valid:
                            b[icmp + 2:icmp + 4] = b"\0\0"
                            b[icmp + 2:icmp + 4] = struct.pack("!H", ip_checksum(bytes(b[icmp:end])))
                        data = bytes(b)
            rows.append((t_ns, data, direction))
        out[iface] = rows
    return out


def is_frag_needed(h, data, off) -> bool:
    return h["proto"] == 1 and data[off + h["ihl"]:off + h["ihl"] + 2] == b"\x03\x04"


def tcp_options(opts: bytes) -> str:
    """A SYN's options by name, the timestamps' values left out (random offsets)."""
    out, i = [], 0
    while i < len(opts):
        kind = opts[i]
        if kind in (0, 1):
            out.append("EOL" if kind == 0 else "NOP")
            i += 1
            continue
        ln = opts[i + 1] if i + 1 < len(opts) else 2
        body = opts[i + 2:i + ln]
        out.append({2: lambda: f"MSS={int.from_bytes(body, 'big')}", 3: lambda: f"WS={body[0]}",
                    4: lambda: "SACK_PERM", 8: lambda: "TS"}.get(kind, lambda: f"kind{kind}")())
        i += max(ln, 2)
    return " ".join(out)


def tcp_transfer(frames, client: str, port: int) -> dict:
    """What repeats from run to run in a bulk transfer from ``client`` to ``port``, read from
    one interface's frames (see :func:`check_tcp`): the SYN's and the SYN-ACK's options and
    windows; the data segments sent whole before the path MTU was known (IP length 1500:
    count, first offset, DF) and the fragmentation-needed messages that came back; the bytes
    sent again (ranges merged), whether every such piece fits the new MSS (1398) and whether
    the first came at once after a fragmentation needed (within 100 ms: no retransmission
    timeout, whose least is 200 ms);
    whether every segment sent for the first time after that fits it too; whether any IP
    fragment crossed; the bytes sent in all, and the FIN."""
    cl = bytes(int(x) for x in client.split("."))
    isn = None
    out = dict(syn=None, synack=None, whole=[], frag_needed=0, retransmitted=[],
               retransmitted_fit=True, at_once=None, later_fit=True, data_df=True, fragments=0,
               total=0, fin=False)
    top = 0
    icmp_ns = None
    for t_ns, data, _ in frames:
        pkts = list(_ipv4_packets(data))
        out["fragments"] += sum(1 for _, h in pkts if h["frag"] & 0x3FFF)
        if not pkts:
            continue
        off, h = pkts[-1]
        l4 = off + h["ihl"]
        if is_frag_needed(h, data, off) and h["dst"] == cl:
            out["frag_needed"] += 1
            icmp_ns = t_ns
            continue
        if h["proto"] != 6 or h["frag"] & 0x3FFF:
            continue
        sport, dport, seq, _ack, doff_flags, win = struct.unpack_from("!HHIIHH", data, l4)
        doff, flags = (doff_flags >> 12) * 4, doff_flags & 0x3F
        if h["src"] == cl and dport == port:
            if flags & 0x02:
                isn = seq
                out["syn"] = (tcp_options(data[l4 + 20:l4 + doff]), win)
                continue
            n = off + h["len"] - l4 - doff
            out["fin"] |= bool(flags & 0x01)
            if not n or isn is None:
                continue
            rel = (seq - isn - 1) & 0xFFFFFFFF
            out["data_df"] &= bool(h["frag"] & 0x4000)
            if rel < top:
                if not out["retransmitted"]:
                    out["at_once"] = icmp_ns is not None and t_ns - icmp_ns < 100 * MS
                out["retransmitted"].append((rel, rel + n))
                out["retransmitted_fit"] &= n <= 1398
            elif h["len"] == 1500 and not out["retransmitted"]:
                out["whole"].append(rel)
            else:
                out["later_fit"] &= n <= 1398
            top = max(top, rel + n)
        elif h["dst"] == cl and sport == port and flags & 0x12 == 0x12:
            out["synack"] = (tcp_options(data[l4 + 20:l4 + doff]), win)
    out["total"] = top
    merged = []
    for a, b in sorted(out["retransmitted"]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out["retransmitted"] = [tuple(r) for r in merged]
    out["whole"] = [len(out["whole"]), out["whole"][:1]]
    return out


# -- docker-fragment ---------------------------------------------------------------------------
# Each case: ``*_kernel(model)`` and ``*_emunet(model)`` return the same kind of record (the
# captures, what the programs printed, ...), and ``check_*(kernel, emunet)`` compares two
# records; the test is check(kernel, emunet), the kernel's side first, on the same model
# (it copies this kernel's TCP buffer sysctls into it).  Kernel against kernel, the same check shows
# which parts of a case repeat from run to run (which is how the TCP checks were chosen).
def docker_fragment_kernel(model: DockerModel) -> dict:
    labels = Mirror.labels_of(model.sim)
    with Topology("dfrag") as t:
        k = Mirror(t, model.sim)
        before = {n: proc_net_snmp(t, k.ns[n]) for n in ("c1", "c2")}
        sn = k.sniff(labels)
        start = time.monotonic()
        ping = kernel_ping(t, k.ns["c1"], "-c", "1", "-s", "3000", "172.17.0.8")
        cap = settle(sn, until=1.0, start=start)
        moved = {n: counter_deltas(before[n], proc_net_snmp(t, k.ns[n])) for n in ("c1", "c2")}
    assert ping[0][1] == "3008 bytes from 172.17.0.8: icmp_seq=1 ttl=64 time=T ms", ping
    for n in ("c1", "c2"):   # the kernel's own account of it (§15)
        assert {c: moved[n].get(c) for c in ("Ip:ReasmReqds", "Ip:ReasmOKs", "Ip:FragOKs", "Ip:FragCreates")} \
            == {"Ip:ReasmReqds": 3, "Ip:ReasmOKs": 1, "Ip:FragOKs": 1, "Ip:FragCreates": 3}, (n, moved[n])
    return dict(cap=cap, ping=ping)


def docker_fragment_emunet(model: DockerModel) -> dict:
    p = model.containers["c1"].ns.spawn(Ping("172.17.0.8", count=1, size=3000))
    model.sim.run(until=2.0)
    return dict(cap=emunet_frames(model.sim, Mirror.labels_of(model.sim)), ping=model_ping(p))


def check_docker_fragment(k: dict, e: dict) -> None:
    rep = compare("docker-fragment", k["cap"], e["cap"])
    assert [len(k["cap"][x]) for x in ("c1/eth0", "host/docker0", "c2/eth0")] == [8, 4, 8], rep.text()
    assert rep, rep.text()
    assert fragment_payloads(e["cap"]) == fragment_payloads(k["cap"])
    assert e["ping"] == k["ping"]
    assert {"ip.flags.mf", "ip.frag_offset", "icmp.data"} <= rep.fields


def test_docker_fragment_ping_of_3000_bytes_across_docker0(netns):
    """The docker-fragment scenario: c1 ``ping -c 1 -s 3000`` c2.  c1 fragments the 3028-byte
    datagram (1500, 1500, 68: offsets 0, 1480, 2960, MF on the first two, DF on none, one ID);
    c2 reassembles it and its reply comes back in three pieces the same way.  The DockerModel
    host loads conntrack (dockerd's MASQUERADE) with ``bridge-nf-call-iptables=1``, so docker0
    reassembles too: its capture shows each datagram once, whole (3042 bytes), and the
    egress port gets the same three pieces once the last has come (FINDINGS §14, §15).
    Compared frame by frame on every interface, with the bytes of the pieces past the first,
    and what ping prints."""
    model = DockerModel()
    check_docker_fragment(docker_fragment_kernel(model), docker_fragment_emunet(model))


# -- flannel-pmtu ------------------------------------------------------------------------------
def flannel_pmtu_model() -> Nodes:
    """The flannel-vxlan cluster with the pod side at MTU 1500 (pod eth0, its host veth and
    cni0) while flannel.1 stays at 1450 (eth0's 1500 less VXLAN's 50, as flanneld sets it)."""
    m = Nodes([("node1", "10.168.0.2", 24, "100.96.1.0/24"),
               ("node2", "10.168.0.3", 24, "100.96.2.0/24")], pod_mtu=1500)
    m.cable("node1", "node2", (b"\x42\x01\x0a\xa8\x00\x02", b"\x42\x01\x0a\xa8\x00\x03"))
    m.vxlan()
    assert [m.node[n].dev("flannel.1").mtu for n in m.node] == [1450, 1450]
    assert m.node["node1"].dev("cni0").mtu == m.pod["pod1"].dev("eth0").mtu == 1500
    return m


#: the flannel-pmtu pings: (seconds after the start, ping's arguments, the model's pmtudisc)
PINGS = [(0.0, ("-M", "dont"), "dont"), (1.0, ("-M", "do"), "do"), (2.0, (), "want"),
         (3.0, ("-M", "do"), "do")]
#: when ``ip route get`` is run, and where (not after the last ping: iputils lingers a second
#: after a local error, so the kernel's next step would come late)
ROUTE_GETS = [(1.5, "pod1", POD2), (1.5, "node1", POD2), (2.5, "pod1", POD2), (2.5, "pod2", POD1)]
PINGS_UNTIL = 3.9     # the pings' capture window (the first neighbour probes come at 5 s)
TCP_AT = 4.0          # the model's 100 kB transfer; the kernel's starts once the pings' frames are in


def flannel_pmtu_kernel(m: Nodes) -> dict:
    labels = Mirror.labels_of(m.sim)
    with Topology("fpmtu") as t:
        k = Mirror(t, m.sim)
        kernel_tcp_sysctls(t, k)   # the model's sockets get this kernel's buffer sizes (window scale)
        before = {n: proc_net_snmp(t, k.ns[n]) for n in ("pod1", "node1")}
        sink = KernelTcpSink(k.ns["pod2"], PORT, cpu=CPU)
        sn = k.sniff(labels)
        t0 = time.monotonic()
        steps = [(at, "ping", args) for at, args, _ in PINGS] + [(at, "get", (ns, dst)) for at, ns, dst in ROUTE_GETS]
        pings, routes = [], []
        for at, what, args in sorted(steps, key=lambda s: s[0]):
            left = t0 + at - time.monotonic()
            if left > 0:
                time.sleep(left)
            if what == "ping":
                pings.append(kernel_ping(t, k.ns["pod1"], "-c", "1", *args, "-s", "1472", POD2))
            else:
                routes.append(t.ip(k.ns[args[0]], "route", "get", args[1]))
        cap = settle(sn, until=PINGS_UNTIL, start=t0)
        moved = {n: counter_deltas(before[n], proc_net_snmp(t, k.ns[n])) for n in ("pod1", "node1")}
        for s in sn.values():
            s.frames = []
        start = time.monotonic()
        kernel_tcp_send(k.ns["pod1"], POD2, PORT, DATA, cpu=CPU)
        tcp = settle(sn, until=0.6, start=start)
        assert sink.close() == len(DATA)
    # the kernel's side as FINDINGS §15 has it
    assert pings[1][0][1] == "From 100.96.1.1 icmp_seq=1 Frag needed and DF set (mtu = 1450)", pings
    assert pings[3][1] == ["ping: local error: message too long, mtu=1450"] and pings[3][2] == 1, pings
    assert [moved["node1"].get(c) for c in ("Ip:FragOKs", "Ip:FragCreates", "Ip:FragFails")] == [1, 2, 1], moved
    assert [moved["pod1"].get(c) for c in ("Ip:FragOKs", "Ip:FragCreates", "Ip:ReasmOKs")] == [1, 2, 2], moved
    return dict(cap=cap, tcp=tcp, pings=pings, routes=routes)


def flannel_pmtu_emunet(m: Nodes) -> dict:
    from emunet.apps.netcat import NcListen, NcSend
    from emunet.observe.show.registry import run_command
    sim = m.sim
    pod1, pod2 = m.pod["pod1"], m.pod["pod2"]
    pings, routes = [], []
    for at, _, mode in PINGS:
        sim.after(int(at * 1000) * MS, lambda mode=mode: pings.append(
            pod1.spawn(Ping(POD2, count=1, size=1472, pmtudisc=mode))))
    for at, ns, dst in ROUTE_GETS:
        sim.after(int(at * 1000) * MS, lambda ns=ns, dst=dst: routes.append(
            run_command(sim, ns, f"ip route get {dst}")))
    pod2.spawn(NcListen(PORT))
    sim.after(int(TCP_AT * 1000) * MS, lambda: pod1.spawn(NcSend(POD2, PORT, DATA)))
    sim.run(until=TCP_AT + 2.0)
    frames = emunet_frames(sim, Mirror.labels_of(sim))
    split = int((PINGS_UNTIL + TCP_AT) / 2 * S)
    return dict(cap={x: [f for f in fs if f[0] < split] for x, fs in frames.items()},
                tcp={x: [f for f in fs if f[0] >= split] for x, fs in frames.items()},
                pings=[model_ping(p) for p in pings], routes=routes)


def check_flannel_pmtu(k: dict, e: dict) -> None:
    rep = compare("flannel-pmtu pings", k["cap"], e["cap"])
    assert len(k["cap"]["pod1/eth0"]) == 2 + 3 + 2 + 4, rep.text()   # ARP; -M dont; -M do; plain
    assert rep, rep.text()
    assert fragment_payloads(e["cap"]) == fragment_payloads(k["cap"])
    assert e["pings"] == k["pings"]
    kr, er = [route_get(x) for x in k["routes"]], [route_get(x) for x in e["routes"]]
    assert [x[0] for x in er] == [x[0] for x in kr], (e["routes"], k["routes"])
    assert kr[0][0].endswith("cache expires Nsec mtu 1450 \n"), k["routes"]
    for (_, ks), (_, es) in zip(kr, er):
        assert ks is None and es is None or es - 1 <= ks <= es, (k["routes"], e["routes"])
    assert {"inner.ip.frag_offset", "icmp.quote.ip.flags.df", "icmp.rest"} <= rep.fields
    check_tcp("flannel-pmtu TCP, path MTU known", k["tcp"], e["tcp"], fresh=False)


def test_flannel_pmtu_pings_fragment_learn_fail_locally_then_tcp(netns):
    """The flannel-pmtu scenario in one set of namespaces, from pod1 to pod2, one second
    apart (``-s 1472``: 1500-byte datagrams, 50 more than flannel.1 takes):

    * ``ping -M dont``: node1 fragments the datagram as it forwards it into flannel.1
      (1444 + 76, TTL 63, same ID), node2 forwards both pieces, pod2 reassembles; pod2's
      1500-byte reply is fragmented by node2 the same way;
    * ``ping -M do``: the request (ID 0, DF) goes no further than node1, which answers with a
      fragmentation needed (from cni0's 100.96.1.1, TOS 0xc0, next-hop MTU 1450, 548 quoted
      bytes); ping prints ``Frag needed and DF set (mtu = 1450)``, and pod1's route to pod2
      now shows ``cache expires 599sec mtu 1450``;
    * ``ping`` (no ``-M``): pod1 fragments at 1450 itself (1444 + 76, DF clear);
    * ``ping -M do`` again: nothing leaves pod1; ``ping: local error: message too long,
      mtu=1450`` on stderr, exit status 1;
    * ``ip route get`` in pod1, node1 and pod2 half a second after the second and the third
      ping (599 then 598 seconds left; the kernel's may be one less: its command runs a
      little later);
    * a 100 kB TCP transfer pod1 → pod2 (:func:`check_tcp`): SYN MSS 1410 (1450 − 40),
      SYN-ACK MSS 1460, every segment 1398 bytes (IP 1450, DF) but the last, no ICMP, no
      fragment.

    The pings are compared frame by frame on every interface, with the bytes of every
    fragment past the first and what ping prints; the transfer as :func:`check_tcp` says."""
    m = flannel_pmtu_model()
    check_flannel_pmtu(flannel_pmtu_kernel(m), flannel_pmtu_emunet(m))


def fresh_tcp_kernel(m: Nodes) -> dict:
    labels = Mirror.labels_of(m.sim)
    with Topology("fptcp") as t:
        k = Mirror(t, m.sim)
        kernel_tcp_sysctls(t, k)   # the model's sockets get this kernel's buffer sizes (window scale)
        sink = KernelTcpSink(k.ns["pod2"], PORT, cpu=CPU)
        sn = k.sniff(labels)
        start = time.monotonic()
        kernel_tcp_send(k.ns["pod1"], POD2, PORT, DATA, cpu=CPU)
        cap = settle(sn, until=0.6, start=start)
        assert sink.close() == len(DATA)
        route = t.ip(k.ns["pod1"], "route", "get", POD2)
    assert route_get(route)[0].endswith("cache expires Nsec mtu 1450 \n"), route
    return dict(tcp=cap)


def fresh_tcp_emunet(m: Nodes) -> dict:
    from emunet.apps.netcat import NcListen, NcSend
    sim = m.sim
    m.pod["pod2"].spawn(NcListen(PORT))
    m.pod["pod1"].spawn(NcSend(POD2, PORT, DATA))
    sim.run(until=2.0)
    return dict(tcp=emunet_frames(sim, Mirror.labels_of(sim)))


def test_flannel_pmtu_tcp_in_fresh_namespaces(netns):
    """The same 100 kB transfer where nothing was learned: SYN MSS 1460; ten 1448-byte
    segments (IP 1500, DF: the initial window); node1 answers each with a fragmentation
    needed (never rate-limited); pod1 resends at once (``tcp_simple_retransmit``, no RTO)
    exactly the 14 480 bytes it lost, in pieces of at most 1398 bytes, then goes on in
    1398-byte segments; every ICMP is compared frame by frame (:func:`check_tcp`)."""
    m = flannel_pmtu_model()
    k = fresh_tcp_kernel(m)
    e = fresh_tcp_emunet(m)
    check_tcp("flannel-pmtu TCP, fresh namespaces", k["tcp"], e["tcp"], fresh=True)


def check_tcp(what: str, kcap: dict, ecap: dict, fresh: bool) -> None:
    """A 100 kB transfer pod1 → pod2:5001 on both sides.

    It is not the same frame by frame from one kernel run to the next (three runs: 123, 130
    and 143 frames on pod1's eth0): how many ACKs pod2 sends and how they interleave with
    the data, where PSH falls after a retransmission, whether the FIN rides on the last
    segment, and (with the sender and the receiver on two CPUs) segments overtaking each
    other between namespaces, which the tests avoid by pinning both to one CPU.  So the
    handshake is compared frame by frame on every interface, the fragmentation-needed
    messages frame by frame among themselves (but for PSH in the quoted segment:
    :func:`without_quoted_psh`), and the rest as what does repeat (:func:`tcp_transfer`, on
    pod1's eth0 and on node1's cni0).  The retransmission must cover exactly the bytes that
    went out too big (the kernel marks lost the skbs longer than the new MSS and resends
    those, no more); how the kernel cuts it (1398 ×5, 250, 1398 ×5, 250: its two 7240-byte
    write-queue skbs re-cut at the new MSS) follows from how it sized its skbs and is not
    asked of the model."""
    k1 = tcp_transfer(kcap["pod1/eth0"], POD1, PORT)
    assert k1["total"] == len(DATA) and k1["fin"] and k1["data_df"] and not k1["fragments"], (what, k1)
    assert k1["retransmitted_fit"] and k1["later_fit"], (what, k1)
    if fresh:
        assert k1["syn"][0] == "MSS=1460 SACK_PERM TS NOP WS=10", (what, k1)
        # every whole-size segment came back as a fragmentation needed, and was sent again
        n = k1["whole"][0]
        assert n >= 5 and k1["whole"][1] == [0] and k1["frag_needed"] == n, (what, k1)
        assert k1["retransmitted"] == [(0, 1448 * n)] and k1["at_once"], (what, k1)
    else:
        assert k1["syn"][0] == "MSS=1410 SACK_PERM TS NOP WS=10", (what, k1)
        assert k1["frag_needed"] == 0 and not k1["retransmitted"] and k1["whole"] == [0, []], (what, k1)
    for iface in ("pod1/eth0", "node1/cni0"):
        e = tcp_transfer(ecap[iface], POD1, PORT)
        assert e == tcp_transfer(kcap[iface], POD1, PORT), (what, iface, e)

    def handshake(cap):
        return {x: fs[:3] for x, fs in only(cap, lambda h, d, o: h["proto"] == 6).items()}
    rep = compare(f"{what}: the handshake", handshake(kcap), handshake(ecap))
    assert rep, rep.text()
    assert {"tcp.options", "inner.tcp.options", "ip.flags.df"} <= rep.fields
    def syn_or_frag_needed(h, data, off):   # the SYNs give compare.py the ISNs for the quotes
        return is_frag_needed(h, data, off) or h["proto"] == 6 and data[off + h["ihl"] + 13] & 0x02
    rep = compare(f"{what}: fragmentation needed", without_quoted_psh(only(kcap, syn_or_frag_needed)),
                  without_quoted_psh(only(ecap, syn_or_frag_needed)))
    assert rep, rep.text()
    assert not fresh or {"icmp.rest", "icmp.quote.ip.len", "icmp.quote.tcp.seq"} <= rep.fields
