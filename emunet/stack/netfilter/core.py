"""Netfilter in one namespace (``struct netns_ipv4``'s iptables tables, ``struct
netns_ct``): the tables, conntrack, and the hook functions the IPv4 path calls."""
from emunet.stack.netfilter.hooks import TABLES


class Netfilter:
    """One namespace's netfilter.

    ``tables``: table name -> :class:`~emunet.stack.netfilter.xtables.Table`, made with
    its built-in chains the first time anything asks for it (as the kernel registers a
    table in a namespace on first use).  ``ipsets``: set name -> set (``ipset``).
    ``active`` is the kernel's static key: False while no table holds a rule and
    conntrack is not loaded, and the IPv4 path then skips every hook."""

    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim
        self.tables = {}
        self.ipsets = {}
        self.active = False

    def get_table(self, name: str):
        """The table ``name``, registered now if this is its first use."""
        t = self.tables.get(name)
        if t is None:
            if name not in TABLES:
                raise ValueError(f"can't initialize iptables table `{name}': Table does not exist "
                                 f"(do you need to insmod?)")
            from emunet.stack.netfilter.xtables import Table
            t = self.tables[name] = Table.builtin(name)
            self.rules_changed()
        return t

    def iptables(self, argv) -> str:
        """Run ``iptables ARGS`` here (a list, or one string split as a shell would); what
        it prints.  Refusals raise :class:`~emunet.stack.netfilter.xtables.IptablesError`."""
        from emunet.stack.netfilter.iptables import Iptables
        return Iptables(self).run(argv)

    def iptables_restore(self, text: str, noflush: bool = False, counters: bool = False) -> None:
        """``iptables-restore [--noflush] [--counters]`` of ``text`` here: all of it or
        nothing."""
        from emunet.stack.netfilter.iptables import Iptables
        Iptables(self).restore(text, noflush=noflush, counters=counters)

    def rules_changed(self) -> None:
        """A table, chain, rule or policy changed: recompute what the hooks must do."""
        self.active = bool(self.tables)
