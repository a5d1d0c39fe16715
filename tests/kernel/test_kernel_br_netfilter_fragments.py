"""br_netfilter and IPv4 fragments crossing a bridge, on the real kernel and in emunet
(``reference/FINDINGS.md`` §14).

Topology: namespaces ``a`` (10.0.0.1) and ``b`` (10.0.0.2), each ``eth0`` cabled by a veth
to a port (``pa``, ``pb``) of ``br0`` in namespace ``br`` (``mcast_snooping 0``, no
address); IPv6 off, TX checksum offload off, permanent neighbours (no ARP on the wire).
``a`` sends ``b`` one IPv4 datagram in fragments: fragmented by its own stack (a UDP
socket, ``ping -s 3000``) or crafted and injected with an AF_PACKET socket (unequal
pieces, out of order, DF set); ``b`` listens on UDP 9999 and says how much it received.

Every case is data: a :class:`Case` (the ``bridge-nf-call-iptables`` sysctl, the
``iptables`` rules of ``br``, the MTUs, what is sent) and an :class:`Expect` (the
fragments leaving each bridge port, FORWARD's counters, ``conntrack -L``, the ``Ip:``
counters of ``/proc/net/snmp`` in ``br``, what ``b`` received).  :func:`run_kernel` runs a
case on the kernel, :func:`run_emunet` on emunet's model of the same namespaces; both
return an :class:`Outcome`, checked against the same expectation.

What the captures can and cannot say: the egress captures are trustworthy (a frame is
copied to the packet socket as it leaves), but an AF_PACKET socket *queue* on the ingress
port shares the fragments' buffers with the bridge, and when br_netfilter refragments a
reassembled datagram along its original boundaries it writes the new IP headers into
those same buffers: the ingress capture then shows the rewritten headers (DF gone) of the
second and later fragments.  tcpdump's ring (``PACKET_MMAP``) copies at once and shows the
originals.  So what entered is taken from what was sent, never from the ingress capture.
"""
import re
import shutil
import socket
import struct
import time

from collections import Counter

import attrs
import pytest

from emunet import Namespace, Simulator, veth_pair
from emunet.apps import Ping
from emunet.devices.bridge import Bridge
from emunet.observe.capture import Capture
from emunet.sim import S
from emunet.wire.frame import Frame
from emunet.wire.ipv4 import ip_to_int
from tests.kernel.compare import ip_checksum
from tests.kernel.harness import PREFIX, Topology, in_netns, run, wait_quiet

A_MAC, B_MAC, C_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
A_IP, B_IP = "10.0.0.1", "10.0.0.2"
SPORT, DPORT = 40000, 9999
CRAFTED_ID = 0x4242
#: the gap between injected frames: long enough to tell "each fragment forwarded as it
#: came" from "held until the datagram was complete"
GAP = 0.02

FORWARD_ACCEPT = "-A FORWARD -j ACCEPT"
#: a rule that needs conntrack, so loads it (and nf_defrag_ipv4) in the namespace; a nat
#: table holding only ACCEPT rules does not (FINDINGS §14)
FORWARD_CT = "-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT"
SNMP_KEYS = ("ReasmReqds", "ReasmOKs", "ReasmFails", "ReasmTimeout", "FragOKs", "FragFails",
             "FragCreates")


@attrs.frozen
class Frag:
    """One IPv4 frame as the test compares it: total length, DF, MF, fragment offset in
    bytes.  The IP ID is checked apart: every fragment of a datagram keeps the sender's."""

    length: int
    df: bool
    mf: bool
    offset: int


@attrs.frozen
class Send:
    """What ``a`` sends.  ``kind``: ``"udp"`` (a UDP socket bound to 10.0.0.1:40000 sends
    ``size`` bytes to 10.0.0.2:9999; a's stack fragments it), ``"ping"`` (``ping -c 1 -s
    size``), ``"crafted"`` (a UDP datagram of ``size`` payload bytes cut by hand at the
    payload offsets ``cuts``, IP ID 0x4242, injected in ``order`` (indices of the pieces,
    some may be left out), DF on every piece when ``df``)."""

    kind: str
    size: int = 3000
    cuts: tuple = ()
    order: tuple = ()
    df: bool = False


