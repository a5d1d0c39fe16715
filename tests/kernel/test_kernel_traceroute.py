"""traceroute (Debian's, Dmitry Butskoy's 2.1.2) in real namespaces against emunet's
:class:`~emunet.apps.traceroute.Traceroute` on the same topology: what each prints, with
the round-trip times left out, and every interface's frames compared (compare.py).

The real one runs with its defaults (-N 16: up to sixteen probes out at once).  On veths
the kernel finishes a probe's round trip inside its ``send`` (the receiving softirqs run
when the sender re-enables them), so answers come in between the probes and which probes
are sent at all is decided by the same loop on both sides; the cases below check that this
holds, and they are run three times and under load (two ``yes`` hogs) before they are
trusted (README.md).

The ICMP runs add ``-w 5``: with one socket for every probe, traceroute reads one answer
per ``poll`` and checks the next probe's deadline in between, by default three times the
round trip of an answered probe of its hop (about 3 ms); a loaded machine that keeps it off
the CPU longer makes it give up on probes whose answers are already queued (``* *``).
``-w 5`` alone sets the HERE and NEAR factors to 0: every probe may wait 5 s.  The UDP runs
read every probe's socket in one ``poll`` and keep the defaults.
"""
import re
import shutil
import time

import pytest

from emunet.apps.traceroute import Traceroute

from tests.kernel.cases import DockerModel, Mirror, Nodes, emunet_frames, settle, steady_clock
from tests.kernel.compare import compare, compare_timing
from tests.kernel.harness import Topology

MS = 1_000_000
#: traceroute's destination ports (33434 + the probe's number) lie in the ephemeral range,
#: and compare.py labels every ephemeral port, source or destination, in one table: a
#: probe's random source port equal to another probe's destination port (about one run in
#: thirty with four runs of sixteen probes) would be one label on one side only.  The
#: kernel side reserves them (``ip_local_reserved_ports``, skipped by bind(0)); emunet's
#: ports, from the seeded RNG, are checked to stay clear of them in :func:`_emunet`.
RESERVED = "33434-33533"
_TIME = re.compile(r"  \d+\.\d{3} ms")


@pytest.fixture(autouse=True)
def _traceroute_installed(netns):
    if shutil.which("traceroute") is None:
        pytest.skip("kernel comparison skipped: traceroute is not installed (tests/run.sh "
                    "installs Debian's traceroute package)")


def hops(text: str) -> str:
    """What traceroute printed, with each round-trip time written as ``  T ms``."""
    return _TIME.sub("  T ms", text.rstrip("\n"))


def _kernel(model_sim, ns: str, runs, until: float, name: str):
    """Run each ``(seconds after the start, argv)`` of ``runs`` with the real traceroute in
    namespace ``ns`` of the mirrored model; returns (their stdouts, every interface's frames)."""
    labels = Mirror.labels_of(model_sim)
    with Topology(name) as t:
        k = Mirror(t, model_sim)
        t.sysctl(k.ns[ns], {"net.ipv4.ip_local_reserved_ports": RESERVED})
        sn = k.sniff(labels)
        start = time.monotonic()
        out = []
        for at, argv in runs:
            left = start + at - time.monotonic()
            if left > 0:
                time.sleep(left)
            p = t.exec(k.ns[ns], "traceroute", *argv, check=False)
            assert p.returncode == 0 and not p.stderr, p
            out.append(p.stdout)
        return out, settle(sn, until=until, start=start)


def _probe_ports(cap: dict) -> tuple:
    """The UDP source and destination ports of every datagram the captures hold."""
    sports, dports = set(), set()
    for frames in cap.values():
        for _, data, _ in frames:
            if data[12:14] == b"\x08\x00" and data[23] == 17:
                off = 14 + (data[14] & 0x0F) * 4
                sports.add(int.from_bytes(data[off:off + 2], "big"))
                dports.add(int.from_bytes(data[off + 2:off + 4], "big"))
    return sports, dports


def _emunet(sim, ns, runs, until: float):
    """The same runs with the model's traceroute; returns (what each printed, frames)."""
    procs = []
    for at, argv in runs:
        sim.after(round(at * 1000) * MS,
                  lambda argv=argv: procs.append(ns.spawn(Traceroute.from_argv(argv))))
    sim.run(until=sim.time + until)
    ecap = emunet_frames(sim, Mirror.labels_of(sim))
    sports, dports = _probe_ports(ecap)
    assert not sports & dports, "a probe's source port is another's destination port: see RESERVED"
    assert all(p.exit_code == 0 and not p.stderr for p in procs), [(p.stdout, p.stderr) for p in procs]
    return ["\n".join(p.stdout) for p in procs], ecap


