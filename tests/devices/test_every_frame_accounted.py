"""Every frame ends somewhere that says so: a delivery, a forward, a drop with a reason, or
a note saying why it was consumed.

Frames (valid ones from ``emunet.strategies.valid_frames``, broken ones from
``malformed_frames``, tagged ones, tunnelled ones) are injected into every kind of device
with a stack behind it: a veth pair, a plain device, ``lo``, docker0's own interface and
one of its ports, a veth in no namespace (the builders of ``test_malformed``), the
802.1Q switch of the ``vlan`` scenario on any of its access and trunk ports and the
router's trunk NIC with its VLAN sub-interfaces, a VXLAN endpoint (``test_vxlan``'s pair),
IPIP's ``tunl0`` (``test_ipip``'s pair) and a TUN device, in both directions where a
device has two (what arrives from the wire, what the stack or a process sends).

The model is watched from outside, as a capture is: an :class:`Accountant` is one more
observer, and it wraps, on the instances of this test only, the entry points a frame
takes from one hop to the next (``NetDevice.receive``, ``Vlan.vlan_rx``,
``Namespace.deliver_skb``, ``Switch.ingress``) and the simulator's ``post``/``after``.
Each call of an entry point is a *scope*: the part of the frame's journey that one hop
handles.  A scope is accounted for when, for the frame's packet (``Frame.pid``), it
reported

* a frame sent on a device (a forward, a reply's trigger, a tunnel's outer packet),
* a drop (with a reason: the observer interface has no other kind),
* a note that ends the journey (ARP handled, to a socket, queued for ARP or
  reassembly, consumed: anything but the notes that say the journey goes on, listed in
  :data:`GOES_ON`),
* or it handed the frame to a later event (a cable, a veth's softirq, a held proxy
  ARP reply) or to a nested scope (a bridge passing it up, a tunnel's decapsulated
  inner frame), which is then accounted for on its own.

A scope that did none of these lost the frame without a word; the property fails listing
every such frame, where it vanished and what was seen of it there.  Nothing here adds
work to the model: the wrappers live on this test's objects, and the model reports to
observers only when there are some.
"""
import ipaddress
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from emunet import strategies as es
from emunet.devices.base import NetDevice
from emunet.devices.switch import Switch
from emunet.devices.tun import Tun
from emunet.devices.veth import veth_pair
from emunet.devices.vlan import Vlan
from emunet.observe.describe import describe
from emunet.scenarios.vlan import VlanLab
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.wire.dot1q import push_tag
from emunet.wire.ethernet import ETH_P_IP, EthernetView
from emunet.wire.frame import LINKTYPE_RAW, Frame
from emunet.wire.ipv4 import IPPROTO_IPIP, Ipv4View, ip_to_int
from tests.devices import test_ipip, test_malformed, test_vxlan

pytest.importorskip("scapy")

PROPS = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])

#: notes that say the journey goes on in a nested scope or further down the same one
GOES_ON = re.compile(r"^(?:forward: route |netfilter: |reassembled: |802\.1p priority tag|802\.1Q VID \d+ → |"
                     r"\w+ decap |path MTU to )")


class Scope:
    """One hop's handling of one frame."""

    __slots__ = ("pid", "where", "data", "linktype", "ends", "seen")

    def __init__(self, pid: int, where: str, frame):
        self.pid, self.where = pid, where
        self.data, self.linktype = bytes(frame.data), frame.linktype
        self.ends = []       # what accounted for the frame here
        self.seen = []       # every report about it here, for the failure message


