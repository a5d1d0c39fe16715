"""kube-proxy's iptables rules, against kube-proxy's own unit tests.

The golden texts are the expected ``iptables-restore`` outputs of
``pkg/proxy/iptables/proxier_test.go`` (the 1.29 cycle): the same Services and
EndpointSlices go in, and our text, put through the same normalisation as kube-proxy's
``sortIPTablesRules`` (tables by name; KUBE-NODEPORTS, KUBE-SERVICES, then the other KUBE-*
chains alphabetically; a chain's rules together, in their order; KUBE-SERVICES and
KUBE-NODEPORTS rules stably sorted by the service named in their comment, the
"must be the last rule" rule last), must come out the same.  ``NewFakeProxier``'s setup is
the ``ProxierConfig`` below: pod CIDR 10.0.0.0/8, node ``test-hostname`` at 192.168.0.2,
mark ``0x4000``, no ``--random-fully`` (the fake iptables has none).
"""
import re
import shlex
import textwrap

import pytest
from hypothesis import given, strategies as st

from emunet.control.kube_proxy import (
    Endpoint, EndpointPort, EndpointSlice, ProxierConfig, Service, ServicePort, categorize_endpoints,
    compute_probability, masquerade_mark, service_port_chain_name, service_port_endpoint_chain_name,
    sync_proxy_rules,
)

FAKE = ProxierConfig(hostname="test-hostname", node_ip="192.168.0.2", cluster_cidr="10.0.0.0/8",
                     masquerade_mark="0x4000", random_fully=False)


# -- kube-proxy's sortIPTablesRules ------------------------------------------------------
def _comment_service(rule: str):
    m = re.search(r'--comment ("[^"]*"|\S+)', rule)
    if m is None:
        return None
    value = m.group(1).strip('"')
    return re.split(r"[ :]", value, maxsplit=1)[0]


def sort_iptables_rules(text: str) -> str:
    tables = {}
    order = []
    for line in text.strip().splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:], {"chains": [], "rules": {}})
            order.append(line[1:])
        elif line.startswith(":"):
            name = line[1:].split()[0]
            current["chains"].append((name, line))
            current["rules"].setdefault(name, [])
        elif line.startswith("-A") or line.startswith("-X"):
            chain = shlex.split(line)[1]
            current["rules"].setdefault(chain, []).append(line)
    out = []

    def chain_key(item):
        name = item[0]
        rank = 0 if name == "KUBE-NODEPORTS" else 1 if name == "KUBE-SERVICES" else \
            2 if name.startswith("KUBE-") else 3
        return rank, name

    for table in sorted(order):
        t = tables[table]
        out.append(f"*{table}")
        chains = sorted(t["chains"], key=chain_key)
        out.extend(line for _, line in chains)
        for name, _ in chains:
            rules = t["rules"].get(name, [])
            if name in ("KUBE-NODEPORTS", "KUBE-SERVICES"):
                def key(rule):
                    if table == "nat" and name == "KUBE-SERVICES" and "must be the last rule" in rule:
                        return (1, "")
                    return (0, _comment_service(rule) or "")
                rules = sorted(rules, key=key)
            out.extend(r for r in rules if not r.startswith("-X"))
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def assert_rules(expected: str, cfg: ProxierConfig, services, slices):
    text, _ = sync_proxy_rules(cfg, services, slices)
    # each golden line stands alone, so the pieces below concatenate whatever their indent
    want = "".join(line.strip() + "\n" for line in expected.strip().splitlines())
    assert sort_iptables_rules(text) == want


def _tcp(name, port, node_port=0, target_port=None):
    return ServicePort(port, name=name, node_port=node_port, target_port=target_port)


def _slice(ns, name, ips, port=80, port_name="p80", nodes=None):
    nodes = nodes or {}
    return EndpointSlice(ns, name, [Endpoint(ip, node_name=nodes.get(ip)) for ip in ips],
                         [EndpointPort(port, port_name)])


