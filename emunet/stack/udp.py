"""UDP sockets (``net/ipv4/udp.c``): bind, send, receive, port unreachable."""
import errno
import os

from emunet.stack.ipv4 import IP_PMTUDISC_DONT, IP_PMTUDISC_WANT
from emunet.wire.errors import Malformed
from emunet.wire.frame import CSUM_L4
from emunet.wire.ipv4 import IPPROTO_UDP, int_to_ip, ip_to_int
from emunet.wire.udp import UdpView

EPHEMERAL = (32768, 60999)  # net.ipv4.ip_local_port_range


def _oserror(code: int, what: str) -> OSError:
    return OSError(code, f"{what} ({code}: {os.strerror(code)})")


class UdpSocket:
    """A UDP socket in a namespace, callback-driven instead of blocking.

    ``on_recv(data, (src_ip, sport))`` is called for each datagram;
    ``on_error(errno, origin_ip)`` for an ICMP error on a connected socket.

    Socket options, as ``setsockopt`` leaves them: ``ip_ttl`` (``IP_TTL``; None: the
    ``net.ipv4.ip_default_ttl``), ``pmtudisc`` (``IP_MTU_DISCOVER``, one of
    ipv4's ``IP_PMTUDISC_*``), ``recverr`` (``IP_RECVERR``: every ICMP error about a
    datagram this socket sent is queued for it, soft ones such as TTL exceeded too, and
    ``on_recverr(errno, offender, type, code, info, port, ttl)`` is called with what
    ``recvmsg(MSG_ERRQUEUE)`` returns: the ``sock_extended_err`` of an error from
    ``SO_EE_ORIGIN_ICMP`` (``offender`` the ICMP message's source, ``info`` the next-hop
    MTU of a fragmentation needed), the destination port of the datagram it is about (the
    port of ``msg_name``) and the TTL the ICMP message arrived with (``IP_RECVTTL``'s
    control message; 0 where the caller of :meth:`Udp.err` did not say).  The local error an ``EMSGSIZE`` also queues
    (``ip_local_error``, ``SO_EE_ORIGIN_LOCAL``) is not: ``send`` raises it, and
    ``ns.ipv4.emsgsize_mtu`` is the MTU that error would carry).
    """

    def __init__(self, layer: "Udp"):
        self.layer = layer
        self.ns = layer.ns
        #: IP_MTU_DISCOVER (``ip_no_pmtu_disc`` 0: DF when a datagram fits the path MTU)
        self.pmtudisc = IP_PMTUDISC_WANT
        self.local = None  # (ip_int, port)
        self.remote = None
        self.on_recv = None
        self.on_error = None
        self.received = []
        self.error = 0
        self.closed = False
        self.inet_id = None  # the IP ID counter of a connected socket
        self.ip_ttl = None
        self.recverr = False
        self.on_recverr = None

    def bind(self, addr) -> None:
        """``bind()``; raises ``OSError(EADDRINUSE)`` as Linux does for a taken port."""
        ip, port = addr
        self.layer.bind(self, ip_to_int(ip or "0.0.0.0"), port)

    def connect(self, addr) -> None:
        ip, port = addr
        self.remote = (ip_to_int(ip), port)
        # a connected socket numbers its datagrams from a random start (ip_select_ident_segs)
        self.inet_id = self.layer.sim.rng.getrandbits(16)
        if self.local is None:
            self.layer.autobind(self)

    def sendto(self, data: bytes, addr, pid: int = None) -> int:
        ip, port = addr
        dst = ip_to_int(ip)
        if self.local is None:
            self.layer.autobind(self)
        return self.layer.send(self, data, dst, port, pid)

    def send(self, data: bytes, pid: int = None) -> int:
        if self.remote is None:
            raise _oserror(errno.EDESTADDRREQ, "send()")
        return self.layer.send(self, data, self.remote[0], self.remote[1], pid)

    def deliver(self, data: bytes, src: int, sport: int, frame) -> None:
        if self.on_recv is not None:
            self.on_recv(data, (int_to_ip(src), sport))
        else:
            self.received.append((data, (int_to_ip(src), sport)))

    def close(self) -> None:
        if not self.closed:
            self.layer.unbind(self)
            self.closed = True

    @property
    def port(self) -> int:
        return self.local[1] if self.local else 0


