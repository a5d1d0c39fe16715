"""The underlay: physical NICs cabled to an Ethernet switch.

A node's ``eth0`` is a :class:`Nic`, a port of a real machine: what the
stack sends on it is serialised onto a cable, crosses a learning switch and
arrives on another machine's NIC.  Three things differ from a veth pair and
are modelled here:

* **time on the wire**: each cable adds ``latency_ns`` and each frame takes
  its serialisation time at ``bandwidth_bps`` (preamble, FCS and inter-frame
  gap counted, 24 bytes), once into the switch and once out of it
  (store-and-forward); a frame waits for the one before it to leave the same
  cable in the same direction, so frames keep their order (a 1514-byte fragment
  and the 90-byte one sent right after it arrive in that order);
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
NIC on each switch and ``ip_forward=1``), see :mod:`emunet.topology`.

**VLANs** (IEEE 802.1Q).  A switch is VLAN-unaware until a port is configured:
it then forwards as an 802.1Q bridge with independent VLAN learning, and every
port not configured is an access port of VLAN 1 (a managed switch's default).

* :meth:`Switch.set_access` ``(nic, vid)``: the port belongs to one VLAN, untagged
  on the wire.  Untagged and priority-tagged (VID 0) frames arriving there are
  classified into it; a frame tagged with that VID is accepted, any other VID is
  dropped (ingress filtering).
* :meth:`Switch.set_trunk` ``(nic, allowed, native)``: the port carries the allowed
  VLANs tagged; the native VLAN, if any, travels untagged (untagged frames are
  classified into it; without one they are dropped).

The FDB is keyed by (VID, MAC); a broadcast, multicast or unknown unicast is
flooded to the other ports of its VLAN only, known unicast goes to its port;
nothing goes back out of the port it came in on.  On egress the tag is added
(the frame's PCP and DEI kept, or 0 for a frame that arrived untagged) or
removed; a frame whose tag is removed is padded again to 60 bytes, since the
4 bytes of the tag may have been part of its minimum size (IEEE 802.1Q §6.9).
A tag is inserted into a minimum-size frame as it is: the tagged frame is 64
bytes without its FCS.

Every frame the switch discards is counted in ``drop_reasons`` (and ``dropped``) and
reported to the observers, naming the switch and the ingress port, so ``drops``, a
trace and the capture comments show it; the names are those of the Linux bridge,
which does the same job in software:

* ``VLAN_INGRESS_FILTER``: a VID the ingress port is not a member of, or an untagged
  or priority-tagged frame on a trunk without a native VLAN.  The kernel has no
  ``skb_drop_reason`` for it (``br_allowed_ingress`` frees with NOT_SPECIFIED), so the
  switch names it and says which VID and port in the detail;
* ``BRIDGE_NO_HAIRPIN``: a known unicast whose destination sits behind the port it
  came in on.  The kernel has no reason for this either (``br_forward``'s
  ``should_deliver`` fails and the frame is freed with NOT_SPECIFIED); the switch
  uses the name the bridge model (:mod:`emunet.devices.bridge`) gives the same case;
* ``NO_TX_TARGET``: a frame to flood with no other port (of its VLAN) to flood it to,
  ``br_flood``'s reason since Linux 6.14;
* ``PKT_TOO_SMALL``: a frame without a whole Ethernet header, or an 802.1Q tag cut
  short (a NIC pads what it sends to 60 bytes: only a frame handed to
  :meth:`Switch.ingress` directly can be this short).
"""
import struct
from collections import Counter

import attrs

