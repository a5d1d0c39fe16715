"""BGP errors as RFC 4271 and RFC 7606 say, each found by feeding a hand-made message into an
established session with a scripted peer: what the speaker sends back (or does not), whether
the session survives, and what reaches its routing table."""
import struct

import pytest

from emunet.control.bird import BgpPeer, Bird
from emunet.devices.switch import Nic, Switch
from emunet.observe.capture import Capture
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.topology import nic_mac
from emunet.wire import bgp as W
from tests.control.test_bird import _ScriptedPeer, _open, _speaker_and_peer
from tests.tshark import NO_REASSEMBLY, TSHARK, fields

ORIGIN_IGP = bytes((0x40, 1, 1, 0))
AS_PEER = bytes((0x40, 2, 6, 2, 1, 0, 0, 0xFC, 0x01))  # AS_SEQUENCE (64513), 4-octet


def _nh(ip: str) -> bytes:
    return bytes((0x40, 3, 4)) + bytes(int(x) for x in ip.split("."))


def _update(attrs: bytes, nlri: bytes = bytes((24, 10, 7, 0)), withdrawn: bytes = b"") -> bytes:
    body = struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body


GOOD = _update(ORIGIN_IGP + AS_PEER + _nh("10.0.0.2"))


def _session(*later):
    """bird (10.0.0.1, AS 64512) and a scripted eBGP peer (10.0.0.2, AS 64513) that sends
    ``later`` once the session is up."""
    return _speaker_and_peer([_open(64513), W.keepalive_message()], list(later))


def _notifications(peer) -> list:
    return [m for m in peer.msgs if isinstance(m, W.Notification)]


def _bgp_routes(bird) -> dict:
    return {k: v for k, v in bird.routes().items() if v.kind == "bgp"}


def _ibgp_open(router_id: str) -> bytes:
    caps = (W.cap_multiprotocol(), W.cap_as4(64512))
    return W.open_message(W.Open(64512, 90, router_id, caps))


def test_session_up_and_route_learned_with_a_good_update():
    bird, peer = _session(GOOD)
    p = bird.protocol("peer")
    assert p.state_text == "Established" and not _notifications(peer)
    assert list(_bgp_routes(bird)) == ["10.7.0.0/24"]


def test_malformed_notification_is_not_answered_with_a_notification():
    """RFC 4271 6.4: the receiver of a bad NOTIFICATION closes the connection without one."""
    short = b"\xff" * 16 + b"\x00\x14\x03\x06"  # 20 bytes: no subcode
    bird, peer = _session(short)
    p = bird.protocol("peer")
    assert not _notifications(peer)
    assert peer.closed_at is not None  # the connection was closed, by FIN
    assert p.status().endswith("Error: Malformed NOTIFICATION")
    assert any("Malformed NOTIFICATION" in e[2] for e in bird.events)


def test_notification_with_a_bad_header_is_not_answered_either():
    bad_marker = b"\xfe" + b"\xff" * 15 + b"\x00\x15\x03\x06\x02"
    bird, peer = _session(bad_marker)
    assert not _notifications(peer) and peer.closed_at is not None


def test_a_bad_keepalive_is_still_answered():
    """The rule is for NOTIFICATIONs only: any other bad message earns one."""
    bird, peer = _session(b"\xff" * 16 + b"\x00\x14\x04\x00")
    assert _notifications(peer) == [W.Notification(1, 2, b"\x00\x14")]


def test_next_hop_our_own_address_is_ignored_without_notification():
    """RFC 4271 6.3: a NEXT_HOP that is the receiver's own address is semantically
    incorrect; the route is ignored, no NOTIFICATION is sent, and an earlier route for the
    prefix from this peer goes (RFC 7606 treat-as-withdraw)."""
    own = _update(ORIGIN_IGP + AS_PEER + _nh("10.0.0.1"))
    bird, peer = _session(GOOD, own)
    p = bird.protocol("peer")
    assert p.state_text == "Established" and not _notifications(peer)
    assert not _bgp_routes(bird)
    assert p.stats.imp_updates_invalid == 1


def test_next_hop_another_address_is_installed():
    bird, peer = _session(_update(ORIGIN_IGP + AS_PEER + _nh("10.0.0.9")))
    assert _bgp_routes(bird)


