"""Properties of the learning bridge (emunet/devices/bridge.py).

A bridge with N veth ports; the far end of each port is a bare veth that records
every frame it receives.  Hosts (MACs) sit behind ports and send random unicast,
broadcast and multicast frames at random virtual times.  A reference model of
``br_handle_frame`` (learn the source, then: group → flood + up; own/port MAC → up;
learned and fresh → that port, or nothing if it is the ingress port; else flood)
predicts, for every frame, exactly which ports it leaves by; the bridge must agree.
Entries expire ``ageing`` after they were last refreshed (the kernel's has_expired():
``updated + ageing_time <= now``)."""
from hypothesis import HealthCheck, example, given, settings, strategies as st

from emunet.devices.bridge import Bridge
from emunet.devices.veth import Veth
from emunet.sim import MS, S, US, Simulator
from emunet.stack.namespace import Namespace
from emunet.wire.frame import Frame

AGEING = 10 * S
BRIDGE_MAC = bytes.fromhex("02420a000001")
ETHERTYPE = b"\x88\xb5"  # IEEE local experimental: the host stack drops it, never answers
BROADCAST = b"\xff" * 6
MULTICAST = bytes.fromhex("01005e000001")


class Recorder(Veth):
    """The far end of a port: remembers what arrives instead of handing it to a stack."""

    def __init__(self, sim, name, mac):
        super().__init__(sim, name, mac)
        self.got = []

    def receive(self, frame) -> None:
        self.got.append(frame)


class Lab:
    def __init__(self, nports: int):
        self.sim = Simulator(seed=1)
        self.ns = Namespace(self.sim, "host")
        self.bridge = Bridge(self.sim, "br0", BRIDGE_MAC, ageing_ns=AGEING)
        self.ns.add_device(self.bridge)
        self.bridge.set_up()
        self.ports, self.peers = [], []
        for i in range(nports):
            port = Veth(self.sim, f"veth{i}", bytes([0x0A, 0, 0, 0, 0, i + 1]))
            peer = Recorder(self.sim, f"peer{i}", bytes([0x0A, 0, 0, 0, 1, i + 1]))
            port.peer, peer.peer = peer, port
            self.ns.add_device(port)
            self.bridge.add_port(port)
            port.set_up()
            peer.set_up()
            self.ports.append(port)
            self.peers.append(peer)


class Model:
    """The reference bridge: a dict and the rules of br_handle_frame."""

    def __init__(self, lab: Lab):
        self.local = {BRIDGE_MAC} | {p.mac for p in lab.ports}
        self.fdb = {}  # mac -> (port index, updated)
        self.n = len(lab.ports)

    def fresh(self, mac, now) -> bool:
        e = self.fdb.get(mac)
        return e is not None and e[1] + AGEING > now

    def handle(self, ingress: int, src: bytes, dst: bytes, now: int):
        """(ports the frame leaves by, passed up the stack?, flooded?)."""
        if src not in self.local:
            self.fdb[src] = (ingress, now)
        others = {i for i in range(self.n) if i != ingress}
        if dst[0] & 1:
            return others, True, True
        if dst in self.local:
            return set(), True, False
        if self.fresh(dst, now):
            port = self.fdb[dst][0]
            return (set() if port == ingress else {port}), False, False
        return others, False, True


def host_macs(n):
    """``n`` distinct unicast MACs, none the bridge's or a port's (those start 0a:)."""
    return st.lists(st.binary(min_size=6, max_size=6).map(lambda b: bytes([(b[0] & 0xF0) | 0x02]) + b[1:]),
                    min_size=n, max_size=n, unique=True)


# a forwarded frame leaves the clock 1 µs after its arrival at the bridge and the next one
# arrives 1 µs after it is sent: AGEING - 2 µs after a forwarded frame lands exactly on the edge
GAPS = st.one_of(st.sampled_from([0, 1, US, MS, S, AGEING - 2 * US - 1, AGEING - 2 * US, AGEING - US,
                                  AGEING - 1, AGEING,
                                  AGEING + 1, 3 * AGEING]),
                 st.integers(0, 2 * AGEING))
