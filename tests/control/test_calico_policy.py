"""Calico NetworkPolicy as Felix v3.26.4 renders and enforces it.

* Names and hashes against real Felix output: rule hashes, chain names, IP set names of a
  GKE Calico cluster's ``iptables-save``/``ipset list`` (the ``access-nginx`` policies of
  namespace ``alpha``) and a 3.2x node's static chains (IPIP on); the selector strings of
  Calico's own conversion tests.
* The property: a generated NetworkPolicy set, rendered by Felix and loaded into the
  model's iptables and ipsets, lets a packet through exactly when a plain reading of the
  Kubernetes NetworkPolicy semantics allows it (never through what it denies, and not
  denying what it allows), hook by hook as the IPv4 path runs them on the source's and
  the destination's node.
"""
import ipaddress
import types

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP

from emunet.control.calico.dataplane import Endpoint, FilterDataplane, Profile, desired_state
from emunet.control.calico.policy import (IPBlock, LabelSelector, NetworkPolicy, NetworkPolicyPeer,
                                          NetworkPolicyPort, NetworkPolicyRule,
                                          k8s_network_policy_to_calico, policy_from_resource,
                                          rules_from_resource)
from emunet.control.calico.rules import (MARK_ACCEPT, RETURN, Rule, RuleRenderer, mark_set, policy_chain_name,
                                         rule_hashes, set_mark)
from emunet.control.calico.selector import SelectorError, parse
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.stack.netfilter.hooks import (NF_ACCEPT, NF_INET_FORWARD, NF_INET_POST_ROUTING,
                                          NF_INET_PRE_ROUTING)


# -- against real Felix output ----------------------------------------------------------
def test_static_chains_hash_as_a_real_node_shows_them():
    """``iptables -t filter -S`` of a Calico 3.2x node with IPIP (the hashes in its
    comments); the FORWARD, INPUT and OUTPUT hooks and appended rules of every 3.x node."""
    r = RuleRenderer(ipip=True)
    chains = {c.name: c for c in r.static_filter_chains()}
    assert rule_hashes("cali-FORWARD", chains["cali-FORWARD"].rules) == [
        "vjrMJCRpqwy5oRoX", "A_sPAO0mcxbT9mOV", "8ZoYfO5HKXWbB3pk", "jdEuaPBe14V2hutn", "12bc6HljsMKsmfr-",
        "NOSxoaGx8OIstr1z"]
    assert rule_hashes("cali-INPUT", chains["cali-INPUT"].rules) == [
        "PajejrV4aFdkZojI", "_wjq-Yrma8Ly1Svo", "8TZGxLWh_Eiz66wc", "6McIeIDvPdL6PE1T", "YGPbrUms7NId8xVa",
        "2gmY7Bg2i0i84Wk_", "q-Vz2ZT9iGE331LL"]
    assert rule_hashes("cali-OUTPUT", chains["cali-OUTPUT"].rules) == [
        "Mq1_rAdXXH3YkrzW", "69FkRTJDvD5Vu6Vl", "AnEsmO6bDZbQntWW", "9e9Uf3GU5tX--Lxy", "0f3LDz_VKuHFaA2K",
        "OgU2f8BVEAZ_fwkq"]
    assert rule_hashes("cali-wl-to-host", chains["cali-wl-to-host"].rules) == ["Ee9Sbo10IpVujdIY", "nSZbcOoG1xPONxb8"]
    assert [rule_hashes(h, rs) for h, rs in r.inserted_rules().items()] == [
        ["wUHhoiAYhphO9Mso"], ["Cz_u1IQiXIMmKD4c"], ["tVnHkvAo15HuiPy0"]]
    assert rule_hashes("FORWARD*appends*", r.appended_rules()["FORWARD"]) == ["S93hcgKJrXEqnTfs", "mp77cMpurHhyjLrM"]
    dispatch = {c.name: c for c in r.workload_dispatch_chains([])}
    assert rule_hashes("cali-from-wl-dispatch", dispatch["cali-from-wl-dispatch"].rules) == ["zTj6P0TIgYvgz-md"]
    assert rule_hashes("cali-to-wl-dispatch", dispatch["cali-to-wl-dispatch"].rules) == ["7KNphB1nNHw80nIO"]


