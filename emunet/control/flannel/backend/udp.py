"""flannel's udp backend: the TUN ``flannel0`` and the user-space proxy
(``pkg/backend/udp/``: ``udp_amd64.go``, ``udp_network_amd64.go``, ``proxy_amd64.c``).

The TUN ``flannel0`` (MTU eth0 − 28) gets the subnet's first address with the
*network's* prefix (``100.96.1.0/16``), whose kernel prefix route
``100.96.0.0/16 dev flannel0 proto kernel scope link src 100.96.1.0`` sends
every pod packet for another node to flanneld.  The proxy reads a packet from
the TUN, finds the subnet whose lease holds the destination (none: an ICMP net
unreachable, TTL 8, written back into the TUN, never about an ICMP packet; its
source is the TUN's own address, so the node's kernel drops it as a martian
source and the sender never hears of it), decrements the TTL (a zero TTL
discards it) and ``sendto()``s the bare packet from its socket bound to
``<PublicIP>:8285`` to ``<remote PublicIP>:8285``; the receiver decrements the
TTL again and ``write()``s it into its TUN.  Four user/kernel copies per packet
between the two nodes, three on the sending node if the application's own
``send()`` is counted, as the seed counts.
"""
from emunet.control.flannel.backend.base import Backend
from emunet.control.flannel.config import FlannelError
from emunet.control.flannel.subnet import ADDED
from emunet.devices.tun import Tun
from emunet.stack.udp import UdpSocket
from emunet.wire.icmp import ICMP_DEST_UNREACH, ICMP_NET_UNREACH, IcmpView
from emunet.wire.ipv4 import IP_OFFMASK, IPPROTO_ICMP, Ipv4View, decrease_ttl, int_to_ip
from emunet.wire.vxlan import UDP_ENCAP_OVERHEAD

UDP_DEFAULT_PORT = 8285


class ProxySocket(UdpSocket):
    """flanneld's UDP socket: ``recv()`` hands the datagram and its packet id to the proxy."""

    def __init__(self, layer, backend):
        super().__init__(layer)
        self.backend = backend

    def deliver(self, data: bytes, src: int, sport: int, frame) -> None:
        self.backend.udp_to_tun(data, frame)


