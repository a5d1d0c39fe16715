"""The BGP speaker: sessions, routes, reflection, failures and errors, checked on the
virtual clock, in the kernel tables and -- independently of our parser -- with tshark."""
import ipaddress
import json
import struct
import subprocess

import pytest

from emunet.apps.base import Process
from emunet.apps.ping import Ping
from emunet.bench.bgp_scale import CLUSTER_ID, build, run_until_converged
from emunet.control.bird import BgpPeer, Bird, KernelRoute, StaticRoute
from emunet.control.calico import calico_kernel_programming, calico_mesh_peer
from emunet.devices.switch import Nic, Switch
from emunet.devices.tun import Tun
from emunet.sim import MS, S, Simulator
from emunet.stack.namespace import Namespace
from emunet.topology import nic_mac
from emunet.wire import bgp as W
from emunet.observe.capture import Capture
from tests.tshark import CHECKSUM_PREFS, NO_REASSEMBLY, TSHARK, fields, needs_tshark, problems


def _block_host(node) -> str:
    return str(ipaddress.IPv4Network(node.spec.block).network_address + 1)


def _bird_routes(ns) -> list:
    return sorted(r.show() for r in ns.fib.main if r.proto == "bird")


def _write(sim, tmp_path, name):
    path = tmp_path / f"{name}.pcapng"
    Capture.of(sim).write(str(path))
    return path


def _flatten(node, out) -> dict:
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, (dict, list)):
                _flatten(v, out)
            else:
                out.setdefault(k, []).append(v)
    elif isinstance(node, list):
        for v in node:
            _flatten(v, out)
    return out


def _bgp_messages(path, display_filter: str) -> list:
    """tshark's own reading, one dict of field -> values per BGP message (a segment can
    carry several), with the frame's interface and IP source."""
    cmd = [TSHARK, "-r", str(path), *CHECKSUM_PREFS, *NO_REASSEMBLY, "-Y", f"({display_filter}) && !icmp",
           "-T", "json", "--no-duplicate-keys"]
    frames = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout or "[]")
    out = []
    for fr in frames:
        layers = fr["_source"]["layers"]
        bgp = layers["bgp"] if isinstance(layers["bgp"], list) else [layers["bgp"]]
        for msg in bgp:
            iface = layers["frame"]["frame.interface_id_tree"]["frame.interface_name"]
            out.append((iface, layers["ip"]["ip.src"], _flatten(msg, {})))
    return out


@pytest.fixture(scope="module")
def mesh4():
    f = build(4, "mesh", capture=True)
    for node in f.nodes:
        node.ns.addr_add("lo", f"{_block_host(node)}/32")
    assert run_until_converged(f, limit=30)
    return f


def test_full_mesh_tables_sessions_and_reachability(mesh4):
    f = mesh4
    for node in f.nodes:
        want = [f"blackhole {node.spec.block} proto bird"] + [
            f"{o.spec.block} via {o.spec.ip} dev eth0 proto bird" for o in f.nodes if o is not node]
        assert _bird_routes(node.ns) == sorted(want)
        assert set(node.bird.sessions().values()) == {"Established"}
    # Calico's unidirectional mesh: the node with the higher address connects
    n1 = f.nodes[0]
    for p in n1.bird.protocols:
        assert p.conn.direction == "incoming" and p.cf.passive
    pings = [(a, b, a.ns.spawn(Ping(_block_host(b), count=1, linger=1)))
             for a in f.nodes for b in f.nodes if a is not b]
    f.sim.run(until=f.sim.time + 2)
    assert all(p.received == 1 for _, _, p in pings), [(a.spec.name, b.spec.name) for a, b, p in pings if not p.received]


def test_birdc_show_protocols_as_calico_birdcl_prints_it(mesh4):
    b = mesh4.nodes[0].bird
    out = b.birdc("show protocols").splitlines()
    assert out[0] == "BIRD v0.3.3+birdv1.6.8 ready."
    assert out[1] == "name     proto    table    state  since       info"
    assert out[2] == "static1  Static   master   up     12:11:57    "
    since = b.format_time(b.protocol("Mesh_192_168_0_3").last_state_change)
    assert out[6] == f"Mesh_192_168_0_3 BGP      master   up     {since}    Established   "
    t = (mesh4.sim.epoch_ns + b.protocol("Mesh_192_168_0_3").last_state_change) // S
    assert since == "12:11:%02d" % (57 + t - 1_618_229_517)
    detail = b.birdc("show protocols all Mesh_192_168_0_5")
    assert "    Neighbor caps:    refresh enhanced-refresh restart-able llgr-aware AS4 add-path-rx add-path-tx" in detail
    assert "    Session:          internal multihop AS4 add-path-rx add-path-tx" in detail
    route = b.birdc("show route for 10.20.1.9").splitlines()
    assert route[1].startswith("10.20.1.0/24       via 192.168.0.3 on eth0 [Mesh_192_168_0_3 ")
    assert route[1].endswith("] * (100/0) [i]")


