"""The comparison itself, without a kernel (runs everywhere, root or not): it must see a
changed field, a missing frame and a reordering, and must not see the normalised fields."""
import struct

from emunet.apps.ping import Ping
from emunet.apps.udp import UdpSender

from tests.kernel.cases import DockerModel, emunet_frames
from tests.kernel.compare import NORMALISED, compare, dissect


def _capture(seed: int, traffic=("ping",)):
    model = DockerModel(seed=seed)
    c1 = model.containers["c1"].ns
    if "ping" in traffic:
        c1.spawn(Ping("172.17.0.8", count=2))
    if "udp" in traffic:
        c1.spawn(UdpSender("172.17.0.8", 9999, b"x" * 600))
    model.sim.run(until=3.0)
    return emunet_frames(model.sim, ["c1/eth0", "c2/eth0", "c1/lo"])


def _patch(cap, iface, i, fn):
    t, data, d = cap[iface][i]
    b = bytearray(data)
    fn(b)
    cap[iface][i] = (t, bytes(b), d)


def _fix_ip_checksum(b, off=14):
    b[off + 10:off + 12] = b"\0\0"
    s = sum(struct.unpack("!10H", bytes(b[off:off + 20])))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    b[off + 10:off + 12] = struct.pack("!H", ~s & 0xFFFF)


def test_two_seeds_differ_only_in_normalised_fields():
    a, b = _capture(1, ("ping", "udp")), _capture(2, ("ping", "udp"))
    assert a["c1/eth0"][3][1] != b["c1/eth0"][3][1]        # IP ID, ping id, timestamp differ
    rep = compare("seeds", a, b)
    assert rep, rep.text()
    assert "icmp.quote.udp.checksum" in rep.fields and len(NORMALISED) <= 12


def test_a_changed_field_is_named():
    a, b = _capture(1), _capture(1)

    def ttl_63(buf):
        buf[14 + 8] = 63
        _fix_ip_checksum(buf)
    _patch(b, "c1/eth0", 2, ttl_63)
    rep = compare("ttl", a, b)
    assert len(rep.diffs) == 1 and "ip.ttl: kernel 64, emunet 63" in rep.diffs[0], rep.text()
    _patch(b, "c1/eth0", 2, lambda buf: buf.__setitem__(14 + 1, 0x10))   # TOS, checksum now wrong
    rep = compare("tos", a, b)
    assert "ip.tos: kernel 0x00, emunet 0x10" in rep.diffs[0]
    assert "ip.checksum: kernel valid, emunet bad" in rep.diffs[0]


def test_missing_extra_and_reordered_frames_are_reported():
    a, b = _capture(1), _capture(1)
    del b["c2/eth0"][0]
    b["c1/eth0"][2], b["c1/eth0"][3] = b["c1/eth0"][3], b["c1/eth0"][2]
    rep = compare("order", a, b)
    text = rep.text()
    assert any("c2/eth0: kernel frame #1 has no counterpart" in d for d in rep.diffs), text
    assert any(d.startswith("c1/eth0") for d in rep.diffs), text


def test_relations_inside_normalised_fields_are_kept():
    """An echo reply with another identifier than its request, or a quoted header whose IP
    ID is not the original's, is a difference even though the values themselves are not."""
    a, b = _capture(1), _capture(1)
    _patch(b, "c1/eth0", 3, lambda buf: buf.__setitem__(34 + 4, buf[34 + 4] ^ 0xFF))
    rep = compare("ident", a, b)
    assert any("icmp.ident: kernel ping#0, emunet ping#1" in d for d in rep.diffs), rep.text()


def test_dissection_names_the_fields_of_an_arp_request():
    a = _capture(1)
    f = dict(dissect(a["c1/eth0"][0][1]))
    assert f["arp.op"] == 1 and f["arp.tha"] == "00:00:00:00:00:00" and f["frame.len"] == 42


def _find(cap, iface, pred):
    return next(i for i, (_, data, _) in enumerate(cap[iface]) if pred(dict(dissect(data))))


def test_an_id_collision_between_unrelated_packets_is_no_difference_but_a_wrong_quote_is():
    """Random IDs of two unrelated packets may be equal on one side (the kernel's hashed
    generator, one run in a few hundred): no difference.  A quote that does not repeat the
    original's ID is one."""
    a, b = _capture(1, ("ping", "udp")), _capture(1, ("ping", "udp"))
    req = _find(b, "c1/eth0", lambda f: f.get("icmp.type") == 8)
    rep_ = _find(b, "c1/eth0", lambda f: f.get("icmp.type") == 0)
    req_id = b["c1/eth0"][req][1][18:20]

    def same_id(buf):
        buf[18:20] = req_id
        _fix_ip_checksum(buf)
    _patch(b, "c1/eth0", rep_, same_id)
    rep = compare("collision", a, b)
    assert rep, rep.text()
    err = _find(b, "c1/eth0", lambda f: f.get("icmp.type") == 3)
    _patch(b, "c1/eth0", err, lambda buf: buf.__setitem__(14 + 20 + 8 + 4, buf[14 + 20 + 8 + 4] ^ 1))
    rep = compare("quote", a, b)
    assert any("icmp.quote.ip.id: kernel id#" in d for d in rep.diffs), rep.text()


def test_a_kernel_timer_may_fire_late_by_its_wheel_granularity_never_early():
    """HZ=250: a 5 s neighbour timer lands in wheel level 2 (64 jiffies = 256 ms), a 1 s one
    in level 1 (8 jiffies); the kernel probe seen at 5.250 s is in bounds, one 0.3 s early
    or 0.6 s late is not."""
    from tests.kernel.compare import Report, compare_timing, timer_slack_ns
    S_ = 1_000_000_000
    assert timer_slack_ns(5 * S_, 250) == 260_000_000 and timer_slack_ns(1 * S_, 250) == 36_000_000
    assert timer_slack_ns(5 * S_, 1000) == 513_000_000 and timer_slack_ns(5 * S_) == 5 * S_ // 8
    model = DockerModel(seed=1)
    model.containers["c1"].ns.spawn(Ping("172.17.0.8", count=1))
    model.sim.run(until=7.0)
    emunet = {"c2/eth0": emunet_frames(model.sim, ["c2/eth0"])["c2/eth0"]}
    t_first, t_probe = emunet["c2/eth0"][0][0], emunet["c2/eth0"][4][0]
    assert t_probe - t_first >= 5 * S_ - 1_000_000          # c2's unicast probe, 5 s later

    def shifted(by):
        frames = list(emunet["c2/eth0"])
        t, d, dr = frames[4]
        frames[4] = (t + by, d, dr)
        return {"c2/eth0": frames}
    for by, ok in ((250_000_000, True), (-300_000_000, False), (600_000_000, False)):
        rep = compare_timing(Report("t"), shifted(by), emunet, 250_000_000, hz=250)
        assert bool(rep) is ok, (by, rep.diffs)
