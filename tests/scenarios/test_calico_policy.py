"""The calico-policy scenario: Felix's chains let the frontend's connection through and drop
the other pod's SYNs, with the rule, its chain and the policy's chain named."""
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from emunet.control.calico.rules import policy_chain_name
from emunet.observe.show.registry import run_command
from emunet.observe.trace import Trace
from emunet.scenarios.calico_policy import TIMEOUT
from emunet.scenarios.registry import get
from emunet.wire.ethernet import mac_to_str

ALLOW = policy_chain_name("cali-pi-", "default/knp.default.allow-frontend")
DENY = policy_chain_name("cali-pi-", "default/knp.default.default-deny-ingress")


@pytest.fixture(scope="module")
def lab():
    lab = get("calico-policy").build(seed=1)
    lab.trace = Trace()
    lab.sim.observers.append(lab.trace)
    lab.run()
    return lab


def _syn_pid(lab, pod):
    return next(pid for pid in lab.trace.pids()
                if (s := lab.trace.steps(pid)) and s[0].namespace == pod and "connect() to 10.20.1.2:80" in s[0].text)


def test_the_frontend_gets_the_page_and_the_other_pod_times_out(lab):
    text = "\n".join(lab.transcript)
    assert "$ kubectl exec pod-1 -- curl -s http://10.20.1.2/" in text
    assert "<title>Welcome to nginx!</title>" in text
    assert lab.allowed.exit_code == 0 and lab.allowed.status == 200
    assert lab.transcript[-2:] == [f"$ kubectl exec pod-2 -- timeout {TIMEOUT} curl -sS http://10.20.1.2/",
                                   "command terminated with exit code 124"]
    assert lab.blocked.exit_code == 124


def test_the_blocked_syns_are_netfilter_drops_at_the_default_deny(lab):
    iface = lab.pod3.veth_host.name
    drops = lab.capture.drops
    assert [d.reason for d in drops] == ["NETFILTER_DROP"] * 3
    assert {d.where for d in drops} == {"node2/eth0"}
    first = drops[0].time_ns
    # the SYN, then the kernel's retransmissions 1 s and 3 s after it
    assert [round((d.time_ns - first) / 1e9, 3) for d in drops] == [0.0, 1.0, 3.0]
    for d in drops:
        assert d.detail.startswith(f"filter cali-tw-{iface} rule 9: -A cali-tw-{iface} -m comment --comment ")
        assert d.detail.endswith('-m comment --comment "Drop if no policies passed packet" '
                                 '-m mark --mark 0x0/0x20000 -j DROP')


def test_the_traces_name_the_policy_chains_and_the_rule_that_dropped(lab):
    allowed = lab.trace.format(_syn_pid(lab, "pod-1"))
    assert f"netfilter: filter {ALLOW} rule 1: -A {ALLOW} " in allowed
    assert '"Policy default/knp.default.allow-frontend ingress"' in allowed
    assert "-j MARK --set-xmark 0x10000/0x10000" in allowed
    blocked_pid = _syn_pid(lab, "pod-2")
    assert lab.trace.drop_reason(blocked_pid) is not None
    blocked = lab.trace.format(blocked_pid)
    assert "NETFILTER_DROP: filter cali-tw-" in blocked and "Drop if no policies passed packet" in blocked
    # the policy chains it was sent through are named (default-deny's has no rule), and the
    # allow rule did not match: no mark from it
    assert f"-j {DENY}" in blocked and f"-j {ALLOW}" in blocked
    assert f"netfilter: filter {ALLOW} rule 1:" not in blocked


def test_the_blocked_syn_reaches_node2_but_never_pod3(lab):
    pod2_ip = lab.pod2.ip

    def syns(iface):
        pkts = [Ether(r.data) for r in lab.capture.on(iface)]
        return [p for p in pkts if TCP in p and p[IP].src == pod2_ip and p[TCP].flags == "S"]
    assert len(syns("node2/eth0")) == 3
    assert syns(f"node2/{lab.pod3.veth_host.name}") == []
    assert syns("pod-3/eth0") == []


def test_node2_holds_both_policies_and_the_frontend_set_node1_neither(lab):
    save2 = lab.node2.ns.netfilter.iptables_save()
    assert f":{ALLOW} - [0:0]" in save2 and f":{DENY} - [0:0]" in save2
    assert f'-A {DENY} -m comment --comment "' in save2
    save1 = lab.node1.ns.netfilter.iptables_save()
    assert "cali-pi-" not in save1 and "cali-tw-" in save1
    sets2 = run_command(lab, "node2", "ipset list")
    assert sets2.startswith("Name: cali40s:") and sets2.endswith("Members:\n10.20.0.2\n")
    assert "References: 1\n" in sets2
    assert run_command(lab, "node1", "ipset list") == ""


def test_the_tw_chain_counts_one_accepted_syn_and_three_dropped(lab):
    chain = f"cali-tw-{lab.pod3.veth_host.name}"
    listing = lab.node2.ns.netfilter.iptables(["-L", chain, "-n", "-v", "-x"]).splitlines()
    row = {line.split()[2]: int(line.split()[0]) for line in listing[2:]}
    dropped = next(int(line.split()[0]) for line in listing if "Drop if no policies passed packet" in line)
    # pod-1's SYN and pod-2's three meet the allow policy; only pod-2's go on to the
    # default-deny one, and are dropped after it
    assert (row[ALLOW], row[DENY], dropped) == (4, 3, 3)


def test_felix_wrote_ipsets_before_the_rules_that_name_them(lab):
    log = lab.node2.felix.dataplane.log
    kinds = [k for k, _ in log]
    first_set = kinds.index("ipset restore")
    policy_rules = next(i for i, (k, t) in enumerate(log) if k.startswith("iptables") and "cali40s:" in t)
    assert first_set < policy_rules
    text = log[first_set][1]
    assert text.startswith("create cali40s:") and " hash:net family inet maxelem 1048576\n" in text
    assert "add cali4t0 10.20.0.2/32\nswap cali40s:" in text and text.endswith("destroy cali4t0\nCOMMIT\n")


def test_the_pods_macs_are_what_the_capture_shows(lab):
    # the WorkloadEndpoint's MAC (what Felix programs as the permanent neighbour)
    assert mac_to_str(lab.pod3.mac) in run_command(lab, "node2", "ip neigh")
