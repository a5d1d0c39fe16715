"""``br_netfilter`` (``net/bridge/br_netfilter_hooks.c``): bridged IPv4 through iptables.

With ``net.bridge.bridge-nf-call-iptables=1`` (what dockerd and kubelet set), an IPv4
frame a bridge receives meets the IPv4 hooks as if it were routed, with the bridge as its
device and the ports as ``physdev``:

* ``br_nf_pre_routing``: the frame's IPv4 header is checked (``br_validate_ipv4``), then
  NF_INET_PRE_ROUTING with the bridge as ``in``.  If a DNAT changed the destination
  (``br_nf_pre_routing_finish``), the frame is routed again: to a destination behind the
  bridge itself it stays bridged, to the neighbour's MAC (bridged DNAT, the hairpin of a
  Service whose endpoint shares the client's bridge); to any other it goes up the stack,
  addressed to the bridge's own MAC, and is routed there.
* a frame that goes up the stack does not meet PREROUTING again (``ip_sabotage_in``);
* ``br_nf_forward_ip`` and ``br_nf_post_routing``: a frame the bridge forwards to a port
  meets NF_INET_FORWARD (``in`` and ``out`` the bridge) and NF_INET_POST_ROUTING, once per
  port it goes out of.

A bridged DNAT to a neighbour not yet resolved goes up the stack instead, which resolves it
(the kernel's ``neigh->output`` would queue it behind ARP on the bridge).
"""
from emunet.stack.netfilter.hooks import NF_INET_FORWARD, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING
from emunet.wire.errors import Malformed
from emunet.wire.ethernet import ETH_HLEN
from emunet.wire.ipv4 import Ipv4View


def br_nf_pre_routing(nf, bridge, port, frame):
    """PREROUTING for an IPv4 frame ``bridge`` received on ``port``: ``(frame, pkt)`` to go
    on with (the frame rewritten if NAT changed it), or None if it was dropped."""
    data = frame.data
    try:
        ipv = Ipv4View.check(data, ETH_HLEN, verify=not frame.csum_level)
    except Malformed as e:
        port.count_drop(e.reason, frame, f"{e.detail} (br_validate_ipv4)")
        return None
    ipv4 = nf.ns.ipv4
    pkt = nf.packet(data[ETH_HLEN:ipv.end], frame.pid)
    pkt.physindev = port
    before = pkt.data
    if not ipv4.nf_hook(NF_INET_PRE_ROUTING, pkt, bridge, None, port, frame):
        return None
    if pkt.data is before:
        return frame, pkt
    dst_mac = data[0:6]
    if pkt.daddr != ipv.daddr:
        r = nf.ns.fib.lookup(pkt.daddr)
        n = None
        if r is not None and r.type == "unicast" and r.dev is bridge:
            n = nf.ns.neigh.lookup(bridge, r.gateway or pkt.daddr)
        if n is not None and n.lladdr is not None and n.state not in ("INCOMPLETE", "FAILED"):
            dst_mac = n.lladdr            # bridged DNAT
        else:
            dst_mac = bridge.mac          # routed by the stack above
    return frame.derive(dst_mac + data[6:ETH_HLEN] + pkt.data), pkt


def br_nf_forward(nf, bridge, inport, outport, frame, pkt):
    """FORWARD and POSTROUTING for a copy of a bridged frame going out of ``outport``: the
    frame to send (rewritten if NAT changed it), or None if it was dropped."""
    ipv4 = nf.ns.ipv4
    pkt.physindev = inport
    pkt.physoutdev = outport
    pkt.nexthop = pkt.daddr
    before = pkt.data
    if not ipv4.nf_hook(NF_INET_FORWARD, pkt, bridge, bridge, inport, frame) or \
            not ipv4.nf_hook(NF_INET_POST_ROUTING, pkt, None, bridge, outport, frame):
        return None
    if pkt.data is before:
        return frame
    return frame.derive(frame.data[:ETH_HLEN] + pkt.data)


__all__ = ["br_nf_pre_routing", "br_nf_forward"]