@needs_tshark
def test_tshark_reads_the_mesh_updates(mesh4, tmp_path):
    f = mesh4
    path = _write(f.sim, tmp_path, "mesh4")
    assert problems(path) == []
    by_ip = {n.spec.ip: n for n in f.nodes}
    seen = 0
    announced = set()
    for iface, src, m in _bgp_messages(path, "bgp"):
        if iface != f"{by_ip[src].spec.name}/eth0":
            continue  # the receiver's copy of the segment
        seen += 1
        if "bgp.nlri_prefix" in m:
            assert m["bgp.prefix_length"] == ["24"] and m["bgp.nlri_path_id"] == ["2"]  # static1's id (device1, started first, has 1)
            announced.add((src, m["bgp.nlri_prefix"][0], m["bgp.update.path_attribute.next_hop"][0]))
    assert seen == sum(sum(n.bird.msg_tx.values()) for n in f.nodes)
    assert announced == {(n.spec.ip, n.spec.block.split("/")[0], n.spec.ip) for n in f.nodes}
    ttl_tos = fields(path, ["ip.ttl", "ip.dsfield"], ["-Y", "tcp.port == 179 && tcp.flags.syn == 0"])
    assert {tuple(r) for r in ttl_tos} == {("64", "0xc0")}


@pytest.fixture(scope="module")
def rr5():
    f = build(5, "rr", capture=True)
    assert run_until_converged(f, limit=30)
    return f


def test_route_reflectors_tables_and_paths(rr5):
    f = rr5
    for node in f.nodes:
        want = [f"blackhole {node.spec.block} proto bird"] + [
            f"{o.spec.block} via {o.spec.ip} dev eth0 proto bird" for o in f.nodes if o is not node]
        assert _bird_routes(node.ns) == sorted(want)
    assert f.sessions() == 2 * 3 + 1
    client = f.nodes[4].bird
    # each reflector's copy of node3's block: same originator, same cluster list length,
    # so the lower neighbour address (RR node1) wins (RFC 4271 9.1.2.2 g)
    lines = client.birdc("show route for 10.20.2.1").splitlines()[1:]
    assert lines[0].startswith("10.20.2.0/24       via 192.168.0.4 on eth0 [Node_192_168_0_2 ")
    assert " from 192.168.0.2] * (100/0) [i]" in lines[0]
    assert " from 192.168.0.3] (100/0) [i]" in lines[1]
    full = client.birdc("show route all for 10.20.2.1")
    assert "\tBGP.originator_id: 192.168.0.4" in full and f"\tBGP.cluster_list: {CLUSTER_ID}" in full


@needs_tshark
def test_tshark_reads_originator_and_cluster_list(rr5, tmp_path):
    f = rr5
    path = _write(f.sim, tmp_path, "rr5")
    assert problems(path) == []
    blocks = {n.spec.ip: n.spec.block.split("/")[0] for n in f.nodes}
    reflected = set()
    for iface, src, m in _bgp_messages(path, "bgp.update.path_attribute.originator_id"):
        if "bgp.update.path_attribute.originator_id" not in m:
            continue  # another message of the same segment
        assert src in ("192.168.0.2", "192.168.0.3")  # only reflectors set ORIGINATOR_ID
        (prefix,), (nh,), (orig,) = m["bgp.nlri_prefix"], m["bgp.update.path_attribute.next_hop"], \
            m["bgp.update.path_attribute.originator_id"]
        assert m["bgp.path_attribute.cluster_id"] == [CLUSTER_ID]
        assert prefix == blocks[nh] and nh == orig  # next hop kept, originator = the block's node
        reflected.add((src, prefix, nh, orig, CLUSTER_ID))
    # each reflector reflected every client's block, and its peer reflector's block... to clients
    for rr in ("192.168.0.2", "192.168.0.3"):
        got = {(p, nh) for s, p, nh, o, c in reflected if s == rr}
        others = {(blocks[ip], ip) for ip in blocks if ip != rr}
        assert got == others


