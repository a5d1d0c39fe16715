"""The Linux bridge (``net/bridge/``): a learning switch with its own L3 port.

``docker0`` and ``cni0`` are such bridges.  The decision for a frame arriving
on a port is ``br_handle_frame_finish``'s, one switch over the destination, as
ns-3's ``BridgeNetDevice::ReceiveFromDevice`` has it:

* learn the source MAC on the ingress port (``br_fdb_update``);
* group address (broadcast, multicast): flood to every other port and pass a
  copy up to the bridge's own interface;
* the bridge's own MAC, or a port's MAC (a "local" FDB entry): pass up;
* a learned MAC: forward to its port, unless that is the ingress port
  (no hairpin: drop, as ``BRIDGE_NO_HAIRPIN``: the kernel has no ``skb_drop_reason``
  for it, ``br_forward``'s ``should_deliver`` fails and the frame is freed with
  NOT_SPECIFIED, so the model names it; :mod:`emunet.devices.switch` uses the same name);
* an unknown MAC: flood to every other port; with no other port that forwards, the
  frame is dropped as ``NO_TX_TARGET`` (``br_flood``'s reason since Linux 6.14);
* a frame longer than the port it leaves by can send is dropped there
  (``is_skb_forwardable``); the bridge's own MTU follows its smallest port unless
  one was set (``br_mtu_auto_adjust``).

With ``br_netfilter`` on (``net.bridge.bridge-nf-call-iptables=1`` and rules loaded), an
IPv4 frame meets iptables' PREROUTING before this decision, and FORWARD and POSTROUTING
for each port it goes out of (:mod:`emunet.stack.netfilter.br_netfilter`).

Entries age out ``ageing_time`` after they were last refreshed, on the virtual
clock (default 300 s, the kernel's 30000 centiseconds).  A capture on the
bridge's own interface shows every frame the bridge handles, as tcpdump on
docker0 does (tcpdump makes the bridge promiscuous, and a promiscuous bridge
passes a copy of each frame up).
"""
import attrs

from emunet.devices.base import NetDevice
from emunet.sim import S
from emunet.wire.errors import Malformed
from emunet.wire.ethernet import BROADCAST_MAC, ETH_HLEN, ETHERTYPE_IP, ZERO_MAC, EthernetView, mac_to_bytes, mac_to_str

DEFAULT_AGEING_NS = 300 * S
#: what ``is_skb_forwardable`` allows beyond a port's MTU: an Ethernet header and a VLAN tag
_MAX_FORWARDABLE = ETH_HLEN + 4


@attrs.define
class FdbEntry:
    """One forwarding-database entry (``struct net_bridge_fdb_entry``)."""

    mac: bytes
    port: NetDevice
    updated: int
    is_local: bool = False
    is_static: bool = False

    def show(self, bridge: "Bridge") -> str:
        """The line ``bridge fdb show`` prints for it."""
        flags = " permanent" if (self.is_local or self.is_static) else ""
        return f"{mac_to_str(self.mac)} dev {self.port.name} master {bridge.name}{flags}"


