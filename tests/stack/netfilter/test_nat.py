"""Conntrack and NAT through chains of routers: whatever DNAT and SNAT rules a flow meets
on its way, every reply (and every ICMP error about it) comes back to the sender as a
reply to what it sent."""
import errno

from hypothesis import given, settings
from hypothesis import strategies as st

from emunet.apps.ping import Ping
from emunet.apps.udp import UdpEchoServer, UdpSender
from emunet.devices.veth import veth_pair
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.wire.ipv4 import ip_to_int


def line(k: int):
    """client — r1 — … — rk — server, on networks 10.0.0.0/24 … 10.k.0.0/24: router i has
    10.(i-1).0.1 on its left, 10.i.0.2 on its right; the client is 10.0.0.10, the server
    10.k.0.10; every router routes each network it is not on toward the side it lies."""
    sim = Simulator(seed=7)
    client = Namespace(sim, "client")
    routers = [Namespace(sim, f"r{i}") for i in range(1, k + 1)]
    server = Namespace(sim, "server")
    chain = [client, *routers, server]
    for j in range(k + 1):
        left, right = chain[j], chain[j + 1]
        a, b = veth_pair(sim, "right" if j else "eth0", "left" if j + 1 <= k else "eth0",
                         mac=f"02:00:00:00:{j:02x}:01", peer_mac=f"02:00:00:00:{j:02x}:02")
        left.add_device(a)
        right.add_device(b)
        a.set_up()
        b.set_up()
        left.addr_add(a, f"10.{j}.0.{2 if j else 10}/24")
        right.addr_add(b, f"10.{j}.0.{1 if j + 1 <= k else 10}/24")
    client.route_add("default", via="10.0.0.1")
    server.route_add("default", via=f"10.{k}.0.2")
    for i, r in enumerate(routers, 1):
        r.set_sysctl("net.ipv4.ip_forward", 1)
        for j in range(k + 1):
            if j < i - 1:
                r.route_add(f"10.{j}.0.0/24", via=f"10.{i - 1}.0.10" if i == 1 else f"10.{i - 1}.0.2")
            elif j > i:
                r.route_add(f"10.{j}.0.0/24", via=f"10.{i}.0.1")
    return sim, client, routers, server


NAT = st.sampled_from(["none", "masquerade", "masquerade --random-fully", "masquerade --to-ports",
                       "snat", "snat --random", "snat ports", "dnat port"])


@settings(max_examples=30, deadline=None)
@given(st.lists(NAT, min_size=1, max_size=3), st.lists(st.integers(1024, 65535), min_size=1, max_size=3,
                                                       unique=True), st.integers(1, 65535))
def test_replies_and_errors_map_back_through_any_chain_of_nat(nats, sports, dport0):
    sim, client, routers, server = line(len(nats))
    k = len(nats)
    dport = dport0
    for i, (r, nat) in enumerate(zip(routers, nats), 1):
        me = f"10.{i}.0.2"
        ipt = r.netfilter.iptables
        if nat.startswith("masquerade"):
            extra = " --to-ports 20000-20099" if nat.endswith("to-ports") else nat[len("masquerade"):]
            ipt(f"-t nat -A POSTROUTING -o right -p udp -j MASQUERADE{extra}")
            ipt("-t nat -A POSTROUTING -o right -j MASQUERADE")
        elif nat.startswith("snat"):
            to = f"{me}:30000-30015" if nat == "snat ports" else me
            ipt(f"-t nat -A POSTROUTING -o right -p udp -j SNAT --to-source {to}"
                + (" --random" if nat.endswith("random") else ""))
            ipt(f"-t nat -A POSTROUTING -o right -j SNAT --to-source {me}")
        elif nat == "dnat port":
            new = (dport * 7 + i) % 64000 + 1024
            ipt(f"-t nat -A PREROUTING -i left -p udp --dport {dport} -j DNAT "
                f"--to-destination 10.{k}.0.10:{new}")
            dport = new
    server.spawn(UdpEchoServer(port=dport))
    senders = []
    for sport in sports:
        senders.append(client.spawn(UdpSender(f"10.{k}.0.10", dport0, b"q%d" % sport, sport=sport)))
    ping = client.spawn(Ping(f"10.{k}.0.10", count=1))
    sim.run(until=1.0)
    for s in senders:
        # a connected socket hears only what comes from the address and port it sent to
        assert s.replies == [(b"q%d" % s.sport, (f"10.{k}.0.10", dport0))], (nats, s.replies, s.errors)
    assert ping.received == 1
    for r in routers:
        assert r.drop_reasons == {}, r.drop_reasons
    # the server's echo leaves; it is not listening on dport0 + 1 unless that is the last DNAT
    if all(n != "dnat port" for n in nats):
        closed = client.spawn(UdpSender(f"10.{k}.0.10", dport0 % 65535 + 1, b"x"))
        sim.run(until=2.0)
        assert [e for e, _ in closed.errors] == [errno.ECONNREFUSED], (nats, closed.errors)


def test_masquerade_keeps_the_port_and_conntrack_lists_the_binding():
    sim, client, (r1,), server = line(1)
    r1.netfilter.iptables("-t nat -A POSTROUTING -o right -j MASQUERADE")
    server.spawn(UdpEchoServer(port=53))
    client.spawn(UdpSender("10.1.0.10", 53, b"hi", sport=40000))
    sim.run(until=1.0)
    lines = r1.netfilter.conntrack_list().splitlines()
    assert lines == [
        "udp      17 29 src=10.0.0.10 dst=10.1.0.10 sport=40000 dport=53 src=10.1.0.10 dst=10.1.0.2 "
        "sport=53 dport=40000 mark=0 use=1",
        "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown."]
    table = r1.netfilter.conntrack
    ct = table.live()[0]
    assert ct.tuplehash[1] == (ip_to_int("10.1.0.10"), ip_to_int("10.1.0.2"), 17, 53, 40000)


def test_a_new_connection_dropped_before_confirm_leaves_no_entry():
    sim, client, (r1,), server = line(1)
    r1.netfilter.iptables("-t nat -A POSTROUTING -o right -j MASQUERADE")
    r1.netfilter.iptables("-A FORWARD -p udp --dport 9 -j DROP")
    client.spawn(UdpSender("10.1.0.10", 9, b"x", sport=40000))
    sim.run(until=1.0)
    assert r1.netfilter.conntrack.live() == []
    assert r1.drop_reasons["NETFILTER_DROP"] == 1


def test_udp_conntrack_timeouts_are_the_kernels():
    """30 s unreplied; replied, 30 s again; a reply seen more than 2 s after the first one
    makes it a stream: 120 s and ASSURED."""
    sim, client, (r1,), server = line(1)
    r1.netfilter.iptables("-t nat -A POSTROUTING -o right -j MASQUERADE")
    server.spawn(UdpEchoServer(port=7))
    client.spawn(UdpSender("10.1.0.10", 7, b"x", sport=40000, count=2, interval=3.0))
    sim.run(until=1.0)
    ct = r1.netfilter.conntrack.live()[0]
    assert "[ASSURED]" not in ct.text(sim.now) and (ct.expires - sim.now) // 10**9 == 29
    sim.run(until=4.0)
    assert "[ASSURED]" in ct.text(sim.now)
    assert (ct.expires - sim.now) // 10**9 == 119
    sim.run(until=200.0)
    assert r1.netfilter.conntrack.live() == []
