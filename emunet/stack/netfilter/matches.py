"""iptables' match extensions: libxt_*.c in userspace (parse, save, print) and the kernel's
``xt_*.c``/``ipt_*.c`` (the match itself).

Each class models one extension: ``OPTIONS`` are its long options (the ``xt_option_entry``
table), :meth:`Extension.take` parses one of them from the command line, :meth:`final`
is the final check, :meth:`save` is what ``iptables-save`` prints after ``-m NAME``,
:meth:`print` what ``iptables -L`` prints at the end of the line, and :meth:`compile`
gives the kernel's ``match`` as a callable(pkt) -> bool (None when the match never
fails, ``-m comment``).  ``MATCHES`` is the registry, name -> class.
"""
import math

from emunet.stack.netfilter.conntrack import (IP_CT_IS_REPLY, IPS_DST_NAT, IPS_SRC_NAT,
                                              IPS_UNTRACKED)
from emunet.stack.netfilter.hooks import (NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT,
                                          NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING)
from emunet.stack.netfilter.xtables import (HotDrop, ParameterProblem, format_addr,
                                            parse_address_list, parse_mark_mask, parse_port,
                                            parse_port_range, parse_protocol, parse_uint,
                                            proto_name, save_string, service_name,
                                            strtoul_prefix)

__all__ = ["Extension", "Opt", "MATCHES", "TcpMatch", "UdpMatch", "IcmpMatch",
           "AddrtypeMatch", "MarkMatch", "CommentMatch", "ConntrackMatch", "StateMatch",
           "MultiportMatch", "StatisticMatch", "SetMatch", "PhysdevMatch", "IP_CT_UNTRACKED",
           "ct_orig_tuple"]

#: ``IP_CT_UNTRACKED``: the ``ctinfo`` of a packet the raw table's NOTRACK left untracked
IP_CT_UNTRACKED = 7


class Opt:
    """One ``xt_option_entry``: ``name`` (canonical, as errors name it), ``oid`` (aliases
    share it), ``nargs`` (0, 1, or 2 for ``--tcp-flags MASK COMP``), ``invert`` (``!``
    allowed), ``mand`` (must be given), ``excl`` (ids it cannot be used with), ``also``
    (ids it needs)."""

    __slots__ = ("name", "oid", "nargs", "invert", "mand", "excl", "also")

    def __init__(self, name, oid, nargs=1, invert=False, mand=False, excl=(), also=()):
        self.name, self.oid, self.nargs, self.invert = name, oid, nargs, invert
        self.mand, self.excl, self.also = mand, tuple(excl), tuple(also)


class Extension:
    """What matches and targets share: the option table, the xtoptions checks (``x6``:
    options given twice, ``!`` where not allowed, mandatory, exclusive and dependent
    options, with libxtables' texts), and the kernel's constraints: ``table`` (None: any)
    and ``hooks`` (None: any) it may be used in, ``check_entry`` (the extension's
    ``checkentry`` on the rule's IPv4 part and the hooks that reach it)."""

    name = ""
    #: the option table: option name (and aliases) -> Opt
    OPTIONS = {}
    #: uses libxtables' option framework (its generic errors), not its own parse loop
    x6 = True
    table = None
    hooks = None
    #: a target whose action is worth a trace note
    judges = False

    def __init__(self):
        self.given = []     # option ids in the order given

    @property
    def alias(self) -> str:
        return self.name

    def has_option(self, option: str) -> bool:
        return option in self.OPTIONS

    def take(self, option: str, invert: bool, args: list, ctx) -> None:
        """Parse ``--option ARGS`` (``invert``: a ``!`` came before it)."""
        opt = self.OPTIONS[option]
        if self.x6:
            entry = self._entry(opt.oid)
            if opt.oid in self.given:
                raise ParameterProblem(f'{self.name}: option "--{entry.name}" can only be used once.\n')
            if invert and not opt.invert:
                raise ParameterProblem(f'{self.name}: option "--{entry.name}" cannot be inverted.\n')
        self.given.append(opt.oid)
        self.parse(opt, invert, args, ctx)

    def _entry(self, oid):
        for o in self.OPTIONS.values():
            if o.oid == oid:
                return o
        raise KeyError(oid)

    def final(self, ctx) -> None:
        """``xtables_options_fcheck`` then the extension's own final check."""
        if self.x6:
            seen = set(self.given)
            entries = []
            for o in self.OPTIONS.values():
                if o not in entries and self._entry(o.oid) is o:
                    entries.append(o)
            for e in entries:
                if e.mand and e.oid not in seen:
                    raise ParameterProblem(f'{self.name}: option "--{e.name}" must be specified\n')
                if e.oid not in seen:
                    continue
                for other in entries:
                    if other.oid == e.oid:
                        continue
                    if other.oid in e.also and other.oid not in seen:
                        raise ParameterProblem(f'{self.name}: option "--{e.name}" also requires '
                                               f'"--{other.name}".\n')
                    if other.oid in e.excl and other.oid in seen:
                        raise ParameterProblem(f'{self.name}: option "--{e.name}" cannot be used '
                                               f'together with "--{other.name}".\n')
        self.check(ctx)

    # -- what each extension writes --------------------------------------------
    def parse(self, opt: Opt, invert: bool, args: list, ctx) -> None:
        raise NotImplementedError

    def check(self, ctx) -> None:
        """The extension's final check (``x6_fcheck``/``final_check``)."""

    def check_entry(self, ip, hooks: set) -> bool:
        """The kernel's ``checkentry`` (False: ``EINVAL``)."""
        return True

    def late_check(self, ip) -> None:
        """What iptables-nft checks when it turns the parsed rule into nftables
        expressions (after every option is parsed)."""

    def save(self, ip) -> str:
        return ""

    def print(self, ip, numeric: bool) -> str:
        return ""

    def key(self) -> tuple:
        """What ``-D``/``-C`` compare."""
        return (self.name, self.save(None))

    def compile(self, ip):
        return None


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


