"""The port matches: ``-m tcp`` and ``-m udp`` (``libxt_tcp.c``, ``libxt_udp.c``; the
kernel's ``xt_tcpudp.c``) and ``-m multiport`` (``xt_multiport.c``)."""
from emunet.stack.netfilter.extension import Extension, Opt
from emunet.stack.netfilter.libxtables import (ParameterProblem, parse_port, parse_port_range,
                                               proto_name, service_name)
from emunet.stack.netfilter.xtables import HotDrop

__all__ = ["TcpMatch", "UdpMatch", "MultiportMatch"]


# -- tcp / udp ------------------------------------------------------------------
class _PortsMatch(Extension):
    """What ``tcp`` and ``udp`` share: ``--sport``/``--dport`` ranges (``!``)."""

    x6 = False
    PROTO = 6
    spts = (0, 0xFFFF)
    dpts = (0, 0xFFFF)
    inv_spt = inv_dpt = False

    def _ports(self, opt, invert, args, which):
        if opt.oid in self.given[:-1]:
            raise ParameterProblem(f"Only one `--{'source' if which == 's' else 'destination'}-port' allowed")
        rng = parse_port_range(args[0], self.name)
        if which == "s":
            self.spts, self.inv_spt = rng, invert
        else:
            self.dpts, self.inv_dpt = rng, invert

    def all_zero(self) -> bool:
        return self.spts == (0, 0xFFFF) and self.dpts == (0, 0xFFFF) and not (
            self.inv_spt or self.inv_dpt or getattr(self, "flg_mask", 0) or getattr(self, "inv_flags", False))

    def late_check(self, ip) -> None:
        # iptables-nft writes port and flag tests as native payload matches
        # (add_nft_tcp/add_nft_udp), which need the rule's protocol
        if not self.all_zero() and ip.proto != self.PROTO:
            raise ParameterProblem(f"{self.name.upper()} match requires '-p {self.name}'")

    def check_entry(self, ip, hooks) -> bool:
        # an empty -m tcp stays an xt match, whose .proto the kernel checks
        return not self.all_zero() or (ip.proto == self.PROTO and not ip.inv_proto)

    @staticmethod
    def _save_ports(name, rng, inv) -> str:
        if rng == (0, 0xFFFF):
            return ""
        body = f"{rng[0]}:{rng[1]}" if rng[0] != rng[1] else f"{rng[0]}"
        return f"{' !' if inv else ''} --{name} {body}"

    def _print_ports(self, name, rng, inv, numeric) -> str:
        if rng == (0, 0xFFFF) and not inv:
            return ""

        def port(p):
            s = None if numeric else service_name(p, self.name)
            return s if s else str(p)

        bang = "!" if inv else ""
        if rng[0] == rng[1]:
            return f" {name}:{bang}{port(rng[0])}"
        return f" {name}s:{bang}{port(rng[0])}:{port(rng[1])}"

    def _port_conds(self):
        conds = []
        for field, (lo, hi), inv in (("sport", self.spts, self.inv_spt), ("dport", self.dpts, self.inv_dpt)):
            if (lo, hi) == (0, 0xFFFF) and not inv:
                continue
            conds.append((field, lo, hi, inv))
        return conds


def _ports_cond(field, lo, hi, inv):
    if field == "sport":
        return lambda p: (lo <= p.sport <= hi) != inv
    return lambda p: (lo <= p.dport <= hi) != inv


