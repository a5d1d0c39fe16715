"""The show command line: ``run_command`` splits a command as a shell would, hands it to
the program of that name, and says which commands are supported when it cannot.

The programs are, in this order: the built-in ones, which each tool family declares with
its usage lines (:mod:`.iproute2`, :mod:`.nettools`, :mod:`.bridge`, :mod:`.procfs`,
:mod:`.netfilter`, and emunet's own ``drops``); then the command-line tools a control plane
installed in the namespace with ``Namespace.install_command`` (bird's ``birdc``, dockerd's
``docker``), so that observe/ runs them without importing any control plane.
"""
import shlex

import attrs

from emunet.observe.drops import drops
from emunet.observe.show import bridge, iproute2, ipset, netfilter, nettools, procfs

__all__ = ["run_command", "Options", "PROGRAMS", "SUPPORTED"]


@attrs.frozen
class Options:
    """What the real tools would read from the machine rather than the namespace:
    ``netns_names`` (namespace name -> ``ip netns`` name, for ``link-netns NAME``),
    ``names`` (address -> name, /etc/hosts and /etc/networks) and ``gateway_name`` (what
    nss-myhostname calls a default gateway; None for nothing)."""
    netns_names: dict = None
    names: dict = None
    gateway_name: str = "_gateway"


def _run_drops(ns, args: list, options):
    """``drops``: emunet's own command (:mod:`emunet.observe.drops`)."""
    return None if args else drops(ns)


#: program name -> handler(namespace, arguments, options) -> text, or None when the model
#: does not support that command line
PROGRAMS = {**iproute2.PROGRAMS, **nettools.PROGRAMS, **bridge.PROGRAMS, **procfs.PROGRAMS,
            **netfilter.PROGRAMS, **ipset.PROGRAMS, "drops": _run_drops}

#: the built-in command lines, one usage line per family of forms
SUPPORTED = [*iproute2.USAGE, *nettools.USAGE, *bridge.USAGE, *procfs.USAGE, *netfilter.USAGE, *ipset.USAGE,
             "drops   (emunet's own: drop counters by skb_drop_reason, per device and for the stack)"]


def _unknown(command: str, ns) -> ValueError:
    usages = SUPPORTED + [usage for _, usage in ns.commands.values()]
    return ValueError(f"unsupported show command {command!r}; supported: " + "; ".join(usages))


def _namespace(where, name: str):
    """Namespace ``name`` of a lab (``.namespace(name)``) or of a Simulator (``.ns(name)``)."""
    lookup = getattr(where, "namespace", None)
    return lookup(name) if lookup is not None else where.ns(name)


def run_command(lab, namespace_name: str, command: str, netns_names: dict = None,
                names: dict = None, gateway_name: str = "_gateway") -> str:
    """Run a show ``command`` in namespace ``namespace_name``; the text the real tool prints.
    Unknown commands raise ValueError naming the supported ones; a tool's own errors
    (``Device "x" does not exist.``) raise ValueError with its message.

    ``lab`` is anything that finds a namespace by name: a scenario's lab (``.namespace``)
    or a :class:`~emunet.sim.Simulator` (``.ns``), so a simulator built with the public
    API alone can be inspected.  ``netns_names`` maps namespace names to ``ip netns``
    names (``link-netns NAME`` instead of ``link-netnsid N``); ``names`` (address -> name)
    and ``gateway_name`` (the name of default gateways, None for none) drive ``route``,
    ``arp`` and ``netstat -r`` without ``-n``."""
    ns = _namespace(lab, namespace_name)
    try:
        argv = shlex.split(command)
    except ValueError:
        raise _unknown(command, ns) from None
    if not argv:
        raise _unknown(command, ns)
    prog, args = argv[0], argv[1:]
    handler = PROGRAMS.get(prog)
    if handler is not None:
        text = handler(ns, args, Options(netns_names, names, gateway_name))
        if text is None:
            raise _unknown(command, ns)
        return text
    if prog in ns.commands:
        run, _ = ns.commands[prog]
        return run(args)
    elsewhere = sorted(other.name for other in ns.sim.namespaces.values() if prog in other.commands)
    if elsewhere:
        raise ValueError(f"{prog}: not installed in namespace {namespace_name!r} (it is in "
                         f"{', '.join(elsewhere)})")
    raise _unknown(command, ns)