# -- icmp -----------------------------------------------------------------------------
#: libxt_icmp.h's ``icmp_codes``: name, type, code_min, code_max
ICMP_CODES = (
    ("any", 0xFF, 0, 0xFF), ("echo-reply", 0, 0, 0xFF), ("pong", 0, 0, 0xFF),
    ("destination-unreachable", 3, 0, 0xFF), ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1), ("protocol-unreachable", 3, 2, 2), ("port-unreachable", 3, 3, 3),
    ("fragmentation-needed", 3, 4, 4), ("source-route-failed", 3, 5, 5), ("network-unknown", 3, 6, 6),
    ("host-unknown", 3, 7, 7), ("network-prohibited", 3, 9, 9), ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11), ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13), ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15), ("source-quench", 4, 0, 0xFF), ("redirect", 5, 0, 0xFF),
    ("network-redirect", 5, 0, 0), ("host-redirect", 5, 1, 1), ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3), ("echo-request", 8, 0, 0xFF), ("ping", 8, 0, 0xFF),
    ("router-advertisement", 9, 0, 0xFF), ("router-solicitation", 10, 0, 0xFF),
    ("time-exceeded", 11, 0, 0xFF), ("ttl-exceeded", 11, 0, 0xFF), ("ttl-zero-during-transit", 11, 0, 0),
    ("ttl-zero-during-reassembly", 11, 1, 1), ("parameter-problem", 12, 0, 0xFF),
    ("ip-header-bad", 12, 0, 0), ("required-option-missing", 12, 1, 1),
    ("timestamp-request", 13, 0, 0xFF), ("timestamp-reply", 14, 0, 0xFF),
    ("address-mask-request", 17, 0, 0xFF), ("address-mask-reply", 18, 0, 0xFF))


def _parse_range8(text):
    """libxt_icmp.h's ``parse_range``: ``N`` or ``N:M``, each 0..255 (base 0) -> (lo, hi,
    the rest), or None."""
    r = strtoul_prefix(text)
    if r is None or r[0] > 255:
        return None
    lo, rest = r
    if rest.startswith(":"):
        r = strtoul_prefix(rest[1:])
        if r is None or r[0] > 255:
            return None
        return lo, r[0], r[1]
    return lo, lo, rest


