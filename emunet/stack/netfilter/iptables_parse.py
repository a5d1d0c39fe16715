"""Reading an ``iptables`` command line as iptables 1.8 does (``xshared.c``'s
``do_parse`` and ``post_parse``, libxtables' option handling): the command, the table and
chain, the rule's IPv4 part, its match and target extensions with their options, and every
refusal with iptables' own text.  :class:`~emunet.stack.netfilter.iptables.Iptables`
carries the parsed command out."""
import copy

from emunet.stack.netfilter.libxtables import ParameterProblem, parse_address_list, parse_protocol
from emunet.stack.netfilter.matches import MATCHES, PROTO_MATCHES
from emunet.stack.netfilter.targets import TARGETS
from emunet.stack.netfilter.xtables import IpSpec, Rule

__all__ = ["Parsed", "do_parse", "post_parse", "BadArgument", "TryHelp", "assert_valid_chain_name",
           "MAXNAMELEN"]

#: ``XT_EXTENSION_MAXNAMELEN``
MAXNAMELEN = 29

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


class Parsed:
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


def do_parse(argv, table, restore, netfilter) -> Parsed:
    """``do_parse`` then ``post_parse`` (xshared.c): the command and the rules an argument
    list means, in the table ``table``; raises ParameterProblem or BadArgument as
    iptables fails."""
    p = Parsed(table)
    invert = False
    table_set = False
    loaded = []             # extensions in load order, newest last
    ctx = _Ctx(p.ip, netfilter)
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
            raise BadArgument(token)
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
            assert_valid_chain_name(arg)
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
            raise TryHelp()
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
    post_parse(p)
    return p

def post_parse(p) -> None:
    """``post_parse``: the rules the parsed command means, one per source and destination
    address given."""
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


class BadArgument(Exception):
    pass


class TryHelp(Exception):
    pass


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


def assert_valid_chain_name(name: str) -> None:
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