ACCESS_NGINX = NetworkPolicy("access-nginx", LabelSelector({"run": "nginx"}), namespace="alpha",
                             ingress=[NetworkPolicyRule([NetworkPolicyPeer(
                                 pod_selector=LabelSelector({"run": "access"}))])])
COMPLEX = NetworkPolicy(
    "access-nginx-complex", LabelSelector({"run": "nginx"}), namespace="alpha", policy_types=["Ingress", "Egress"],
    ingress=[NetworkPolicyRule([NetworkPolicyPeer(ip_block=IPBlock("10.63.48.0/22", ["10.63.48.4/32"]))],
                               [NetworkPolicyPort("TCP", 80)])],
    egress=[NetworkPolicyRule([NetworkPolicyPeer(ip_block=IPBlock("10.0.0.0/8"))], [NetworkPolicyPort("TCP", 80)])])


def test_policy_chain_set_and_rule_hashes_are_a_real_clusters():
    """A GKE cluster running Calico 3.x with these two policies (its ``iptables-save``
    and ``ipset list``; that release had no chain comment in policy chains, so the rules
    are hashed without it)."""
    r = RuleRenderer()
    simple = policy_from_resource(k8s_network_policy_to_calico(ACCESS_NGINX))
    assert policy_chain_name("cali-pi-", simple.name) == "cali-pi-_e8MLrhOHDfNlfSa51Ak"
    (set_id, sel), = simple.selectors
    assert str(sel) == ('(projectcalico.org/namespace == "alpha" && '
                        '(projectcalico.org/orchestrator == "k8s" && run == "access"))')
    rules = r.rule_to_iptables(simple.inbound[0])
    assert rules[0].render("X") == ("-A X -m set --match-set cali40s:XZEFRy4u2E2Kz28IwtNm0u8 src "
                                    "--jump MARK --set-mark 0x10000/0x10000")
    assert rule_hashes("cali-pi-_e8MLrhOHDfNlfSa51Ak", rules) == ["sEcu68UJEL6S4gUe", "ylM9819c6tRAOxVz"]
    cx = policy_from_resource(k8s_network_policy_to_calico(COMPLEX))
    assert policy_chain_name("cali-pi-", cx.name) == "cali-pi-_w6rJoXTmbxiadSPZU3_"
    assert rule_hashes("cali-pi-_w6rJoXTmbxiadSPZU3_", r.rule_to_iptables(cx.inbound[0])) == [
        "OeI8Z8LoNxhlHpkK", "vDgXktHVGJU-gOA1", "b2PcWFL4ZdRMP-QC", "NyzjuO985SLGb87x"]
    assert rule_hashes("cali-po-_w6rJoXTmbxiadSPZU3_", r.rule_to_iptables(cx.outbound[0])) == [
        "VlgumrRWE9pluqPq", "wWr9grnbPGIJ1ZF5"]
    tw, _ = r.workload_endpoint_chains("cali92d634f8f03", [simple.name], [], ["kns.alpha", "ksa.alpha.default"])
    assert rule_hashes(tw.name, tw.rules)[:6] == ["FUgB7G5ObIh96acF", "WQJ64LtbzEP_A0C0", "lq8KVGA-L8Gpp_Q1",
                                                  "LFDbDDVQlKjgSqzz", "ODoIaF_IPx3TRmF0", "MVOQxoANBbR11zgK"]
    assert rule_hashes("cali-pri-kns.alpha", [Rule(action=set_mark(MARK_ACCEPT)),
                                              Rule((mark_set(MARK_ACCEPT),), RETURN)]) == [
        "uA4qinQq-yVR88-c", "b_-AMzWw3IyrokcR"]


