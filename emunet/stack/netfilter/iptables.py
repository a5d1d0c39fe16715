"""The ``iptables`` command line and ``iptables-restore``/``iptables-save`` of iptables 1.8.9
with the nf_tables backend (``iptables/xshared.c`` ``do_parse``, ``xtables.c``
``do_commandx``, ``xtables-restore.c``, ``xtables-save.c``, ``nft.c``), over one
namespace's :class:`~emunet.stack.netfilter.core.Netfilter`.

Every change is made on a copy of the table, checked as the kernel checks a commit
(:meth:`~.xtables.Table.validate`) and only then put in place, so a refused command or
restore leaves the rules as they were.  Errors raise
:class:`~.xtables.IptablesError` with the exact text iptables-nft prints on stderr and its
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
import copy
import shlex
import time

from emunet.stack.netfilter.hooks import CHAIN_HOOKS, TABLES
from emunet.stack.netfilter.matches import MATCHES, PROTO_MATCHES
from emunet.stack.netfilter.targets import TARGETS
from emunet.stack.netfilter.xtables import (OTHER_PROBLEM, PARAMETER_PROBLEM, RESOURCE_PROBLEM,
                                            VERSION_PROBLEM, Chain, IpSpec, IptablesError,
                                            ParameterProblem, Rule, Table, ValidationError,
                                            format_addr, parse_address_list, parse_protocol,
                                            proto_name)

__all__ = ["Iptables", "IptablesError", "VERSION", "parse_rule"]

VERSION = "v1.8.9 (nf_tables)"
#: ``XT_EXTENSION_MAXNAMELEN``
MAXNAMELEN = 29
#: the table order of ``xtables_ipv4`` (what ``iptables-save`` walks)
SAVE_ORDER = ("mangle", "security", "raw", "filter", "nat")

# -- the main option table (``xtables_options`` of xshared.c) ----------------------------
_LONG = {"append": "A", "check": "C", "delete": "D", "insert": "I", "replace": "R", "list": "L",
         "list-rules": "S", "flush": "F", "zero": "Z", "new-chain": "N", "delete-chain": "X",
         "rename-chain": "E", "policy": "P", "protocol": "p", "source": "s", "src": "s",
         "destination": "d", "dst": "d", "jump": "j", "goto": "g", "in-interface": "i",
         "out-interface": "o", "match": "m", "numeric": "n", "table": "t", "verbose": "v",
         "exact": "x", "line-numbers": "0", "fragment": "f", "set-counters": "c", "wait": "w",
         "wait-interval": "W", "ipv4": "4", "ipv6": "6", "modprobe": "M", "version": "V", "help": "h"}
_REQUIRED = set("ACDRINEPopsdjgimtcM")
_OPTIONAL = set("LSFZXhwW")
_FLAGS = set("nvxf46V0")
#: ``optflags``: the options' letters, in ``OPT_*`` bit order
_OPTFLAGS = "nsdpjvxio0cf"
#: ``commands_v_options``: per command, the options it refuses ('x')
_CMD_OPTS = {"I": "x     x  x  ", "D": "x     x  xx ", "DN": "xxxxx xxxxxx", "R": "x     x  x  ",
             "A": "x     x  x  ", "L": " xxxx  xx xx", "F": "xxxxx xxxxxx", "Z": "xxxxx xxxxxx",
             "N": "xxxxx xxxxxx", "X": "xxxxx xxxxxx", "P": "xxxxx xxxx x", "E": "xxxxx xxxxxx",
             "S": "xxxxx xxxxxx", "ZN": "xxxxx xxxxxx", "C": "x     x  xx "}
_CMD_CHAR = {"DN": "D", "ZN": "Z"}
#: which commands may be given together (``add_command``'s othercmds)
_COMPAT = {"L": {"Z", "ZN"}, "S": {"Z", "ZN"}, "Z": {"L", "S"}, "ZN": {"L", "S"}}


class _Ctx:
    """What an extension's parser may look at: the rule's IPv4 part so far, and the
    namespace's netfilter (ipsets)."""

    def __init__(self, ip, netfilter):
        self.ip = ip
        self.netfilter = netfilter


