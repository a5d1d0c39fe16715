"""Docker's iptables rules in emunet and in the kernel: the docker-nat and docker-publish
scenarios built from the model (:class:`~tests.kernel.cases.Mirror`, whose namespaces get
the model's ``iptables-save`` through the real ``iptables-restore``), the same traffic on
both sides, every interface compared frame by frame (the NAT'd addresses and ports, TTLs,
IP IDs, checksums after the rewrite) and ``conntrack -L`` of every namespace compared
entry by entry (:func:`~tests.kernel.compare.compare_conntrack`: sorted, ICMP ids as
labels, timeouts within 2 s).

And the rules themselves: the iptables commands dockerd runs (``DockerHost.iptables_log``)
replayed with the real ``iptables`` give, in ``iptables-save``, the text dockerd's rules
are known by (``tests/control/test_docker_iptables.py``), and the model's own
``iptables-save`` prints the same."""
import re
import time

from emunet.apps.dns import DnsServer, dns_query
from emunet.apps.http import Curl, Nginx
from emunet.scenarios import docker_nat, docker_publish
from emunet.scenarios.docker_nat import DNS_ADDR, DNS_ID, DNS_NAME, DNS_SPORT, OUTSIDE_IP
from emunet.sim import MS, S

from tests.control.test_docker_iptables import EXPECTED_SAVE, save_tables
from tests.kernel.cases import (KernelUdpEcho, Mirror, emunet_frames, kernel_tcp_sysctls, kernel_udp,
                                nginx_responses, settle, start_nginx_standin, steady_clock)
from tests.kernel.compare import compare, compare_conntrack, compare_timing, conntrack_entries
from tests.kernel.harness import Topology, run

ETH_P_ARP = b"\x08\x06"


def _sleep_until(t: float) -> None:
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


def _kernel_state(t, k) -> tuple:
    """``conntrack -L`` in every namespace of the mirror (entries on stdout, the count on
    stderr), and the host's ``iptables-save -c`` (every rule's counters)."""
    return ({name: t.exec(ns, "conntrack", "-L").stdout for name, ns in k.ns.items()},
            save_tables(t.exec(k.ns["host"], "iptables-save", "-c").stdout))


def _emunet_state_at(lab, at_s: float) -> tuple:
    """The same of the model, taken at ``at_s`` virtual seconds (filled in then)."""
    ct, counters = {}, {}

    def take():
        ct.update({name: ns.netfilter.conntrack_list() for name, ns in lab.sim.namespaces.items()})
        counters.update(save_tables(lab.docker.ns.netfilter.iptables_save(counters=True)))
    lab.sim.after(round(at_s * S), take)
    return ct, counters


def _is_arp(data: bytes) -> bool:
    return data[12:14] == ETH_P_ARP


def test_docker_nat_masquerades_ping_and_dns_and_conntrack_brings_the_answers_back(netns):
    """c1 (172.17.0.7) pings outside (10.0.0.1) and sends it a DNS query from port 40000:
    both leave the host's eth0 from 10.0.0.2 (MASQUERADE; the ICMP id and UDP port kept),
    TTL 63, the answers are translated back to c1; the host's ARP for outside, every
    side's unicast probe ~5 s later (**timed**), and conntrack's two entries with their
    reply tuples to 10.0.0.2."""
    lab = docker_nat.build(seed=1)
    labels = Mirror.labels_of(lab.sim)
    query = dns_query(DNS_NAME, DNS_ID)
    answer = DnsServer({DNS_NAME: DNS_ADDR}).answer(query)

    def kernel():
        with Topology("dnat") as t:
            k = Mirror(t, lab.sim)
            dns = KernelUdpEcho(k.ns["outside"], 53, answer=DnsServer({DNS_NAME: DNS_ADDR}).answer)
            try:
                sn = k.sniff(labels)
                start = time.monotonic()
                p = t.exec(k.ns["c1"], "ping", "-c", "1", OUTSIDE_IP)
                assert "1 received" in p.stdout, p.stdout
                _sleep_until(start + 1.0)
                got = kernel_udp(k.ns["c1"], OUTSIDE_IP, 53, query, True, sport=DNS_SPORT,
                                 expect=answer)
                assert got == "reply", got
                _sleep_until(start + 3.0)
                state = _kernel_state(t, k)
                return settle(sn, until=7.0, start=start), state
            finally:
                dns.close()
    kcap, (kct, kcounters) = steady_clock(kernel)

    ect, ecounters = _emunet_state_at(lab, 3.0)
    lab.traffic()
    lab.sim.run(until=7.0)
    ecap = emunet_frames(lab.sim, labels)
    rep = compare("docker-nat", kcap, ecap)
    compare_timing(rep, kcap, ecap, tolerance_ns=250 * MS, select=_is_arp)
    compare_conntrack(rep, kct, ect)
    # the traffic happened: ARP, echo request and reply, query and answer on the uplink
    assert len(kcap["host/eth0"]) >= 6, rep.text()
    assert len(conntrack_entries(kct["host"])) == 2, kct
    assert rep, rep.text()
    assert ecounters == kcounters     # every rule's and policy's packet and byte counters
    assert {"ip.src", "ip.ttl", "udp.sport", "icmp.ident", "conntrack.entry"} <= rep.fields


