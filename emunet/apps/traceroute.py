"""``traceroute`` as Debian ships it (Dmitry Butskoy's 2.1.2: ``traceroute.c``, ``mod-udp.c``,
``mod-icmp.c``) over the model's sockets; checked against the real one in namespaces.

* **UDP** (the default method): a new socket per probe, bound to 0.0.0.0:0 (a fresh source
  port), ``IP_PMTUDISC_DONT`` (DF clear), ``IP_TTL``, connected (the IP ID is the socket's
  counter), ``IP_RECVERR``; to port 33434 (``-p``) + the probe's number; 32 data bytes
  0x40, 0x41, ... (60-byte packets).  **ICMP** (``-I``): one connected raw socket, echo
  requests with identifier = the pid, sequence 1, 2, ..., the same fill from byte 8 on.
* ``-q`` (3) probes per hop from TTL ``-f`` (1) to ``-m`` (30), up to ``-N`` (16) out at once,
  until a hop answers "final" (port unreachable, echo reply, ``!H`` ``!N`` ``!P`` ``!X``
  ``!F-<mtu>``...); a probe waits 5 s at most, or 3 times the round trip of an answered
  probe of its hop, or 10 times a later one's (``-w MAX,HERE,NEAR``).  ``do_it``,
  ``get_timeout``, ``check_expired``, ``recv_reply`` and ``print_probe`` are ported line
  for line: probes are sent, expire and are printed in the real order.

Time: ``do_it`` is a generator.  A probe's system calls take :data:`UDP_PROBE_NS`
(:data:`ICMP_PROBE_NS`); ``poll`` sleeps, in whole ms, until a socket is readable, and
each socket is read once per ``poll``, errors first.  On veths the kernel finishes a
probe's round trip inside its ``send`` (softirqs run as the sender re-enables them), so
answers come between probes: per-probe costs longer than the model's round trips give
that order.  Times: the virtual wall clock in µs (``gettimeofday``, ``SO_TIMESTAMP``).

``-F`` is ``IP_PMTUDISC_PROBE``: DF, held to the device's MTU and never to a learned path
MTU.  Simplified: a local ``EMSGSIZE``'s error is made here from ``ipv4.emsgsize_mtu``; names come from ``names`` (an
``/etc/hosts``), never DNS; ``--back``, ``-t``, ``-g``, ``-s``, ``-i``, ``-e``, ``-A`` and
the TCP/UDPLITE/DCCP/raw methods are not modelled.
"""
import errno
import math
import os

import attrs

from emunet.apps.base import Process
from emunet.sim import MS, US
from emunet.stack.ipv4 import IP_PMTUDISC_DONT, IP_PMTUDISC_PROBE
from emunet.wire.icmp import ICMP_ECHO, ICMP_ECHOREPLY, IcmpView
from emunet.wire.ipv4 import IPPROTO_ICMP, int_to_ip, ip_to_int

DEF_START_PORT = 33434
DEF_HOPS = 30
MAX_HOPS = 255
MAX_PROBES = 10
DEF_SIM_PROBES = 16
DEF_NUM_PROBES = 3
DEF_WAIT_SECS = 5.0
DEF_HERE_FACTOR = 3.0
DEF_NEAR_FACTOR = 10.0
DEF_WAIT_PREC = 0.001      # +1 ms to avoid precision issues
DEF_DATA_LEN = 40          # all but the IP header
MAX_PACKET_LEN = 65000
#: a UDP probe's system calls (socket, setsockopts, bind, connect, send): 150-200 µs on
#: the kernel tests' machine, the round trip on veths included
UDP_PROBE_NS = 100 * US
#: an echo request's ``sendto`` (15 µs there; longer here, so that the model's round trips,
#: 11 µs pod to pod across flannel's VXLAN, end before the next request, as on veths)
ICMP_PROBE_NS = 50 * US

#: ``parse_icmp_res``'s annotations of a destination unreachable, by code
UNREACH_NOTE = {0: "!N", 11: "!N", 8: "!N", 9: "!N", 1: "!H", 7: "!H", 12: "!H",
                10: "!X", 13: "!X", 2: "!P", 3: "", 5: "!S", 14: "!V", 15: "!C"}


def ttl2hops(ttl: int) -> int:
    """How many hops back an answer came, guessed from its TTL (64, 128 or 255 at the start)."""
    return (65 if ttl <= 64 else 129 if ttl <= 128 else 256) - ttl


