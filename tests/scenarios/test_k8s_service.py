"""The k8s-service scenario: kube-proxy's rules on the flannel-vxlan nodes, the DNAT'd
connections reaching the endpoints the rules chose, a node's connection masqueraded, and
what ``iptables -t nat -L -n -v`` and ``conntrack -L`` show of them."""
import re
import struct

import pytest

from emunet.apps.http import WELCOME_PAGE
from emunet.control.kube_proxy import service_port_endpoint_chain_name
from emunet.scenarios import k8s_service

SVC_CHAIN = "KUBE-SVC-CDGGSHYLG3RE2FKL"


def _sep(ip: str) -> str:
    return service_port_endpoint_chain_name("default/web:http", "tcp", f"{ip}:80")


def _tcp(data: bytes, offset: int = 14):
    """(src, dst, sport, dport, flags) of an Ethernet/IPv4/TCP frame, else None."""
    if len(data) < offset + 40 or data[offset + 9] != 6:
        return None
    ihl = (data[offset] & 0x0F) * 4
    src, dst = data[offset + 12:offset + 16], data[offset + 16:offset + 20]
    sport, dport = struct.unpack_from("!HH", data, offset + ihl)
    flags = data[offset + ihl + 13]
    return ".".join(map(str, src)), ".".join(map(str, dst)), sport, dport, flags


def _syns(lab, iface: str) -> list:
    out = []
    for r in lab.capture.on(iface):
        t = _tcp(bytes(r.data))
        if t is not None and t[4] & 0x12 == 0x02:
            out.append(t[:4])
    return out


@pytest.fixture(scope="module")
def lab():
    return k8s_service.build(seed=1).run()


@pytest.fixture(scope="module")
def early():
    """The same scenario stopped at 2.5 s: after the two first connections, before the
    Service gets more endpoints (and kube-proxy rewrites its chains, counters reset)."""
    lab = k8s_service.build(seed=1)
    lab.traffic()
    lab.sim.run(until=2.5)
    return lab


def test_every_connection_is_answered(lab):
    page = WELCOME_PAGE.decode().splitlines()
    t = lab.transcript
    i = t.index("$ kubectl exec pod-1 -- curl -s --local-port 46000 http://10.96.0.10/")
    assert t[i + 1:i + 1 + len(page)] == page
    j = t.index("$ curl -s --local-port 47000 http://10.96.0.10/   # on node1")
    assert t[j + 1:j + 1 + len(page)] == page
    assert lab.curl_pod.exit_code == 0 and lab.curl_node.exit_code == 0
    assert [c.exit_code for c in lab.spread] == [0] * 10
    assert t[-1].startswith("10 of 10 answered; requests served per pod: ")


def test_the_pods_connection_is_dnatted_to_the_endpoint(lab):
    # pod-1 asks for the ClusterIP; node1 rewrites the destination before routing it
    assert ("100.96.1.2", "10.96.0.10", 46000, 80) in _syns(lab, "pod-1/eth0")
    assert ("100.96.1.2", "100.96.2.2", 46000, 80) in _syns(lab, "node1/flannel.1")
    assert ("100.96.1.2", "100.96.2.2", 46000, 80) in _syns(lab, "pod-4/eth0")
    # the answer reaches pod-1 as from the ClusterIP
    back = [_tcp(bytes(r.data)) for r in lab.capture.on("pod-1/eth0")]
    assert ("10.96.0.10", "100.96.1.2", 80, 46000, 0x12) in back


def test_the_nodes_connection_is_marked_and_masqueraded(lab):
    syn = [s for s in _syns(lab, "node1/flannel.1") if s[1] == "100.96.2.2" and s[0] == "100.96.1.0"]
    assert len(syn) == 1
    src, dst, sport, dport = syn[0]
    # MASQUERADE --random-fully: flannel.1's address, a port from the seeded RNG
    assert sport != 47000 and 1024 <= sport <= 65535
    ct = lab.node1.ns.netfilter.conntrack_list()
    assert re.search(rf"src=10\.168\.0\.2 dst=10\.96\.0\.10 sport=47000 dport=80 src=100\.96\.2\.2 "
                     rf"dst=100\.96\.1\.0 sport=80 dport={sport} \[ASSURED\]", ct), ct


