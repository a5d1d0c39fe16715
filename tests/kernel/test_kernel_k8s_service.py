"""kube-proxy's Service rules in the kernel: the rules emunet's KubeProxy and flanneld
(``--ip-masq``) wrote, loaded into real namespaces with the real ``iptables-restore`` (the
text is emunet's ``iptables-save``), the same connections on both sides, compared frame by
frame on every interface of the flannel-vxlan nodes.

* pod1 (100.96.1.2, node1) ``curl --local-port 46000 http://10.96.0.10/``: node1's
  PREROUTING DNATs the SYN to the endpoint 100.96.2.2:80 (pod2, on node2), the replies
  come back as from 10.96.0.10:80;
* node1 ``curl --local-port 47000 http://10.96.0.10/``: OUTPUT DNATs it, KUBE-MARK-MASQ
  marks it (its source 10.168.0.2 is outside 100.96.0.0/16), KUBE-POSTROUTING
  masquerades it to flannel.1's 100.96.1.0.  Both sides run kube-proxy as it runs with an
  iptables without ``--random-fully`` (its MASQUERADE keeps the port when it is free):
  with it, each side draws the port from its own RNG;
* ``conntrack -L`` on node1 lists the same two connections (addresses, ports, state,
  flags) on both sides.

The Mirror of ``cases.py`` builds devices, addresses and routes, loads each namespace's
rules (the model's ``iptables-save`` through the real ``iptables-restore``) and sets
``net.bridge.bridge-nf-call-iptables`` as the model has it."""
import re
import time

from emunet.apps.http import Curl, Nginx
from emunet.control.flannel.iptables import ensure_iptables, masq_rules
from emunet.control.kube_proxy import KubeProxy, sync_proxy_rules
from emunet.scenarios.k8s_service import SERVICE, web_slice
from tests.kernel.cases import Mirror, Nodes, emunet_frames, nginx_responses, settle, start_nginx_standin
from tests.kernel.compare import Normaliser, compare, dissect
from tests.kernel.harness import Topology, run

MS = 1_000_000
URL = "http://10.96.0.10/"


def _save_rules(text: str) -> list:
    """An iptables-save text without its comments and counters (what the two sides share)."""
    return [re.sub(r" \[\d+:\d+\]$", " [0:0]", ln) for ln in text.splitlines() if not ln.startswith("#")]


def _conntrack(text: str) -> list:
    """``conntrack -L``'s TCP lines without the timeout (the seconds left depend on the
    clock), sorted; the VXLAN sockets' UDP entries (their source port is a flow hash keyed
    at random per boot) are counted by :func:`_vxlan_flows` instead."""
    return sorted(re.sub(r"^(tcp\s+\d+\s+)\d+ ", r"\1", ln) for ln in text.splitlines()
                  if ln.startswith("tcp"))


def _vxlan_flows(text: str) -> int:
    return sum(1 for ln in text.splitlines() if ln.startswith("udp") and "dport=8472 " in ln)


def _split_flow(cap: dict, port: int):
    """Per interface, (the frames of the TCP flow with ``port``, directly or inside VXLAN;
    the others): the two connections are compared apart, each from its own SYN."""
    keys = ("tcp.sport", "tcp.dport", "inner.tcp.sport", "inner.tcp.dport")
    flow, rest = {}, {}
    for label, frames in cap.items():
        flow[label], rest[label] = [], []
        for f in frames:
            fields = dict(dissect(f[1], Normaliser(raw=True)))
            (flow if port in {fields.get(k) for k in keys} else rest)[label].append(f)
    return flow, rest


def _unrelatable_ack(diff: str) -> bool:
    """On node1/cni0 the capture sees the client's packets after br_netfilter's DNAT (to
    100.96.2.2) and the replies after the reverse NAT (from 10.96.0.10): the comparison
    cannot pair the two directions, so the client's ACK numbers stay raw, random on both
    sides.  Such a difference, and only it, is no difference."""
    return diff.startswith("node1/cni0 ") and re.fullmatch(
        r".*\]: tcp\.ack: kernel \d+, emunet \d+", diff) is not None


def _nodes():
    m = Nodes([("node1", "10.168.0.2", 24, "100.96.1.0/24"),
               ("node2", "10.168.0.3", 24, "100.96.2.0/24")], pod_mtu=1450)
    m.cable("node1", "node2", (b"\x42\x01\x0a\xa8\x00\x02", b"\x42\x01\x0a\xa8\x00\x03"))
    m.vxlan()
    for name in ("node1", "node2"):
        # a node's default route: the ClusterIP must route somewhere for connect() to try
        m.node[name].route_add("default", via="10.168.0.1", dev="eth0")
    return m