@pytest.mark.parametrize("sel, want", [
    (LabelSelector(match_expressions=[("toast", "DoesNotExist", ())]),
     "projectcalico.org/orchestrator == 'k8s' && ! has(toast)"),
    (LabelSelector({"label": "value"}), "projectcalico.org/orchestrator == 'k8s' && label == 'value'"),
    (LabelSelector(), "projectcalico.org/orchestrator == 'k8s'"),
    (LabelSelector(match_expressions=[("toast", "In", ("butter", "jam"))]),
     "projectcalico.org/orchestrator == 'k8s' && toast in { 'butter', 'jam' }"),
])
def test_pod_selectors_convert_as_calicos_conversion_tests_expect(sel, want):
    assert sel.to_calico() == want


def test_one_rule_per_protocol_and_peer_in_protocol_order():
    np = NetworkPolicy("test.policy", LabelSelector({"label": "value"}), ingress=[NetworkPolicyRule(
        [NetworkPolicyPeer(pod_selector=LabelSelector({"k": "v"})),
         NetworkPolicyPeer(pod_selector=LabelSelector({"k2": "v2"}))],
        [NetworkPolicyPort("UDP", 90), NetworkPolicyPort("TCP", 80), NetworkPolicyPort("TCP", 81)])])
    res = k8s_network_policy_to_calico(np)
    assert [(r["protocol"], r["source"]["selector"], r["destination"]["ports"]) for r in res["spec"]["ingress"]] == [
        ("TCP", "projectcalico.org/orchestrator == 'k8s' && k == 'v'", ["80:81"]),
        ("TCP", "projectcalico.org/orchestrator == 'k8s' && k2 == 'v2'", ["80:81"]),
        ("UDP", "projectcalico.org/orchestrator == 'k8s' && k == 'v'", [90]),
        ("UDP", "projectcalico.org/orchestrator == 'k8s' && k2 == 'v2'", [90])]
    assert res["metadata"] == {"name": "knp.default.test.policy", "namespace": "default"}
    assert res["spec"]["types"] == ["Ingress"] and res["spec"]["order"] == 1000.0


def test_selectors_print_canonically_and_bad_ones_are_refused():
    assert str(parse("a == 'x' && (b != \"y\" || !has(c)) && d in {'z','a','z'}")) == \
        '(a == "x" && (b != "y" || !has(c)) && d in {"a", "z"})'
    assert str(parse("")) == "all()"
    for bad in ("a = 'x'", "a == 'x", "a &", "(a == 'x'", "a foo 'x'"):
        with pytest.raises(SelectorError):
            parse(bad)


def test_what_is_not_modelled_is_refused_naming_it():
    with pytest.raises(ValueError, match="namespaceSelector"):
        NetworkPolicyPeer(namespace_selector=LabelSelector())
    with pytest.raises(ValueError, match="named port 'http'"):
        NetworkPolicyPort("TCP", "http")
    with pytest.raises(ValueError, match="except 10.1.0.0/24 is not inside"):
        IPBlock("10.0.0.0/16", ["10.1.0.0/24"])
    with pytest.raises(ValueError, match="operator 'Gt'"):
        LabelSelector(match_expressions=[("a", "Gt", ("1",))])


# -- the property ---------------------------------------------------------------------
NODES = ("node1", "node2")
EXTERNAL = "192.168.9.9"          # a client outside the cluster (an ipBlock can name it)
_KEYS, _VALUES = ("app", "role"), ("a", "b")


def _ns_labels(labels: dict) -> tuple:
    return tuple(sorted({**labels, "projectcalico.org/namespace": "default",
                         "projectcalico.org/orchestrator": "k8s",
                         "projectcalico.org/serviceaccount": "default"}.items()))