def test_connections_are_spread_over_the_three_endpoints(lab):
    ct = lab.node1.ns.netfilter.conntrack_list()
    chosen = {}
    for port in range(46001, 46011):
        m = re.search(rf"src=100\.96\.1\.2 dst=10\.96\.0\.10 sport={port} dport=80 src=(\S+) "
                      rf"dst=100\.96\.1\.2 sport=80 dport={port} \[ASSURED\]", ct)
        assert m, (port, ct)
        chosen[port] = m.group(1)
    counts = {ip: list(chosen.values()).count(ip) for ip in ("100.96.1.3", "100.96.2.2", "100.96.2.3")}
    assert all(counts.values()), counts
    # every connection was served by the pod its DNAT named: nginx's counters agree
    served = {ip: n.served for ip, n in lab.web.items()}
    assert served == {"100.96.1.3": counts["100.96.1.3"], "100.96.2.2": counts["100.96.2.2"] + 2,
                      "100.96.2.3": counts["100.96.2.3"]}
    # the connection to pod-2 stays on node1: it never crosses flannel.1
    local = [p for p, ip in chosen.items() if ip == "100.96.1.3"]
    assert not [s for s in _syns(lab, "node1/flannel.1") if s[2] in local]
    assert {s[2] for s in _syns(lab, "pod-2/eth0")} == set(local)


def test_nat_counters_after_the_first_two_connections(early):
    ipt = early.node1.ns.netfilter.iptables
    svc = ipt(f"-t nat -L {SVC_CHAIN} -n -v").splitlines()
    assert re.match(r"\s+1\s+60 KUBE-MARK-MASQ .*!100\.96\.0\.0/16\s+10\.96\.0\.10 .*tcp dpt:80", svc[2]), svc
    assert re.match(rf"\s+2\s+120 {_sep('100.96.2.2')} ", svc[3]), svc
    sep = ipt(f"-t nat -L {_sep('100.96.2.2')} -n -v").splitlines()
    assert re.match(r"\s+2\s+120 DNAT .* tcp to:100\.96\.2\.2:80$", sep[3]), sep
    post = ipt("-t nat -L KUBE-POSTROUTING -n -v").splitlines()
    assert re.match(r"\s+1\s+60 MASQUERADE .*random-fully$", post[4]), post


def test_kube_proxy_rewrote_the_services_chains_on_the_new_endpoints(lab):
    kp = lab.node1.kube_proxy
    last = kp.restores[-1][1]
    ladder = [ln for ln in last.splitlines() if ln.startswith(f"-A {SVC_CHAIN} -m comment --comment \"default/web:http ->")]
    assert ladder == [
        f'-A {SVC_CHAIN} -m comment --comment "default/web:http -> 100.96.1.3:80" -m statistic --mode random '
        f'--probability 0.3333333333 -j {_sep("100.96.1.3")}',
        f'-A {SVC_CHAIN} -m comment --comment "default/web:http -> 100.96.2.2:80" -m statistic --mode random '
        f'--probability 0.5000000000 -j {_sep("100.96.2.2")}',
        f'-A {SVC_CHAIN} -m comment --comment "default/web:http -> 100.96.2.3:80" -j {_sep("100.96.2.3")}',
    ]
    # as iptables-save prints them: the kernel's rounding of 1/3 to 2^-31 steps
    save = lab.node1.ns.netfilter.iptables_save()
    assert "--probability 0.33333333349 -j " + _sep("100.96.1.3") in save
    assert f":{SVC_CHAIN} - [0:0]" in save and "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0" in save


def test_flanneld_ip_masq_rules_follow_kube_proxys(lab):
    save = lab.node1.ns.netfilter.iptables_save().splitlines()
    post = [ln for ln in save if ln.startswith("-A POSTROUTING")]
    assert post == [
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        "-A POSTROUTING -s 100.96.0.0/16 -d 100.96.0.0/16 -j RETURN",
        "-A POSTROUTING -s 100.96.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully",
        "-A POSTROUTING ! -s 100.96.0.0/16 -d 100.96.1.0/24 -j RETURN",
        "-A POSTROUTING ! -s 100.96.0.0/16 -d 100.96.0.0/16 -j MASQUERADE --random-fully",
    ]
    assert "-A FORWARD -s 100.96.0.0/16 -j ACCEPT" in save and "-A FORWARD -d 100.96.0.0/16 -j ACCEPT" in save
    # kube-proxy's canary in each of its three tables
    assert save.count(":KUBE-PROXY-CANARY - [0:0]") == 3
