"""iproute2's ``ip`` command line (``ip/ip.c``: global options, object names and their
abbreviations; ``lib/utils.c``: ``matches``): which of :mod:`.iplink` and :mod:`.iproute`
answers ``ip [-s|-d|-4|-o|-br] OBJECT [show] [ARGS]``.

A handler takes (namespace, arguments after the program name, the show options) and
returns the text, or None for a command line the model does not support (the registry
then names the supported ones).
"""
from emunet.observe.show.iplink import ip_addr, ip_addr_oneline, ip_brief, ip_link
from emunet.observe.show.iproute import ip_neigh, ip_route, ip_route_get, ip_route_show_cache, ip_rule

__all__ = ["matches", "is_show", "run_ip", "PROGRAMS", "USAGE"]

USAGE = [
    "ip addr | ip a | ip addr show [dev] DEV | ip -4 addr | ip -o addr | ip -br addr",
    "ip link | ip -s link | ip link show [dev] DEV | ip -br link | ip -d link show DEV (vlan, vxlan, tun, lo)",
    "ip route | ip route show [table local|main|all] [dev DEV] | ip route show cache | ip route get ADDR",
    "ip neigh | ip neigh show [dev DEV] [ADDR]",
    "ip rule",
]


def matches(word: str, full: str) -> bool:
    """iproute2's ``matches``: a non-empty prefix."""
    return bool(word) and full.startswith(word)


def is_show(word: str) -> bool:
    """``show``, ``list`` or ``lst``, abbreviated as iproute2 allows."""
    return matches(word, "show") or matches(word, "list") or word == "lst"


def _ip_object(word: str):
    # iproute2's table order decides abbreviations: a→address, r→route, n→neighbor, l→link
    if word in ("ru", "rul", "rule"):
        return "rule"
    for full, obj in (("address", "addr"), ("route", "route"), ("neighbor", "neigh"),
                      ("neighbour", "neigh"), ("link", "link")):
        if matches(word, full):
            return obj
    return None


def run_ip(ns, args: list, options):
    """``ip ARGS`` in ``ns``; None for a command line the model does not support."""
    args = list(args)
    stats = family = None
    details = False
    oneline = brief = False
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-s", "-stats", "-statistics"):
            stats = True
        elif opt == "-4":
            family = "inet"
        elif opt in ("-o", "-oneline"):
            oneline = True
        elif opt in ("-br", "-brief"):
            brief = True
        elif len(opt) >= 2 and "-details".startswith(opt):
            details = True
        else:
            return None
    if not args:
        return None
    obj = _ip_object(args.pop(0))
    if obj is None:
        return None
    if obj == "rule":
        if args and not (len(args) == 1 and is_show(args[0])):
            return None
        return ip_rule(ns)
    if obj == "route" and args and args[0] == "get":
        if len(args) != 2:
            return None
        return ip_route_get(ns, args[1])
    if args and is_show(args[0]):
        args.pop(0)
    if obj == "route" and args == ["cache"]:
        return ip_route_show_cache(ns)
    dev = addr = None
    table = "main"
    while args:
        word = args.pop(0)
        if word == "dev" and args:
            dev = args.pop(0)
        elif word == "table" and args and obj == "route":
            table = args.pop(0)
        elif obj in ("addr", "link") and dev is None and not word.startswith("-"):
            dev = word
        elif obj == "neigh" and addr is None:
            addr = word
        else:
            return None
    netns_names = options.netns_names
    if obj == "addr":
        if brief:
            return ip_brief(ns, "addr", dev)
        if oneline:
            return ip_addr_oneline(ns, dev)
        return ip_addr(ns, dev, family=family, netns_names=netns_names, details=details)
    if obj == "link":
        if brief:
            return ip_brief(ns, "link", dev)
        return ip_link(ns, dev, stats=bool(stats), netns_names=netns_names, details=details)
    if obj == "route":
        return ip_route(ns, table=table, dev=dev)
    return ip_neigh(ns, dev=dev, addr=addr)


#: program name -> handler
PROGRAMS = {"ip": run_ip}