def test_traceroute_udp_and_icmp_across_docker0(netns):
    """c1 → c2 on docker0: ``traceroute -n`` (UDP) and, a second later, ``traceroute -n -I
    -w 5`` (ICMP echo).  UDP: sixteen probes (TTL 1 to 6, ports 33434 to 33449, each from a fresh
    socket and source port, DF clear, 32 data bytes 0x40...), c2 answers the first six with
    port unreachable and rate-limits the rest (a burst of 6 per peer); hop 1 is final.
    ICMP: sixteen echo requests, every one answered (echo replies are not rate-limited)."""
    model = DockerModel()
    runs = [(0.0, ["-n", "172.17.0.8"]), (1.0, ["-n", "-I", "-w", "5", "172.17.0.8"])]
    kout, kcap = _kernel(model.sim, "c1", runs, until=1.5, name="trd")
    eout, ecap = _emunet(model.sim, model.containers["c1"].ns, runs, until=2.0)
    want = "traceroute to 172.17.0.8 (172.17.0.8), 30 hops max, 60 byte packets\n" \
           " 1  172.17.0.8  T ms  T ms  T ms"
    assert [hops(o) for o in kout] == [want, want], kout
    assert [hops(o) for o in eout] == [want, want], eout
    rep = compare("traceroute across docker0", kcap, ecap)
    # ARP (2); 16 UDP probes and 6 port unreachables; 16 echo requests and 16 replies
    assert len(kcap["c1/eth0"]) == 2 + 16 + 6 + 32, rep.text()
    assert rep, rep.text()
    assert {"ip.flags.df", "ip.ttl", "udp.dport", "udp.payload", "icmp.quote.udp.payload",
            "icmp.seq", "icmp.data"} <= rep.fields


def test_traceroute_host_unreachable_after_arp_fails(netns):
    """``traceroute -n 172.17.0.99`` (nobody has it): the sixteen probes queue behind one ARP
    resolution; after three broadcasts 1 s apart c1 answers every queued probe itself with
    host unreachable over lo, and traceroute prints ``172.17.0.7 ... !H`` three times."""
    model = DockerModel()
    runs = [(0.0, ["-n", "172.17.0.99"])]
    kout, kcap = steady_clock(lambda: _kernel(model.sim, "c1", runs, until=3.3, name="trh"))
    eout, ecap = _emunet(model.sim, model.containers["c1"].ns, runs, until=4.0)
    want = "traceroute to 172.17.0.99 (172.17.0.99), 30 hops max, 60 byte packets\n" \
           " 1  172.17.0.7  T ms !H  T ms !H  T ms !H"
    assert hops(kout[0]) == want and hops(eout[0]) == want, (kout, eout)
    rep = compare("traceroute to an absent host", kcap, ecap)
    compare_timing(rep, kcap, ecap, tolerance_ns=250 * MS)
    assert [len(kcap[x]) for x in ("c1/eth0", "c1/lo")] == [3, 16], rep.text()
    assert rep, rep.text()
    assert {"icmp.quote.udp.dport", "icmp.quote.ip.ttl"} <= rep.fields


def test_traceroute_star_for_a_dropped_probe(netns):
    """c2 drops the second probe (``iptables -A INPUT -p udp --dport 33435 -j DROP``, the
    model's rule loaded into the kernel with iptables-restore): its answer never comes, it
    expires after three times the first probe's round trip (``-w 5,3,10``: HERE), and
    traceroute prints ``*`` between the two answers; c2's six port unreachables go to
    probes 1 and 3 to 7."""
    model = DockerModel()
    c2 = model.containers["c2"].ns
    c2.netfilter.iptables("-A INPUT -p udp --dport 33435 -j DROP")
    runs = [(0.0, ["-n", "172.17.0.8"])]
    kout, kcap = _kernel(model.sim, "c1", runs, until=0.5, name="trs")
    eout, ecap = _emunet(model.sim, model.containers["c1"].ns, runs, until=2.0)
    want = "traceroute to 172.17.0.8 (172.17.0.8), 30 hops max, 60 byte packets\n" \
           " 1  172.17.0.8  T ms *  T ms"
    assert hops(kout[0]) == want and hops(eout[0]) == want, (kout, eout)
    rep = compare("traceroute with a dropped probe", kcap, ecap)
    assert len(kcap["c1/eth0"]) == 2 + 16 + 6, rep.text()
    assert rep, rep.text()


