"""802.1Q: VLAN sub-interfaces, the VLAN-aware switch, and the ``vlan`` scenario.

Scapy and tshark are the independent readers of the bytes; the switch's properties are
checked against a small oracle written from IEEE 802.1Q's rules (classify, filter, learn
(VID, MAC), forward or flood within the VLAN, tag or untag per egress port)."""
import pytest
from hypothesis import given, settings, strategies as st

from emunet import strategies as es
from emunet.devices.switch import ETH_ZLEN, Nic, Switch
from emunet.devices.veth import veth_pair
from emunet.devices.vlan import Vlan, vlan_add
from emunet.observe.show import run_command
from emunet.scenarios import run_scenario
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.wire.dot1q import Dot1QView, push_tag
from emunet.wire.frame import Frame
from emunet.observe.capture import Capture
from tests.devices.test_malformed import tagged_outcome
from tests.tshark import fields, needs_tshark, problems

pytest.importorskip("scapy")
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402

ROUTER_MAC = bytes.fromhex("4201c0a80a01")
TPID = b"\x81\x00"


def tagged(data: bytes) -> bool:
    return data[12:14] == TPID


def vid_of(data: bytes) -> int:
    return Dot1QView(data).vid


def ip_fields(data: bytes):
    """(src, dst, ttl, icmp type) of an untagged or tagged IPv4/ICMP frame, else None."""
    off = 18 if tagged(data) else 14
    if data[off - 2:off] != b"\x08\x00":
        return None
    ip = data[off:]
    return ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20])), ip[8], ip[(ip[0] & 15) * 4]


def arp_tpa(data: bytes):
    off = 18 if tagged(data) else 14
    if data[off - 2:off] != b"\x08\x06":
        return None
    return ".".join(map(str, data[off + 24:off + 28]))


# -- the scenario ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    out = tmp_path_factory.mktemp("vlan")
    lab = run_scenario("vlan", str(out))
    lab.pcap = str(out / "vlan.pcapng")
    return lab


def on(lab, iface):
    return lab.capture.on(iface)


def test_same_vlan_hosts_reach_each_other_directly_untagged_on_access_ports(lab):
    assert "64 bytes from 192.168.10.12: icmp_seq=1 ttl=64 time=0.008 ms" in lab.transcript
    for host in ("h10a", "h10b", "h20a", "stray"):
        assert not any(tagged(r.data) for r in on(lab, f"{host}/eth0")), host
    echo = [r for r in on(lab, "h10b/eth0") if ip_fields(r.data) == ("192.168.10.11", "192.168.10.12", 64, 8)]
    assert len(echo) == 1 and echo[0].direction == "in"
    # the echo itself is known unicast: it never reaches the router or VLAN 20
    for iface in ("router/eth0", "h20a/eth0", "stray/eth0"):
        assert not any((ip_fields(r.data) or ("",))[:2] == ("192.168.10.11", "192.168.10.12")
                       for r in on(lab, iface)), iface
    # the ARP broadcast is flooded in VLAN 10: to h10b untagged, to the trunk tagged 10,
    # never to VLAN 20's ports
    who = [(r.iface, r.direction, len(r.data), tagged(r.data) and vid_of(r.data))
           for r in lab.capture.records if arp_tpa(r.data) == "192.168.10.12" and r.data[0] == 0xFF]
    assert who == [("h10a/eth0", "out", 42, False), ("h10b/eth0", "in", 60, False),
                   ("router/eth0", "in", 64, 10), ("router/eth0.10", "in", 60, False)]


def test_hosts_on_different_vlans_meet_only_through_the_router(lab):
    assert "64 bytes from 192.168.20.11: icmp_seq=1 ttl=63 time=0.017 ms" in lab.transcript
    req = ("192.168.10.11", "192.168.20.11")
    path = [(r.iface, r.direction, tagged(r.data) and vid_of(r.data), ip_fields(r.data)[2])
            for r in lab.capture.records
            if (ip_fields(r.data) or ("",))[:2] == req and ip_fields(r.data)[3] == 8]
    assert path == [("h10a/eth0", "out", False, 64), ("router/eth0", "in", 10, 64),
                    ("router/eth0.10", "in", False, 64), ("router/eth0.20", "out", False, 63),
                    ("router/eth0", "out", 20, 63), ("h20a/eth0", "in", False, 63)]
    back = [(r.iface, r.direction, tagged(r.data) and vid_of(r.data), ip_fields(r.data)[2])
            for r in lab.capture.records if (ip_fields(r.data) or ("",))[:2] == req[::-1]]
    assert back == [("h20a/eth0", "out", False, 64), ("router/eth0", "in", 20, 64),
                    ("router/eth0.20", "in", False, 64), ("router/eth0.10", "out", False, 63),
                    ("router/eth0", "out", 10, 63), ("h10a/eth0", "in", False, 63)]
    # the router's ARP for h20a is flooded in VLAN 20: h20a and stray, not VLAN 10
    flooded = {r.iface for r in lab.capture.records
               if arp_tpa(r.data) == "192.168.20.11" and r.data[0] == 0xFF and r.direction == "in"}
    assert flooded == {"h20a/eth0", "stray/eth0"}