def test_link_cut_withdraws_after_the_hold_timer_and_reconnect_restores():
    f = build(3, "mesh", capture=True)
    assert run_until_converged(f, limit=30)
    n1, n2, n3 = f.nodes
    f.sim.run(until=100)  # keepalives have been exchanged once (every 60-80 s)
    t_cut = f.sim.now
    f.switch.disconnect(n3.eth0)
    expiry = {}
    for node in (n1, n2):
        p = node.bird.protocol("Mesh_192_168_0_4")
        t = p.conn.hold_timer.expires * S - node.bird.phase
        assert 100 * S < t - t_cut <= 240 * S
        expiry[node.spec.name] = t
    for node in (n1, n2):
        t = expiry[node.spec.name]
        f.sim.run(until=(t - 1) / S)
        assert "10.20.2.0/24 via 192.168.0.4 dev eth0 proto bird" in _bird_routes(node.ns)
        f.sim.run(until=(t + 1 * MS) / S)
        assert all("10.20.2.0/24" not in r for r in _bird_routes(node.ns))
        p = node.bird.protocol("Mesh_192_168_0_4")
        assert "BGP Error: Hold timer expired" in p.status()
    # the isolated node gave up on both peers as well
    f.sim.run(until=f.sim.time + 240)
    assert _bird_routes(n3.ns) == ["blackhole 10.20.2.0/24 proto bird"]
    t_back = f.sim.now
    f.switch.connect(n3.eth0)
    assert run_until_converged(f, limit=f.sim.time + 60)
    assert "10.20.2.0/24 via 192.168.0.4 dev eth0 proto bird" in _bird_routes(n1.ns)
    assert n1.bird.last_kernel_change > t_back
    # error wait (5-30 s after the hold-timer error) + connect delay: back within a minute
    assert f.sim.now - t_back < 60 * S


@needs_tshark
def test_hold_timer_expired_notification_on_the_wire(tmp_path):
    f = build(2, "mesh", capture=True)
    assert run_until_converged(f, limit=30)
    f.switch.disconnect(f.nodes[1].eth0)
    f.sim.run(until=f.sim.time + 300)
    path = _write(f.sim, tmp_path, "hold")
    rows = fields(path, ["frame.interface_name", "icmp.type", "icmp.code", "bgp.notify.major_error",
                         "bgp.notify.minor_error_expired"], ["-Y", "bgp.type == 3", *NO_REASSEMBLY])
    # each side sends "Hold timer expired", but its neighbour entry for the cut peer has
    # failed: the kernel answers its own NOTIFICATION with host unreachable over lo, and
    # that quote is where tcpdump (and tshark) see it
    assert ["node1/lo", "3", "1", "4", "0"] in rows and ["node2/lo", "3", "1", "4", "0"] in rows
    assert problems(path) == []


def test_admin_shutdown_sends_cease_and_peers_withdraw_at_once():
    f = build(3, "mesh", capture=True)
    assert run_until_converged(f, limit=30)
    t = f.sim.now
    f.nodes[2].bird.stop()
    f.sim.run(until=f.sim.time + 0.01)
    for node in f.nodes[:2]:
        assert all("10.20.2.0/24" not in r for r in _bird_routes(node.ns))
        assert node.bird.protocol("Mesh_192_168_0_4").status().endswith("Received: Administrative shutdown")
        assert node.bird.last_kernel_change - t < 10 * MS
    # persist (Calico's kernel protocol): the stopped bird's own routes stay
    assert "10.20.0.0/24 via 192.168.0.2 dev eth0 proto bird" in _bird_routes(f.nodes[2].ns)


def test_killed_bird_graceful_restart_keeps_routes_stale_then_flushes():
    f = build(2, "mesh", capture=False)
    assert run_until_converged(f, limit=30)
    n1, n2 = f.nodes
    n2.bird.kill()  # the kernel closes its sockets: FIN, no NOTIFICATION
    f.sim.run(until=f.sim.time + 1)
    p = n1.bird.protocol("Mesh_192_168_0_3")
    assert p.gr_active and p.proto_state == "start"
    assert "(100s/0)" in n1.bird.birdc("show route for 10.20.1.1")
    assert "10.20.1.0/24 via 192.168.0.3 dev eth0 proto bird" in _bird_routes(n1.ns)
    t = p.gr_timer.expires * S - n1.bird.phase
    assert 89 * S <= t - f.sim.now <= 120 * S  # the peer's restart time, 120 s less jitter
    f.sim.run(until=t / S + 0.001)
    assert _bird_routes(n1.ns) == ["blackhole 10.20.0.0/24 proto bird"]