def test_docker_publish_dnats_a_connection_from_outside_to_nginx_in_c1(netns):
    """outside (10.0.0.1, source port 45000) fetches http://10.0.0.2:8080/: the SYN is
    DNATed to 172.17.0.7:80 at the host's PREROUTING and forwarded into docker0 (TTL 63,
    source 10.0.0.1:45000 kept), c1's answers leave the host from 10.0.0.2:8080; emunet's
    TCP and nginx against the kernel's TCP, a stand-in server sending emunet's bytes, and
    the real curl; the conntrack entry in TIME_WAIT with the DNAT's reply tuple."""
    curl_version = re.match(r"curl (\S+)", run(["curl", "--version"]).stdout).group(1)
    lab = docker_publish.build(seed=1)
    c1, outside = lab.c1.ns, lab.outside
    labels = Mirror.labels_of(lab.sim)
    url = f"http://{docker_nat.HOST_IP}:{docker_publish.HOST_PORT}/"
    with Topology("dpub") as t:
        k = Mirror(t, lab.sim)
        kernel_tcp_sysctls(t, k)

        # emunet first: its nginx's bytes are what the kernel's server will send
        ect, ecounters = _emunet_state_at(lab, 2.0)
        c1.spawn(Nginx())
        curl = []
        lab.sim.after(500 * MS, lambda: curl.append(outside.spawn(
            Curl(url, local_port=docker_publish.CURL_SPORT, version=curl_version))))
        lab.sim.run(until=7.0)
        assert curl[0].exit_code == 0 and curl[0].body, (curl[0].stderr, curl[0].body)
        ecap = emunet_frames(lab.sim, labels)
        responses = nginx_responses(ecap, lab.c1.ip, "c1/eth0")
        assert len(responses) == 1, responses

        start_nginx_standin(t, k.ns["c1"], responses)
        sn = k.sniff(labels)
        start = time.monotonic()
        _sleep_until(start + 0.5)
        out = t.exec(k.ns["outside"], "curl", "-s", "--local-port", str(docker_publish.CURL_SPORT), url,
                     check=False)
        _sleep_until(start + 2.0)
        kct, kcounters = _kernel_state(t, k)
        kcap = settle(sn, until=7.0, start=start)
    assert out.returncode == 0 and "Welcome to nginx!" in out.stdout, out
    rep = compare("docker-publish", kcap, ecap)
    compare_conntrack(rep, kct, ect)
    assert len(kcap["host/eth0"]) >= 12, rep.text()
    assert "TIME_WAIT" in kct["host"], kct
    assert rep, rep.text()
    assert ecounters == kcounters
    assert {"ip.dst", "tcp.dport", "tcp.sport", "ip.ttl", "tcp.options", "conntrack.entry"} <= rep.fields


def test_dockerds_commands_give_the_real_iptables_the_rules_the_model_prints(netns):
    """Every iptables command the model's dockerd ran for the daemon, the default bridge
    and ``-p 8080:80`` on c1, replayed with the real ``iptables`` in an empty namespace:
    its ``iptables-save`` is the expected text, and so is the model's."""
    lab = docker_publish.build(seed=1)
    log = lab.docker.iptables_log
    with Topology("dipt") as t:
        ns = t.netns("host")
        for argv in log:
            t.exec(ns, "iptables", "--wait", *argv)
        real = t.exec(ns, "iptables-save").stdout
    assert save_tables(real) == EXPECTED_SAVE
    assert save_tables(lab.docker.ns.netfilter.iptables_save()) == EXPECTED_SAVE