def test_a_host_on_the_wrong_vlan_is_unreachable(lab):
    i = lab.transcript.index("$ h10a$ ping -c 1 -W 5 192.168.10.13")
    assert lab.transcript[i + 1:i + 6] == [
        "PING 192.168.10.13 (192.168.10.13) 56(84) bytes of data.",
        "From 192.168.10.11 icmp_seq=1 Destination Host Unreachable", "",
        "--- 192.168.10.13 ping statistics ---",
        "1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms"]
    asks = [r for r in on(lab, "h10a/eth0") if arp_tpa(r.data) == "192.168.10.13"]
    assert [r.direction for r in asks] == ["out"] * 3
    assert [r.time_ns - asks[0].time_ns for r in asks] == [0, 1_000_000_000, 2_000_000_000]
    assert not any(arp_tpa(r.data) == "192.168.10.13" for r in on(lab, "stray/eth0"))
    assert lab.namespace("h10a").drop_reasons["NEIGH_FAILED"] == 1
    assert not any(d.reason == "NEIGH_FAILED" and not d.where.startswith("h10a")
                   for d in lab.capture.drops)


def test_minimum_frame_size_with_a_tag(lab):
    recs = lab.capture.records
    reply = [r for r in recs if arp_tpa(r.data) == "192.168.10.11" and r.data[6:12] == ROUTER_MAC]
    # the router's tagged ARP reply: 46 bytes in its own capture, padded to 60 on the wire
    # (with the tag), untagged by the switch and padded again to 60 for h10a
    assert [(r.iface, r.direction, len(r.data)) for r in reply[:3]] == [
        ("router/eth0.10", "out", 42), ("router/eth0", "out", 46), ("h10a/eth0", "in", 60)]
    assert reply[2].data[42:] == bytes(18)
    # a host's 60-byte ARP request gets the tag on the trunk: 64 bytes, and 60 on eth0.10
    ask = [r for r in recs if arp_tpa(r.data) == "192.168.10.1" and r.iface.startswith("router/")]
    assert [(r.iface, len(r.data)) for r in ask[:2]] == [("router/eth0", 64), ("router/eth0.10", 60)]


def test_the_switch_learns_the_routers_mac_in_both_vlans(lab):
    table = {(vid, mac, port.key) for vid, mac, port in lab.switch.mac_table()}
    assert {(10, ROUTER_MAC, "router/eth0"), (20, ROUTER_MAC, "router/eth0")} <= table
    assert not any(mac == bytes.fromhex("4201c0a80a0d") for _, mac, _ in table)  # stray never spoke
    assert "router/eth0  trunk 10,20" in lab.transcript and "stray/eth0   access 20" in lab.transcript


@needs_tshark
def test_tshark_reads_vlan_ids_where_the_trunk_carries_them(lab):
    assert problems(lab.pcap) == []
    rows = fields(lab.pcap, ["frame.interface_name", "vlan.id", "vlan.priority", "vlan.dei",
                             "eth.type", "vlan.etype"])
    assert len(rows) == len(lab.capture.records)
    trunk = [r for r in rows if r[0] == "router/eth0"]
    assert trunk and all(r[1] in ("10", "20") and r[2] == "0" and r[3] == "0" and r[4] == "0x8100"
                         for r in trunk), trunk
    assert {r[5] for r in trunk} == {"0x0806", "0x0800"}
    assert all(r[1] == "" for r in rows if r[0] != "router/eth0")
    assert [r[1] for r in rows if r[0] == "router/eth0" and r[5] == "0x0800"] == ["10", "20", "20", "10"]