@attrs.frozen
class Case:
    """One setting of the bridge namespace and one datagram."""

    name: str
    send: Send
    call_iptables: int = 1
    rules: tuple = (FORWARD_CT,)
    a_mtu: int = 1500
    pb_mtu: int = 1500
    #: br0's MTU set by hand (else it follows the smallest port's)
    br_mtu: int = None
    #: a third port ``pc`` (namespace ``c``) added last: b's MAC not yet learned, the
    #: datagram is flooded to pb and pc
    third_port: bool = False
    #: ``net.ipv4.ipfrag_time`` in ``br`` (the reassembly timeout, seconds)
    ipfrag_time: int = None
    #: how long to wait after sending before reading the counters
    settle: float = 0.4


@attrs.frozen
class Expect:
    """What the kernel does with a :class:`Case`.

    ``egress``: port -> the :class:`Frag` list leaving it, in order (only the datagram's
    fragments: b's ICMP errors are left out).  ``held``: whether nothing left before the
    last fragment had come in (reassembled first) rather than each fragment going on as it
    came (``None``: not checked; checked only on crafted sends, whose pieces come
    ``GAP`` apart: a's own fragments are queued together and stamped on arrival before
    the bridge handles the first).  ``forward``: FORWARD rule 1's (packets, bytes).
    ``conntrack``: ``conntrack -L`` lines without the timeout, ICMP id as ``id=ID``.
    ``snmp``: the change of the ``Ip:`` counters of ``br``.  ``received``: the UDP
    payload lengths b's socket got."""

    egress: dict
    forward: tuple
    conntrack: tuple = ()
    snmp: dict = attrs.field(factory=dict)
    received: tuple = ()
    held: bool = None


@attrs.frozen
class Outcome:
    """What :func:`run_kernel` saw, in :class:`Expect`'s terms, plus each port's egress IP
    IDs and the sent datagrams' IDs (``ids``: port -> IDs, ``sent_ids``)."""

    egress: dict
    forward: tuple
    conntrack: tuple
    snmp: dict
    received: tuple
    held: bool
    ids: dict
    sent_ids: frozenset


def F(length, offset, mf=True, df=False):
    """A :class:`Frag`, MF set and DF clear unless said."""
    return Frag(length, df, mf, offset)


#: a's own fragments of a 3000-byte UDP payload (3008-byte datagram) at MTU 1500
UDP3000 = (F(1500, 0), F(1500, 1480), F(68, 2960, mf=False))
#: the crafted datagram: 3008 payload bytes + 8 = 3016, cut at 1000 and 2480
CRAFTED = Send("crafted", size=3008, cuts=(1000, 2480), order=(2, 1, 0))
CRAFTED_PIECES = (F(1020, 0), F(1500, 1000), F(556, 2480, mf=False))
UDP_ENTRY = (f"udp 17 src={A_IP} dst={B_IP} sport={SPORT} dport={DPORT} [UNREPLIED] src={B_IP} "
             f"dst={A_IP} sport={DPORT} dport={SPORT} mark=0 use=1")
REASSEMBLED = {"ReasmReqds": 3, "ReasmOKs": 1, "FragOKs": 1, "FragCreates": 3}

