"""What iproute2's ``bridge fdb show`` and ``bridge link`` and bridge-utils 1.7's ``brctl
show`` and ``brctl showmacs`` print (iproute2 ``bridge/fdb.c``, ``bridge/link.c``;
bridge-utils ``brctl/brctl_disp.c``).

Facts seen on kernel 6.18: ``bridge link`` resolves the peer's ifindex *in the bridge's
namespace* (``veth1a2b3c4@if3``, or the name of whatever local device has that index);
``bridge fdb show`` lists, per device by ifindex, the bridge's entries for it newest
first, then the device's own multicast list (``33:33:00:00:00:01`` from IPv6
registration even with IPv6 disabled, ``01:00:5e:00:00:01`` once up; a bridge that is up
also has ``01:00:5e:00:00:6a`` / ``33:33:00:00:00:6a`` for multicast router discovery);
a learned entry's line ends with a space.
"""
import ipaddress

from emunet.observe.show.iplink import CANNOT_FIND, pick_dev, print_link_flags
from emunet.observe.show.iproute2 import is_show, matches
from emunet.observe.show.kernel import dev_get_flags, devices, link_type, peer
from emunet.wire.ethernet import mac_to_str

__all__ = ["bridge_fdb", "bridge_link", "brctl_show", "brctl_showmacs", "PROGRAMS", "USAGE"]

USAGE = [
    "bridge fdb show [br BRIDGE] [dev DEV] | bridge link [show [dev DEV]]",
    "brctl show [BRIDGE] | brctl showmacs BRIDGE",
]


def _is_bridge(dev) -> bool:
    return dev.kind == "bridge" and hasattr(dev, "ports")


def _self_multicast(dev) -> list:
    """The device's link-layer multicast list (``ndo_dflt_fdb_dump``), IPv6 disabled as in
    the reference: ff02::1 is joined at registration, 224.0.0.1 when the device goes up,
    and a bridge that is up joins the multicast-router-discovery groups first."""
    if not dev.multicast or dev.loopback or link_type(dev) != "ether":
        return []
    out = []
    if dev.mtu >= 1280:
        out.append("33:33:00:00:00:01")
    if dev.admin_up:
        if _is_bridge(dev):
            out += ["01:00:5e:00:00:6a", "33:33:00:00:00:6a"]
        out.append("01:00:5e:00:00:01")
    return out


def _fdb_state(e) -> str:
    if e.is_local:
        return "permanent"
    if e.is_static:
        return "static"
    return ""


def _fdb_lines(dev, bridges_wanted=None, omit_dev=False) -> list:
    """``rtnl_fdb_dump`` for one device."""
    devtext = "" if omit_dev else f"dev {dev.name} "
    out = []
    if _is_bridge(dev):
        br = dev
        out += [f"{m} {devtext}self permanent" for m in _self_multicast(dev)]
        entries = br.fdb_entries()
        own = [e for e in entries if e.port is br]
        if not own:
            out.append(f"{mac_to_str(br.mac)} {devtext}master {br.name} permanent")
        for e in reversed(own):
            out.append(f"{mac_to_str(e.mac)} {devtext}master {br.name} {_fdb_state(e)}")
        return out
    br = dev.master
    if br is not None and _is_bridge(br):
        for e in reversed(br.fdb_entries()):
            if e.port is dev:
                out.append(f"{mac_to_str(e.mac)} {devtext}master {br.name} {_fdb_state(e)}")
    own_fdb = getattr(dev, "fdb_entries", None)
    if callable(own_fdb):
        # a device with its own ndo_fdb_dump (vxlan) lists its table instead of its
        # multicast list
        for e in own_fdb():
            if hasattr(e, "dst") and hasattr(e, "mac"):
                dst = e.dst if isinstance(e.dst, str) else str(ipaddress.IPv4Address(e.dst))
                state = " permanent" if getattr(e, "permanent", True) else ""
                out.append(f"{mac_to_str(e.mac)} {devtext}dst {dst} self{state}")
            else:
                out.append(e.show(dev))
        return out
    out += [f"{m} {devtext}self permanent" for m in _self_multicast(dev)]
    return out


def bridge_fdb(ns, br: str = None, dev: str = None) -> str:
    """``bridge fdb show [br BRIDGE] [dev DEV]``."""
    bridge = pick_dev(ns, br, 'Cannot find bridge device "{}"')
    only = pick_dev(ns, dev, CANNOT_FIND)
    if bridge is not None and not _is_bridge(bridge):
        raise ValueError(f"{br} is not a bridge")
    out = []
    for d in devices(ns):
        if bridge is not None and d is not bridge and d.master is not bridge:
            continue
        if only is not None and d is not only:
            continue
        out += _fdb_lines(d, omit_dev=only is not None)
    return "".join(line + "\n" for line in out)


