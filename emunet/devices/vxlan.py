"""VXLAN tunnel endpoints (``drivers/net/vxlan/vxlan_core.c``), as flanneld creates ``flannel.1``.

``ip link add flannel.1 type vxlan id 1 local 10.168.0.2 dev eth0 nolearning``
(dstport 0 → the kernel's 8472) gives a device that

* on transmit (``vxlan_xmit``) looks the inner frame's destination MAC up in
  its own FDB (``bridge fdb ... dev flannel.1 dst <remote> self permanent``),
  drops the frame when there is no entry (``SKB_DROP_REASON_NO_TX_TARGET``,
  formerly ``VXLAN_NO_REMOTE``), else builds outer IPv4/UDP/VXLAN headers
  (``vxlan_xmit_one``): source ``local``, TTL 64 (``ttl auto``: the route's
  hop limit), DF clear (``df unset``), TOS 0 with the inner packet's ECN
  bits (``ip_tunnel_ecn_encap``), destination port 8472, the UDP checksum
  computed (``udpcsum``), VXLAN flags 0x08 and the VNI; the UDP **source
  port** comes from a hash of the inner flow (``udp_flow_src_port``, below);
  the outer packet is routed and resolved like any packet the host sends;
* on receive, the UDP tunnel socket bound to ``0.0.0.0:8472`` (``vxlan_rcv``,
  after UDP has verified the checksum) checks the I flag
  (``VXLAN_INVALID_HDR``), finds the device by VNI (``VXLAN_VNI_NOT_FOUND``),
  refuses frames from its own MAC (``LOCAL_MAC``), learns the source when
  ``learning`` is on, and hands the inner frame to the device
  (``gro_cells_receive`` → the device's own stack).

The outer UDP source port (``include/net/udp.h``)::

    hash = skb_get_hash(skb)            /* flow dissector + hash, random per-boot key */
    hash ^= hash << 16
    port = ((u64)hash * (max - min) >> 32) + min     /* 32768..60998: ip_local_port_range */

``skb_get_hash`` hashes the dissected flow keys after ``__flow_hash_consistentify``
(addresses ordered, ports swapped with them), so both directions of a flow
hash alike *on one kernel*; the key (``hashrnd``) is random per boot, so two
machines give one flow different ports.  Kernels before 5.4 used ``jhash2``
over the keys; 5.4 and later use siphash.  The model uses ``jhash2`` (an exact
port of ``include/linux/jhash.h``) over the IPv4 keys in the pre-5.4 layout
(basic, tags, vlan, keyid, ports, addresses: seven 32-bit words, loaded as a
little-endian CPU loads them), keyed by a per-node ``hashrnd`` drawn from the
simulator's RNG.  ICMP has no ports in those keys, so every ping between two
pods shares one outer port.  That is a documented substitute: the same
structure and the same range and formula, not the same numbers as any
particular kernel (whose key is random anyway).
"""
import struct

import attrs

from emunet.devices.base import NetDevice
from emunet.devices.tunnel import outer_output, outer_route
from emunet.wire.errors import Malformed
from emunet.wire.ethernet import (ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETHERTYPE_IP, ZERO_MAC,
                                  eth_random_addr, mac_to_bytes, mac_to_str)
from emunet.wire.frame import CSUM_L4, LINKTYPE_ETHERNET, Frame
from emunet.wire.ipv4 import int_to_ip, ip_to_int
from emunet.wire.jhash import jhash2
from emunet.wire.vxlan import LINUX_VXLAN_PORT, VXLAN_HLEN, TunnelTemplate, VxlanView

#: net.ipv4.ip_local_port_range, the range ``srcport 0 0`` means
EPHEMERAL = (32768, 60999)
_M32 = 0xFFFFFFFF
_FLOW_CACHE_MAX = 4096


_PORT_PROTOS = (6, 17, 33, 132, 136)   # TCP, UDP, DCCP, SCTP, UDP-Lite: proto_ports_offset() = 0
#: from an IPv4 header: the fragment field, the protocol, the source and destination
_VLAN_ETHERTYPES = (ETH_P_8021Q, ETH_P_8021AD)
_IPV4_KEYS = struct.Struct("<6xHxB2xII")
_PORTS_LE = struct.Struct("<HH")