class Accountant:
    """An observer that follows every frame through the scopes it crosses."""

    def __init__(self, sim):
        self.sim = sim
        self.stack = []
        self.silent = []
        self.scopes = 0
        sim.observers.append(self)
        for name in ("post", "after"):
            self._wrap_schedule(name)

    # -- wrapping (on this test's instances only) -------------------------------------
    def watch(self, extra=()) -> "Accountant":
        """Wrap the entry points of every device, namespace and switch in the simulator
        (and ``extra`` devices in no namespace).  Call once the topology is built."""
        devices = list(extra)
        switches = set()
        for ns in self.sim.namespaces.values():
            self._wrap(ns, "deliver_skb", 1, lambda a, n=ns: f"{n.name}: stack (from {a[0].name})")
            devices += ns.devices.values()
        for dev in devices:
            self._wrap(dev, "receive", 0, lambda a, d=dev: f"{d.key}: receive")
            if isinstance(dev, Vlan):
                self._wrap(dev, "vlan_rx", 0, lambda a, d=dev: f"{d.key}: vlan_rx")
            if isinstance(dev, Tun):
                self._wrap(dev, "_receive_noted", 0, lambda a, d=dev: f"{d.key}: write() from the process")
            sw = getattr(dev, "switch", None)
            if isinstance(sw, Switch):
                switches.add(sw)
        for sw in switches:
            self._wrap(sw, "ingress", 1, lambda a, s=sw: f"switch {s.name}: ingress on {a[0].key}")
        return self

    def _wrap(self, obj, name: str, frame_arg: int, where) -> None:
        fn = getattr(obj, name)

        def entry(*args):
            return self.scope(where(args), args[frame_arg], fn, *args)

        setattr(obj, name, entry)

    def scope(self, where: str, frame, fn, *args):
        """Call ``fn(*args)`` as one hop's handling of ``frame``."""
        scope = Scope(frame.pid, where, frame)
        parent = self._scope(frame.pid)
        if parent is not None:
            parent.ends.append(f"nested: {scope.where}")
        self.stack.append(scope)
        self.scopes += 1
        try:
            return fn(*args)
        finally:
            self.stack.pop()
            if not scope.ends:
                self.silent.append(scope)

    def _wrap_schedule(self, name: str) -> None:
        fn = getattr(self.sim, name)

        def schedule(delay, callback, *args):
            for a in args:
                if isinstance(a, Frame):
                    scope = self._scope(a.pid)
                    if scope is not None:
                        scope.ends.append(f"handed to {getattr(callback, '__qualname__', callback)}")
            return fn(delay, callback, *args)

        setattr(self.sim, name, schedule)

    def _scope(self, pid: int):
        for scope in reversed(self.stack):
            if scope.pid == pid:
                return scope
        return None

    # -- the observer interface ------------------------------------------------------
    def on_frame(self, now, dev, frame, direction, note) -> None:
        scope = self._scope(frame.pid)
        if scope is None:
            return
        scope.seen.append(f"{direction} {dev.key}" + (f" ({note})" if note else ""))
        if direction == "out":
            scope.ends.append(f"sent on {dev.key}")

    def on_note(self, now, dev, frame, text) -> None:
        scope = self._scope(frame.pid) if frame is not None else None
        if scope is None:
            return
        scope.seen.append(f"note: {text}")
        if not GOES_ON.match(text):
            scope.ends.append(f"note: {text}")

    def on_drop(self, now, where, frame, reason, detail) -> None:
        assert isinstance(reason, str) and re.fullmatch(r"[A-Z0-9_]+", reason), (reason, detail)
        scope = self._scope(frame.pid) if frame is not None else None
        if scope is not None:
            scope.seen.append(f"drop {reason}: {detail}")
            scope.ends.append(f"drop {reason}")

    # -- the verdict -------------------------------------------------------------------
    def run(self, inject) -> None:
        """Inject (a callable that hands frames to the model) and run to quiescence."""
        inject()
        self.sim.run(until=self.sim.time + 30.0)

    def check(self) -> None:
        assert not self.stack
        if self.silent:
            lines = [f"{len(self.silent)} frame(s) vanished without a delivery, a forward, a drop "
                     f"or a note:"]
            for s in self.silent:
                lines.append(f"  packet #{s.pid} at {s.where}: {describe(s.data, s.linktype) if s.data else ''} "
                             f"[{s.data.hex()}]; seen there: {s.seen or 'nothing'}")
            raise AssertionError("\n".join(lines))


def frame(sim, data: bytes, linktype: int = 1) -> Frame:
    return Frame(data, sim.new_pid(), linktype)


