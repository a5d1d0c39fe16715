"""The ``iptables`` command line and ``iptables-restore``/``iptables-save`` of iptables 1.8.9
with the nf_tables backend (``xtables.c`` ``do_commandx``, ``xtables-restore.c``,
``xtables-save.c``, ``nft.c``), over one namespace's
:class:`~emunet.stack.netfilter.core.Netfilter`.  Reading a command line is
:mod:`.iptables_parse`'s (``xshared.c``'s ``do_parse``); what ``-S`` and ``-L`` print,
:mod:`.iptables_list`'s.

Every change is made on a copy of the table, checked as the kernel checks a commit
(:meth:`~.xtables.Table.validate`) and only then put in place, so a refused command or
restore leaves the rules as they were.  Errors raise
:class:`~.libxtables.IptablesError` with the exact text iptables-nft prints on stderr and its
exit status.

Where the model differs from the real tool, on purpose:

- ``iptables-restore`` is atomic over its whole input (iptables-nft commits each table at
  its ``COMMIT``, so tables before a failing one would stay).
- ``iptables-save`` dates its comment lines with the simulator's clock
  (``sim.wall_ns``, UTC, in ``ctime``'s format), so the same run prints the same text.
- Built-in chains always exist here; iptables-nft makes a base chain in the kernel only
  when something names it, so ``-Z -v`` there names fewer chains in a fresh table.
- Names are not resolved: ``-s``/``-d`` take addresses (``host/network `NAME' not found``
  for anything else) and ``-L`` without ``-n`` prints addresses, not host names; services
  and protocols come from a built-in copy of netbase's tables.
"""
import shlex
import time

from emunet.stack.netfilter.hooks import CHAIN_HOOKS, TABLES
from emunet.stack.netfilter.iptables_list import list_entries, list_rules
from emunet.stack.netfilter.iptables_parse import (BadArgument, Parsed, TryHelp,
                                                   assert_valid_chain_name, do_parse)
from emunet.stack.netfilter.libxtables import (OTHER_PROBLEM, PARAMETER_PROBLEM, RESOURCE_PROBLEM,
                                               VERSION_PROBLEM, IptablesError, ParameterProblem)
from emunet.stack.netfilter.xtables import Chain, Rule, Table, ValidationError

__all__ = ["Iptables", "IptablesError", "VERSION", "parse_rule"]