# -- chain names and probabilities -------------------------------------------------------
def test_chain_names_are_kube_proxys():
    # proxier_test.go's names for ns1/svc1:p80 and its endpoint 10.180.0.1:80
    assert service_port_chain_name("ns1/svc1:p80", "tcp") == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert service_port_endpoint_chain_name("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert service_port_chain_name("ns2/svc2:p80", "tcp") == "KUBE-SVC-GNZBNJ2PO5MGZ6GT"
    # the scenario's Service: default/web, port http
    assert service_port_chain_name("default/web:http", "tcp") == "KUBE-SVC-CDGGSHYLG3RE2FKL"


def test_probabilities_are_formatted_as_go_formats_them():
    assert [compute_probability(n) for n in (1, 2, 3, 4, 7)] == [
        "1.0000000000", "0.5000000000", "0.3333333333", "0.2500000000", "0.1428571429"]


def test_masquerade_mark_is_gos_percent_hash_08x():
    assert masquerade_mark(14) == "0x00004000"
    assert masquerade_mark(0) == "0x00000001"
    with pytest.raises(ValueError, match="range"):
        masquerade_mark(32)


@given(st.integers(min_value=1, max_value=200))
def test_the_statistic_ladder_spreads_connections_evenly(n):
    # endpoint i is taken when rules 0..i-1 did not match and rule i did
    probs = [float(compute_probability(n - i)) for i in range(n - 1)] + [1.0]
    miss = 1.0
    for p in probs:
        assert abs(miss * p - 1.0 / n) < 1e-8
        miss *= 1 - p


def test_the_ladder_in_the_rules():
    svc = Service("default", "web", "10.96.0.10", [_tcp("http", 80)])
    sl = EndpointSlice("default", "web", [Endpoint(ip) for ip in ("100.96.2.2", "100.96.2.3", "100.96.1.3")],
                       [EndpointPort(80, "http")])
    text, _ = sync_proxy_rules(FAKE, [svc], [sl])
    ladder = [ln for ln in text.splitlines() if ln.startswith("-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment \"default/web:http ->")]
    # the endpoint cache sorts by "ip:port" as a string
    assert [re.search(r"-> (\S+)\"", ln).group(1) for ln in ladder] == ["100.96.1.3:80", "100.96.2.2:80", "100.96.2.3:80"]
    assert [re.search(r"--probability (\S+)", ln).group(1) if "--probability" in ln else None for ln in ladder] \
        == ["0.3333333333", "0.5000000000", None]


# -- proxier_test.go's golden outputs -----------------------------------------------------
OVERALL_SERVICES = [
    Service("ns1", "svc1", "172.30.0.41", [_tcp("p80", 80)]),
    Service("ns2", "svc2", "172.30.0.42", [_tcp("p80", 80, node_port=3001)], type="LoadBalancer",
            external_traffic_policy="Local", load_balancer_ips=["1.2.3.4"], external_ips=["192.168.99.22"],
            health_check_node_port=30000),
    Service("ns3", "svc3", "172.30.0.43", [_tcp("p80", 80, node_port=3003)], type="NodePort"),
    Service("ns4", "svc4", "172.30.0.44", [_tcp("p80", 80, target_port=80)], type="NodePort",
            external_ips=["192.168.99.33"]),
    Service("ns5", "svc5", "172.30.0.45", [_tcp("p80", 80, node_port=3002)], type="LoadBalancer",
            load_balancer_ips=["5.6.7.8"], health_check_node_port=30000,
            load_balancer_source_ranges=[" 203.0.113.0/25"]),
    Service("ns6", "svc6", "172.30.0.46", [_tcp("p80", 80, target_port=80)]),
]
OVERALL_SLICES = [
    _slice("ns1", "svc1", ["10.180.0.1"]),
    _slice("ns2", "svc2", ["10.180.0.2"]),
    _slice("ns3", "svc3", ["10.180.0.3"]),
    _slice("ns4", "svc4", ["10.180.0.4", "10.180.0.5"], nodes={"10.180.0.5": "test-hostname"}),
    _slice("ns5", "svc5", ["10.180.0.3"]),
]

FILTER_COMMON = """\
    -A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
    -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
    -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
    -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
"""
FILTER_CHAINS = """\
    *filter
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-EXTERNAL-SERVICES - [0:0]
    :KUBE-FIREWALL - [0:0]
    :KUBE-FORWARD - [0:0]
    :KUBE-PROXY-FIREWALL - [0:0]
"""
POSTROUTING = """\
    -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
    -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
    -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
    -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
"""


def test_overall_rules_with_multiple_services():
    """TestOverallIPTablesRulesWithMultipleServices: ClusterIP, LoadBalancer with Local
    policy, NodePort, external IPs, a source-ranged LoadBalancer, a service without
    endpoints."""
    assert_rules("""\
    *filter
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-EXTERNAL-SERVICES - [0:0]
    :KUBE-FIREWALL - [0:0]
    :KUBE-FORWARD - [0:0]
    :KUBE-PROXY-FIREWALL - [0:0]
    -A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
    -A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
    -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
    -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
    -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
    -A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
    -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
    -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
    -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    -A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
    COMMIT
    *nat
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
    :KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
    :KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
    :KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
    :KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
    :KUBE-MARK-MASQ - [0:0]
    :KUBE-POSTROUTING - [0:0]
    :KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
    :KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
    :KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
    :KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
    :KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
    :KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
    :KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
    :KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
    :KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
    :KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
    :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
    -A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
    -A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
    -A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
    -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
    -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
    -A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
    -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
    -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
    -A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
    -A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
    -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
    -A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
    -A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
    -A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
    -A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
    -A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
    -A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
    -A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
    -A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
    -A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
    -A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
    -A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
    -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
    -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
    -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
    -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
    -A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
    -A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
    -A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
    -A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
    -A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
    -A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
    -A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
    -A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
    -A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
    -A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
    -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
    -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
    -A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
    -A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
    -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
    COMMIT
    """, FAKE, OVERALL_SERVICES, OVERALL_SLICES)


def test_nodeport():
    """TestNodePort."""
    svc = Service("ns1", "svc1", "172.30.0.41", [_tcp("p80", 80, node_port=3001)], type="NodePort")
    assert_rules(FILTER_CHAINS + FILTER_COMMON + """\
    COMMIT
    *nat
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
    :KUBE-MARK-MASQ - [0:0]
    :KUBE-POSTROUTING - [0:0]
    :KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
    :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
    -A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
    -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ
    -A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O
    """ + POSTROUTING + """\
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
    COMMIT
    """, FAKE, [svc], [_slice("ns1", "svc1", ["10.180.0.1"])])


def test_load_balancer_with_source_ranges():
    """TestLoadBalancer: the firewall chain, the node's own address allowed through."""
    svc = Service("ns1", "svc1", "172.30.0.41", [_tcp("p80", 80, node_port=3001)], type="LoadBalancer",
                  load_balancer_ips=["1.2.3.4", "5.6.7.8"],
                  load_balancer_source_ranges=["192.168.0.0/24", " 203.0.113.0/25"])
    assert_rules(FILTER_CHAINS + FILTER_COMMON + """\
    -A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by KUBE-FW-XPGD46QRK7WJZT7O" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
    -A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by KUBE-FW-XPGD46QRK7WJZT7O" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
    COMMIT
    *nat
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
    :KUBE-FW-XPGD46QRK7WJZT7O - [0:0]
    :KUBE-MARK-MASQ - [0:0]
    :KUBE-POSTROUTING - [0:0]
    :KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
    :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
    -A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-FW-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
    -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ
    -A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O
    -A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 192.168.0.0/24 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 1.2.3.4 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 5.6.7.8 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"
    """ + POSTROUTING + """\
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
    COMMIT
    """, FAKE, [svc], [_slice("ns1", "svc1", ["10.180.0.1"])])


def test_external_traffic_policy_local():
    """TestExternalTrafficPolicyLocal: KUBE-SVL with the local endpoint only, the EXT
    chain's short circuits."""
    svc = Service("ns1", "svc1", "172.30.0.41", [_tcp("p80", 80, node_port=3001)], type="LoadBalancer",
                  health_check_node_port=30000, external_ips=["192.168.99.11"], load_balancer_ips=["1.2.3.4"],
                  external_traffic_policy="Local")
    assert_rules(FILTER_CHAINS + """\
    -A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
    """ + FILTER_COMMON + """\
    COMMIT
    *nat
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
    :KUBE-MARK-MASQ - [0:0]
    :KUBE-POSTROUTING - [0:0]
    :KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
    :KUBE-SEP-ZX7GRIZKSNUQ3LAJ - [0:0]
    :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
    :KUBE-SVL-XPGD46QRK7WJZT7O - [0:0]
    -A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp -d 192.168.99.11 --dport 80 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
    -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-XPGD46QRK7WJZT7O
    -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
    -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O
    -A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O
    """ + POSTROUTING + """\
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
    -A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -s 10.180.2.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.1:80
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-SXIVWICOYRO3J4NJ
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ
    -A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ
    COMMIT
    """, FAKE, [svc], [_slice("ns1", "svc1", ["10.180.0.1", "10.180.2.1"], nodes={"10.180.2.1": "test-hostname"})])


def test_health_check_nodeport_on_localhost_only():
    """TestHealthCheckNodePort: ``--nodeport-addresses 127.0.0.0/8``, a Local LoadBalancer
    without endpoints."""
    svc = Service("ns1", "svc1", "172.30.0.42", [_tcp("p80", 80, node_port=3001)], type="LoadBalancer",
                  health_check_node_port=30000, external_traffic_policy="Local")
    cfg = ProxierConfig(**{**{a.name: getattr(FAKE, a.name) for a in ProxierConfig.__attrs_attrs__},
                           "node_port_ips": ("127.0.0.1",)})
    assert_rules(FILTER_CHAINS + """\
    -A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j REJECT
    -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j REJECT
    """ + FILTER_COMMON + """\
    COMMIT
    *nat
    :KUBE-NODEPORTS - [0:0]
    :KUBE-SERVICES - [0:0]
    :KUBE-MARK-MASQ - [0:0]
    :KUBE-POSTROUTING - [0:0]
    -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 127.0.0.1 -j KUBE-NODEPORTS
    """ + POSTROUTING + """\
    COMMIT
    """, cfg, [svc], [])


@pytest.mark.parametrize("random_fully", [False, True])
def test_masquerade_rule(random_fully):
    """TestMasqueradeRule: ``--random-fully`` when iptables has it."""
    cfg = ProxierConfig(**{**{a.name: getattr(FAKE, a.name) for a in ProxierConfig.__attrs_attrs__},
                           "random_fully": random_fully})
    text, _ = sync_proxy_rules(cfg, [], [])
    rule = ('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE'
            + (" --random-fully" if random_fully else ""))
    assert rule in text.splitlines()


# -- what the generator does beyond the golden cases -------------------------------------
def test_the_restore_text_is_in_kube_proxys_write_order():
    """Unsorted: the filter table first, its top-level chains in kube-proxy's order, the
    nat table's fixed rules before the services', the nodeports rule last in KUBE-SERVICES."""
    svc = Service("default", "web", "10.96.0.10", [_tcp("http", 80)])
    sl = EndpointSlice("default", "web", [Endpoint("100.96.2.2")], [EndpointPort(80, "http")])
    cfg = ProxierConfig("node1", "10.168.0.2", "100.96.0.0/16")
    text, active = sync_proxy_rules(cfg, [svc], [sl])
    sep = service_port_endpoint_chain_name("default/web:http", "tcp", "100.96.2.2:80")
    assert text == textwrap.dedent(f"""\
        *filter
        :KUBE-SERVICES - [0:0]
        :KUBE-EXTERNAL-SERVICES - [0:0]
        :KUBE-FORWARD - [0:0]
        :KUBE-NODEPORTS - [0:0]
        :KUBE-PROXY-FIREWALL - [0:0]
        :KUBE-FIREWALL - [0:0]
        -A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
        -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
        -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT
        -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        COMMIT
        *nat
        :KUBE-SERVICES - [0:0]
        :KUBE-NODEPORTS - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
        :{sep} - [0:0]
        -A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN
        -A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
        -A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
        -A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s 100.96.0.0/16 -j KUBE-MARK-MASQ
        -A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 100.96.2.2:80" -j {sep}
        -A {sep} -m comment --comment default/web:http -s 100.96.2.2 -j KUBE-MARK-MASQ
        -A {sep} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 100.96.2.2:80
        -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
        COMMIT
        """)
    assert active == {"KUBE-SVC-CDGGSHYLG3RE2FKL", sep}


def test_a_partial_sync_leaves_unchanged_services_chains_out():
    services = OVERALL_SERVICES[:2]
    full, active = sync_proxy_rules(FAKE, services, OVERALL_SLICES)
    partial, active2 = sync_proxy_rules(FAKE, services, OVERALL_SLICES, existing_nat_chains=active,
                                        changed={("ns1", "svc1")})
    assert active2 == active
    assert ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]" in partial          # changed: rewritten
    assert "KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]" in full and "KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]" not in partial
    # the KUBE-SERVICES rules are rewritten whole every time, unchanged services' too
    assert "-j KUBE-SVC-GNZBNJ2PO5MGZ6GT" in partial


