"""``tracepath`` as iputils 20221126 has it (``tracepath.c``, IPv4), over the model's UDP
socket: the hops to a host and the path MTU on the way.

One unconnected UDP socket (its source port bound at the first ``sendto``) with
``IP_MTU_DISCOVER`` = ``IP_PMTUDISC_DO`` (DF, and an unconnected DF datagram has IP ID 0),
``IP_RECVERR`` and ``IP_RECVTTL``; for each TTL from 1 (``IP_TTL``), probes to port 44444
(``-p``) + a counter, each ``mtu - 28`` bytes long: the TTL (32 bits, little-endian), 4
bytes of padding, the ``CLOCK_MONOTONIC`` send time (``struct timespec``), zeros.  The MTU
starts at 65535 (``-l``): the first ``sendto`` fails with EMSGSIZE and the local error
gives the route's MTU (``1?: [LOCALHOST] pmtu 1500``); a fragmentation needed on the way
gives the next (``pmtu 1450``), and the probe goes again at the new size.  Each answer is a
line: the hop (from the TTL the probe was sent with), its address padded to 52 columns,
the round trip (``%3ld.%03ldms``) and what it was: nothing for a time exceeded (``asymm N``
when the answer's TTL says it came back over another number of hops), ``pmtu N``,
``reached`` (port unreachable), ``!H`` ``!N`` ``!A`` ``!P``; ``N:  no reply`` after three
probes unanswered for 1 s each; and last ``Resume: pmtu N hops H back B``.

Simplified: the probe a message answers is found from its destination port (the ``his``
slots) only, never from the quoted probe header, which the model's sockets do not hand
over: the two agree unless a router mangles the quote (``This broken router returned
corrupted payload``); names come from ``names`` (an ``/etc/hosts``), and an address
without one is printed as itself, as with a resolver that finds no PTR record (a resolver
that fails prints ``???``); ``-4``/``-6`` and IPv6 are not modelled.
"""
import errno
import os

import attrs

from emunet.apps.base import Process
from emunet.sim import S
from emunet.stack.ipv4 import IP_PMTUDISC_DO
from emunet.wire.ipv4 import int_to_ip, ip_to_int

MAX_PROBES = 10
MAX_HOPS_DEFAULT = 30
MAX_HOPS_LIMIT = 255
HOST_COLUMN_SIZE = 52
HIS_ARRAY_SIZE = 64
DEFAULT_OVERHEAD_IPV4 = 28
DEFAULT_MTU_IPV4 = 65535
DEFAULT_BASEPORT = 44444
#: ``CLOCK_MONOTONIC`` at the simulation's time 0: the machine's uptime (a send time whose
#: tv_sec is 0 would make tracepath call every router broken)
UPTIME_NS = 600 * S


@attrs.define
class _Error:
    """One message of the socket's error queue (``sock_extended_err`` and its control
    messages): ``offender`` None for a local error (``SO_EE_ORIGIN_LOCAL``); ``port`` the
    destination port of the probe it is about; ``ttl`` the answer's TTL, -1 if unknown."""

    ee_errno: int
    offender: str = None
    type: int = 0
    code: int = 0
    info: int = 0
    port: int = 0
    ttl: int = -1


