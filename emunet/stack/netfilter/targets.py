"""iptables' target extensions: libxt_*/libipt_* in userspace (parse, save, print) and the
kernel's targets (``ipt_REJECT.c`` with ``nf_reject_ipv4.c``, ``xt_LOG.c`` with
``nf_log_syslog.c``, ``xt_MARK.c``, ``xt_nat.c``, ``xt_MASQUERADE.c``).

A target's :meth:`compile` gives a callable(pkt) -> verdict: ``XT_CONTINUE`` for the
non-terminating ones (MARK, LOG), ``NF_DROP`` for REJECT, and what NAT says for DNAT, SNAT
and MASQUERADE.  NAT targets only build the :class:`~emunet.stack.netfilter.nat.NatRange`;
binding the connection is :func:`emunet.stack.netfilter.nat.nf_nat_setup_info` /
:func:`~emunet.stack.netfilter.nat.nf_nat_masquerade`, looked up when the packet comes.
``TARGETS`` is the registry, name -> class; the standard targets (ACCEPT, DROP, RETURN, a
chain) are not extensions and live on the rule (:class:`~.xtables.Rule`).
"""
from emunet.stack.netfilter import nat
from emunet.stack.netfilter.extension import Extension, Opt
from emunet.stack.netfilter.hooks import (NF_DROP, NF_INET_FORWARD, NF_INET_LOCAL_IN,
                                          NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING,
                                          NF_INET_PRE_ROUTING, NF_NAT_MANIP_DST,
                                          NF_NAT_MANIP_SRC, XT_CONTINUE)
from emunet.stack.netfilter.libxtables import (SERVICES, ParameterProblem, parse_mark_mask,
                                               parse_uint, save_string, strtoul_prefix)
from emunet.wire.tcp import TcpView

__all__ = ["TARGETS", "RejectTarget", "LogTarget", "MarkTarget", "DnatTarget", "SnatTarget",
           "MasqueradeTarget", "log_line", "nf_send_reset", "REJECT_WITH"]


# -- REJECT ----------------------------------------------------------------------------
#: ``reject_table``: (name, alias, ICMP code to send, or None for a TCP reset)
REJECT_WITH = (("icmp-net-unreachable", "net-unreach", 0), ("icmp-host-unreachable", "host-unreach", 1),
               ("icmp-proto-unreachable", "proto-unreach", 2), ("icmp-port-unreachable", "port-unreach", 3),
               (None, None, None),   # IPT_ICMP_ECHOREPLY, no longer supported
               ("icmp-net-prohibited", "net-prohib", 9), ("icmp-host-prohibited", "host-prohib", 10),
               ("tcp-reset", "tcp-rst", None), ("icmp-admin-prohibited", "admin-prohib", 13))


def nf_send_reset(pkt) -> None:
    """``nf_send_reset``: answer a TCP segment with a RST, unless it is a fragment, not
    TCP, truncated, a RST itself, or addressed to a broadcast or multicast address.

    IP: TOS 0, ID 0, DF, the default TTL, the addresses swapped.  TCP: the ports swapped,
    no options, window 0; if the segment had ACK, RST with ``seq`` = its ``ack``; else
    RST+ACK with ``ack`` = its ``seq`` + SYN + FIN + payload length.  It leaves through the
    namespace's IPv4 output (``ip_local_out``), the OUTPUT hook included."""
    data = pkt.data
    ihl = pkt.ihl
    if pkt.frag_off or pkt.proto != 6 or len(data) < ihl + 20:
        return
    th = TcpView(data, ihl, pkt.total_length)
    flags = th.flags
    if flags & 0x04:
        return
    ns = pkt.ns
    if ns.fib.is_broadcast_or_multicast(pkt.daddr):
        return
    src, dst = data[16:20], data[12:16]
    if flags & 0x10:
        seq, ack, out_flags = th.ack, 0, 0x04
    else:
        payload = pkt.total_length - ihl - th.data_offset
        seq, ack, out_flags = 0, th.seq + (flags & 0x02 and 1) + (flags & 0x01) + payload, 0x14
    seg = TcpView.emit(th.dport, th.sport, seq, ack, out_flags, 0, b"", b"", src, dst)
    ns.ipv4.ip_send(src, dst, 6, seg, ns.sim.new_pid(), ident=0, df=True, tos=0,
                    note=f"REJECT tcp-reset (about packet #{pkt.pid})")