class IcmpMatch(Extension):
    """``-m icmp --icmp-type T[/C]`` (``ip_tables.c`` ``icmp_match``): type 255 is any."""

    name = "icmp"
    OPTIONS = {"icmp-type": Opt("icmp-type", 0, invert=True, mand=True)}
    icmp_type, code_min, code_max, invert = 0xFF, 0, 0xFF, False

    def parse(self, opt, invert, args, ctx):
        text = args[0]
        found = None
        for entry in ICMP_CODES:
            if entry[0].lower().startswith(text.lower()):
                if found is not None:
                    raise ParameterProblem(f"Ambiguous ICMP type `{text}': `{found[0]}' or `{entry[0]}'?")
                found = entry
        if found is not None:
            _, self.icmp_type, self.code_min, self.code_max = found
        else:
            r = _parse_range8(text)
            if r is None:
                raise ParameterProblem(f"Unknown ICMP type `{text}'")
            tlo, thi, rest = r
            if tlo != thi:
                raise ParameterProblem("ICMP type range not supported")
            self.icmp_type, self.code_min, self.code_max = tlo, 0, 0xFF
            if rest.startswith("/"):
                c = _parse_range8(rest[1:])
                if c is None:
                    raise ParameterProblem(f"Unknown ICMP code `{text}'")
                self.code_min, self.code_max, rest = c
            if rest:
                raise ParameterProblem(f"unknown character {rest[0]}")
        self.invert = invert

    def check_entry(self, ip, hooks):
        return ip.proto == 1 and not ip.inv_proto

    def save(self, ip):
        out = " !" if self.invert else ""
        if self.icmp_type == 0xFF:
            return out + " --icmp-type any"
        out += f" --icmp-type {self.icmp_type}"
        if self.code_min != 0 or self.code_max != 0xFF:
            out += f"/{self.code_min}"
        return out

    def print(self, ip, numeric):
        out = " icmp"
        if not numeric:
            for name, t, lo, hi in ICMP_CODES:
                if (t, lo, hi) == (self.icmp_type, self.code_min, self.code_max):
                    return f"{out} {'!' if self.invert else ''}{name}"
        if self.invert:
            out += " !"
        out += f"type {self.icmp_type}"
        if self.code_min == self.code_max:
            out += f" code {self.code_min}"
        elif self.code_min != 0 or self.code_max != 0xFF:
            out += f" codes {self.code_min}-{self.code_max}"
        return out

    def compile(self, ip):
        t, lo, hi, inv = self.icmp_type, self.code_min, self.code_max, self.invert

        def icmp_match(p):
            if p.frag_off:
                return False
            if p.icmp_type is None:
                raise HotDrop()
            ok = t == 0xFF or (p.icmp_type == t and lo <= p.icmp_code <= hi)
            return ok != inv
        return icmp_match


# -- addrtype -------------------------------------------------------------------------
#: ``rtn_names``: the route types, in ``RTN_*`` order
RTN_NAMES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
             "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE")
_RTN_OF_ROUTE = {"unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5,
                 "blackhole": 6, "unreachable": 7, "prohibit": 8, "throw": 9, "nat": 10}


def inet_dev_addr_type(ns, dev, addr: int) -> int:
    """``inet_dev_addr_type``: ``RTN_*`` of ``addr`` from the local table: zeronet and the
    limited broadcast are BROADCAST, class D MULTICAST; a local-table route gives its type
    when no device is asked for or the route is on ``dev``; anything else is UNICAST."""
    if addr >> 24 == 0 or addr == 0xFFFFFFFF:
        return 3
    if addr >> 28 == 0xE:
        return 5
    r = ns.fib.local.lookup(addr)
    if r is not None and (dev is None or r.dev is dev):
        return _RTN_OF_ROUTE.get(r.type, 1)
    return 1


class AddrtypeMatch(Extension):
    """``-m addrtype`` (``xt_addrtype.c`` ``addrtype_mt_v1``): the type the namespace's FIB
    gives the source or destination address, optionally only on the packet's incoming
    (``--limit-iface-in``) or outgoing (``--limit-iface-out``) device."""

    name = "addrtype"
    OPTIONS = {"src-type": Opt("src-type", 0, invert=True), "dst-type": Opt("dst-type", 1, invert=True),
               "limit-iface-in": Opt("limit-iface-in", 2, nargs=0, excl=(3,)),
               "limit-iface-out": Opt("limit-iface-out", 3, nargs=0, excl=(2,))}
    source = dest = 0
    inv_src = inv_dst = limit_in = limit_out = False

    @staticmethod
    def _types(text):
        mask = 0
        parts = text.split(",")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            ok = False
            if part:
                for bit, name in enumerate(RTN_NAMES):
                    if name[:len(part)].lower() == part.lower():
                        mask |= 1 << bit
                        ok = True
                        break
            if not ok:
                rest = ",".join(parts[i:])
                raise ParameterProblem(f'addrtype: bad type "{rest}"' if last else f"addrtype: bad type `{rest}'")
        return mask

    def parse(self, opt, invert, args, ctx):
        if opt.oid == 0:
            self.source, self.inv_src = self._types(args[0]), invert
        elif opt.oid == 1:
            self.dest, self.inv_dst = self._types(args[0]), invert
        elif opt.oid == 2:
            self.limit_in = True
        else:
            self.limit_out = True

    def check(self, ctx):
        if not (self.source or self.dest):
            raise ParameterProblem("addrtype: you must specify --src-type or --dst-type")

    def check_entry(self, ip, hooks):
        if self.limit_in and hooks & {NF_INET_POST_ROUTING, NF_INET_LOCAL_OUT}:
            return False
        if self.limit_out and hooks & {NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN}:
            return False
        return True

    @staticmethod
    def _names(mask):
        return ",".join(n for i, n in enumerate(RTN_NAMES) if mask & (1 << i))

    def save(self, ip):
        out = ""
        if self.source:
            out += f"{' !' if self.inv_src else ''} --src-type {self._names(self.source)}"
        if self.dest:
            out += f"{' !' if self.inv_dst else ''} --dst-type {self._names(self.dest)}"
        if self.limit_in:
            out += " --limit-iface-in"
        if self.limit_out:
            out += " --limit-iface-out"
        return out

    def print(self, ip, numeric):
        out = " ADDRTYPE match"
        if self.source:
            out += f" src-type {'!' if self.inv_src else ''}{self._names(self.source)}"
        if self.dest:
            out += f" dst-type {'!' if self.inv_dst else ''}{self._names(self.dest)}"
        if self.limit_in:
            out += " limit-in"
        if self.limit_out:
            out += " limit-out"
        return out

    def compile(self, ip):
        src, dst, inv_src, inv_dst = self.source, self.dest, self.inv_src, self.inv_dst
        limit_in, limit_out = self.limit_in, self.limit_out

        def addrtype_mt(p):
            dev = p.indev if limit_in else (p.outdev if limit_out else None)
            if src and bool(src & (1 << inet_dev_addr_type(p.ns, dev, p.saddr))) == inv_src:
                return False
            if dst and bool(dst & (1 << inet_dev_addr_type(p.ns, dev, p.daddr))) == inv_dst:
                return False
            return True
        return addrtype_mt


