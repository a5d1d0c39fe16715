"""Matches and targets on packets: what each decides or does, as the kernel's xt_* code
does it, and what a rule's match or drop leaves in the packet's notes and drop reason."""
import math
import random
import types

import pytest
from scapy.layers.inet import IP, TCP

from emunet.devices.veth import Veth
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.stack.netfilter import NfPacket, nat
from emunet.stack.netfilter.conntrack import (IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY, IP_CT_NEW,
                                              IP_CT_RELATED, IPS_DST_NAT, IPS_SRC_NAT)
from emunet.stack.netfilter.hooks import (NF_ACCEPT, NF_DROP, NF_INET_FORWARD, NF_INET_LOCAL_IN,
                                          NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING, NF_NAT_MANIP_DST,
                                          NF_NAT_MANIP_SRC)
from emunet.stack.netfilter.iptables import Iptables, parse_rule
from emunet.stack.netfilter.conntrack import IP_CT_UNTRACKED
from emunet.stack.netfilter.targets import log_line
from emunet.wire.icmp import IcmpView
from emunet.wire.ipv4 import Ipv4View
from emunet.wire.tcp import TcpView
from emunet.wire.udp import UdpView


def _ns():
    ns = Namespace(Simulator(seed=7), "n")
    for name, cidr in (("eth0", "10.0.0.2/24"), ("docker0", "172.17.0.1/16")):
        dev = ns.add_device(Veth(ns.sim, name))
        dev.set_up()
        ns.addr_add(name, cidr)
    return ns


def _b(ip):
    return bytes(int(x) for x in ip.split("."))


def udp(src="10.0.0.1", dst="10.0.0.2", sport=1000, dport=53, payload=b"q", ttl=64, ident=1):
    seg = UdpView.emit(sport, dport, payload, _b(src), _b(dst))
    return Ipv4View.emit(_b(src), _b(dst), 17, len(seg), ident, ttl) + seg


def tcp(src="10.0.0.1", dst="10.0.0.2", sport=1000, dport=80, flags=0x02, seq=1000, ack=0, payload=b""):
    seg = TcpView.emit(sport, dport, seq, ack, flags, 64240, b"", payload, _b(src), _b(dst))
    return Ipv4View.emit(_b(src), _b(dst), 6, len(seg), 7, 64, 0, True) + seg


def icmp_echo(src="10.0.0.1", dst="10.0.0.2"):
    msg = IcmpView.emit_echo(8, 0x1234, 1, b"ping")
    return Ipv4View.emit(_b(src), _b(dst), 1, len(msg), 3) + msg


def pkt(ns, data, hook=NF_INET_FORWARD, indev="eth0", outdev="docker0", notes=None, mark=0):
    dev = lambda name: ns.devices.get(name) if name else None  # noqa: E731
    return NfPacket(ns, data, hook=hook, indev=dev(indev), outdev=dev(outdev), mark=mark, notes=notes)


def matcher(ns, spec, table="filter"):
    """The compiled conditions of a rule given as iptables-save text."""
    rule = parse_rule(ns.netfilter, spec, table)
    conds = list(rule.ip.compile()) + [m.compile(rule.ip) for m in rule.matches]
    conds = [c for c in conds if c is not None]
    return lambda p: all(c(p) for c in conds)


# -- matches ------------------------------------------------------------------------------
def test_addrtype_reads_the_local_table_and_limit_iface_in_asks_for_the_incoming_device():
    ns = _ns()
    local = matcher(ns, "-m addrtype --dst-type LOCAL")
    assert local(pkt(ns, udp(dst="10.0.0.2")))
    assert local(pkt(ns, udp(dst="172.17.0.1")))
    assert not local(pkt(ns, udp(dst="10.0.0.9")))
    bcast = matcher(ns, "-m addrtype --dst-type BROADCAST")
    assert bcast(pkt(ns, udp(dst="10.0.0.255")))
    assert bcast(pkt(ns, udp(dst="255.255.255.255")))
    assert bcast(pkt(ns, udp(dst="0.1.2.3")))         # zeronet is BROADCAST to the kernel
    assert matcher(ns, "-m addrtype --dst-type MULTICAST")(pkt(ns, udp(dst="224.0.0.5")))
    assert matcher(ns, "-m addrtype --src-type UNICAST")(pkt(ns, udp(src="10.0.0.1")))
    # 172.17.0.1 is docker0's: LOCAL only when the device asked about is docker0
    limited = matcher(ns, "-m addrtype --dst-type LOCAL --limit-iface-in")
    assert not limited(pkt(ns, udp(dst="172.17.0.1"), indev="eth0"))
    assert limited(pkt(ns, udp(dst="172.17.0.1"), indev="docker0"))
    assert matcher(ns, "-m addrtype ! --dst-type LOCAL")(pkt(ns, udp(dst="8.8.8.8")))