def ethernet_mix(dst_mac, src_mac=None, dst=None, src=None):
    """Valid frames, malformed ones and 802.1Q-tagged copies of either."""
    plain = st.one_of(es.valid_frames(dst_mac=dst_mac, src_mac=src_mac, src=src, dst=dst),
                      es.malformed_frames(dst_mac=dst_mac, src_mac=src_mac, dst=dst, src=src))
    tagged = st.tuples(plain.filter(lambda d: len(d) >= 14), st.sampled_from([0, 1, 10, 20, 30, 4095])).map(
        lambda t: push_tag(t[0], t[1]))
    return st.one_of(plain, plain, tagged)


def ip_packets(dst=None, src=None):
    """Bare IPv4 packets (what a TUN, tunl0 or an IPIP payload carries): the IP part of
    valid and malformed Ethernet frames, and a few bytes of anything."""
    eth = st.one_of(es.valid_frames(src=src, dst=dst), es.malformed_frames(dst=dst, src=src))
    return st.one_of(eth.map(lambda d: d[14:]), st.binary(max_size=40))


def listening(ns) -> None:
    """Sockets for frames to reach: UDP 53 and TCP 80 and 179 (ports the strategies favour),
    as a resolver, a web server and BIRD would have them."""
    ns.udp.socket().bind(("0.0.0.0", 53))
    for port in (80, 179):
        sock = ns.tcp.socket()
        sock.bind(("0.0.0.0", port))
        sock.listen()


# -- the device kinds ---------------------------------------------------------------
SIMPLE = ["veth", "netdev", "lo", "bridge-dev", "bridge-port", "no-netns"]


@pytest.mark.parametrize("name", SIMPLE)
@PROPS
@given(data=st.data())
def test_every_frame_into_a_simple_device_is_accounted_for(name, data):
    """test_malformed's devices: a veth, a plain device, lo, docker0 and its port, a veth in
    no namespace; valid, malformed and tagged frames."""
    setup = test_malformed.SETUPS[name]()
    if setup.ns is not None:
        listening(setup.ns)
    acc = Accountant(setup.sim).watch(setup.extra_devices)
    frames = data.draw(st.lists(ethernet_mix(setup.dst_mac, dst=setup.dst, src=setup.src),
                                min_size=1, max_size=8))
    for raw in frames:
        acc.run(lambda: setup.dev.receive(frame(setup.sim, raw)))
    acc.check()


def _vlan_lab():
    lab = VlanLab(seed=5, capture=False)
    macs = [p.mac for p in lab.switch.ports]
    return lab, macs


@PROPS
@given(data=st.data())
def test_every_frame_into_an_8021q_switch_and_vlan_subinterfaces_is_accounted_for(data):
    """The ``vlan`` scenario's switch (access ports of VLANs 10 and 20, a trunk to the
    router) takes frames on any port, tagged or not, to its hosts' MACs, to MACs it
    learns on the port itself (BRIDGE_NO_HAIRPIN) or to nobody; the router's trunk NIC
    takes them directly too (its sub-interfaces eth0.10 and eth0.20)."""
    lab, macs = _vlan_lab()
    listening(lab.router)
    acc = Accountant(lab.sim).watch()
    sw = lab.switch
    stray = bytes.fromhex("02000000aa01")
    mac = st.sampled_from([*macs, stray, b"\xff" * 6]).map(test_malformed.mac)
    src = st.sampled_from([*macs, stray]).map(test_malformed.mac)
    ips = st.sampled_from(["192.168.10.1", "192.168.10.11", "192.168.10.12", "192.168.20.1", "192.168.20.11",
                           "192.168.10.13", "10.9.9.9"])
    items = data.draw(st.lists(st.tuples(st.integers(0, len(sw.ports)), ethernet_mix(mac, src, ips, ips)),
                               min_size=1, max_size=10))
    router_eth0 = lab.router.dev("eth0")
    for port, raw in items:
        if port == len(sw.ports):
            acc.run(lambda: router_eth0.receive(frame(lab.sim, raw)))
        else:
            acc.run(lambda: sw.ingress(sw.ports[port], frame(lab.sim, raw)))
    acc.check()