@pytest.mark.parametrize("what,as_path", [
    ("a segment of length 0", bytes((0x40, 2, 2, 2, 0))),
    ("a zero-length segment after a good one", bytes((0x40, 2, 8, 2, 1, 0, 0, 0xFC, 0x01, 2, 0))),
    ("segment type 5", bytes((0x40, 2, 6, 5, 1, 0, 0, 0xFC, 0x01))),
    ("a segment overrunning the attribute", bytes((0x40, 2, 6, 2, 2, 0, 0, 0xFC, 0x01))),
    ("one octet left over", bytes((0x40, 2, 7, 2, 1, 0, 0, 0xFC, 0x01, 2))),
], ids=["empty", "empty-after-good", "type-5", "overrun", "octet-left"])
def test_malformed_as_path_is_treat_as_withdraw(what, as_path):
    """RFC 7606 7.2: a malformed AS_PATH withdraws the UPDATE's routes; the session stays."""
    bird, peer = _session(GOOD, _update(ORIGIN_IGP + as_path + _nh("10.0.0.2")))
    p = bird.protocol("peer")
    assert p.state_text == "Established" and not _notifications(peer), what
    assert not _bgp_routes(bird), what  # the good route learned first is withdrawn


@pytest.mark.parametrize("what,msg", [
    ("truncated NLRI", _update(ORIGIN_IGP + AS_PEER + _nh("10.0.0.2"), bytes((24, 10, 7)))),
    ("NLRI prefix length 33", _update(ORIGIN_IGP + AS_PEER + _nh("10.0.0.2"), bytes((33, 1, 2, 3, 4, 5)))),
    ("truncated withdrawn prefix", _update(b"", b"", withdrawn=bytes((24, 10)))),
], ids=["truncated-nlri", "plen-33", "truncated-withdrawn"])
def test_bad_network_field_is_invalid_network_field(what, msg):
    """RFC 4271 6.3: a syntactically incorrect NLRI field → 3/10 Invalid Network Field."""
    bird, peer = _session(msg)
    assert _notifications(peer) == [W.Notification(3, 10)], what
    assert bird.protocol("peer").status().endswith("BGP Error: Invalid network field")


def _reflector_and_clients():
    """A route reflector (10.0.0.1) with two scripted clients in AS 64512: 10.0.0.2 sends
    an UPDATE with two unknown optional attributes, 10.0.0.3 records what is reflected."""
    sim = Simulator(seed=7)
    Capture.attach(sim)
    sw = Switch(sim, "lan0")
    ns = {}
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        n = ns[ip] = Namespace(sim, f"r{ip[-1]}")
        nic = Nic(sim, "eth0", nic_mac(ip))
        n.add_device(nic)
        sw.connect(nic)
        nic.set_up()
        n.addr_add(nic, f"{ip}/24")
    peers = [BgpPeer(ip, 64512, name=f"c{ip[-1]}", rr_client=True, passive=True)
             for ip in ("10.0.0.2", "10.0.0.3")]
    rr = ns["10.0.0.1"].spawn(Bird("10.0.0.1", 64512, peers=peers, export="all", direct=None))
    ibgp_path = bytes((0x40, 2, 0))
    unknown = bytes((0xC0, 99, 3, 1, 2, 3)) + bytes((0x80, 98, 2, 9, 9))
    upd = _update(ORIGIN_IGP + ibgp_path + _nh("10.0.0.2") + bytes((0x40, 5, 4, 0, 0, 0, 100))
                  + unknown, bytes((24, 10, 9, 0)))
    ka = W.keepalive_message()
    c2 = ns["10.0.0.2"].spawn(_ScriptedPeer("10.0.0.1", [_ibgp_open("10.0.0.2"), ka], [upd]))
    c3 = ns["10.0.0.3"].spawn(_ScriptedPeer("10.0.0.1", [_ibgp_open("10.0.0.3"), ka]))
    sim.run(until=5)
    return sim, rr, c2, c3


def test_unknown_optional_transitive_attribute_is_reflected_with_the_partial_bit(tmp_path):
    """RFC 4271 5: an unrecognised optional transitive attribute is passed on with Partial
    set; an unrecognised optional non-transitive one is quietly dropped."""
    sim, rr, c2, c3 = _reflector_and_clients()
    assert rr.protocol("c2").state_text == rr.protocol("c3").state_text == "Established"
    got = [m for m in c3.msgs if isinstance(m, W.Update) and m.nlri]
    assert [str(n) for n in got[0].nlri] == ["10.9.0.0/24"]
    assert got[0].attrs.unknown == ((0xE0, 99, b"\x01\x02\x03"),)
    assert got[0].attrs.originator_id == "10.0.0.2" and got[0].attrs.cluster_list == ("10.0.0.1",)
    if TSHARK is not None:
        path = tmp_path / "rr.pcapng"
        Capture.of(sim).write(str(path))
        rows = fields(str(path), ["bgp.update.path_attribute.type_code",
                                  "bgp.update.path_attribute.flags.partial"],
                      ["-Y", "bgp.type == 2 && ip.dst == 10.0.0.3 && bgp.nlri_prefix", *NO_REASSEMBLY])
        assert rows and "99" in rows[0][0].split(",")