class UdpBackend(Backend):
    """The udp backend: flannel0 and the user-space proxy (``proxy_amd64.c``)."""

    type = "udp"

    def __init__(self, d):
        super().__init__(d)
        self.port = int(self.cfg.get("Port") or UDP_DEFAULT_PORT)
        self.tun_net = ""      # the tunnel's address and prefix, "100.96.1.0/16"
        self.tun_addr = b""    # the tunnel's address as 4 bytes
        self.tun = None
        self.sock = None
        self.routes = {}       # subnet network int -> (next hop ip int, port)
        self.mask = (0xFFFFFFFF << (32 - d.config.subnet_len)) & 0xFFFFFFFF
        self.forwarded = 0
        self.received = 0

    def mtu(self) -> int:
        return self.d.iface.mtu - UDP_ENCAP_OVERHEAD

    def register(self) -> None:
        d = self.d
        lease = d.acquire_lease({"PublicIP": d.public_ip})
        net = d.config.network
        # the tunnel's address: the subnet's first address with the whole network's prefix
        self.tun_net = f"{lease.subnet.network_address}/{net.prefixlen}"
        self.tun_addr = lease.subnet.network_address.packed
        i = 0
        while f"flannel{i}" in self.ns.devices:
            i += 1
        tun = Tun(self.sim, f"flannel{i}", mtu=self.mtu())
        self.ns.add_device(tun)
        tun.attach(self.tun_to_udp, owner=d)
        self.ns.addr_add(tun, self.tun_net, broadcast=False)
        tun.set_up()
        try:
            self.ns.route_add(str(net), dev=tun, scope="universe")
        except FileExistsError:
            pass   # the kernel made the prefix route already: EEXIST is ignored
        self.tun = tun
        self.sock = ProxySocket(self.ns.udp, self)
        try:
            self.sock.bind((d.iface_addr, self.port))
        except OSError as e:
            raise FlannelError(f"failed to start listening on UDP socket: {e.strerror}") from None

    def handle(self, batch) -> None:
        for typ, lease in batch:
            key = int(lease.subnet.network_address)
            if typ == ADDED:
                self.d.info("udp_network.go", f"Subnet added: {lease.subnet}")
                self.routes[key] = (lease.public_ip_int, self.port)
            else:
                self.d.info("udp_network.go", f"Subnet removed: {lease.subnet}")
                self.routes.pop(key, None)

    # the proxy's two directions -------------------------------------------------
    def tun_to_udp(self, frame) -> None:
        d = self.d
        if not d.running:
            return
        d.crossing(frame.pid, self.tun, frame, f"flanneld read() the packet from {self.tun.name}")
        pkt = bytearray(frame.data)
        if len(pkt) < 20:
            d.error("proxy.c", f"TUN recv packet too small: {len(pkt)} bytes")
            return
        dst = int.from_bytes(pkt[16:20], "big")
        nh = self.routes.get(dst & self.mask)
        if nh is None:
            self.ns.count_drop("IP_NOROUTE", self.tun, frame,
                               f"flanneld: no lease holds {int_to_ip(dst)} (proxy find_route failed)")
            self.send_net_unreachable(bytes(pkt), frame.pid)
            return
        if pkt[8] <= 1:
            self.ns.count_drop("TTL_EXPIRED", self.tun, frame,
                               f"flanneld: Discarding IP fragment {int_to_ip(int.from_bytes(pkt[12:16], 'big'))}"
                               f" -> {int_to_ip(dst)} due to zero TTL")
            return
        decrease_ttl(pkt, 0)
        self.forwarded += 1
        d.crossings[frame.pid] += 1   # sendto(): user → kernel
        if self.sim.observers:
            self.ns.note(self.tun, frame, f"flanneld: lease {int_to_ip(dst & self.mask)}/{self.d.config.subnet_len}"
                                          f" → sendto {int_to_ip(nh[0])}:{nh[1]} (TTL − 1; user/kernel copy "
                                          f"{d.crossings[frame.pid]} by flanneld)")
        try:
            self.sock.sendto(bytes(pkt), (int_to_ip(nh[0]), nh[1]), pid=frame.pid)
        except OSError as e:
            d.error("proxy.c", f"UDP send to {int_to_ip(nh[0])}:{nh[1]} failed: {e.strerror}")

    def udp_to_tun(self, data: bytes, frame) -> None:
        d = self.d
        if not d.running:
            return
        d.crossings[frame.pid] += 1   # recv(): kernel → user
        if len(data) < 20:
            d.error("proxy.c", f"UDP recv packet too small: {len(data)} bytes")
            return
        pkt = bytearray(data)
        if pkt[8] <= 1:
            self.ns.count_drop("TTL_EXPIRED", None, frame, "flanneld: zero TTL after decrement")
            return
        decrease_ttl(pkt, 0)
        self.received += 1
        d.crossings[frame.pid] += 1   # write(): user → kernel
        self.tun.write(bytes(pkt), frame.pid,
                       f"flanneld recv() from :{self.port} and write() into {self.tun.name} (TTL − 1; user/kernel "
                       f"copies {d.crossings[frame.pid] - 1} and {d.crossings[frame.pid]} by flanneld)")

    def send_net_unreachable(self, offender: bytes, pid: int) -> None:
        """``send_net_unreachable``: ICMP type 3 code 0, TTL 8, from the tunnel address, quoting
        the offender's header and first 8 bytes; never about an ICMP packet, a non-first
        fragment or a header with more than 40 bytes of options."""
        ip = Ipv4View(offender, 0)
        if ip.ihl >= 20 + 40 or ip.proto == IPPROTO_ICMP or ip.frag & IP_OFFMASK:
            return
        icmp = IcmpView.emit(ICMP_DEST_UNREACH, ICMP_NET_UNREACH, 0, offender[:ip.ihl + 8])
        header = Ipv4View.emit(self.tun_addr, offender[12:16], IPPROTO_ICMP, len(icmp), ident=0, ttl=8)
        # the error is a new packet (its own identity), as the kernel's ICMP errors are
        epid = self.sim.new_pid()
        self.d.crossings[epid] += 1
        self.tun.write(header + icmp, epid, f"flanneld: ICMP net unreachable written back into the "
                                            f"TUN (about packet #{pid})")

    def stop(self) -> None:
        # a TUN without TUNSETPERSIST disappears with the process's descriptor
        self.sock.close()
        self.tun.detach()
        if self.tun.ns is not None:
            self.ns.remove_device(self.tun)