class _Parsed:
    """``struct xt_cmd_parse`` + ``iptables_command_state``: one parsed command line."""

    def __init__(self, table):
        self.command = None
        self.chain = None
        self.rulenum = 0
        self.newname = None
        self.policy = None
        self.table = table
        self.options = set()        # option letters given (OPT_*)
        self.verbose = 0
        self.ip = IpSpec()
        self.src_text = self.dst_text = None
        self.matches = []
        self.target = None
        self.jumpto = ""
        self.goto = False
        self.counters = None
        self.rules = []             # the Rules the command means (one per address pair)
        self.zero = False           # -L/-S with -Z
        self.zero_rulenum = 0


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
    def parse(self, argv, table="filter", prog="iptables", line=None, restore=False) -> _Parsed:
        """``do_parse`` then ``post_parse``: the command and the rules it means; raises
        IptablesError as iptables does."""
        try:
            return self._parse(list(argv), table, restore)
        except ParameterProblem as e:
            raise self._error(prog, e.text, e.status, line) from None
        except _BadArgument as e:
            raise self._tryhelp(prog, f"Bad argument `{e.args[0]}'", line) from None

    def _parse(self, argv, table, restore) -> _Parsed:
        p = _Parsed(table)
        invert = False
        table_set = False
        loaded = []             # extensions in load order, newest last
        ctx = _Ctx(p.ip, self.netfilter)
        proto_used = False
        i = 0
        n = len(argv)

        def has_arg():
            return i < n and argv[i][:1] not in ("-", "!")

        def add_command(cmd):
            if invert:
                raise ParameterProblem("unexpected '!' flag")
            if p.command is not None and p.command not in _COMPAT.get(cmd, ()):
                raise ParameterProblem(f"Cannot use -{_CMD_CHAR.get(cmd, cmd)} with "
                                       f"-{_CMD_CHAR.get(p.command, p.command)}")
            if p.command is None:
                p.command = cmd
            elif cmd in ("L", "S"):
                # -Z then -L: list, then zero (CMD_LIST|CMD_ZERO)
                p.zero, p.zero_rulenum = True, p.rulenum
                p.command = cmd

        def set_option(letter):
            if letter in p.options:
                raise ParameterProblem(f"multiple -{letter} flags not allowed")
            p.options.add(letter)
            if invert and letter not in "sdpiof":
                raise ParameterProblem(f"cannot have ! before -{letter}")

        def rulenumber(text):
            v = _strtoui(text, 1, 0x7FFFFFFF)
            if v is None:
                raise ParameterProblem(f"Invalid rule number `{text}'")
            return v

        pending = []            # short options left in a bundle: (letter, token)
        while True:
            if pending:
                letter, token, inline = pending.pop(0)
                kind, name, arg = "short", letter, inline
            else:
                if i >= n:
                    break
                token = argv[i]
                i += 1
                if token.startswith("--") and len(token) > 2:
                    name, eq, value = token[2:].partition("=")
                    kind, arg = "long", (value if eq else None)
                elif token.startswith("-") and len(token) > 1:
                    # a bundle of short options: "-nvL", "-LFORWARD", "-tnat"
                    j = 1
                    while j < len(token):
                        c = token[j]
                        if c in _REQUIRED or c in _OPTIONAL:
                            rest = token[j + 1:]
                            pending.append((c, token, rest if rest else None))
                            break
                        pending.append((c, token, None))
                        j += 1
                    continue
                else:
                    kind, name, arg = "arg", token, None
            if kind == "arg":
                if token == "!":
                    if invert:
                        raise ParameterProblem("multiple consecutive ! not allowed")
                    invert = True
                    continue
                raise _BadArgument(token)
            if kind == "long":
                letter = _long_option(name)
                if letter is None:
                    # an extension's option: the newest extension that knows it
                    ext, opt_name = _find_ext_option(loaded, name)
                    if ext is None and not proto_used and p.ip.proto in PROTO_MATCHES \
                            and not any(e.name == PROTO_MATCHES[p.ip.proto] for e in loaded if e is not p.target):
                        m = MATCHES[PROTO_MATCHES[p.ip.proto]]()
                        p.matches.append(m)
                        loaded.append(m)
                        proto_used = True
                        ext, opt_name = _find_ext_option(loaded, name)
                    if ext is None:
                        raise ParameterProblem(f'unknown option "{token}"')
                    opt = ext.OPTIONS[opt_name]
                    args = []
                    if opt.nargs:
                        if arg is None:
                            if i >= n:
                                raise ParameterProblem(f'option "{token}" requires an argument')
                            arg = argv[i]
                            i += 1
                        args.append(arg)
                        if opt.nargs == 2 and i < n:
                            args.append(argv[i])
                    ext.take(opt_name, invert, args, ctx)
                    if opt.nargs == 2 and len(args) == 2:
                        i += 1
                    invert = False
                    continue
                name = letter
            else:
                letter = name
                if letter not in _REQUIRED and letter not in _OPTIONAL and letter not in _FLAGS:
                    raise ParameterProblem(f'unknown option "{token}"')
            # the main options
            if letter in _REQUIRED and arg is None:
                if i >= n:
                    raise ParameterProblem(f'option "{token}" requires an argument')
                arg = argv[i]
                i += 1
            if letter == "A":
                add_command("A")
                p.chain = arg
            elif letter == "C":
                add_command("C")
                p.chain = arg
            elif letter == "D":
                add_command("D")
                p.chain = arg
                if has_arg():
                    p.rulenum = rulenumber(argv[i])
                    i += 1
                    p.command = "DN"
            elif letter == "R":
                add_command("R")
                p.chain = arg
                if has_arg():
                    p.rulenum = rulenumber(argv[i])
                    i += 1
                else:
                    raise ParameterProblem("-R requires a rule number")
            elif letter == "I":
                add_command("I")
                p.chain = arg
                if has_arg():
                    p.rulenum = rulenumber(argv[i])
                    i += 1
                else:
                    p.rulenum = 1
            elif letter in ("L", "S"):
                add_command(letter)
                if arg is not None:
                    p.chain = arg
                elif has_arg():
                    p.chain = argv[i]
                    i += 1
                if has_arg():
                    p.rulenum = rulenumber(argv[i])
                    i += 1
            elif letter == "F":
                add_command("F")
                if arg is not None:
                    p.chain = arg
                elif has_arg():
                    p.chain = argv[i]
                    i += 1
            elif letter == "Z":
                add_command("Z")
                if arg is not None:
                    p.chain = arg
                elif has_arg():
                    p.chain = argv[i]
                    i += 1
                if has_arg():
                    p.rulenum = rulenumber(argv[i])
                    i += 1
                    p.command = "ZN" if p.command == "Z" else p.command
                if p.command in ("L", "S"):
                    p.zero = True
                    p.zero_rulenum = p.rulenum
            elif letter == "N":
                _assert_valid_chain_name(arg)
                add_command("N")
                p.chain = arg
            elif letter == "X":
                add_command("X")
                if arg is not None:
                    p.chain = arg
                elif has_arg():
                    p.chain = argv[i]
                    i += 1
            elif letter == "E":
                add_command("E")
                p.chain = arg
                if has_arg():
                    p.newname = argv[i]
                    i += 1
                else:
                    raise ParameterProblem("-E requires old-chain-name and new-chain-name")
            elif letter == "P":
                add_command("P")
                p.chain = arg
                if has_arg():
                    p.policy = argv[i]
                    i += 1
                else:
                    raise ParameterProblem("-P requires a chain and a policy")
            elif letter == "p":
                set_option("p")
                proto = parse_protocol(arg.lower())
                if proto == 0 and invert:
                    raise ParameterProblem("rule would never match protocol")
                p.ip.proto, p.ip.inv_proto = proto, invert
            elif letter == "s":
                set_option("s")
                p.src_text, p.ip.inv_src = arg, invert
            elif letter == "d":
                set_option("d")
                p.dst_text, p.ip.inv_dst = arg, invert
            elif letter in ("j", "g"):
                set_option("j")
                _check_target_name(arg)
                p.jumpto = arg
                if letter == "g":
                    p.goto = True
                elif arg in TARGETS:
                    p.target = TARGETS[arg]()
                    loaded.append(p.target)
            elif letter in ("i", "o"):
                if arg == "":
                    raise ParameterProblem("Empty interface is likely to be undesired")
                set_option(letter)
                if len(arg) + 1 > 16:
                    raise ParameterProblem(f"interface name `{arg}' must be shorter than IFNAMSIZ (15)")
                # "+" alone matches every name: iptables-nft keeps no test for it
                name = "" if arg == "+" else arg
                if letter == "i":
                    p.ip.iniface, p.ip.inv_in = name, invert
                else:
                    p.ip.outiface, p.ip.inv_out = name, invert
            elif letter == "f":
                set_option("f")
                p.ip.frag = -1 if invert else 1
            elif letter == "v":
                if not p.verbose:
                    set_option("v")
                p.verbose += 1
            elif letter == "m":
                if invert:
                    raise ParameterProblem("unexpected ! flag before --match")
                cls = MATCHES.get(arg)
                if cls is None:
                    raise ParameterProblem(f"Couldn't load match `{arg}':No such file or directory\n")
                m = cls()
                p.matches.append(m)
                loaded.append(m)
            elif letter == "n":
                set_option("n")
            elif letter == "t":
                if invert:
                    raise ParameterProblem("unexpected ! flag before --table")
                if restore and table_set:
                    raise ParameterProblem("The -t option cannot be used in iptables-restore.\n")
                p.table = arg
                table_set = True
            elif letter == "x":
                set_option("x")
            elif letter == "0":
                set_option("0")
            elif letter == "c":
                set_option("c")
                pc, comma, bc = arg.partition(",")
                if not comma:
                    if has_arg():
                        bc = argv[i]
                        i += 1
                    else:
                        raise ParameterProblem("-c requires packet and byte counter")
                if not pc.isdigit():
                    raise ParameterProblem("-c packet counter not numeric")
                if not bc.isdigit():
                    raise ParameterProblem("-c byte counter not numeric")
                p.counters = (int(pc), int(bc))
            elif letter in ("w", "W"):
                if restore:
                    raise ParameterProblem(f"You cannot use `-{letter}' from iptables-restore")
                if arg is None and has_arg():
                    i += 1
            elif letter in ("4", "M"):
                pass
            elif letter == "6":
                raise _TryHelp()
            elif letter == "V":
                p.command = "V"
                return p
            elif letter == "h":
                raise ParameterProblem("help is not available here")
            invert = False

        if p.table == "nat" and (p.policy == "DROP" or p.jumpto == "DROP"):
            raise ParameterProblem('\nThe "nat" table is not intended for filtering, the use of DROP '
                                   'is therefore inhibited.\n\n')
        for m in p.matches:
            m.final(ctx)
        if p.target is not None:
            p.target.final(ctx)
        if p.command is None:
            raise ParameterProblem("no command specified")
        if invert:
            raise ParameterProblem("nothing appropriate following !")
        self._post_parse(p)
        return p

    @staticmethod
    def _post_parse(p) -> None:
        rule_cmd = p.command in ("R", "I", "D", "A", "C")
        srcs = parse_address_list(p.src_text) if p.src_text is not None else \
            ([(0, 0)] if rule_cmd else [])
        dsts = parse_address_list(p.dst_text) if p.dst_text is not None else \
            ([(0, 0)] if rule_cmd else [])
        if (len(srcs) > 1 or len(dsts) > 1) and (p.ip.inv_src or p.ip.inv_dst):
            raise ParameterProblem("! not allowed with multiple source or destination IP addresses")
        if p.command == "R" and (len(srcs) != 1 or len(dsts) != 1):
            raise ParameterProblem("Replacement rule does not specify a unique address")
        # generic_opt_check
        cmd_opts = _CMD_OPTS.get(p.command)
        if cmd_opts is not None:
            for idx, letter in enumerate(_OPTFLAGS):
                if letter in p.options and cmd_opts[idx] == "x":
                    raise ParameterProblem(f"Illegal option `-{letter}' with this command")
        if p.chain is not None and len(p.chain) >= MAXNAMELEN:
            raise ParameterProblem(f"chain name `{p.chain}' too long (must be under {MAXNAMELEN} chars)")
        if rule_cmd or p.command == "DN":
            if p.chain in ("PREROUTING", "INPUT") and "o" in p.options:
                raise ParameterProblem(f"Can't use -o with {p.chain}\n")
            if p.chain in ("POSTROUTING", "OUTPUT") and "i" in p.options:
                raise ParameterProblem(f"Can't use -i with {p.chain}\n")
        for m in p.matches:
            m.late_check(p.ip)
        for s_addr, s_mask in srcs:
            for d_addr, d_mask in dsts:
                ip = p.ip.copy(src=s_addr, smsk=s_mask, dst=d_addr, dmsk=d_mask)
                verdict = "" if p.target is not None else p.jumpto
                # each rule its own extensions (a statistic nth counter is per rule)
                matches, target = (p.matches, p.target) if not p.rules else \
                    copy.deepcopy((p.matches, p.target))
                rule = Rule(ip, matches, target, verdict, p.goto)
                if p.counters is not None:
                    rule.packets, rule.bytes = p.counters
                p.rules.append(rule)

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
        except _TryHelp:
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

    def _apply(self, t: Table, p: _Parsed, prog: str) -> str:
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
        _assert_valid_chain_name(new)
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
    def _list(self, table: Table, p: _Parsed, prog: str) -> str:
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
                    _assert_valid_chain_name(chain)
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
            except _TryHelp:
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


