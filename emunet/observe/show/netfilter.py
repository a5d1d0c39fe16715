"""What ``iptables -L``/``-S``, ``iptables-save`` and ``conntrack -L`` print for a namespace
(iptables 1.8.9 with the nf_tables backend, conntrack-tools 1.4.7).

The listing itself is :mod:`emunet.stack.netfilter.iptables`'s (the model's own
``iptables``); here only the read-only forms are let through: a show command never
changes the rules.
"""
from emunet.stack.netfilter.iptables import Iptables
from emunet.stack.netfilter.libxtables import IptablesError

__all__ = ["iptables_show", "iptables_save", "conntrack_list", "PROGRAMS", "USAGE"]

USAGE = [
    "iptables [-t TABLE] -L|-S [CHAIN [N]] [-n] [-v] [-x] [--line-numbers]",
    "iptables-save [-t TABLE] [-c]",
    "conntrack -L",
]


def iptables_show(ns, args: list):
    """``iptables ARGS`` when ARGS list (``-L``/``-S``); None for any other command."""
    ipt = Iptables(ns.netfilter)
    try:
        p = ipt.parse(args)
    except IptablesError as e:
        raise ValueError(e.message) from None
    if p.command not in ("L", "S") or p.zero:
        return None
    try:
        return ipt.run(args)
    except IptablesError as e:
        raise ValueError(e.message) from None


def iptables_save(ns, args: list):
    """``iptables-save [-t TABLE] [-c]``; None for other options."""
    table, counters = None, False
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-c", "--counters"):
            counters = True
        elif a in ("-t", "--table") and i + 1 < len(args):
            table = args[i + 1]
            i += 1
        elif a.startswith("-t") and len(a) > 2:
            table = a[2:]
        else:
            return None
        i += 1
    try:
        return Iptables(ns.netfilter).save(counters=counters, table=table)
    except IptablesError as e:
        raise ValueError(e.message) from None


def conntrack_list(ns, args: list):
    """``conntrack -L``: the entries, then conntrack-tools' count of them
    (:meth:`~emunet.stack.netfilter.core.Netfilter.conntrack_list`)."""
    if args not in (["-L"], ["--dump"]):
        return None
    return ns.netfilter.conntrack_list()


def _run_iptables(ns, args, options):
    return iptables_show(ns, args)


def _run_iptables_save(ns, args, options):
    return iptables_save(ns, args)


def _run_conntrack(ns, args, options):
    return conntrack_list(ns, args)


PROGRAMS = {"iptables": _run_iptables, "iptables-save": _run_iptables_save,
            "conntrack": _run_conntrack}