def test_show_commands_for_vlan_devices(lab):
    assert run_command(lab, "router", "ip -d link show eth0.10") == (
        "3: eth0.10@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode "
        "DEFAULT group default qlen 1000\n"
        "    link/ether 42:01:c0:a8:0a:01 brd ff:ff:ff:ff:ff:ff promiscuity 0  allmulti 0 minmtu 0 "
        "maxmtu 65535 \n"
        "    vlan protocol 802.1Q id 10 <REORDER_HDR> addrgenmode eui64 numtxqueues 1 numrxqueues 1 "
        "gso_max_size 65536 gso_max_segs 65535 tso_max_size 65536 tso_max_segs 65535 "
        "gro_max_size 65536 \n")
    assert run_command(lab, "router", "ip link show eth0.20").splitlines()[0] == (
        "4: eth0.20@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode "
        "DEFAULT group default qlen 1000")
    assert run_command(lab, "router", "ip -br link").splitlines()[2].startswith("eth0.10@eth0     UP")
    with pytest.raises(ValueError, match=r"router/eth0 \(a physical NIC"):
        run_command(lab, "router", "ip -d link")
    lo = run_command(lab, "router", "ip -d link show lo").splitlines()
    assert lo[1].endswith("promiscuity 0  allmulti 0 minmtu 0 maxmtu 0 addrgenmode eui64 numtxqueues 1 "
                          "numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 tso_max_size 524280 "
                          "tso_max_segs 65535 gro_max_size 65536 ")
    # rx_bytes of a VLAN device count no Ethernet header, tx_bytes do
    dev = lab.namespace("router").dev("eth0.20")
    rx = [r for r in on(lab, "router/eth0.20") if r.direction == "in"]
    tx = [r for r in on(lab, "router/eth0.20") if r.direction == "out"]
    assert dev.stats.rx_bytes == sum(len(r.data) - 14 for r in rx)
    assert dev.stats.tx_bytes == sum(len(r.data) for r in tx)


# -- VLAN devices ---------------------------------------------------------------------
def pair(sim=None, lower_a="eth0", lower_b="eth0"):
    sim = sim or Simulator(seed=3)
    Capture.attach(sim)
    a, b = Namespace(sim, "a"), Namespace(sim, "b")
    ea, eb = veth_pair(sim, lower_a, lower_b, mac="02:00:00:00:00:0a", peer_mac="02:00:00:00:00:0b")
    a.add_device(ea)
    b.add_device(eb)
    ea.set_up()
    eb.set_up()
    return sim, a, b


def test_vlan_add_follows_the_kernels_rules():
    sim, a, b = pair()
    v = vlan_add(a, "eth0", 100)
    assert (v.name, v.mac, v.mtu, v.vid, v.admin_up) == ("eth0.100", a.dev("eth0").mac, 1500, 100, False)
    assert isinstance(v, Vlan) and v.peer_name() == "@eth0"
    with pytest.raises(ValueError, match="VLAN device already exists"):
        vlan_add(a, "eth0", 100, name="other")
    for bad in (4095, -1, 5000, "10", True):
        with pytest.raises(ValueError, match="Invalid VLAN id"):
            vlan_add(a, "eth0", bad)
    with pytest.raises(ValueError, match="Invalid argument"):
        vlan_add(a, "eth0", 200, mtu=9000)
    with pytest.raises(ValueError, match="VLANs not supported"):
        vlan_add(a, "lo", 10)
    assert vlan_add(a, "eth0", 0).name == "eth0.0"        # VID 0 is a valid device
    small = vlan_add(a, "eth0", 7, name="v7", mtu=1400)
    assert small.mtu == 1400
    # up only with its lower; the lower takes its VLAN devices down and up with it
    a.dev("eth0").set_down()
    with pytest.raises(ValueError, match="Network is down"):
        v.set_up()
    a.dev("eth0").set_up()
    assert v.admin_up and small.admin_up                  # NETDEV_UP brings them all up
    a.dev("eth0").set_down()
    assert not v.admin_up
    a.dev("eth0").set_up()
    b.dev("eth0").set_down()                               # the veth peer down: no carrier
    assert v.admin_up and not v.carrier
    assert "NO-CARRIER" in run_command(_Lab(sim), "a", "ip link show eth0.100")
    assert "state LOWERLAYERDOWN" in run_command(_Lab(sim), "a", "ip link show eth0.100")
    v.delete()
    assert "eth0.100" not in a.devices and 100 not in a.dev("eth0").vlan_info.devices
    vlan_add(a, "eth0", 100)                               # the VID is free again