class _BadArgument(Exception):
    pass


class _TryHelp(Exception):
    pass


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


def _commit_text(p: _Parsed, e: ValidationError) -> str:
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


def _strtoui(text, lo, hi):
    if not text.isdigit():
        return None
    v = int(text)
    return v if lo <= v <= hi else None


def _long_option(name):
    """The main option ``--name`` stands for (a unique prefix will do, as getopt_long
    allows), or None."""
    if name in _LONG:
        return _LONG[name]
    found = {v for k, v in _LONG.items() if k.startswith(name)}
    return found.pop() if len(found) == 1 else None


def _find_ext_option(loaded, name):
    """The newest loaded extension with option ``--name`` (exact, else a unique prefix)."""
    for ext in reversed(loaded):
        if name in ext.OPTIONS:
            return ext, name
    for ext in reversed(loaded):
        cands = [k for k in ext.OPTIONS if k.startswith(name)]
        if len({ext.OPTIONS[k].oid for k in cands}) == 1:
            return ext, cands[0]
    return None, None


def _assert_valid_chain_name(name: str) -> None:
    if len(name) >= MAXNAMELEN:
        raise ParameterProblem(f"chain name `{name}' too long (must be under {MAXNAMELEN} chars)")
    if name[:1] in ("-", "!"):
        raise ParameterProblem(f"chain name not allowed to start with `{name[0]}'")
    if name in TARGETS or name in ("ACCEPT", "DROP", "RETURN", "QUEUE", "standard"):
        raise ParameterProblem("chain name may not clash with target name")
    if any(c.isspace() for c in name):
        raise ParameterProblem(f"Invalid chain name `{name}'")