# -- mark, comment -----------------------------------------------------------------------
def _mark_mask_text(mark: int, mask: int) -> str:
    """``xtables_print_mark_mask``."""
    return f" 0x{mark:x}/0x{mask:x}" if mask != 0xFFFFFFFF else f" 0x{mark:x}"


class MarkMatch(Extension):
    """``-m mark --mark V[/M]`` (``xt_mark.c``): ``(skb->mark & M) == V``."""

    name = "mark"
    OPTIONS = {"mark": Opt("mark", 0, invert=True, mand=True)}
    mark, mask, invert = 0, 0xFFFFFFFF, False

    def parse(self, opt, invert, args, ctx):
        self.mark, self.mask = parse_mark_mask(args[0], "mark", "mark")
        self.invert = invert

    def save(self, ip):
        return f"{' !' if self.invert else ''} --mark{_mark_mask_text(self.mark, self.mask)}"

    def print(self, ip, numeric):
        return f" mark match{' !' if self.invert else ''}{_mark_mask_text(self.mark, self.mask)}"

    def compile(self, ip):
        mark, mask, inv = self.mark, self.mask, self.invert
        return lambda p: ((p.mark & mask) == mark) != inv


class CommentMatch(Extension):
    """``-m comment --comment TEXT`` (``xt_comment.c``): always matches; up to 255
    characters are kept."""

    name = "comment"
    OPTIONS = {"comment": Opt("comment", 0, mand=True)}
    comment = ""

    def parse(self, opt, invert, args, ctx):
        self.comment = args[0][:255]        # xtopt_parse_string cuts to the field's size

    def save(self, ip):
        return " --comment" + save_string(self.comment)

    def print(self, ip, numeric):
        return f" /* {self.comment} */"


# -- conntrack, state ------------------------------------------------------------------
XT_CONNTRACK_STATE_INVALID = 1 << 0
XT_CONNTRACK_STATE_SNAT = 1 << 6
XT_CONNTRACK_STATE_DNAT = 1 << 7
XT_CONNTRACK_STATE_UNTRACKED = 1 << 8


def state_bit(ctinfo: int) -> int:
    """``XT_CONNTRACK_STATE_BIT``."""
    return 1 << (ctinfo % IP_CT_IS_REPLY + 1)


_CT_STATES = (("INVALID", XT_CONNTRACK_STATE_INVALID), ("NEW", state_bit(2)), ("RELATED", state_bit(1)),
              ("ESTABLISHED", state_bit(0)), ("UNTRACKED", XT_CONNTRACK_STATE_UNTRACKED),
              ("SNAT", XT_CONNTRACK_STATE_SNAT), ("DNAT", XT_CONNTRACK_STATE_DNAT))
_CT_PARSE_ORDER = ("INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED", "SNAT", "DNAT")
_CT_STATUS = (("EXPECTED", 1), ("SEEN_REPLY", 2), ("ASSURED", 4), ("CONFIRMED", 8))