def fill(n: int, start: int = 0) -> bytes:
    """traceroute's probe data: byte ``i`` is 0x40 + (i & 0x3f), ``i`` counted from ``start``."""
    return bytes(0x40 + (i & 0x3F) for i in range(start, n))


@attrs.define
class Probe:
    """``struct probe_struct``: one probe, its answer and how it is printed."""

    done: bool = False
    final: bool = False
    res: int = None           # who answered (an address), None: nobody (yet)
    send_time: float = 0.0    # seconds, gettimeofday's; 0: not sent
    recv_time: float = 0.0
    recv_ttl: int = 0
    sk: object = None         # UDP: the probe's own socket while it waits
    seq: int = 0              # UDP: its destination port; ICMP: its sequence number
    err_str: str = ""


@attrs.define
class Reply:
    """One ``recvmsg``: a datagram or echo reply from ``src`` or, ``err``, a
    ``sock_extended_err`` (``offender`` None: a local error); ``ident``/``seq``: the echo it
    is about; ``time``: ``SO_TIMESTAMP``, None for a local error (no stamp: the read's)."""

    err: bool
    time: float = None
    src: int = 0
    ttl: int = 0
    ee_errno: int = 0
    offender: str = None
    type: int = 0
    code: int = 0
    info: int = 0
    ident: int = 0
    seq: int = 0


@attrs.define
class _Fd:
    """A socket as ``poll`` sees it: what ``recvmsg`` would return next, errors first."""

    errq: list = attrs.Factory(list)
    rxq: list = attrs.Factory(list)