# -- two generic speakers and a scripted peer ---------------------------------------------------------
def _pair(sim, latency_ns=1000, peers1=None, peers2=None):
    sw = Switch(sim, "lan0", latency_ns=latency_ns)
    out = []
    for i, (ip, asn, peer, peer_as) in enumerate([("10.0.0.1", 64512, "10.0.0.2", 64513),
                                                  ("10.0.0.2", 64513, "10.0.0.1", 64512)]):
        ns = Namespace(sim, f"r{i + 1}")
        nic = Nic(sim, "eth0", nic_mac(ip))
        ns.add_device(nic)
        sw.connect(nic)
        nic.set_up()
        ns.addr_add(nic, f"{ip}/24")
        out.append(ns)
    return sw, out


def test_collision_keeps_the_connection_of_the_higher_router_id(tmp_path):
    sim = Simulator(seed=3)
    Capture.attach(sim)
    # 250 ms per cable: both SYNs are on their way before either OPEN can arrive
    sw, (r1, r2) = _pair(sim, latency_ns=250 * MS)
    b1 = r1.spawn(Bird("10.0.0.1", 64512, peers=[BgpPeer("10.0.0.2", 64513, name="r2")],
                       export="all", kernel_export="all", direct=("eth0",)))
    b2 = r2.spawn(Bird("10.0.0.2", 64513, peers=[BgpPeer("10.0.0.1", 64512, name="r1")],
                       export="all", kernel_export="all", direct=("eth0",)))
    sim.run(until=20)
    p1, p2 = b1.protocol("r2"), b2.protocol("r1")
    assert p1.state_text == p2.state_text == "Established"
    # 10.0.0.2 has the higher router id: the connection it opened survives (RFC 4271 6.8)
    assert p2.conn.direction == "outgoing" and p1.conn.direction == "incoming"
    assert any("Connection collision" in e[2] for e in b1.events + b2.events)
    if TSHARK is not None:
        path = _write(sim, tmp_path, "collision")
        rows = fields(path, ["bgp.notify.major_error", "bgp.notify.minor_error_cease"],
                      ["-Y", "bgp.type == 3", *NO_REASSEMBLY])
        assert ["6", "7"] in rows


class _ScriptedPeer(Process):
    """A hand-driven BGP peer: connects from its namespace, sends ``opening`` at once, and
    ``later`` once the speaker's KEEPALIVE has come (the session is up); records what it
    receives."""

    name = "peer"

    def __init__(self, dst: str, opening, later=()):
        super().__init__()
        self.dst = dst
        self.opening = list(opening)
        self.later = list(later)
        self.received = b""
        self.closed_at = None
        self.reader = W.StreamReader()
        self.msgs = []

    def start(self) -> None:
        self.sock = self.ns.tcp.socket()
        self.sock.on_connected = self._connected
        self.sock.on_data = self._data
        self.sock.on_close = self._closed
        self.sock.connect((self.dst, W.BGP_PORT))

    def _connected(self) -> None:
        for m in self.opening:
            self.sock.send(m)

    def _data(self, data: bytes) -> None:
        self.received += data
        for m in self.reader.feed(data):
            self.msgs.append(W.parse(m))
            if isinstance(self.msgs[-1], W.Keepalive) and self.later:
                for x in self.later:
                    self.sock.send(x)
                self.later = []

    def _closed(self) -> None:
        self.closed_at = self.sim.now
        self.sock.close()


def _speaker_and_peer(opening, later=(), remote_as=64513):
    sim = Simulator(seed=5)
    sw, (r1, r2) = _pair(sim)
    bird = r1.spawn(Bird("10.0.0.1", 64512, peers=[BgpPeer("10.0.0.2", remote_as, name="peer",
                                                           passive=True)],
                         static_routes=[StaticRoute("10.9.0.0/24")], export="all", direct=None))
    peer = r2.spawn(_ScriptedPeer("10.0.0.1", opening, later))
    sim.run(until=5)
    return bird, peer


def _open(asn, as4=True):
    caps = (W.cap_multiprotocol(), W.cap_as4(asn)) if as4 else (W.cap_multiprotocol(),)
    return W.open_message(W.Open(asn if asn < 0x10000 else W.AS_TRANS, 90, "10.0.0.2", caps))