VERSION = "v1.8.9 (nf_tables)"
#: the table order of ``xtables_ipv4`` (what ``iptables-save`` walks)
SAVE_ORDER = ("mangle", "security", "raw", "filter", "nat")
class Iptables:
    """``iptables`` over one namespace's netfilter.

    :meth:`run` is the command line (``-A -I -D -R -C -N -X -E -F -Z -P -L -S``, with
    ``-t -n -v -x --line-numbers``; ``-w`` is accepted and ignored), :meth:`restore` is
    ``iptables-restore`` and :meth:`save` is ``iptables-save``."""

    def __init__(self, netfilter):
        self.netfilter = netfilter

    # -- errors ---------------------------------------------------------------------
    @staticmethod
    def _error(prog, text, status=PARAMETER_PROBLEM, line=None) -> IptablesError:
        """``xtables_exit_error``: the program's prefix, the message, and for a parameter
        problem the line (restore) and the "Try" line; for a version problem the hint."""
        out = f"{prog} {VERSION}: {text}\n"
        if status == PARAMETER_PROBLEM:
            if line is not None:
                out += f"Error occurred at line: {line}\n"
            out += f"Try `{prog} -h' or '{prog} --help' for more information.\n"
        elif status == VERSION_PROBLEM:
            out += "Perhaps iptables or your kernel needs to be upgraded.\n"
        return IptablesError(out[:-1], status)

    @staticmethod
    def _tryhelp(prog, text, line=None) -> IptablesError:
        """``exit_tryhelp`` after a message printed without the program's prefix."""
        out = f"{text}\n"
        if line is not None:
            out += f"Error occurred at line: {line}\n"
        out += f"Try `{prog} -h' or '{prog} --help' for more information.\n"
        return IptablesError(out[:-1], PARAMETER_PROBLEM)

    # -- parsing --------------------------------------------------------------------
    def parse(self, argv, table="filter", prog="iptables", line=None, restore=False) -> Parsed:
        """``do_parse`` then ``post_parse``: the command and the rules it means; raises
        IptablesError as iptables does."""
        try:
            return do_parse(list(argv), table, restore, self.netfilter)
        except ParameterProblem as e:
            raise self._error(prog, e.text, e.status, line) from None
        except BadArgument as e:
            raise self._tryhelp(prog, f"Bad argument `{e.args[0]}'", line) from None

    # -- the command line -------------------------------------------------------------
    def run(self, argv) -> str:
        """``iptables ARGS...`` (a list, or a string split as a shell would); what it
        prints on stdout."""
        if isinstance(argv, str):
            argv = shlex.split(argv)
        argv = list(argv)
        if argv and argv[0] in ("iptables", "iptables-nft"):
            argv = argv[1:]
        prog = "iptables"
        try:
            p = self.parse(argv, prog=prog)
        except TryHelp:
            raise self._tryhelp(prog, "", None) from None
        if p.command == "V":
            return f"iptables {VERSION}\n"
        if p.table not in TABLES:
            raise self._error(prog, f"table '{p.table}' does not exist", VERSION_PROBLEM)
        if p.command in ("L", "S"):
            # listing registers nothing (iptables-nft shows a table it has not made
            # with its built-in chains, nft_xt_fake_builtin_chains)
            table = self.netfilter.tables.get(p.table) or Table.builtin(p.table)
            out = self._list(table, p, prog)
            if p.zero:
                out += self._zero(table, p.chain, p.zero_rulenum or None, bool(p.verbose))
            return out
        # only a command that adds something makes the table (iptables-nft flushes,
        # zeroes or deletes in a table it has not made without making it)
        known = self.netfilter.tables.get(p.table)
        work = known.clone() if known is not None else Table.builtin(p.table)
        try:
            out = self._apply(work, p, prog)
        except _NftError as e:
            if e.kernel:
                raise IptablesError(f"{prog} {VERSION}:  {e.text}", e.status) from None
            raise IptablesError(f"{prog}: {e.text}", e.status) from None
        except _ChainMissing as e:
            raise self._error(prog, f"Chain '{e.args[0]}' does not exist") from None
        if p.command == "C":
            return ""
        try:
            work.validate()
        except ValidationError as e:
            raise IptablesError(f"{prog} {VERSION}: {_commit_text(p, e)}", RESOURCE_PROBLEM) from None
        if known is None:
            if p.command not in ("A", "I", "N", "P", "R", "E"):
                return out
            known = self.netfilter.get_table(p.table)
        known.replace(work)
        self.netfilter.rules_changed()
        return out

    def _apply(self, t: Table, p: Parsed, prog: str) -> str:
        """Carry out a changing command on table copy ``t`` (``nft_prepare``'s cases);
        what it prints."""
        cmd = p.command
        chains = t.chains
        out = ""
        if cmd in ("A", "I", "R", "C", "D"):
            jump = p.rules[0].jump if p.rules else None
            if p.goto and jump is None:
                jump = p.jumpto         # -g ACCEPT: a goto names a chain, never a verdict
            if jump is not None and jump not in chains:
                raise _ChainMissing(jump)
        if cmd in ("A", "I", "D", "DN", "R", "C") and p.chain not in chains:
            raise _NftError("No chain/target/match by that name.")
        if cmd == "A":
            chains[p.chain].rules.extend(r.copy() for r in p.rules)
        elif cmd == "I":
            rules = chains[p.chain].rules
            pos = p.rulenum - 1
            for r in p.rules:
                if pos > len(rules) or (pos > 0 and not rules):
                    raise _NftError("Index of insertion too big.")
                rules.insert(pos, r.copy())
        elif cmd == "R":
            rules = chains[p.chain].rules
            if p.rulenum > len(rules):
                raise _NftError("Index of replacement too big.")
            rules[p.rulenum - 1] = p.rules[0].copy()
        elif cmd in ("D", "C"):
            rules = chains[p.chain].rules
            for r in p.rules:
                key = r.key()
                for idx, old in enumerate(rules):
                    if old.key() == key:
                        if cmd == "D":
                            del rules[idx]
                        break
                else:
                    raise _NftError("Bad rule (does a matching rule exist in that chain?).")
        elif cmd == "DN":
            rules = chains[p.chain].rules
            if p.rulenum > len(rules):
                raise _NftError("Index of deletion too big.")
            del rules[p.rulenum - 1]
        elif cmd == "F":
            if p.chain is None:
                for c in chains.values():
                    c.rules = []
            elif p.chain not in chains:
                raise _NftError("No chain/target/match by that name.")
            else:
                chains[p.chain].rules = []
        elif cmd in ("Z", "ZN"):
            if p.chain is not None and p.chain not in chains:
                raise _NftError("No chain/target/match by that name.")
            out = self._zero(t, p.chain, p.rulenum if cmd == "ZN" else None, bool(p.verbose))
        elif cmd == "N":
            if p.chain in chains:
                raise _NftError("Chain already exists.")
            chains[p.chain] = Chain(p.chain)
        elif cmd == "X":
            self._delete_chains(t, p.chain)
        elif cmd == "E":
            self._rename(t, p.chain, p.newname)
        elif cmd == "P":
            c = chains.get(p.chain)
            if c is None or not c.builtin:
                raise _NftError("Bad built-in chain name.")
            if p.policy not in ("ACCEPT", "DROP"):
                raise _NftError("Bad policy name. Run `dmesg' for more information.")
            c.policy = p.policy
            if p.counters is not None:
                c.packets, c.bytes = p.counters
        t.changed()
        return out

    @staticmethod
    def _zero(t: Table, chain, rulenum, verbose: bool = False) -> str:
        """``-Z [CHAIN [N]]``; with ``-v`` each chain zeroed is named
        (``nft_chain_zero_counters``)."""
        out = []
        for c in (t.listing_order() if chain is None else [t.chains[chain]]):
            if rulenum is not None:
                if rulenum <= len(c.rules):
                    c.rules[rulenum - 1].packets = c.rules[rulenum - 1].bytes = 0
                continue
            if verbose:
                out.append(f"Zeroing chain `{c.name}'\n")
            c.packets = c.bytes = 0
            for r in c.rules:
                r.packets = r.bytes = 0
        return "".join(out)

    @staticmethod
    def _delete_chains(t: Table, name) -> None:
        chains = t.chains
        if name is not None:
            c = chains.get(name)
            if c is None:
                raise _NftError("No chain/target/match by that name.")
            if c.builtin:
                # a restore that flushed the table has not made the base chain yet unless
                # a line named it (iptables-nft creates base chains on demand)
                if name in getattr(t, "undeclared", ()):
                    raise _NftError("No chain/target/match by that name.")
                raise _NftError("Directory not empty.")
            victims = [c]
        else:
            victims = t.user_chains_sorted()
        for c in victims:
            if c.rules or t.references(c.name):
                raise _NftError(f"CHAIN_DEL failed (Device or resource busy): chain {c.name}",
                                RESOURCE_PROBLEM, kernel=True)
        for c in victims:
            del chains[c.name]

    @staticmethod
    def _rename(t: Table, old, new) -> None:
        chains = t.chains
        c = chains.get(old)
        if c is None:
            raise _NftError("No chain/target/match by that name.")
        assert_valid_chain_name(new)
        if new in chains:
            raise _NftError("File exists.")
        if c.builtin:
            # iptables-nft renames the base chain; the hook it sits on is its name here
            raise _NftError("Invalid argument. Run `dmesg' for more information.")
        t.chains = {(new if k == old else k): v for k, v in chains.items()}
        c.name = new
        for other in t.chains.values():
            other.rules = [_retarget(r, old, new) for r in other.rules]

    # -- listing ---------------------------------------------------------------------
    def _list(self, table: Table, p: Parsed, prog: str) -> str:
        if p.chain is not None and p.chain not in table.chains:
            raise self._error(prog, f"chain `{p.chain}' in table `{table.name}' is incompatible, "
                              f"use 'nft' tool.", OTHER_PROBLEM)
        if p.command == "S":
            return list_rules(table, p.chain, p.rulenum, counters=bool(p.verbose))
        return list_entries(table, p.chain, p.rulenum, verbose=bool(p.verbose),
                            numeric="n" in p.options, exact="x" in p.options,
                            linenumbers="0" in p.options)

    # -- iptables-save ------------------------------------------------------------------
    def save(self, counters: bool = False, table: str = None) -> str:
        """``iptables-save [-c] [-t TABLE]``: each table that exists (or the one asked
        for), in the kernel's order, dated by the simulator's clock."""
        out = []
        names = [table] if table is not None else [n for n in SAVE_ORDER if n in self.netfilter.tables]
        if table is not None and table not in TABLES:
            raise IptablesError(f"Table `{table}' does not exist", OTHER_PROBLEM)
        when = _ctime(self.netfilter.sim)
        for name in names:
            # a table asked for by name is printed with its built-in chains even before it
            # is made, as iptables-nft fakes them
            t = self.netfilter.tables.get(name) or Table.builtin(name)
            out.append(f"# Generated by iptables-save {VERSION} on {when}")
            out.append(f"*{name}")
            for c in t.listing_order():
                if c.builtin:
                    out.append(f":{c.name} {c.policy} [{c.packets}:{c.bytes}]")
                else:
                    out.append(f":{c.name} - [0:0]")
            for c in t.listing_order():
                for r in c.rules:
                    prefix = f"[{r.packets}:{r.bytes}] " if counters else ""
                    out.append(f"{prefix}-A {c.name}{r.spec()}")
            out.append("COMMIT")
            out.append(f"# Completed on {when}")
        return "".join(line + "\n" for line in out)

    # -- iptables-restore -------------------------------------------------------------------
    def restore(self, text: str, noflush: bool = False, counters: bool = False) -> None:
        """``iptables-restore [--noflush] [-c]``: load ``text``; nothing changes unless every
        line is accepted (:class:`IptablesError` names the line as iptables-restore does)."""
        prog = "iptables-restore"
        work = {}               # table name -> the copy being changed
        deferred = []           # (line, table, parsed): checks nft makes at COMMIT
        curtable = None
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lineno = 0
        for raw in lines:
            lineno += 1
            if raw == "\n":
                continue
            if raw.startswith("#"):
                continue
            if curtable is not None and raw.startswith("COMMIT") and raw[6:] in ("", "\n"):
                self._restore_commit(work[curtable], deferred, lineno, prog)
                deferred = []
                curtable = None
                continue
            if raw.startswith("*") and curtable is None:
                name = raw[1:].split()[0] if raw[1:].split() else None
                if name is None:
                    raise self._error(prog, f"{prog}: line {lineno} table name invalid", line=lineno)
                if name not in TABLES:
                    raise self._error(prog, f"{prog}: line {lineno} table name '{name}' invalid",
                                      line=lineno)
                if noflush:
                    existing = work.get(name) or self.netfilter.tables.get(name) or Table.builtin(name)
                    work[name] = existing.clone()
                else:
                    work[name] = Table.builtin(name)
                    work[name].undeclared = set(work[name].chains)
                curtable = name
                continue
            if curtable is None:
                raise IptablesError(f"{prog}: line {lineno} failed", OTHER_PROBLEM)
            t = work[curtable]
            if raw.startswith(":"):
                fields = raw[1:].split()
                if not fields:
                    raise self._error(prog, f"{prog}: line {lineno} chain name invalid", line=lineno)
                chain = fields[0]
                try:
                    assert_valid_chain_name(chain)
                except ParameterProblem as e:
                    raise self._error(prog, e.text, line=lineno) from None
                if len(fields) < 2:
                    raise self._error(prog, f"{prog}: line {lineno} policy invalid", line=lineno)
                policy = fields[1]
                c = t.chains.get(chain)
                if chain in CHAIN_HOOKS and CHAIN_HOOKS[chain] in t.valid_hooks:
                    getattr(t, "undeclared", set()).discard(chain)
                    if policy not in ("ACCEPT", "DROP"):
                        raise IptablesError(f"{prog}: line {lineno} failed: Bad policy name.", OTHER_PROBLEM)
                    c.policy = policy
                    if counters and len(fields) > 2:
                        pk, _, by = fields[2].strip("[]").partition(":")
                        if pk.isdigit() and by.isdigit():
                            c.packets, c.bytes = int(pk), int(by)
                elif c is not None:
                    c.rules = []        # nft_chain_restore flushes a declared chain
                else:
                    t.chains[chain] = Chain(chain)
                t.changed()
                continue
            # a rule line: "[pkts:bytes] -A CHAIN ..."
            body = raw
            pcnt = bcnt = None
            if body.startswith("["):
                close = body.find("]")
                if close < 0:
                    raise self._error(prog, f"Bad line {lineno}: need ]", line=lineno)
                inner = body[1:close]
                pcnt, colon, bcnt = inner.partition(":")
                if not colon:
                    raise self._error(prog, f"Bad line {lineno}: need :", line=lineno)
                body = body[close + 1:]
            argv = _tokenize(body)
            if counters and pcnt is not None:
                argv = ["--set-counters", pcnt, bcnt] + argv
            try:
                p = self.parse(argv, table=curtable, prog=prog, line=lineno, restore=True)
            except TryHelp:
                raise self._tryhelp(prog, "", lineno) from None
            if p.table != curtable:
                raise self._error(prog, "The -t option cannot be used in iptables-restore.\n", line=lineno)
            if p.command in ("L", "S", "V"):
                continue
            if p.command != "X":
                getattr(t, "undeclared", set()).discard(p.chain)
            deferred.append((lineno, p))
        if curtable is not None:
            raise IptablesError(f"{prog}: COMMIT expected at line {lineno + 1}", OTHER_PROBLEM)
        for name, t in work.items():
            live = self.netfilter.get_table(name)
            live.replace(t)
        if work:
            self.netfilter.rules_changed()

    def _restore_commit(self, t: Table, deferred: list, commit_line: int, prog: str) -> None:
        """``nft_prepare`` then the kernel's commit for one table of a restore: each
        command in order, then the whole table checked; a refused table is blamed on the
        first rule whose addition makes it fail, as the kernel refuses that message."""
        start = t.clone()
        for lineno, p in deferred:
            self._restore_apply(t, lineno, p, commit_line, prog)
        try:
            t.validate()
        except ValidationError:
            replay = start
            for lineno, p in deferred:
                self._restore_apply(replay, lineno, p, commit_line, prog)
                try:
                    replay.validate()
                except ValidationError as e:
                    raise IptablesError(f"{prog} {VERSION}: \nline {lineno}:{_commit_text(p, e)}",
                                        RESOURCE_PROBLEM) from None
            raise

    def _restore_apply(self, t, lineno, p, commit_line, prog):
        try:
            self._apply(t, p, prog)
        except _ChainMissing as e:
            raise self._error(prog, f"Chain '{e.args[0]}' does not exist", line=commit_line) from None
        except _NftError as e:
            if e.kernel:
                raise IptablesError(f"{prog} {VERSION}: \nline {lineno}: {e.text}", e.status) from None
            text = e.text.split(" Run `dmesg'")[0]
            raise IptablesError(f"{prog}: line {lineno} failed: {text}", OTHER_PROBLEM) from None