CASES = [
    # (i) bridge-nf-call-iptables=0: the bridge alone, conntrack loaded but never asked
    (Case("no_call", Send("udp"), call_iptables=0),
     Expect({"pb": UDP3000}, forward=(0, 0), received=(3000,))),
    # (ii) iptables but no conntrack: each fragment meets FORWARD on its own
    (Case("filter_only", Send("udp"), rules=(FORWARD_ACCEPT,)),
     Expect({"pb": UDP3000}, forward=(3, 3068), received=(3000,))),
    (Case("filter_only_out_of_order", CRAFTED, rules=(FORWARD_ACCEPT,)),
     Expect({"pb": CRAFTED_PIECES[::-1]}, forward=(3, 3076), received=(3008,), held=False)),
    # (iii) conntrack: nf_defrag_ipv4 reassembles in PREROUTING, FORWARD sees one packet,
    # one conntrack entry; br_nf_dev_queue_xmit refragments along the original boundaries
    (Case("conntrack", Send("udp")),
     Expect({"pb": UDP3000}, forward=(1, 3028), conntrack=(UDP_ENTRY,), snmp=REASSEMBLED,
            received=(3000,))),
    (Case("conntrack_ping", Send("ping")),
     Expect({"pb": UDP3000, "pa": UDP3000}, forward=(2, 6056),
            conntrack=(f"icmp 1 src={A_IP} dst={B_IP} type=8 code=0 id=ID src={B_IP} dst={A_IP} "
                       f"type=0 code=0 id=ID mark=0 use=1",),
            snmp={"ReasmReqds": 6, "ReasmOKs": 2, "FragOKs": 2, "FragCreates": 6})),
    # what loads conntrack (and the defragmenter): a NAT target, as Docker's MASQUERADE,
    # even one that never matches; a nat table with only ACCEPT rules does not
    (Case("docker_masquerade", Send("udp"),
          rules=("-t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE", FORWARD_ACCEPT)),
     Expect({"pb": UDP3000}, forward=(1, 3028), conntrack=(UDP_ENTRY,), snmp=REASSEMBLED,
            received=(3000,))),
    (Case("nat_table_without_nat_target", Send("udp"),
          rules=("-t nat -A POSTROUTING -j ACCEPT", FORWARD_ACCEPT)),
     Expect({"pb": UDP3000}, forward=(3, 3068), received=(3000,))),
    # (iv) unequal pieces: the sender's MTU 1400, and crafted ones out of order with DF
    (Case("conntrack_sender_mtu_1400", Send("udp"), a_mtu=1400),
     Expect({"pb": (F(1396, 0), F(1396, 1376), F(276, 2752, mf=False))}, forward=(1, 3028),
            conntrack=(UDP_ENTRY,), snmp=REASSEMBLED, received=(3000,))),
    (Case("conntrack_unequal_out_of_order_df", attrs.evolve(CRAFTED, df=True)),
     # in offset order, the original sizes, DF cleared on every piece
     Expect({"pb": CRAFTED_PIECES}, forward=(1, 3036), conntrack=(UDP_ENTRY,), snmp=REASSEMBLED,
            received=(3008,), held=True)),
    # flooded (b's MAC unknown) to two ports: the port that gets the clone refragments it
    # afresh at the largest fragment's size (ip_do_fragment's slow path), the other keeps the
    # original pieces
    (Case("conntrack_flooded_to_two_ports", attrs.evolve(CRAFTED, order=(0, 1, 2)), third_port=True),
     Expect({"pb": CRAFTED_PIECES, "pc": (F(1500, 0), F(1500, 1480), F(76, 2960, mf=False))},
            forward=(2, 6072), conntrack=(UDP_ENTRY,),
            snmp={"ReasmReqds": 3, "ReasmOKs": 1, "FragOKs": 2, "FragCreates": 6},
            received=(3008,), held=True)),
    # a smaller MTU on the way out (pb 1000; br0 follows it to 1000)
    (Case("small_mtu_conntrack", Send("udp"), pb_mtu=1000),
     # the reassembled datagram's largest fragment (1500) is above the MTU: dropped
     Expect({"pb": ()}, forward=(1, 3028), conntrack=(UDP_ENTRY,),
            snmp={"ReasmReqds": 3, "ReasmOKs": 1, "FragFails": 1})),
    (Case("small_mtu_filter_only", Send("udp"), pb_mtu=1000, rules=(FORWARD_ACCEPT,)),
     # each fragment is fragmented again to fit
     Expect({"pb": (F(996, 0), F(524, 976), F(996, 1480), F(524, 2456), F(68, 2960, mf=False))},
            forward=(3, 3068), snmp={"FragOKs": 2, "FragCreates": 4}, received=(3000,))),
    (Case("small_mtu_no_call", Send("udp"), pb_mtu=1000, call_iptables=0),
     # the plain bridge drops what does not fit (is_skb_forwardable); the last piece passes
     Expect({"pb": (F(68, 2960, mf=False),)}, forward=(0, 0))),
    (Case("small_mtu_whole_datagram", Send("crafted", size=1472, cuts=(), order=(0,)), pb_mtu=1000),
     # not a fragment, DF clear: br_netfilter fragments it to fit
     Expect({"pb": (F(996, 0), F(524, 976, mf=False))}, forward=(1, 1500),
            conntrack=(UDP_ENTRY,), snmp={"FragOKs": 1, "FragCreates": 2}, received=(1472,))),
    (Case("small_mtu_whole_datagram_df", Send("crafted", size=1472, cuts=(), order=(0,), df=True),
          pb_mtu=1000),
     Expect({"pb": ()}, forward=(1, 1500), conntrack=(UDP_ENTRY,), snmp={"FragFails": 1})),
    (Case("small_mtu_br0_mtu_kept", Send("udp"), pb_mtu=1000, br_mtu=1500),
     # br0 at 1500: refragmented at 1500 as it came; the port then drops what does not fit
     Expect({"pb": (F(68, 2960, mf=False),)}, forward=(1, 3028), conntrack=(UDP_ENTRY,),
            snmp=REASSEMBLED)),
    # a datagram that never completes: held, then dropped at the reassembly timeout
    (Case("conntrack_incomplete", attrs.evolve(CRAFTED, order=(0, 1)), ipfrag_time=1, settle=2.5),
     Expect({"pb": ()}, forward=(0, 0), snmp={"ReasmReqds": 2, "ReasmFails": 1, "ReasmTimeout": 1})),
]