def test_traceroute_moves_a_later_unreachable_into_an_expired_probes_place(netns):
    """c2 drops the first probe and rejects every other one with host unreachable
    (``REJECT --reject-with icmp-host-unreachable``): when the first probe expires,
    ``check_expired`` finds the next probe of its hop final with an annotation (``!H``) and
    takes its answer (the "``* !H``: the last hop answered only the later probes" case), and
    so on down the hop: ``172.17.0.8  T ms !H`` three times, the third being TTL 2's."""
    model = DockerModel()
    c2 = model.containers["c2"].ns
    c2.netfilter.iptables("-A INPUT -p udp --dport 33434 -j DROP")
    c2.netfilter.iptables("-A INPUT -p udp -j REJECT --reject-with icmp-host-unreachable")
    runs = [(0.0, ["-n", "172.17.0.8"])]
    kout, kcap = _kernel(model.sim, "c1", runs, until=0.5, name="trx")
    eout, ecap = _emunet(model.sim, model.containers["c1"].ns, runs, until=2.0)
    want = "traceroute to 172.17.0.8 (172.17.0.8), 30 hops max, 60 byte packets\n" \
           " 1  172.17.0.8  T ms !H  T ms !H  T ms !H"
    assert hops(kout[0]) == want and hops(eout[0]) == want, (kout, eout)
    rep = compare("traceroute, * then !H", kcap, ecap)
    assert len(kcap["c1/eth0"]) == 2 + 16 + 6, rep.text()
    assert rep, rep.text()


def test_traceroute_net_unreachable_from_the_docker_host(netns):
    """``traceroute -n 10.1.1.1``: the docker host has no route for it and answers with net
    unreachable: the kernel sends two (ip_error's limit), traceroute prints ``!N !N *``."""
    model = DockerModel()
    runs = [(0.0, ["-n", "10.1.1.1"])]
    kout, kcap = _kernel(model.sim, "c1", runs, until=0.5, name="trn")
    assert hops(kout[0]).endswith(" 1  172.17.0.1  T ms !N  T ms !N *"), kout
    eout, ecap = _emunet(model.sim, model.containers["c1"].ns, runs, until=2.0)
    rep = compare("traceroute to an unrouted address", kcap, ecap)
    assert hops(eout[0]) == hops(kout[0]) and rep, (eout, rep.text())


def test_traceroute_udp_and_icmp_through_flannel_vxlan(netns):
    """pod1 (node1) → pod2 (node2) over flannel.1: three hops, cni0's address on node1,
    flannel.1's on node2 (the address the kernel picks for a time exceeded going back
    through the tunnel), then the pod.  UDP: sixteen probes, TTL 1 and 2 answered with
    time exceeded, six port unreachables from pod2.  ICMP, a second later: each answer
    read by a poll of its own lets one more request out, so 22 echo requests leave in all."""
    m = Nodes([("node1", "10.168.0.2", 24, "100.96.1.0/24"),
               ("node2", "10.168.0.3", 24, "100.96.2.0/24")], pod_mtu=1450)
    m.cable("node1", "node2", (b"\x42\x01\x0a\xa8\x00\x02", b"\x42\x01\x0a\xa8\x00\x03"))
    m.vxlan()
    dst = "100.96.2.2"
    runs = [(0.0, ["-n", dst]), (1.0, ["-n", "-I", "-w", "5", dst])]
    kout, kcap = _kernel(m.sim, "pod1", runs, until=1.5, name="trv")
    eout, ecap = _emunet(m.sim, m.pod["pod1"], runs, until=2.0)
    want = f"traceroute to {dst} ({dst}), 30 hops max, 60 byte packets\n" \
           " 1  100.96.1.1  T ms  T ms  T ms\n" \
           " 2  100.96.2.0  T ms  T ms  T ms\n" \
           f" 3  {dst}  T ms  T ms  T ms"
    assert [hops(o) for o in kout] == [want, want], kout
    assert [hops(o) for o in eout] == [want, want], eout
    rep = compare("traceroute through flannel-vxlan", kcap, ecap)
    # ARP (2); UDP: 16 probes, 3 + 3 time exceeded, 6 port unreachables; ICMP: 22 requests,
    # 3 + 3 time exceeded, 16 echo replies
    assert len(kcap["pod1/eth0"]) == 2 + 16 + 12 + 22 + 22, rep.text()
    assert rep, rep.text()
    assert {"inner.ip.ttl", "inner.icmp.type", "inner.icmp.quote.ip.ttl", "vxlan.vni"} <= rep.fields


