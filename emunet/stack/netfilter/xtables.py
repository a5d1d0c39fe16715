"""iptables' tables in the kernel (``net/ipv4/netfilter/ip_tables.c``, ``x_tables.c``).

A :class:`Table` holds its chains in creation order; a :class:`Chain` its rules and, when
built in, its policy and the policy's counters; a :class:`Rule` is ``struct ipt_entry``:
the fixed IPv4 part (:class:`IpSpec`, ``struct ipt_ip``: addresses, interfaces, protocol,
fragment flag), the extension matches in order, one target, and its counters.

:meth:`Table.do_table` is ``ipt_do_table``: each rule's conditions are compiled once into a
tuple of callables (``rule.compile``), so a packet costs one call per condition and no
string work unless somebody observes (``pkt.notes``) or the packet is dropped
(``pkt.why``).

:meth:`Table.validate` is what the kernel checks when a ruleset is committed
(``nft_table_validate`` for iptables-nft, ``mark_source_chains`` for legacy): every chain
reachable from a built-in chain at most :data:`NFT_JUMP_STACK_SIZE` jumps deep (a loop is
infinitely deep: ``EMLINK``, "Too many links"), and every target and match used only at the
hooks and in the table it is valid in (``xt_check_target``/``xt_check_match``: ``EINVAL``).

Also here, because matches, targets and the command line all use them: the error
(:class:`IptablesError`), and the parsers and printers libxtables shares between
extensions (addresses, masks, ports, protocols, quoted strings).
"""
from emunet.stack.netfilter.hooks import (CHAIN_HOOKS, HOOK_CHAINS, NF_ACCEPT, NF_DROP, TABLES,
                                          XT_CONTINUE)

__all__ = ["IptablesError", "IpSpec", "Rule", "Chain", "Table", "HotDrop", "ValidationError",
           "PARAMETER_PROBLEM", "OTHER_PROBLEM", "VERSION_PROBLEM", "RESOURCE_PROBLEM",
           "NFT_JUMP_STACK_SIZE", "STANDARD_VERDICTS",
           "parse_address_list", "parse_port", "strtoul_prefix", "parse_port_range", "parse_protocol",
           "proto_name", "format_addr", "mask_to_str", "save_string", "parse_uint",
           "parse_mark_mask", "PROTOCOLS", "SERVICES"]

#: ``enum xtables_exittype``: iptables' exit statuses
OTHER_PROBLEM = 1
PARAMETER_PROBLEM = 2
VERSION_PROBLEM = 3
RESOURCE_PROBLEM = 4

#: ``NFT_JUMP_STACK_SIZE``: how deep jumps may nest below a base chain
NFT_JUMP_STACK_SIZE = 16

#: ``-j`` targets that are verdicts, not extensions
STANDARD_VERDICTS = {"ACCEPT": NF_ACCEPT, "DROP": NF_DROP}


class IptablesError(Exception):
    """A command refused, with the text the real tool prints on stderr (its last newline
    removed) and its exit status (:data:`PARAMETER_PROBLEM` and friends)."""

    def __init__(self, message: str, status: int = PARAMETER_PROBLEM):
        super().__init__(message)
        self.message = message
        self.status = status


class ParameterProblem(Exception):
    """``xtables_error(PARAMETER_PROBLEM, ...)`` raised by a parser; the front-end adds the
    program's prefix and the "Try `iptables -h'" line (the text is the format's, a
    trailing newline included where iptables has one)."""

    def __init__(self, text: str, status: int = PARAMETER_PROBLEM):
        super().__init__(text)
        self.text = text
        self.status = status


class ValidationError(Exception):
    """The kernel refused a ruleset (``errno_text`` as ``strerror`` says it, e.g. "Too many
    links"); ``chain``/``rule`` name the rule blamed when one is known."""

    def __init__(self, errno_text: str, chain: str = None, rule=None):
        super().__init__(errno_text)
        self.errno_text = errno_text
        self.chain = chain
        self.rule = rule