def test_kube_proxys_rules_load_in_the_kernel_and_save_as_ours(netns):
    """The restore text of a varied set of Services (proxier_test.go's), the jump rules and
    the canaries, as emunet's KubeProxy writes them: the real iptables-restore takes them,
    and the kernel's iptables-save prints what emunet's prints."""
    from tests.control.test_kube_proxy import OVERALL_SERVICES, OVERALL_SLICES
    m = _nodes()
    node1 = m.node["node1"]
    kp = node1.spawn(KubeProxy("node1", "10.168.0.2", "100.96.0.0/16"))
    for svc in OVERALL_SERVICES:
        kp.on_service_update(svc)
    for sl in OVERALL_SLICES:
        kp.on_endpoint_slice_update(sl)
    m.sim.run(until=m.sim.time + 2.0)
    with Topology("kp") as t:
        ns = t.netns("node1")
        ours = node1.netfilter.iptables_save()
        run(["ip", "netns", "exec", ns, "iptables-restore"], input=ours)
        theirs = t.exec(ns, "iptables-save").stdout
        # the restore text alone, as kube-proxy hands it over, is taken too
        text, _ = sync_proxy_rules(kp.config, OVERALL_SERVICES, OVERALL_SLICES)
        run(["ip", "netns", "exec", ns, "iptables-restore", "--noflush", "--counters"], input=text)
    assert _save_rules(theirs) == _save_rules(ours)


def test_clusterip_dnat_and_a_nodes_masqueraded_connection(netns):
    curl_version = re.match(r"curl (\S+)", run(["curl", "--version"]).stdout).group(1)
    m = _nodes()
    sim = m.sim
    node1, node2 = m.node["node1"], m.node["node2"]
    pod1, pod2 = m.pod["pod1"], m.pod["pod2"]
    # what kube-flannel (--ip-masq) and kube-proxy write on each node
    for node, name, ip, subnet in ((node1, "node1", "10.168.0.2", "100.96.1.0/24"),
                                   (node2, "node2", "10.168.0.3", "100.96.2.0/24")):
        ensure_iptables(node, masq_rules("100.96.0.0/16", subnet), lambda *a: None)
        kp = node.spawn(KubeProxy(name, ip, "100.96.0.0/16", random_fully=False))
        kp.on_service_update(SERVICE)
        kp.on_endpoint_slice_update(web_slice("100.96.2.2"))
    for node in (node1, node2):
        # bridged pod traffic meets iptables on a Kubernetes node (kubeadm's preflight
        # requires it); the Mirror gives the kernel the same
        node.set_sysctl("net.bridge.bridge-nf-call-iptables", 1)
    sim.run(until=sim.time + 0.1)
    labels = Mirror.labels_of(sim, lo=False)
    with Topology("k8s") as t:
        k = Mirror(t, sim)
        rmem = tuple(int(x) for x in t.exec(k.ns["node1"], "sysctl", "-n", "net.ipv4.tcp_rmem").stdout.split())
        rmem_max = int(open("/proc/sys/net/core/rmem_max").read())
        for ns in sim.namespaces.values():
            ns.sysctl["net.ipv4.tcp_rmem"] = rmem
            ns.sysctl["net.core.rmem_max"] = rmem_max

        # emunet first: its nginx's bytes are what the kernel's server sends
        t_start = sim.time
        pod2.spawn(Nginx())
        sim.after(0, lambda: pod1.spawn(Curl(URL, local_port=46000, version=curl_version)))
        sim.after(500 * MS, lambda: node1.spawn(Curl(URL, local_port=47000, version=curl_version)))
        sim.run(until=t_start + 1.5)
        ecap = {label: [f for f in frames if f[0] >= int(t_start * 1e9)]
                for label, frames in emunet_frames(sim, labels).items()}
        e_list = node1.netfilter.conntrack_list()
        responses = nginx_responses(ecap, "100.96.2.2", "pod2/eth0")
        assert len(responses) == 2, responses

        start_nginx_standin(t, k.ns["pod2"], responses)
        sn = k.sniff(labels)
        t0 = time.monotonic()
        out = {}
        for at, who, port in ((0.0, "pod1", 46000), (0.5, "node1", 47000)):
            left = t0 + at - time.monotonic()
            if left > 0:
                time.sleep(left)
            out[who] = t.exec(k.ns[who], "curl", "-s", "--local-port", str(port), URL, check=False)
        kcap = settle(sn, until=1.0, start=t0)
        k_list = t.exec(k.ns["node1"], "conntrack", "-L", check=False).stdout
    assert out["pod1"].returncode == 0 and out["node1"].returncode == 0, out
    # two connections to one server: each is compared from its own SYN (the comparison
    # keys a TCP sender's ISN by its address and port)
    (k_node, k_pod), (e_node, e_pod) = _split_flow(kcap, 47000), _split_flow(ecap, 47000)
    for what, kc, ec in (("pod1 -> ClusterIP", k_pod, e_pod), ("node1 -> ClusterIP", k_node, e_node)):
        rep = compare(f"k8s-service {what}", kc, ec)
        assert len(kc["node1/flannel.1"]) >= 10, rep.text()
        assert not [d for d in rep.diffs if not _unrelatable_ack(d)], rep.text()
        assert {"tcp.options", "tcp.payload", "ip.id.step", "ip.dst"} <= rep.fields
    e_ct, k_ct = _conntrack(e_list), _conntrack(k_list)
    assert e_ct == k_ct
    assert _vxlan_flows(e_list) == _vxlan_flows(k_list)
    assert any("src=100.96.1.2 dst=10.96.0.10 sport=46000 dport=80 src=100.96.2.2 dst=100.96.1.2 "
               "sport=80 dport=46000" in ln for ln in k_ct), k_ct
    assert any("src=10.168.0.2 dst=10.96.0.10 sport=47000 dport=80 src=100.96.2.2 dst=100.96.1.0 "
               "sport=80 dport=47000" in ln for ln in k_ct), k_ct
