"""What ``ipset list`` and ``ipset save`` print (ipset 7.17 on kernel 6.18): the namespace's
sets as :mod:`emunet.stack.netfilter.ipset` keeps them, members in the kernel's hash order.
Only the commands that read are shown here; ``ipset`` itself (``Netfilter.ipset``) also
changes sets."""
from emunet.stack.netfilter.ipset import IpsetError, ipset

__all__ = ["run_ipset", "PROGRAMS", "USAGE"]

USAGE = ["ipset list [-n|-t] [SETNAME] | ipset save [SETNAME] | ipset version"]

_READING = ("list", "-L", "l", "save", "-S", "s", "version", "-V")


def run_ipset(ns, args: list, options):
    """``ipset list|save|version ...``; None for a command that changes sets; the tool's
    own errors (``The set with the given name does not exist``) raise ValueError."""
    rest = [a for a in args if a not in ("-n", "-name", "-t", "-terse")]
    if not rest or rest[0] not in _READING:
        return None
    try:
        return ipset(ns.netfilter, args)
    except IpsetError as err:
        raise ValueError(str(err)) from None


#: program name -> handler
PROGRAMS = {"ipset": run_ipset}