class HotDrop(Exception):
    """A match decided the packet must be dropped whatever the rule says
    (``par->hotdrop``: a truncated TCP header, for one)."""


# -- libxtables' parsers and printers ---------------------------------------
#: the protocol names iptables prints and accepts (``xtables_chain_protos`` first, then
#: what ``getprotobynumber`` finds in netbase's /etc/protocols)
PROTOCOLS = {"all": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17,
             "ipv6": 41, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58, "ospf": 89,
             "ipip": 94, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "udplite": 136}
_PROTO_NAMES = {}
for _name, _num in PROTOCOLS.items():
    _PROTO_NAMES.setdefault(_num, _name)

#: the services ``getservbyname``/``getservbyport`` find in netbase's /etc/services (the
#: ones container networking uses); (name, proto) -> port
SERVICES = {"ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "bootps": 67,
            "bootpc": 68, "tftp": 69, "http": 80, "kerberos": 88, "pop3": 110, "sunrpc": 111,
            "ntp": 123, "imap2": 143, "snmp": 161, "bgp": 179, "ldap": 389, "https": 443,
            "isakmp": 500, "syslog": 514, "submission": 587, "ldaps": 636, "rsync": 873,
            "imaps": 993, "pop3s": 995, "openvpn": 1194, "mysql": 3306, "postgresql": 5432,
            "http-alt": 8080, "vxlan": 4789}
#: services that exist for one protocol only in /etc/services
_SERVICE_PROTOS = {"bootps": ("udp",), "bootpc": ("udp",), "tftp": ("udp",), "ntp": ("udp",),
                   "snmp": ("udp",), "syslog": ("udp",), "isakmp": ("udp",), "openvpn": ("udp", "tcp"),
                   "vxlan": ("udp",), "ssh": ("tcp",), "telnet": ("tcp",), "smtp": ("tcp",),
                   "ftp": ("tcp",), "pop3": ("tcp",), "imap2": ("tcp",), "bgp": ("tcp",),
                   "ldaps": ("tcp",), "rsync": ("tcp",), "imaps": ("tcp",), "pop3s": ("tcp",),
                   "submission": ("tcp",), "mysql": ("tcp",), "postgresql": ("tcp",),
                   "http-alt": ("tcp",), "https": ("tcp", "udp"), "http": ("tcp",)}
_PORT_SERVICES = {}
for _name, _port in SERVICES.items():
    for _p in _SERVICE_PROTOS.get(_name, ("tcp", "udp")):
        _PORT_SERVICES.setdefault((_port, _p), _name)


def service_name(port: int, proto: str):
    """``getservbyport``: the service's name, or None."""
    return _PORT_SERVICES.get((port, proto))


def strtoul_prefix(text: str):
    """``strtoul(text, &end, 0)`` on the leading number: (value, the rest), or None when
    ``text`` does not start with one (``0x`` hex, a leading ``0`` octal, else decimal)."""
    if text[:2].lower() == "0x" and len(text) > 2 and text[2] in "0123456789abcdefABCDEF":
        i = 2
        while i < len(text) and text[i] in "0123456789abcdefABCDEF":
            i += 1
        return int(text[2:i], 16), text[i:]
    if text[:1] == "0":
        i = 1
        while i < len(text) and text[i] in "01234567":
            i += 1
        return int(text[:i], 8), text[i:]
    i = 0
    while i < len(text) and text[i].isdigit():
        i += 1
    if i == 0:
        return None
    return int(text[:i]), text[i:]


def parse_uint(text: str, lo: int = 0, hi: int = 0xFFFFFFFF):
    """``xtables_strtoui`` with base 0 on the whole of ``text``, or None."""
    r = strtoul_prefix(text)
    if r is None or r[1]:
        return None
    return r[0] if lo <= r[0] <= hi else None


