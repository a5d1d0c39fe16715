"""What iptables' extensions share (libxtables' ``xtables_option_parse`` and friends):
the option table entries and the base class of every match and target.

An extension has ``OPTIONS``, its long options (the ``xt_option_entry`` table);
:meth:`Extension.take` parses one of them from the command line, :meth:`Extension.final`
is the final check, :meth:`Extension.save` is what ``iptables-save`` prints after ``-m
NAME`` or ``-j NAME``, :meth:`Extension.print` what ``iptables -L`` prints, and
:meth:`Extension.compile` gives the kernel's side as a callable(pkt).
"""
from emunet.stack.netfilter.libxtables import ParameterProblem

__all__ = ["Extension", "Opt"]


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
        """Take option ``opt`` with its ``args`` (``x6_parse``/``parse``): every extension
        with options defines it."""
        raise NotImplementedError(f"{type(self).__name__} takes no options")

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