def ct_orig_tuple(ct, reply: bool = False):
    """(src, dst, proto, sport, dport) of a conntrack entry's original (or reply)
    direction (``ct.tuplehash[dir]``: ports are None for a protocol without them)."""
    src, dst, proto, a, b = ct.tuplehash[1 if reply else 0]
    if proto in (6, 17):
        return (src, dst, proto, a, b)
    return (src, dst, proto, None, None)


def ctstate_of(p) -> int:
    """The state bits ``conntrack_mt`` computes for a packet."""
    ct = p.ct
    if ct is not None:
        bits = state_bit(p.ctinfo)
        status = getattr(ct, "status", 0)
        if status & IPS_UNTRACKED:
            return XT_CONNTRACK_STATE_UNTRACKED
        if status & IPS_SRC_NAT:
            bits |= XT_CONNTRACK_STATE_SNAT
        if status & IPS_DST_NAT:
            bits |= XT_CONNTRACK_STATE_DNAT
        return bits
    if p.ctinfo == IP_CT_UNTRACKED:
        return XT_CONNTRACK_STATE_UNTRACKED
    return XT_CONNTRACK_STATE_INVALID


class ConntrackMatch(Extension):
    """``-m conntrack`` revision 3 (``xt_conntrack.c`` ``conntrack_mt``): ``--ctstate``
    from the packet's entry and ``ctinfo`` (no entry: INVALID, or UNTRACKED when the raw
    table said so; SNAT/DNAT from the entry's status), and the entry's original and reply
    tuples (``--ctorigsrc`` ... ``--ctrepldstport``), ``--ctproto``, ``--ctstatus``,
    ``--ctdir``.  Without an entry only ``--ctstate`` can match."""

    name = "conntrack"
    OPTIONS = {n: Opt(n, i, invert=(n != "ctdir")) for i, n in enumerate(
        ("ctstate", "ctproto", "ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst", "ctstatus",
         "ctexpire", "ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport", "ctdir"))}
    del OPTIONS["ctexpire"]

    def __init__(self):
        super().__init__()
        self.state_mask = 0
        self.values = {}     # option name -> parsed value
        self.inverted = set()

    def parse(self, opt, invert, args, ctx):
        arg = args[0]
        n = opt.name
        if n == "ctstate":
            self.state_mask = self._states(arg, "ctstate", _CT_PARSE_ORDER)
        elif n == "ctproto":
            self.values[n] = parse_protocol(arg)
        elif n in ("ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"):
            addrs = parse_address_list(arg)
            self.values[n] = addrs[0]
        elif n == "ctstatus":
            mask = 0
            for part in arg.split(","):
                for name, bit in _CT_STATUS:
                    if part and name.lower().startswith(part.lower()):
                        mask |= bit
                        break
                else:
                    raise ParameterProblem(f'Bad ctstatus "{arg}"')
            self.values[n] = mask
        elif n.endswith("port"):
            lo, _, hi = arg.partition(":")
            a = parse_port(lo, "tcp")
            b = parse_port(hi, "tcp") if hi else a
            self.values[n] = (a, b)
        elif n == "ctdir":
            if arg.upper() not in ("ORIGINAL", "REPLY"):
                raise ParameterProblem(f'conntrack: Bad value for "--ctdir" option: "{arg}"')
            self.values[n] = arg.upper()
        if invert:
            self.inverted.add(n)

    @staticmethod
    def _states(arg, what, names):
        mask = 0
        rest = arg
        while True:
            part, comma, tail = rest.partition(",")
            bit = 0
            if part:
                for name in names:
                    if name[:len(part)].lower() == part.lower():
                        bit = dict(_CT_STATES)[name]
                        break
            if not bit:
                raise ParameterProblem(f'Bad {what} "{rest}"')
            mask |= bit
            if not comma:
                return mask
            rest = tail

    def check(self, ctx):
        if not self.given:
            raise ParameterProblem("conntrack: At least one option is required")

    def _dump(self, prefix, numeric):
        out = ""
        if "ctstate" in self.given_names():
            out += f"{' !' if 'ctstate' in self.inverted else ''} {prefix}ctstate {_states_text(self.state_mask)}"
        v = self.values
        for n in ("ctproto",):
            if n in v:
                out += f"{' !' if n in self.inverted else ''} {prefix}{n} {v[n]}"
        for n in ("ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"):
            if n in v:
                addr, mask = v[n]
                out += f"{' !' if n in self.inverted else ''} {prefix}{n} {format_addr(addr, mask, True)}"
        for n in ("ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport"):
            if n in v:
                lo, hi = v[n]
                body = f"{lo}" if lo == hi else f"{lo}:{hi}"
                out += f"{' !' if n in self.inverted else ''} {prefix}{n} {body}"
        if "ctstatus" in v:
            names = ",".join(name for name, bit in _CT_STATUS if v["ctstatus"] & bit)
            out += f"{' !' if 'ctstatus' in self.inverted else ''} {prefix}ctstatus {names}"
        if "ctdir" in v:
            out += f" {prefix}ctdir {v['ctdir']}"
        return out

    def given_names(self):
        return {o.name for o in self.OPTIONS.values() if o.oid in self.given}

    def save(self, ip):
        return self._dump("--", True)

    def print(self, ip, numeric):
        return self._dump("", numeric)

    def key(self):
        return (self.name, self._dump("--", True))

    def compile(self, ip):
        has_state = "ctstate" in self.given_names()
        mask, inv_state = self.state_mask, "ctstate" in self.inverted
        v, inv = dict(self.values), set(self.inverted)

        def conntrack_mt(p):
            if has_state and bool(mask & ctstate_of(p)) == inv_state:
                return False
            ct = p.ct
            if ct is None:
                return has_state
            if not v:
                return True
            orig = ct_orig_tuple(ct)
            repl = ct_orig_tuple(ct, reply=True)
            if orig is None:
                return False
            checks = (("ctproto", lambda: orig[2] == v["ctproto"]),
                      ("ctorigsrc", lambda: (orig[0] & v["ctorigsrc"][1]) == v["ctorigsrc"][0]),
                      ("ctorigdst", lambda: (orig[1] & v["ctorigdst"][1]) == v["ctorigdst"][0]),
                      ("ctreplsrc", lambda: (repl[0] & v["ctreplsrc"][1]) == v["ctreplsrc"][0]),
                      ("ctrepldst", lambda: (repl[1] & v["ctrepldst"][1]) == v["ctrepldst"][0]),
                      ("ctorigsrcport", lambda: v["ctorigsrcport"][0] <= (orig[3] or 0) <= v["ctorigsrcport"][1]),
                      ("ctorigdstport", lambda: v["ctorigdstport"][0] <= (orig[4] or 0) <= v["ctorigdstport"][1]),
                      ("ctreplsrcport", lambda: v["ctreplsrcport"][0] <= (repl[3] or 0) <= v["ctreplsrcport"][1]),
                      ("ctrepldstport", lambda: v["ctrepldstport"][0] <= (repl[4] or 0) <= v["ctrepldstport"][1]),
                      ("ctstatus", lambda: bool(getattr(ct, "status", 0) & v["ctstatus"])),
                      ("ctdir", lambda: (p.ctinfo >= IP_CT_IS_REPLY) == (v["ctdir"] == "REPLY")))
            for name, test in checks:
                if name in v and test() == (name in inv):
                    return False
            return True
        return conntrack_mt