def test_the_switch_names_its_hairpin_and_empty_flood_drops():
    """The two drops the switch used to make silently: a unicast to a MAC learned on the
    ingress port, and a flood with no other port of the VLAN; both counted and reported."""
    lab, macs = _vlan_lab()
    sw = lab.switch
    seen = []

    class Drops:
        def on_drop(self, now, where, frame, reason, detail):
            seen.append((where, reason, detail))

        def on_frame(self, *a):
            pass

        def on_note(self, *a):
            pass

    lab.sim.observers.append(Drops())
    h10a = sw.ports[1]
    a, b = bytes.fromhex("02000000aa01"), bytes.fromhex("02000000aa02")
    sw.ingress(h10a, Frame(b"\xff" * 6 + a + b"\x88\xb5" + bytes(46), 1))     # learn a on h10a
    sw.ingress(h10a, Frame(a + b + b"\x88\xb5" + bytes(46), 2))               # to a, from a's port
    assert (sw.drop_reasons["BRIDGE_NO_HAIRPIN"], sw.dropped) == (1, 1)
    assert seen[-1] == (sw, "BRIDGE_NO_HAIRPIN", f"switch sw0, port {h10a.key}: 02:00:00:00:aa:01 in VLAN 10 "
                                                 f"is behind the ingress port")
    # VLAN 30 exists on no port: a trunk allowing it, and nobody else
    sw.set_trunk(sw.ports[0], allowed=[10, 20, 30])
    sw.ingress(sw.ports[0], Frame(push_tag(b"\xff" * 6 + b + b"\x88\xb5" + bytes(46), 30), 3))
    assert sw.drop_reasons["NO_TX_TARGET"] == 1 and seen[-1][1:] == (
        "NO_TX_TARGET", f"switch sw0, port {sw.ports[0].key}: no other port in VLAN 30 to flood to")
    # and VLAN-unaware, a lone port's flood and a hairpin
    sim = Simulator(seed=1)
    sim.observers.append(Drops())
    ns = Namespace(sim, "h")
    from emunet.devices.switch import Nic
    sw1 = Switch(sim, "sw1")
    nic = ns.add_device(Nic(sim, "eth0", "02:00:00:00:00:01"))
    sw1.connect(nic)
    sw1.ingress(nic, Frame(b"\xff" * 6 + a + b"\x88\xb5" + bytes(46), 4))
    sw1.ingress(nic, Frame(a + b + b"\x88\xb5" + bytes(46), 5))
    assert dict(sw1.drop_reasons) == {"NO_TX_TARGET": 1, "BRIDGE_NO_HAIRPIN": 1}
    assert [r for _, r, _ in seen[-2:]] == ["NO_TX_TARGET", "BRIDGE_NO_HAIRPIN"]


@PROPS
@given(data=st.data())
def test_every_frame_through_a_vxlan_endpoint_is_accounted_for(data):
    """``test_vxlan``'s VTEP pair: outer packets to b's UDP 8472 around any inner frame
    (VNI 1, or one nobody has; the I flag set or not), plain frames on b's eth0, inner
    frames a's flannel.1 is asked to send, and any frame on the cable from a's eth0 into
    the VLAN-unaware switch between them."""
    sim, ((a, ea, va), (b, eb, vb)) = test_vxlan._vtep_pair()
    acc = Accountant(sim).watch()
    remote = ip_to_int(test_vxlan.REMOTE)
    inner = ethernet_mix(st.sampled_from([test_malformed.mac(vb.mac), "ff:ff:ff:ff:ff:ff", "02:00:00:00:00:99"]))
    items = data.draw(st.lists(st.tuples(st.sampled_from(["outer", "plain", "send", "wire"]), inner,
                                         st.sampled_from([1, 1, 1, 2]), st.sampled_from([0x08, 0x08, 0x00])),
                               min_size=1, max_size=8))
    for how, raw, vni, flags in items:
        if how == "outer":
            packet = bytearray(va.encapsulate(raw, remote, 1))
            packet[28] = flags
            packet[32:35] = vni.to_bytes(3, "big")
            if vni != 1 or flags != 0x08:
                packet[26:28] = b"\0\0"      # the UDP checksum no longer holds: none
            data_ = EthernetView.emit(eb.mac, ea.mac, ETH_P_IP) + bytes(packet)
            acc.run(lambda: eb.receive(frame(sim, data_)))
        elif how == "plain":
            acc.run(lambda: eb.receive(frame(sim, raw)))
        elif how == "wire":
            acc.run(lambda: ea.switch.ingress(ea, frame(sim, raw)))
        elif len(raw) >= 14:
            f = frame(sim, raw)
            acc.run(lambda: acc.scope("a/flannel.1: dev_queue_xmit", f, va.dev_queue_xmit, f))
    acc.check()