class Tracepath(Process):
    """``tracepath [-n] [-b] [-l pktlen] [-m max_hops] [-p port] destination``; see the
    module's docstring.  ``names`` maps addresses to names (without ``-n``, or with
    ``-b``)."""

    name = "tracepath"

    def __init__(self, host: str, numeric: bool = False, both: bool = False, length: int = 0,
                 max_hops: int = MAX_HOPS_DEFAULT, port: int = 0, names: dict = None):
        super().__init__()
        self.host = host
        self.no_resolve = numeric
        self.show_both = both
        self.mtu = length
        self.max_hops = max_hops
        self.base_port = port
        self.names = {"127.0.0.1": "localhost", **(names or {})}
        self.overhead = DEFAULT_OVERHEAD_IPV4
        self.ttl = 0
        self.hops_to = -1
        self.hops_from = -1
        self.his = [[0, 0] for _ in range(HIS_ARRAY_SIZE)]   # [hops, send time (ns)] per slot
        self.hisptr = 0
        self.dst = 0
        self.sock = None
        self.errq = []
        self.rxq = []
        self.pids = []
        self._it = None
        self._wait = None        # the select() timeout while tracepath waits for its socket

    @classmethod
    def from_argv(cls, argv, names: dict = None) -> "Tracepath":
        """``Tracepath.from_argv(["-n", "-l", "1500", "100.96.2.2"])``."""
        kw, args, it = {"names": names}, [], iter(argv)
        value_opts = {"-l": "length", "-m": "max_hops", "-p": "port"}
        for a in it:
            if a == "-n":
                kw["numeric"] = True
            elif a == "-b":
                kw["both"] = True
            elif a[:2] in value_opts:
                kw[value_opts[a[:2]]] = int(a[2:] if len(a) > 2 else next(it))
            elif a.startswith("-"):
                raise ValueError(f"tracepath: option {a} is not modelled")
            else:
                args.append(a)
        if len(args) != 1:
            raise ValueError("tracepath: one destination")
        return cls(args[0], **kw)

    # -- main ------------------------------------------------------------------------
    def start(self) -> None:
        host = self.host
        if not self.base_port:
            host, _, port = host.partition("/")      # "backward compatibility": host/port
            self.base_port = int(port) if port else DEFAULT_BASEPORT
        try:
            self.dst = ip_to_int(host)
        except (ValueError, OSError):
            self._die(f"{host}: Name or service not known")
            return
        if not self.mtu:
            self.mtu = DEFAULT_MTU_IPV4
        if self.mtu <= self.overhead:
            self._die(f"pktlen must be within: {self.overhead} < value <= 2147483647")
            return
        sk = self.sock = self.ns.udp.socket()
        sk.pmtudisc = IP_PMTUDISC_DO
        sk.recverr = True
        sk.on_recverr = self._on_recverr
        sk.on_recv = lambda data, addr: self._queue(self.rxq, data)
        self._it = self._main()
        self._run()

    def _die(self, text: str) -> None:
        """``error(1, 0, ...)``: the program's name, the message, exit 1."""
        self.eprint(f"tracepath: {text}")
        self.exit(1)

    def _monotonic(self) -> int:
        return UPTIME_NS + self.sim.now

    def _main(self):
        """``main``'s loop over the TTLs; yields where tracepath waits in ``select``."""
        done = False
        self.ttl = 1
        while self.ttl <= self.max_hops and not done:
            self.sock.ip_ttl = self.ttl
            res = -1
            i = 0
            while i < 3:
                old_mtu = self.mtu
                res = yield from self._probe_ttl()
                if self.mtu != old_mtu:
                    i = 0        # restart: the new MTU gets three tries of its own
                    continue
                if res == 0:
                    done = True
                    break
                if res > 0:
                    break
                i += 1
            if done:
                break
            if res < 0:
                self.print(f"{self.ttl:2d}:  no reply")
            self.ttl += 1
        if not done:
            self.print(f"     Too many hops: pmtu {self.mtu}")
        self.print(f"     Resume: pmtu {self.mtu} " + (f"hops {self.hops_to} " if self.hops_to >= 0 else "")
                   + (f"back {self.hops_from} " if self.hops_from >= 0 else ""))
        self.exit(0)

    def _probe_ttl(self):
        """``probe_ttl``: send a probe (again, while the MTU comes down) and read what answers."""
        sent = False
        i = 0
        while i < MAX_PROBES:
            dport = self.base_port + self.hisptr
            ts = self._monotonic()
            self.his[self.hisptr] = [self.ttl, ts]
            if self._sendto(dport, ts):
                sent = True
                break
            res = self._recverr()
            self.his[self.hisptr][0] = 0
            if res == 0:
                return 0
            i = 0 if res > 0 else i + 1
        self.hisptr = (self.hisptr + 1) & (HIS_ARRAY_SIZE - 1)
        if sent:
            if not (self.errq or self.rxq):
                yield "select"        # data_wait: up to 1 s for the socket to have something
            if self.rxq:
                self.rxq.pop(0)
                self.print(f"{self.ttl:2d}?: reply received 8)")
                return 0
            return self._recverr()
        self.print(f"{self.ttl:2d}:  send failed")
        return 0

    def _sendto(self, dport: int, ts: int) -> bool:
        """One probe: the header (TTL, padding, the send time), zeros up to ``mtu - 28``."""
        sec, nsec = divmod(ts, S)
        data = (self.ttl.to_bytes(4, "little") + bytes(4) + sec.to_bytes(8, "little")
                + nsec.to_bytes(8, "little")).ljust(self.mtu - self.overhead, b"\0")
        pid = self.sim.new_pid()
        try:
            self.sock.sendto(data, (int_to_ip(self.dst), dport), pid=pid)
        except OSError as e:
            if e.errno == errno.EMSGSIZE:
                # ip_append_data's ip_local_error (IP_RECVERR), which the model's UDP send
                # leaves out; the unconnected socket's port is 0
                self.errq.append(_Error(e.errno, info=self.ns.ipv4.emsgsize_mtu))
            return False
        self.pids.append(pid)
        return True

    # -- the socket ---------------------------------------------------------------------
    def _on_recverr(self, err: int, offender: str, type_: int, code: int, info: int, port: int,
                    ttl: int = 0) -> None:
        self._queue(self.errq, _Error(err, offender, type_, code, info, port, ttl or -1))

    def _queue(self, q: list, item) -> None:
        q.append(item)
        if self._wait is not None:            # select() returns: the socket is readable
            self._wait.cancel()
            self._wait = None
            self.sim.after(0, self._run)

    def _run(self) -> None:
        self._wait = None
        if not self.running:
            return
        try:
            next(self._it)
        except StopIteration:
            return
        self._wait = self.sim.after(1 * S, self._run)

    def _recverr(self) -> int:
        """``recverr``: read the error queue to the end, a line for each message; 0 when
        the trace is over, the MTU when something was read, else -1."""
        progress = -1
        while self.errq:
            e = self.errq.pop(0)
            now = self._monotonic()
            progress = self.mtu
            sndhops, retts = -1, None
            slot = e.port - self.base_port
            if 0 <= slot < HIS_ARRAY_SIZE - 1 and self.his[slot][0]:
                sndhops, retts = self.his[slot]
                self.his[slot][0] = 0
            if e.offender is None:
                line = f"{self.ttl:2d}?: {'[LOCALHOST]':<32} "
            else:
                line = (f"{sndhops:2d}:  " if sndhops > 0 else f"{self.ttl:2d}?: ") + self._host(e.offender)
            if retts is not None:
                us = (now - retts) // 1000
                line += f"{us // 1000:3d}.{us % 1000:03d}ms "
            rethops = e.ttl
            rethops = 65 - rethops if rethops <= 64 else 129 - rethops if rethops <= 128 else 256 - rethops
            if e.ee_errno == errno.EMSGSIZE:
                self.print(f"{line}pmtu {e.info}")
                self.mtu = progress = e.info
                continue
            if e.ee_errno == errno.ECONNREFUSED:
                self.print(f"{line}reached")
                self.hops_to = self.ttl if sndhops < 0 else sndhops
                self.hops_from = rethops
                return 0
            if e.ee_errno == errno.EHOSTUNREACH and e.offender is not None and (e.type, e.code) == (11, 0):
                if (sndhops >= 0 and rethops != sndhops) or (sndhops < 0 and rethops != self.ttl):
                    line += f"asymm {rethops:2d} "
                self.print(line)
                continue
            notes = {errno.EPROTO: "!P", errno.EHOSTUNREACH: "!H", errno.ENETUNREACH: "!N", errno.EACCES: "!A"}
            if e.ee_errno in notes:
                self.print(line + notes[e.ee_errno])
            else:
                self.print(line)
                self.eprint(f"tracepath: NET ERROR: {os.strerror(e.ee_errno)}")
            return 0
        return progress

    def _host(self, addr: str) -> str:
        """``print_host``: the name or the address (and the other in brackets with ``-b``),
        padded to 52 columns."""
        name = self.names.get(addr, addr)
        a, b = (addr, name) if self.no_resolve else (name, addr)
        text = f"{a} ({b})" if self.show_both else a
        return text + " " * (HOST_COLUMN_SIZE - min(len(text), HOST_COLUMN_SIZE - 1))

    def on_exit(self) -> None:
        if self._wait is not None:
            self._wait.cancel()
            self._wait = None
        if self.sock is not None:
            self.sock.close()


__all__ = ["Tracepath", "UPTIME_NS"]
