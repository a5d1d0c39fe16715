"""The neighbour table and ARP's state machine (``net/core/neighbour.c``, ``net/ipv4/arp.c``).

Read RFC 1122 §2.3.2 and the kernel's ``__neigh_event_send`` /
``neigh_timer_handler`` for the truth this follows:

* a packet to an unknown neighbour creates an INCOMPLETE entry, is queued
  (up to ``unres_qlen_bytes`` of skb truesize), and a broadcast ARP request
  goes out at once; every ``retrans_time`` another, ``mcast_solicit`` in all;
  then the entry is FAILED and every queued packet is answered with ICMP host
  unreachable to its sender;
* a solicited reply makes the entry REACHABLE and flushes the queue;
* after ``reachable_time`` (random in 0.5–1.5 × ``base_reachable_time``)
  without confirmation the entry goes STALE; the next packet sent makes it
  DELAY; ``delay_first_probe_time`` later it goes PROBE and up to
  ``ucast_solicit`` unicast requests are sent, then FAILED;
* PERMANENT and NOARP entries never change by themselves.
"""
import attrs

from emunet.sim import S
from emunet.wire.arp import ARPOP_REQUEST
from emunet.wire.ethernet import BROADCAST_MAC, ETHERTYPE_IP, ZERO_MAC, mac_to_str
from emunet.wire.frame import CSUM_IP, LINKTYPE_ETHERNET, LINKTYPE_RAW, Frame
from emunet.wire.ipv4 import int_to_ip

# skb truesize of a small packet: the data rounded up plus sk_buff and skb_shared_info;
# an approximation, used only to fill the pending queue the way unres_qlen_bytes counts
SKB_TRUESIZE_OVERHEAD = 768

NUD_STATES = ("INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED",
              "NOARP", "PERMANENT", "NONE")


@attrs.define
class NeighParams:
    """``net.ipv4.neigh.default.*`` (kernel defaults)."""

    base_reachable_ns: int = 30 * S
    retrans_ns: int = 1 * S
    delay_first_probe_ns: int = 5 * S
    mcast_solicit: int = 3
    ucast_solicit: int = 3
    app_solicit: int = 0
    gc_stale_ns: int = 60 * S
    unres_qlen_bytes: int = 212992
    proxy_delay_ns: int = 800_000_000  # 0.8 s: proxy_delay 80 (centiseconds)


@attrs.define(eq=False)
class Neighbour:
    """One entry of ``ip neigh``."""

    ip: int
    dev: object
    state: str = "NONE"
    lladdr: bytes = None
    confirmed: int = 0
    updated: int = 0
    used: int = 0
    probes: int = 0
    #: packets waiting for resolution; a list only once one waits (most entries never
    #: queue anything: a cluster's permanent VTEP neighbours number nodes squared)
    queue: object = ()
    queue_bytes: int = 0
    timer: object = None
    router: bool = False

    def show(self) -> str:
        """The line ``ip neigh show`` prints."""
        out = f"{int_to_ip(self.ip)} dev {self.dev.name}"
        if self.lladdr is not None and self.state not in ("INCOMPLETE", "FAILED"):
            out += f" lladdr {mac_to_str(self.lladdr)}"
        if self.router:
            out += " router"
        return f"{out} {self.state}"


