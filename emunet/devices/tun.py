"""TUN devices (``drivers/net/tun.c``): a layer-3 interface whose other side is a process.

What the kernel routes to a TUN device is not put on a wire: it is queued
on the file descriptor of the process that opened ``/dev/net/tun``, which
``read()``s it (a copy from kernel to user space).  What that process
``write()``s comes back into the kernel as if the device had received it
(``tun_get_user`` → ``netif_rx``: a copy from user to kernel space).
flanneld's UDP backend lives on exactly this: ``flannel0`` is its TUN.

Facts this follows (checked on kernel 6.18 with ``ip tuntap add``, and in
flannel's ``pkg/ip/tun.go`` / ``backend/udp``): IFF_TUN | IFF_NO_PI, so a
frame is a bare IP packet (pcap link type RAW, 101); ``link/none``, no MAC;
flags ``POINTOPOINT,NOARP,MULTICAST``; qdisc pfifo_fast, qlen 500; no carrier
(``NO-CARRIER``, routes via it shown ``linkdown``) until a process has the
device open; ``ip -d link`` says ``tun type tun pi off vnet_hdr off persist off``
for a device a process created without TUNSETPERSIST.
"""
from emunet.devices.base import NETDEV_CHANGE, NetDevice
from emunet.sim import US
from emunet.wire.frame import LINKTYPE_RAW, Frame

#: the cost of one user/kernel crossing (a copy and a wake-up), on the virtual clock
CROSSING_NS = 2 * US


class Tun(NetDevice):
    """A TUN device.  ``attach(reader)`` is the process opening it: ``reader(frame)`` is
    called for each packet the kernel sends to the device (the process's ``read()``);
    the process gives packets back to the kernel with :meth:`write`."""

    kind = "tun"
    linktype = LINKTYPE_RAW
    broadcast = False
    multicast = True
    noarp = True
    pointopoint = True
    header_len = 0
    link_type = "none"   # ``ip link``: link/none

    def __init__(self, sim, name: str, mtu: int = 1500, crossing_ns: int = CROSSING_NS):
        super().__init__(sim, name, None, mtu)
        self.reader = None
        self.owner = None
        self.crossing_ns = crossing_ns
        self.qdisc = "pfifo_fast"
        self.txqueuelen = 500
        self.reads = 0
        self.writes = 0

    # -- the file descriptor --------------------------------------------------
    def attach(self, reader, owner=None) -> "Tun":
        """``open("/dev/net/tun")`` + ``TUNSETIFF``: the device gets its carrier."""
        self.reader = reader
        self.owner = owner
        self.notify(NETDEV_CHANGE)
        return self

    def detach(self) -> None:
        """The process closed the descriptor (or died): no carrier any more."""
        self.reader = None
        self.owner = None
        self.notify(NETDEV_CHANGE)

    @property
    def carrier(self) -> bool:
        return self.admin_up and self.reader is not None

    def details(self) -> str:
        """The type line ``ip -d link show`` prints for the device."""
        return "tun type tun pi off vnet_hdr off persist off"

    # -- datapath -------------------------------------------------------------
    def ndo_start_xmit(self, frame) -> None:
        """``tun_net_xmit``: queue the packet for the reader; it reads it one crossing later."""
        reader = self.reader
        if reader is None:
            self.count_drop("DEV_READY", frame, f"no process has {self.name} open", tx=True)
            return
        self.reads += 1
        self.sim.post(self.crossing_ns, reader, frame)

    def write(self, packet: bytes, pid: int, note: str = None) -> None:
        """``write()`` on the descriptor: the packet enters the kernel one crossing later,
        received on this device (``tun_get_user`` → ``netif_rx``)."""
        self.writes += 1
        frame = Frame(bytes(packet), pid, LINKTYPE_RAW)
        if note and self.sim.observers:
            self.sim.post(self.crossing_ns, self._receive_noted, frame, note)
        else:
            self.sim.post(self.crossing_ns, self.receive, frame)

    def _receive_noted(self, frame, note: str) -> None:
        if not self.admin_up:
            self.count_drop("DEV_READY", frame, f"{self.name} is down")
            return
        self.stats.rx_packets += 1
        self.stats.rx_bytes += len(frame.data)
        self.sim.frame(self, frame, "in", note)
        if self.ns is None:
            self.count_drop("DEV_READY", frame, "device is in no namespace")
            return
        self.ns.deliver_skb(self, frame)


__all__ = ["Tun", "CROSSING_NS"]
