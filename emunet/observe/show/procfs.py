"""What ``/proc/net/route``, ``/proc/net/arp``, ``/proc/net/dev`` and ``/proc/sys/net``
hold for a namespace (``fib_route_seq_show``, ``arp_seq_show``, ``dev_seq_show``; the
``sysctl`` program reads the last one).  net-tools' ``route``, ``netstat -r`` and
``arp`` print what these files say.
"""
import ipaddress
import re

from emunet.observe.show.kernel import NUD_VALID, devices, neigh_entries, table_routes
from emunet.wire.ethernet import mac_to_str

__all__ = ["proc_net_route_rows", "proc_net_route", "proc_net_arp", "proc_net_dev", "sysctl",
           "PROGRAMS", "USAGE"]

USAGE = [
    "cat /proc/net/route | cat /proc/net/arp | cat /proc/net/dev",
    "sysctl [-n] net.ipv4.ip_forward",
]


# -- /proc/net ---------------------------------------------------------------------
def proc_net_route_rows(ns) -> list:
    """What ``/proc/net/route`` lists: the main table without broadcast and multicast routes,
    as (destination, gateway, mask, flags, metric, iface, reject?) in net-tools' terms."""
    rows = []
    for r in table_routes(ns, "main"):
        if r.type in ("broadcast", "multicast"):
            continue
        reject = r.type in ("unreachable", "prohibit")
        flags = "!" if reject else "U" + ("G" if r.via else "")
        if r.dst.prefixlen == 32:
            flags += "H"
        rows.append((str(r.dst.network_address), r.via or "0.0.0.0", str(r.dst.netmask), flags,
                     r.metric, r.dev.name if r.dev is not None else "*", reject))
    return rows


def _le_hex(ip: str) -> str:
    """An address as ``/proc/net/route`` prints it: the network-order word read little-endian."""
    return f"{int.from_bytes(ipaddress.IPv4Address(ip).packed, 'little'):08X}"


def proc_net_route(ns) -> str:
    """``cat /proc/net/route`` (each line padded to 127 characters, as ``seq_pad`` does)."""
    lines = ["Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"]
    for dst, gw, mask, flags, metric, iface, reject in proc_net_route_rows(ns):
        bits = 0x201 if reject else 0x1  # RTF_UP always, RTF_REJECT for unreachable/prohibit
        if gw != "0.0.0.0":
            bits |= 0x2
        if mask == "255.255.255.255":
            bits |= 0x4
        lines.append(f"{iface}\t{_le_hex(dst)}\t{_le_hex(gw)}\t{bits:04X}\t0\t0\t{metric}\t"
                     f"{_le_hex(mask)}\t0\t0\t0")
    return "".join(f"{line:<127}\n" for line in lines)


def proc_net_arp(ns) -> str:
    """``cat /proc/net/arp`` (``arp_seq_show``: every entry but NOARP ones)."""
    out = ["IP address       HW type     Flags       HW address            Mask     Device"]
    for n in neigh_entries(ns):
        if n.state == "NOARP":
            continue
        valid = n.state in NUD_VALID
        flags = (0x2 if valid else 0) | (0x4 if n.state == "PERMANENT" else 0)
        hwa = mac_to_str(n.lladdr) if valid and n.lladdr is not None else "00:00:00:00:00:00"
        ip = str(ipaddress.IPv4Address(n.ip))
        out.append(f"{ip:<16} 0x{1:<10x}0x{flags:<10x}{hwa}     *        {n.dev.name}")
    return "".join(line + "\n" for line in out)


def proc_net_dev(ns) -> str:
    """``cat /proc/net/dev``."""
    out = ["Inter-|   Receive                                                |  Transmit",
           " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
           "errs drop fifo colls carrier compressed"]
    for d in devices(ns):
        s = d.stats
        mc = getattr(s, "multicast", 0)
        out.append(f"{d.name:>6}:{s.rx_bytes:>8} {s.rx_packets:>7} {s.rx_errors:>4} {s.rx_dropped:>4} "
                   f"{0:>4} {0:>5} {0:>10} {mc:>9} {s.tx_bytes:>8} {s.tx_packets:>7} "
                   f"{s.tx_errors:>4} {s.tx_dropped:>4} {0:>4} {0:>5} {0:>7} {0:>10}")
    return "".join(line + "\n" for line in out)


# -- /proc/sys ---------------------------------------------------------------------
def sysctl(ns, key: str, value_only: bool = False) -> str:
    """``sysctl KEY`` / ``sysctl -n KEY`` for the namespace's net.* keys."""
    if key in ns.sysctl:
        value = ns.sysctl[key]
    else:
        m = re.fullmatch(r"net\.ipv4\.conf\.([^.]+)\.(\w+)", key)
        if m and m.group(1) in ns.devices and m.group(2) in ns.devices[m.group(1)].conf:
            value = ns.devices[m.group(1)].conf[m.group(2)]
            if value is None and m.group(2) == "forwarding":
                value = ns.sysctl.get("net.ipv4.ip_forward", 0)
        else:
            path = "/proc/sys/" + key.replace(".", "/")
            raise ValueError(f"sysctl: cannot stat {path}: No such file or directory")
    value = int(value) if isinstance(value, bool) else value
    return f"{value}\n" if value_only else f"{key} = {value}\n"


# -- the command lines --------------------------------------------------------------
_FILES = {"/proc/net/route": proc_net_route, "/proc/net/arp": proc_net_arp,
          "/proc/net/dev": proc_net_dev}


def run_cat(ns, args: list, options):
    """``cat FILE`` for the files above; None for anything else."""
    if len(args) != 1 or args[0] not in _FILES:
        return None
    return _FILES[args[0]](ns)


def run_sysctl(ns, args: list, options):
    """``sysctl [-n] KEY``."""
    value_only = "-n" in args
    rest = [a for a in args if a != "-n"]
    if len(rest) != 1 or rest[0].startswith("-"):
        return None
    return sysctl(ns, rest[0], value_only=value_only)


#: program name -> handler
PROGRAMS = {"cat": run_cat, "sysctl": run_sysctl}