from emunet.devices.base import NETDEV_CHANGE, NetDevice
from emunet.sim import S, US
from emunet.wire.ethernet import ETH_HLEN, ETH_P_8021Q, TPID_8021Q, mac_to_str

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
        #: when the cable toward the switch is free again (virtual ns)
        self.tx_busy = 0
        self.qdisc = "mq"
        self.txqueuelen = 1000

    @property
    def carrier(self) -> bool:
        return self.admin_up and self.switch is not None

    def ndo_start_xmit(self, frame) -> None:
        sw = self.switch
        if sw is None:
            self.count_drop("NO_CARRIER", frame, f"{self.name} is not cabled to a switch", tx=True)
            return
        if len(frame.data) < ETH_ZLEN:
            frame = frame.derive(frame.data + bytes(ETH_ZLEN - len(frame.data)))
        delay, self.tx_busy = sw.serialise(self.tx_busy, len(frame.data))
        self.sim.post(delay, sw.ingress, self, frame)


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
        #: per port, when its cable toward the NIC is free again (virtual ns)
        self.egress_busy = {}
        #: per-port 802.1Q configuration; empty while the switch is VLAN-unaware
        self.port_vlans = {}
        self.drop_reasons = Counter()

    def __repr__(self):
        return f"<Switch {self.name} ({len(self.ports)} ports)>"

    def wire_ns(self, length: int) -> int:
        """Time for a frame of ``length`` bytes to cross one cable."""
        return self.latency_ns + (length + _WIRE_EXTRA) * 8 * 1_000_000_000 // self.bandwidth_bps

    def serialise(self, busy: int, length: int):
        """A frame of ``length`` bytes goes onto a cable that is free from ``busy`` on:
        ``(delay until it has arrived at the far end, when the cable is free again)``."""
        now = self.sim.now
        start = busy if busy > now else now
        done = start + (length + _WIRE_EXTRA) * 8 * 1_000_000_000 // self.bandwidth_bps
        return done + self.latency_ns - now, done

    def connect(self, nic: Nic) -> Nic:
        """Cable ``nic`` to a free port."""
        if nic.switch is not None:
            raise ValueError(f"{nic.key} is already cabled to switch {nic.switch.name}")
        nic.switch = self
        self.ports.append(nic)
        nic.notify(NETDEV_CHANGE)   # netif_carrier_on
        return nic

    def disconnect(self, nic: Nic) -> None:
        self.ports.remove(nic)
        nic.switch = None
        self.port_vlans.pop(nic, None)
        for mac in [m for m, e in self.fdb.items() if e[0] is nic]:
            del self.fdb[mac]
        nic.notify(NETDEV_CHANGE)   # netif_carrier_off

    def ingress(self, port: Nic, frame) -> None:
        """A frame arrives on ``port``: learn its source, then forward or flood."""
        data = frame.data
        n = len(data)
        self.frames += 1
        self.bytes += n
        if n < ETH_HLEN:
            self._drop(port, frame, "PKT_TOO_SMALL", f"{n}-byte frame: no Ethernet header")
            return
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
                    self._drop(port, frame, "BRIDGE_NO_HAIRPIN", f"{mac_to_str(dst)} is behind the ingress port")
                    return
                self.forwarded += 1
                self.egress(out, frame)
                return
        if len(self.ports) < 2:
            self._drop(port, frame, "NO_TX_TARGET", "no other port to flood to")
            return
        self.flooded += 1
        for p in self.ports:
            if p is not port:
                self.egress(p, frame)

    def egress(self, port: Nic, frame) -> None:
        """``frame`` leaves through ``port``: it reaches the NIC at the cable's far end after
        the cable's latency and the frame's serialisation time."""
        delay, self.egress_busy[port] = self.serialise(self.egress_busy.get(port, 0), len(frame.data))
        self.sim.post(delay, port.receive, frame)

    # -- 802.1Q ---------------------------------------------------------------------
    @property
    def vlan_aware(self) -> bool:
        return bool(self.port_vlans)

    def _port_of(self, nic) -> Nic:
        if nic not in self.ports:
            where = f"switch {nic.switch.name}" if getattr(nic, "switch", None) else "no switch"
            raise ValueError(f"{getattr(nic, 'key', nic)} is not cabled to switch {self.name} "
                             f"(it is on {where})")
        return nic

    def set_access(self, nic: Nic, vid: int) -> "PortVlan":
        """``switchport mode access`` / ``switchport access vlan VID``."""
        _check_vid(vid, f"access VLAN of {self._port_of(nic).key} on switch {self.name}")
        return self._configure(nic, PortVlan("access", frozenset((vid,)), frozenset((vid,)), vid))

    def set_trunk(self, nic: Nic, allowed=None, native: int = None) -> "PortVlan":
        """``switchport mode trunk`` / ``switchport trunk allowed vlan ...`` /
        ``switchport trunk native vlan ...``: ``allowed`` VIDs (all of 1-4094 when None)
        tagged, the ``native`` one (None: none) untagged."""
        where = f"trunk {self._port_of(nic).key} on switch {self.name}"
        if allowed is None:
            members = _ALL_VIDS
        else:
            members = frozenset(allowed)
            if not members:
                raise ValueError(f"{where}: an empty allowed VLAN list")
            for v in sorted(members):
                _check_vid(v, where)
        if native is not None:
            _check_vid(native, f"native VLAN of {where}")
            if native not in members:
                raise ValueError(f"{where}: native VLAN {native} is not in the allowed list "
                                 f"{_vid_list(members)}")
        untagged = frozenset((native,)) if native is not None else frozenset()
        return self._configure(nic, PortVlan("trunk", members, untagged, native))

    def _configure(self, nic: Nic, cfg: "PortVlan") -> "PortVlan":
        if not self.port_vlans:
            # from now on an 802.1Q bridge: every other port is an access port of VLAN 1,
            # and what was learned without VLANs is forgotten
            for p in self.ports:
                self.port_vlans[p] = _DEFAULT_PORT
            self.fdb.clear()
            self.ingress = self._ingress_vlan
        self.port_vlans[nic] = cfg
        for key in [k for k, e in self.fdb.items() if e[0] is nic and k[0] not in cfg.members]:
            del self.fdb[key]
        return cfg

    def port_vlan(self, nic: Nic) -> "PortVlan":
        """The port's configuration (access VLAN 1 for a port never configured)."""
        return self.port_vlans.get(self._port_of(nic), _DEFAULT_PORT)

    def mac_table(self) -> list:
        """Live FDB entries as ``(vid, mac, port)``, by VLAN then MAC (``show mac
        address-table``); VID 0 for entries learned while VLAN-unaware."""
        now = self.sim.now
        rows = []
        for key, (port, seen) in self.fdb.items():
            if now - seen <= self.ageing_ns:
                vid, mac = key if isinstance(key, tuple) else (0, key)
                rows.append((vid, mac, port))
        return sorted(rows, key=lambda r: (r[0], r[1]))

    def _drop(self, port, frame, reason: str, detail: str) -> None:
        self.dropped += 1
        self.drop_reasons[reason] += 1
        if self.sim.observers:
            self.sim.drop(self, frame, reason, f"switch {self.name}, port {port.key}: {detail}")

    def _ingress_vlan(self, port: Nic, frame) -> None:
        """An 802.1Q bridge's ingress: classify into a VLAN, filter, learn (VID, source),
        then forward to the known port or flood within the VLAN."""
        data = frame.data
        n = len(data)
        self.frames += 1
        self.bytes += n
        if n < ETH_HLEN:
            self._drop(port, frame, "PKT_TOO_SMALL", f"{n}-byte frame: no Ethernet header")
            return
        cfg = self.port_vlans.get(port, _DEFAULT_PORT)
        if data[12:14] == TPID_8021Q:
            if n < 18:
                self._drop(port, frame, "PKT_TOO_SMALL", f"{n}-byte frame: 802.1Q tag cut short")
                return
            tci = (data[14] << 8) | data[15]
            vid = tci & 0x0FFF
            plain = data[:12] + data[16:]
            if vid == 0:
                vid = cfg.pvid   # priority-tagged: the port's VLAN, the PCP kept
                if vid is None:
                    self._drop(port, frame, "VLAN_INGRESS_FILTER",
                               "priority-tagged frame on a trunk without a native VLAN")
                    return
            elif vid not in cfg.members:
                self._drop(port, frame, "VLAN_INGRESS_FILTER",
                           f"VLAN {vid} is not allowed on this {cfg.mode} port "
                           f"({cfg.mode} {_vid_list(cfg.members)})")
                return
            pcp_dei = tci & 0xF000
        else:
            vid = cfg.pvid
            if vid is None:
                self._drop(port, frame, "VLAN_INGRESS_FILTER", "untagged frame on a trunk without "
                                                               "a native VLAN")
                return
            plain = data
            pcp_dei = 0
        now = self.sim.now
        src = data[6:12]
        if not src[0] & 1:
            self.fdb[(vid, src)] = [port, now]
        dst = data[0:6]
        out = _VlanEgress(self, frame, plain, vid, pcp_dei)
        if not dst[0] & 1:
            entry = self.fdb.get((vid, dst))
            if entry is not None and now - entry[1] <= self.ageing_ns:
                target = entry[0]
                if target is port:
                    self._drop(port, frame, "BRIDGE_NO_HAIRPIN",
                               f"{mac_to_str(dst)} in VLAN {vid} is behind the ingress port")
                    return
                tcfg = self.port_vlans.get(target, _DEFAULT_PORT)
                if vid in tcfg.members:
                    self.forwarded += 1
                    out.send(target, tcfg)
                    return
        sent = False
        for p in self.ports:
            if p is not port:
                pcfg = self.port_vlans.get(p, _DEFAULT_PORT)
                if vid in pcfg.members:
                    out.send(p, pcfg)
                    sent = True
        if not sent:
            self._drop(port, frame, "NO_TX_TARGET", f"no other port in VLAN {vid} to flood to")
            return
        self.flooded += 1