class _Lab:
    def __init__(self, sim):
        self.sim = sim

    def namespace(self, name):
        return self.sim.ns(name)


def _untagged_frames():
    # 16 bytes and more: the model carries the tag in line, so a bare 14-byte frame sent
    # through a VLAN device would be 18 bytes on the wire, too short to untag (the kernel
    # keeps the tag out of line on a veth and would deliver it)
    return st.one_of(es.ethernet_frames(), es.valid_frames(), es.vlan_frames()).filter(
        lambda f: len(f) >= 16)


@settings(max_examples=150, deadline=None)
@given(data=_untagged_frames(), vid=st.integers(0, 4094))
def test_tagging_through_a_vlan_device_and_receiving_on_the_parent_gives_the_frame_back(data, vid):
    sim, a, b = pair()
    va, vb = vlan_add(a, "eth0", vid), vlan_add(b, "eth0", vid)
    va.set_up()
    vb.set_up()
    va.dev_queue_xmit(Frame(data, sim.new_pid()))
    sim.run()
    cap = Capture.of(sim)
    wire = [r.data for r in cap.on("a/eth0") if r.direction == "out"]
    assert wire == [push_tag(data, vid)]
    t = wire[0]
    view, p = Dot1QView.check(t), Ether(t)
    tag = p[Dot1Q]
    assert (view.tpid, view.vid, view.pcp, view.dei) == (0x8100, vid, 0, 0)
    assert (p.type, tag.vlan, tag.prio, tag.dei, tag.type) == (0x8100, vid, 0, 0, view.inner_ethertype)
    assert tag.payload.original == data[14:]   # what Scapy dissected, not its rebuild (test_ipip)
    assert [r.data for r in cap.on("b/eth0")] == [t]
    assert [r.data for r in cap.on(f"b/eth0.{vid}") if r.direction == "in"] == [data]
    assert vb.stats.rx_packets == 1 and vb.stats.rx_bytes == len(data) - 14
    assert va.stats.tx_bytes == len(data) and a.dev("eth0").stats.tx_bytes == len(data) + 4


_TAGGED_INPUT = st.one_of(
    es.vlan_frames(vid=st.sampled_from([0, 10, 20, 30, 4095])),
    es.vlan_frames(vid=st.sampled_from([10, 30])).map(lambda f: f[:14 + len(f) % 6]),   # cut short
    st.binary(min_size=14, max_size=40).map(lambda b: b[:12] + TPID + b[14:]),
)


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(_TAGGED_INPUT, min_size=1, max_size=5))
def test_tagged_frames_on_a_parent_are_delivered_or_dropped_with_a_reason(frames):
    """VID 10 and 20 have devices on b's eth0, 0 / 30 / 4095 do not; nothing raises; a frame
    too short to untag is dropped before the capture; a VID with a device reaches it,
    untagged; the others meet check_vlan_id (tests/devices/test_malformed.py:tagged_outcome)."""
    sim, a, b = pair()
    eth0 = b.dev("eth0")
    subs = {vid: vlan_add(b, "eth0", vid) for vid in (10, 20)}
    for s in subs.values():
        s.set_up()
    for data in frames:
        before = sum(b.drop_reasons.values())
        ncap = len(Capture.of(sim).records)
        eth0.receive(Frame(data, sim.new_pid()))
        sim.run()
        new = Capture.of(sim).records[ncap:]
        dropped = sum(b.drop_reasons.values()) - before
        if len(data) < 20:
            assert new == [] and dropped == 1 and b.drop_reasons["PKT_TOO_SMALL"] >= 1
            continue
        assert new[0].iface == "b/eth0" and new[0].data == data
        vid = vid_of(data)
        if vid in subs:
            assert new[1].iface == f"b/eth0.{vid}" and new[1].data == data[:12] + data[16:]
            continue
        expected = tagged_outcome(eth0, data)
        if expected is None:
            assert any("priority tag" in c for c in new[0].comments)
        elif expected:
            assert dropped >= 1 and any(d.reason in expected for d in Capture.of(sim).drops[-dropped:])
        else:
            assert dropped == 0 and any("consumes it" in c for c in new[0].comments)
    # these are stack drops (the namespace's), as the kernel counts them: no rx_dropped
    for d in (eth0, *subs.values()):
        assert sum(d.drop_reasons.values()) == d.stats.rx_dropped + d.stats.tx_dropped == 0
    assert eth0.stats.rx_packets == len(frames)


