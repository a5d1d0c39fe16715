"""iptables' match extensions: libxt_*.c in userspace (parse, save, print) and the kernel's
``xt_*.c``/``ipt_*.c`` (the match itself).

Each class models one extension (:class:`~emunet.stack.netfilter.extension.Extension`);
its :meth:`compile` gives the kernel's ``match`` as a callable(pkt) -> bool (None when the
match never fails, ``-m comment``).  Here: icmp, addrtype, mark, comment, statistic, set,
physdev; the port matches are in :mod:`.tcpudp`, the connection's in
:mod:`.conntrack_match`.  ``MATCHES`` is the registry of them all, name -> class.
"""
import math

from emunet.stack.netfilter.conntrack_match import ConntrackMatch, StateMatch
from emunet.stack.netfilter.extension import Extension, Opt
from emunet.stack.netfilter.hooks import (NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING,
                                          NF_INET_PRE_ROUTING)
from emunet.stack.netfilter.libxtables import (ParameterProblem, parse_mark_mask, parse_uint,
                                               save_string, strtoul_prefix)
from emunet.stack.netfilter.tcpudp import MultiportMatch, TcpMatch, UdpMatch
from emunet.stack.netfilter.xtables import HotDrop

__all__ = ["MATCHES", "PROTO_MATCHES", "IcmpMatch", "AddrtypeMatch", "MarkMatch", "CommentMatch",
           "StatisticMatch", "SetMatch", "PhysdevMatch"]


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