class Udp:
    """The UDP layer of one namespace: its socket table and ``udp_rcv``."""

    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim
        self.table = {}  # (ip_int, port) -> socket; ip 0 is INADDR_ANY
        self.in_datagrams = 0
        self.no_ports = 0
        self.in_errors = 0
        ns.ipv4.inet_add_protocol(IPPROTO_UDP, self.rcv)

    def socket(self) -> UdpSocket:
        return UdpSocket(self)

    def bind(self, sock: UdpSocket, ip: int, port: int) -> None:
        if sock.local is not None:
            raise _oserror(errno.EINVAL, "bind()")
        if ip and not self.ns.is_local_address(ip):
            raise _oserror(errno.EADDRNOTAVAIL, f"bind() to {int_to_ip(ip)}:{port} failed")
        if port == 0:
            self.autobind(sock, ip)
            return
        taken = [k for k in self.table if k[1] == port and (k[0] == ip or k[0] == 0 or ip == 0)]
        if taken:
            raise _oserror(errno.EADDRINUSE, f"bind() to {int_to_ip(ip)}:{port} failed")
        sock.local = (ip, port)
        self.table[sock.local] = sock

    def autobind(self, sock: UdpSocket, ip: int = 0) -> None:
        lo, hi = EPHEMERAL
        start = self.sim.rng.randrange(lo, hi + 1)
        for i in range(hi - lo + 1):
            port = lo + (start - lo + i) % (hi - lo + 1)
            if not any(k[1] == port for k in self.table):
                sock.local = (ip, port)
                self.table[sock.local] = sock
                return
        raise _oserror(errno.EAGAIN, "no free ephemeral port")

    def unbind(self, sock: UdpSocket) -> None:
        if sock.local is not None and self.table.get(sock.local) is sock:
            del self.table[sock.local]

    def send(self, sock: UdpSocket, data: bytes, dst: int, dport: int, pid: int = None) -> int:
        """Build and send a datagram; returns its length, or raises OSError as sendto() would."""
        src_ip = sock.local[0]
        if not src_ip:
            src = self.ns.fib.source_for(dst)
            if src is None:
                raise _oserror(errno.ENETUNREACH, "sendto()")
        else:
            src = src_ip.to_bytes(4, "big")
        dstb = dst.to_bytes(4, "big")
        if len(data) + 28 > 65535:
            raise _oserror(errno.EMSGSIZE, "sendto()")
        seg = UdpView.emit(sock.local[1], dport, data, src, dstb)
        pid = self.sim.new_pid() if pid is None else pid
        ident = None
        if sock.remote is not None and sock.remote == (dst, dport):
            sock.inet_id = (sock.inet_id + 1) & 0xFFFF
            ident = sock.inet_id
        err = self.ns.ipv4.ip_send(src, dstb, IPPROTO_UDP, seg, pid, pmtudisc=sock.pmtudisc, ident=ident,
                                   ttl=sock.ip_ttl,
                                   note=f"udp {sock.local[1]} → {int_to_ip(dst)}:{dport}"
                                   if self.sim.observers else None)
        if err:
            raise _oserror(err, "sendto()")
        return len(data)

    def rcv(self, dev, frame, ipv, broadcast: bool) -> None:
        """``udp_rcv``: checksum, socket lookup, delivery or port unreachable."""
        try:
            # the checksum of a datagram the sending stack built is right (Frame.csum_level)
            if frame.csum_level < CSUM_L4:
                udp = UdpView.check(frame.data, ipv.payload_offset, ipv.end, ipv.saddr, ipv.daddr)
            else:
                udp = UdpView.check(frame.data, ipv.payload_offset, ipv.end, verify=False)
        except Malformed as e:
            self.in_errors += 1
            self.ns.count_drop(e.reason, dev, frame, e.detail)
            return
        dst = ipv.daddr
        dport = udp.dport
        sock = self.table.get((dst, dport)) or self.table.get((0, dport))
        if sock is None or (sock.remote is not None and
                            sock.remote != (ipv.saddr, udp.sport)):
            self.no_ports += 1
            self.ns.count_drop("NO_SOCKET", dev, frame, f"no socket on UDP port {dport}")
            if not broadcast:
                self.ns.icmp.send_error(ipv.packet(), 3, 3, 0, frame.pid)
            return
        self.in_datagrams += 1
        if self.sim.observers:
            self.ns.note(dev, frame, f"udp → socket :{dport}")
        sock.deliver(udp.payload(), ipv.saddr, udp.sport, frame)

    def err(self, src: bytes, sport: int, dst: bytes, dport: int, origin: str, type_: int, code: int,
            info: int = 0, ttl: int = 0) -> bool:
        """An ICMP error about a datagram we sent from ``sport`` (``__udp4_lib_err``).

        Without IP_RECVERR a socket hears only of *hard* errors, and only when it is
        connected: port and protocol unreachable, fragmentation needed (PMTU discovery
        is on by default), parameter problem, and the administrative unreachables
        (``icmp_err_convert[].fatal``).  Net and host unreachable and TTL exceeded are
        soft: the application never sees them (a connected socket's ``recv()`` just
        waits; checked on kernel 6.18 with flanneld's net unreachable).  With IP_RECVERR
        every error is queued (``ip_icmp_error``) with the errno ``icmp_err_convert``
        gives it, connected or not, except a fragmentation needed on a socket that does
        not discover the path MTU (``IP_PMTUDISC_DONT``), which only updates the route.
        ``ttl`` is the TTL the ICMP message arrived with, for IP_RECVTTL."""
        sock = self.table.get((int.from_bytes(src, "big"), sport)) or self.table.get((0, sport))
        if sock is None:
            return False
        if type_ == 4 or type_ == 5:
            return True        # source quench, redirect: never reported to the socket
        if type_ == 3 and code == 4:
            if sock.pmtudisc == IP_PMTUDISC_DONT:
                return True
            hard = err = errno.EMSGSIZE
        elif type_ == 3:
            hard = _HARD_UNREACH.get(code)
            err = _UNREACH_ERRNO.get(code, errno.EHOSTUNREACH)
        elif type_ == 12:
            hard = err = errno.EPROTO
        else:
            hard, err = None, errno.EHOSTUNREACH     # time exceeded, and the default
        if sock.recverr:
            sock.error = err
            if sock.on_recverr is not None:
                sock.on_recverr(err, origin, type_, code, info, dport, ttl)
        elif sock.remote is not None and hard is not None:
            sock.error = hard
            if sock.on_error is not None:
                sock.on_error(hard, origin)
        return True