# -- building and sending ------------------------------------------------------------------
def crafted_packets(send: Send) -> list:
    """The IP packets of a crafted send, in the order they are injected."""
    payload = bytes(range(256)) * (send.size // 256) + b"z" * (send.size % 256)
    udp = struct.pack("!HHHH", SPORT, DPORT, 8 + len(payload), 0) + payload
    pseudo = socket.inet_aton(A_IP) + socket.inet_aton(B_IP) + struct.pack("!BBH", 0, 17, len(udp))
    udp = udp[:6] + struct.pack("!H", ip_checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    cuts = (0, *send.cuts, len(udp))
    pieces = []
    for i in range(len(cuts) - 1):
        data = udp[cuts[i]:cuts[i + 1]]
        frag = (cuts[i] >> 3) | (0x2000 if i < len(cuts) - 2 else 0) | (0x4000 if send.df else 0)
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), CRAFTED_ID, frag, 64, 17, 0,
                          socket.inet_aton(A_IP), socket.inet_aton(B_IP))
        pieces.append(hdr[:10] + struct.pack("!H", ip_checksum(hdr)) + hdr[12:] + data)
    return [pieces[i] for i in send.order]


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _parse(frame: bytes):
    """``(Frag, id, src, dst, icmp_type)`` of an IPv4 frame, else None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    length, ident, frag = struct.unpack("!HHH", ip[2:8])
    off = (frag & 0x1FFF) * 8
    icmp_type = ip[ihl] if ip[9] == 1 and off == 0 else None
    return (Frag(length, bool(frag & 0x4000), bool(frag & 0x2000), off), ident,
            socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), icmp_type)


def _wait_forwarding(t, br: str, ports: int) -> None:
    """Until every port of br0 has carrier and is forwarding (a veth's carrier comes up a
    moment after both ends are up; a frame sent before is dropped)."""
    deadline = time.monotonic() + 10
    while True:
        links = t.exec(br, "bridge", "link").stdout
        if links.count("state forwarding") == ports and "NO-CARRIER" not in links:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"bridge ports not forwarding after 10 s:\n{links}")
        time.sleep(0.05)


def _snmp(t, ns: str) -> dict:
    lines = [line.split() for line in t.exec(ns, "cat", "/proc/net/snmp").stdout.splitlines()
             if line.startswith("Ip:")]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:]) if k in SNMP_KEYS}


def _forward_counters(t, ns: str) -> tuple:
    out = t.exec(ns, "iptables", "-L", "FORWARD", "-v", "-x", "-n").stdout.splitlines()
    pkts, nbytes = out[2].split()[:2]
    return int(pkts), int(nbytes)


def _conntrack(t, ns: str) -> tuple:
    return _conntrack_lines(t.exec(ns, "conntrack", "-L", check=False).stdout)


def _conntrack_lines(out: str) -> tuple:
    """``conntrack -L``'s entries without the timeout, sorted, ICMP ids as ``id=ID``."""
    lines = []
    for line in out.splitlines():
        words = line.split()
        if not words or words[0] == "conntrack":
            continue   # the tool's summary line (on stderr from the real one)
        del words[2]                       # the timeout, in seconds left
        lines.append(re.sub(r"\bid=\d+", "id=ID", " ".join(words)))
    return tuple(sorted(lines))