def _ct(status=0):
    return types.SimpleNamespace(status=status)


@pytest.mark.parametrize("ct,ctinfo,state", [
    (None, None, "INVALID"), (None, IP_CT_UNTRACKED, "UNTRACKED"), (_ct(), IP_CT_NEW, "NEW"),
    (_ct(), IP_CT_ESTABLISHED, "ESTABLISHED"), (_ct(), IP_CT_ESTABLISHED_REPLY, "ESTABLISHED"),
    (_ct(), IP_CT_RELATED, "RELATED"), (_ct(IPS_DST_NAT), IP_CT_NEW, "DNAT"),
    (_ct(IPS_SRC_NAT), IP_CT_ESTABLISHED_REPLY, "SNAT")])
def test_ctstate_is_computed_as_xt_conntrack_does(ct, ctinfo, state):
    ns = _ns()
    p = pkt(ns, udp())
    p.ct, p.ctinfo = ct, ctinfo
    for name in ("INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED", "SNAT", "DNAT"):
        m = matcher(ns, f"-m conntrack --ctstate {name}")
        want = name == state or (state in ("SNAT", "DNAT") and name == {
            IP_CT_NEW: "NEW", IP_CT_ESTABLISHED_REPLY: "ESTABLISHED"}.get(ctinfo))
        assert m(p) == want, name
        assert matcher(ns, f"-m conntrack ! --ctstate {name}")(p) == (not want)
    if state in ("NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"):
        assert matcher(ns, f"-m state --state {state}")(p)


def test_statistic_random_draws_from_the_seeded_rng_as_the_kernel_compares():
    ns = _ns()
    rule = parse_rule(ns.netfilter, "-m statistic --mode random --probability 0.33333333349")
    prob = rule.matches[0].probability
    assert prob == math.floor(0.33333333349 * 2 ** 31 + 0.5)
    m = rule.matches[0].compile(rule.ip)
    shadow = random.Random()
    shadow.setstate(ns.sim.rng.getstate())
    got = [m(pkt(ns, udp())) for _ in range(200)]
    assert got == [(shadow.getrandbits(32) & 0x7FFFFFFF) < prob for _ in range(200)]
    assert 40 < sum(got) < 95


def test_statistic_nth_matches_every_nth_packet_starting_at_packet():
    ns = _ns()
    m = matcher(ns, "-m statistic --mode nth --every 3 --packet 1")
    assert [m(pkt(ns, udp())) for _ in range(9)] == [False, True, False] * 3
    m0 = matcher(ns, "-m statistic --mode nth --every 2 --packet 0")
    assert [m0(pkt(ns, udp())) for _ in range(4)] == [True, False, True, False]


class FakeSet:
    """An ipset's test double: the (direction, address) pairs it holds."""

    def __init__(self, members):
        self.members = members
        self.asked = []

    def test(self, p, dirs):
        self.asked.append(dirs)
        return all((p.saddr if d == "src" else p.daddr) in self.members for d in dirs)


