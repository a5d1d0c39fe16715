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
* with conntrack loaded, fragments are reassembled before PREROUTING (``nf_defrag_ipv4``),
  so the datagram meets the hooks once, and it leaves each port in pieces
  (``br_nf_dev_queue_xmit``; ``tests/kernel/reference/FINDINGS.md`` §14): the pieces it
  came in (``ip_do_fragment``'s fast path), unless the port gets a *clone* of the
  datagram, which is cut afresh at the largest piece's size (the slow path: a cloned skb
  never takes the fast path).  ``br_flood`` clones it for every port but the last of its
  port list (which the kernel keeps newest first), ``br_forward`` for its one port when
  the bridge is promiscuous, and both for every port when the frame also goes up
  (broadcast, multicast).
* whatever br_netfilter cuts is cut at the bridge's MTU (the fake route's), or less the
  largest piece's size; a piece still too long for the port is dropped there
  (``br_dev_queue_push_xmit``: ``is_skb_forwardable``).

A bridged DNAT to a neighbour not yet resolved goes up the stack instead, which resolves it
(the kernel's ``neigh->output`` would queue it behind ARP on the bridge).
"""
from emunet.stack.ip_fragment import IP_DEFRAG_CONNTRACK_BRIDGE_IN, ip_do_fragment
from emunet.stack.netfilter.hooks import NF_INET_FORWARD, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING
from emunet.wire.errors import Malformed
from emunet.wire.ethernet import ETH_HLEN

#: ``VLAN_HLEN``: ``is_skb_forwardable`` lets a frame exceed the MTU by a VLAN tag
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
    reasm = None
    if ipv.is_fragment and nf.tracking:
        # nf_defrag_ipv4 under the bridge (IP_DEFRAG_CONNTRACK_BRIDGE_IN): the frame goes on
        # as the whole datagram once its last piece is in
        got = ipv4.ip_defrag(port, frame, ipv, IP_DEFRAG_CONNTRACK_BRIDGE_IN)
        if got is None:
            return None
        reasm = got[2]
        frame = frame.derive(data[:ETH_HLEN] + reasm.packet)
        data = frame.data
        ipv = Ipv4View(data, ETH_HLEN)
    pkt = nf.packet(data[ETH_HLEN:ipv.end], frame.pid)
    pkt.reasm = reasm
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
    frame to send (rewritten if NAT changed it), a list of frames (it was fragmented), or
    None if it was dropped."""
    ipv4 = nf.ns.ipv4
    pkt.physindev = inport
    pkt.physoutdev = outport
    pkt.nexthop = pkt.daddr
    before = pkt.data
    if not ipv4.nf_hook(NF_INET_FORWARD, pkt, bridge, bridge, inport, frame) or \
            not ipv4.nf_hook(NF_INET_POST_ROUTING, pkt, None, bridge, outport, frame):
        return None
    if pkt.data is not before:
        frame = frame.derive(frame.data[:ETH_HLEN] + pkt.data)
    mtu = outport.mtu
    if pkt.reasm is not None:
        mtu = min(mtu, pkt.reasm.frag_max_size)
    if pkt.reasm is None and len(pkt.data) <= mtu:
        return frame
    return br_nf_dev_queue_xmit(nf, bridge, outport, frame, pkt, mtu, _gets_a_clone(bridge, inport, outport, frame))


def _gets_a_clone(bridge, inport, outport, frame) -> bool:
    """Whether the skb ``outport`` transmits is a clone (``skb_cloned``): what
    ``br_handle_frame_finish`` hands ``br_flood`` and ``br_forward``.  A frame that also
    goes up the stack (broadcast or multicast, or any frame on a promiscuous bridge:
    ``local_rcv``) reaches every port as a clone; an unknown unicast one is flooded down
    the port list, newest port first (``br_add_if`` adds at the head), each port but the
    last getting a clone; a known unicast one goes to its port as it is."""
    dst = frame.data[0:6]
    if dst[0] & 1 or bridge.promisc:
        return True
    entry = bridge.fdb_lookup(dst)
    if entry is not None and not entry.is_local:
        return False
    flooded = [p for p in reversed(bridge.ports) if p is not inport and p.running]
    return not flooded or outport is not flooded[-1]


def br_nf_dev_queue_xmit(nf, bridge, outport, frame, pkt, mtu: int, cloned: bool = False):
    """``br_nf_dev_queue_xmit``: an IPv4 frame longer than ``mtu`` (the port's, or less
    the largest piece of a datagram conntrack reassembled) is fragmented
    (``br_nf_ip_fragment``): dropped (``FragFails``) if it has DF and was not reassembled,
    or its largest piece is larger than the bridge's own MTU (the fake route's); else
    ``ip_do_fragment`` at that MTU (or the largest piece's size, if less): the pieces it
    came in when they fit and the skb is not a clone (``cloned``), else cut afresh, DF
    clear either way (``br_validate_ipv4`` cleared the flag that would keep it).  A piece
    the port cannot take is dropped there (``br_dev_queue_push_xmit``).  Returns the
    frames to send: none, or several."""
    ipv4 = nf.ns.ipv4
    data = pkt.data
    reasm = pkt.reasm
    if reasm is None and len(data) <= mtu:
        return [frame]
    if (data[6] & 0x40 and reasm is None) or (reasm is not None and reasm.frag_max_size > bridge.mtu):
        # br_nf_ip_fragment frees it with kfree_skb: no reason of its own
        ipv4.stats["FragFails"] += 1
        outport.count_drop("NOT_SPECIFIED", frame, f"{len(data)} bytes{' with DF' if data[6] & 0x40 else ''} "
                           f"{'' if reasm is None else f'(largest fragment {reasm.frag_max_size}) '}"
                           f"> MTU {bridge.mtu} of {bridge.name} (br_nf_ip_fragment: FragFails)", tx=True)
        return []
    mtu = bridge.mtu if reasm is None else min(bridge.mtu, reasm.frag_max_size)
    pieces = ip_do_fragment(data, mtu, reasm, cloned=cloned)
    ipv4.stats["FragOKs"] += 1
    ipv4.stats["FragCreates"] += len(pieces)
    head = frame.data[:ETH_HLEN]
    # a piece the port cannot take is dropped as the bridge sends it (Bridge._xmit)
    return [frame.derive(head + piece) for piece in pieces]


__all__ = ["br_nf_pre_routing", "br_nf_forward", "br_nf_dev_queue_xmit"]