def _check_target_name(name: str) -> None:
    if len(name) < 1:
        raise ParameterProblem("Invalid target name (too short)")
    if len(name) >= MAXNAMELEN:
        raise ParameterProblem(f"Invalid target name `{name}' ({MAXNAMELEN - 1} chars max)")
    if any(c.isspace() for c in name):
        raise ParameterProblem(f"Invalid target name `{name}'")


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
def list_rules(table: Table, chain: str = None, rulenum: int = 0, counters: bool = False) -> str:
    """``iptables -S [CHAIN [N]] [-v]`` (``nft_rule_list_save``)."""
    out = []
    chains = [table.chains[chain]] if chain is not None else table.listing_order()
    if not rulenum:
        for c in chains:
            if c.builtin:
                out.append(f"-P {c.name} {c.policy}" + (f" -c {c.packets} {c.bytes}" if counters else ""))
            else:
                out.append(f"-N {c.name}")
    for c in chains:
        for num, r in enumerate(c.rules, 1):
            if rulenum and num != rulenum:
                continue
            out.append(f"-A {c.name}{r.spec(counters=counters)}")
    return "".join(line + "\n" for line in out)


def _num(n: int, exact: bool) -> str:
    """``xtables_print_num`` in a table."""
    if exact:
        return f"{n:8d} "
    if n <= 99999:
        return f"{n:5d} "
    for unit in "KMGT":
        n = (n + 500) // 1000
        if n <= 9999 or unit == "T":
            return f"{n:4d}{unit} "
    return ""