def parse_protocol(text: str) -> int:
    """``xtables_parse_protocol``: a number 0..255 or a name."""
    v = parse_uint(text, 0, 255) if text[:1].isdigit() else None
    if v is not None:
        return v
    num = PROTOCOLS.get(text.lower())
    if num is None:
        raise ParameterProblem(f'unknown protocol "{text}" specified')
    return num


def proto_name(num: int, numeric: bool = False):
    """``proto_to_name``: iptables' own names first; with ``numeric`` no /etc/protocols."""
    for name in ("tcp", "sctp", "udp", "udplite", "icmp", "all"):
        if PROTOCOLS[name] == num:
            return name
    if num and not numeric:
        return _PROTO_NAMES.get(num)
    return None


def parse_port(text: str, proto: str) -> int:
    """``xtables_parse_port``: a number or a service name of ``proto``."""
    v = parse_uint(text, 0, 0xFFFF)
    if v is None and text in SERVICES and proto in _SERVICE_PROTOS.get(text, ("tcp", "udp")):
        v = SERVICES[text]
    if v is None:
        raise ParameterProblem(f"invalid port/service `{text}' specified")
    return v


def parse_port_range(text: str, proto: str):
    """``parse_tcp_ports``: ``P``, ``A:B``, ``:B`` or ``A:`` -> (min, max)."""
    if ":" not in text:
        p = parse_port(text, proto)
        return p, p
    a, b = text.split(":", 1)
    lo = parse_port(a, proto) if a else 0
    hi = parse_port(b, proto) if b else 0xFFFF
    if lo > hi:
        raise ParameterProblem("invalid portrange (min > max)")
    return lo, hi


def _strtoui8(text: str):
    """``xtables_strtoui(s, NULL, &v, 0, UINT8_MAX)``: ``strtoumax`` with base 0 (``0x``
    hexadecimal, a leading ``0`` octal), leading blanks allowed, nothing after the
    digits; None when that is not a number from 0 to 255."""
    t = text.lstrip(" \t\n\v\f\r")
    if t.startswith("+"):
        t = t[1:]
    if t[:2].lower() == "0x":
        digits, base = t[2:], 16
    elif t.startswith("0") and len(t) > 1:
        digits, base = t[1:], 8
    else:
        digits, base = t, 10
    try:
        v = int(digits, base) if digits and digits.isalnum() else None
    except ValueError:
        return None
    return v if v is not None and v <= 255 else None


def _parse_dotted(text: str, is_mask: bool = False):
    """``__numeric_to_ipaddr``: up to four dotted bytes; an address of fewer is completed
    with zeros (``10/8``, ``0/0``, ``127.0/8`` are networks), a mask is not."""
    parts = text.split(".")
    if len(parts) > 4 or (is_mask and len(parts) != 4):
        return None
    n = 0
    for p in parts:
        b = _strtoui8(p)
        if b is None:
            return None
        n = (n << 8) | b
    return n << (8 * (4 - len(parts)))


def _int_to_ip(n: int) -> str:
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def parse_address_list(text: str):
    """``xtables_ipparse_multiple``: ``ADDR[/MASK][,ADDR[/MASK]...]`` -> [(addr, mask)],
    each address with its host bits cleared, as iptables stores it."""
    out = []
    for item in text.split(","):
        addr_text, slash, mask_text = item.partition("/")
        if slash:
            if "." in mask_text:
                mask = _parse_dotted(mask_text, is_mask=True)
                if mask is None:
                    raise ParameterProblem(f"invalid mask `{mask_text}' specified")
            else:
                bits = parse_uint(mask_text, 0, 32) if mask_text.isdigit() else None
                if bits is None:
                    raise ParameterProblem(f"invalid mask `{mask_text}' specified")
                mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
        else:
            mask = 0xFFFFFFFF
        addr = _parse_dotted(addr_text)
        if addr is None:
            raise ParameterProblem(f"host/network `{addr_text}' not found")
        out.append((addr & mask, mask))
    return out