def flow_keys(frame: bytes):
    """The flow-dissector keys of an Ethernet frame, as the 32-bit words the hash covers
    (pre-5.4 ``struct flow_keys`` from ``basic`` on), after ``__flow_hash_consistentify``."""
    n = len(frame)
    etype = (frame[12] << 8) | frame[13] if n >= ETH_HLEN else 0
    off = ETH_HLEN
    vlan = 0
    if etype in _VLAN_ETHERTYPES and n >= 18:
        tci = (frame[14] << 8) | frame[15]
        # vlan_id:12, vlan_dei:1, vlan_priority:3 in a u16, then the TPID as stored (be16)
        vlan = (tci & 0xFFFF) | (int.from_bytes(frame[12:14], "little") << 16)
        etype = (frame[16] << 8) | frame[17]
        off = 18
    n_proto_le = ((etype & 0xFF) << 8) | (etype >> 8)     # __be16 read by a little-endian CPU
    if etype != ETH_P_IP or n < off + 20 or frame[off] >> 4 != 4:
        # no addresses: the hash covers basic..ports (five words)
        return (n_proto_le, 0, vlan, 0, 0)
    # the fragment field, the protocol and the addresses, loaded as a little-endian CPU loads
    # them; the fragment field's flags and offset, masked as it reads them (0x3FFF big-endian)
    frag_le, proto, src, dst = _IPV4_KEYS.unpack_from(frame, off)
    sport = dport = 0
    l4 = off + (frame[off] & 0x0F) * 4
    if not frag_le & 0xFF3F and proto in _PORT_PROTOS and n >= l4 + 4:
        sport, dport = _PORTS_LE.unpack_from(frame, l4)
    # __flow_hash_consistentify: (int)(dst - src) < 0, or equal addresses and dport < sport
    diff = (dst - src) & _M32
    if diff & 0x80000000 or (diff == 0 and dport < sport):
        src, dst, sport, dport = dst, src, dport, sport
    return (n_proto_le | (proto << 16), 0, vlan, 0, sport | (dport << 16), src, dst)


def skb_get_hash(frame: bytes, hashrnd: int) -> int:
    """``__flow_hash_from_keys``: jhash2 over the keys, never 0."""
    return jhash2(flow_keys(frame), hashrnd) or 1


def udp_flow_src_port(hash32: int, low: int = EPHEMERAL[0], high: int = EPHEMERAL[1]) -> int:
    """``udp_flow_src_port`` after the hash: fold and scale into [low, high)."""
    h = (hash32 ^ (hash32 << 16)) & _M32
    return ((h * (high - low)) >> 32) + low


# -- the device ------------------------------------------------------------------
@attrs.define(eq=False)
class VxlanFdbEntry:
    """One entry of the VTEP's own FDB (``struct vxlan_fdb`` with one remote)."""

    mac: bytes
    dst: int                 # remote VTEP IPv4 address, as an int
    permanent: bool = True
    updated: int = 0

    def show(self, dev) -> str:
        """The line ``bridge fdb show dev flannel.1`` prints."""
        state = " permanent" if self.permanent else ""
        return f"{mac_to_str(self.mac)} dst {int_to_ip(self.dst)} self{state}"


class VxlanSocket:
    """The UDP tunnel socket (``struct vxlan_sock``) every vxlan device on one port shares:
    bound to ``0.0.0.0:port`` in the namespace's UDP table; ``deliver`` is its
    ``encap_rcv``, ``vxlan_rcv``, called after UDP has checked lengths and checksum.
    (It has the few attributes the UDP layer uses, so the device layer need not import
    the stack.)"""

    def __init__(self, layer, port: int):
        self.layer = layer
        self.ns = layer.ns
        self.local = None
        self.remote = None
        self.closed = False
        self.port_number = port
        self.devices = {}      # vni -> Vxlan

    def bind(self, addr) -> None:
        ip, port = addr
        self.layer.bind(self, ip_to_int(ip or "0.0.0.0"), port)

    def close(self) -> None:
        if not self.closed:
            self.layer.unbind(self)
            self.closed = True

    def err(self, *args) -> bool:
        return False

    def deliver(self, data: bytes, src: int, sport: int, frame) -> None:
        ns = self.ns
        try:
            vx = VxlanView.check(data, 0)
        except Malformed as e:
            ns.count_drop(e.reason, None, frame, e.detail)
            return
        dev = self.devices.get(vx.vni)
        if dev is None:
            ns.count_drop("VXLAN_VNI_NOT_FOUND", None, frame,
                          f"no vxlan device with VNI {vx.vni} on port {self.port_number}")
            return
        dev.rcv(data, src, frame)