def list_entries(table: Table, chain: str = None, rulenum: int = 0, verbose: bool = False,
                 numeric: bool = False, exact: bool = False, linenumbers: bool = False) -> str:
    """``iptables -L [CHAIN [N]] [-n] [-v] [-x] [--line-numbers]`` (``nft_rule_list``,
    ``print_header``, ``print_firewall``)."""
    out = []
    chains = [table.chains[chain]] if chain is not None else table.listing_order()
    first = True
    for c in chains:
        if not rulenum:
            if not first:
                out.append("\n")
            first = False
            out.append(_header(table, c, verbose, exact, linenumbers))
        for num, r in enumerate(c.rules, 1):
            if rulenum and num != rulenum:
                continue
            out.append(_rule_line(r, num, verbose, numeric, exact, linenumbers))
    return "".join(out)


def _header(table, c, verbose, exact, linenumbers) -> str:
    line = f"Chain {c.name}"
    if c.builtin:
        line += f" (policy {c.policy}"
        if verbose:
            line += f" {c.packets} packets, {c.bytes} bytes"
        line += ")\n"
    else:
        line += f" ({table.references(c.name)} references)\n"
    if linenumbers:
        line += f"{'num':<4} "
    if verbose:
        if exact:
            line += f"{'pkts':>8} {'bytes':>10} "
        else:
            line += f"{'pkts':>5} {'bytes':>5} "
    line += f"{'target':<9} "
    line += " prot opt"
    if verbose:
        line += f" {'in':<6} {'out':<6} "
    line += f" {'source':<19} "
    line += f" {'destination':<19} "
    return line + "\n"