class NeighTable:
    """A namespace's ARP table: entries keyed by (ifindex, IPv4 address), as the kernel's
    neighbour hash is keyed by (device, primary key); an ifindex names one device of the
    namespace, and a device leaving the namespace takes its entries with it."""

    def __init__(self, ns, params: NeighParams = None):
        self.ns = ns
        self.sim = ns.sim
        self.params = params or NeighParams()
        base = self.params.base_reachable_ns
        # neigh_rand_reach_time: uniform in [base/2, 3*base/2)
        self.reachable_ns = base // 2 + self.sim.rng.randrange(base)
        self.entries = {}

    def __iter__(self):
        return iter(self.entries.values())

    def lookup(self, dev, ip: int):
        return self.entries.get((dev.ifindex, ip))

    def _get(self, dev, ip: int) -> Neighbour:
        n = self.entries.get((dev.ifindex, ip))
        if n is None:
            n = Neighbour(ip, dev, updated=self.sim.now)
            self.entries[(dev.ifindex, ip)] = n
        return n

    # -- configuration (``ip neigh add/replace/del``) ------------------------
    def add_permanent(self, dev, ip: int, lladdr: bytes) -> Neighbour:
        n = self._get(dev, ip)
        self._set_timer(n, None)
        n.state, n.lladdr, n.updated = "PERMANENT", lladdr, self.sim.now
        self._flush(n)
        return n

    def delete(self, dev, ip: int) -> None:
        n = self.entries.pop((dev.ifindex, ip), None)
        if n is None:
            raise LookupError(f"RTNETLINK answers: No such file or directory "
                              f"(no neighbour {int_to_ip(ip)} on {dev.name})")
        self._set_timer(n, None)

    def flush_dev(self, dev) -> None:
        for key in [k for k, n in self.entries.items() if n.dev is dev]:
            self._set_timer(self.entries[key], None)
            del self.entries[key]

    # -- datapath -----------------------------------------------------------
    def hh_output(self, dev, dst_mac: bytes, packet: bytes, pid: int, note: str,
                  csum_level: int = CSUM_IP) -> None:
        """How a neighbour with a link-layer address sends (``neigh_hh_output``, and the end of
        ``neigh_resolve_output``): the Ethernet header to ``dst_mac`` for an IPv4 packet
        (``dev_hard_header``), then ``dev_queue_xmit``."""
        dev.dev_queue_xmit(Frame(dst_mac + dev.mac + ETHERTYPE_IP + packet, pid, LINKTYPE_ETHERNET,
                                 csum_level), note)

    def output(self, dev, nexthop: int, packet: bytes, pid: int, note: str, csum_level: int = CSUM_IP) -> None:
        """``neigh_resolve_output``: send ``packet`` (an IP packet) to ``nexthop`` via ``dev``
        (``csum_level`` as for ``Ipv4.ip_finish_output2``; a packet that waits for ARP is sent
        with its header vouched for, its payload checked by the receiver)."""
        n = self.entries.get((dev.ifindex, nexthop))
        if n is None:
            n = self._get(dev, nexthop)
        state = n.state
        now = self.sim.now
        n.used = now
        if state in ("REACHABLE", "PERMANENT", "NOARP", "DELAY", "PROBE"):
            self.hh_output(dev, n.lladdr, packet, pid, note, csum_level)
            return
        if state == "STALE":
            n.state, n.updated = "DELAY", now
            self._set_timer(n, self.params.delay_first_probe_ns)
            if self.sim.observers:
                note = f"{note}; neigh {int_to_ip(nexthop)} STALE → DELAY"
            self.hh_output(dev, n.lladdr, packet, pid, note, csum_level)
            return
        if state != "INCOMPLETE":
            # NONE or FAILED: start resolving
            n.state, n.updated = "INCOMPLETE", now
            n.probes = self.params.ucast_solicit
            self._enqueue(n, packet, pid, note)
            self._probe(n)
            self._set_timer(n, self.params.retrans_ns)
            return
        self._enqueue(n, packet, pid, note)

    def _queued_note(self, n: Neighbour, packet: bytes, pid: int, note: str) -> None:
        if self.sim.observers:
            self.sim.note(n.dev, Frame(packet, pid, LINKTYPE_RAW),
                          f"{note}; neigh {int_to_ip(n.ip)} INCOMPLETE: queued until ARP resolves")

    def _enqueue(self, n: Neighbour, packet: bytes, pid: int, note: str) -> None:
        size = len(packet) + SKB_TRUESIZE_OVERHEAD
        while n.queue and n.queue_bytes + size > self.params.unres_qlen_bytes:
            old = n.queue.pop(0)
            n.queue_bytes -= len(old[0]) + SKB_TRUESIZE_OVERHEAD
            self.ns.count_drop("NEIGH_QUEUEFULL", n.dev, None, f"pending queue for {int_to_ip(n.ip)} full",
                               old[1])
        if not n.queue:
            n.queue = []
        n.queue.append((packet, pid, note))
        n.queue_bytes += size
        self._queued_note(n, packet, pid, note)

    def _max_probes(self, n: Neighbour) -> int:
        p = self.params
        if n.state == "INCOMPLETE":
            return p.ucast_solicit + p.app_solicit + p.mcast_solicit
        return p.ucast_solicit + p.app_solicit  # PROBE (mcast_resolicit is 0)

    def _probe(self, n: Neighbour) -> None:
        """``neigh_probe`` → ``arp_solicit``: broadcast while INCOMPLETE, unicast in PROBE."""
        n.probes += 1
        unicast = n.state == "PROBE" and n.lladdr is not None
        src_ip = None
        if n.queue:
            # arp_announce=0: the source of the packet waiting, if it is one of ours
            cand = n.queue[-1][0][12:16]
            if self.ns.is_local_address(int.from_bytes(cand, "big")):
                src_ip = cand
        if src_ip is None:
            src_ip = self.ns.select_source(n.dev, n.ip)
        probe = n.probes - (0 if unicast else self.params.ucast_solicit)
        self.ns.arp.arp_send(n.dev, ARPOP_REQUEST,
                             dst_mac=n.lladdr if unicast else BROADCAST_MAC,
                             sha=n.dev.mac, spa=src_ip, tha=ZERO_MAC, tpa=n.ip.to_bytes(4, "big"),
                             note=f"neigh {int_to_ip(n.ip)} {n.state}: ARP probe {probe} "
                                  f"({'unicast' if unicast else 'broadcast'})")

    def _set_timer(self, n: Neighbour, delay_ns) -> None:
        if n.timer is not None:
            n.timer.cancel()
            n.timer = None
        if delay_ns is not None:
            n.timer = self.sim.after(delay_ns, self._timer, n)

    def _timer(self, n: Neighbour) -> None:
        """``neigh_timer_handler``."""
        n.timer = None
        now = self.sim.now
        p = self.params
        if n.state == "REACHABLE":
            if now - n.confirmed < self.reachable_ns:
                self._set_timer(n, n.confirmed + self.reachable_ns - now)
            elif now - n.used < p.delay_first_probe_ns:
                n.state, n.updated = "DELAY", now
                self._set_timer(n, p.delay_first_probe_ns)
            else:
                n.state, n.updated = "STALE", now
            return
        if n.state == "DELAY":
            if now - n.confirmed < p.delay_first_probe_ns:
                n.state, n.updated = "REACHABLE", now
                self._set_timer(n, self.reachable_ns)
            else:
                n.state, n.updated, n.probes = "PROBE", now, 0
                self._probe(n)
                self._set_timer(n, p.retrans_ns)
            return
        if n.state in ("INCOMPLETE", "PROBE"):
            if n.probes >= self._max_probes(n):
                self._fail(n)
                return
            self._probe(n)
            self._set_timer(n, p.retrans_ns)

    def _fail(self, n: Neighbour) -> None:
        """``neigh_invalidate``: FAILED, and each queued packet gets ICMP host unreachable."""
        n.state, n.updated = "FAILED", self.sim.now
        queue, n.queue, n.queue_bytes = n.queue, (), 0
        for packet, pid, _ in queue:
            self.ns.count_drop("NEIGH_FAILED", n.dev, None,
                               f"no ARP reply from {int_to_ip(n.ip)} after {n.probes - self.params.ucast_solicit} probes",
                               pid)
            self.ns.icmp.send_error(packet, 3, 1, 0, pid)

    def _flush(self, n: Neighbour) -> None:
        queue, n.queue, n.queue_bytes = n.queue, (), 0
        for packet, pid, note in queue:
            if self.sim.observers:
                # a packet queued while nobody observed has no note of its own
                note = f"{note + '; ' if note is not None else ''}neigh {int_to_ip(n.ip)} resolved"
            self.hh_output(n.dev, n.lladdr, packet, pid, note)

    def update(self, dev, ip: int, lladdr: bytes, state: str, create: bool) -> Neighbour:
        """``neigh_update`` from a received ARP packet (``override`` set, as ``arp_process`` does)."""
        n = self.entries.get((dev.ifindex, ip))
        if n is None:
            if not create:
                return None
            n = self._get(dev, ip)
        if n.state in ("PERMANENT", "NOARP"):
            return n
        now = self.sim.now
        changed = n.lladdr != lladdr
        n.lladdr = lladdr
        if state == "REACHABLE":
            n.confirmed = now
            n.state, n.updated = "REACHABLE", now
            self._set_timer(n, self.reachable_ns)
        elif n.state in ("NONE", "INCOMPLETE", "FAILED") or changed or n.state not in ("REACHABLE", "DELAY", "PROBE"):
            n.state, n.updated = "STALE", now
            self._set_timer(n, None)
        if n.queue:
            self._flush(n)
        return n