def test_traceroute_dont_fragment_refused_locally(netns):
    """``traceroute -n -F 172.17.0.8 2000``: DF (``IP_PMTUDISC_PROBE``) on 2000-byte probes
    over c1's 1500-byte eth0: every ``send`` fails with EMSGSIZE and the socket's error queue
    holds a local error with the MTU, printed ``*  T ms !F-1500``; nothing reaches the wire
    (no ARP either: no packet was ever made)."""
    model = DockerModel()
    runs = [(0.0, ["-n", "-F", "172.17.0.8", "2000"])]
    kout, kcap = _kernel(model.sim, "c1", runs, until=0.3, name="trf")
    eout, ecap = _emunet(model.sim, model.containers["c1"].ns, runs, until=1.0)
    want = "traceroute to 172.17.0.8 (172.17.0.8), 30 hops max, 2000 byte packets\n" \
           " 1  *  T ms !F-1500 *  T ms !F-1500 *  T ms !F-1500"
    assert hops(kout[0]) == want and hops(eout[0]) == want, (kout, eout)
    rep = compare("traceroute -F, refused locally", kcap, ecap)
    assert not any(kcap.values()) and rep, rep.text()


def _pmtu_nodes():
    """flannel-pmtu's misconfiguration on the kernel cases' two nodes: the pods, their veths
    and cni0 at MTU 1500, flannel.1 at 1450."""
    m = Nodes([("node1", "10.168.0.2", 24, "100.96.1.0/24"),
               ("node2", "10.168.0.3", 24, "100.96.2.0/24")], pod_mtu=1500)
    m.cable("node1", "node2", (b"\x42\x01\x0a\xa8\x00\x02", b"\x42\x01\x0a\xa8\x00\x03"))
    m.vxlan()
    return m


def test_traceroute_mtu_discovery_through_a_1450_flannel(netns):
    """``traceroute -n --mtu`` (``-F -N 1``, 65000-byte packets to start with) from a pod at
    MTU 1500 across flannel.1 at 1450: the first ``send`` fails locally (EMSGSIZE, MTU 1500:
    the probe is made again at 1500 bytes and hop 1 notes ``F=1500``), then node1 answers the
    first probe of TTL 2 with fragmentation needed, MTU 1450 (sent again at 1450 bytes,
    ``F=1450``); the other probes go through at 1450."""
    m = _pmtu_nodes()
    dst = "100.96.2.2"
    runs = [(0.0, ["-n", "--mtu", dst])]
    kout, kcap = _kernel(m.sim, "pod1", runs, until=0.5, name="trm")
    eout, ecap = _emunet(m.sim, m.pod["pod1"], runs, until=1.0)
    want = f"traceroute to {dst} ({dst}), 30 hops max, 65000 byte packets\n" \
           " 1  100.96.1.1  T ms F=1500  T ms  T ms\n" \
           " 2  100.96.2.0  T ms F=1450  T ms  T ms\n" \
           f" 3  {dst}  T ms  T ms  T ms"
    assert hops(kout[0]) == want and hops(eout[0]) == want, (kout, eout)
    rep = compare("traceroute --mtu across flannel.1 at 1450", kcap, ecap)
    # ARP (2); 4 probes at 1500 (3 time exceeded, 1 fragmentation needed); 6 at 1450 (3 time
    # exceeded from node2, 3 port unreachables)
    assert len(kcap["pod1/eth0"]) == 2 + 8 + 12, rep.text()
    assert rep, rep.text()
    assert {"ip.flags.df", "icmp.rest", "ip.len"} <= rep.fields


def test_traceroute_dont_fragment_through_a_1450_flannel(netns):
    """``traceroute -n -F 100.96.2.2 1500`` from a pod at MTU 1500 across flannel.1 at 1450:
    TTL 1 meets node1's time exceeded, every later probe its fragmentation needed (never
    rate-limited), hop 2 is ``100.96.1.1 ... !F-1450`` three times."""
    m = _pmtu_nodes()
    dst = "100.96.2.2"
    runs = [(0.0, ["-n", "-F", dst, "1500"])]
    kout, kcap = _kernel(m.sim, "pod1", runs, until=0.5, name="trp")
    want = f"traceroute to {dst} ({dst}), 30 hops max, 1500 byte packets\n" \
           " 1  100.96.1.1  T ms  T ms  T ms\n" \
           " 2  100.96.1.1  T ms !F-1450  T ms !F-1450  T ms !F-1450"
    assert hops(kout[0]) == want, kout
    eout, ecap = _emunet(m.sim, m.pod["pod1"], runs, until=1.0)
    rep = compare("traceroute -F across flannel.1 at 1450", kcap, ecap)
    assert hops(eout[0]) == want and rep, (eout, rep.text())