def mask_to_str(mask: int) -> str:
    """``mask_to_str``: a prefix length when the mask is one, else dotted."""
    if mask == 0xFFFFFFFF:
        return "32"
    for i in range(31, -1, -1):
        if mask == (0xFFFFFFFF << (32 - i)) & 0xFFFFFFFF:
            return str(i)
    return _int_to_ip(mask)


def format_addr(addr: int, mask: int, numeric: bool) -> str:
    """``ipv4_addr_to_string``: what ``-L`` shows in the source/destination columns."""
    if not mask and not numeric:
        return "anywhere"
    if mask == 0xFFFFFFFF:
        return _int_to_ip(addr)
    return f"{_int_to_ip(addr)}/{mask_to_str(mask)}"


_NO_QUOTE = set("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def save_string(value: str) -> str:
    """``xtables_save_string``: a leading space, then the value bare when it is made of
    safe characters, else in double quotes with ``"``, ``\\`` and ``'`` escaped."""
    if value and all(c in _NO_QUOTE for c in value):
        return " " + value
    escaped = "".join("\\" + c if c in "\"\\'" else c for c in value)
    return f' "{escaped}"'


def parse_mark_mask(text: str, ext_name: str, option: str):
    """``xtables_parse_mark_mask`` (``XTTYPE_MARKMASK32``): ``VALUE[/MASK]``, the mask all
    ones when not given."""
    bad = ParameterProblem(f'{ext_name}: bad integer value for option "--{option}", or out of range.\n')
    r = strtoul_prefix(text)
    if r is None or r[0] > 0xFFFFFFFF:
        raise bad
    value, rest = r
    if not rest:
        return value, 0xFFFFFFFF
    if rest[0] == "/":
        r = strtoul_prefix(rest[1:])
        if r is None or r[0] > 0xFFFFFFFF:
            raise bad
        if not r[1]:
            return value, r[0]
    raise ParameterProblem(f'{ext_name}: trailing garbage after value for option "--{option}".\n')


# -- the rule --------------------------------------------------------------------
class IpSpec:
    """``struct ipt_ip``: the part of every rule the kernel checks itself
    (``ip_packet_match``).  Addresses are integers with their masks (0 = any); interface
    names with ``+`` kept as typed (a prefix match); ``proto`` 0 = any; ``frag`` 0 (no
    ``-f``), 1 (``-f``: non-first fragments only) or -1 (``! -f``); ``inv_*`` are the
    ``!``s (``IPT_INV_*``)."""

    __slots__ = ("src", "smsk", "dst", "dmsk", "iniface", "outiface", "proto", "frag",
                 "inv_src", "inv_dst", "inv_in", "inv_out", "inv_proto")

    def __init__(self, src=0, smsk=0, dst=0, dmsk=0, iniface="", outiface="", proto=0, frag=0,
                 inv_src=False, inv_dst=False, inv_in=False, inv_out=False, inv_proto=False):
        self.src, self.smsk, self.dst, self.dmsk = src, smsk, dst, dmsk
        self.iniface, self.outiface, self.proto, self.frag = iniface, outiface, proto, frag
        self.inv_src, self.inv_dst, self.inv_in = inv_src, inv_dst, inv_in
        self.inv_out, self.inv_proto = inv_out, inv_proto

    def key(self) -> tuple:
        return tuple(getattr(self, s) for s in self.__slots__)

    def copy(self, **changes) -> "IpSpec":
        new = IpSpec(*self.key())
        for k, v in changes.items():
            setattr(new, k, v)
        return new

    def save(self) -> str:
        """``nft_ipv4_save_rule``'s first part: ``-s``, ``-d``, ``-i``, ``-o``, ``-p``, ``-f``."""
        out = []
        for letter, addr, mask, inv in (("s", self.src, self.smsk, self.inv_src),
                                        ("d", self.dst, self.dmsk, self.inv_dst)):
            if mask or inv or addr:
                out.append(f"{' !' if inv else ''} -{letter} {_int_to_ip(addr)}/{mask_to_str(mask)}")
        for letter, name, inv in (("i", self.iniface, self.inv_in), ("o", self.outiface, self.inv_out)):
            if name and name != "+":
                out.append(f"{' !' if inv else ''} -{letter} {name}")
        if self.proto:
            name = proto_name(self.proto)
            out.append(f"{' !' if self.inv_proto else ''} -p {name if name else self.proto}")
        if self.frag:
            out.append(f"{' !' if self.frag < 0 else ''} -f")
        return "".join(out)

    def compile(self) -> list:
        """The conditions of ``ip_packet_match`` this rule has, as callables(pkt) -> bool."""
        conds = []
        if self.smsk or self.inv_src:
            conds.append(_addr_cond("saddr", self.src, self.smsk, self.inv_src))
        if self.dmsk or self.inv_dst:
            conds.append(_addr_cond("daddr", self.dst, self.dmsk, self.inv_dst))
        if self.iniface and self.iniface != "+":
            conds.append(_iface_cond("indev", self.iniface, self.inv_in))
        if self.outiface and self.outiface != "+":
            conds.append(_iface_cond("outdev", self.outiface, self.inv_out))
        if self.proto:
            proto, inv = self.proto, self.inv_proto
            conds.append((lambda p: p.proto != proto) if inv else (lambda p: p.proto == proto))
        if self.frag:
            # -f: non-first fragments; ! -f: unfragmented packets and first fragments
            want = self.frag > 0
            conds.append(lambda p: bool(p.frag_off) == want)
        return conds


def _addr_cond(field: str, addr: int, mask: int, inv: bool):
    if inv:
        if field == "saddr":
            return lambda p: (p.saddr & mask) != addr
        return lambda p: (p.daddr & mask) != addr
    if field == "saddr":
        return lambda p: (p.saddr & mask) == addr
    return lambda p: (p.daddr & mask) == addr


def _iface_cond(field: str, name: str, inv: bool):
    """``ifname_compare_aligned``: ``eth+`` matches every name starting ``eth``; a name
    without ``+`` matches itself only; no device (OUTPUT's input) is the empty name."""
    if name.endswith("+"):
        prefix = name[:-1]
        if field == "indev":
            def cond(p):
                d = p.indev
                return (d is not None and d.name.startswith(prefix)) != inv
        else:
            def cond(p):
                d = p.outdev
                return (d is not None and d.name.startswith(prefix)) != inv
        return cond
    if field == "indev":
        def cond(p):
            d = p.indev
            return (d is not None and d.name == name) != inv
    else:
        def cond(p):
            d = p.outdev
            return (d is not None and d.name == name) != inv
    return cond


#: how a compiled rule's target acts (``Rule.kind``)
K_VERDICT, K_JUMP, K_GOTO, K_RETURN, K_TARGET, K_NONE = range(6)


class Rule:
    """``struct ipt_entry``: ``ip`` (:class:`IpSpec`), ``matches`` (extension matches in
    order), ``target`` (an extension target object, or None for a standard one),
    ``verdict`` (the standard target's name: ``ACCEPT``, ``DROP``, ``RETURN``, a chain's
    name, or "" for a rule without one), ``goto`` (``-g``), and counters ``packets`` and
    ``bytes``."""

    __slots__ = ("ip", "matches", "target", "verdict", "goto", "packets", "bytes")

    def __init__(self, ip: IpSpec = None, matches=(), target=None, verdict: str = "",
                 goto: bool = False, packets: int = 0, bytes_: int = 0):
        self.ip = ip if ip is not None else IpSpec()
        self.matches = list(matches)
        self.target = target
        self.verdict = verdict
        self.goto = goto
        self.packets = packets
        self.bytes = bytes_

    @property
    def target_name(self) -> str:
        """What ``-L`` shows in the target column."""
        return self.target.name if self.target is not None else self.verdict

    @property
    def jump(self):
        """The user chain this rule jumps or goes to, or None."""
        if self.target is None and self.verdict not in ("", "ACCEPT", "DROP", "RETURN"):
            return self.verdict
        return None

    def spec(self, counters: bool = False) -> str:
        """The rule as ``iptables-save`` prints it after ``-A CHAIN`` (starting with a
        space, or empty); ``counters`` adds ``-c PKTS BYTES`` before the target as
        ``iptables -S -v`` does."""
        out = [self.ip.save()]
        for m in self.matches:
            out.append(f" -m {m.alias}{m.save(self.ip)}")
        if counters:
            out.append(f" -c {self.packets} {self.bytes}")
        if self.target is not None:
            out.append(f" -j {self.target.name}{self.target.save(self.ip)}")
        elif self.verdict:
            out.append(f" -{'g' if self.goto else 'j'} {self.verdict}")
        return "".join(out)

    def key(self) -> tuple:
        """What ``-D``/``-C`` compare (``compare_matches``/``compare_targets``): everything
        but the counters."""
        return (self.ip.key(), tuple(m.key() for m in self.matches),
                self.target.key() if self.target is not None else None, self.verdict, self.goto)

    def copy(self) -> "Rule":
        return Rule(self.ip, self.matches, self.target, self.verdict, self.goto,
                    self.packets, self.bytes)


class Chain:
    """A chain: ``name``, ``rules``, and for a built-in chain its ``policy`` ("ACCEPT" or
    "DROP") and the policy's counters (``packets``, ``bytes``); ``policy`` None marks a
    user-defined chain."""

    __slots__ = ("name", "policy", "rules", "packets", "bytes")

    def __init__(self, name: str, policy: str = None, rules=None, packets: int = 0, bytes_: int = 0):
        self.name = name
        self.policy = policy
        self.rules = list(rules) if rules else []
        self.packets = packets
        self.bytes = bytes_

    @property
    def builtin(self) -> bool:
        return self.policy is not None

    def copy(self) -> "Chain":
        return Chain(self.name, self.policy, self.rules, self.packets, self.bytes)


class _Compiled:
    """One rule as ``do_table`` runs it."""

    __slots__ = ("rule", "num", "conds", "kind", "arg", "judges")

    def __init__(self, rule, num, conds, kind, arg, judges):
        self.rule, self.num, self.conds, self.kind, self.arg, self.judges = \
            rule, num, conds, kind, arg, judges


class Table:
    """One iptables table of a namespace: ``name`` and ``chains`` (name -> :class:`Chain`,
    built-in chains first in hook order, then user chains in creation order)."""

    def __init__(self, name: str, chains: dict = None):
        self.name = name
        self.chains = chains if chains is not None else {}
        self._compiled = None

    @classmethod
    def builtin(cls, name: str) -> "Table":
        """The table ``name`` as registered: its built-in chains with ACCEPT policies."""
        hooks, _ = TABLES[name]
        return cls(name, {HOOK_CHAINS[h]: Chain(HOOK_CHAINS[h], "ACCEPT") for h in hooks})

    @property
    def valid_hooks(self) -> tuple:
        return TABLES[self.name][0]

    def clone(self) -> "Table":
        """A copy to change and validate before it replaces this table's chains (the rules
        are shared until replaced; counters travel with them)."""
        return Table(self.name, {n: c.copy() for n, c in self.chains.items()})

    def replace(self, other: "Table") -> None:
        """Take ``other``'s chains (a validated clone): the commit."""
        self.chains = other.chains
        self._compiled = None

    def changed(self) -> None:
        """Forget the compiled form (every change to chains or rules calls this)."""
        self._compiled = None

    def references(self, chain_name: str) -> int:
        """How many rules jump or go to ``chain_name`` (``-L``'s "N references")."""
        return sum(1 for c in self.chains.values() for r in c.rules if r.jump == chain_name)

    def user_chains_sorted(self) -> list:
        """User chains as iptables-nft lists them (``nft_cache_sort_chains``: by name)."""
        return sorted((c for c in self.chains.values() if not c.builtin), key=lambda c: c.name)

    def listing_order(self) -> list:
        """Built-in chains in hook order, then the user chains by name."""
        builtins = [c for c in self.chains.values() if c.builtin]
        builtins.sort(key=lambda c: CHAIN_HOOKS.get(c.name, 99))
        return builtins + self.user_chains_sorted()

    # -- the kernel's checks ---------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ValidationError` as the kernel refuses a ruleset at commit.

        A jump or goto to a built-in chain is "Operation not supported" (``EOPNOTSUPP``).
        From each built-in chain, follow jumps and gotos: a chain reached
        :data:`NFT_JUMP_STACK_SIZE` levels down, or a loop, is "Too many links"
        (``EMLINK``); a target or match used at a hook or in a table it does not
        support is "Invalid argument" (``EINVAL``)."""
        for chain in self.chains.values():
            for rule in chain.rules:
                dest = self.chains.get(rule.jump) if rule.jump is not None else None
                if dest is not None and dest.builtin:
                    # nft_verdict_init: no jump or goto to a base chain
                    raise ValidationError("Operation not supported", chain.name, rule)
        hooks_of = {}       # chain -> set of hooks that reach it
        deepest = {}        # (chain, hook) -> the deepest level it was walked from
        for base in self.chains.values():
            if base.builtin:
                self._walk(base, CHAIN_HOOKS[base.name], 0, hooks_of, deepest, [])
        for chain_name, hooks in hooks_of.items():
            for rule in self.chains[chain_name].rules:
                _check_rule(self.name, chain_name, rule, hooks)

    def _walk(self, chain, hook, level, hooks_of, deepest, path):
        if chain.name in path or level >= NFT_JUMP_STACK_SIZE:
            raise ValidationError("Too many links", chain.name)
        # walked before from as deep or deeper: nothing below can be deeper now
        if deepest.get((chain.name, hook), -1) >= level:
            return
        deepest[chain.name, hook] = level
        hooks_of.setdefault(chain.name, set()).add(hook)
        path.append(chain.name)
        for rule in chain.rules:
            target = rule.jump
            if target is not None:
                dest = self.chains.get(target)
                if dest is not None:
                    self._walk(dest, hook, level + 1, hooks_of, deepest, path)
        path.pop()

    # -- ipt_do_table -------------------------------------------------------------
    def compile(self) -> dict:
        """chain name -> list of compiled rules; kept until the next change."""
        compiled = {}
        for chain in self.chains.values():
            rows = []
            for num, rule in enumerate(chain.rules, 1):
                conds = list(rule.ip.compile())
                for m in rule.matches:
                    cond = m.compile(rule.ip)
                    if cond is not None:        # -m comment never fails
                        conds.append(cond)
                judges = False
                if rule.target is not None:
                    kind, arg = K_TARGET, rule.target.compile(rule.ip)
                    judges = rule.target.judges
                elif rule.verdict in STANDARD_VERDICTS:
                    kind, arg, judges = K_VERDICT, STANDARD_VERDICTS[rule.verdict], True
                elif rule.verdict == "RETURN":
                    kind, arg = K_RETURN, None
                elif rule.verdict:
                    kind, arg = (K_GOTO if rule.goto else K_JUMP), rule.verdict
                else:
                    kind, arg = K_NONE, None
                rows.append(_Compiled(rule, num, tuple(conds), kind, arg, judges))
            compiled[chain.name] = rows
        self._compiled = compiled
        return compiled

    def describe(self, chain_name: str, num: int, rule: Rule) -> str:
        """"nat DOCKER rule 1: -A DOCKER ..." — a rule named for notes and drop reasons."""
        return f"{self.name} {chain_name} rule {num}: -A {chain_name}{rule.spec()}"

    def do_table(self, pkt, chain_name: str) -> int:
        """``ipt_do_table``: run the packet through built-in chain ``chain_name``; the
        verdict (``NF_ACCEPT``, ``NF_DROP``, ``NF_STOLEN``).

        Every rule whose conditions all hold counts the packet (packets += 1, bytes +=
        the IP length) before its target runs.  A standard verdict ends the walk; a jump
        pushes the return point, a goto does not; RETURN, or the end of a user chain,
        pops it, and with nothing to pop the built-in chain's policy decides (and counts
        the packet); a target extension returns ``XT_CONTINUE`` (go on) or a verdict.

        For whoever observes (``pkt.notes``), a line per rule that sent the packet into a
        chain, judged it or changed it, and per policy that decided."""
        compiled = self._compiled
        if compiled is None:
            compiled = self.compile()
        base = chain_name
        cur = chain_name
        rows = compiled[cur]
        n = len(rows)
        i = 0
        stack = []
        length = len(pkt.data)
        notes = pkt.notes
        try:
            while True:
                if i >= n:
                    if stack:
                        cur, i = stack.pop()
                        rows = compiled[cur]
                        n = len(rows)
                        continue
                    return self._policy(pkt, base)
                row = rows[i]
                i += 1
                for cond in row.conds:
                    if not cond(pkt):
                        break
                else:
                    rule = row.rule
                    rule.packets += 1
                    rule.bytes += length
                    kind = row.kind
                    if kind == K_TARGET:
                        if notes is not None and row.judges:
                            pkt.note(self.describe(cur, row.num, rule))
                        verdict = row.arg(pkt)
                        if verdict == XT_CONTINUE:
                            continue
                        if verdict == NF_DROP and not pkt.why:
                            pkt.why = self.describe(cur, row.num, rule)
                        return verdict
                    if kind == K_VERDICT:
                        if notes is not None:
                            pkt.note(self.describe(cur, row.num, rule))
                        if row.arg == NF_DROP:
                            pkt.why = self.describe(cur, row.num, rule)
                        return row.arg
                    if notes is not None and kind in (K_JUMP, K_GOTO):
                        # as the kernel's TRACE target: the chains a packet entered
                        pkt.note(self.describe(cur, row.num, rule))
                    if kind == K_JUMP:
                        stack.append((cur, i))
                        cur = row.arg
                        rows = compiled[cur]
                        n = len(rows)
                        i = 0
                    elif kind == K_GOTO:
                        cur = row.arg
                        rows = compiled[cur]
                        n = len(rows)
                        i = 0
                    elif kind == K_RETURN:
                        if stack:
                            cur, i = stack.pop()
                            rows = compiled[cur]
                            n = len(rows)
                        else:
                            return self._policy(pkt, base)
        except HotDrop:
            pkt.why = f"{self.name} {cur} rule {row.num}: malformed packet (hotdrop)"
            return NF_DROP

    def _policy(self, pkt, chain_name: str) -> int:
        chain = self.chains[chain_name]
        chain.packets += 1
        chain.bytes += len(pkt.data)
        if chain.policy == "DROP":
            pkt.why = f"{self.name} {chain_name} policy DROP"
            if pkt.notes is not None:
                pkt.note(pkt.why)
            return NF_DROP
        # an empty chain's ACCEPT judged nothing worth a line in a trace
        if pkt.notes is not None and chain.rules:
            pkt.note(f"{self.name} {chain_name} policy ACCEPT")
        return NF_ACCEPT


def _check_rule(table: str, chain: str, rule: Rule, hooks: set) -> None:
    """``xt_check_match``/``xt_check_target`` for a rule reached from ``hooks``."""
    exts = list(rule.matches)
    if rule.target is not None:
        exts.append(rule.target)
    for ext in exts:
        if ext.table is not None and ext.table != table:
            raise ValidationError("Invalid argument", chain, rule)
        if ext.hooks is not None and not hooks <= set(ext.hooks):
            raise ValidationError("Invalid argument", chain, rule)
        if not ext.check_entry(rule.ip, hooks):
            raise ValidationError("Invalid argument", chain, rule)

