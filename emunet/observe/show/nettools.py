"""What net-tools 2.10 prints: ``ifconfig``, ``route``, ``arp``, ``netstat -r`` and
``netstat -i`` (``ifconfig.c`` and ``lib/interface.c``, ``lib/inet_gr.c`` for the routing
table read from ``/proc/net/route``, ``arp.c`` reading ``/proc/net/arp``).

Facts seen on the kernel and in the seed: ``ifconfig`` sorts interfaces by name
(net-tools' ``nstrcmp``), shows only the first address of each, and prints ``broadcast
0.0.0.0`` for an address added without one.

Name resolution (``route``, ``arp`` and ``netstat -r`` without ``-n``): the gateway of a
default route is ``_gateway`` (systemd's nss-myhostname, as in the seed's container);
other addresses are printed as numbers unless a ``names`` mapping (address -> name,
/etc/hosts and /etc/networks alike) is given.
"""
import ipaddress
import re

from emunet.observe.show.kernel import (
    IFF_ALLMULTI, IFF_BROADCAST, IFF_DEBUG, IFF_LOOPBACK, IFF_MASTER, IFF_MULTICAST, IFF_NOARP,
    IFF_NOTRAILERS, IFF_POINTOPOINT, IFF_PROMISC, IFF_RUNNING, IFF_SLAVE, IFF_UP, NUD_VALID,
    dev_get_flags, link_type, neigh_entries, ordered_addrs)
from emunet.observe.show.procfs import proc_net_route_rows
from emunet.wire.ethernet import mac_to_str

__all__ = ["ifconfig", "route", "netstat_r", "netstat_i", "arp", "bytes_scaled", "PROGRAMS",
           "USAGE"]

USAGE = [
    "ifconfig | ifconfig -a | ifconfig DEV",
    "route | route -n | route -e | route -ne",
    "arp | arp -n | arp -a | arp -an",
    "netstat -rn | netstat -r | netstat -rne | netstat -i",
]


