"""The underlay: physical NICs cabled to an Ethernet switch.

A node's ``eth0`` is a :class:`Nic`, a port of a real machine: what the
stack sends on it is serialised onto a cable, crosses a learning switch and
arrives on another machine's NIC.  Three things differ from a veth pair and
are modelled here:

* **time on the wire**: each cable adds ``latency_ns`` and each frame takes
  its serialisation time at ``bandwidth_bps`` (preamble, FCS and inter-frame
  gap counted, 24 bytes), once into the switch and once out of it
  (store-and-forward);
* **padding**: Ethernet's minimum frame is 64 bytes with the FCS, so a NIC pads
  anything shorter than 60 bytes with zeros on the wire.  The sender's capture
  (tcpdump sees the frame before the NIC) shows 42 bytes for an ARP request;
  the receiver's shows 60;
* **the switch** learns source MACs per port, forwards known unicast to its
  port, floods broadcast, multicast and unknown unicast to every other port,
  and ages entries after ``ageing_ns`` (300 s, the usual default).  It is not
  a Linux device and has no capture of its own (nobody runs tcpdump on a
  switch); the NICs on both sides record what crossed it.

A :class:`Switch` is one L2 segment (one broadcast domain): nodes that must
share an L2 segment (Flannel's host-gw) are NICs on the same switch; nodes on
different segments reach each other only through a router (a namespace with a
NIC on each switch and ``ip_forward=1``), see :mod:`emunet.cluster`.
"""
from emunet.devices.base import NetDevice
from emunet.sim import S, US

#: the smallest Ethernet frame without its FCS
ETH_ZLEN = 60
#: preamble + SFD (8), FCS (4), inter-frame gap (12): bytes of wire time a frame adds
_WIRE_EXTRA = 24


class Nic(NetDevice):
    """A physical Ethernet NIC (``eth0`` of a node or of a router)."""

    kind = "ether"

    def __init__(self, sim, name: str, mac, mtu: int = 1500):
        super().__init__(sim, name, mac, mtu)
        self.switch = None
        self.qdisc = "mq"
        self.txqueuelen = 1000

    @property
    def carrier(self) -> bool:
        return self.admin_up and self.switch is not None

    def transmit(self, frame) -> None:
        sw = self.switch
        if sw is None:
            self.count_drop("NO_CARRIER", frame, f"{self.name} is not cabled to a switch", tx=True)
            return
        if len(frame.data) < ETH_ZLEN:
            frame = frame.derive(frame.data + bytes(ETH_ZLEN - len(frame.data)))
        self.sim.after(sw.wire_ns(len(frame.data)), sw.ingress, self, frame)


class Switch:
    """A store-and-forward learning Ethernet switch: one L2 segment of the underlay."""

    def __init__(self, sim, name: str, latency_ns: int = 1 * US, bandwidth_bps: int = 10_000_000_000,
                 ageing_ns: int = 300 * S):
        self.sim = sim
        self.name = name
        self.latency_ns = latency_ns
        self.bandwidth_bps = bandwidth_bps
        self.ageing_ns = ageing_ns
        self.ports = []
        self.fdb = {}           # mac -> [port, last seen]
        self.forwarded = 0
        self.flooded = 0
        self.frames = 0
        self.bytes = 0
        self.dropped = 0

    def __repr__(self):
        return f"<Switch {self.name} ({len(self.ports)} ports)>"

    def wire_ns(self, length: int) -> int:
        """Time for a frame of ``length`` bytes to cross one cable."""
        return self.latency_ns + (length + _WIRE_EXTRA) * 8 * 1_000_000_000 // self.bandwidth_bps

    def connect(self, nic: Nic) -> Nic:
        """Cable ``nic`` to a free port."""
        if nic.switch is not None:
            raise ValueError(f"{nic.key} is already cabled to switch {nic.switch.name}")
        nic.switch = self
        self.ports.append(nic)
        if nic.ns is not None:
            nic.ns.routes_changed()
        return nic

    def disconnect(self, nic: Nic) -> None:
        self.ports.remove(nic)
        nic.switch = None
        for mac in [m for m, e in self.fdb.items() if e[0] is nic]:
            del self.fdb[mac]

    def ingress(self, port: Nic, frame) -> None:
        """A frame arrives on ``port``: learn its source, then forward or flood."""
        data = frame.data
        self.frames += 1
        self.bytes += len(data)
        now = self.sim.now
        src = data[6:12]
        if not src[0] & 1:
            self.fdb[src] = [port, now]
        dst = data[0:6]
        if not dst[0] & 1:
            entry = self.fdb.get(dst)
            if entry is not None and now - entry[1] <= self.ageing_ns:
                out = entry[0]
                if out is port:
                    self.dropped += 1   # the destination is behind the ingress port
                    return
                self.forwarded += 1
                self._egress(out, frame)
                return
        self.flooded += 1
        for p in self.ports:
            if p is not port:
                self._egress(p, frame)

    def _egress(self, port: Nic, frame) -> None:
        self.sim.after(self.wire_ns(len(frame.data)), port.receive, frame)


__all__ = ["Nic", "Switch", "ETH_ZLEN"]
