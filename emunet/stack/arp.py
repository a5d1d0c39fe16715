"""ARP in a namespace (``net/ipv4/arp.c``): ``arp_rcv`` → ``arp_process``, proxy ARP, ``arp_send``.

The neighbour entries themselves and their state machine live in
:mod:`emunet.stack.neigh`; this module answers requests and feeds what it hears
into the neighbour table.
"""
from emunet.wire.arp import ARPOP_REPLY, ARPOP_REQUEST, ArpView
from emunet.wire.errors import Malformed
from emunet.wire.ethernet import ETH_HLEN, ETH_P_ARP, EthernetView, mac_to_str
from emunet.wire.frame import Frame
from emunet.wire.ipv4 import int_to_ip


class Arp:
    """One namespace's ARP: answering for its addresses (``arp_ignore=0``), for others'
    (proxy ARP), and learning from what it hears (``arp_accept``)."""

    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim

    def arp_rcv(self, dev, frame: Frame) -> None:
        """``arp_rcv`` → ``arp_process``."""
        ns = self.ns
        try:
            arp = ArpView.check(frame.data, ETH_HLEN)
        except Malformed as e:
            ns.count_drop(e.reason, dev, frame, e.detail)
            return
        sip = int.from_bytes(arp.spa, "big")
        tip = int.from_bytes(arp.tpa, "big")
        op = arp.op
        sha = arp.sha
        if sip >> 28 == 0xE or tip >> 28 == 0xE or tip == 0x7F000001:
            ns.count_drop("ARP_INVALID", dev, frame, "multicast or loopback address in ARP")
            return
        if op == ARPOP_REQUEST and sip == 0:
            # a duplicate address probe (RFC 5227): answer if it is ours, learn nothing
            if self._local_on(tip, dev):
                self._arp_reply(dev, frame, sha, 0, arp.tpa, "DAD probe for our address → reply")
            elif self.sim.observers:
                # arp_process's out_consume_skb: consumed, not dropped (no drop reason)
                ns.note(dev, frame, f"DAD probe for {int_to_ip(tip)}, not ours: consumed")
            return
        if op == ARPOP_REQUEST and self._local_on(tip, dev):
            n = ns.neigh.update(dev, sip, sha, "STALE", create=True)
            self._arp_reply(dev, frame, sha, sip, arp.tpa,
                            f"who-has {int_to_ip(tip)} (ours) → reply; neigh {int_to_ip(sip)} {n.state}")
            return
        if op == ARPOP_REQUEST and not ns.is_local_address(tip) and self._proxy_arp(dev, frame, arp, sip, tip):
            return
        # a reply, or a request not for us: refresh an entry we have; never create one
        # (arp_accept=0, so a gratuitous ARP for an unknown address is ignored)
        is_reply_to_us = op == ARPOP_REPLY and frame.data[0:6] == dev.mac
        n = ns.neigh.update(dev, sip, sha, "REACHABLE" if is_reply_to_us else "STALE",
                            create=bool(ns.sysctl.get("net.ipv4.conf.all.arp_accept")))
        if not self.sim.observers:
            return
        if n is None:
            ns.note(dev, frame, f"ARP from {int_to_ip(sip)}: no entry, ignored (arp_accept=0)")
        else:
            ns.note(dev, frame, f"ARP {'reply' if op == ARPOP_REPLY else 'request'}: "
                                f"neigh {int_to_ip(sip)} lladdr {mac_to_str(sha)} {n.state}")

    def _proxy_arp(self, dev, frame, arp, sip: int, tip: int) -> bool:
        """The proxy branch of ``arp_process``; True when the request was taken.

        The kernel answers for ``tip`` when the receiving device forwards
        (``IN_DEV_FORWARD``), has ``proxy_arp`` (or ``conf.all`` has it), and the route to
        ``tip`` is unicast and leaves through *another* device (``arp_fwd_proxy``).  It
        answers at once when the request was addressed to its own MAC (``PACKET_HOST``)
        or ``proxy_delay`` is 0; otherwise ``pneigh_enqueue`` holds the request for a
        random time below ``proxy_delay`` (0.8 s by default) and answers then."""
        ns = self.ns
        if not (dev.conf.get("proxy_arp") or ns.sysctl.get("net.ipv4.conf.all.proxy_arp")):
            return False
        if not ns.ipv4.forwarding(dev):
            return False
        r = ns.fib.lookup(tip)
        if r is None or r.type != "unicast" or r.dev is dev:
            return False
        sha = arp.sha
        ns.neigh.update(dev, sip, sha, "STALE", create=True)
        delay = dev.conf.get("proxy_delay_ms")
        delay_ns = ns.neigh.params.proxy_delay_ns if delay is None else delay * 1_000_000
        note = f"who-has {int_to_ip(tip)}: proxy ARP ({int_to_ip(tip)} via {r.dev.name}) → reply"
        if frame.data[0:6] == dev.mac or not delay_ns:
            self._arp_reply(dev, frame, sha, sip, arp.tpa, note)
        else:
            wait = self.sim.rng.randrange(delay_ns)
            ns.note(dev, frame, f"who-has {int_to_ip(tip)}: proxy ARP, held {wait / 1e6:.1f} ms "
                                f"(random below proxy_delay {delay_ns / 1e6:.0f} ms)")
            self.sim.after(wait, self._arp_reply, dev, frame, sha, sip, bytes(arp.tpa), note)
        return True

    def _local_on(self, ip: int, dev) -> bool:
        # arp_ignore=0: answer for any address of this namespace, on any interface
        a = self.ns.local_ips.get(ip)
        return a is not None and not a.dev.loopback

    def _arp_reply(self, dev, frame, tha: bytes, tip: int, spa: bytes, note: str) -> None:
        self.ns.note(dev, frame, note)
        self.arp_send(dev, ARPOP_REPLY, dst_mac=tha, sha=dev.mac, spa=spa, tha=tha,
                      tpa=tip.to_bytes(4, "big"), note="arp reply")

    def arp_send(self, dev, op: int, dst_mac: bytes, sha: bytes, spa: bytes, tha: bytes,
                 tpa: bytes, note: str, pid: int = None) -> None:
        """``arp_send``: a 42-byte frame (no padding: veth and bridges do not pad)."""
        data = EthernetView.emit(dst_mac, dev.mac, ETH_P_ARP) + ArpView.emit(op, sha, spa, tha, tpa)
        dev.dev_queue_xmit(Frame(data, self.sim.new_pid() if pid is None else pid), note)


__all__ = ["Arp"]
