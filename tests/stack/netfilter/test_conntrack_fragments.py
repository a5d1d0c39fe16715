"""IPv4 fragments meeting conntrack.

The kernel never lets conntrack see a fragment: ``nf_defrag_ipv4`` (priority -400, loaded
with conntrack) reassembles the datagram first, and conntrack tracks it whole
(``tests/kernel/reference/FINDINGS.md`` §14, ``tests/kernel/test_kernel_br_netfilter_fragments.py``).
emunet does too (``Ipv4.ip_defrag``); a piece that reaches ``conntrack_in`` all the same
is counted in ``Conntrack.stat_fragment`` and goes on untracked, with a note saying why,
and is never given a tuple read from one piece."""
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment

from emunet.devices.bridge import Bridge
from emunet.devices.veth import veth_pair
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.stack.netfilter.conntrack import IP_CT_NEW, IP_CT_RELATED_REPLY, Conntrack, pkt_to_tuple
from emunet.stack.netfilter.skb import NfPacket
from emunet.wire.frame import Frame
from emunet.wire.ipv4 import ip_to_int

A_IP, B_IP = "10.0.0.1", "10.0.0.2"
A_MAC, B_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def _ns():
    sim = Simulator(seed=1)
    return sim, Namespace(sim, "r")


def _datagram(proto: str, size: int, ident: int = 0x4242):
    l4 = {"udp": UDP(sport=40000, dport=9999), "tcp": TCP(sport=40000, dport=80, flags="S", seq=1),
          "icmp": ICMP(type=8, code=0, id=0x77, seq=1)}[proto]
    return IP(src=A_IP, dst=B_IP, id=ident, ttl=64, flags=0) / l4 / (b"x" * size)


def _conntrack_in(ct: Conntrack, ns, data: bytes, notes=None):
    pkt = NfPacket(ns, data, notes=notes)
    assert ct.conntrack_in(pkt) == 1   # conntrack never drops
    return pkt


def test_each_fragment_is_counted_left_untracked_and_noted():
    sim, ns = _ns()
    ct = Conntrack(sim)
    pieces = [bytes(p) for p in fragment(_datagram("udp", 3000), fragsize=1480)]
    assert len(pieces) == 3
    for i, piece in enumerate(pieces):
        notes = []
        pkt = _conntrack_in(ct, ns, piece, notes)
        assert pkt.ct is None and pkt.ctinfo is None
        assert ct.stat_fragment == i + 1
        assert len(notes) == 1 and "left untracked" in notes[0], notes
    assert notes == ["conntrack: fragment id 0x4242 offset 2960 left untracked: conntrack tracks "
                     "reassembled datagrams"]
    assert ct.stat_invalid == 0
    assert ct.hash == {} and ct.live() == []
    # the same flow, whole, is tracked as the kernel tracks the reassembled datagram
    pkt = _conntrack_in(ct, ns, bytes(_datagram("udp", 100)))
    assert pkt.ctinfo == IP_CT_NEW
    assert pkt.ct.tuplehash[0] == (ip_to_int(A_IP), ip_to_int(B_IP), 17, 40000, 9999)


@settings(max_examples=60, deadline=None)
@given(proto=st.sampled_from(["udp", "tcp", "icmp"]), size=st.integers(1, 4000),
       fragsize=st.integers(1, 185).map(lambda n: n * 8), data=st.data())
def test_no_fragment_ever_gets_a_tuple(proto, size, fragsize, data):
    """Whatever the datagram, however it is cut and in whatever order the pieces come,
    every piece meeting conntrack is left untracked and counted, and no connection (not
    even an unconfirmed one) is made from a piece."""
    sim, ns = _ns()
    ct = Conntrack(sim)
    pieces = [bytes(p) for p in fragment(_datagram(proto, size), fragsize=fragsize)]
    order = data.draw(st.permutations(range(len(pieces))))
    fragmented = len(pieces) > 1
    for i in order:
        pkt = _conntrack_in(ct, ns, pieces[i])
        if fragmented:
            assert pkt.ct is None
        else:
            assert pkt.ct is not None and pkt.ctinfo == IP_CT_NEW
    assert ct.stat_fragment == (len(pieces) if fragmented else 0)
    assert ct.stat_invalid == 0
    assert ct.hash == {}


def test_pkt_to_tuple_of_a_later_fragment_is_none():
    """``ipv4_get_l4proto``: a piece at a non-zero offset has no transport header (what
    matters for an ICMP error's quote); the first piece carries the real one."""
    first, later, last = (bytes(p) for p in fragment(_datagram("udp", 3000), fragsize=1480))
    assert pkt_to_tuple(later) is None and pkt_to_tuple(last) is None
    assert pkt_to_tuple(first) == (ip_to_int(A_IP), ip_to_int(B_IP), 17, 40000, 9999)
    icmp_first, icmp_later = (bytes(p) for p in fragment(_datagram("icmp", 2000), fragsize=1480))
    assert pkt_to_tuple(icmp_first) == (ip_to_int(A_IP), ip_to_int(B_IP), 1, 0x77, 8 << 8)
    assert pkt_to_tuple(icmp_later) is None   # no longer an ICMP header read from the payload