@attrs.frozen
class PortVlan:
    """An 802.1Q port: its mode, the VLANs it is a member of, those it sends untagged,
    and the VLAN of untagged frames it receives (PVID; None: they are dropped)."""

    mode: str
    members: frozenset
    untagged: frozenset
    pvid: int = None

    def describe(self) -> str:
        if self.mode == "access":
            return f"access {self.pvid}"
        native = f" native {self.pvid}" if self.pvid is not None else ""
        return f"trunk {_vid_list(self.members)}{native}"


class _VlanEgress:
    """One ingress frame's bytes for the egress ports, built once per form."""

    __slots__ = ("sw", "frame", "plain", "vid", "pcp_dei", "_untagged", "_tagged")

    def __init__(self, sw, frame, plain: bytes, vid: int, pcp_dei: int):
        self.sw, self.frame, self.plain, self.vid, self.pcp_dei = sw, frame, plain, vid, pcp_dei
        self._untagged = self._tagged = None

    def send(self, port: Nic, cfg: PortVlan) -> None:
        if self.vid in cfg.untagged:
            f = self._untagged
            if f is None:
                data = self.plain
                if len(data) < ETH_ZLEN:
                    data += bytes(ETH_ZLEN - len(data))
                f = self._untagged = self.frame if data is self.frame.data else self.frame.derive(data)
        else:
            f = self._tagged
            if f is None:
                p = self.plain
                data = p[:12] + struct.pack("!HH", ETH_P_8021Q, self.pcp_dei | self.vid) + p[12:]
                f = self._tagged = self.frame if data == self.frame.data else self.frame.derive(data)
        self.sw.egress(port, f)


_ALL_VIDS = range(1, 4095)
_DEFAULT_PORT = PortVlan("access", frozenset((1,)), frozenset((1,)), 1)


def _check_vid(vid, where: str) -> None:
    if isinstance(vid, bool) or not isinstance(vid, int) or not 1 <= vid <= 4094:
        raise ValueError(f"{where}: VLAN {vid!r} is not a usable VID (1-4094; 0 means "
                         f"priority-tagged and 4095 is reserved)")


def _vid_list(members) -> str:
    """``10,20,30-40`` (Cisco's way of writing a VLAN list)."""
    if isinstance(members, range):
        return f"{members.start}-{members.stop - 1}"
    vids = sorted(members)
    out, i = [], 0
    while i < len(vids):
        j = i
        while j + 1 < len(vids) and vids[j + 1] == vids[j] + 1:
            j += 1
        out.append(str(vids[i]) if i == j else f"{vids[i]}-{vids[j]}")
        i = j + 1
    return ",".join(out)


__all__ = ["Nic", "Switch", "PortVlan", "ETH_ZLEN"]