def _states_text(mask):
    return ",".join(name for name, bit in _CT_STATES if mask & bit)


class StateMatch(ConntrackMatch):
    """``-m state --state`` (libxt_conntrack's alias of ``conntrack``): the same kernel
    match on the state alone, printed as ``state``."""

    name = "state"
    OPTIONS = {"state": Opt("state", 0, invert=True, mand=True)}

    def parse(self, opt, invert, args, ctx):
        arg = args[0]
        if arg.endswith(",") or not arg:
            raise ParameterProblem('"--state" requires a list of states with no spaces, e.g. '
                                   'ESTABLISHED,RELATED')
        self.state_mask = self._states(arg, "state", _CT_PARSE_ORDER[:5])
        if invert:
            self.inverted.add("ctstate")

    def given_names(self):
        return {"ctstate"} if self.given else set()

    def check(self, ctx):
        pass

    def save(self, ip):
        return f"{' !' if 'ctstate' in self.inverted else ''} --state {_states_text(self.state_mask)}"

    def print(self, ip, numeric):
        return f"{' !' if 'ctstate' in self.inverted else ''} state {_states_text(self.state_mask)}"

    def key(self):
        return (self.name, self.save(None))


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


# -- statistic ------------------------------------------------------------------------------
class StatisticMatch(Extension):
    """``-m statistic`` (``xt_statistic.c``).  ``--mode random --probability P``: iptables
    stores ``lround(P * 2^31)`` and the kernel matches when ``(random_u32 & 0x7FFFFFFF) <``
    that, the random number drawn from the scenario's seeded RNG.  ``--mode nth --every N
    [--packet P]``: one counter per rule, starting at N-1-P, matching when it wraps to 0."""

    name = "statistic"
    OPTIONS = {"mode": Opt("mode", 0, mand=True),
               "probability": Opt("probability", 1, invert=True, excl=(2, 3)),
               "every": Opt("every", 2, invert=True, excl=(1,), also=(3,)),
               "packet": Opt("packet", 3, excl=(1,), also=(2,))}

    def __init__(self):
        super().__init__()
        self.mode = None
        self.invert = False
        self.probability = 0
        self.every = 0      # as the kernel keeps it: N - 1
        self.packet = 0
        self.count = 0

    def take(self, option, invert, args, ctx):
        # statistic_parse sets the invert flag for whatever option carried the "!"
        super().take(option, invert, args, ctx)

    def parse(self, opt, invert, args, ctx):
        if invert:
            self.invert = True
        arg = args[0]
        if opt.oid == 0:
            if arg not in ("random", "nth"):
                raise ParameterProblem(f'Bad mode "{arg}"')
            self.mode = arg
        elif opt.oid == 1:
            try:
                value = float(arg)
            except ValueError:
                value = -1.0
            if not 0 <= value <= 1:
                raise ParameterProblem('statistic: bad value for option "--probability", or out of range (0-1).\n')
            self.probability = math.floor(0x80000000 * value + 0.5)   # lround, value >= 0
        elif opt.oid == 2:
            v = parse_uint(arg, 1, 0xFFFFFFFF)
            if v is None:
                raise ParameterProblem('statistic: bad value for option "--every", or out of range (1-4294967295).\n')
            self.every = v - 1
        else:
            v = parse_uint(arg, 0, 0xFFFFFFFF)
            if v is None:
                raise ParameterProblem('statistic: bad value for option "--packet", or out of range (0-4294967295).\n')
            self.packet = v

    def check(self, ctx):
        if self.mode == "random" and 1 not in self.given:
            raise ParameterProblem("--probability must be specified when using random mode")
        if self.mode == "nth" and not (2 in self.given or 3 in self.given):
            raise ParameterProblem("--every and --packet must be specified when using nth mode")
        if self.packet > self.every:
            raise ParameterProblem("the --packet p must be 0 <= p <= n-1")
        self.count = self.every - self.packet

    def _text(self, prefix):
        if self.mode == "random":
            return (f" {prefix}mode random{' !' if self.invert else ''} {prefix}probability "
                    f"{self.probability / 0x80000000:.11f}")
        out = f" {prefix}mode nth{' !' if self.invert else ''} {prefix}every {self.every + 1}"
        if self.packet or prefix:
            out += f" {prefix}packet {self.packet}"
        return out

    def save(self, ip):
        return self._text("--")

    def print(self, ip, numeric):
        return " statistic" + self._text("")

    def key(self):
        return (self.name, self._text("--"))

    def compile(self, ip):
        inv = self.invert
        if self.mode == "random":
            prob = self.probability

            def statistic_random(p):
                return ((p.sim.rng.getrandbits(32) & 0x7FFFFFFF) < prob) != inv
            return statistic_random
        every = self.every
        state = self

        def statistic_nth(p):
            count = state.count
            count = 0 if count == every else count + 1
            state.count = count
            return (count == 0) != inv
        return statistic_nth