def test_set_match_asks_the_namespaces_ipset_with_the_directions():
    ns = _ns()
    s = ns.netfilter.ipsets["allowed"] = FakeSet({0x0A000001})
    assert matcher(ns, "-m set --match-set allowed src")(pkt(ns, udp(src="10.0.0.1")))
    assert not matcher(ns, "-m set --match-set allowed src,dst")(pkt(ns, udp(src="10.0.0.1")))
    assert matcher(ns, "-m set ! --match-set allowed dst")(pkt(ns, udp(src="10.0.0.1")))
    assert s.asked == [("src",), ("src", "dst"), ("dst",)]
    del ns.netfilter.ipsets["allowed"]
    with pytest.raises(Exception, match="Set allowed doesn't exist."):
        parse_rule(ns.netfilter, "-m set --match-set allowed src")


def test_physdev_sees_the_bridge_ports_and_a_routed_packet_matches_only_inverted_options():
    ns = _ns()
    p = pkt(ns, udp())
    bridged = matcher(ns, "-m physdev --physdev-is-bridged")
    routed = matcher(ns, "-m physdev ! --physdev-is-bridged")
    assert not bridged(p) and routed(p)
    p.physindev, p.physoutdev = types.SimpleNamespace(name="veth1"), types.SimpleNamespace(name="veth2")
    assert bridged(p) and not routed(p)
    assert matcher(ns, "-m physdev --physdev-in veth+ --physdev-out veth2")(p)
    assert not matcher(ns, "-m physdev --physdev-out veth1")(p)


def test_tcp_flags_ports_multiport_and_icmp():
    ns = _ns()
    syn = pkt(ns, tcp(flags=0x02, dport=8080))
    ack = pkt(ns, tcp(flags=0x10, dport=8080))
    assert matcher(ns, "-p tcp -m tcp --syn")(syn)
    assert not matcher(ns, "-p tcp -m tcp --syn")(ack)
    assert matcher(ns, "-p tcp -m tcp ! --tcp-flags SYN,ACK SYN")(ack)
    assert matcher(ns, "-p tcp -m tcp --dport 8000:8080 ! --sport 1:999")(syn)
    assert matcher(ns, "-p tcp -m multiport --dports 22,8000:9000")(syn)
    assert not matcher(ns, "-p tcp -m multiport ! --ports 22,8080")(syn)
    assert matcher(ns, "-p icmp -m icmp --icmp-type echo-request")(pkt(ns, icmp_echo()))
    assert not matcher(ns, "-p icmp -m icmp --icmp-type 0")(pkt(ns, icmp_echo()))
    assert matcher(ns, "-i eth+ -o docker0 -s 10.0.0.0/24 ! -d 10.0.0.0/24")(pkt(ns, udp(dst="172.17.0.7")))


def test_a_truncated_tcp_header_is_dropped_whatever_the_rule_says():
    ns = _ns()
    Iptables(ns.netfilter).restore("*filter\n-A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n")
    data = tcp()[:30]
    data = data[:2] + len(data).to_bytes(2, "big") + data[4:]
    p = pkt(ns, data)
    assert ns.netfilter.tables["filter"].do_table(p, "FORWARD") == NF_DROP
    assert "filter FORWARD rule 1" in p.why


# -- targets ------------------------------------------------------------------------------
def test_mark_target_variants_compute_as_xt_mark():
    ns = _ns()
    for spec, before, after in (("--set-mark 0x10", 0xFF, 0x10), ("--set-mark 0x1/0xf", 0xFF, 0xF1),
                                ("--and-mark 0xf0", 0xFF, 0xF0), ("--or-mark 0x100", 0x1, 0x101),
                                ("--xor-mark 0x3", 0x5, 0x6), ("--set-xmark 0x4000/0x4000", 0, 0x4000),
                                ("--set-xmark 0x4000/0x0", 0x4000, 0)):
        rule = parse_rule(ns.netfilter, f"-j MARK {spec}")
        p = pkt(ns, udp(), mark=before)
        rule.target.compile(rule.ip)(p)
        assert p.mark == after, spec