def test_stale_service_chains_are_flushed_and_deleted():
    text, _ = sync_proxy_rules(FAKE, [], [], existing_nat_chains={"KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-OLD",
                                                                  "DOCKER", "KUBE-SERVICES"})
    lines = text.splitlines()
    assert ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]" in lines and "-X KUBE-SVC-XPGD46QRK7WJZT7O" in lines
    assert "-X KUBE-SEP-OLD" in lines
    assert not any(ln.startswith("-X DOCKER") or ln == "-X KUBE-SERVICES" for ln in lines)


def test_large_cluster_mode_drops_the_per_endpoint_comments():
    svc = Service("default", "web", "10.96.0.10", [_tcp("http", 80)])
    sl = EndpointSlice("default", "web", [Endpoint(f"100.96.{i // 250}.{i % 250 + 2}") for i in range(1001)],
                       [EndpointPort(80, "http")])
    text, _ = sync_proxy_rules(FAKE, [svc], [sl])
    sep_rules = [ln for ln in text.splitlines() if ln.startswith("-A KUBE-SEP-")]
    assert len(sep_rules) == 2002 and not any("--comment" in ln for ln in sep_rules)
    assert '"default/web:http cluster IP"' in text           # the service's own rules keep theirs


def test_terminating_endpoints_are_a_fallback():
    svc = Service("ns1", "svc1", "172.30.0.41", [_tcp("p80", 80)])
    from emunet.control.kube_proxy import endpoint_infos, service_port_infos
    spi = service_port_infos(svc)[0]
    sl = EndpointSlice("ns1", "svc1", [Endpoint("10.0.0.1", ready=False, serving=True, terminating=True),
                                       Endpoint("10.0.0.2", ready=False, serving=False, terminating=True)],
                       [EndpointPort(80, "p80")])
    cluster, local, reachable, has_any = categorize_endpoints(endpoint_infos(spi, [sl], "h"), spi)
    assert [str(e) for e in cluster] == ["10.0.0.1:80"] and has_any and reachable == cluster


def test_headless_and_external_name_services_get_no_rules():
    text, active = sync_proxy_rules(FAKE, [Service("ns", "h", "None", [_tcp("p", 80)]),
                                           Service("ns", "x", "", [_tcp("p", 80)], type="ExternalName")],
                                    [_slice("ns", "h", ["10.0.0.5"], port_name="p")])
    assert not active and "ns/h" not in text


def test_bad_service_values_are_refused_with_the_apiservers_words():
    with pytest.raises(ValueError, match=r'spec.ports.protocol: Unsupported value: \'ICMP\''):
        ServicePort(80, protocol="ICMP")
    with pytest.raises(ValueError, match="spec.ports.nodePort: Invalid value: 70000"):
        ServicePort(80, node_port=70000)
    with pytest.raises(ValueError, match="externalTrafficPolicy"):
        Service("ns", "s", "10.96.0.1", [ServicePort(80)], external_traffic_policy="Nearest")