def _port_cost(dev) -> int:
    """``port_cost``: from the link speed (veth says 10000 Mb/s), 100 when unknown."""
    speed = getattr(dev, "speed", 10000 if dev.kind == "veth" else None)
    table = {10000: 2, 5000: 3, 2500: 4, 1000: 4, 100: 19, 10: 100}
    if speed is None:
        return 100
    if speed > 10000:
        return 1
    return table.get(speed, 100)


def bridge_link(ns, dev: str = None) -> str:
    """``bridge link [show dev DEV]``: bridge ports.  The peer's ifindex is looked up in
    *this* namespace (``ll_index_to_name``), so a veth whose peer is elsewhere shows
    ``@ifN`` unless a local device happens to have index N."""
    only = pick_dev(ns, dev, CANNOT_FIND)
    by_index = {d.ifindex: d for d in ns.devices.values()}
    out = []
    for d in devices(ns):
        br = d.master
        if br is None or not _is_bridge(br) or (only is not None and d is not only):
            continue
        p = peer(d)
        mdown = False
        if p is not None:
            local = by_index.get(p.ifindex)
            name = f"{d.name}@{local.name if local is not None else f'if{p.ifindex}'}"
            mdown = local is not None and not local.admin_up
        else:
            name = d.name + d.peer_name()
        state = "forwarding" if (br.admin_up and d.running) else "disabled"
        out.append(f"{d.ifindex}: {name}: {print_link_flags(dev_get_flags(d), mdown)} mtu {d.mtu} master {br.name} "
                   f"state {state} priority 32 cost {_port_cost(d)} ")
    return "".join(line + "\n" for line in out)


def brctl_show(ns, bridge: str = None) -> str:
    """``brctl show [BRIDGE]``: bridges and ports sorted by name (``scandir`` + alphasort)."""
    bridges = sorted((d for d in ns.devices.values() if _is_bridge(d)), key=lambda d: d.name)
    if bridge is not None:
        b = ns.devices.get(bridge)
        if b is None or not _is_bridge(b):
            raise ValueError(f"bridge {bridge} does not exist!")
        bridges = [b]
    out = "bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"
    for b in bridges:
        bid = "8000." + b.mac.hex()
        stp = "yes" if getattr(b, "stp_state", 0) else "no"
        out += f"{b.name}\t\t{bid}\t{stp}\t\t"
        ports = sorted(p.name for p in b.ports)
        if not ports:
            out += "\n"
        for i, p in enumerate(ports):
            out += (p if i == 0 else "\t\t\t\t\t\t\t" + p) + "\n"
    return out


def brctl_showmacs(ns, bridge: str) -> str:
    """``brctl showmacs BRIDGE``: entries with a port, sorted by MAC; ``is local?`` for the
    ports' own addresses; the ageing timer is the time since the entry was refreshed (0 for
    local ones).  Port numbers are the order of enslavement."""
    b = ns.devices.get(bridge)
    if b is None or not _is_bridge(b):
        raise ValueError("read of forward table failed: No such device")
    out = "port no\tmac addr\t\tis local?\tageing timer\n"
    now = b.sim.now
    for e in sorted((e for e in b.fdb_entries() if e.port is not b), key=lambda e: e.mac):
        port_no = b.ports.index(e.port) + 1 if e.port in b.ports else 0
        age_cs = 0 if e.is_local else max(0, now - e.updated) // 10_000_000
        out += (f"{port_no:>3}\t{mac_to_str(e.mac)}\t{'yes' if e.is_local else 'no'}\t\t"
                f"{age_cs // 100:>4}.{age_cs % 100:02d}\n")
    return out


# -- the command lines --------------------------------------------------------------
def run_bridge(ns, args: list, options):
    """``bridge fdb [show] [br BRIDGE] [dev DEV]`` / ``bridge link [show] [dev DEV]``; None
    for a command line the model does not support."""
    if args and matches(args[0], "fdb"):
        rest = args[1:]
        if rest and is_show(rest[0]):
            rest = rest[1:]
        opts = {}
        while rest:
            if rest[0] in ("br", "dev") and len(rest) >= 2:
                opts[rest[0]] = rest[1]
                rest = rest[2:]
            else:
                return None
        return bridge_fdb(ns, br=opts.get("br"), dev=opts.get("dev"))
    if args and matches(args[0], "link"):
        rest = args[1:]
        if rest and is_show(rest[0]):
            rest = rest[1:]
        if rest and rest[0] == "dev" and len(rest) == 2:
            return bridge_link(ns, dev=rest[1])
        if rest:
            return None
        return bridge_link(ns)
    return None


def run_brctl(ns, args: list, options):
    """``brctl show [BRIDGE]`` / ``brctl showmacs BRIDGE``."""
    if args and args[0] == "show" and len(args) <= 2:
        return brctl_show(ns, args[1] if len(args) == 2 else None)
    if args and args[0] == "showmacs" and len(args) == 2:
        return brctl_showmacs(ns, args[1])
    return None


#: program name -> handler
PROGRAMS = {"bridge": run_bridge, "brctl": run_brctl}