# -- set ---------------------------------------------------------------------------------------
class SetMatch(Extension):
    """``-m set --match-set NAME src[,dst...]`` (``xt_set.c``): the namespace's ipset
    ``NAME`` (``netfilter.ipsets``) tested with the packet and the directions
    (``ipset.test(pkt, ("src", "dst"))``); the set must exist when the rule is made."""

    name = "set"
    x6 = False
    OPTIONS = {"match-set": Opt("match-set", 0, nargs=2, invert=True),
               "set": Opt("match-set", 0, nargs=2, invert=True)}
    setname = ""
    dirs = ()
    invert = False

    def parse(self, opt, invert, args, ctx):
        if self.given.count(0) > 1:
            raise ParameterProblem("--match-set can be specified only once")
        if len(args) < 2 or args[1][:1] in ("-", "!"):
            raise ParameterProblem("--match-set requires two args.")
        name = args[0]
        if len(name) > 31:
            raise ParameterProblem(f"setname `{name}' too long, max 31 characters.")
        ipsets = getattr(ctx.netfilter, "ipsets", {}) if ctx.netfilter is not None else {}
        if name not in ipsets:
            raise ParameterProblem(f"Set {name} doesn't exist.\n")
        dirs = []
        parts = args[1].split(",")
        if len(parts) > 6:
            raise ParameterProblem("Can't be more src/dst options than 6.")
        for part in parts:
            if part.startswith("src"):
                dirs.append("src")
            elif part.startswith("dst"):
                dirs.append("dst")
            else:
                raise ParameterProblem("You must spefify (the comma separated list of) 'src' or 'dst'.")
        self.setname, self.dirs, self.invert = name, tuple(dirs), invert

    def check(self, ctx):
        if not self.given:
            raise ParameterProblem("You must specify `--match-set' with proper arguments")

    def _text(self, prefix):
        return f"{' !' if self.invert else ''} {prefix} {self.setname} {','.join(self.dirs)}"

    def save(self, ip):
        return self._text("--match-set")

    def print(self, ip, numeric):
        return self._text("match-set")

    def compile(self, ip):
        name, dirs, inv = self.setname, self.dirs, self.invert

        def set_match(p):
            s = p.ns.netfilter.ipsets.get(name)
            return (s is not None and bool(s.test(p, dirs))) != inv
        return set_match