class RejectTarget(Extension):
    """``-j REJECT [--reject-with TYPE]`` (``ipt_REJECT.c``): drop, and answer with the ICMP
    destination-unreachable code chosen (``nf_send_unreach`` → ``icmp_send``: nothing for a
    non-first fragment; from INPUT the error comes from the address the packet was sent
    to, from FORWARD from the route's source towards the sender) or a TCP reset.  Only in
    the filter table's INPUT, FORWARD and OUTPUT; tcp-reset only in a ``-p tcp`` rule."""

    name = "REJECT"
    table = "filter"
    hooks = (NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT)
    judges = True
    OPTIONS = {"reject-with": Opt("reject-with", 0)}

    def __init__(self):
        super().__init__()
        self.with_ = 3

    def parse(self, opt, invert, args, ctx):
        arg = args[0].lower()
        for i, (name, alias, _) in enumerate(REJECT_WITH):
            if name is not None and (name.startswith(arg) or alias.startswith(arg)):
                self.with_ = i
                return
        raise ParameterProblem(f'unknown reject type "{args[0]}"')

    def check_entry(self, ip, hooks):
        return self.with_ != 7 or (ip.proto == 6 and not ip.inv_proto)

    def save(self, ip):
        return f" --reject-with {REJECT_WITH[self.with_][0]}"

    def print(self, ip, numeric):
        return f" reject-with {REJECT_WITH[self.with_][0]}"

    def compile(self, ip):
        code = REJECT_WITH[self.with_][2]

        if code is None:
            def reject_reset(pkt):
                nf_send_reset(pkt)
                return NF_DROP
            return reject_reset

        def reject_unreach(pkt):
            if not pkt.frag_off:
                pkt.ns.icmp.send_error(pkt.data, 3, code, 0, pkt.pid)
            return NF_DROP
        return reject_unreach


# -- LOG ------------------------------------------------------------------------------------
_LEVELS = {"alert": 1, "crit": 2, "debug": 7, "emerg": 0, "error": 3, "info": 6, "notice": 5,
           "panic": 0, "warning": 4}
_LEVEL_NAMES = ("emerg", "alert", "crit", "error", "warning", "notice", "info", "debug")
XT_LOG_TCPSEQ, XT_LOG_TCPOPT, XT_LOG_IPOPT, XT_LOG_UID, XT_LOG_MACDECODE = 1, 2, 4, 8, 32


def log_line(pkt, prefix: str = "", logflags: int = 0) -> str:
    """What ``nf_log_ip_packet`` writes for the packet (``dump_ipv4_packet``), without the
    MAC header (a hook sees the IP packet alone here) and without the trailing space."""
    out = [f"{prefix}IN={pkt.in_name} OUT={pkt.out_name} "]
    if pkt.physindev is not None and pkt.physindev is not pkt.indev:
        out.append(f"PHYSIN={pkt.physindev.name} ")
    if pkt.physoutdev is not None and pkt.physoutdev is not pkt.outdev:
        out.append(f"PHYSOUT={pkt.physoutdev.name} ")
    _dump_ipv4(out, pkt.data, 0, logflags, pkt.mark)
    return "".join(out).rstrip(" ")