def test_malformed_update_earns_invalid_origin_notification():
    nh = bytes((0x40, 3, 4, 10, 0, 0, 2))
    attrs = bytes((0x40, 1, 1, 5)) + bytes((0x40, 2, 6, 2, 1, 0, 0, 0xFC, 0x01)) + nh
    body = struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + bytes((24, 10, 7, 0))
    bad = b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body
    bird, peer = _speaker_and_peer([_open(64513), W.keepalive_message()], [bad])
    msgs = peer.msgs
    assert isinstance(msgs[0], W.Open) and msgs[0].asn == 64512 and msgs[0].hold_time == 240
    assert isinstance(msgs[1], W.Keepalive)
    assert any(isinstance(m, W.Update) and m.nlri for m in msgs)  # the session was up
    assert msgs[-1] == W.Notification(3, 6, bytes((0x40, 1, 1, 5)))
    assert peer.closed_at is not None
    p = bird.protocol("peer")
    assert p.status().endswith("BGP Error: Invalid ORIGIN attribute")
    assert p.startup_delay == 60  # BIRD's error wait time starts at 60 s


@pytest.mark.parametrize("as4,data", [(True, (65000).to_bytes(4, "big")), (False, (65000).to_bytes(2, "big"))])
def test_wrong_as_open_is_refused_with_bad_peer_as(as4, data):
    bird, peer = _speaker_and_peer([_open(65000, as4=as4)])
    msgs = peer.msgs
    assert isinstance(msgs[0], W.Open)
    assert msgs[-1] == W.Notification(2, 2, data)
    assert bird.protocol("peer").status().endswith("BGP Error: Bad peer AS")
    assert bird.protocol("peer").state_text != "Established"


def test_open_before_keepalive_then_update_in_wrong_state_is_an_fsm_error():
    upd = W.update_message()
    bird, peer = _speaker_and_peer([upd])  # an UPDATE while bird waits for our OPEN
    assert peer.msgs[-1] == W.Notification(5, 1)


# -- the kernel protocol's hook, as Calico's IPIP filter uses it ------------------------------------
def _ipip_pair(mode):
    sim = Simulator(seed=2)
    sw = Switch(sim, "lan0")
    nss, birds = [], []
    ips = ["192.168.0.2", "192.168.0.3"]
    for i, ip in enumerate(ips):
        ns = Namespace(sim, f"node{i + 1}")
        nic = Nic(sim, "eth0", nic_mac(ip))
        ns.add_device(nic)
        sw.connect(nic)
        nic.set_up()
        ns.addr_add(nic, f"{ip}/24")
        tunl0 = Tun(sim, "tunl0")  # stands in for the IPIP device: only its name matters here
        ns.add_device(tunl0)
        tunl0.attach(lambda frame: None)
        tunl0.set_up()
        other = ips[1 - i]
        block = f"10.244.{i}.0/24"
        birds.append(ns.spawn(Bird(ip, 64512, peers=[calico_mesh_peer(ip, other)],
                                   static_routes=[StaticRoute(block)],
                                   export=lambda r, b=block: r.prefix == b,
                                   kernel_export=calico_kernel_programming(
                                       [("10.244.0.0/16", mode, None)], "192.168.0.0/24"))))
        nss.append(ns)
    sim.run(until=10)
    return nss


def test_ipip_always_routes_through_tunl0_onlink():
    n1, _ = _ipip_pair("Always")
    assert "10.244.1.0/24 via 192.168.0.3 dev tunl0 proto bird onlink" in _bird_routes(n1)


def test_ipip_cross_subnet_keeps_same_subnet_routes_on_eth0():
    n1, _ = _ipip_pair("CrossSubnet")
    assert "10.244.1.0/24 via 192.168.0.3 dev eth0 proto bird" in _bird_routes(n1)


def test_calico_vxlan_pool_routes_stay_out_of_the_kernel():
    f = calico_kernel_programming([("10.244.0.0/16", None, "Always")])
    assert f(KernelRoute("10.244.1.0/24", "router", "192.168.0.3")) is False  # felix's job
    kr = KernelRoute("10.99.0.0/24", "router", "192.168.0.3")
    assert f(kr) is True and kr.krt_tunnel == ""  # outside every pool: as it is