def test_notes_name_the_jumps_and_the_rules_that_judged_and_a_drop_names_it_in_why():
    ns = _ns()
    ipt = Iptables(ns.netfilter)
    ipt.restore("*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n"
                "-A FORWARD -p udp -m udp --dport 53 -j MARK --set-xmark 0x1/0xffffffff\n"
                "-A FORWARD -p udp -m mark --mark 0x1 -j LOG --log-prefix \"dns: \"\n"
                "-A FORWARD -p tcp -j DROP\n-A DOCKER-USER -j RETURN\nCOMMIT\n")
    table = ns.netfilter.tables["filter"]
    p = pkt(ns, udp(), notes=[])
    assert table.do_table(p, "FORWARD") == NF_DROP
    assert p.notes == [
        "filter FORWARD rule 1: -A FORWARD -j DOCKER-USER",      # a jump, as TRACE shows it
        "filter FORWARD rule 2: -A FORWARD -p udp -m udp --dport 53 -j MARK --set-xmark 0x1/0xffffffff",
        'filter FORWARD rule 3: -A FORWARD -p udp -m mark --mark 0x1 -j LOG --log-prefix "dns: "',
        "dns: IN=eth0 OUT=docker0 SRC=10.0.0.1 DST=10.0.0.2 LEN=29 TOS=0x00 PREC=0x00 TTL=64 ID=1 "
        "PROTO=UDP SPT=1000 DPT=53 LEN=9 MARK=0x1",
        "filter FORWARD policy DROP"]
    assert p.why == "filter FORWARD policy DROP"
    q = pkt(ns, tcp())
    assert table.do_table(q, "FORWARD") == NF_DROP
    assert q.notes is None
    assert q.why == "filter FORWARD rule 4: -A FORWARD -p tcp -j DROP"
    assert [r.packets for r in table.chains["FORWARD"].rules] == [2, 1, 1, 1]
    assert table.chains["FORWARD"].packets == 1


def test_log_line_is_the_kernels():
    ns = _ns()
    p = pkt(ns, tcp(flags=0x12, seq=5, ack=9), hook=NF_INET_LOCAL_IN, outdev=None)
    assert log_line(p, "x ") == ("x IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 "
                                 "ID=7 DF PROTO=TCP SPT=1000 DPT=80 WINDOW=64240 RES=0x00 ACK SYN URGP=0")
    assert log_line(p, "", 1).endswith("SPT=1000 DPT=80 SEQ=5 ACK=9 WINDOW=64240 RES=0x00 ACK SYN URGP=0")
    e = pkt(ns, icmp_echo())
    assert log_line(e).endswith("PROTO=ICMP TYPE=8 CODE=0 ID=4660 SEQ=1")


def test_reject_sends_the_icmp_code_chosen_and_drops(monkeypatch):
    ns = _ns()
    sent = []
    monkeypatch.setattr(ns.icmp, "send_error", lambda *a: sent.append(a) or True)
    for with_, code in (("icmp-net-unreachable", 0), ("icmp-host-unreachable", 1), ("icmp-proto-unreachable", 2),
                        ("icmp-port-unreachable", 3), ("icmp-net-prohibited", 9), ("icmp-host-prohibited", 10),
                        ("icmp-admin-prohibited", 13)):
        rule = parse_rule(ns.netfilter, f"-j REJECT --reject-with {with_}")
        p = pkt(ns, udp())
        assert rule.target.compile(rule.ip)(p) == NF_DROP
        assert sent[-1] == (p.data, 3, code, 0, p.pid)


