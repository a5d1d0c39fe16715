"""ipset's model without the kernel: membership against a plain reading of each type, the
``-m set`` test of a packet by direction, the namespace's command and show command, and
the bookkeeping the kernel comparison (tests/kernel/test_kernel_ipset.py) relies on."""
import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP

from emunet.observe.show.registry import run_command
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.stack.netfilter.ipset import IpSets, IpsetError, ipset_command, jhash2
from emunet.stack.netfilter.skb import NfPacket


def _sets() -> IpSets:
    return IpSets(random.Random(7))


def _ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def test_jhash2_is_the_kernels():
    """Pinned values of the arithmetic for 0 to 5 words (the tail switch and one mix
    round); that they are the kernel's is shown by tests/kernel/test_kernel_ipset, whose
    member order is the kernel's bucket order."""
    assert [jhash2(list(range(1, n + 1)), 0x12345678) for n in range(6)] == [
        0xF0E21567, 0x22417FF4, 0xE8C89838, 0xD9D2F6FD, 0x2D001F70, 0x3444DE37]
    assert jhash2([], 0) == 0xDEADBEEF


_ADDRS = st.integers(0, 63).map(lambda i: f"10.0.{i // 16}.{(i % 16) * 16 + 1}")


@settings(max_examples=60)
@given(ops=st.lists(st.tuples(st.booleans(), _ADDRS), max_size=80), probe=_ADDRS)
def test_hash_ip_holds_exactly_what_was_added_and_not_deleted(ops, probe):
    sets = _sets()
    ipset_command(sets, "create s hash:ip hashsize 64")
    want = set()
    for add, a in ops:
        ipset_command(sets, ["add" if add else "del", "s", a, "-exist"])
        (want.add if add else want.discard)(a)
    s = sets["s"]
    assert sorted(s.type.format(e) for e in s.members()) == sorted(want)
    assert s.elements == len(want)
    assert s.contains((_ip(probe),)) == (probe in want)


_NETS = st.tuples(st.integers(0, 255), st.sampled_from([8, 16, 24, 28, 32])).map(
    lambda t: ipaddress.IPv4Network(f"10.{t[0]}.{t[0]}.{t[0]}/{t[1]}", strict=False))


@settings(max_examples=60)
@given(ops=st.lists(st.tuples(st.booleans(), _NETS), max_size=60),
       probe=st.integers(0, 255).map(lambda i: f"10.{i}.{i}.{i}"))
def test_hash_net_matches_an_address_inside_any_of_its_networks(ops, probe):
    sets = _sets()
    ipset_command(sets, "create s hash:net")
    want = set()
    for add, n in ops:
        ipset_command(sets, ["add" if add else "del", "s", str(n), "-exist"])
        (want.add if add else want.discard)(n)
    inside = any(ipaddress.IPv4Address(probe) in n for n in want)
    assert sets["s"].contains((_ip(probe), 32)) == inside
    if inside:
        assert ipset_command(sets, ["test", "s", probe]) == f"Warning: {probe} is in set s."
    else:
        with pytest.raises(IpsetError, match=f"^{probe} is NOT in set s.$"):
            ipset_command(sets, ["test", "s", probe])


def _ns():
    sim = Simulator(seed=3)
    return Namespace(sim, "n1")


def _pkt(ns, layer4, src="10.0.0.1", dst="10.0.0.2"):
    data = bytes(IP(src=src, dst=dst, id=1, ttl=64) / layer4)
    return NfPacket(ns, data)


def test_the_set_match_reads_the_address_and_port_the_directions_name():
    ns = _ns()
    nf = ns.netfilter
    nf.ipset("create ips hash:ip")
    nf.ipset("add ips 10.0.0.1")
    nf.ipset("create nets hash:net")
    nf.ipset("add nets 10.0.0.0/30")
    nf.ipset("create ports hash:ip,port")
    nf.ipset("add ports 10.0.0.2,tcp:80")
    tcp = _pkt(ns, TCP(sport=40000, dport=80, flags="S", seq=1))
    udp = _pkt(ns, UDP(sport=40000, dport=80))
    icmp = _pkt(ns, ICMP(id=1, seq=1))
    sets = nf.ipsets
    assert sets["ips"].test(tcp, ("src",)) and not sets["ips"].test(tcp, ("dst",))
    assert sets["nets"].test(tcp, ("src",)) and sets["nets"].test(tcp, ("dst",))
    assert sets["ports"].test(tcp, ("dst", "dst"))
    assert not sets["ports"].test(tcp, ("dst", "src"))        # port 40000 is not in it
    assert not sets["ports"].test(udp, ("dst", "dst"))        # udp:80 is not tcp:80
    assert not sets["ports"].test(icmp, ("dst", "dst"))
    assert not sets["ports"].test(tcp, ("dst",))              # fewer directions than dimensions


def test_swap_exchanges_contents_and_names_and_destroy_frees_the_slot():
    sets = _sets()
    for line in ("create main hash:ip", "add main 10.0.0.1", "create tmp hash:ip", "add tmp 10.0.0.2",
                 "swap main tmp", "destroy tmp", "create other hash:net"):
        ipset_command(sets, line)
    assert ipset_command(sets, "list -n") == "main\nother\n"
    assert [sets["main"].type.format(e) for e in sets["main"].members()] == ["10.0.0.2"]
    with pytest.raises(IpsetError, match="their type does not match"):
        ipset_command(sets, "swap main other")


def test_what_is_not_modelled_is_refused_naming_it():
    sets = _sets()
    for line, culprit in (("create a hash:ip family inet6", "family inet6"),
                          ("create a hash:ip timeout 30", "timeout"),
                          ("create a bitmap:port range 1-10", "bitmap:port")):
        with pytest.raises(IpsetError, match=culprit):
            ipset_command(sets, line)
    assert len(sets) == 0


def test_the_namespace_runs_ipset_and_the_show_command_lists_it():
    ns = _ns()
    ns.netfilter.ipset(["restore"], stdin="create s hash:net family inet maxelem 1048576 initval 0x1\n"
                                            "add s 10.20.0.2/32\nadd s 10.0.0.0/8\nCOMMIT\n")
    s = ns.netfilter.ipsets["s"]
    want = ("Name: s\nType: hash:net\nRevision: 7\n"
            "Header: family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x00000001\n"
            f"Size in memory: {432 + 24 + 2 * 48}\nReferences: 0\nNumber of entries: 2\nMembers:\n"
            + "".join(s.type.format(e) + "\n" for e in s.members()))
    assert run_command(ns.sim, "n1", "ipset list") == want
    assert run_command(ns.sim, "n1", "ipset save s").startswith(
        "create s hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x00000001\n")
    with pytest.raises(ValueError, match="The set with the given name does not exist"):
        run_command(ns.sim, "n1", "ipset list nosuch")
    with pytest.raises(ValueError, match="unsupported show command"):
        run_command(ns.sim, "n1", "ipset add s 1.2.3.4")


def test_a_random_initval_comes_from_the_simulators_rng():
    a, b = _ns(), _ns()
    a.netfilter.ipset("create s hash:ip")
    b.netfilter.ipset("create s hash:ip")
    assert a.netfilter.ipsets["s"].initval == b.netfilter.ipsets["s"].initval