NAMED = ("bcast", "mcast", "bridge", "port", "stranger")
STRANGER = bytes.fromhex("06aabbccddee")


@st.composite
def scenarios(draw):
    nports = draw(st.integers(2, 5))
    nhosts = draw(st.integers(1, 6))
    macs = draw(host_macs(nhosts))
    where = draw(st.lists(st.integers(0, nports - 1), min_size=nhosts, max_size=nhosts))
    # destinations: another host (by index), broadcast, multicast, the bridge, a port, or a stranger
    host = st.integers(0, nhosts - 1)
    step = st.one_of(
        st.tuples(st.just("send"), host, st.one_of(host, st.sampled_from(NAMED)), GAPS),
        st.tuples(st.just("send"), host, host, GAPS),
        st.tuples(st.just("move"), host, st.integers(0, nports - 1), st.just(0)),
    )
    return nports, macs, where, draw(st.lists(step, min_size=1, max_size=30))


def run(nports, macs, where, steps):
    lab = Lab(nports)
    model = Model(lab)
    sim, bridge = lab.sim, lab.bridge
    where = list(where)
    named = {"bcast": BROADCAST, "mcast": MULTICAST, "bridge": BRIDGE_MAC, "port": lab.ports[0].mac,
             "stranger": STRANGER}
    for kind, h, arg, gap in steps:
        if kind == "move":  # the host is now behind another port (a VM migrated, a cable moved)
            where[h] = arg
            continue
        if gap:
            sim.run(until=(sim.now + gap) / S)
        src = macs[h]
        dst = named[arg] if isinstance(arg, str) else macs[arg]
        frame = Frame(dst + src + ETHERTYPE + bytes(46))
        ingress = where[h]
        arrival = sim.now + lab.peers[ingress].delay_ns
        want_out, want_up, want_flood = model.handle(ingress, src, dst, arrival)
        before = [len(p.got) for p in lab.peers]
        up_before, floods_before = bridge.stats.rx_packets, bridge.flood_count
        lab.peers[ingress].dev_queue_xmit(frame)
        sim.run()
        new = [p.got[b:] for p, b in zip(lab.peers, before)]
        got_out = {i for i, frames in enumerate(new) if frame in frames}
        assert ingress not in got_out, "a frame went back out of its ingress port"
        assert got_out == want_out, (kind, h, arg, sim.now)
        # each port it leaves by sends it once, and nothing else arrives anywhere
        assert [len(f) for f in new] == [int(i in want_out) for i in range(nports)]
        assert bridge.stats.rx_packets - up_before == int(want_up)
        assert bridge.flood_count - floods_before == int(want_flood)
    # what the bridge has learned matches the model, entry by entry
    for mac, (port, updated) in model.fdb.items():
        e = bridge.fdb_lookup(mac)
        if updated + AGEING > sim.now:
            assert e is not None and e.port is lab.ports[port] and e.updated == updated
        else:
            assert e is None


@given(scenarios())
@example((2, [bytes.fromhex("020000000001"), bytes.fromhex("020000000002")], [0, 1],
          [("send", 0, "bcast", 0), ("send", 1, 0, 0), ("send", 0, 1, AGEING - 2 * US - 1),
           ("send", 0, 1, 0), ("send", 1, 0, AGEING - 2 * US)]))  # fresh 1 ns before the edge, expired on it
@example((3, [bytes.fromhex("020000000001")], [0],
          [("send", 0, "bridge", 0), ("send", 0, "port", 0), ("send", 0, 0, 0), ("move", 0, 2, 0),
           ("send", 0, "stranger", 1), ("send", 0, "mcast", 0)]))
def test_bridge_forwards_as_the_model(case):
    run(*case)


