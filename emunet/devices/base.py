"""The NetDevice base: what every Linux interface has (``struct net_device``)."""
from collections import Counter

import attrs

from emunet.wire.frame import LINKTYPE_ETHERNET
from emunet.wire.ethernet import ETH_HLEN, mac_to_bytes

#: ``ETH_HLEN + VLAN_HLEN``: what ``is_skb_forwardable`` allows on top of the MTU
_MAX_L2_OVERHEAD = ETH_HLEN + 4
#: ``skb_vlan_untag`` needs ``VLAN_HLEN + 2`` bytes after the Ethernet header
_VLAN_UNTAG_MIN = ETH_HLEN + 4 + 2
_VLAN_TPIDS = (b"\x81\x00", b"\x88\xa8")

#: ``call_netdevice_notifiers`` events: the device came up, went down, changed its carrier
NETDEV_UP = "NETDEV_UP"
NETDEV_DOWN = "NETDEV_DOWN"
NETDEV_CHANGE = "NETDEV_CHANGE"


@attrs.define
class DeviceStats:
    """The counters ``ip -s link`` and ``ifconfig`` print."""

    rx_packets: int = 0
    rx_bytes: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0


class NetDevice:
    """One network interface in one namespace.

    Mirrors ``struct net_device``: a name, an ifindex unique in its namespace,
    a MAC, an MTU, an administrative state, counters, and an optional
    ``master`` (the bridge it is enslaved to).  Frames go out through
    :meth:`dev_queue_xmit` and come in through :meth:`receive`
    (``netif_receive_skb``); a subclass's driver, :meth:`ndo_start_xmit`, says where a
    sent frame goes.  ``rx_handler`` is the kernel's hook of the same name: a
    bridge port's frames go to the bridge instead of the port's own stack.
    ``vlan_info`` holds the 802.1Q VLAN devices stacked on this one (the
    kernel's field of the same name, see :mod:`emunet.devices.vlan`).
    """

    kind = "ether"
    linktype = LINKTYPE_ETHERNET
    #: interface flags shown by ``ip link``; subclasses adjust
    broadcast = True
    multicast = True
    noarp = False
    pointopoint = False
    loopback = False
    header_len = ETH_HLEN

    def __init__(self, sim, name: str, mac=None, mtu: int = 1500):
        if not name or len(name) > 15 or "/" in name or " " in name:
            raise ValueError(f"invalid interface name {name!r} (1-15 characters, no '/' or space)")
        self.sim = sim
        self.name = name
        self.mac = b"\0" * 6 if mac is None else mac_to_bytes(mac)
        self.mtu = mtu
        self.ns = None
        self.ifindex = 0
        self.admin_up = False
        self.master = None
        self.rx_handler = None
        self.vlan_info = None
        self.promisc = False
        self.stats = DeviceStats()
        self.drop_reasons = Counter()
        #: per-device sysctls (net.ipv4.conf.<dev>.*)
        self.conf = {"proxy_arp": 0, "forwarding": None, "rp_filter": 0, "proxy_delay_ms": None}
        self.qdisc = "noqueue"
        self.txqueuelen = 1000

    def __repr__(self):
        return f"<{type(self).__name__} {self.key}>"

    @property
    def key(self) -> str:
        """``namespace/name``, how a capture names the interface."""
        return f"{self.ns.name if self.ns else '?'}/{self.name}"

    # -- state --------------------------------------------------------------
    @property
    def carrier(self) -> bool:
        """LOWER_UP: the link below is usable (a veth needs its peer up)."""
        return self.admin_up

    @property
    def operstate(self) -> str:
        if not self.admin_up:
            return "DOWN"
        return "UP" if self.carrier else "LOWERLAYERDOWN"

    @property
    def running(self) -> bool:
        return self.admin_up and self.carrier

    def set_up(self) -> "NetDevice":
        """``ip link set DEV up`` (``dev_open``)."""
        self.admin_up = True
        self.notify(NETDEV_UP)
        return self

    def set_down(self) -> "NetDevice":
        """``ip link set DEV down`` (``dev_close``)."""
        self.admin_up = False
        self.notify(NETDEV_DOWN)
        return self

    def notify(self, event: str) -> None:
        """``call_netdevice_notifiers(event, dev)``: the namespace's listeners (its FIB, the
        VLAN devices on this one, ...) hear that this device changed."""
        if self.ns is not None:
            self.ns.call_netdevice_notifiers(event, self)

    def peer_name(self) -> str:
        """The ``@ifN`` suffix ``ip link`` prints for a device with a link partner."""
        return ""

    # -- datapath -----------------------------------------------------------
    def count_drop(self, reason: str, frame=None, detail: str = "", tx: bool = False) -> None:
        """Drop a frame on this device, counted under ``reason`` (never raises)."""
        if tx:
            self.stats.tx_dropped += 1
        else:
            self.stats.rx_dropped += 1
        self.drop_reasons[reason] += 1
        if self.sim.observers:
            self.sim.drop(self, frame, reason, detail)

    def dev_queue_xmit(self, frame, note: str = None) -> None:
        """``dev_queue_xmit``: count, report, and hand the frame to the link."""
        if not (self.admin_up and self.carrier):   # running, read without a second property
            self.count_drop("DEV_READY", frame, f"{self.name} is {self.operstate}", tx=True)
            return
        self.stats.tx_packets += 1
        self.stats.tx_bytes += len(frame.data)
        if self.sim.observers:
            self.sim.frame(self, frame, "out", note)
        self.ndo_start_xmit(frame)

    def l3_xmit(self, nexthop: int, frame, note: str = None) -> None:
        """A layer-3 device's entry from the neighbour layer (``ip_finish_output2`` with
        no link-layer header): the route's next hop comes along, which an NBMA tunnel
        (``tunl0``) needs as its outer destination; other devices ignore it."""
        self.dev_queue_xmit(frame, note)

    def ndo_start_xmit(self, frame) -> None:
        """The driver's transmit: where a sent frame goes; a device without a link drops it."""
        self.count_drop("NO_CARRIER", frame, "device has no link", tx=True)

    def receive(self, frame) -> None:
        """``netif_receive_skb``: a frame arrives from the link.

        The order is ``__netif_receive_skb_core``'s: a tagged frame too short to untag is
        freed before the packet taps; the taps (the capture); the VLAN devices on this one
        (``vlan_do_receive``); the ``rx_handler`` (a bridge); then the stack."""
        if not self.admin_up:
            self.count_drop("DEV_READY", frame, f"{self.name} is down")
            return
        n = len(frame.data)
        if n > self.mtu + _MAX_L2_OVERHEAD and self.linktype == LINKTYPE_ETHERNET:
            self.count_drop("PKT_TOO_BIG", frame, f"{n} bytes > MTU {self.mtu}")
            return
        # the driver counts every arrival, a bridge port's too (the bridge counts what it
        # passes up to its own interface)
        self.stats.rx_packets += 1
        self.stats.rx_bytes += n
        if n < _VLAN_UNTAG_MIN and frame.data[12:14] in _VLAN_TPIDS and self.ns is not None \
                and self.linktype == LINKTYPE_ETHERNET:
            # skb_vlan_untag frees it before any tap (tcpdump on this device never shows it),
            # in the core stack: no rx_dropped, and kfree_skb gives no reason of its own
            self.ns.count_drop("PKT_TOO_SMALL", self, frame,
                               f"{n}-byte frame with an 802.1Q/802.1ad TPID: untagging needs "
                               f"{_VLAN_UNTAG_MIN} bytes (skb_vlan_untag)")
            return
        if self.sim.observers:
            self.sim.frame(self, frame, "in",
                           f"rx on a port of {self.master.name}" if self.master is not None else None)
        vlans = self.vlan_info
        if vlans is not None and vlans.receive(self, frame):
            return
        handler = self.rx_handler
        if handler is not None:
            handler(self, frame)
            return
        if self.ns is None:
            self.count_drop("DEV_READY", frame, "device is in no namespace")
            return
        self.ns.deliver_skb(self, frame)