def test_reject_with_tcp_reset_builds_the_rst_as_nf_send_reset(monkeypatch):
    ns = _ns()
    sent = []
    monkeypatch.setattr(ns.ipv4, "ip_send", lambda src, dst, proto, seg, pid, **kw: sent.append((src, dst, seg, kw)))
    rule = parse_rule(ns.netfilter, "-p tcp -j REJECT --reject-with tcp-reset")
    reject = rule.target.compile(rule.ip)
    # a SYN (no ACK): RST+ACK, ack = seq + 1 (+ payload)
    assert reject(pkt(ns, tcp(flags=0x02, seq=1000, payload=b"abc"))) == NF_DROP
    src, dst, seg, kw = sent[-1]
    assert (src, dst) == (_b("10.0.0.2"), _b("10.0.0.1"))
    assert kw["ident"] == 0 and kw["df"] is True and kw["tos"] == 0
    t = IP(Ipv4View.emit(src, dst, 6, len(seg), 0, 64, 0, True) + seg)
    assert t[TCP].flags == "RA" and t[TCP].seq == 0 and t[TCP].ack == 1004
    assert (t[TCP].sport, t[TCP].dport, t[TCP].window) == (80, 1000, 0)
    written = t[TCP].chksum
    del t[TCP].chksum
    assert IP(bytes(t))[TCP].chksum == written
    # an ACK: RST with seq = its ack
    reject(pkt(ns, tcp(flags=0x10, seq=1, ack=777)))
    t = TCP(sent[-1][2])
    assert t.flags == "R" and t.seq == 777 and t.ack == 0
    # no RST for a RST, nor for a fragment
    reject(pkt(ns, tcp(flags=0x04)))
    assert len(sent) == 2


def test_nat_targets_build_the_range_and_call_nat(monkeypatch):
    ns = _ns()
    calls = []
    monkeypatch.setattr(nat, "nf_nat_setup_info", lambda p, r, m: calls.append((r, m)) or NF_ACCEPT, raising=False)
    monkeypatch.setattr(nat, "nf_nat_masquerade", lambda p, r: calls.append((r, "masq")) or NF_ACCEPT, raising=False)
    ipt = Iptables(ns.netfilter)
    ipt.restore("*nat\n-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.7:80\n"
                "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE --random-fully\n"
                "-A POSTROUTING -o eth0 -p udp -j SNAT --to-source 10.0.0.2-10.0.0.3:1000-2000 --persistent\nCOMMIT\n")
    t = ns.netfilter.tables["nat"]
    p = pkt(ns, tcp(dport=8080), hook=NF_INET_PRE_ROUTING, outdev=None, notes=[])
    assert t.do_table(p, "PREROUTING") == NF_ACCEPT
    assert calls[-1] == (nat.NatRange(0xAC110007, 0xAC110007, 80, 80, nat.NF_NAT_RANGE_MAP_IPS
                                      | nat.NF_NAT_RANGE_PROTO_SPECIFIED), NF_NAT_MANIP_DST)
    assert p.notes == ["nat PREROUTING rule 1: -A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT "
                       "--to-destination 172.17.0.7:80"]
    t.do_table(pkt(ns, udp(src="172.17.0.7", dst="8.8.8.8"), hook=NF_INET_POST_ROUTING, indev=None,
                   outdev="eth0"), "POSTROUTING")
    assert calls[-1] == (nat.NatRange(None, None, None, None, nat.NF_NAT_RANGE_PROTO_RANDOM_FULLY), "masq")
    t.do_table(pkt(ns, udp(src="10.0.0.9", dst="8.8.8.8"), hook=NF_INET_POST_ROUTING, indev=None,
                   outdev="eth0"), "POSTROUTING")
    assert calls[-1] == (nat.NatRange(0x0A000002, 0x0A000003, 1000, 2000, nat.NF_NAT_RANGE_MAP_IPS
                                      | nat.NF_NAT_RANGE_PROTO_SPECIFIED | nat.NF_NAT_RANGE_PERSISTENT),
                         NF_NAT_MANIP_SRC)


def test_a_target_reached_from_a_hook_it_is_not_valid_at_is_refused_and_nothing_changes():
    ns = _ns()
    ipt = Iptables(ns.netfilter)
    ipt.restore("*nat\n:X - [0:0]\n-A X -p tcp -j DNAT --to-destination 1.2.3.4:80\n-A PREROUTING -j X\nCOMMIT\n")
    before = ipt.save()
    with pytest.raises(Exception) as e:
        ipt.run(["-t", "nat", "-A", "POSTROUTING", "-j", "X"])
    assert e.value.message == ("iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): "
                               "rule in chain POSTROUTING")
    assert e.value.status == 4
    assert ipt.save() == before


def test_listing_registers_no_table():
    ns = _ns()
    Iptables(ns.netfilter).run("-t nat -L -n")
    assert ns.netfilter.tables == {} and not ns.netfilter.active