def build(t: Topology, case: Case) -> dict:
    """The namespaces of ``case`` (returns their names by short name)."""
    ns = {n: t.netns(n) for n in ("a", "b", "br")}
    br = ns["br"]
    t.veth(ns["a"], "eth0", br, "pa", mac_a=A_MAC, mac_b="02:00:00:00:01:0a")
    t.veth(ns["b"], "eth0", br, "pb", mac_a=B_MAC, mac_b="02:00:00:00:01:0b")
    ports = ["pa", "pb"]
    if case.third_port:
        ns["c"] = t.netns("c")
        t.veth(ns["c"], "eth0", br, "pc", mac_a=C_MAC, mac_b="02:00:00:00:01:0c")
        ports.append("pc")
    t.ip(br, "link", "add", "br0", "address", "02:00:00:00:01:00", "type", "bridge",
         "mcast_snooping", "0")
    for p in ports:
        t.ip(br, "link", "set", p, "master", "br0")
    t.ip(ns["a"], "link", "set", "eth0", "mtu", str(case.a_mtu))
    t.ip(br, "link", "set", "pb", "mtu", str(case.pb_mtu))
    if case.br_mtu:
        t.ip(br, "link", "set", "br0", "mtu", str(case.br_mtu))
    hosts = [n for n in ("a", "b", "c") if n in ns]
    for n in hosts:
        t.tx_csum_off(ns[n], "eth0")
        t.ip(ns[n], "link", "set", "eth0", "up")
    t.tx_csum_off(br, *ports, "br0")
    for p in ports + ["br0"]:
        t.ip(br, "link", "set", p, "up")
    t.ip(ns["a"], "addr", "add", f"{A_IP}/24", "dev", "eth0")
    t.ip(ns["b"], "addr", "add", f"{B_IP}/24", "dev", "eth0")
    t.ip(ns["a"], "neigh", "add", B_IP, "lladdr", B_MAC, "dev", "eth0", "nud", "permanent")
    t.ip(ns["b"], "neigh", "add", A_IP, "lladdr", A_MAC, "dev", "eth0", "nud", "permanent")
    sysctls = {"net.bridge.bridge-nf-call-iptables": case.call_iptables}
    if case.ipfrag_time is not None:
        sysctls["net.ipv4.ipfrag_time"] = case.ipfrag_time
    t.sysctl(br, sysctls)
    for rule in case.rules:
        t.exec(br, "iptables", *rule.split())
    _wait_forwarding(t, br, len(ports))
    return ns


def _send(t, ns: dict, send: Send) -> list:
    """Send; the crafted packets (None for the kernel's own)."""
    if send.kind == "udp":
        t.exec(ns["a"], "python3", "-c",
               "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
               f"s.bind(('{A_IP}', {SPORT})); s.sendto(b'x' * {send.size}, ('{B_IP}', {DPORT}))")
        return None
    if send.kind == "ping":
        t.exec(ns["a"], "ping", "-c", "1", "-s", str(send.size), B_IP)
        return None
    packets = crafted_packets(send)
    with in_netns(ns["a"]):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        tx.bind(("eth0", 0))
        for i, p in enumerate(packets):
            if i:
                time.sleep(GAP)
            tx.send(_mac(B_MAC) + _mac(A_MAC) + b"\x08\x00" + p)
    finally:
        tx.close()
    return packets


_RECEIVER = """\
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', %d))
print('ready', flush=True)
while True:
    print(len(s.recv(65535)), flush=True)
""" % DPORT


def run_kernel(case: Case) -> Outcome:
    """Run ``case`` in fresh namespaces and say what the kernel did."""
    with Topology(f"brfrag-{case.name[:12]}") as t:
        ns = build(t, case)
        ports = ["pa", "pb"] + (["pc"] if case.third_port else [])
        sniffers = {p: t.sniff(ns["br"], p) for p in ports}
        receiver = t.start(ns["b"], ["python3", "-u", "-c", _RECEIVER], ready="ready")
        before = _snmp(t, ns["br"])
        sent = _send(t, ns, case.send)
        time.sleep(case.settle)
        wait_quiet(list(sniffers.values()), quiet=0.3)
        after = _snmp(t, ns["br"])
        forward = _forward_counters(t, ns["br"])
        entries = _conntrack(t, ns["br"]) if shutil.which("conntrack") else None
        receiver.stop()
        received = tuple(int(x) for x in receiver.lines[1:] if x.strip().isdigit())
        frames = {p: s.drain() for p, s in sniffers.items()}
    return _outcome(frames, sent, forward, entries,
                    {k: after[k] - before[k] for k in SNMP_KEYS if after[k] != before[k]}, received)