def _ipip_outer(src: str, dst: str, inner: bytes) -> bytes:
    return Ipv4View.emit(ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed, IPPROTO_IPIP,
                         len(inner), 7, 63, 0, False) + inner


@PROPS
@given(data=st.data())
def test_every_packet_through_ipip_is_accounted_for(data):
    """``test_ipip``'s two nodes with tunl0 behind a router: IPIP packets from node1 to node2
    around any inner packet, and inner packets tunl0 on node1 is asked to send."""
    sim, n1, n2 = test_ipip._pair()
    acc = Accountant(sim).watch()
    eth0 = n2.dev("eth0")
    router_mac = sim.ns("router").dev("eth1").mac
    inner = ip_packets(dst=st.sampled_from(["10.20.1.0", "10.20.1.7", "192.168.1.2", "10.20.0.0"]),
                       src=st.sampled_from(["10.20.0.0", "10.20.0.5"]))
    items = data.draw(st.lists(st.tuples(st.booleans(), inner), min_size=1, max_size=8))
    for outer, packet in items:
        if outer:
            raw = EthernetView.emit(eth0.mac, router_mac, ETH_P_IP) + _ipip_outer("192.168.0.2", "192.168.1.2",
                                                                                  packet)
            acc.run(lambda: eth0.receive(frame(sim, raw)))
        else:
            f = frame(sim, packet, LINKTYPE_RAW)
            acc.run(lambda: acc.scope("node1/tunl0: l3_xmit", f, n1.dev("tunl0").l3_xmit, ip_to_int("192.168.1.2"), f))
    acc.check()


def _tun_host():
    """A host whose flannel0-like TUN (10.5.0.0/16) is open by a process that records what
    it reads; eth0, a veth to a neighbour, routes the rest."""
    sim = Simulator(seed=11)
    host, peer = Namespace(sim, "host"), Namespace(sim, "peer")
    e0, e1 = veth_pair(sim, "eth0", "eth0", mac="02:00:00:00:01:01", peer_mac="02:00:00:00:01:02")
    host.add_device(e0)
    peer.add_device(e1)
    e0.set_up()
    e1.set_up()
    host.addr_add(e0, "10.0.0.1/24")
    peer.addr_add(e1, "10.0.0.2/24")
    host.set_sysctl("net.ipv4.ip_forward", 1)
    tun = host.add_device(Tun(sim, "flannel0", mtu=1472))
    read = []
    tun.attach(read.append)
    tun.set_up()
    host.addr_add(tun, "10.5.1.0/16")
    peer.route_add("10.5.0.0/16", via="10.0.0.1")
    listening(host)
    return sim, host, e0, tun, read


@PROPS
@given(data=st.data())
def test_every_packet_through_a_tun_is_accounted_for(data):
    """What the process writes into the TUN (any bytes, valid or not) and what arrives on
    eth0 for the TUN's subnet, which the process reads."""
    sim, host, e0, tun, read = _tun_host()
    acc = Accountant(sim).watch()
    dst = st.sampled_from(["10.5.1.0", "10.5.2.3", "10.0.0.1", "10.0.0.2", "10.9.0.1"])
    src = st.sampled_from(["10.5.2.3", "10.0.0.2", "10.5.1.0"])
    items = data.draw(st.lists(st.one_of(
        st.tuples(st.sampled_from(["write", "write noted"]), ip_packets(dst=dst, src=src)),
        st.tuples(st.just("eth0"), ethernet_mix(st.just("02:00:00:00:01:01"), dst=dst, src=src))),
        min_size=1, max_size=8))
    for how, raw in items:
        if how.startswith("write"):
            acc.run(lambda: tun.write(raw, sim.new_pid(), note="flanneld: write()" if how == "write noted" else None))
        else:
            acc.run(lambda: e0.receive(frame(sim, raw)))
    acc.check()