#: ``icmp_err_convert``: the destination-unreachable codes whose error is fatal
_HARD_UNREACH = {2: errno.ENOPROTOOPT, 3: errno.ECONNREFUSED, 6: errno.ENETUNREACH, 7: errno.EHOSTDOWN,
                 8: errno.ENONET, 9: errno.ENETUNREACH, 10: errno.EHOSTUNREACH, 13: errno.EHOSTUNREACH,
                 14: errno.EHOSTUNREACH, 15: errno.EHOSTUNREACH}
#: ``icmp_err_convert[].errno``: what every destination-unreachable code becomes
_UNREACH_ERRNO = {0: errno.ENETUNREACH, 1: errno.EHOSTUNREACH, 2: errno.ENOPROTOOPT, 3: errno.ECONNREFUSED,
                  4: errno.EMSGSIZE, 5: errno.EOPNOTSUPP, 6: errno.ENETUNREACH, 7: errno.EHOSTDOWN,
                  8: errno.ENONET, 9: errno.ENETUNREACH, 10: errno.EHOSTUNREACH, 11: errno.ENETUNREACH,
                  12: errno.EHOSTUNREACH, 13: errno.EHOSTUNREACH, 14: errno.EHOSTUNREACH,
                  15: errno.EHOSTUNREACH}
