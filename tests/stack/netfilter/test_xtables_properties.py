"""``Table.do_table`` against a reference evaluator written plainly here.

A generated rule set (the FORWARD chain and a few user chains; jumps and gotos only
towards later chains, so no loop; matches on addresses, protocols, ports, interfaces
and marks, each maybe inverted; ACCEPT, DROP, RETURN, jumps, gotos and MARK targets) is
loaded with ``iptables-restore``; every generated packet must get the reference's
verdict, final mark and counters.  And whatever is loaded, ``iptables-save`` loaded
again saves the same text."""
import types

from hypothesis import given, strategies as st

from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.stack.netfilter import NfPacket
from emunet.stack.netfilter.hooks import NF_ACCEPT, NF_DROP, NF_INET_FORWARD
from emunet.stack.netfilter.iptables import Iptables
from emunet.wire.ipv4 import Ipv4View
from emunet.wire.udp import UdpView

USER = ("U1", "U2", "U3")
IFACES = ("eth0", "eth1", "veth1", "vethab")
ADDRS = (0x0A000001, 0x0A000102, 0x0A010203, 0xC0A80101, 0xAC110007)


def _ip(n):
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@st.composite
def conditions(draw):
    """A rule's conditions as (text, test(pkt) -> bool) pairs, in iptables-save order."""
    conds = []

    def sometimes():
        # few conditions per rule, so that rules match often enough to exercise the walk
        return draw(st.integers(0, 3)) == 0

    for letter, field in (("s", "saddr"), ("d", "daddr")):
        if sometimes():
            addr = draw(st.sampled_from(ADDRS))
            plen = draw(st.sampled_from((8, 16, 24, 32)))
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            inv = draw(st.booleans())
            conds.append((f"{' !' if inv else ''} -{letter} {_ip(addr & mask)}/{plen}",
                          lambda p, f=field, a=addr & mask, m=mask, i=inv: ((p[f] & m) == a) != i))
    for letter, field in (("i", "indev"), ("o", "outdev")):
        if sometimes():
            name = draw(st.sampled_from(IFACES + ("eth+", "veth+")))
            inv = draw(st.booleans())

            def test(p, f=field, n=name, i=inv):
                hit = p[f].startswith(n[:-1]) if n.endswith("+") else p[f] == n
                return hit != i
            conds.append((f"{' !' if inv else ''} -{letter} {name}", test))
    proto = draw(st.sampled_from((None, None, 6, 17)))
    if proto is not None:
        inv = draw(st.booleans())
        pname = {6: "tcp", 17: "udp"}[proto]
        conds.append((f"{' !' if inv else ''} -p {pname}", lambda p, q=proto, i=inv: (p["proto"] == q) != i))
        if not inv and sometimes():
            lo = draw(st.integers(0, 100))
            hi = draw(st.integers(lo, 110))
            port_inv = draw(st.booleans())
            which = draw(st.sampled_from(("sport", "dport")))
            rng = f"{lo}" if lo == hi else f"{lo}:{hi}"
            conds.append((f" -m {pname}{' !' if port_inv else ''} --{which} {rng}",
                          lambda p, w=which, a=lo, b=hi, i=port_inv: (a <= p[w] <= b) != i))
    if sometimes():
        conds.append((' -m comment --comment "a rule"', lambda p: True))
    if sometimes():
        value = draw(st.integers(0, 7))
        mask = draw(st.sampled_from((0xFFFFFFFF, 0x3, 0x6)))
        inv = draw(st.booleans())
        text = f"0x{value:x}" + (f"/0x{mask:x}" if mask != 0xFFFFFFFF else "")
        conds.append((f" -m mark{' !' if inv else ''} --mark {text}",
                      lambda p, v=value, m=mask, i=inv: ((p["mark"] & m) == v) != i))
    return conds


@st.composite
def rulesets(draw):
    """{chain: [(conditions, target)]}, FORWARD's policy."""
    chains = {}
    order = ("FORWARD",) + USER
    for idx, name in enumerate(order):
        later = order[idx + 1:]
        targets = [("ACCEPT",), ("DROP",), ("RETURN",), ("",), ("MARK",)]
        if later:
            targets += [("-j", c) for c in later] + [("-g", c) for c in later]
        rules = []
        for _ in range(draw(st.integers(0, 5))):
            conds = draw(conditions())
            target = draw(st.sampled_from(targets))
            if target == ("MARK",):
                target = ("MARK", draw(st.integers(0, 7)), draw(st.sampled_from((0xFFFFFFFF, 0x3, 0x0))))
            rules.append((conds, target))
        chains[name] = rules
    return chains, draw(st.sampled_from(("ACCEPT", "DROP")))


def _target_text(target):
    if target[0] in ("ACCEPT", "DROP", "RETURN"):
        return f" -j {target[0]}"
    if target[0] == "":
        return ""
    if target[0] == "MARK":
        return f" -j MARK --set-xmark 0x{target[1]:x}/0x{target[2]:x}"
    return f" {target[0]} {target[1]}"


