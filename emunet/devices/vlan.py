"""802.1Q VLAN sub-interfaces (``net/8021q/``): ``ip link add link eth0 name eth0.10 type vlan id 10``.

A :class:`Vlan` device sits on a *lower* device (``eth0``) and carries one VLAN
of it.  What Linux does, and the model with it:

* **creation** (``vlan_newlink``, ``vlan_dev_init``): the device takes the lower's
  MAC (``NET_ADDR_STOLEN``) and MTU (an MTU above the lower's is refused with
  EINVAL), VIDs 0-4094 (4095 is ``ERANGE``), one device per VID and lower
  (``Error: 8021q: VLAN device already exists.``), flags ``REORDER_HDR``,
  ``qdisc noqueue``, ``qlen 1000``; ``ip link`` names it ``eth0.10@eth0``.  It can
  only be brought up while the lower is up (``vlan_dev_open``: ENETDOWN), and
  bringing the lower down or up takes every VLAN device on it along
  (``vlan_device_event``: NETDEV_DOWN / NETDEV_UP); its carrier is the lower's.
* **transmit** (``vlan_dev_hard_start_xmit``): the stack builds an untagged
  frame (that is what a capture on ``eth0.10`` shows), the device inserts the
  tag after the MACs - TPID 0x8100, PCP 0 (no egress priority map), DEI 0, its
  VID - and queues the frame on the lower, where a capture shows it tagged (the
  kernel keeps the tag out of line for an offloading lower, and libpcap puts it
  back in what tcpdump prints: the same bytes).  A physical NIC pads the tagged
  frame to 60 bytes on the wire, not the untagged one: a tagged ARP request is
  46 bytes in the sender's capture and 60 on the wire.
* **receive** (``__netif_receive_skb_core`` → ``skb_vlan_untag`` →
  ``vlan_do_receive``): a tagged frame arriving on the lower is counted and
  captured there (tagged), then handed, tag removed, to the VLAN device with that
  VID, which counts it and passes it up its own stack (or to its bridge).
  ``rx_bytes`` of a VLAN device counts the frame *without* its Ethernet header
  (``skb->len`` after the MAC header was pulled), ``tx_bytes`` with it.
  An untagged frame stays on the lower.  A tagged frame with no VLAN device for
  its VID is the lower's: see :meth:`emunet.stack.namespace.Namespace.vlan_rcv`
  (VID 0 is an 802.1p priority tag and the frame is received as untagged; any
  other VID makes it ``PACKET_OTHERHOST``: IP is dropped with ``OTHERHOST``, ARP
  is consumed without a drop reason, anything else is ``UNHANDLED_PROTO``).
  A tagged frame too short for ``skb_vlan_untag`` (fewer than 6 bytes after the
  TPID) is freed before any packet tap sees it: tcpdump on the receiving device
  never shows it (see :meth:`emunet.devices.base.NetDevice.receive`).

Only 802.1Q (TPID 0x8100) devices with ``REORDER_HDR`` are modelled; 802.1ad
(0x88a8) tags are recognised and dropped like any VID without a device.  The
model carries the tag in the frame's bytes all the way, where the kernel may
keep it out of line (``skb->vlan_tci``) between an offloading lower and its
peer: the bytes on every capture are the same, the one difference being a
bare frame of fewer than 16 bytes sent through a VLAN device over a veth,
which the kernel delivers and the model's receiver drops as too short to
untag (the stack never sends one).
"""
import struct

from emunet.devices.base import NETDEV_DOWN, NETDEV_UP, NetDevice
from emunet.wire.ethernet import (ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, TPID_8021AD, TPID_8021Q,
                                  VLAN_TPIDS)

VLAN_HLEN = 4
VLAN_VID_MASK = 0x0FFF
VLAN_N_VID = 4096
#: ``skb_vlan_untag`` pulls ``VLAN_HLEN + 2`` bytes after the Ethernet header: a tagged
#: frame shorter than this is freed before any tap sees it (kernel 6.18: 18- and 19-byte
#: tagged frames vanish, a 20-byte one is received)
VLAN_UNTAG_MIN = ETH_HLEN + VLAN_HLEN + 2


def frame_vid(data: bytes) -> int:
    """The VID of a tagged frame (the 12 low bits of the TCI)."""
    return ((data[14] & 0x0F) << 8) | data[15]


class VlanGroup:
    """``struct vlan_info`` of a lower device: its VLAN devices by VID (``vlan_group``)."""

    __slots__ = ("lower", "devices")

    def __init__(self, lower: NetDevice):
        self.lower = lower
        self.devices = {}

    def receive(self, lower: NetDevice, frame) -> bool:
        """``vlan_do_receive``: hand a frame tagged with one of our VIDs, untagged, to its
        VLAN device.  False leaves the frame with the lower (untagged, or no device)."""
        data = frame.data
        if data[12:14] != TPID_8021Q:
            return False
        dev = self.devices.get(frame_vid(data))
        if dev is None:
            return False
        if lower.sim.observers:
            lower.sim.note(lower, frame, f"802.1Q VID {dev.vid} → {dev.name}")
        dev.vlan_rx(frame.derive(data[:12] + data[16:]), data[14:16])
        return True



def vlan_device_event(event: str, dev: NetDevice) -> None:
    """``vlan_device_event``, on every namespace's netdevice chain: NETDEV_UP or
    NETDEV_DOWN on a lower device takes every VLAN device on it along."""
    group = dev.vlan_info
    if group is None or event not in (NETDEV_UP, NETDEV_DOWN):
        return
    up = event == NETDEV_UP
    for vlan in list(group.devices.values()):
        vlan.admin_up = up
        vlan.notify(event)