label_maps = st.dictionaries(st.sampled_from(_KEYS), st.sampled_from(_VALUES), max_size=2)
selectors = st.builds(LabelSelector, label_maps)
cidrs = st.sampled_from(["10.20.0.0/16", "10.20.0.0/24", "10.20.1.0/24", "10.20.0.2/32", "10.20.1.3/32",
                         "192.168.9.0/24", "0.0.0.0/0"])


@st.composite
def ip_blocks(draw):
    cidr = draw(cidrs)
    net = ipaddress.ip_network(cidr)
    inside = [c for c in ("10.20.0.2/32", "10.20.0.0/25", "10.20.1.3/32", "10.20.1.0/24", "192.168.9.9/32")
              if ipaddress.ip_network(c).subnet_of(net) and ipaddress.ip_network(c) != net]
    excepts = draw(st.lists(st.sampled_from(inside), unique=True, max_size=2)) if inside else []
    return IPBlock(cidr, excepts)


peers = st.one_of(st.builds(lambda s: NetworkPolicyPeer(pod_selector=s), selectors),
                  st.builds(lambda b: NetworkPolicyPeer(ip_block=b), ip_blocks()))


@st.composite
def ports(draw):
    proto = draw(st.sampled_from(["TCP", "UDP"]))
    if draw(st.booleans()):
        return NetworkPolicyPort(proto)
    port = draw(st.sampled_from([53, 80, 81, 443]))
    end = draw(st.sampled_from([None, port, port + 1, 1000]))
    return NetworkPolicyPort(proto, port, end)


policy_rules = st.builds(NetworkPolicyRule, st.lists(peers, max_size=2), st.lists(ports(), max_size=2))


@st.composite
def policies(draw, i):
    types = draw(st.sampled_from([(), ("Ingress",), ("Egress",), ("Ingress", "Egress")]))
    return NetworkPolicy(f"p{i}", draw(selectors), ingress=draw(st.lists(policy_rules, max_size=2)),
                         egress=draw(st.lists(policy_rules, max_size=2)) if "Egress" in types or not types else (),
                         policy_types=types)


@st.composite
def clusters(draw):
    pods = []
    for node, block in zip(NODES, ("10.20.0", "10.20.1")):
        for j in range(draw(st.integers(1, 2))):
            pods.append((f"{node}-pod{j}", node, f"{block}.{j + 2}", draw(label_maps)))
    pols = [draw(policies(i)) for i in range(draw(st.integers(1, 3)))]
    return pods, pols


@st.composite
def probes(draw, pods):
    ends = [p[0] for p in pods] + ["external"]
    src = draw(st.sampled_from(ends))
    dst = draw(st.sampled_from([e for e in ends if e != src] or ends))
    proto = draw(st.sampled_from(["TCP", "UDP", "ICMP"]))
    return src, dst, proto, draw(st.sampled_from([53, 80, 81, 82, 443, 1000]))


# the reference: the Kubernetes documentation's reading, nothing of Calico's
def _peer_allows(peer, ip, labels):
    if peer.ip_block is not None:
        addr = ipaddress.ip_address(ip)
        b = peer.ip_block
        return addr in ipaddress.ip_network(b.cidr, strict=False) and \
            not any(addr in ipaddress.ip_network(e, strict=False) for e in b.except_)
    return labels is not None and peer.pod_selector.matches(labels)


def _port_allows(port, proto, dport):
    if port.protocol != proto:
        return False
    if port.port is None:
        return True
    return port.port <= dport <= (port.end_port or port.port)


def _direction_allows(pols, direction, pod_labels, peer_ip, peer_labels, proto, dport):
    """``pod_labels``' pod in ``direction``: isolated iff a policy of that type selects it;
    then allowed iff some rule of some such policy matches the peer and the port."""
    selecting = [p for p in pols if direction in p.policy_types and p.pod_selector.matches(pod_labels)]
    if not selecting:
        return True
    for p in selecting:
        for rule in (p.ingress if direction == "Ingress" else p.egress):
            if rule.peers and not any(_peer_allows(x, peer_ip, peer_labels) for x in rule.peers):
                continue
            if rule.ports and not any(_port_allows(x, proto, dport) for x in rule.ports):
                continue
            return True
    return False


