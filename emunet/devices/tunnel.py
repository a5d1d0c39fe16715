"""What every IP tunnel device does with its outer packet (``ip_tunnel_xmit`` /
``vxlan_xmit_one`` → ``ip_route_output`` → ``ip_local_out``): route it to the remote
end, refuse a route that leads back into the tunnel, and send it out."""
from emunet.wire.ipv4 import int_to_ip


def outer_route(dev, remote: int, frame, what: str):
    """The route for a tunnel's outer packet to ``remote`` (``what`` names it in drop
    details: "VTEP", "tunnel endpoint"), or None with the drop counted on ``dev``."""
    r = dev.ns.fib.lookup(remote)
    if r is None or r.type not in ("unicast", "local"):
        dev.stats.tx_errors += 1
        dev.count_drop("IP_OUTNOROUTES", frame, f"no route to {what} {int_to_ip(remote)}", tx=True)
        return None
    if r.dev is dev:
        # ip_tunnel_xmit counts this as a collision: the outer packet would re-enter the tunnel
        dev.stats.tx_errors += 1
        dev.count_drop("IP_OUTNOROUTES", frame, f"route to {int_to_ip(remote)} loops into {dev.name}", tx=True)
        return None
    return r


def outer_output(dev, r, remote: int, packet: bytes, frame, note, csum_level: int) -> None:
    """Send the outer ``packet`` along route ``r``: over ``lo`` to a local remote end, else
    out of the route's device, in fragments if it does not fit the path MTU."""
    ns = dev.ns
    ipv4 = ns.ipv4
    # through the netfilter hooks only when a table is loaded (the kernel's static key)
    if r.type == "local":
        out, nexthop, mtu = ns.lo, remote, ns.lo.mtu
    else:
        out, nexthop = r.dev, r.gateway or remote
        mtu = ns.fib.mtu(remote, r) if ns.fib.exceptions else out.mtu
        if note is not None:
            note = f"{note}; route {r.dst_text}{' via ' + r.via if r.via else ''} dev {out.name}"
    if ns.netfilter.active:
        ipv4.ip_local_out(out, nexthop, packet, frame.pid, note, csum_level, mtu)
    elif len(packet) <= mtu:
        ipv4.ip_finish_output2(out, nexthop, packet, frame.pid, note, csum_level)
    else:
        # too long for the path: fragmented if its DF is clear (VXLAN's), else refused with
        # fragmentation needed (ip_fragment)
        ipv4.ip_finish_output(out, nexthop, packet, frame.pid, note, csum_level, mtu)


__all__ = ["outer_route", "outer_output"]