# -- the switch -------------------------------------------------------------------------
class RecordingSwitch(Switch):
    """A switch whose egress is recorded instead of put on a cable."""

    def __init__(self, sim, n):
        super().__init__(sim, "sw")
        self.sent = []
        self.nics = []
        ns = Namespace(sim, "hosts")
        for i in range(n):
            nic = ns.add_device(Nic(sim, f"p{i}", bytes((2, 0, 0, 0, 0, i + 1))))
            self.connect(nic)
            self.nics.append(nic)

    def egress(self, port, frame):
        self.sent.append((port, frame))


MACS = [bytes((2, 0, 0, 0, 0xAA, i)) for i in range(4)]
BCAST = b"\xff" * 6
VIDS = [1, 2, 3, 4]


@st.composite
def port_configs(draw):
    n = draw(st.integers(2, 6))
    cfgs = []
    for _ in range(n):
        if draw(st.booleans()):
            cfgs.append(("access", draw(st.sampled_from(VIDS))))
        else:
            allowed = draw(st.sets(st.sampled_from(VIDS), min_size=1))
            native = draw(st.one_of(st.none(), st.sampled_from(sorted(allowed))))
            cfgs.append(("trunk", allowed, native))
    return cfgs


@st.composite
def switch_traffic(draw, n):
    out = []
    for _ in range(draw(st.integers(1, 25))):
        port = draw(st.integers(0, n - 1))
        src = draw(st.sampled_from(MACS))
        dst = draw(st.sampled_from(MACS + [BCAST]))
        tag = draw(st.one_of(st.none(), st.sampled_from([0, 1, 2, 3, 4, 5])))
        pcp = draw(st.integers(0, 7))
        payload = draw(st.binary(min_size=0, max_size=60))
        head = dst + src
        if tag is not None:
            head += TPID + ((pcp << 13) | tag).to_bytes(2, "big")
        out.append((port, head + b"\x08\x00" + payload))
    return out


def oracle_vid(cfg, data):
    """The VLAN an 802.1Q port classifies a frame into, or None (ingress filter)."""
    if tagged(data):
        vid = vid_of(data)
        if vid == 0:
            return cfg.pvid
        return vid if vid in cfg.members else None
    return cfg.pvid


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_switch_confines_frames_to_their_vlan_and_learns_per_vlan(data):
    cfgs = data.draw(port_configs())
    sim = Simulator(seed=1)
    sw = RecordingSwitch(sim, len(cfgs))
    for nic, c in zip(sw.nics, cfgs):
        if c[0] == "access":
            sw.set_access(nic, c[1])
        else:
            sw.set_trunk(nic, allowed=c[1], native=c[2])
    fdb = {}
    for port_i, frame in data.draw(switch_traffic(len(cfgs))):
        port = sw.nics[port_i]
        cfg = sw.port_vlan(port)
        sw.sent.clear()
        drops = sum(sw.drop_reasons.values())
        sw.ingress(port, Frame(frame, 1))
        vid = oracle_vid(cfg, frame)
        if vid is None:
            assert sw.sent == [] and sum(sw.drop_reasons.values()) == drops + 1
            assert sw.drop_reasons["VLAN_INGRESS_FILTER"] >= 1
            continue
        fdb[(vid, frame[6:12])] = port
        members = [p for p in sw.nics if vid in sw.port_vlan(p).members]
        known = fdb.get((vid, frame[0:6])) if frame[0] != 0xFF else None
        if known is port:
            expected = []
        elif known is not None:
            expected = [known]          # after learning: known unicast is not flooded
        else:
            expected = [p for p in members if p is not port]
        got = [p for p, _ in sw.sent]
        assert got == expected, (vid, frame.hex())
        plain = frame[:12] + frame[16:] if tagged(frame) else frame
        for p, f in sw.sent:
            out = f.data
            pc = sw.port_vlan(p)
            assert p is not port                              # never back out the ingress port
            assert vid in pc.members                          # never outside its VLAN
            if vid in pc.untagged:
                assert not tagged(out) and len(out) >= ETH_ZLEN
                assert out[:len(plain)] == plain and not any(out[len(plain):])
            else:
                assert tagged(out) and vid_of(out) == vid
                assert out[:12] + out[16:] == plain
                pcp = (frame[14] >> 5) if tagged(frame) else 0
                assert out[14] >> 5 == pcp                   # the priority travels with the frame