class Vxlan(NetDevice):
    """A VXLAN device (``ip link add NAME type vxlan id VNI local IP dev LOWER``)."""

    kind = "vxlan"

    def __init__(self, sim, name: str, vni: int, local: str, lower: NetDevice = None, mac=None,
                 dstport: int = LINUX_VXLAN_PORT, learning: bool = True, mtu: int = None,
                 port_range=(0, 0), ttl: int = 0, tos: int = 0, ageing: int = 300,
                 udpcsum: bool = True, hashrnd: int = None):
        if mtu is None:
            mtu = (lower.mtu if lower is not None else 1500) - 50
        if mac is None:
            mac = eth_random_addr(sim.rng)
        super().__init__(sim, name, mac, mtu)
        if not 0 <= vni < 1 << 24:
            raise ValueError(f"vxlan id {vni}: a VNI has 24 bits")
        self.vni = vni
        self.local = ip_to_int(local)
        self.lower = lower
        self.dstport = dstport or LINUX_VXLAN_PORT
        self.learning = learning
        self.port_range = tuple(port_range)
        self.ttl = ttl
        self.tos = tos
        self.ageing = ageing
        self.udpcsum = udpcsum
        # net_get_random_once(&hashrnd): one random key per kernel (per node)
        self.hashrnd = sim.rng.getrandbits(32) if hashrnd is None else hashrnd
        self.fdb = {}
        self.sock = None
        self.qdisc = "noqueue"
        self._templates = {}
        self._ports = {}

    # -- configuration (netlink) ---------------------------------------------
    def details(self) -> str:
        """The type line of ``ip -d link show`` (as kernel 6.18 prints it for flannel.1)."""
        lo, hi = self.port_range
        parts = [f"vxlan id {self.vni}", f"local {int_to_ip(self.local)}"]
        if self.lower is not None:
            parts.append(f"dev {self.lower.name}")
        parts += [f"srcport {lo} {hi}", f"dstport {self.dstport}"]
        if not self.learning:
            parts.append("nolearning")
        parts.append("ttl auto" if not self.ttl else f"ttl {self.ttl}")
        parts.append(f"ageing {self.ageing}")
        parts.append("udpcsum" if self.udpcsum else "noudpcsum")
        parts += ["noudp6zerocsumtx", "noudp6zerocsumrx"]
        return " ".join(parts)

    def fdb_add(self, mac, dst, permanent: bool = True) -> VxlanFdbEntry:
        """``bridge fdb replace MAC dev NAME dst DST self permanent`` (netlink NeighSet)."""
        mac = mac_to_bytes(mac)
        entry = VxlanFdbEntry(mac, ip_to_int(dst), permanent, self.sim.now)
        self.fdb[mac] = entry
        return entry

    def fdb_del(self, mac) -> None:
        mac = mac_to_bytes(mac)
        if self.fdb.pop(mac, None) is None:
            raise LookupError(f"RTNETLINK answers: No such file or directory "
                              f"(no fdb entry {mac_to_str(mac)} on {self.name})")

    def fdb_entries(self) -> list:
        return list(self.fdb.values())

    def fdb_lines(self) -> list:
        return [e.show(self) for e in self.fdb.values()]

    def set_up(self) -> "Vxlan":
        """``vxlan_open``: bind (or share) the UDP tunnel socket on ``dstport``."""
        if self.ns is None:
            raise ValueError(f"{self.name} is in no namespace")
        if self.sock is None:
            sock = self.ns.udp.table.get((0, self.dstport))
            if sock is None:
                sock = VxlanSocket(self.ns.udp, self.dstport)
                sock.bind(("0.0.0.0", self.dstport))
            elif not isinstance(sock, VxlanSocket):
                raise OSError(98, f"RTNETLINK answers: Address already in use "
                                  f"(UDP port {self.dstport} is taken in {self.ns.name})")
            if self.vni in sock.devices and sock.devices[self.vni] is not self:
                raise OSError(98, f"RTNETLINK answers: Address already in use "
                                  f"(VNI {self.vni} on port {self.dstport} is {sock.devices[self.vni].name}'s)")
            sock.devices[self.vni] = self
            self.sock = sock
        return super().set_up()

    def set_down(self) -> "Vxlan":
        """``vxlan_stop``: release the socket (closed when the last device leaves)."""
        if self.sock is not None:
            self.sock.devices.pop(self.vni, None)
            if not self.sock.devices:
                self.sock.close()
            self.sock = None
        return super().set_down()

    # -- encapsulation -------------------------------------------------------
    def src_port(self, frame: bytes) -> int:
        """The outer UDP source port for an inner frame (``udp_flow_src_port``)."""
        keys = flow_keys(frame)
        port = self._ports.get(keys)
        if port is None:
            lo, hi = self.port_range
            if lo >= hi:
                lo, hi = EPHEMERAL   # inet_get_local_port_range
            port = udp_flow_src_port(jhash2(keys, self.hashrnd) or 1, lo, hi)
            if len(self._ports) >= _FLOW_CACHE_MAX:
                self._ports.clear()
            self._ports[keys] = port
        return port

    def template(self, remote: int) -> TunnelTemplate:
        t = self._templates.get(remote)
        if t is None:
            t = TunnelTemplate(self.local.to_bytes(4, "big"), remote.to_bytes(4, "big"),
                               self.dstport, self.vni, ttl=self.ttl or 64, df=False,
                               udp_csum=self.udpcsum)
            self._templates[remote] = t
        return t

    def encapsulate(self, inner: bytes, remote: int, ident: int) -> bytes:
        """The outer IP packet (IPv4/UDP/VXLAN) around one inner Ethernet frame."""
        tos = self.tos
        if len(inner) >= ETH_HLEN + 20 and inner[12:14] == ETHERTYPE_IP:
            ecn = inner[ETH_HLEN + 1] & 3
            # INET_ECN_encapsulate: copy ECT, and CE becomes ECT(0)
            tos = (tos & ~3) | (2 if ecn == 3 else ecn)
        return self.template(remote).build(inner, self.src_port(inner), ident, tos)

    def ndo_start_xmit(self, frame) -> None:
        """``vxlan_xmit``: FDB lookup, encapsulate, route and send the outer packet."""
        data = frame.data
        entry = self.fdb.get(data[0:6]) or self.fdb.get(ZERO_MAC)
        if entry is None:
            self.count_drop("NO_TX_TARGET", frame,
                            f"no fdb entry for {mac_to_str(data[0:6])} on {self.name}", tx=True)
            return
        ns = self.ns
        remote = entry.dst
        r = outer_route(self, remote, frame, "VTEP")
        if r is None:
            return
        packet = self.encapsulate(data, remote, ns.ipv4.ip_select_ident(None))
        note = None
        if self.sim.observers:
            sport = struct.unpack_from("!H", packet, 20)[0]
            note = (f"vxlan encap vni {self.vni} {int_to_ip(self.local)}:{sport} → "
                    f"{int_to_ip(remote)}:{self.dstport} (fdb {mac_to_str(entry.mac)} dst {int_to_ip(remote)})")
        # the outer IPv4 and UDP checksums are the template's, then whatever the inner
        # frame's sender vouched for
        outer_output(self, r, remote, packet, frame, note, CSUM_L4 + frame.csum_level)

    # -- decapsulation -------------------------------------------------------
    def rcv(self, data: bytes, src: int, outer) -> None:
        """``vxlan_rcv`` for this device: ``data`` is the UDP payload (VXLAN header first)."""
        if not self.admin_up:
            self.count_drop("DEV_READY", outer, f"{self.name} is down")
            return
        inner = data[VXLAN_HLEN:]
        if len(inner) < ETH_HLEN:
            self.count_drop("PKT_TOO_SMALL", outer, f"inner frame of {len(inner)} bytes")
            return
        smac = inner[6:12]
        if smac == self.mac:
            self.count_drop("LOCAL_MAC", outer, "inner source is our own MAC (a loop)")
            return
        if self.learning and not smac[0] & 1:
            e = self.fdb.get(smac)
            if e is None or (not e.permanent and e.dst != src):
                self.fdb[smac] = VxlanFdbEntry(smac, src, False, self.sim.now)
            elif not e.permanent:
                e.updated = self.sim.now
        if self.sim.observers:
            self.ns.note(None, outer, f"vxlan decap vni {self.vni} from {int_to_ip(src)} → {self.name}")
        # what the encapsulating host vouched for beyond the outer IPv4 and UDP headers
        self.receive(Frame(bytes(inner), outer.pid, LINKTYPE_ETHERNET, max(0, outer.csum_level - CSUM_L4)))


__all__ = ["Vxlan", "VxlanFdbEntry", "VxlanSocket", "flow_keys", "skb_get_hash",
           "udp_flow_src_port"]