class _ChainMissing(Exception):
    """A rule jumps to a chain the table does not have (``assert_chain_exists``)."""


class _NftError(Exception):
    """A command the backend refused: ``text`` is what follows "iptables: " (``errno``'s
    text from ``nft_strerror``), or for a kernel refusal (``kernel``) what follows the
    program's prefix."""

    def __init__(self, text, status=OTHER_PROBLEM, kernel=False):
        super().__init__(text)
        self.text = text
        self.status = status
        self.kernel = kernel


def _commit_text(p: Parsed, e: ValidationError) -> str:
    """``RULE_APPEND failed (Too many links): rule in chain FORWARD``: the batch message
    the kernel refused, named as ``nft`` names it."""
    op = {"A": "RULE_APPEND", "I": "RULE_INSERT", "R": "RULE_REPLACE"}.get(p.command, "RULE_APPEND")
    return f" {op} failed ({e.errno_text}): rule in chain {p.chain}"


def _retarget(rule: Rule, old: str, new: str) -> Rule:
    if rule.target is None and rule.verdict == old:
        r = rule.copy()
        r.verdict = new
        return r
    return rule


def _tokenize(line: str) -> list:
    """``add_param_to_argv``: split on blanks, double quotes group (a closing quote ends
    the word), a backslash inside quotes escapes the next character."""
    out = []
    buf = []
    quote_open = escaped = False
    for ch in line:
        if quote_open:
            if escaped:
                buf.append(ch)
                escaped = False
                continue
            if ch == "\\":
                escaped = True
                continue
            if ch == '"':
                quote_open = False
            else:
                buf.append(ch)
                continue
        elif ch == '"':
            quote_open = True
            continue
        if ch == '"':
            pass
        elif ch in " \t\n":
            if not buf:
                continue
        else:
            buf.append(ch)
            continue
        out.append("".join(buf))
        buf = []
    if buf:
        out.append("".join(buf))
    return out


def _ctime(sim) -> str:
    """``ctime`` of the simulator's wall clock, in UTC, without the newline."""
    return time.asctime(time.gmtime(sim.wall_ns // 1_000_000_000))


# -- listing ------------------------------------------------------------------------------
def parse_rule(netfilter, spec: str, table: str = "filter") -> Rule:
    """A rule from its ``iptables-save`` text after ``-A CHAIN`` (for tests and tools)."""
    p = Iptables(netfilter).parse(["-A", "X"] + _tokenize(spec), table=table)
    return p.rules[0]
