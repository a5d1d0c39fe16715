"""The matches on a packet's connection: ``-m conntrack`` and ``-m state``
(``libxt_conntrack.c``, ``libxt_state.c``; the kernel's ``xt_conntrack.c``, ``xt_state.c``)."""
from emunet.stack.netfilter.conntrack import (IP_CT_IS_REPLY, IP_CT_UNTRACKED, IPS_DST_NAT,
                                              IPS_SRC_NAT, IPS_UNTRACKED)
from emunet.stack.netfilter.extension import Extension, Opt
from emunet.stack.netfilter.libxtables import (ParameterProblem, format_addr, parse_address_list,
                                               parse_port, parse_protocol)

__all__ = ["ConntrackMatch", "StateMatch", "ctstate_of", "ct_orig_tuple", "state_bit"]


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