def _outcome(frames: dict, sent, forward, entries, snmp, received) -> Outcome:
    """The :class:`Outcome` of a run: ``frames`` are each port's ``(time, bytes,
    direction)``, ``sent`` the crafted packets (None for a stack's own)."""
    egress, ids = {}, {}
    last_in = first_out = None
    sent_ids = set()
    for port, captured in frames.items():
        out = []
        for ts, data, direction in captured:
            parsed = _parse(data)
            if parsed is None:
                continue
            frag, ident, _src, _dst, icmp_type = parsed
            if icmp_type == 3:
                continue   # b's port unreachable: not the datagram's
            if direction == "in":
                sent_ids.add(ident)
                if port == "pa":
                    last_in = ts
            else:
                out.append((frag, ident))
                if port != "pa" and first_out is None:
                    first_out = ts
        egress[port] = tuple(f for f, _ in out)
        ids[port] = tuple(i for _, i in out)
    if sent is not None:
        sent_ids = {CRAFTED_ID}
    held = None if last_in is None or first_out is None else first_out >= last_in
    return Outcome(egress=egress, forward=forward, conntrack=entries, snmp=snmp,
                   received=received, held=held, ids=ids, sent_ids=frozenset(sent_ids))


# -- emunet's side ---------------------------------------------------------------------------
def build_emunet(case: Case):
    """The model of :func:`build`'s namespaces: ``(sim, namespaces by short name)``.  The
    veths are made with their MTUs, so br0 follows its smallest port as its ports join
    (``br_mtu_auto_adjust``), unless the case sets br0's."""
    sim = Simulator(seed=1)
    Capture.attach(sim)
    ns = {n: Namespace(sim, n) for n in ("a", "b", "br") + (("c",) if case.third_port else ())}
    br = ns["br"]
    bridge = br.add_device(Bridge(sim, "br0", _mac("02:00:00:00:01:00")))
    hosts = [("a", "pa", A_MAC, "02:00:00:00:01:0a"), ("b", "pb", B_MAC, "02:00:00:00:01:0b")]
    if case.third_port:
        hosts.append(("c", "pc", C_MAC, "02:00:00:00:01:0c"))
    for host, port_name, mac, port_mac in hosts:
        eth, port = veth_pair(sim, "eth0", port_name, mac=_mac(mac), peer_mac=_mac(port_mac))
        eth.mtu = case.a_mtu if host == "a" else 1500
        port.mtu = case.pb_mtu if host == "b" else 1500
        ns[host].add_device(eth)
        br.add_device(port)
        bridge.add_port(port)
    if case.br_mtu:
        bridge.mtu, bridge.mtu_set_by_user = case.br_mtu, True     # ip link set br0 mtu N
    for dev in [ns[n].dev("eth0") for n, _, _, _ in hosts] + bridge.ports + [bridge]:
        dev.set_up()
    ns["a"].addr_add("eth0", f"{A_IP}/24")
    ns["b"].addr_add("eth0", f"{B_IP}/24")
    ns["a"].neigh.add_permanent(ns["a"].dev("eth0"), ip_to_int(B_IP), _mac(B_MAC))
    ns["b"].neigh.add_permanent(ns["b"].dev("eth0"), ip_to_int(A_IP), _mac(A_MAC))
    br.set_sysctl("net.bridge.bridge-nf-call-iptables", case.call_iptables)
    if case.ipfrag_time is not None:
        br.set_sysctl("net.ipv4.ipfrag_time", case.ipfrag_time)
    for rule in case.rules:
        br.netfilter.iptables(rule)
    return sim, ns


def _send_emunet(sim, ns: dict, send: Send) -> list:
    """What :func:`_send` does, in the model, from time 0; the crafted packets."""
    a = ns["a"]
    if send.kind == "udp":
        (sock := a.udp.socket()).bind((A_IP, SPORT))
        sim.after(0, lambda: sock.sendto(b"x" * send.size, (B_IP, DPORT)))
        return None
    if send.kind == "ping":
        a.spawn(Ping(B_IP, count=1, size=send.size))
        return None
    packets = crafted_packets(send)
    for i, p in enumerate(packets):
        frame = _mac(B_MAC) + _mac(A_MAC) + b"\x08\x00" + p
        sim.after(round(i * GAP * S), lambda f=frame: a.dev("eth0").dev_queue_xmit(Frame(f, sim.new_pid())))
    return packets


