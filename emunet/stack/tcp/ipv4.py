"""The TCP layer of a namespace (``net/ipv4/tcp_ipv4.c``, with the port tables of
``net/ipv4/inet_hashtables.c`` and ``inet_connection_sock.c``): binding and ephemeral
ports (``inet_csk_get_port``, ``__inet_hash_connect``), the established and listening
tables, ``tcp_v4_rcv`` (checksum, socket lookup, hand-off to the socket's state
machine), ``tcp_v4_send_reset`` for a segment no socket wants, ``tcp_v4_err`` for ICMP
errors, the ``net.ipv4.tcp_*`` sysctls, the TCP MIB counters and the ``TcpExt:`` ones of
``/proc/net/netstat`` that the rate limits keep (``stats``), and the namespace's
challenge-ACK budget (``tcp_challenge_ack_limit``).
"""
import errno
from collections import Counter

from emunet.sim import S
from emunet.stack.tcp.constants import DEFAULT_SYSCTLS, INT_MAX, LISTEN, SYN_RECV, SYN_SENT
from emunet.stack.tcp.socket import TcpSocket, oserror
from emunet.wire.errors import Malformed
from emunet.wire.frame import CSUM_L4
from emunet.wire.ipv4 import IPPROTO_TCP, int_to_ip
from emunet.wire.tcp import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpView

#: ``icmp_err_convert``: the errno of each ICMP destination-unreachable code
ICMP_UNREACH_ERRNO = {0: errno.ENETUNREACH, 1: errno.EHOSTUNREACH, 2: errno.ENOPROTOOPT,
                      3: errno.ECONNREFUSED, 5: errno.EOPNOTSUPP, 6: errno.ENETUNREACH,
                      7: errno.EHOSTDOWN, 9: errno.ENETUNREACH, 10: errno.EHOSTUNREACH,
                      11: errno.ENETUNREACH, 12: errno.EHOSTUNREACH, 13: errno.EHOSTUNREACH}