class Vlan(NetDevice):
    """One 802.1Q VLAN of a lower device (``eth0.10``).  Create it with :func:`vlan_add`."""

    kind = "vlan"

    def __init__(self, sim, name: str, lower: NetDevice, vid: int, mac=None, mtu: int = None):
        super().__init__(sim, name, mac if mac is not None else lower.mac,
                         lower.mtu if mtu is None else mtu)
        self.lower = lower
        self.vid = vid
        self.protocol = ETH_P_8021Q
        self.flags = ("REORDER_HDR",)
        self.qdisc = "noqueue"
        self.txqueuelen = 1000
        self.min_mtu, self.max_mtu = 0, 65535
        self._tag = struct.pack("!HH", ETH_P_8021Q, vid)

    @property
    def carrier(self) -> bool:
        # netif_stacked_transfer_operstate: the lower's carrier is ours
        return self.lower.carrier

    def peer_name(self) -> str:
        """``eth0.10@eth0``; ``@ifN`` once the lower is in another namespace."""
        if self.lower.ns is self.ns:
            return f"@{self.lower.name}"
        return f"@if{self.lower.ifindex}"

    def describe(self) -> str:
        return f"802.1Q id {self.vid}"

    def set_up(self) -> "Vlan":
        """``ip link set eth0.10 up``: refused while the lower is down (``vlan_dev_open``)."""
        if not self.lower.admin_up:
            raise ValueError(f"RTNETLINK answers: Network is down ({self.name}: its lower device "
                             f"{self.lower.name} is down)")
        return super().set_up()

    # -- datapath -----------------------------------------------------------------
    def ndo_start_xmit(self, frame) -> None:
        """``vlan_dev_hard_start_xmit``: insert the tag, queue on the lower."""
        data = frame.data
        self.lower.dev_queue_xmit(frame.derive(data[:12] + self._tag + data[12:]),
                                  f"802.1Q tag VID {self.vid} inserted by {self.name}")

    def vlan_rx(self, frame, tci: bytes) -> None:
        """The second half of ``vlan_do_receive``: the frame, its tag removed, is ours."""
        if not self.admin_up:
            # vlan_do_receive frees it (kfree_skb: no reason of its own)
            self.count_drop("DEV_READY", frame, f"{self.name} is down")
            return
        self.stats.rx_packets += 1
        self.stats.rx_bytes += len(frame.data) - ETH_HLEN
        if self.sim.observers:
            pcp = tci[0] >> 5
            self.sim.frame(self, frame, "in", f"802.1Q VID {self.vid}{f' PCP {pcp}' if pcp else ''} "
                                              f"from {self.lower.name}, tag removed")
        handler = self.rx_handler
        if handler is not None:
            handler(self, frame)
            return
        if self.ns is None:
            self.count_drop("DEV_READY", frame, "device is in no namespace")
            return
        self.ns.deliver_skb(self, frame)

    def delete(self) -> None:
        """``ip link del eth0.10``."""
        group = self.lower.vlan_info
        if group is not None and group.devices.get(self.vid) is self:
            del group.devices[self.vid]
            if not group.devices:
                self.lower.vlan_info = None
        if self.ns is not None:
            self.ns.remove_device(self)


def vlan_add(ns, lower, vid: int, name: str = None, mtu: int = None, mac=None) -> Vlan:
    """``ip link add link LOWER name NAME type vlan id VID [mtu MTU]`` in namespace ``ns``,
    with the kernel's checks; the device is left down, as ``ip link add`` leaves it.

    ``name`` defaults to ``LOWER.VID`` (what ``vconfig``'s default name type gives and what
    everybody types)."""
    lower = ns.dev(lower)
    if not isinstance(vid, int) or isinstance(vid, bool) or not 0 <= vid < VLAN_VID_MASK:
        raise ValueError(f"Error: 8021q: Invalid VLAN id. ({vid!r} for {lower.name}: 0-4094)")
    if lower.linktype != 1 or lower.loopback:
        # vlan_check_real_dev: NETIF_F_VLAN_CHALLENGED (lo), and no Ethernet header to tag
        raise ValueError(f"Error: 8021q: VLANs not supported on device. ({lower.name} is a "
                         f"{lower.kind} device)")
    group = lower.vlan_info
    if group is not None and vid in group.devices:
        raise ValueError(f"Error: 8021q: VLAN device already exists. ({group.devices[vid].name} "
                         f"has VID {vid} on {lower.name})")
    if mtu is not None and mtu > lower.mtu:
        raise ValueError(f"RTNETLINK answers: Invalid argument (mtu {mtu} of {name or ''} is above "
                         f"the mtu {lower.mtu} of {lower.name})")
    dev = Vlan(ns.sim, name or f"{lower.name}.{vid}", lower, vid, mac=mac, mtu=mtu)
    ns.add_device(dev)
    if group is None:
        group = lower.vlan_info = VlanGroup(lower)
    group.devices[vid] = dev
    return dev


__all__ = ["Vlan", "VlanGroup", "vlan_add", "frame_vid", "VLAN_HLEN", "VLAN_UNTAG_MIN",
           "VLAN_TPIDS", "TPID_8021Q", "TPID_8021AD", "ETH_P_8021AD"]
