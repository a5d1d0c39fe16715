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

The parsers and printers matches, targets and the command line share, and the errors they
raise, are :mod:`.libxtables`'s.
"""
from emunet.stack.netfilter.hooks import (CHAIN_HOOKS, HOOK_CHAINS, NF_ACCEPT, NF_DROP, TABLES,
                                          XT_CONTINUE)
from emunet.stack.netfilter.libxtables import mask_to_str, proto_name
from emunet.wire.ipv4 import int_to_ip

__all__ = ["IpSpec", "Rule", "Chain", "Table", "HotDrop", "ValidationError", "NFT_JUMP_STACK_SIZE",
           "STANDARD_VERDICTS"]

#: ``NFT_JUMP_STACK_SIZE``: how deep jumps may nest below a base chain
NFT_JUMP_STACK_SIZE = 16

#: ``-j`` targets that are verdicts, not extensions
STANDARD_VERDICTS = {"ACCEPT": NF_ACCEPT, "DROP": NF_DROP}


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
                out.append(f"{' !' if inv else ''} -{letter} {int_to_ip(addr)}/{mask_to_str(mask)}")
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