class TcpMatch(_PortsMatch):
    """``-m tcp`` (``xt_tcpudp.c`` ``tcp_mt``): ports, ``--tcp-flags MASK COMP``, ``--syn``.
    A non-first fragment never matches; a header too short to read is dropped (hotdrop)."""

    name = "tcp"
    PROTO = 6
    OPTIONS = {"source-port": Opt("source-port", 1, invert=True), "sport": Opt("source-port", 1, invert=True),
               "destination-port": Opt("destination-port", 2, invert=True),
               "dport": Opt("destination-port", 2, invert=True),
               "syn": Opt("syn", 3, nargs=0, invert=True), "tcp-flags": Opt("tcp-flags", 4, nargs=2, invert=True)}
    FLAGS = (("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10), ("URG", 0x20),
             ("ALL", 0x3F), ("NONE", 0))
    flg_mask = flg_cmp = 0
    inv_flags = False

    def parse(self, opt, invert, args, ctx):
        if opt.oid == 1:
            self._ports(opt, invert, args, "s")
        elif opt.oid == 2:
            self._ports(opt, invert, args, "d")
        else:
            if 3 in self.given[:-1] or 4 in self.given[:-1]:
                raise ParameterProblem("Only one of `--syn' or `--tcp-flags'  allowed")
            if opt.oid == 3:
                self.flg_mask, self.flg_cmp = 0x17, 0x02
            else:
                if len(args) < 2 or args[1][:1] in ("-", "!"):
                    raise ParameterProblem("--tcp-flags requires two args.")
                self.flg_mask, self.flg_cmp = self._flags(args[0]), self._flags(args[1])
            self.inv_flags = invert

    def _flags(self, text):
        v = 0
        for part in text.split(","):
            if not part:
                continue
            for name, bit in self.FLAGS:
                if name.lower() == part.lower():
                    v |= bit
                    break
            else:
                raise ParameterProblem(f"Unknown TCP flag `{part}'")
        return v

    @classmethod
    def _flag_names(cls, flags):
        names = []
        for name, bit in cls.FLAGS[:6]:
            if flags & bit:
                names.append(name)
        return ",".join(names) if names else "NONE"

    def save(self, ip):
        out = self._save_ports("sport", self.spts, self.inv_spt) + self._save_ports("dport", self.dpts, self.inv_dpt)
        if self.flg_mask or self.inv_flags:
            out += f"{' !' if self.inv_flags else ''} --tcp-flags {self._flag_names(self.flg_mask)} " \
                   f"{self._flag_names(self.flg_cmp)}"
        return out

    def print(self, ip, numeric):
        out = " tcp" + self._print_ports("spt", self.spts, self.inv_spt, numeric) + \
            self._print_ports("dpt", self.dpts, self.inv_dpt, numeric)
        if self.flg_mask or self.inv_flags:
            out += f" flags:{'!' if self.inv_flags else ''}"
            if numeric:
                out += f"0x{self.flg_mask:02X}/0x{self.flg_cmp:02X}"
            else:
                out += f"{self._flag_names(self.flg_mask)}/{self._flag_names(self.flg_cmp)}"
        return out

    def compile(self, ip):
        conds = [_ports_cond(*c) for c in self._port_conds()]
        if self.flg_mask or self.inv_flags:
            mask, cmp_, inv = self.flg_mask, self.flg_cmp, self.inv_flags
            conds.append(lambda p: ((p.tcp_flags & mask) == cmp_) != inv)
        conds = tuple(conds)

        def tcp_mt(p):
            if p.frag_off:
                return False
            if p.tcp_flags is None:
                raise HotDrop()
            for c in conds:
                if not c(p):
                    return False
            return True
        return tcp_mt


class UdpMatch(_PortsMatch):
    """``-m udp`` (``xt_tcpudp.c`` ``udp_mt``): ports."""

    name = "udp"
    PROTO = 17
    OPTIONS = {"source-port": Opt("source-port", 1, invert=True), "sport": Opt("source-port", 1, invert=True),
               "destination-port": Opt("destination-port", 2, invert=True),
               "dport": Opt("destination-port", 2, invert=True)}

    def parse(self, opt, invert, args, ctx):
        self._ports(opt, invert, args, "s" if opt.oid == 1 else "d")

    def save(self, ip):
        return self._save_ports("sport", self.spts, self.inv_spt) + self._save_ports("dport", self.dpts, self.inv_dpt)

    def print(self, ip, numeric):
        return " udp" + self._print_ports("spt", self.spts, self.inv_spt, numeric) + \
            self._print_ports("dpt", self.dpts, self.inv_dpt, numeric)

    def compile(self, ip):
        conds = tuple(_ports_cond(*c) for c in self._port_conds())

        def udp_mt(p):
            if p.frag_off:
                return False
            if p.sport is None:
                raise HotDrop()
            for c in conds:
                if not c(p):
                    return False
            return True
        return udp_mt


# -- multiport ----------------------------------------------------------------------------
class MultiportMatch(Extension):
    """``-m multiport --sports|--dports|--ports P[,P|A:B]...`` (``xt_multiport.c``
    revision 1): up to 15 ports, a range counting two."""

    name = "multiport"
    OPTIONS = {"source-ports": Opt("source-ports", 0, invert=True, excl=(1, 2)),
               "sports": Opt("source-ports", 0, invert=True, excl=(1, 2)),
               "destination-ports": Opt("destination-ports", 1, invert=True, excl=(0, 2)),
               "dports": Opt("destination-ports", 1, invert=True, excl=(0, 2)),
               "ports": Opt("ports", 2, invert=True, excl=(0, 1))}
    flags = 0
    invert = False
    ports = ()

    def parse(self, opt, invert, args, ctx):
        ip = ctx.ip
        if ip.inv_proto or ip.proto not in (6, 17, 136, 132, 33):
            if ip.proto == 0 and not ip.inv_proto:
                raise ParameterProblem("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
            raise ParameterProblem("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP")
        proto = proto_name(ip.proto)
        items = []
        count = 0
        for part in args[0].split(","):
            if count >= 15:
                raise ParameterProblem("too many ports specified")
            lo, colon, hi = part.partition(":")
            if colon:
                if count == 14:
                    raise ParameterProblem("too many ports specified")
                a, b = parse_port(lo, proto), parse_port(hi, proto)
                if a >= b:
                    raise ParameterProblem("invalid portrange specified")
                items.append((a, b))
                count += 2
            else:
                p = parse_port(part, proto)
                items.append((p, p))
                count += 1
        self.ports = tuple(items)
        self.flags = (1, 2, 3)[opt.oid]
        self.invert = invert

    def check(self, ctx):
        if not self.given:
            raise ParameterProblem("multiport expection an option")

    def check_entry(self, ip, hooks):
        return ip.proto in (6, 17, 136, 132, 33) and not ip.inv_proto

    def _ports_text(self, proto, numeric):
        out = []
        for lo, hi in self.ports:
            def p(x):
                s = None if numeric else service_name(x, proto)
                return s if s else str(x)
            out.append(p(lo) if lo == hi else f"{p(lo)}:{p(hi)}")
        return ",".join(out)

    def save(self, ip):
        opt = {1: "sports", 2: "dports", 3: "ports"}[self.flags]
        return f"{' !' if self.invert else ''} --{opt} {self._ports_text('tcp', True)}"

    def print(self, ip, numeric):
        opt = {1: "sports", 2: "dports", 3: "ports"}[self.flags]
        proto = proto_name(ip.proto) if ip is not None else "tcp"
        return f" multiport {opt} {' !' if self.invert else ''}{self._ports_text(proto, numeric)}"

    def compile(self, ip):
        flags, inv = self.flags, self.invert
        ranges = self.ports

        def multiport_mt(p):
            if p.frag_off:
                return False
            if p.sport is None:
                raise HotDrop()
            s, d = p.sport, p.dport
            for lo, hi in ranges:
                if (flags & 1 and lo <= s <= hi) or (flags & 2 and lo <= d <= hi):
                    return not inv
            return inv
        return multiport_mt