@given(st.integers(2, 6), st.data())
def test_learned_unicast_is_never_flooded_until_ageing(nports, data):
    """After every host has sent once, unicast between hosts goes to exactly its port and is
    never flooded; an entry still forwards one nanosecond before ``ageing`` after its last
    refresh, and at ``ageing`` it has expired and the same unicast floods again."""
    nhosts = data.draw(st.integers(2, 6))
    macs = data.draw(host_macs(nhosts))
    where = data.draw(st.lists(st.integers(0, nports - 1), min_size=nhosts, max_size=nhosts))
    lab = Lab(nports)
    sim, bridge = lab.sim, lab.bridge
    delay = lab.peers[0].delay_ns
    updated = {}

    def send(h, dst):
        frame = Frame(dst + macs[h] + ETHERTYPE + bytes(46))
        before = [len(p.got) for p in lab.peers]
        floods = bridge.flood_count
        updated[h] = sim.now + delay
        lab.peers[where[h]].dev_queue_xmit(frame)
        sim.run()
        return {i for i, p in enumerate(lab.peers) if frame in p.got[before[i]:]}, bridge.flood_count - floods

    for h in range(nhosts):
        send(h, BROADCAST)
    pairs = data.draw(st.lists(st.tuples(st.integers(0, nhosts - 1), st.integers(0, nhosts - 1),
                                         st.integers(0, AGEING // 2)), min_size=1, max_size=10))
    for a, b, gap in pairs:
        sim.run(until=(sim.now + gap) / S)
        fresh_b = a == b or updated[b] + AGEING > sim.now + delay  # a == b: learned first
        out, floods = send(a, macs[b])
        if fresh_b:
            assert floods == 0, "a unicast frame to a learned MAC was flooded"
            assert out == (set() if where[b] == where[a] else {where[b]})
        else:
            assert floods == 1 and out == set(range(nports)) - {where[a]}
    # probes from a stranger, injected straight into a port other than the target's, at
    # exactly ageing - 1 ns and ageing after each host's last refresh
    probes = []
    for h in sorted(updated, key=updated.get):
        ingress = (where[h] + 1) % nports
        for t, expired in ((updated[h] + AGEING - 1, False), (updated[h] + AGEING, True)):
            if t < sim.now:
                continue  # the clock is already past it (the pairs above took that long)
            sim.run(until=t / S)
            assert sim.now == t
            frame = Frame(macs[h] + STRANGER + ETHERTYPE + bytes(46))
            floods = bridge.flood_count
            lab.ports[ingress].receive(frame)
            probes.append((frame, h, ingress, expired, bridge.flood_count - floods))
    sim.run()
    for frame, h, ingress, expired, floods in probes:
        out = {i for i, p in enumerate(lab.peers) if frame in p.got}
        if expired:
            assert floods == 1, "an aged-out entry must flood"
            assert out == set(range(nports)) - {ingress}
        else:
            assert floods == 0
            assert out == {where[h]}


# -- determinism of a whole scenario -------------------------------------------------
@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
@example(1, 2)
def test_docker_bridge_is_deterministic(tmp_path, seed, other):
    """Same seed, same pcapng, byte for byte; another seed changes the random choices
    (veth names and MACs, IP IDs, the ping identifier) but not the frames' sizes or order."""
    from emunet.scenarios import docker_bridge

    def capture(s, name):
        lab = docker_bridge.build(seed=s).run()
        path = tmp_path / f"{name}-{s}.pcapng"
        lab.capture.write(path)
        return path.read_bytes(), lab.capture.records

    first, recs = capture(seed, "a")
    second, _ = capture(seed, "b")
    assert first == second
    assert len(recs) > 0 and len(first) > 0
    _, other_recs = capture(other, "c")
    assert [(len(r.data), r.direction, r.linktype) for r in recs] == \
        [(len(r.data), r.direction, r.linktype) for r in other_recs]