def test_an_icmp_error_is_related_through_a_first_fragment_only():
    """An ICMP error quoting the first piece of a tracked flow is RELATED to it; one
    quoting a later piece cannot be matched (the kernel counts it invalid)."""
    sim, ns = _ns()
    ct = Conntrack(sim)
    whole = _conntrack_in(ct, ns, bytes(_datagram("udp", 100)))
    assert ct.confirm(whole.ct)
    first, later, _ = (bytes(p) for p in fragment(_datagram("udp", 3000), fragsize=1480))

    def error_about(quoted: bytes) -> bytes:
        return bytes(IP(src=B_IP, dst=A_IP, id=1, ttl=64) / ICMP(type=3, code=4, nexthopmtu=1000)
                     / quoted[:28])

    pkt = _conntrack_in(ct, ns, error_about(first))
    assert pkt.ct is whole.ct and pkt.ctinfo == IP_CT_RELATED_REPLY
    pkt = _conntrack_in(ct, ns, error_about(later))
    assert pkt.ct is None and ct.stat_invalid == 1
    assert ct.stat_fragment == 0   # an ICMP error is whole: only its quote is a piece


def _tx_log(sim):
    """What each device sends, with the time: ``sent_on(dev)`` -> [(ns, frame)]."""
    log = []

    class _Tx:
        def on_frame(self, now, dev, frame, direction, note=""):
            if direction == "out":
                log.append((now, dev, frame))

        def on_note(self, *_):
            pass

        def on_drop(self, *_):
            pass

    sim.observers.append(_Tx())
    return lambda dev: [(t, f) for t, d, f in log if d is dev]


class _Notes:
    """An observer keeping every note."""

    def __init__(self):
        self.notes = []

    def on_frame(self, *_):
        pass

    def on_note(self, _now, dev, _frame, text):
        self.notes.append((dev.name, text))

    def on_drop(self, *_):
        pass


def test_fragments_across_a_bridge_with_br_netfilter_and_conntrack():
    """The kernel test's ``conntrack`` case (FINDINGS §14 (iii)): a bridge namespace with
    ``bridge-nf-call-iptables=1`` and a rule that loads conntrack.  The bridge reassembles
    the datagram before PREROUTING, so FORWARD's rule matches once (1 packet, 3028 bytes)
    and conntrack has one entry; the pieces leave pb as they came (1500, 1500, 68), only
    once the last has arrived; b reassembles them and answers port unreachable."""
    sim = Simulator(seed=1)
    watcher = _Notes()
    sim.observers.append(watcher)
    a, b, br = Namespace(sim, "a"), Namespace(sim, "b"), Namespace(sim, "br")
    bridge = Bridge(sim, "br0", bytes.fromhex("020000000100"))
    br.add_device(bridge)
    bridge.set_up()
    for host, name, mac, port_mac, ip in ((a, "pa", A_MAC, "02:00:00:00:01:0a", A_IP),
                                          (b, "pb", B_MAC, "02:00:00:00:01:0b", B_IP)):
        eth, port = veth_pair(sim, "eth0", name, mac=bytes.fromhex(mac.replace(":", "")),
                              peer_mac=bytes.fromhex(port_mac.replace(":", "")))
        host.add_device(eth)
        br.add_device(port)
        bridge.add_port(port)
        eth.set_up()
        port.set_up()
        host.addr_add("eth0", f"{ip}/24")
    br.set_sysctl("net.bridge.bridge-nf-call-iptables", 1)
    br.netfilter.iptables("-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT")
    assert br.netfilter.conntrack is not None
    eth0 = a.dev("eth0")
    sent_on = _tx_log(sim)
    pieces = [bytes(p) for p in fragment(_datagram("udp", 3000), fragsize=1480)]
    for i, piece in enumerate(pieces):
        frame = bytes.fromhex(B_MAC.replace(":", "") + A_MAC.replace(":", "")) + b"\x08\x00" + piece
        sim.after(1_000_000 * i, lambda f=frame: eth0.dev_queue_xmit(Frame(f, sim.new_pid())))
    sim.run(until=1.0)
    table = br.netfilter.conntrack
    assert table.stat_fragment == 0 and len(table.live()) == 1
    assert br.netfilter.conntrack_list().splitlines()[0].startswith(
        "udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=9999 [UNREPLIED] "
        "src=10.0.0.2 dst=10.0.0.1 sport=9999 dport=40000"), br.netfilter.conntrack_list()
    listing = br.netfilter.iptables("-L FORWARD -v -x -n").splitlines()
    # b's port unreachable is RELATED, which the rule does not name: the policy takes it
    assert listing[0].startswith("Chain FORWARD (policy ACCEPT 1 packets, 576 bytes)"), listing
    assert listing[2].split()[:2] == ["1", "3028"], listing
    out = [(t, len(f.data) - 14) for t, f in sent_on(br.dev("pb")) if f.data[12:14] == b"\x08\x00"]
    assert [n for _, n in out] == [1500, 1500, 68]
    assert min(t for t, _ in out) >= 2_000_000, out   # after the last piece came in, at 2 ms
    assert b.ipv4.stats["ReasmOKs"] == 1 and b.drop_reasons["NO_SOCKET"] == 1
    assert br.ipv4.stats["FragOKs"] == 1 and br.ipv4.stats["FragCreates"] == 3