def _nstr_key(name: str):
    """net-tools' ``nstrcmp``: digit runs compare as numbers."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", name)]


def bytes_scaled(n: int) -> str:
    """``(9.2 MiB)``: net-tools scales by 1024 when the count is strictly above a unit."""
    short, unit = n * 10, "B"
    for limit, name in ((1 << 60, "EiB"), (1 << 50, "PiB"), (1 << 40, "TiB"), (1 << 30, "GiB"),
                        (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n > limit:
            short, unit = (n * 10) // limit, name
            break
    return f"{short // 10}.{short % 10} {unit}"


def _ifconfig_flags(flags: int) -> str:
    names = [name for bit, name in (
        (IFF_UP, "UP"), (IFF_BROADCAST, "BROADCAST"), (IFF_DEBUG, "DEBUG"),
        (IFF_LOOPBACK, "LOOPBACK"), (IFF_POINTOPOINT, "POINTOPOINT"),
        (IFF_NOTRAILERS, "NOTRAILERS"), (IFF_RUNNING, "RUNNING"), (IFF_NOARP, "NOARP"),
        (IFF_PROMISC, "PROMISC"), (IFF_ALLMULTI, "ALLMULTI"), (IFF_SLAVE, "SLAVE"),
        (IFF_MASTER, "MASTER"), (IFF_MULTICAST, "MULTICAST")) if flags & bit]
    return f"flags={flags & 0xFFFF}<{','.join(names)}>"


def _ifconfig_block(ns, dev) -> str:
    flags = dev_get_flags(dev)
    lines = [f"{dev.name}: {_ifconfig_flags(flags)}  mtu {dev.mtu}"]
    first = next((a for a, _ in ordered_addrs(ns, dev) if (a.label or dev.name) == dev.name), None)
    if first is not None:
        line = f"        inet {first.ip}  netmask {first.netmask}"
        if flags & IFF_BROADCAST:
            line += f"  broadcast {first.broadcast or '0.0.0.0'}"
        if flags & IFF_POINTOPOINT:
            line += f"  destination {first.peer or first.ip}"
        lines.append(line)
    t = link_type(dev)
    if t == "loopback":
        hw, title = "loop", "Local Loopback"
    elif t == "ether":
        hw, title = f"ether {mac_to_str(dev.mac)}", "Ethernet"
    elif t == "none":
        hw, title = "unspec 00-00-00-00-00-00-00-00-00-00-00-00-00-00-00-00", "UNSPEC"
    else:
        hw, title = t, t
    lines.append(f"        {hw}  txqueuelen {dev.txqueuelen}  ({title})")
    s = dev.stats
    lines += [
        f"        RX packets {s.rx_packets}  bytes {s.rx_bytes} ({bytes_scaled(s.rx_bytes)})",
        f"        RX errors {s.rx_errors}  dropped {s.rx_dropped}  overruns 0  frame 0",
        f"        TX packets {s.tx_packets}  bytes {s.tx_bytes} ({bytes_scaled(s.tx_bytes)})",
        f"        TX errors {s.tx_errors}  dropped {s.tx_dropped} overruns 0  carrier 0  "
        f"collisions 0",
    ]
    return "".join(line + "\n" for line in lines) + "\n"


def ifconfig(ns, all: bool = False, dev: str = None) -> str:
    """``ifconfig`` (interfaces that are up), ``ifconfig -a``, ``ifconfig DEV``."""
    if dev is not None:
        if dev not in ns.devices:
            raise ValueError(f"{dev}: error fetching interface information: Device not found")
        return _ifconfig_block(ns, ns.devices[dev])
    devs = sorted(ns.devices.values(), key=lambda d: _nstr_key(d.name))
    return "".join(_ifconfig_block(ns, d) for d in devs if all or d.admin_up)


def _default_gateways(ns) -> set:
    return {r.via for r in ns.fib.tables["main"] if r.dst.prefixlen == 0 and r.via}


def _resolver(ns, names, gateway_name):
    """An address -> name function (``gethostbyaddr`` / ``getnetbyaddr``), or None."""
    gws = _default_gateways(ns) if gateway_name else set()
    table = dict(names or {})

    def resolve(ip: str):
        if ip in table:
            return table[ip]
        if ip in gws:
            return gateway_name
        return None
    return resolve


def _route_table(ns, ext: int, numeric: bool, names, gateway_name) -> str:
    resolve = _resolver(ns, names, gateway_name) if not numeric else (lambda ip: None)
    out = ["Kernel IP routing table"]
    if ext == 1:
        out.append("Destination     Gateway         Genmask         Flags Metric Ref    Use Iface")
    else:
        out.append("Destination     Gateway         Genmask         Flags   MSS Window  irtt Iface")
    for dst, gw, mask, flags, metric, iface, reject in proc_net_route_rows(ns):
        if numeric:
            sdst, sgw = dst, gw
        else:
            sdst = "default" if dst == "0.0.0.0" else (resolve(dst) or dst)
            sgw = gw if gw == "0.0.0.0" else (resolve(gw) or gw)
        sdst, sgw = sdst[:15], sgw[:15]
        if ext == 1:
            if reject:
                out.append(f"{sdst:<15} -               {mask:<15} {flags:<5} {metric:<6} -  {0:>7} -")
            else:
                out.append(f"{sdst:<15} {sgw:<15} {mask:<15} {flags:<5} {metric:<6} {0:<2} {0:>7} {iface}")
        else:
            if reject:
                out.append(f"{sdst:<15} -               {mask:<15} {flags:<5}     - -          - -")
            else:
                out.append(f"{sdst:<15} {sgw:<15} {mask:<15} {flags:<5} {0:>5} {0:<5} {0:>6} {iface}")
    return "".join(line + "\n" for line in out)


def route(ns, numeric: bool = False, extended: bool = False, names: dict = None,
          gateway_name: str = "_gateway") -> str:
    """``route`` / ``route -n`` (``-e``: the netstat columns)."""
    return _route_table(ns, 2 if extended else 1, numeric, names, gateway_name)


def netstat_r(ns, numeric: bool = True, extended: bool = False, names: dict = None,
              gateway_name: str = "_gateway") -> str:
    """``netstat -rn`` / ``netstat -r`` (``-e``: the route columns)."""
    return _route_table(ns, 1 if extended else 2, numeric, names, gateway_name)


def arp(ns, numeric: bool = False, bsd: bool = False, names: dict = None,
        gateway_name: str = "_gateway") -> str:
    """``arp`` / ``arp -n`` / ``arp -a`` / ``arp -an`` (from ``/proc/net/arp``: every entry
    but NOARP ones)."""
    resolve = _resolver(ns, names, gateway_name) if not numeric else (lambda ip: None)
    out = []
    for n in neigh_entries(ns):
        if n.state == "NOARP":
            continue
        ip = str(ipaddress.IPv4Address(n.ip))
        complete = n.state in NUD_VALID
        perm = n.state == "PERMANENT"
        hwa = mac_to_str(n.lladdr) if complete and n.lladdr is not None else "00:00:00:00:00:00"
        name = resolve(ip)
        if bsd:
            line = f"{name or '?'} ({ip}) at "
            line += f"{hwa} [ether] " if complete else "<incomplete> "
            if perm:
                line += "PERM "
            out.append(line + f"on {n.dev.name}")
            continue
        if not out:
            out.append("Address                  HWtype  HWaddress           Flags Mask            Iface")
        flags = ("C" if complete else "") + ("M" if perm else "")
        shown = (name or ip)[:23]
        middle = f"{'ether':<8}{hwa:<20}" if complete else f"{'':<8}{'(incomplete)':<20}"
        out.append(f"{shown:<23}  {middle}{flags:<6}{'':<15} {n.dev.name}")
    return "".join(line + "\n" for line in out)


def _ifconfig_short_flags(flags: int) -> str:
    return "".join(c for bit, c in (
        (IFF_ALLMULTI, "A"), (IFF_BROADCAST, "B"), (IFF_DEBUG, "D"), (IFF_LOOPBACK, "L"),
        (IFF_MULTICAST, "M"), (IFF_PROMISC, "P"), (IFF_NOTRAILERS, "N"), (IFF_NOARP, "O"),
        (IFF_POINTOPOINT, "P"), (IFF_SLAVE, "s"), (IFF_MASTER, "m"), (IFF_RUNNING, "R"),
        (IFF_UP, "U")) if flags & bit)


def netstat_i(ns, all: bool = False) -> str:
    """``netstat -i`` (net-tools' ``ife_print_short``; ``-a`` adds the down interfaces)."""
    out = ["Kernel Interface table",
           "Iface             MTU    RX-OK RX-ERR RX-DRP RX-OVR    TX-OK TX-ERR TX-DRP TX-OVR Flg"]
    for d in sorted(ns.devices.values(), key=lambda d: _nstr_key(d.name)):
        if not (all or d.admin_up):
            continue
        s = d.stats
        out.append(f"{d.name[:15]:<15} {d.mtu:>5} {s.rx_packets:>8} {s.rx_errors:>6} "
                   f"{s.rx_dropped:>6} {0:<6} {s.tx_packets:>8} {s.tx_errors:>6} "
                   f"{s.tx_dropped:>6} {0:>6} {_ifconfig_short_flags(dev_get_flags(d))}")
    return "".join(line + "\n" for line in out)


# -- the command lines --------------------------------------------------------------
def _flags_of(args):
    """The letters of arguments that are all options (``-rn`` → {r, n}); None otherwise."""
    out = set()
    for a in args:
        if not a.startswith("-"):
            return None
        out |= set(a[1:])
    return out


def run_ifconfig(ns, args: list, options):
    """``ifconfig [-a] [DEV]``; None for a command line the model does not support."""
    show_all = "-a" in args
    rest = [a for a in args if a != "-a"]
    if len(rest) > 1 or any(a.startswith("-") for a in rest):
        return None
    return ifconfig(ns, all=show_all, dev=rest[0] if rest else None)


def run_route(ns, args: list, options):
    """``route [-n] [-e]``."""
    flags = _flags_of(args)
    if flags is None or not flags <= {"n", "e"}:
        return None
    return route(ns, numeric="n" in flags, extended="e" in flags, names=options.names,
                 gateway_name=options.gateway_name)


def run_arp(ns, args: list, options):
    """``arp [-n] [-a] [-e]``."""
    flags = _flags_of(args)
    if flags is None or not flags <= {"n", "a", "e"}:
        return None
    return arp(ns, numeric="n" in flags, bsd="a" in flags, names=options.names,
               gateway_name=options.gateway_name)


def run_netstat(ns, args: list, options):
    """``netstat -r[n][e]`` or ``netstat -i[n][a]``."""
    flags = _flags_of(args)
    if flags is None:
        return None
    if "r" in flags and flags <= {"r", "n", "e"}:
        return netstat_r(ns, numeric="n" in flags, extended="e" in flags, names=options.names,
                         gateway_name=options.gateway_name)
    if "i" in flags and flags <= {"i", "n", "a"}:
        return netstat_i(ns, all="a" in flags)
    return None


#: program name -> handler
PROGRAMS = {"ifconfig": run_ifconfig, "route": run_route, "arp": run_arp, "netstat": run_netstat}