class Tcp:
    """The TCP layer of one namespace: socket tables, ``tcp_v4_rcv`` and resets."""

    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim
        for k, v in DEFAULT_SYSCTLS.items():
            ns.sysctl.setdefault(k, v)
        ns.ipv4.inet_add_protocol(IPPROTO_TCP, self.rcv)
        self.conns = {}      # (lip, lport, rip, rport) -> socket (incl. SYN_RECV and time-wait)
        self.listeners = {}  # (ip, port) -> listening socket
        self.ports = {}      # port -> [sockets bound to it]
        self.in_segs = 0
        self.out_rsts = 0
        self.active_opens = 0
        self.passive_opens = 0
        self.attempt_fails = 0
        self.estab_resets = 0
        #: the ``TcpExt:`` counters of ``/proc/net/netstat`` (``nstat``'s ``TcpExtTCPACKSkippedSeq``
        #: is ``stats["TCPACKSkippedSeq"]``): the rate limits' ``TCPACKSkipped*``,
        #: ``TCPChallengeACK`` and ``TCPSYNChallenge``
        self.stats = Counter()
        #: ``net->ipv4.tcp_challenge_timestamp`` / ``tcp_challenge_count`` (None: not yet)
        self.tcp_challenge_timestamp = None
        self.tcp_challenge_count = 0
        #: (time_ns, socket, text) for decisions no frame carries (timeouts)
        self.log = []

    def sysctl(self, key: str):
        return self.ns.sysctl.get(key, DEFAULT_SYSCTLS.get(key))

    def sysctl_ints(self, key: str, n: int) -> tuple:
        """A vector sysctl (``tcp_rmem``, ``ip_local_port_range``) as its first ``n``
        integers, whether set as a tuple or as the string ``sysctl -w`` takes."""
        v = self.sysctl(key)
        if isinstance(v, str):
            v = tuple(int(x) for x in v.split())
        return tuple(v)[:n]

    def challenge_ack_allowed(self) -> bool:
        """The namespace-wide half of ``tcp_send_challenge_ack`` (RFC 5961 section 7): at
        most ``tcp_challenge_ack_limit`` a second, the budget drawn afresh each second
        between half of it and one and a half times it (``get_random_u32_inclusive``), so
        that its exhaustion tells an off-path attacker nothing.  The default, ``INT_MAX``
        since 6.0, switches it off: the socket's own limit is what holds."""
        limit = int(self.sysctl("net.ipv4.tcp_challenge_ack_limit"))
        if limit == INT_MAX:
            return True
        now = self.sim.now // S          # jiffies / HZ
        if now != self.tcp_challenge_timestamp:
            half = (limit + 1) >> 1
            self.tcp_challenge_timestamp = now
            self.tcp_challenge_count = self.sim.rng.randint(half, (limit + half - 1) & 0xFFFFFFFF)
        if self.tcp_challenge_count > 0:
            self.tcp_challenge_count -= 1
            return True
        return False

    def socket(self) -> TcpSocket:
        return TcpSocket(self)

    def sockets(self) -> list:
        """Every socket of the namespace (listeners first), as ``ss -tan`` lists them."""
        out = list(self.listeners.values())
        out += [s for s in self.conns.values() if s not in out]
        return out

    def note_sock(self, sock, text: str) -> None:
        """A socket event with no frame to hang a comment on (timer decisions)."""
        self.log.append((self.sim.now, sock.name, text))

    # -- binding ----------------------------------------------------------------
    def _conflict(self, sock, ip: int, port: int):
        for other in self.ports.get(port, []):
            if other is sock:
                continue
            if other.local[0] and ip and other.local[0] != ip:
                continue
            if sock.reuseaddr and other.reuseaddr and other.state != LISTEN:
                continue
            return other
        return None

    def bind(self, sock: TcpSocket, ip: int, port: int) -> None:
        """``inet_bind``: ``EADDRINUSE`` for a taken port, port 0 picks one."""
        if sock.bound:
            raise oserror(errno.EINVAL)
        if ip and not self.ns.is_local_address(ip):
            raise oserror(errno.EADDRNOTAVAIL)
        if port == 0:
            self.autobind(sock, ip)
            return
        if self._conflict(sock, ip, port) is not None:
            raise oserror(errno.EADDRINUSE)
        self._hash_port(sock, ip, port)

    def check_listen(self, sock: TcpSocket) -> None:
        """``inet_csk_listen_start`` re-checks the port: two listeners never share one."""
        other = self._conflict(sock, sock.local[0], sock.local[1])
        if other is not None and other.state == LISTEN:
            raise oserror(errno.EADDRINUSE)

    def hash_listener(self, sock: TcpSocket) -> None:
        """``inet_hash`` of a listener: SYNs to its address and port find it."""
        self.listeners[sock.local] = sock

    def lookup_listener(self, ip: int, port: int):
        """``__inet_lookup_listener``: the listener on ``ip``, else on the wildcard."""
        return self.listeners.get((ip, port)) or self.listeners.get((0, port))

    def _hash_port(self, sock, ip, port) -> None:
        sock.local = (ip, port)
        sock.bound = True
        self.ports.setdefault(port, []).append(sock)

    def inherit_port(self, child: TcpSocket) -> None:
        """``__inet_inherit_port``: an accepted child shares its listener's port."""
        child.bound = True
        self.ports.setdefault(child.local[1], []).append(child)

    def autobind(self, sock: TcpSocket, ip: int = 0) -> None:
        """``inet_csk_get_port`` with port 0: an odd port (even ones are for connect)."""
        self._hash_port(sock, ip, self._pick_port(parity=1))

    def _pick_port(self, parity: int) -> int:
        """A free port of ``ip_local_port_range`` from a random start, preferring the
        given parity (``__inet_hash_connect`` uses even ports for ``connect()``)."""
        lo, hi = self.sysctl_ints("net.ipv4.ip_local_port_range", 2)
        span = hi - lo + 1
        start = self.sim.rng.randrange(span)
        for p in (parity, 1 - parity):
            for i in range(span):
                port = lo + (start + i) % span
                if (port & 1) == p and port not in self.ports:
                    return port
        raise oserror(errno.EADDRNOTAVAIL)

    def hash_connect(self, sock: TcpSocket, src: int, dst: int, dport: int) -> None:
        """``inet_hash_connect``: an even ephemeral port for an unbound socket, the
        source address of the route, and ``EADDRNOTAVAIL`` if the 4-tuple is taken."""
        if not sock.bound:
            port = self._pick_port(parity=0)
            for _ in range(64):
                if (src, port, dst, dport) not in self.conns:
                    break
                port = self._pick_port(parity=0)
            self._hash_port(sock, 0, port)
        lip = sock.local[0] or src
        sock.local = (lip, sock.local[1])
        sock.remote = (dst, dport)
        if sock.local + sock.remote in self.conns:
            raise oserror(errno.EADDRNOTAVAIL)

    def hash(self, sock: TcpSocket) -> None:
        """``inet_ehash_insert``: segments for the 4-tuple find the socket."""
        key = sock.local + sock.remote
        self.conns[key] = sock
        sock.hashed = True

    def unhash(self, sock: TcpSocket) -> None:
        """``inet_unhash`` and ``inet_put_port``: out of every table."""
        if sock.local is not None and sock.remote is not None:
            key = sock.local + sock.remote
            if self.conns.get(key) is sock:
                del self.conns[key]
        if sock.bound and sock.local is not None:
            lst = self.ports.get(sock.local[1], [])
            if sock in lst:
                lst.remove(sock)
            if not lst:
                self.ports.pop(sock.local[1], None)
        sock.bound = False
        sock.hashed = False
        if self.listeners.get(sock.local) is sock:
            del self.listeners[sock.local]

    # -- receive ------------------------------------------------------------------
    def rcv(self, dev, frame, ipv, broadcast: bool) -> None:
        """``tcp_v4_rcv``: checksum, socket lookup, state machine; never raises on input."""
        try:
            # the checksum of a segment the sending stack built is right (Frame.csum_level)
            if frame.csum_level < CSUM_L4:
                seg = TcpView.check(frame.data, ipv.payload_offset, ipv.end, ipv.saddr, ipv.daddr)
            else:
                seg = TcpView.check(frame.data, ipv.payload_offset, ipv.end, verify=False)
        except Malformed as e:
            self.ns.count_drop(e.reason, dev, frame, e.detail)
            return
        if broadcast:
            self.ns.count_drop("OTHERHOST", dev, frame, "TCP to a broadcast address")
            return
        self.in_segs += 1
        dport = seg.dport
        sock = self.conns.get((ipv.daddr, dport, ipv.saddr, seg.sport))
        if sock is not None:
            sock.segs_in += 1
            if sock.tw:
                sock.timewait_state_process(dev, frame, ipv, seg)
            elif sock.state == SYN_RECV:
                sock.check_req(dev, frame, ipv, seg)
            elif sock.state == SYN_SENT:
                sock.rcv_synsent_state_process(dev, frame, ipv, seg)
            else:
                sock.rcv_established(dev, frame, ipv, seg)
            return
        lsock = self.lookup_listener(ipv.daddr, dport)
        if lsock is not None:
            lsock.rcv_listen(dev, frame, ipv, seg)
            return
        self.ns.count_drop("NO_SOCKET", dev, frame, f"no socket on TCP port {dport}")
        self.send_reset(ipv, seg, frame.pid, f"closed port {dport}")

    def send_reset(self, ipv, seg, pid, why: str = "") -> None:
        """``tcp_v4_send_reset``: no socket speaks, so IP ID 0, no options, window 0."""
        flags = seg.flags
        if flags & TCP_RST:
            return
        plen = seg.end - seg.off - seg.data_offset
        if flags & TCP_ACK:
            seq, ack, rflags = seg.ack, 0, TCP_RST
        else:
            seq = 0
            ack = seg.seq + plen + (1 if flags & TCP_SYN else 0) + (1 if flags & TCP_FIN else 0)
            rflags = TCP_RST | TCP_ACK
        out = TcpView.emit(seg.dport, seg.sport, seq, ack, rflags, 0, b"", b"", ipv.dst, ipv.src)
        self.out_rsts += 1
        # ``tcp_v4_send_reset`` reflects the offending segment's TOS (``arg.tos``)
        self.ns.ipv4.ip_send(ipv.dst, ipv.src, IPPROTO_TCP, out, pid, tos=ipv.tos, df=True, ident=0,
                             note=f"tcp RST{'|ACK' if rflags & TCP_ACK else ''} to "
                             f"{int_to_ip(ipv.saddr)}:{seg.sport}"
                             f"{': ' + why if why else ''}")

    # -- ICMP -----------------------------------------------------------------------
    def err(self, src, sport, dst, dport, origin, type_, code, info: int = 0, ttl: int = 0) -> bool:
        """``tcp_v4_err``: an ICMP error about a segment we sent from ``sport``: it aborts
        a connection in SYN_SENT (a request in SYN_RECV goes), and is a soft error later;
        fragmentation needed shrinks the segments (:meth:`TcpOutput.mtu_reduced`)."""
        key = (int.from_bytes(src, "big"), sport, int.from_bytes(dst, "big"), dport)
        sock = self.conns.get(key)
        if sock is None or sock.tw:
            return False
        if type_ == 3 and code == 4:
            # path-MTU discovery (RFC 1191); a listener or a request socket ignores it
            if sock.state not in (SYN_SENT, SYN_RECV):
                sock.mtu_reduced()
            return True
        err = ICMP_UNREACH_ERRNO.get(code, errno.EHOSTUNREACH) if type_ == 3 else errno.EHOSTUNREACH
        if sock.state in (SYN_SENT, SYN_RECV):
            if sock.state == SYN_SENT:
                self.attempt_fails += 1
                sock.fail(err)
            else:
                sock.done()
        else:
            sock.soft_error = err
        return True