def test_a_vlan_unaware_switch_keeps_its_path_and_passes_tags_through():
    sim = Simulator(seed=1)
    sw = RecordingSwitch(sim, 3)
    assert sw.ingress.__func__ is Switch.ingress and not sw.vlan_aware
    frame = Frame(MACS[1] + MACS[0] + TPID + b"\x00\x1e\x08\x00" + bytes(42), 1)
    sw.ingress(sw.nics[0], frame)
    assert [(p.name, f) for p, f in sw.sent] == [("p1", frame), ("p2", frame)]
    sw.set_access(sw.nics[0], 30)
    assert sw.ingress.__func__ is Switch._ingress_vlan and sw.vlan_aware
    assert sw.port_vlan(sw.nics[1]).describe() == "access 1"   # the default VLAN


def test_switch_configuration_is_checked():
    sim = Simulator(seed=1)
    sw, other = RecordingSwitch(sim, 2), Switch(sim, "sw2")
    nic = sw.nics[0]
    with pytest.raises(ValueError, match=r"hosts/p0 is not cabled to switch sw2 \(it is on switch sw\)"):
        other.set_access(nic, 10)
    for bad in (0, 4095, 5000, "10"):
        with pytest.raises(ValueError, match="not a usable VID"):
            sw.set_access(nic, bad)
    with pytest.raises(ValueError, match="native VLAN 30 is not in the allowed list 10,20"):
        sw.set_trunk(nic, allowed=[10, 20], native=30)
    with pytest.raises(ValueError, match="empty allowed VLAN list"):
        sw.set_trunk(nic, allowed=[])
    assert sw.set_trunk(nic, allowed=[10, 11, 12, 20]).describe() == "trunk 10-12,20"
    assert sw.set_trunk(nic, native=1).describe() == "trunk 1-4094 native 1"


def test_switch_drops_are_counted_with_the_port_and_vlan():
    sim = Simulator(seed=1)
    seen = []

    class Obs:
        def on_drop(self, now, where, frame, reason, detail):
            seen.append((where.name, reason, detail))

        def on_frame(self, *a):
            pass

        def on_note(self, *a):
            pass

    sim.observers.append(Obs())
    sw = RecordingSwitch(sim, 3)
    trunk, acc = sw.nics[0], sw.nics[1]
    sw.set_trunk(trunk, allowed=[10, 20])
    sw.set_access(acc, 10)
    untagged = MACS[1] + MACS[0] + b"\x08\x00" + bytes(46)
    sw.ingress(trunk, Frame(push_tag(untagged, 30), 1))          # VID 30 not allowed
    sw.ingress(trunk, Frame(untagged, 2))                       # no native VLAN
    sw.ingress(acc, Frame(push_tag(untagged, 20), 3))           # another VLAN on an access port
    sw.ingress(trunk, Frame(untagged[:12] + TPID + b"\x00", 4))  # the tag cut short
    assert sw.sent == []
    assert dict(sw.drop_reasons) == {"VLAN_INGRESS_FILTER": 3, "PKT_TOO_SMALL": 1}
    assert seen[0] == ("sw", "VLAN_INGRESS_FILTER", "switch sw, port hosts/p0: VLAN 30 is not "
                                                    "allowed on this trunk port (trunk 10,20)")
    assert "without a native VLAN" in seen[1][2] and "(access 10)" in seen[2][2]
    # a priority-tagged frame on the access port is VLAN 10: untagged to access ports,
    # tagged 10 with its PCP to the trunk
    sw.ingress(acc, Frame(untagged[:12] + TPID + b"\xa0\x00" + untagged[12:], 5))
    assert [(p.name, f.data[12:16].hex()) for p, f in sw.sent] == [("p0", "8100a00a")]


def test_draw_labels_ports_and_vlan_devices(lab):
    from emunet.observe.draw import dot_source
    src = dot_source(lab.sim)
    assert '"router/eth0" -- "switch/sw0" [label="trunk 10,20"' in src
    assert '"stray/eth0" -- "switch/sw0" [label="access 20"' in src
    assert '"router/eth0.10" -- "router/eth0" [label="vlan 10 on"' in src