def reference_allows(pods, pols, src, dst, proto, dport) -> bool:
    by = {p[0]: p for p in pods}
    src_ip, src_labels = (by[src][2], by[src][3]) if src in by else (EXTERNAL, None)
    dst_ip, dst_labels = (by[dst][2], by[dst][3]) if dst in by else (EXTERNAL, None)
    if src in by and not _direction_allows(pols, "Egress", src_labels, dst_ip, dst_labels, proto, dport):
        return False
    if dst in by and not _direction_allows(pols, "Ingress", dst_labels, src_ip, src_labels, proto, dport):
        return False
    return True


# the rendered chains, run as the IPv4 path runs them on each node the packet crosses
def _dev(name):
    return types.SimpleNamespace(name=name)


def _program(pods, pols):
    sim = Simulator(seed=1)
    renderer = RuleRenderer()
    endpoints = [Endpoint(name, node, f"cali{name[-6:]:0>11}", ip, _ns_labels(labels),
                          ("kns.default", "ksa.default.default")) for name, node, ip, labels in pods]
    allow = rules_from_resource([{"action": "Allow"}])
    profiles = {"kns.default": Profile("kns.default", allow, allow)}
    felix_policies = [policy_from_resource(k8s_network_policy_to_calico(p)) for p in pols]
    nss = {}
    for node in NODES:
        ns = nss[node] = Namespace(sim, node)
        FilterDataplane(ns).apply(desired_state(node, renderer, endpoints, felix_policies, profiles), renderer)
    return nss, {e.name: e for e in endpoints}


def engine_allows(nss, endpoints, src, dst, proto, dport, sport) -> bool:
    s, d = endpoints.get(src), endpoints.get(dst)
    src_ip = s.ip if s else EXTERNAL
    dst_ip = d.ip if d else EXTERNAL
    l4 = {"TCP": TCP(sport=sport, dport=dport, flags="S", seq=1), "UDP": UDP(sport=sport, dport=dport),
          "ICMP": ICMP(id=sport, seq=1)}[proto]
    data = bytes(IP(src=src_ip, dst=dst_ip, ttl=64, id=1) / l4)
    if s is None or d is None or s.node != d.node:
        hops = []
        if s is not None:
            hops.append((s.node, s.iface, "eth0"))
        if d is not None:
            hops.append((d.node, "eth0", d.iface))
    else:
        hops = [(s.node, s.iface, d.iface)]
    for node, indev, outdev in hops:
        nf = nss[node].netfilter
        pkt = nf.packet(data, 1, _dev(indev))
        for hook, i, o in ((NF_INET_PRE_ROUTING, indev, None), (NF_INET_FORWARD, indev, outdev),
                           (NF_INET_POST_ROUTING, None, outdev)):
            if nf.nf_hook(hook, pkt, i and _dev(i), o and _dev(o)) != NF_ACCEPT:
                return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_generated_network_policy_never_lets_through_what_it_denies(data):
    pods, pols = data.draw(clusters())
    nss, endpoints = _program(pods, pols)
    for n, (src, dst, proto, dport) in enumerate(data.draw(st.lists(probes(pods), min_size=1, max_size=12))):
        want = reference_allows(pods, pols, src, dst, proto, dport)
        got = engine_allows(nss, endpoints, src, dst, proto, dport, 40000 + n)
        event("allowed" if want else "denied")
        assert got == want, (f"{src} -> {dst} {proto}/{dport}: Felix's chains "
                             f"{'allow' if got else 'deny'}, NetworkPolicy {'allows' if want else 'denies'}")