# -- physdev -------------------------------------------------------------------------------
class PhysdevMatch(Extension):
    """``-m physdev`` (``xt_physdev.c``): the bridge ports of a bridged packet under
    br_netfilter (``pkt.physindev``/``physoutdev``); a packet that is not bridged matches
    only where every option given is inverted."""

    name = "physdev"
    OPTIONS = {"physdev-in": Opt("physdev-in", 0, invert=True), "physdev-out": Opt("physdev-out", 1, invert=True),
               "physdev-is-in": Opt("physdev-is-in", 2, nargs=0, invert=True),
               "physdev-is-out": Opt("physdev-is-out", 3, nargs=0, invert=True),
               "physdev-is-bridged": Opt("physdev-is-bridged", 4, nargs=0, invert=True)}

    def __init__(self):
        super().__init__()
        self.physindev = self.physoutdev = ""
        self.inv = set()

    def parse(self, opt, invert, args, ctx):
        if opt.oid in (0, 1):
            name = args[0]
            if len(name) > 15:
                raise ParameterProblem(f"interface name `{name}' must be shorter than IFNAMSIZ (15)")
            if opt.oid == 0:
                self.physindev = name
            else:
                self.physoutdev = name
        if invert:
            self.inv.add(opt.oid)

    def check(self, ctx):
        if not self.given:
            raise ParameterProblem("PHYSDEV: no physdev option specified")

    def check_entry(self, ip, hooks):
        if (1 in self.given or 3 in self.given) and (4 not in self.given or 4 in self.inv) \
                and hooks & {NF_INET_LOCAL_OUT}:
            return False
        return True

    def _text(self):
        out = ""
        for oid, name, value in ((2, "physdev-is-in", None), (0, "physdev-in", self.physindev),
                                 (3, "physdev-is-out", None), (1, "physdev-out", self.physoutdev),
                                 (4, "physdev-is-bridged", None)):
            if oid in self.given:
                out += f"{' !' if oid in self.inv else ''} --{name}" + (f" {value}" if value is not None else "")
        return out

    def save(self, ip):
        return self._text()

    def print(self, ip, numeric):
        return " PHYSDEV match" + self._text()

    def compile(self, ip):
        given, inv = set(self.given), set(self.inv)
        pin, pout = self.physindev, self.physoutdev

        def name_match(name, pattern):
            if pattern.endswith("+"):
                return name.startswith(pattern[:-1])
            return name == pattern

        def physdev_mt(p):
            indev, outdev = p.physindev, p.physoutdev
            if indev is None and outdev is None:
                return all(oid in inv for oid in given)
            outname = outdev.name if outdev is not None else None
            inname = indev.name if indev is not None else None
            if 4 in given and (outname is not None) == (4 in inv):
                return False
            if (2 in given and (inname is None) != (2 in inv)) or \
                    (3 in given and (outname is None) != (3 in inv)):
                return False
            if 0 in given and inname is not None and name_match(inname, pin) == (0 in inv):
                return False
            if 1 not in given or outname is None:
                return True
            return name_match(outname, pout) != (1 in inv)
        return physdev_mt


#: ``-m NAME`` -> the extension's class
MATCHES = {cls.name: cls for cls in (TcpMatch, UdpMatch, IcmpMatch, AddrtypeMatch, MarkMatch,
                                     CommentMatch, ConntrackMatch, StateMatch, MultiportMatch,
                                     StatisticMatch, SetMatch, PhysdevMatch)}

#: a protocol whose ``-p`` loads its match implicitly when one of its options follows
PROTO_MATCHES = {6: "tcp", 17: "udp", 1: "icmp"}