def test_show_command_runs_birdc_in_the_scenario():
    from emunet.observe.show import run_command
    from emunet.scenarios import get
    lab = get("bgp-border").build(1)
    lab.run()
    out = run_command(lab, "Route1", "birdc show protocols").splitlines()
    assert out[0] == "BIRD 1.6.8 ready."
    assert out[-1].startswith("Route2   BGP      master   up     12:12:0")
    assert out[-1].endswith("Established   ")
    assert lab.ping.received == 2
    assert "10.2.0.0/24 via 172.16.0.2 dev eth1 proto bird" in [r.show() for r in lab.route1.fib.main]
    with pytest.raises(ValueError):
        run_command(lab, "host1", "birdc show protocols")


@needs_tshark
def test_tshark_reads_the_border_capture():
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "pcaps", "bgp-border.pcapng")
    assert problems(path) == []
    updates = {}
    opens = {}
    for iface, src, m in _bgp_messages(path, "bgp"):
        if not iface.startswith({"172.16.0.1": "Route1/", "172.16.0.2": "Route2/"}[src]):
            continue
        if m["bgp.type"] == ["1"]:
            opens[src] = (m["bgp.open.myas"], m["bgp.open.holdtime"], m["bgp.cap.type"], m["bgp.cap.4as"])
        if "bgp.nlri_prefix" in m:
            assert "bgp.update.path_attribute.local_pref" not in m  # eBGP: no LOCAL_PREF
            updates[src] = (m["bgp.nlri_prefix"], m["bgp.update.path_attribute.next_hop"],
                            m["bgp.update.path_attribute.as_path_segment.as4"])
    assert updates == {"172.16.0.1": (["10.1.0.0"], ["172.16.0.1"], ["64512"]),
                       "172.16.0.2": (["10.2.0.0"], ["172.16.0.2"], ["64513"])}
    # BIRD's default capabilities: MP, route refresh, GR aware, AS4, enhanced RR, LLGR aware
    assert opens == {"172.16.0.1": (["64512"], ["240"], ["1", "2", "64", "65", "70", "71"], ["64512"]),
                     "172.16.0.2": (["64513"], ["240"], ["1", "2", "64", "65", "70", "71"], ["64513"])}
    # a direct eBGP session: TTL 1 both ways once established; the SYN-ACK has the listener's 255
    rows = fields(path, ["ip.ttl", "tcp.flags.syn", "tcp.flags.ack", "ip.dsfield"], ["-Y", "tcp.port == 179"])
    assert {tuple(r) for r in rows} == {("1", "1", "0", "0xc0"), ("255", "1", "1", "0xc0"),
                                        ("1", "0", "1", "0xc0")}


@pytest.mark.parametrize("kw,culprit", [
    (dict(peers=[BgpPeer("10.0.0.2", 64513, rr_client=True, name="x")]), "x: only an internal neighbor"),
    (dict(peers=[BgpPeer("10.0.0.2", 64512, name="a"), BgpPeer("10.0.0.2", 64512, name="b")]),
     "b: a second protocol for neighbor 10.0.0.2"),
    (dict(peers=[BgpPeer("10.0.0.2", 64512, name="a", hold_time=2)]), "a: hold time 2"),
    (dict(peers=[BgpPeer("10.0.0.300", 64512, name="a")]), "10.0.0.300"),
])
def test_bad_configuration_is_refused_naming_the_culprit(kw, culprit):
    with pytest.raises(ValueError, match=culprit):
        Bird("10.0.0.1", 64512, **kw)


@needs_tshark
def test_withdrawn_static_route_is_withdrawn_everywhere_and_comes_back(tmp_path):
    f = build(3, "rr", capture=True)
    assert run_until_converged(f, limit=30)
    client = f.nodes[2]
    client.bird.remove_static(client.spec.block)  # ``birdc configure`` without the route
    f.sim.run(until=f.sim.time + 0.1)
    for node in f.nodes[:2]:
        assert all(client.spec.block not in r for r in _bird_routes(node.ns))
    path = _write(f.sim, tmp_path, "withdraw")
    withdrawn = {(src, m["bgp.withdrawn_prefix"][0]) for iface, src, m in _bgp_messages(path, "bgp.withdrawn_prefix")
                 if "bgp.withdrawn_prefix" in m}
    # the client withdraws its block from both reflectors, and each reflector withdraws the
    # copy it had reflected to the other
    assert ("192.168.0.4", "10.20.2.0") in withdrawn
    assert ("192.168.0.2", "10.20.2.0") in withdrawn and ("192.168.0.3", "10.20.2.0") in withdrawn
    client.bird.add_static(client.spec.block)
    assert run_until_converged(f, limit=f.sim.time + 5)