class Bridge(NetDevice):
    kind = "bridge"

    def __init__(self, sim, name: str, mac, mtu: int = None, ageing_ns: int = DEFAULT_AGEING_NS):
        super().__init__(sim, name, mac, 1500 if mtu is None else mtu)
        #: ``BROPT_MTU_SET_BY_USER``: an MTU given stays; without one the bridge follows its
        #: smallest port (``br_mtu_auto_adjust``)
        self.mtu_set_by_user = mtu is not None
        self.ports = []
        self.fdb = {}
        self.ageing_ns = ageing_ns
        self.stp_state = 0
        self.flood_count = 0
        # the bridge's own address is a local entry too: frames to it go up the stack
        self.fdb[self.mac] = FdbEntry(self.mac, self, 0, is_local=True)

    @property
    def carrier(self) -> bool:
        # a bridge has carrier while at least one port forwards (NO-CARRIER otherwise); asked
        # at every frame the host sends through it, so a plain loop, not a generator
        if self.admin_up:
            for p in self.ports:
                if p.running:
                    return True
        return False

    # -- configuration ------------------------------------------------------
    def add_port(self, dev: NetDevice) -> None:
        """``ip link set DEV master BRIDGE``."""
        if dev.master is not None:
            raise ValueError(f"{dev.name} is already enslaved to {dev.master.name}")
        if dev.ns is not self.ns:
            raise ValueError(f"{dev.name} is in namespace {dev.ns.name if dev.ns else None!r}, "
                             f"bridge {self.name} in {self.ns.name!r}")
        if dev is self:
            raise ValueError(f"cannot enslave {self.name} to itself")
        dev.master = self
        dev.rx_handler = self.handle_frame
        self.ports.append(dev)
        # the port's own address is a local, permanent entry (fdb_add_local)
        self.fdb[dev.mac] = FdbEntry(dev.mac, dev, self.sim.now, is_local=True)
        self._mtu_auto_adjust()

    def del_port(self, dev: NetDevice) -> None:
        self.ports.remove(dev)
        dev.master = None
        dev.rx_handler = None
        for mac in [m for m, e in self.fdb.items() if e.port is dev]:
            del self.fdb[mac]
        self._mtu_auto_adjust()

    def _mtu_auto_adjust(self) -> None:
        """``br_mtu_auto_adjust``: unless an MTU was set, the smallest of the ports'."""
        if not self.mtu_set_by_user and self.ports:
            self.mtu = min(p.mtu for p in self.ports)

    def _xmit(self, port: NetDevice, frame, why: str) -> None:
        """``br_dev_queue_push_xmit``: a frame longer than the port can send is dropped
        (``is_skb_forwardable``: its MTU plus an Ethernet header and a VLAN tag)."""
        if len(frame.data) > port.mtu + _MAX_FORWARDABLE:
            # freed with kfree_skb: no reason of its own
            port.count_drop("NOT_SPECIFIED", frame, f"{len(frame.data)}-byte frame > MTU {port.mtu} of "
                                                    f"{port.name} (br_dev_queue_push_xmit: is_skb_forwardable)",
                            tx=True)
            return
        port.dev_queue_xmit(frame, why)

    def fdb_add(self, mac, port: NetDevice) -> FdbEntry:
        """``bridge fdb add MAC dev PORT master static``."""
        mac = mac_to_bytes(mac)
        entry = FdbEntry(mac, port, self.sim.now, is_static=True)
        self.fdb[mac] = entry
        return entry

    def fdb_lookup(self, mac: bytes):
        """The live entry for ``mac``, expiring it lazily if it has aged out."""
        entry = self.fdb.get(mac)
        if entry is None:
            return None
        # has_expired(): updated + ageing_time <= now
        if not (entry.is_local or entry.is_static) and self.sim.now - entry.updated >= self.ageing_ns:
            del self.fdb[mac]
            return None
        return entry

    def fdb_entries(self) -> list:
        """Live entries, expired ones removed (what the kernel's gc would have left)."""
        for mac in list(self.fdb):
            self.fdb_lookup(mac)
        return list(self.fdb.values())

    # -- datapath -----------------------------------------------------------
    def handle_frame(self, port: NetDevice, frame) -> None:
        """``br_handle_frame``: a frame received on ``port``."""
        data = frame.data
        if len(data) < ETH_HLEN:
            try:
                EthernetView.check(data)   # says what is wrong
            except Malformed as e:
                port.count_drop(e.reason, frame, e.detail)
                return
        dst = data[0:6]
        src = data[6:12]
        if src[0] & 1 or src == ZERO_MAC:
            port.count_drop("MAC_INVALID_SOURCE", frame, f"source {mac_to_str(src)}")
            return
        if not self.admin_up:
            port.count_drop("BRIDGE_DOWN", frame, f"{self.name} is down")
            return
        nfpkt = None
        if self.ns.netfilter.active and data[12:14] == ETHERTYPE_IP:
            nf = self.ns.netfilter
            if nf.bridge_hooks(self):
                got = nf.br_nf_pre_routing(self, port, frame)
                if got is None:
                    return
                frame, nfpkt = got
                data = frame.data
                dst = data[0:6]
        learned = self._learn(port, src)
        observed = bool(self.sim.observers)
        if dst[0] & 1:
            kind = "broadcast" if dst == BROADCAST_MAC else "multicast"
            note = f"{learned}{kind} → flood and up the stack"
            if observed:
                self.sim.frame(self, frame, "in", note)
            self._flood(port, frame, nfpkt)
            self._pass_up(frame, nfpkt)
            return
        entry = self.fdb_lookup(dst)
        if entry is not None and entry.is_local:
            if observed:
                self.sim.frame(self, frame, "in", f"{learned}to the bridge's own MAC → up the stack")
            self._pass_up(frame, nfpkt)
        elif entry is not None:
            if entry.port is port:
                if observed:
                    self.sim.frame(self, frame, "in", f"{learned}fdb hit on the ingress port → drop (no hairpin)")
                self.count_drop("BRIDGE_NO_HAIRPIN", frame, f"{mac_to_str(dst)} is behind {port.name}")
                return
            if observed:
                self.sim.frame(self, frame, "in", f"{learned}fdb hit {mac_to_str(dst)} → {entry.port.name}")
            if nfpkt is not None:
                frame = self.ns.netfilter.br_nf_forward(self, port, entry.port, frame, nfpkt)
                if frame is None:
                    return
                if type(frame) is list:   # br_nf_dev_queue_xmit fragmented it
                    for piece in frame:
                        self._xmit(entry.port, piece, f"forwarded by {self.name}")
                    return
            out = entry.port
            if len(frame.data) > out.mtu + _MAX_FORWARDABLE:   # _xmit's test, inline: every frame
                self._xmit(out, frame, "")                     # ... which drops it
                return
            out.dev_queue_xmit(frame, f"forwarded by {self.name}")
        else:
            if observed:
                self.sim.frame(self, frame, "in", f"{learned}fdb miss {mac_to_str(dst)} → flood")
            if not self._flood(port, frame, nfpkt):
                self.count_drop("NO_TX_TARGET", frame, f"no port of {self.name} but {port.name} forwards "
                                                       f"(br_flood)")

    def _learn(self, port, src: bytes) -> str:
        entry = self.fdb.get(src)
        if entry is None:
            self.fdb[src] = FdbEntry(src, port, self.sim.now)
            return f"learn {mac_to_str(src)} on {port.name}; "
        if entry.is_local or entry.is_static:
            return ""  # the kernel never moves a local or static entry
        moved = entry.port is not port
        entry.port = port
        entry.updated = self.sim.now
        return f"{mac_to_str(src)} moved to {port.name}; " if moved else ""

    def _flood(self, ingress, frame, nfpkt=None) -> bool:
        """``br_flood``: a copy to every port but ``ingress`` that forwards (is running);
        False if there was none."""
        self.flood_count += 1
        sent = False
        for p in self.ports:
            if p is not ingress and p.running:
                sent = True
                out = frame
                if nfpkt is not None:
                    out = self.ns.netfilter.br_nf_forward(self, ingress, p, frame, nfpkt.clone())
                    if out is None:
                        continue
                    if type(out) is list:
                        for piece in out:
                            self._xmit(p, piece, f"flooded by {self.name}")
                        continue
                self._xmit(p, out, f"flooded by {self.name}")
        return sent

    def _pass_up(self, frame, nfpkt=None) -> None:
        """``br_pass_frame_up``: the bridge's own interface receives the frame (which met
        PREROUTING already if ``nfpkt`` is given: the stack takes it as it is)."""
        self.stats.rx_packets += 1
        self.stats.rx_bytes += len(frame.data)
        if nfpkt is None:
            self.ns.deliver_skb(self, frame)
            return
        bridged = self.ns.netfilter.bridged
        bridged[frame] = nfpkt
        try:
            self.ns.deliver_skb(self, frame)
        finally:
            bridged.pop(frame, None)

    def ndo_start_xmit(self, frame) -> None:
        """``br_dev_xmit``: a frame the host stack sends out of the bridge interface."""
        dst = frame.data[0:6]
        if not dst[0] & 1:
            entry = self.fdb_lookup(dst)
            if entry is not None and not entry.is_local:
                self._xmit(entry.port, frame, f"from {self.name}: fdb hit → {entry.port.name}")
                return
        # dev_queue_xmit saw carrier: a port runs, and the flood reaches it
        self._flood(None, frame)