class Traceroute(Process):
    """``traceroute [-I] [-n] [-F] [--mtu] [-f first_ttl] [-m max_ttl] [-N squeries] [-p port]
    [-q nqueries] [-w MAX,HERE,NEAR] host [packetlen]``.  ``wait``: ``-w``'s number or
    ``"MAX[,HERE[,NEAR]]"`` (factors left out are 0), None for 5 s, 3 and 10; ``names``:
    addresses to the names ``getnameinfo`` would find (without ``-n``)."""

    name = "traceroute"

    def __init__(self, host: str, packet_len: int = None, icmp: bool = False, numeric: bool = False,
                 first_hop: int = 1, max_hops: int = DEF_HOPS, queries: int = DEF_NUM_PROBES,
                 sim_queries: int = DEF_SIM_PROBES, wait=None, port: int = 0,
                 dontfrag: bool = False, mtudisc: bool = False, names: dict = None):
        super().__init__()
        self.host = host
        self.packet_len = -1 if packet_len is None else packet_len
        self.icmp = icmp
        self.numeric = numeric
        self.first_hop = first_hop
        self.max_hops = max_hops
        self.probes_per_hop = queries
        self.sim_probes = sim_queries
        self.wait_secs, self.here_factor, self.near_factor = _wait_specs(wait)
        self.port_seq = port
        self.dontfrag = dontfrag or mtudisc
        self.mtudisc = mtudisc
        if mtudisc:                     # --mtu: -F -N 1 and, without a length, 65000 bytes
            self.sim_probes = 1
            self.packet_len = MAX_PACKET_LEN if packet_len is None else packet_len
        self.names = {"127.0.0.1": "localhost", **(names or {})}
        self.dst = 0
        self.probes = []
        self.header_len = 20 + (0 if icmp else 8)
        self.data_len = 0
        self.ident = 0
        self._seq = 1
        self._inet_id = 0
        self._port = 0
        self._fds = {}          # id of the socket -> (its _Fd, probe or None), in poll order
        self._icmp_fd = self._run_it = None
        self._polling = None    # the poll's timeout event while traceroute sleeps in poll()
        self.pids = []

    # -- the command line ----------------------------------------------------------
    @classmethod
    def from_argv(cls, argv, names: dict = None) -> "Traceroute":
        """The program as a command line gives it: ``Traceroute.from_argv(["-n", "-I",
        "172.17.0.8"])`` (the options of the class docstring; ``--mtu`` too)."""
        kw, args, it = {"names": names}, [], iter(argv)
        flags = {"-I": "icmp", "--icmp": "icmp", "-n": "numeric", "-F": "dontfrag", "--dont-fragment": "dontfrag",
                 "--mtu": "mtudisc"}
        value_opts = {"-f": ("first_hop", int), "-m": ("max_hops", int), "-N": ("sim_queries", int),
                      "-p": ("port", int), "-q": ("queries", int), "-w": ("wait", str)}
        for a in it:
            if a in flags:
                kw[flags[a]] = True
            elif a[:2] in value_opts:
                key, conv = value_opts[a[:2]]
                kw[key] = conv(a[2:] if len(a) > 2 else next(it))
            elif a.startswith("-"):
                raise ValueError(f"traceroute: option {a} is not modelled")
            else:
                args.append(a)
        if not 1 <= len(args) <= 2:
            raise ValueError("traceroute: a host and at most a packet length")
        return cls(args[0], int(args[1]) if len(args) > 1 else None, **kw)

    # -- main ----------------------------------------------------------------------
    def start(self) -> None:
        try:
            self.dst = ip_to_int(self.host)
        except (ValueError, OSError):
            self.eprint(f"{self.host}: Name or service not known")
            self.eprint(f"Cannot handle \"host\" cmdline arg `{self.host}' on position 1 (argc 1)")
            self.exit(2)
            return
        for bad, text in ((not self.first_hop or self.first_hop > self.max_hops, "first hop out of range"),
                          (self.max_hops > MAX_HOPS, f"max hops cannot be more than {MAX_HOPS}"),
                          (not 0 < self.probes_per_hop <= MAX_PROBES, f"no more than {MAX_PROBES} probes per hop"),
                          (self.packet_len > MAX_PACKET_LEN, f"too big packetlen {self.packet_len} specified")):
            if bad:                     # ex_error
                self.eprint(text)
                self.exit(2)
                return
        ops_header_len = 0 if self.icmp else 8
        if self.packet_len < 0:
            self.data_len = DEF_DATA_LEN - ops_header_len
        elif self.packet_len >= self.header_len:
            self.data_len = self.packet_len - self.header_len
        self.probes = [Probe() for _ in range(self.max_hops * self.probes_per_hop)]
        if self.icmp:
            if not self._icmp_init():
                return
        else:
            self._port = self.port_seq or DEF_START_PORT
        self.print(f"traceroute to {self.host} ({int_to_ip(self.dst)}), {self.max_hops} hops max, "
                   f"{self.header_len + self.data_len} byte packets")
        self._run_it = self._do_it()
        self._run()

    def _error(self, what: str, code: int) -> None:
        """``error()``: ``perror`` after a new line (which ends the header line), exit 1."""
        self.eprint(f"{what}: {os.strerror(code)}")
        self.exit(1)

    def _now(self) -> float:
        """``get_time()``: gettimeofday (the virtual wall clock) as a double."""
        us = self.sim.wall_ns // 1000
        return (us % 1_000_000) / 1_000_000 + us // 1_000_000

    def _out(self, text: str) -> None:
        self.stdout[-1] += text

    def _do_it(self):
        """``do_it``: yields ``("cpu", ns)`` for a probe's system calls and ``("poll",
        seconds)`` where the real one calls ``do_poll``."""
        q = self.probes_per_hop
        start = (self.first_hop - 1) * q
        end = len(self.probes)
        while start < end:
            num = 0
            next_time = 0.0
            now_time = self._now()
            n = start
            while n < end:
                pb = self.probes[n]
                if n == start and not pb.done and pb.send_time:
                    expire_time = pb.send_time + self._get_timeout(n)
                    if expire_time > now_time:
                        next_time = expire_time
                    else:
                        self._probe_done(pb)        # expire_probe
                        self._check_expired(n)
                        pb = self.probes[n]
                if pb.done:
                    if n == start:
                        self._print_probe(n)
                        start += 1
                    if pb.final:
                        end = (n // q + 1) * q
                    n += 1
                    continue
                if not pb.send_time:
                    yield ("cpu", ICMP_PROBE_NS if self.icmp else UDP_PROBE_NS)
                    if not self.running:
                        return
                    (self._icmp_send_probe if self.icmp else self._udp_send_probe)(pb, n // q + 1)
                    if not self.running:
                        return
                    if not pb.send_time:
                        if next_time:
                            break
                        self._error("send probe", errno.ENOBUFS)
                        return
                if not next_time:
                    next_time = pb.send_time + self._get_timeout(n)
                num += 1
                if num >= self.sim_probes:
                    break
                n += 1
            if next_time:
                yield ("poll", max(0.0, next_time - self._now()))
                if not self.running:
                    return
        self.exit(0)

    def _run(self) -> None:
        """Run ``do_it`` until it blocks in a system call or in ``poll``."""
        while self.running:
            try:
                op, arg = next(self._run_it)
            except StopIteration:
                return
            if op == "cpu":
                self.sim.after(arg, self._run)
                return
            if any(fd.errq or fd.rxq for fd, _ in self._fds.values()):
                self._dispatch()
                continue
            # poll(..., ceil(timeout * 1000)); with no socket it returns at once and do_it
            # spins till then: the same as sleeping
            self._polling = self.sim.after(math.ceil(arg * 1000) * MS, self._wake)
            return

    def _wake(self) -> None:
        self._polling = None
        if self.running:
            self._dispatch()
            self._run()

    def _dispatch(self) -> None:
        """``do_poll``'s callbacks: one ``recvmsg`` per readable socket, errors (POLLERR) first."""
        for key, (fd, _) in list(self._fds.items()):
            if not self.running:
                return
            if key not in self._fds:
                continue
            if fd.errq:
                self._recv_reply(key, fd.errq.pop(0))
            elif fd.rxq:
                self._recv_reply(key, fd.rxq.pop(0))

    # -- the methods: probes, sockets ------------------------------------------------
    def _udp_send_probe(self, pb: Probe, ttl: int) -> None:
        """``udp_send_probe``: a socket of its own, connected to port ``curr_port``."""
        sk = self.ns.udp.socket()
        sk.pmtudisc = self._pmtudisc()
        sk.bind(("0.0.0.0", 0))
        sk.ip_ttl = ttl
        dport = self._port
        if self.ns.fib.source_for(self.dst) is None:    # ip4_datagram_connect's route lookup
            sk.close()
            self._error("connect", errno.ENETUNREACH)
            return
        sk.connect((int_to_ip(self.dst), dport))
        sk.recverr = True
        fd = _Fd()
        sk.on_recverr = lambda e, off, t, c, info, port, ttl: self._queue(fd.errq, Reply(
            True, None if off is None else self._now(), ttl=ttl, ee_errno=e, offender=off, type=t, code=c,
            info=info))
        sk.on_recv = lambda data, addr: self._queue(fd.rxq, Reply(False, self._now(), ip_to_int(addr[0])))
        pb.send_time = self._now()
        pid = self.sim.new_pid()
        self.pids.append(pid)
        try:
            sk.send(fill(self.data_len), pid=pid)
        except OSError as e:
            if e.errno in (errno.ENOBUFS, errno.EAGAIN):
                sk.close()
                pb.send_time = 0.0
                return
            if e.errno not in (errno.EMSGSIZE, errno.EHOSTUNREACH):   # recverr says more
                sk.close()
                self._error("send", e.errno)
                return
            if e.errno == errno.EMSGSIZE:
                # ip_append_data's ip_local_error, which the model's UDP send leaves out
                fd.errq.append(Reply(True, ee_errno=e.errno, info=self.ns.ipv4.emsgsize_mtu))
        pb.sk = sk
        self._fds[id(sk)] = (fd, pb)
        pb.seq = dport
        self._port += 1

    def _pmtudisc(self) -> int:
        """``IP_MTU_DISCOVER``: DONT, or with ``-F`` PROBE."""
        return IP_PMTUDISC_PROBE if self.dontfrag else IP_PMTUDISC_DONT

    def _queue(self, q: list, item) -> None:
        """A socket has something to read: a traceroute asleep in poll() wakes up."""
        q.append(item)
        if self._polling is not None:
            self._polling.cancel()
            self._polling = None
            self.sim.after(0, self._wake)   # after whatever else arrives at this instant

    def _icmp_init(self) -> bool:
        """``icmp_init`` as root: a raw socket, connected, identifier = the pid."""
        if self.ns.fib.source_for(self.dst) is None:
            self.eprint("")
            self._error("connect", errno.ENETUNREACH)
            return False
        self.data_len = max(self.data_len, 8)
        self.ident = self.pid & 0xFFFF
        while self.ident in self.ns.icmp.sockets:    # another program's ping socket has it
            self.ident = (self.ident + 1) & 0xFFFF
        self.ns.icmp.sockets[self.ident] = self
        self._inet_id = self.sim.rng.getrandbits(16)   # connect(): inet_id = get_random_u16()
        self._icmp_fd = _Fd()
        self._fds["icmp"] = (self._icmp_fd, None)
        return True

    def _icmp_send_probe(self, pb: Probe, ttl: int) -> None:
        msg = IcmpView.emit_echo(ICMP_ECHO, self.ident, self._seq, fill(self.data_len, 8))
        pb.send_time = self._now()
        pid = self.sim.new_pid()
        self.pids.append(pid)
        self._inet_id = (self._inet_id + 1) & 0xFFFF
        err = self.ns.ipv4.ip_send(None, self.dst.to_bytes(4, "big"), IPPROTO_ICMP, msg, pid, ttl=ttl,
                                   pmtudisc=self._pmtudisc(), ident=self._inet_id,
                                   note=f"traceroute: echo request id {self.ident} seq {self._seq} ttl {ttl}"
                                   if self.sim.observers else None)
        if err == errno.EMSGSIZE:
            # ip_append_data's ip_local_error: the raw socket has IP_RECVERR
            self._queue(self._icmp_fd.errq, Reply(True, ee_errno=err, info=self.ns.ipv4.emsgsize_mtu))
        elif err and err != errno.EHOSTUNREACH:
            self._error("send", err)
            return
        pb.seq = self._seq
        self._seq = (self._seq + 1) & 0xFFFF

    def on_echo_reply(self, frame, ipv, icmp) -> None:
        """The raw socket: an echo reply from the host it is connected to."""
        if self.running and ipv.saddr == self.dst:
            self._queue(self._icmp_fd.rxq, Reply(False, self._now(), ipv.saddr, ipv.ttl, type=ICMP_ECHOREPLY,
                                                 ident=icmp.ident, seq=icmp.seq))

    def on_icmp_error(self, origin: str, type_: int, code: int, quoted: bytes, info: int = 0) -> None:
        """``raw_err`` with IP_RECVERR: every error about an echo request of ours is queued."""
        if not self.running or type_ in (4, 5):
            return
        ihl = (quoted[0] & 0x0F) * 4
        ident = int.from_bytes(quoted[ihl + 4:ihl + 6], "big")
        seq = int.from_bytes(quoted[ihl + 6:ihl + 8], "big")
        self._queue(self._icmp_fd.errq, Reply(True, self._now(), ee_errno=errno.EHOSTUNREACH, offender=origin,
                                              type=type_, code=code, info=info, ident=ident, seq=seq))

    # -- recv_reply -------------------------------------------------------------------
    def _check_reply(self, key, m: Reply):
        """``udp_check_reply`` / ``icmp_check_reply``: the probe a message answers."""
        if not self.icmp:
            pb = self._fds[key][1]
            if not m.err:
                pb.final = True
            return pb
        if m.err and m.offender is None:
            return None                # a local error carries no ICMP header to match
        if m.ident != self.ident or m.seq <= 0:
            return None
        pb = next((p for p in self.probes if p.seq == m.seq), None)
        if pb is not None and not m.err:
            pb.final = True
        return pb

    def _recv_reply(self, key, m: Reply) -> None:
        pb = self._check_reply(key, m)
        if pb is None:
            # a local "frag needed" (no ICMP header to match) goes to the first probe
            if not (m.err and self.dontfrag and m.offender is None):
                return
            pb = self.probes[(self.first_hop - 1) * self.probes_per_hop]
            if pb.done:
                return
        pb.recv_time = self._now() if m.time is None else m.time
        pb.recv_ttl = m.ttl
        if not m.err:
            pb.res = m.src
        elif m.offender is not None:
            pb.res = ip_to_int(m.offender)
            self._parse_icmp_res(pb, m.type, m.code, m.info)
        else:
            if m.ee_errno != errno.EMSGSIZE or not m.info:
                self._error("local recverr", m.ee_errno)
                return
            pb.err_str = f"!F-{m.info}"
            pb.final = True
        if m.err and self.mtudisc and self.header_len <= m.info < self.header_len + self.data_len:
            self.data_len = m.info - self.header_len
            self._probe_done(pb)
            # the previous hop answered here: the probe is sent again, noting the MTU
            self.probes[self.probes.index(pb)] = Probe(err_str=f"F={m.info}")
            return
        self._probe_done(pb)

    def _parse_icmp_res(self, pb: Probe, type_: int, code: int, info: int) -> None:
        if type_ == 11 and code == 0:
            return
        if type_ == 3:
            text = f"!F-{info}" if code == 4 else UNREACH_NOTE.get(code, f"!<{code}>")
        else:
            text = f"!<{type_}-{code}>"
        if text:
            pb.err_str = text[:15]
        pb.final = True

    def _probe_done(self, pb: Probe) -> None:
        if pb.sk is not None:
            self._fds.pop(id(pb.sk), None)
            pb.sk.close()
            pb.sk = None
        pb.seq = 0
        pb.done = True

    # -- timeouts -------------------------------------------------------------------------
    def _get_timeout(self, idx: int) -> float:
        probes, q = self.probes, self.probes_per_hop
        if self.here_factor:
            for p in probes[idx - idx % q:idx - idx % q + q]:
                value = p.recv_time - p.send_time
                if p.done and value > 0:
                    return min((value + DEF_WAIT_PREC) * self.here_factor, self.wait_secs)
        if self.near_factor:
            for p in probes[idx + 1:]:
                if not p.send_time:
                    break
                value = p.recv_time - p.send_time
                if p.done and value > 0:
                    return min((value + DEF_WAIT_PREC) * self.near_factor, self.wait_secs)
        return self.wait_secs

    def _check_expired(self, idx: int) -> None:
        """``check_expired``: an expired probe followed by a final answer to a later one
        takes that answer when it seems to be this hop's (``* * final`` sent at once)."""
        probes, q = self.probes, self.probes_per_hop
        pb = probes[idx]
        if not pb.done:
            return
        pfp = None
        for p in probes[idx - idx % q:idx]:
            if not p.done or not p.final:
                return
            pfp = p
        fi = None
        for i in range(idx + 1, len(probes)):
            p = probes[i]
            if not p.send_time:
                break
            if p.done:
                if not p.final:
                    return
                fi = i
                break
        if fi is None or not probes[fi].err_str:
            return
        fp = probes[fi]
        if not (pfp is not None or idx % q + (fi - idx) < q
                or any(p.res is not None and p.res == fp.res for p in probes[:idx])):
            if not fp.recv_ttl:
                return             # no idea: assume expired
            # the hops back its TTL says, against the nearest earlier time exceeded
            back_hops = ttl2hops(fp.recv_ttl)
            for i in range(idx - 1, -1, -1):
                p = probes[i]
                if p.done and not p.final and p.recv_ttl:
                    hops = ttl2hops(p.recv_ttl)
                    if hops < back_hops:
                        back_hops = back_hops - hops + i // q + 1
                        break
            if back_hops > idx // q + 1:
                return
        probes[idx] = fp
        probes[fi] = Probe(send_time=1.0)     # blocks a re-send

    # -- printing ---------------------------------------------------------------------------
    def _addr(self, res: int) -> str:
        text = int_to_ip(res)
        return f" {text}" if self.numeric else f" {self.names.get(text, text)} ({text})"

    def _print_probe(self, idx: int) -> None:
        q = self.probes_per_hop
        pb = self.probes[idx]
        ttl, np_ = idx // q + 1, idx % q
        if np_ == 0:
            self.stdout.append(f"{ttl:2d} ")
        if pb.res is None:
            self._out(" *")
        else:
            prn = not np_
            if np_:
                j = idx - 1
                while np_ and self.probes[j].res is None:   # skip expired
                    j -= 1
                    np_ -= 1
                if not np_ or self.probes[j].res != pb.res:
                    prn = True
            if prn:
                self._out(self._addr(pb.res))
        if pb.recv_time:
            self._out(f"  {(pb.recv_time - pb.send_time) * 1000:.3f} ms")
        if pb.err_str:
            self._out(f" {pb.err_str}")

    def on_exit(self) -> None:
        for _, pb in self._fds.values():
            if pb is not None:
                pb.sk.close()
        self._fds.clear()
        if self.icmp and self.ns.icmp.sockets.get(self.ident) is self:
            del self.ns.icmp.sockets[self.ident]
        if self._polling is not None:
            self._polling.cancel()
            self._polling = None


def _wait_specs(wait):
    """``-w MAX,HERE,NEAR`` as ``set_wait_specs`` reads it: the factors not given are 0."""
    if wait is None:
        return DEF_WAIT_SECS, DEF_HERE_FACTOR, DEF_NEAR_FACTOR
    parts = [float(x) for x in str(wait).split(",")]
    if not 1 <= len(parts) <= 3 or min(parts) < 0:
        raise ValueError(f"bad wait specifications `{wait}' used")
    return tuple(parts + [0.0] * (3 - len(parts)))


__all__ = ["Traceroute", "Probe", "UDP_PROBE_NS", "ICMP_PROBE_NS"]