def test_the_reference_and_the_engine_agree_on_a_hand_made_case():
    """default-deny on ``app: web`` plus an allow for ``role: frontend`` on TCP 80."""
    pods = [("node1-pod0", "node1", "10.20.0.2", {"role": "frontend"}), ("node1-pod1", "node1", "10.20.0.3", {}),
            ("node2-pod0", "node2", "10.20.1.2", {"app": "web"})]
    web = LabelSelector({"app": "web"})
    pols = [NetworkPolicy("deny", web, policy_types=["Ingress"]),
            NetworkPolicy("allow", web, ingress=[NetworkPolicyRule(
                [NetworkPolicyPeer(pod_selector=LabelSelector({"role": "frontend"}))],
                [NetworkPolicyPort("TCP", 80)])])]
    nss, eps = _program(pods, pols)
    cases = [("node1-pod0", "node2-pod0", "TCP", 80, True), ("node1-pod1", "node2-pod0", "TCP", 80, False),
             ("node1-pod0", "node2-pod0", "UDP", 80, False), ("node2-pod0", "node1-pod1", "TCP", 80, True),
             ("external", "node2-pod0", "TCP", 80, False), ("node1-pod1", "external", "ICMP", 0, True)]
    for n, (src, dst, proto, port, want) in enumerate(cases):
        assert reference_allows(pods, pols, src, dst, proto, port) == want
        assert engine_allows(nss, eps, src, dst, proto, port, 41000 + n) == want


# -- Felix following the datastore ------------------------------------------------------
def test_felix_programs_a_policy_when_it_arrives_and_removes_it_when_it_goes():
    """A VXLAN cluster (no BGP, so nothing but Felix touches the tables): the policy's
    chains and set appear on the node whose pod it selects and nowhere else, Felix's
    jumps are inserted once, and a deleted policy leaves no chain and no set."""
    from emunet.control.calico import IpPool
    from emunet.topology import CalicoCluster
    sim = Simulator(seed=1)
    c = CalicoCluster(sim, IpPool("10.20.0.0/16", block_size=24, vxlan_mode="Always"), felix_iptables=True)
    c.add_segment("lan0", "192.168.0.0/24")
    n1, n2 = c.add_node("node1", "192.168.0.2"), c.add_node("node2", "192.168.0.3")
    c.add_pod(n1, "client", labels={"role": "frontend"})
    web = c.add_pod(n2, "web", labels={"app": "web"})
    sim.run(until=1)
    before = n2.ns.netfilter.iptables_save()
    assert "cali-pi-" not in before and f":cali-tw-{web.veth_host.name} - [0:0]" in before
    assert n2.ns.netfilter.ipset("list -n") == "cali40all-vxlan-net\n"
    c.add_network_policy(NetworkPolicy("allow", LabelSelector({"app": "web"}), ingress=[NetworkPolicyRule(
        [NetworkPolicyPeer(pod_selector=LabelSelector({"role": "frontend"}))])]))
    sim.run(until=2)
    chain = policy_chain_name("cali-pi-", "default/knp.default.allow")
    during = n2.ns.netfilter.iptables_save()
    assert f":{chain} - [0:0]" in during and during.count("-j cali-FORWARD") == 1
    assert "cali-pi-" not in n1.ns.netfilter.iptables_save()
    sets = n2.ns.netfilter.ipset("list")
    assert "Name: cali40s:" in sets and "Members:\n10.20.0." in sets
    c.delete_network_policy("allow")
    sim.run(until=3)
    after = n2.ns.netfilter.iptables_save()
    assert chain not in after
    assert n2.ns.netfilter.ipset("list -n") == "cali40all-vxlan-net\n"
    program, text = n2.felix.dataplane.log[-2]
    assert program == "iptables-restore --noflush" and f"-X {chain}\n" in text
    assert n2.felix.dataplane.log[-1][0] == "ipset" and n2.felix.dataplane.log[-1][1].startswith("destroy cali40s:")