def run_emunet(case: Case) -> Outcome:
    """Run ``case`` in emunet and say what the model did, as :func:`run_kernel` says it."""
    sim, ns = build_emunet(case)
    br = ns["br"]
    received = []
    receiver = ns["b"].udp.socket()
    receiver.bind(("0.0.0.0", DPORT))
    receiver.on_recv = lambda data, addr: received.append(len(data))
    before = Counter(br.ipv4.stats)
    sent = _send_emunet(sim, ns, case.send)
    sim.run(until=case.settle + 1.0)
    listing = br.netfilter.iptables("-L FORWARD -v -x -n").splitlines()
    pkts, nbytes = listing[2].split()[:2]
    ports = ["pa", "pb"] + (["pc"] if case.third_port else [])
    frames = {p: [(r.time_ns, r.data, r.direction) for r in Capture.of(sim).on(f"br/{p}")] for p in ports}
    after = br.ipv4.stats
    return _outcome(frames, sent, (int(pkts), int(nbytes)), _conntrack_lines(br.netfilter.conntrack_list()),
                    {k: after[k] - before[k] for k in SNMP_KEYS if after[k] != before[k]}, tuple(received))


# -- the test ---------------------------------------------------------------------------------
_unavailable = None


def br_netfilter_unavailable() -> str:
    """'' when bridged IPv4 can be sent through iptables here, else why not."""
    global _unavailable
    if _unavailable is not None:
        return _unavailable
    reason = ""
    missing = [tool for tool in ("iptables", "bridge", "python3") if shutil.which(tool) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed"
    else:
        probe = f"{PREFIX}brnfprobe"
        run(["ip", "netns", "add", probe])
        try:
            run(["ip", "-n", probe, "link", "add", "br0", "type", "bridge"])
            p = run(["ip", "netns", "exec", probe, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"],
                    check=False)
            if p.returncode != 0 and shutil.which("modprobe"):
                run(["modprobe", "br_netfilter"], check=False)
                p = run(["ip", "netns", "exec", probe, "cat",
                         "/proc/sys/net/bridge/bridge-nf-call-iptables"], check=False)
            if p.returncode != 0:
                reason = ("br_netfilter is not available: no /proc/sys/net/bridge/bridge-nf-call-iptables "
                          "in a namespace with a bridge (CONFIG_BRIDGE_NETFILTER off, or the module "
                          "cannot be loaded here)")
        finally:
            run(["ip", "netns", "del", probe], check=False)
    _unavailable = reason
    return reason


def check(case: Case, expect: Expect, got: Outcome) -> None:
    """``got`` (the kernel's or emunet's) is what ``expect`` says."""
    ports = sorted(set(expect.egress) | {p for p, frags in got.egress.items() if frags})
    want = {p: tuple(expect.egress.get(p, ())) for p in ports}
    assert {p: got.egress.get(p, ()) for p in ports} == want, got
    for port, ids in got.ids.items():
        # every piece keeps its datagram's IP ID (a ping's request and reply have one each)
        assert set(ids) <= got.sent_ids, (port, ids, got.sent_ids)
    assert got.forward == expect.forward, got
    if got.conntrack is not None:
        assert got.conntrack == tuple(sorted(expect.conntrack)), got
    assert got.snmp == expect.snmp, got
    if case.send.kind != "ping":
        assert got.received == expect.received, got
    if expect.held is not None:
        assert got.held is expect.held, got


@pytest.mark.parametrize("case,expect", CASES, ids=[c.name for c, _ in CASES])
def test_fragments_crossing_a_bridge(netns, case, expect):
    reason = br_netfilter_unavailable()
    if reason:
        pytest.skip(f"br_netfilter fragment cases skipped: {reason}")
    if expect.conntrack and shutil.which("conntrack") is None:
        pytest.skip("conntrack (conntrack-tools) is not installed: `conntrack -L` cannot be read")
    check(case, expect, run_kernel(case))


@pytest.mark.parametrize("case,expect", CASES, ids=[c.name for c, _ in CASES])
def test_emunet_on_the_same_cases(case, expect):
    """emunet's model of the same namespaces, rules and traffic, held to the kernel's
    :class:`Expect` (no root needed)."""
    check(case, expect, run_emunet(case))