def _rule_line(r: Rule, num, verbose, numeric, exact, linenumbers) -> str:
    ip = r.ip
    out = []
    if linenumbers:
        out.append(f"{num:<4d} ")
    if verbose:
        out.append(_num(r.packets, exact))
        out.append(_num(r.bytes, exact))
    out.append(f"{r.target_name:<9} ")
    out.append("!" if ip.inv_proto else " ")
    pname = proto_name(ip.proto, numeric)
    if numeric or pname is None:
        out.append(f"{ip.proto:<4d} ")
    else:
        out.append(f"{pname:<4} ")
    # print_fragment
    out.append(("!" if ip.frag < 0 else "-") + ("f" if ip.frag else "-") + " ")
    if verbose:
        anyname = "*" if numeric else "any"
        iin = ("!" if ip.inv_in else "") + (ip.iniface if ip.iniface else anyname)
        iout = ("!" if ip.inv_out else "") + (ip.outiface if ip.outiface else anyname)
        out.append(f" {iin:<6} ")
        out.append(f"{iout:<6} ")
    out.append("!" if ip.inv_src else " ")
    out.append(f"{format_addr(ip.src, ip.smsk, numeric):<19} ")
    out.append("!" if ip.inv_dst else " ")
    out.append(f"{format_addr(ip.dst, ip.dmsk, numeric):<19} ")
    if r.goto:
        out.append("[goto] ")
    for m in r.matches:
        out.append(m.print(ip, numeric))
    if r.target is not None:
        out.append(r.target.print(ip, numeric))
    return "".join(out) + "\n"


def parse_rule(netfilter, spec: str, table: str = "filter") -> Rule:
    """A rule from its ``iptables-save`` text after ``-A CHAIN`` (for tests and tools)."""
    p = Iptables(netfilter).parse(["-A", "X"] + _tokenize(spec), table=table)
    return p.rules[0]