def test_the_accountant_finds_a_silent_end():
    """The property can fail: a device that swallows a frame without a word is named."""

    class BlackHole(NetDevice):
        def receive(self, frame):
            pass

    sim = Simulator(seed=1)
    ns = Namespace(sim, "a")
    dev = ns.add_device(BlackHole(sim, "hole0"))
    dev.set_up()
    acc = Accountant(sim).watch()
    acc.run(lambda: dev.receive(frame(sim, b"\xff" * 6 + bytes(6) + b"\x88\xcc" + bytes(46))))
    with pytest.raises(AssertionError, match=r"(?s)1 frame\(s\) vanished.*a/hole0: receive"):
        acc.check()


def test_a_switch_drop_shows_in_drops_the_trace_and_the_capture():
    """h10a sends to a MAC the switch learned on h10a's own port: the switch drops it as
    BRIDGE_NO_HAIRPIN, and the drop is on h10a's ``drops``, in the packet's trace and in the
    comments of the capture's frame, a minimum-size one (padded by the NIC) as well."""
    from emunet.observe.show import run_command
    from emunet.observe.trace import Trace
    lab = VlanLab(seed=5, capture=True)
    trace = Trace()
    lab.sim.observers.append(trace)
    h10a = lab.ns["h10a"]
    eth0 = h10a.dev("eth0")
    x = bytes.fromhex("02000000aa01")
    lab.switch.ingress(eth0, Frame(b"\xff" * 6 + x + b"\x88\xb5" + bytes(46), lab.sim.new_pid()))
    h10a.neigh.add_permanent(eth0, ip_to_int("192.168.10.50"), x)
    sock = h10a.udp.socket()
    pids = [lab.sim.new_pid(), lab.sim.new_pid()]
    sock.sendto(b"x" * 40, ("192.168.10.50", 9), pid=pids[0])     # 82 bytes on the wire
    sock.sendto(b"", ("192.168.10.50", 9), pid=pids[1])           # 42, padded to 60
    lab.sim.run(until=1.0)
    detail = "switch sw0, port h10a/eth0: 02:00:00:00:aa:01 in VLAN 10 is behind the ingress port"
    for pid in pids:
        assert trace.drop_reason(pid) == "BRIDGE_NO_HAIRPIN"
        sent = [r for r in lab.capture.on("h10a/eth0") if r.pid == pid]
        assert [r.direction for r in sent] == ["out"]
        assert sent[0].comments[-1] == f"DROP BRIDGE_NO_HAIRPIN: {detail}"
    assert len(sent[0].data) == 42
    out = run_command(lab, "h10a", "drops")
    assert "switch sw0 (eth0 cabled to it): dropped 2\n    BRIDGE_NO_HAIRPIN  2\n" in out
    assert "switch" not in run_command(VlanLab(seed=5, capture=False), "h10a", "drops")


def test_a_bridge_flood_with_no_port_to_flood_to_is_dropped_no_tx_target():
    """docker0 with c2's port down: an unknown unicast from c1 has nowhere to go
    (``br_flood``: NO_TX_TARGET, counted on the bridge); a broadcast still goes up the
    stack, which is no drop."""
    setup = test_malformed.SETUPS["bridge-port"]()
    setup.c2.veth_host.set_down()
    unknown = test_malformed.B_MAC + setup.c1.mac + b"\x88\xb5" + bytes(46)
    setup.dev.receive(Frame(unknown, setup.sim.new_pid()))
    setup.dev.receive(Frame(b"\xff" * 6 + setup.c1.mac + b"\x88\xb5" + bytes(46), setup.sim.new_pid()))
    setup.sim.run()
    assert setup.bridge.drop_reasons == {"NO_TX_TARGET": 1}
    # the broadcast's ethertype has no handler in docker0's stack: its drop is the stack's
    assert [(w, r) for w, _, r in setup.rec.drops] == [(setup.bridge, "NO_TX_TARGET"),
                                                       (setup.bridge, "UNHANDLED_PROTO")]
    assert setup.ns.drop_reasons == {"UNHANDLED_PROTO": 1}
