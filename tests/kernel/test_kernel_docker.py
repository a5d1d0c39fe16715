"""docker0 with two containers, built in emunet and in real namespaces; same traffic; the
captures of every interface on the path compared frame by frame (see compare.py for the
fields and the short list of normalised ones)."""
import time

from emunet.apps.ping import Ping

from tests.kernel.cases import DockerModel, Mirror, emunet_frames, settle, steady_clock
from tests.kernel.compare import compare, compare_timing
from tests.kernel.harness import Topology

MS = 1_000_000


def test_arp_and_ping_through_docker0(netns):
    """ping -c 1 c1 → c2: ARP request (flooded), reply, echo request and reply across the
    bridge, and c2's unicast ARP probe ~5 s later (its entry for c1 went STALE → DELAY)."""
    model = DockerModel()
    labels = Mirror.labels_of(model.sim)

    def kernel():
        with Topology("ping") as t:
            k = Mirror(t, model.sim)
            sn = k.sniff(labels)
            start = time.monotonic()
            p = t.exec(k.ns["c1"], "ping", "-c", "1", "172.17.0.8")
            assert "1 received" in p.stdout, p.stdout
            return settle(sn, until=5.6, start=start)
    kcap = steady_clock(kernel)
    model.containers["c1"].ns.spawn(Ping("172.17.0.8", count=1))
    model.sim.run(until=7.0)
    ecap = emunet_frames(model.sim, labels)
    rep = compare("docker-bridge ping", kcap, ecap)
    compare_timing(rep, kcap, ecap, tolerance_ns=250 * MS)
    assert len(kcap["c1/eth0"]) == 6, rep.text()   # the traffic happened, probe included
    assert rep, rep.text()
    assert {"arp.tha", "ip.flags.df", "icmp.data", "frame.direction"} <= rep.fields


def test_arp_failure_three_broadcasts_then_host_unreachable_over_lo(netns):
    """ping -c 3 to an address nobody has: the three echo requests queue behind one
    resolution; three broadcast ARP requests 1 s apart (mcast_solicit=3,
    retrans_time=1 s); then the entry is FAILED and c1 answers each queued packet itself
    with ICMP host unreachable (TOS 0xc0, DF clear, the whole datagram quoted), delivered
    over c1's lo, never on eth0."""
    model = DockerModel()
    labels = Mirror.labels_of(model.sim)

    def kernel():
        with Topology("arpf") as t:
            k = Mirror(t, model.sim)
            sn = k.sniff(labels)
            start = time.monotonic()
            p = t.exec(k.ns["c1"], "ping", "-c", "3", "-W", "2", "172.17.0.99", check=False)
            assert p.stdout.count("Destination Host Unreachable") == 3, p.stdout
            return settle(sn, until=3.3, start=start)
    kcap = steady_clock(kernel)
    model.containers["c1"].ns.spawn(Ping("172.17.0.99", count=3, linger=2.0))
    model.sim.run(until=5.0)
    ecap = emunet_frames(model.sim, labels)
    rep = compare("docker-bridge ARP failure", kcap, ecap)
    compare_timing(rep, kcap, ecap, tolerance_ns=250 * MS)
    assert [len(kcap[x]) for x in ("c1/eth0", "c1/lo")] == [3, 3], rep.text()
    assert rep, rep.text()
    assert {"icmp.quote.ip.ttl", "icmp.quote.icmp.data", "ip.tos"} <= rep.fields


def test_udp_echo_and_port_unreachable(netns):
    """c1 → c2: a datagram to a listening echo server (UDP 7) and its echo; then a 13-byte
    and a 1000-byte datagram to a closed port: ICMP port unreachable from c2 quoting the
    datagram, all of it for the small one, cut at an IP total length of 576 for the big one."""
    import socket
    import threading

    from emunet.apps.udp import UdpEchoServer, UdpSender
    from tests.kernel.harness import in_netns

    small, big = b"hello emunet\n", bytes(range(256)) * 3 + bytes(232)
    model = DockerModel()
    labels = Mirror.labels_of(model.sim)
    with Topology("udp") as t:
        k = Mirror(t, model.sim)
        with in_netns(k.ns["c2"]):
            srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind(("0.0.0.0", 7))
        srv.settimeout(5)

        def echo():
            try:
                data, addr = srv.recvfrom(65535)
                srv.sendto(data, addr)
            except OSError:
                pass
        server = threading.Thread(target=echo, daemon=True)
        server.start()
        sn = k.sniff(labels)
        start = time.monotonic()
        try:
            socks = []
            for dport, data in ((7, small), (9999, small), (9999, big)):
                with in_netns(k.ns["c1"]):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.connect(("172.17.0.8", dport))   # a connected socket, as emunet's UdpSender
                s.send(data)
                s.settimeout(2)
                try:
                    got = s.recv(65535)
                    assert dport == 7 and got == data
                except ConnectionRefusedError:
                    assert dport == 9999
                time.sleep(0.2)
            kcap = settle(sn, until=0.8, start=start)
        finally:
            server.join(timeout=5)
            srv.close()
            for s in socks:
                s.close()
    c1, c2 = (model.containers[n].ns for n in ("c1", "c2"))
    c2.spawn(UdpEchoServer(port=7))
    sim = model.sim
    c1.spawn(UdpSender("172.17.0.8", 7, small))
    sim.after(200 * MS, lambda: c1.spawn(UdpSender("172.17.0.8", 9999, small)))
    sim.after(400 * MS, lambda: c1.spawn(UdpSender("172.17.0.8", 9999, big)))
    sim.run(until=2.0)
    ecap = emunet_frames(sim, labels)
    rep = compare("docker-bridge UDP", kcap, ecap)
    assert len(kcap["c1/eth0"]) == 8, rep.text()   # ARP request, reply; 3 datagrams; echo; 2 ICMP
    assert rep, rep.text()
    assert {"icmp.quote.udp.payload", "icmp.quote.ip.quoted_bytes", "udp.checksum"} <= rep.fields