def _ip(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def _dump_ipv4(out, data, off, logflags, mark):
    if len(data) < off + 20:
        out.append("TRUNCATED")
        return
    tos, total, ident, frag, ttl, proto = data[off + 1], int.from_bytes(data[off + 2:off + 4], "big"), \
        int.from_bytes(data[off + 4:off + 6], "big"), int.from_bytes(data[off + 6:off + 8], "big"), \
        data[off + 8], data[off + 9]
    ihl = (data[off] & 0x0F) * 4
    out.append(f"SRC={_ip(data[off + 12:off + 16])} DST={_ip(data[off + 16:off + 20])} ")
    out.append(f"LEN={total} TOS=0x{tos & 0x1E:02X} PREC=0x{tos & 0xE0:02X} TTL={ttl} ID={ident} ")
    if frag & 0x8000:
        out.append("CE ")
    if frag & 0x4000:
        out.append("DF ")
    if frag & 0x2000:
        out.append("MF ")
    if frag & 0x1FFF:
        out.append(f"FRAG:{frag & 0x1FFF} ")
    l4 = off + ihl
    fragment = frag & 0x1FFF
    if proto == 6:
        out.append("PROTO=TCP ")
        if not fragment:
            if len(data) < l4 + 20:
                out.append(f"INCOMPLETE [{len(data) - l4} bytes] ")
                return
            th = TcpView(data, l4)
            out.append(f"SPT={th.sport} DPT={th.dport} ")
            if logflags & XT_LOG_TCPSEQ:
                out.append(f"SEQ={th.seq} ACK={th.ack} ")
            word = int.from_bytes(data[l4 + 12:l4 + 14], "big")
            out.append(f"WINDOW={th.window} RES=0x{(word >> 6) & 0x0F:02x} ")
            flags = data[l4 + 13]
            if word & 0x0100:
                out.append("AE ")
            for bit, name in ((0x80, "CWR"), (0x40, "ECE"), (0x20, "URG"), (0x10, "ACK"), (0x08, "PSH"),
                              (0x04, "RST"), (0x02, "SYN"), (0x01, "FIN")):
                if flags & bit:
                    out.append(name + " ")
            out.append(f"URGP={th.urgent} ")
    elif proto in (17, 136):
        out.append("PROTO=UDP " if proto == 17 else "PROTO=UDPLITE ")
        if not fragment:
            if len(data) < l4 + 8:
                out.append(f"INCOMPLETE [{len(data) - l4} bytes] ")
                return
            sport, dport, length = (int.from_bytes(data[l4 + i:l4 + i + 2], "big") for i in (0, 2, 4))
            out.append(f"SPT={sport} DPT={dport} LEN={length} ")
    elif proto == 1:
        out.append("PROTO=ICMP ")
        if not fragment:
            if len(data) < l4 + 8:
                out.append(f"INCOMPLETE [{len(data) - l4} bytes] ")
                return
            t, c = data[l4], data[l4 + 1]
            out.append(f"TYPE={t} CODE={c} ")
            required = {0: 4, 3: 28, 4: 28, 5: 28, 8: 4, 11: 28, 12: 28, 13: 20, 14: 20, 17: 12, 18: 12}
            if t in required and len(data) - l4 < required[t]:
                out.append(f"INCOMPLETE [{len(data) - l4} bytes] ")
            elif t in (0, 8):
                out.append(f"ID={int.from_bytes(data[l4 + 4:l4 + 6], 'big')} "
                           f"SEQ={int.from_bytes(data[l4 + 6:l4 + 8], 'big')} ")
            elif t == 12:
                out.append(f"PARAMETER={data[l4 + 4]} ")
            elif t in (3, 4, 5, 11):
                if t == 5:
                    out.append(f"GATEWAY={_ip(data[l4 + 4:l4 + 8])} ")
                if not off:
                    out.append("[")
                    _dump_ipv4(out, data, l4 + 8, logflags, 0)
                    out.append("] ")
                if t == 3 and c == 4:
                    out.append(f"MTU={int.from_bytes(data[l4 + 6:l4 + 8], 'big')} ")
    else:
        out.append(f"PROTO={proto} ")
    if not off and mark:
        out.append(f"MARK=0x{mark:x} ")


class LogTarget(Extension):
    """``-j LOG`` (``xt_LOG.c``): the kernel's log line for the packet, kept as a note on
    it (``pkt.note``); the packet goes on to the next rule."""

    name = "LOG"
    judges = True
    OPTIONS = {"log-level": Opt("log-level", 0), "log-prefix": Opt("log-prefix", 1),
               "log-tcp-sequence": Opt("log-tcp-sequence", 2, nargs=0),
               "log-tcp-options": Opt("log-tcp-options", 3, nargs=0),
               "log-ip-options": Opt("log-ip-options", 4, nargs=0),
               "log-uid": Opt("log-uid", 5, nargs=0), "log-macdecode": Opt("log-macdecode", 6, nargs=0)}
    _FLAG = {2: XT_LOG_TCPSEQ, 3: XT_LOG_TCPOPT, 4: XT_LOG_IPOPT, 5: XT_LOG_UID, 6: XT_LOG_MACDECODE}

    def __init__(self):
        super().__init__()
        self.level = 4
        self.prefix = ""
        self.logflags = 0

    def parse(self, opt, invert, args, ctx):
        if opt.oid == 0:
            v = parse_uint(args[0], 0, 7)
            if v is None:
                v = _LEVELS.get(args[0])
                if v is None:
                    raise ParameterProblem(f'log level "{args[0]}" unknown\n')
            self.level = v
        elif opt.oid == 1:
            text = args[0]
            if len(text) < 1:
                raise ParameterProblem("Argument must have a minimum length of 1 characters\n")
            if "\n" in text:
                raise ParameterProblem("Newlines not allowed in --log-prefix")
            self.prefix = text[:29]             # xtopt_parse_string cuts to the field's size
        else:
            self.logflags |= self._FLAG[opt.oid]

    def save(self, ip):
        out = ""
        if self.prefix:
            out += " --log-prefix" + save_string(self.prefix)
        if self.level != 4:
            out += f" --log-level {self.level}"
        for flag, name in ((XT_LOG_TCPSEQ, "tcp-sequence"), (XT_LOG_TCPOPT, "tcp-options"),
                           (XT_LOG_IPOPT, "ip-options"), (XT_LOG_UID, "uid"), (XT_LOG_MACDECODE, "macdecode")):
            if self.logflags & flag:
                out += f" --log-{name}"
        return out

    def print(self, ip, numeric):
        out = " LOG"
        if numeric:
            out += f" flags {self.logflags} level {self.level}"
        else:
            out += f" level {_LEVEL_NAMES[self.level]}"
            for flag, name in ((XT_LOG_TCPSEQ, "tcp-sequence"), (XT_LOG_TCPOPT, "tcp-options"),
                               (XT_LOG_IPOPT, "ip-options"), (XT_LOG_UID, "uid"),
                               (XT_LOG_MACDECODE, "macdecode")):
                if self.logflags & flag:
                    out += " " + name
        if self.prefix:
            out += f' prefix "{self.prefix}"'
        return out

    def compile(self, ip):
        prefix, flags = self.prefix, self.logflags

        def log_tg(pkt):
            if pkt.notes is not None:
                pkt.note(log_line(pkt, prefix, flags))
            return XT_CONTINUE
        return log_tg


# -- MARK -------------------------------------------------------------------------------------
class MarkTarget(Extension):
    """``-j MARK`` revision 2 (``xt_MARK.c``): ``mark = (mark & ~mask) ^ value``; every
    option is a (value, mask) pair, which is all ``iptables-save`` prints
    (``--set-xmark V/M``)."""

    name = "MARK"
    judges = True
    _ALL = (0, 1, 2, 3, 4)
    OPTIONS = {"set-xmark": Opt("set-xmark", 0, excl=_ALL), "set-mark": Opt("set-mark", 1, excl=_ALL),
               "and-mark": Opt("and-mark", 2, excl=_ALL), "or-mark": Opt("or-mark", 3, excl=_ALL),
               "xor-mark": Opt("xor-mark", 4, excl=_ALL)}

    def __init__(self):
        super().__init__()
        self.mark = 0
        self.mask = 0

    def take(self, option, invert, args, ctx):
        opt = self.OPTIONS[option]
        if self.given and opt.oid not in self.given:
            # F_ANY exclusion is checked as each option comes (xtables_option_parse)
            other = self._entry(self.given[0])
            raise ParameterProblem(f'MARK: option "--{other.name}" cannot be used together with '
                                   f'"--{opt.name}".\n')
        super().take(option, invert, args, ctx)

    def parse(self, opt, invert, args, ctx):
        if opt.oid in (0, 1):
            v, m = parse_mark_mask(args[0], "MARK", opt.name)
            self.mark, self.mask = (v, m) if opt.oid == 0 else (v, v | m)
            return
        bits = parse_uint(args[0])
        if bits is None:
            raise ParameterProblem(f'MARK: bad value for option "--{opt.name}", or out of range '
                                   f'(0-4294967295).\n')
        if opt.oid == 2:
            self.mark, self.mask = 0, ~bits & 0xFFFFFFFF
        elif opt.oid == 3:
            self.mark = self.mask = bits
        else:
            self.mark, self.mask = bits, 0

    def check(self, ctx):
        if not self.given:
            raise ParameterProblem("MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required")

    def save(self, ip):
        return f" --set-xmark 0x{self.mark:x}/0x{self.mask:x}"

    def print(self, ip, numeric):
        mark, mask = self.mark, self.mask
        if mark == 0:
            return f" MARK and 0x{~mask & 0xFFFFFFFF:x}"
        if mark == mask:
            return f" MARK or 0x{mark:x}"
        if mask == 0:
            return f" MARK xor 0x{mark:x}"
        if mask == 0xFFFFFFFF:
            return f" MARK set 0x{mark:x}"
        return f" MARK xset 0x{mark:x}/0x{mask:x}"

    def key(self):
        return (self.name, self.mark, self.mask)

    def compile(self, ip):
        keep, xor = ~self.mask & 0xFFFFFFFF, self.mark

        def mark_tg(pkt):
            pkt.mark = (pkt.mark & keep) ^ xor
            return XT_CONTINUE
        return mark_tg


# -- NAT ----------------------------------------------------------------------------------------
def _ip_int(text):
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        return None
    n = 0
    for p in parts:
        n = (n << 8) | int(p)
    return n


class _NatTarget(Extension):
    """What DNAT, SNAT and MASQUERADE share: the range (``parse_to``/``parse_ports`` of
    libxt_NAT.c) and its printing (``sprint_range``)."""

    judges = True
    table = "nat"
    RANGE_OPT = "to-destination"
    PRINT_OPT = "to:"
    SKIP_COLON = False

    def __init__(self):
        super().__init__()
        self.min_ip = self.max_ip = None
        self.min_port = self.max_port = None
        self.flags = 0

    def compile(self, ip):
        """``xt_dnat_target_v2``/``xt_snat_target_v2``: bind the new connection
        (``nf_nat_setup_info``) with this target's range and ``MANIPTYPE``."""
        rng = self.nat_range()
        maniptype = self.MANIPTYPE

        def nat_tg(pkt):
            return nat.nf_nat_setup_info(pkt, rng, maniptype)
        return nat_tg

    @staticmethod
    def _portok(ip):
        return ip.proto in (6, 17, 132, 33, 1)

    def _ports(self, text, ip):
        """``parse_ports``: ``PORT`` or ``PORT-PORT`` (a service name for a single port)."""
        if not self._portok(ip):
            raise ParameterProblem("Need TCP, UDP, SCTP or DCCP with port specification")
        self.flags |= nat.NF_NAT_RANGE_PROTO_SPECIFIED
        r = strtoul_prefix(text)
        if r is None or r[0] > 0xFFFF:
            if text not in SERVICES:
                raise ParameterProblem(f"Port `{text}' not valid")
            r = (SERVICES[text], "")
        lo, end = r
        if not end:
            self.min_port = self.max_port = lo
            return
        if end[0] == ":":
            raise ParameterProblem("Invalid port:port syntax - use dash")
        if end[0] != "-":
            raise ParameterProblem(f"Garbage after port value: `{end}'")
        arg = end[1:]
        r = strtoul_prefix(arg)
        if r is None or r[0] > 0xFFFF:
            raise ParameterProblem(f"Port `{arg}' not valid")
        hi, end = r
        if hi < lo:
            raise ParameterProblem(f"Port range `{arg}' funky")
        if end and end[0] != "/":
            raise ParameterProblem(f"Garbage after port range: `{end}'")
        if end:
            raise ParameterProblem("Shifted portmap ranges not supported with this kernel")
        self.min_port, self.max_port = lo, hi

    def _to(self, text, ip):
        colon = text.find(":")
        if colon >= 0 and ":" in text[colon + 1:]:
            colon = -1          # two colons: parse_to takes it for an IPv6 address
        addr = text
        if colon >= 0:
            self._ports(text[colon + 1:], ip)
            if colon == 0:
                return
            addr = text[:colon]
        self.flags |= nat.NF_NAT_RANGE_MAP_IPS
        lo, dash, hi = addr.partition("-")
        a = _ip_int(lo)
        if a is None:
            raise ParameterProblem(f'Bad IP address "{lo}"')
        b = a
        if dash:
            b = _ip_int(hi)
            if b is None:
                raise ParameterProblem(f'Bad IP address "{hi}"')
        self.min_ip, self.max_ip = a, b

    def parse(self, opt, invert, args, ctx):
        if opt.name in ("to-destination", "to-source"):
            self._to(args[0], ctx.ip)
        elif opt.name == "to-ports":
            self._ports(args[0], ctx.ip)
        elif opt.name == "random":
            self.flags |= nat.NF_NAT_RANGE_PROTO_RANDOM
        elif opt.name == "random-fully":
            self.flags |= nat.NF_NAT_RANGE_PROTO_RANDOM_FULLY
        elif opt.name == "persistent":
            self.flags |= nat.NF_NAT_RANGE_PERSISTENT

    def _range_text(self):
        out = ""
        if self.flags & nat.NF_NAT_RANGE_MAP_IPS:
            out += _ip_text(self.min_ip)
            if self.max_ip != self.min_ip:
                out += "-" + _ip_text(self.max_ip)
        if self.flags & nat.NF_NAT_RANGE_PROTO_SPECIFIED:
            out += f":{self.min_port}"
            if self.max_port != self.min_port:
                out += f"-{self.max_port}"
        return out

    def _text(self, rangeopt, flag_pfx):
        out = ""
        r = self._range_text()
        if r:
            if r[0] == ":" and self.SKIP_COLON:
                r = r[1:]
            out += f" {rangeopt}{r}"
        if self.flags & nat.NF_NAT_RANGE_PROTO_RANDOM:
            out += f" {flag_pfx}random"
        if self.flags & nat.NF_NAT_RANGE_PROTO_RANDOM_FULLY:
            out += f" {flag_pfx}random-fully"
        if self.flags & nat.NF_NAT_RANGE_PERSISTENT:
            out += f" {flag_pfx}persistent"
        return out

    def save(self, ip):
        return self._text(f"--{self.RANGE_OPT} ", "--")

    def print(self, ip, numeric):
        return self._text(self.PRINT_OPT, "")

    def key(self):
        return (self.name, self.min_ip, self.max_ip, self.min_port, self.max_port, self.flags)

    def nat_range(self) -> nat.NatRange:
        return nat.NatRange(self.min_ip, self.max_ip, self.min_port, self.max_port, self.flags)


def _ip_text(n):
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class DnatTarget(_NatTarget):
    """``-j DNAT --to-destination IP[-IP][:PORT[-PORT]]`` (``xt_nat.c``): only in the nat
    table's PREROUTING and OUTPUT; ``nf_nat_setup_info(..., NF_NAT_MANIP_DST)``."""

    name = "DNAT"
    hooks = (NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT)
    OPTIONS = {"to-destination": Opt("to-destination", 0, mand=True), "random": Opt("random", 1, nargs=0),
               "persistent": Opt("persistent", 2, nargs=0)}

    MANIPTYPE = NF_NAT_MANIP_DST


class SnatTarget(_NatTarget):
    """``-j SNAT --to-source IP[-IP][:PORT[-PORT]]`` (``xt_nat.c``): only in the nat table's
    POSTROUTING and INPUT; ``nf_nat_setup_info(..., NF_NAT_MANIP_SRC)``."""

    name = "SNAT"
    RANGE_OPT = "to-source"
    hooks = (NF_INET_POST_ROUTING, NF_INET_LOCAL_IN)
    OPTIONS = {"to-source": Opt("to-source", 0, mand=True), "random": Opt("random", 1, nargs=0),
               "random-fully": Opt("random-fully", 2, nargs=0), "persistent": Opt("persistent", 3, nargs=0)}

    MANIPTYPE = NF_NAT_MANIP_SRC


class MasqueradeTarget(_NatTarget):
    """``-j MASQUERADE [--to-ports P[-P]] [--random] [--random-fully]``
    (``xt_MASQUERADE.c``): only in the nat table's POSTROUTING; the outgoing device's
    address (``nf_nat_masquerade``)."""

    name = "MASQUERADE"
    RANGE_OPT = "to-ports"
    PRINT_OPT = "masq ports: "
    SKIP_COLON = True
    hooks = (NF_INET_POST_ROUTING,)
    OPTIONS = {"to-ports": Opt("to-ports", 0), "random": Opt("random", 1, nargs=0),
               "random-fully": Opt("random-fully", 2, nargs=0)}

    def compile(self, ip):
        rng = self.nat_range()

        def masquerade_tg(pkt):
            return nat.nf_nat_masquerade(pkt, rng)
        return masquerade_tg


#: ``-j NAME`` -> the extension's class
TARGETS = {cls.name: cls for cls in (RejectTarget, LogTarget, MarkTarget, DnatTarget, SnatTarget,
                                     MasqueradeTarget)}