def _restore_text(chains, policy):
    lines = ["*filter", ":INPUT ACCEPT [0:0]", f":FORWARD {policy} [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [f":{c} - [0:0]" for c in USER]
    for name, rules in chains.items():
        for conds, target in rules:
            lines.append(f"-A {name}" + "".join(t for t, _ in conds) + _target_text(target))
    return "\n".join(lines + ["COMMIT", ""])


def reference(chains, policy, pkt):
    """Walk the rules as the iptables documentation describes: the first matching rule's
    target decides; a jump runs the chain and comes back, a goto does not come back to
    the chain that went; RETURN or the end of a user chain goes back; the end of FORWARD
    (or a RETURN with nowhere to go back to) is its policy."""
    counts = {}

    def run(name):
        for num, (conds, target) in enumerate(chains[name], 1):
            if all(test(pkt) for _, test in conds):
                counts[name, num] = counts.get((name, num), 0) + 1
                kind = target[0]
                if kind in ("ACCEPT", "DROP"):
                    return kind
                if kind == "RETURN":
                    return None
                if kind == "MARK":
                    pkt["mark"] = (pkt["mark"] & ~target[2] & 0xFFFFFFFF) ^ target[1]
                elif kind == "-j":
                    verdict = run(target[1])
                    if verdict is not None:
                        return verdict
                elif kind == "-g":
                    return run(target[1])
        return None

    verdict = run("FORWARD")
    if verdict is None:
        verdict = policy
        counts["policy"] = 1
    return verdict, pkt["mark"], counts


packets = st.fixed_dictionaries({
    "saddr": st.sampled_from(ADDRS), "daddr": st.sampled_from(ADDRS), "proto": st.sampled_from((6, 17)),
    "sport": st.integers(0, 110), "dport": st.integers(0, 110), "indev": st.sampled_from(IFACES),
    "outdev": st.sampled_from(IFACES), "mark": st.integers(0, 7)})


def _nfpacket(ns, p):
    src, dst = p["saddr"].to_bytes(4, "big"), p["daddr"].to_bytes(4, "big")
    if p["proto"] == 17:
        l4 = UdpView.emit(p["sport"], p["dport"], b"x", src, dst)
    else:
        l4 = p["sport"].to_bytes(2, "big") + p["dport"].to_bytes(2, "big") + bytes(8) + b"\x50\x02" + bytes(6)
    data = Ipv4View.emit(src, dst, p["proto"], len(l4), 1) + l4
    return NfPacket(ns, data, hook=NF_INET_FORWARD, indev=types.SimpleNamespace(name=p["indev"]),
                    outdev=types.SimpleNamespace(name=p["outdev"]), mark=p["mark"])


@given(rulesets(), st.lists(packets, min_size=1, max_size=16))
def test_do_table_decides_as_the_reference_does(ruleset, pkts):
    chains, policy = ruleset
    ns = Namespace(Simulator(seed=1), "n")
    Iptables(ns.netfilter).restore(_restore_text(chains, policy))
    table = ns.netfilter.tables["filter"]
    want_packets, want_bytes = {}, {}
    for p in pkts:
        verdict, mark, counts = reference(chains, policy, dict(p))
        nf = _nfpacket(ns, p)
        got = table.do_table(nf, "FORWARD")
        assert got == {"ACCEPT": NF_ACCEPT, "DROP": NF_DROP}[verdict]
        assert nf.mark == mark
        if verdict == "DROP":
            assert nf.why.startswith("filter FORWARD policy DROP" if "policy" in counts else "filter ")
        for k, v in counts.items():
            want_packets[k] = want_packets.get(k, 0) + v
            want_bytes[k] = want_bytes.get(k, 0) + v * len(nf.data)
    for name in chains:
        for num, rule in enumerate(table.chains[name].rules, 1):
            assert (rule.packets, rule.bytes) == (want_packets.get((name, num), 0),
                                                  want_bytes.get((name, num), 0)), (name, num)
    forward = table.chains["FORWARD"]
    assert (forward.packets, forward.bytes) == (want_packets.get("policy", 0), want_bytes.get("policy", 0))


@given(rulesets())
def test_restore_of_save_is_the_identity(ruleset):
    chains, policy = ruleset
    ns = Namespace(Simulator(seed=1), "n")
    ipt = Iptables(ns.netfilter)
    ipt.restore(_restore_text(chains, policy))
    first = ipt.save()
    again = Iptables(Namespace(Simulator(seed=1), "m").netfilter)
    again.restore(first)
    assert again.save() == first
    # and what was loaded is what was written, rule for rule
    body = [line for line in first.splitlines() if line.startswith("-A ")]
    assert body == [line for line in _restore_text(chains, policy).splitlines() if line.startswith("-A ")]
