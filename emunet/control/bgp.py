"""``bird``: a BGP speaker in BIRD 1.6's role (the daemon inside calico/node), over emunet's TCP.

What it models, and where the behaviour comes from (BIRD 1.6's ``proto/bgp/bgp.c``,
``packets.c``, ``attrs.c``, ``nest/rt-table.c`` and Calico's ``bird.cfg.template``, read with
the project's search tools; see the comments at each rule):

* **Protocols.**  A :class:`Bird` process holds BIRD's protocols in configuration order:
  ``static1`` (``protocol static``: blackhole/unreachable/via routes), ``kernel1``
  (``protocol kernel``: best routes into the namespace's main table with ``proto bird``),
  ``device1``, ``direct1`` (interface prefixes, pref 240, never sent to the kernel) and one
  ``protocol bgp`` per :class:`BgpPeer`.  Route preferences are BIRD's: direct 240, static
  200, BGP 100.
* **Sessions** follow BIRD's state machine (RFC 4271 section 8): Idle, Connect, Active,
  OpenSent, OpenConfirm, Established (and Close while a NOTIFICATION drains), one outgoing
  and one incoming connection per peer, collision detection in OpenConfirm by router id
  then AS (RFC 4271 6.8 as ``bgp_rx_open`` reads it).  Timers are BIRD's, whole seconds on
  a one-second clock with RFC 4271 jitter (a timer of *v* seconds fires after *v* - rand(0 ..
  *v*/4)): hold 240, startup hold 240, keepalive hold/3, connect delay 5, connect retry
  120, error wait 60..300 doubling, error forget 300 -- and Calico's template sets connect
  delay 2, connect retry 5, error wait 5..30 (:data:`CALICO_PEER`).  Random draws come from
  ``sim.rng``; each speaker's one-second clock has its own phase, also from ``sim.rng``.
* **On the wire**: BGP sockets carry TOS 0xC0 (``IP_PREC_INTERNET_CONTROL``); a direct eBGP
  session TTL 1, multihop (all iBGP, Calico's ``multihop``) TTL 64, the listening socket TTL
  255 (so SYN-ACKs leave with 255, as the kernel showed); ``source address`` binds before
  connect (an odd ephemeral port).  OPEN carries BIRD's capabilities: multiprotocol IPv4
  unicast, route refresh, graceful restart (``aware``: empty; Calico's ``graceful restart``:
  120 s and IPv4 unicast), 4-octet AS, ADD-PATH (Calico's ``add paths on``: send and
  receive), enhanced route refresh, long-lived GR aware (1.6.4 and later; its place after
  enhanced route refresh is BIRD 2's order, 1.6.8's own source was not at hand).  A KEEPALIVE
  answers an OPEN, the initial feed ends with End-of-RIB (BIRD sends it whenever graceful
  restart is at least "aware", its default), keepalives follow every keepalive period.
* **Routes**: best path as ``bgp_rte_better`` (resolvable, LOCAL_PREF, AS path length,
  ORIGIN, MED between routes from the same neighbour AS, eBGP over iBGP, IGP metric,
  ORIGINATOR_ID or router id, CLUSTER_LIST length, neighbour address).  Export follows
  ``bgp_import_control``: no iBGP route to iBGP peers unless one end is a route-reflector
  client; reflected routes get ORIGINATOR_ID and the cluster id on CLUSTER_LIST; eBGP
  prepends the local AS and drops LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST.  Imports drop
  routes whose AS_PATH holds our AS, whose ORIGINATOR_ID is our router id, or (on an
  ``rr client`` session) whose CLUSTER_LIST holds our cluster id -- BIRD's reading of
  RFC 4456 section 8.  With ADD-PATH send, every route of a prefix is exported with its
  route source's global id as path id (BIRD's ``RA_ANY``).  UPDATEs group prefixes that
  share attributes, withdrawals first.
* **Errors**: a bad message earns the NOTIFICATION RFC 4271 section 6 names (see
  :class:`emunet.wire.bgp.BgpError`), then the connection closes and the protocol waits the
  error wait time before it connects again; hold timer expiry sends "Hold timer expired"
  (4/0) and flushes every route learned from that peer.  A session that drops with graceful
  restart negotiated keeps the peer's routes as stale for its restart time (RFC 4724).

Left out: IPv6, MP-BGP beyond the IPv4 unicast capability, confederations, route
limits, BFD, MD5, the kernel protocol's ``learn`` of alien routes and its periodic scan,
route-refresh requests of our own, deterministic MED, and the nest's asynchronous pruning
(routes are removed at once).
"""
import errno as _errno
import fnmatch
import heapq
import ipaddress
import time as _time

import attrs

from emunet.apps.base import Process
from emunet.sim import S
from emunet.wire import bgp as W
from emunet.wire.ipv4 import int_to_ip, ip_to_int

# -- BIRD's names and numbers ------------------------------------------------------------
IDLE, CONNECT, ACTIVE, OPENSENT, OPENCONFIRM, ESTABLISHED, CLOSE = range(7)
STATE_NAMES = ("Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established", "Close")
#: RFC 6608 FSM error subcodes by state
FSM_SUBCODE = {OPENSENT: 1, OPENCONFIRM: 2, ESTABLISHED: 3}
PS_DOWN, PS_START, PS_UP, PS_STOP = "down", "start", "up", "stop"
BSS_PREPARE, BSS_DELAY, BSS_CONNECT = range(3)
BE_NONE, BE_MISC, BE_SOCKET, BE_BGP_RX, BE_BGP_TX, BE_AUTO_DOWN, BE_MAN_DOWN = range(7)
_ERR_CLASS = ("", "Error: ", "Socket: ", "Received: ", "BGP Error: ", "Automatic shutdown: ", "")
BEM_NEIGHBOR_LOST, BEM_INVALID_NEXT_HOP, BEM_NO_SOCKET, BEM_GRACEFUL_RESTART = 1, 2, 4, 7
_MISC_ERRORS = {1: "Neighbor lost", 2: "Invalid next hop", 3: "Kernel MD5 auth failed",
                4: "No listening socket", 5: "Link down", 6: "BFD session down",
                7: "Graceful restart"}
#: ``IP_PREC_INTERNET_CONTROL``: the TOS BIRD sets on every BGP socket
IP_TOS_BGP = 0xC0
#: route preferences (``DEF_PREF_*`` in ``nest/protocol.h``)
PREF_DIRECT, PREF_STATIC, PREF_BGP, PREF_KERNEL = 240, 200, 100, 10
#: ``RTPROT_BIRD`` as iproute2's ``rt_protos`` names it
RTPROT_BIRD = "bird"

GR_AWARE = "aware"

#: what Calico's ``bird.cfg.template`` (``bgp_template``, 2019-2022 releases) sets on every peer:
#: ``multihop; gateway recursive; add paths on; graceful restart; connect delay time 2;
#: connect retry time 5; error wait time 5,30;``
CALICO_PEER = dict(multihop=64, gateway="recursive", add_paths=W.ADD_PATH_FULL,
                   graceful_restart=True, connect_delay_time=2, connect_retry_time=5,
                   error_wait_time=(5, 30), description="Connection to BGP peer")
#: ``birdcl``'s greeting in calico/node (``BIRD v0.3.3+birdv1.6.8 ready.``)
CALICO_BIRD_VERSION = "v0.3.3+birdv1.6.8"


@attrs.define
class BgpPeer:
    """One ``protocol bgp`` (BIRD's configuration keywords in brackets).

    ``export`` is the export filter (a callable taking a :class:`Rte` and returning True to
    accept, or "all"/"none"; None: the speaker's); ``import_filter`` likewise for imports
    ("all" by default, as BIRD's ``import all``)."""

    address: str                      # neighbor ADDRESS as ASN
    remote_as: int
    name: str = None                  # protocol name; default bgpN
    rr_client: bool = False           # rr client
    passive: bool = False             # passive on
    multihop: int = None              # multihop [N]; None: 64 for iBGP, direct for eBGP
    source_address: str = None        # source address
    gateway: str = None               # gateway direct|recursive; None: BIRD's default
    hold_time: int = 240
    startup_hold_time: int = 240
    keepalive_time: int = None        # None: hold time / 3
    connect_delay_time: int = 5       # connect delay time (start delay time)
    connect_retry_time: int = 120
    error_wait_time: tuple = (60, 300)
    error_forget_time: int = 300
    add_paths: int = 0                # add paths rx|tx|on
    graceful_restart: object = GR_AWARE  # graceful restart on|off|aware
    graceful_restart_time: int = 120
    next_hop_self: bool = False
    default_local_pref: int = 100
    export: object = None
    import_filter: object = "all"
    description: str = None
    enable_as4: bool = True
    enable_route_refresh: bool = True


@attrs.define
class StaticRoute:
    """``route PREFIX blackhole|unreachable|prohibit|via ADDRESS`` of ``protocol static``."""

    prefix: str
    kind: str = "blackhole"
    via: str = None


@attrs.define
class KernelRoute:
    """What the kernel protocol is about to program, as its export filter sees it
    (``calico_kernel_programming``): set ``krt_tunnel`` to a device name to send the route
    out of it with ``onlink`` (Calico's BIRD patch), return False to keep it out."""

    prefix: str
    dest: str                         # router, device, blackhole, unreachable, prohibit
    gw: str = None
    iface: str = None
    bgp_next_hop: str = None
    source: str = None                # static, direct, bgp
    krt_tunnel: str = ""
    krt_metric: int = 0


# -- routes and their sources ---------------------------------------------------------------
class Source:
    """``struct rte_src``: a protocol and a path id, with BIRD's global id."""

    __slots__ = ("proto", "path_id", "global_id", "uc")

    def __init__(self, proto, path_id: int, global_id: int):
        self.proto = proto
        self.path_id = path_id
        self.global_id = global_id
        self.uc = 0


class Rte:
    """A route in BIRD's table (``rte`` + ``rta``)."""

    __slots__ = ("key", "src", "pref", "kind", "attrs", "dest", "gw", "iface", "igp_metric",
                 "bgp_next_hop", "lastmod", "stale", "from_addr", "recursive")

    def __init__(self, key, src, pref, kind, attrs=None, dest="router", gw=None, iface=None,
                 igp_metric=0, bgp_next_hop=None, lastmod=0, from_addr=None, recursive=False):
        self.key = key
        self.src = src
        self.pref = pref
        self.kind = kind
        self.attrs = attrs
        self.dest = dest
        self.gw = gw
        self.iface = iface
        self.igp_metric = igp_metric
        self.bgp_next_hop = bgp_next_hop
        self.lastmod = lastmod
        self.stale = False
        self.from_addr = from_addr
        self.recursive = recursive

    @property
    def prefix(self) -> str:
        return f"{int_to_ip(self.key[0])}/{self.key[1]}"

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.prefix)

    @property
    def proto_name(self) -> str:
        return self.src.proto.name

    def same(self, other) -> bool:
        """``rte_same``: nothing a peer or the kernel would see has changed."""
        return (other is not None and self.attrs == other.attrs and self.dest == other.dest
                and self.gw == other.gw and self.iface == other.iface
                and self.igp_metric == other.igp_metric and self.pref == other.pref)

    def __repr__(self):
        return f"<Rte {self.prefix} {self.dest} {self.gw or ''} [{self.proto_name}]>"


def _as_path_contains(path, asn) -> bool:
    return any(asn in seg for _, seg in (path or ()))


def _neighbor_as(r: Rte) -> int:
    """``bgp_get_neighbor``: the first AS of the path, else the peer's AS."""
    for _, seg in (r.attrs.as_path or ()):
        if seg:
            return seg[0]
    return r.src.proto.remote_as


def _resolvable(r: Rte) -> bool:
    return r.dest in ("router", "device")


def bgp_rte_better(new: Rte, old: Rte) -> bool:
    """``bgp_rte_better`` (``attrs.c``)."""
    nb, ob = new.src.proto, old.src.proto
    n, o = _resolvable(new), _resolvable(old)
    if n != o:
        return n
    na, oa = new.attrs, old.attrs
    n = na.local_pref if na.local_pref is not None else nb.cf.default_local_pref
    o = oa.local_pref if oa.local_pref is not None else ob.cf.default_local_pref
    if n != o:
        return n > o
    n = na.as_path_length if na.as_path is not None else 255
    o = oa.as_path_length if oa.as_path is not None else 255
    if n != o:
        return n < o
    n = na.origin if na.origin is not None else W.ORIGIN_INCOMPLETE
    o = oa.origin if oa.origin is not None else W.ORIGIN_INCOMPLETE
    if n != o:
        return n < o
    if _neighbor_as(new) == _neighbor_as(old):
        n = na.med if na.med is not None else 0
        o = oa.med if oa.med is not None else 0
        if n != o:
            return n < o
    if nb.is_internal != ob.is_internal:
        return not nb.is_internal
    if new.igp_metric != old.igp_metric:
        return new.igp_metric < old.igp_metric
    n = ip_to_int(na.originator_id) if na.originator_id else ip_to_int(nb.remote_id or "0.0.0.0")
    o = ip_to_int(oa.originator_id) if oa.originator_id else ip_to_int(ob.remote_id or "0.0.0.0")
    if n != o:
        return n < o
    n = len(na.cluster_list or ())
    o = len(oa.cluster_list or ())
    if n != o:
        return n < o
    return ip_to_int(nb.cf.address) < ip_to_int(ob.cf.address)


def rte_better(new: Rte, old: Rte) -> bool:
    """``rte_better`` of the nest: preference first, then the protocol's own order."""
    if new.pref != old.pref:
        return new.pref > old.pref
    if new.kind != old.kind:
        return False
    if new.kind == "bgp":
        return bgp_rte_better(new, old)
    return False


# -- BIRD's one-second clock ------------------------------------------------------------------
class Timer:
    """A BIRD timer (``timer`` of ``sysdep/unix/io.c``): whole seconds on the speaker's clock."""

    __slots__ = ("bird", "hook", "event", "expires")

    def __init__(self, bird, hook):
        self.bird = bird
        self.hook = hook
        self.event = None
        self.expires = 0

    def start(self, after: int) -> None:
        self.stop()
        b = self.bird
        self.expires = b.now_s() + after
        at = self.expires * S - b.phase
        self.event = b.sim.after(max(0, at - b.sim.now), self._fire)

    def start_random(self, value: int) -> None:
        """``bgp_start_timer``: RFC 4271 section 10 jitter, value - rand(0 .. value/4)."""
        if not value:
            self.stop()
            return
        r = value // 4
        self.start(value - r + (self.bird.sim.rng.randrange(r + 1) if r else 0))

    def stop(self) -> None:
        if self.event is not None:
            self.event.cancel()
            self.event = None
        self.expires = 0

    @property
    def active(self) -> bool:
        return self.event is not None

    def remains(self) -> int:
        return max(0, self.expires - self.bird.now_s()) if self.event is not None else 0

    def _fire(self) -> None:
        self.event = None
        self.expires = 0
        self.hook()


# -- one TCP connection of a peering ------------------------------------------------------------
class BgpConn:
    """``struct bgp_conn``: one TCP connection and its part of the state machine."""

    def __init__(self, proto, direction: str):
        self.bgp = proto
        self.direction = direction            # "outgoing" or "incoming"
        self.state = IDLE
        self.sk = None
        self.reader = None
        self.packets = set()
        self.notify = None
        self.tx_pending = False
        self.hold_time = 0
        self.keepalive_time = 0
        self.remote_open = None
        self.connect_timer = Timer(proto.bird, self._connect_timeout)
        self.hold_timer = Timer(proto.bird, self._hold_timeout)
        self.keepalive_timer = Timer(proto.bird, self._keepalive_timeout)

    def __repr__(self):
        return f"<BgpConn {self.bgp.name} {self.direction} {STATE_NAMES[self.state]}>"

    # timers
    def _connect_timeout(self) -> None:
        p = self.bgp
        if p.proto_state == PS_START:
            self.close_conn()
            p.connect()
        else:
            self.enter_idle()

    def _hold_timeout(self) -> None:
        p = self.bgp
        p.bird.log_event(p, "Hold timer expired")
        self.error(4, 0)

    def _keepalive_timeout(self) -> None:
        self.schedule("KEEPALIVE")

    # state changes
    def close_conn(self) -> None:
        """``bgp_close_conn``: timers and socket gone."""
        self.packets.clear()
        self.connect_timer.stop()
        self.hold_timer.stop()
        self.keepalive_timer.stop()
        if self.sk is not None:
            sk = self.sk
            sk.on_connected = sk.on_data = sk.on_close = sk.on_error = None
            sk.close()
        self.sk = None
        self.reader = None

    def enter_idle(self) -> None:
        p = self.bgp
        was = self.state
        self.close_conn()
        self.state = IDLE
        p.schedule_decision()
        if was == ESTABLISHED:
            p.leave_established()

    def enter_close(self) -> None:
        p = self.bgp
        was = self.state
        self.state = CLOSE
        self.hold_timer.stop()
        self.keepalive_timer.stop()
        if self.sk is not None:
            self.sk.on_data = None
        if was == ESTABLISHED:
            p.leave_established()

    def error(self, code: int, subcode: int, data: bytes = b"") -> None:
        """``bgp_error``: NOTIFICATION, then close; a non-Cease error also stops the
        protocol and lengthens the error wait."""
        p = self.bgp
        if self.state == CLOSE:
            return
        p.store_error(self, BE_BGP_TX, (code, subcode))
        self.enter_close()
        self.notify = (code, subcode, bytes(data))
        self.schedule("NOTIFICATION")
        if code != 6:
            p.update_startup_delay()
            p.stop(0)

    # sending
    def schedule(self, kind: str) -> None:
        """``bgp_schedule_packet``: the tx event runs after what is being processed now."""
        self.packets.add(kind)
        if self.sk is not None and not self.tx_pending:
            self.tx_pending = True
            self.bgp.bird.sim.after(0, self.kick_tx)

    def kick_tx(self) -> None:
        self.tx_pending = False
        while self.fire_tx():
            pass

    def fire_tx(self) -> bool:
        """``bgp_fire_tx``: NOTIFICATION > KEEPALIVE > OPEN > UPDATE (then End-of-RIB)."""
        p = self.bgp
        pk = self.packets
        if self.sk is None:
            pk.clear()
            return False
        if "CLOSE" in pk:
            self.enter_idle()
            return False
        if "NOTIFICATION" in pk:
            pk.clear()
            pk.add("CLOSE")
            code, sub, data = self.notify
            return self._send(W.notification_message(code, sub, data), "NOTIFICATION")
        if "KEEPALIVE" in pk:
            pk.discard("KEEPALIVE")
            self.keepalive_timer.start_random(self.keepalive_time)
            return self._send(W.keepalive_message(), "KEEPALIVE")
        if "OPEN" in pk:
            pk.discard("OPEN")
            self.local_open = p.make_open()
            return self._send(W.open_message(self.local_open), "OPEN")
        if "UPDATE" in pk:
            msg = p.create_update()
            if msg is None:
                pk.discard("UPDATE")
                if p.feed_state == "loaded":
                    p.feed_state = None
                    return self._send(W.update_message(), "UPDATE")
                return False
            return self._send(msg, "UPDATE")
        return False

    def _send(self, data: bytes, kind: str) -> bool:
        p = self.bgp
        p.bird.count_tx(kind, len(data))
        try:
            self.sk.send(data)
        except OSError as e:
            self.sock_err(e.errno)
            return False
        return True

    # socket callbacks
    def on_connected(self) -> None:
        p = self.bgp
        p.bird.log_event(p, "Connected")
        self.send_open()

    def send_open(self) -> None:
        """``bgp_send_open``."""
        self.remote_open = None
        self.sk.on_data = self.on_data
        self.connect_timer.stop()
        self.schedule("OPEN")
        self.state = OPENSENT
        self.hold_timer.start_random(self.bgp.cf.startup_hold_time)

    def on_close(self) -> None:
        err = self.sk.error if self.sk is not None else 0
        self.sock_err(err)

    def sock_err(self, err: int) -> None:
        """``bgp_sock_err``: the connection is gone (closed by the peer, or an error)."""
        p = self.bgp
        p.store_error(self, BE_SOCKET, err)
        p.bird.log_event(p, f"Connection lost ({_errno.errorcode.get(err, err)})" if err
                         else "Connection closed")
        if self.state == ESTABLISHED and p.gr_ready:
            p.handle_graceful_restart()
        self.enter_idle()

    def on_data(self, data: bytes) -> None:
        """``bgp_rx``: cut the stream into messages and handle each."""
        p = self.bgp
        if self.sk is None or self.reader is None:
            return
        try:
            msgs = self.reader.feed(data)
        except W.BgpError as e:
            self._note(f"bird {p.name}: bad message header: {e.detail} → NOTIFICATION")
            self.error(e.code, e.subcode, e.data)
            return
        for m in msgs:
            if self.state == CLOSE or self.sk is None:
                return
            self.rx_packet(m)

    def _note(self, text: str) -> None:
        sk = self.sk
        bird = self.bgp.bird
        if sk is not None and sk.rx_frame is not None and bird.sim.observers:
            dev, frame = sk.rx_frame
            bird.ns.note(dev, frame, text)

    def rx_packet(self, m: bytes) -> None:
        """``bgp_rx_packet``."""
        p = self.bgp
        mtype = m[18]
        p.bird.count_rx(mtype, len(m))
        try:
            if mtype == W.OPEN:
                return self.rx_open(m)
            if mtype == W.UPDATE:
                return self.rx_update(m)
            if mtype == W.NOTIFICATION:
                return self.rx_notification(m)
            if mtype == W.KEEPALIVE:
                return self.rx_keepalive(m)
            if mtype == W.ROUTE_REFRESH:
                return self.rx_route_refresh(m)
            raise W.BgpError(1, 3, bytes((mtype,)), f"type {mtype}")
        except W.BgpError as e:
            self._note(f"bird {p.name}: {e.detail} → NOTIFICATION {e.code}/{e.subcode}")
            self.error(e.code, e.subcode, e.data)

    def rx_open(self, m: bytes) -> None:
        """``bgp_rx_open``: checks, collision detection, negotiation → OpenConfirm."""
        p = self.bgp
        if self.state != OPENSENT:
            raise W.BgpError(5, FSM_SUBCODE.get(self.state, 0), detail="OPEN in " + STATE_NAMES[self.state])
        o = W.parse(m)
        bid = ip_to_int(o.bgp_id)
        if p.is_internal and bid == p.bird.router_id_int:
            raise W.BgpError(2, 3, detail=f"peer uses our router id {o.bgp_id}")
        adv_as = o.asn if (o.as4 and p.cf.enable_as4) else o.my_as
        if adv_as != p.remote_as:
            data = adv_as.to_bytes(4, "big") if o.as4 else m[20:22]
            raise W.BgpError(2, 2, data, f"peer AS {adv_as}, configured {p.remote_as}")
        other = p.incoming if self is p.outgoing else p.outgoing
        if other.state in (CONNECT, ACTIVE):
            other.enter_idle()
        elif other.state in (OPENCONFIRM, ESTABLISHED):
            dominant = (p.bird.router_id_int < bid) or (p.bird.router_id_int == bid and p.bird.local_as < p.remote_as)
            if other.state == OPENCONFIRM and dominant == (self is p.incoming):
                p.bird.log_event(p, "Connection collision, giving up the other connection")
                other.error(6, 7)
            else:
                p.bird.log_event(p, "Connection collision, giving up this connection")
                self._note(f"bird {p.name}: OPEN on a second connection: collision → "
                           f"Cease 6/7 on this one")
                self.error(6, 7)
                return
        self.remote_open = o
        self.hold_time = min(o.hold_time, p.cf.hold_time)
        self.keepalive_time = p.cf.keepalive_time or self.hold_time // 3
        p.remote_id = o.bgp_id
        p.as4_session = p.cf.enable_as4 and o.as4
        peer_ap = o.add_path
        p.add_path_rx = bool(p.cf.add_paths & W.ADD_PATH_RX) and bool(peer_ap & W.ADD_PATH_TX)
        p.add_path_tx = bool(p.cf.add_paths & W.ADD_PATH_TX) and bool(peer_ap & W.ADD_PATH_RX)
        gr = o.graceful_restart
        self.peer_gr_able = gr is not None and gr[2] is not None
        self.peer_gr_time = gr[0] if gr is not None else 0
        self.peer_gr_aflags = (gr[2] or 0) if gr is not None else 0
        p.gr_ready = bool(p.cf.graceful_restart) and self.peer_gr_able
        self._note(f"bird {p.name}: {W.describe(o)} → OpenConfirm, KEEPALIVE "
                   f"(hold {self.hold_time}, keepalive {self.keepalive_time})")
        self.schedule("KEEPALIVE")
        self.hold_timer.start_random(self.hold_time)
        self.state = OPENCONFIRM

    def rx_keepalive(self, m: bytes) -> None:
        if len(m) != W.HEADER_LEN:
            raise W.BgpError(1, 2, m[16:18], "KEEPALIVE longer than 19 bytes")
        self.hold_timer.start_random(self.hold_time)
        if self.state == OPENCONFIRM:
            self._note(f"bird {self.bgp.name}: KEEPALIVE → Established")
            self.bgp.enter_established(self)
        elif self.state != ESTABLISHED:
            raise W.BgpError(5, FSM_SUBCODE.get(self.state, 0), detail="KEEPALIVE in " + STATE_NAMES[self.state])

    def rx_update(self, m: bytes) -> None:
        p = self.bgp
        if self.state == OPENCONFIRM:
            p.enter_established(self)
        if self.state != ESTABLISHED:
            raise W.BgpError(5, FSM_SUBCODE.get(self.state, 0), detail="UPDATE in " + STATE_NAMES[self.state])
        self.hold_timer.start_random(self.hold_time)
        u = W.parse(m, as4=p.as4_session, add_path=p.add_path_rx)
        text = p.rx_update(u)
        if text:
            self._note(f"bird {p.name}: {W.describe(u)} → {text}")

    def rx_notification(self, m: bytes) -> None:
        p = self.bgp
        n = W.parse(m)
        p.store_error(self, BE_BGP_RX, (n.code, n.subcode))
        p.bird.log_event(p, f"Received: {n.description}")
        self._note(f"bird {p.name}: NOTIFICATION {n.code}/{n.subcode} {n.description} received → close")
        self.enter_close()
        self.schedule("CLOSE")
        if n.code != 6:
            p.update_startup_delay()
            p.stop(0)

    def rx_route_refresh(self, m: bytes) -> None:
        p = self.bgp
        if self.state != ESTABLISHED:
            raise W.BgpError(5, FSM_SUBCODE.get(self.state, 0), detail="ROUTE-REFRESH before Established")
        if not p.cf.enable_route_refresh:
            raise W.BgpError(1, 3, m[18:19], "route refresh not enabled")
        W.parse(m)
        p.refeed()


# -- one peering: protocol bgp ------------------------------------------------------------------
class BgpProtocol:
    """``struct bgp_proto``: one configured peer, with its two connections."""

    kind = "bgp"
    proto_label = "BGP"

    def __init__(self, bird, cf: BgpPeer, name: str):
        self.bird = bird
        self.cf = cf
        self.name = name
        self.remote_as = cf.remote_as
        self.is_internal = cf.remote_as == bird.local_as
        self.multihop = cf.multihop if cf.multihop is not None else (64 if self.is_internal else 0)
        gw = cf.gateway or ("recursive" if (self.multihop or self.is_internal) else "direct")
        self.gw_mode = gw
        self.rr_client = cf.rr_client
        if self.rr_client and not self.is_internal:
            raise ValueError(f"bird: {name}: only an internal neighbor can be an RR client")
        self.rr_cluster_id = (bird.rr_cluster_id or bird.router_id) if self.rr_client else None
        #: iBGP without reflection on this session: plain iBGP routes never go out on it
        self.ibgp_plain = self.is_internal and not self.rr_client
        self.proto_state = PS_DOWN
        self.start_state = BSS_PREPARE
        self.last_state_change = 0
        self.outgoing = BgpConn(self, "outgoing")
        self.incoming = BgpConn(self, "incoming")
        self.conn = None
        self.remote_id = None
        self.source_addr = cf.source_address
        self.neigh_iface = None
        self.startup_delay = 0
        self.last_proto_error = None
        self.last_error = (BE_NONE, 0)
        self.as4_session = False
        self.add_path_rx = False
        self.add_path_tx = False
        self.gr_ready = False
        self.gr_active = False
        self.feed_state = None
        self.deconfigured = False
        self.startup_timer = Timer(bird, self._startup_timeout)
        self.gr_timer = Timer(bird, self._gr_timeout)
        self._decision_pending = False
        self.main_source = None
        self.sources = {}
        # export state (``bgp_bucket``s and what the peer has been told)
        self.adj_out = {}
        self.buckets = {}
        self.withdraw_bucket = {}
        self.prefix_bucket = {}
        self._stats = _Stats()
        self._plain_base = None

    def __repr__(self):
        return f"<BgpProtocol {self.name} {self.state_text}>"

    @property
    def stats(self):
        """The protocol's counters, with the plain-iBGP rejections of the routes that
        changed while it was up folded in."""
        if self._plain_base is not None:
            i = 1 if self.add_path_tx else 0
            n = self.bird.plain_changes[i] - self._plain_base
            self._plain_base = self.bird.plain_changes[i]
            self._stats.exp_updates_received += n
            self._stats.exp_updates_rejected += n
        return self._stats

    def _track_plain(self, on: bool) -> None:
        if not self.ibgp_plain:
            return
        self.stats  # fold what is pending
        self._plain_base = self.bird.plain_changes[1 if self.add_path_tx else 0] if on else None

    @property
    def ttl(self) -> int:
        return self.multihop or 1

    @property
    def export_filter(self):
        return self.cf.export if self.cf.export is not None else self.bird.export

    # state
    def set_proto_state(self, st: str) -> None:
        if st != self.proto_state:
            old = self.proto_state
            if old == PS_UP:
                self._track_plain(False)
            elif st == PS_UP:
                self._track_plain(True)
            self.proto_state = st
            self.last_state_change = self.bird.sim.now
            self.bird.proto_state_changed(self, old, st)

    @property
    def state(self) -> int:
        return max(self.incoming.state, self.outgoing.state)

    @property
    def state_text(self) -> str:
        """``bgp_state_dsc``."""
        if self.proto_state == PS_DOWN:
            return "Down"
        st = self.state
        if st == IDLE and self.start_state >= BSS_CONNECT and self.cf.passive:
            return "Passive"
        return STATE_NAMES[st]

    def store_error(self, conn, cls: int, code) -> None:
        """``bgp_store_error``: keep the first error of a going-down protocol."""
        if self.proto_state == PS_UP and conn is not None and conn is not self.conn:
            return
        if self.proto_state == PS_STOP:
            return
        self.last_error = (cls, code)

    def last_error_text(self) -> str:
        cls, code = self.last_error
        if cls == BE_MISC:
            return _MISC_ERRORS.get(code, "")
        if cls == BE_SOCKET:
            return "Connection closed" if not code else _strerror(code)
        if cls in (BE_BGP_RX, BE_BGP_TX):
            return W.error_description(*code)
        return ""

    def status(self) -> str:
        """``bgp_get_status``: the info column of ``show protocols``."""
        cls = self.last_error[0]
        err1 = _ERR_CLASS[cls]
        err2 = self.last_error_text()
        if self.proto_state == PS_DOWN:
            return f"{err1}{err2}"
        return f"{self.state_text:<14}{err1}{err2}"

    # start and stop
    def start(self) -> None:
        """``bgp_start`` → ``bgp_start_locked`` → ``bgp_initiate``."""
        self.set_proto_state(PS_START)
        self.start_state = BSS_PREPARE
        self.outgoing.state = IDLE
        self.incoming.state = IDLE
        self.remote_id = None
        self.source_addr = self.cf.source_address
        if self.main_source is None:
            self.main_source = self.bird.new_source(self, 0, keep=True)
        if not self.multihop:
            found = self.bird.neighbor_iface(self.cf.address)
            if found is None:
                self.bird.log_event(self, f"Waiting for {self.cf.address} to become my neighbor")
                return
            self.neigh_iface, addr = found
            if self.source_addr is None:
                self.source_addr = addr
        self.initiate()

    def initiate(self) -> None:
        if self.startup_delay:
            self.start_state = BSS_DELAY
            self.bird.log_event(self, f"Startup delayed by {self.startup_delay} seconds due to errors")
            self.startup_timer.start_random(self.startup_delay)
        else:
            self.startup()

    def _startup_timeout(self) -> None:
        self.startup()

    def startup(self) -> None:
        self.start_state = BSS_CONNECT
        if not self.cf.passive:
            self.active()

    def active(self) -> None:
        """``bgp_active``: Active, connect after the connect delay."""
        delay = max(1, self.cf.connect_delay_time)
        c = self.outgoing
        c.state = ACTIVE
        c.connect_timer.start_random(delay)

    def connect(self) -> None:
        """``bgp_connect``: a new socket (TOS, TTL, source address), SYN; Connect."""
        c = self.outgoing
        tcp = self.bird.ns.tcp
        sk = tcp.socket()
        sk.ip_tos = IP_TOS_BGP
        sk.ip_ttl = self.ttl
        c.sk = sk
        c.reader = W.StreamReader()
        sk.on_connected = c.on_connected
        sk.on_close = c.on_close
        c.state = CONNECT
        self.bird.log_event(self, f"Connecting to {self.cf.address} from local address "
                                  f"{self.source_addr or '0.0.0.0'}")
        try:
            if self.source_addr:
                sk.bind((self.source_addr, 0))
            sk.connect((self.cf.address, W.BGP_PORT))
        except OSError as e:
            c.sock_err(e.errno)
            return
        c.connect_timer.start_random(self.cf.connect_retry_time)

    def schedule_decision(self) -> None:
        if not self._decision_pending:
            self._decision_pending = True
            self.bird.sim.after(0, self._decision)

    def _decision(self) -> None:
        """``bgp_decision``."""
        self._decision_pending = False
        if (self.proto_state == PS_START and self.outgoing.state == IDLE
                and self.incoming.state != OPENCONFIRM and not self.cf.passive
                and self.start_state >= BSS_CONNECT):
            self.active()
        if self.proto_state == PS_STOP and self.outgoing.state == IDLE and self.incoming.state == IDLE:
            self.down()

    def stop(self, subcode: int) -> None:
        """``bgp_stop``: Cease on open connections, then down."""
        self.set_proto_state(PS_STOP)
        self.flush_routes()
        for c in (self.outgoing, self.incoming):
            if c.state in (CONNECT, ACTIVE):
                c.enter_idle()
            elif c.state in (OPENSENT, OPENCONFIRM, ESTABLISHED):
                if subcode < 0:
                    c.enter_close()
                    c.schedule("CLOSE")
                else:
                    c.error(6, subcode)
        self.schedule_decision()

    def down(self) -> None:
        """``bgp_down``, then the nest restarts the protocol unless it is disabled."""
        self.set_proto_state(PS_DOWN)
        self.startup_timer.stop()
        self.gr_timer.stop()
        self.gr_active = False
        if self.deconfigured:
            self.flush_routes()
            for c in (self.outgoing, self.incoming):
                c.connect_timer.stop()
                c.hold_timer.stop()
                c.keepalive_timer.stop()
            bird = self.bird
            for lst in (bird.protocols, bird.all_protocols):
                if self in lst:
                    lst.remove(self)
            return
        if self.bird.running and not self.bird.stopping:
            self.bird.sim.after(0, self._restart)

    def _restart(self) -> None:
        if self.proto_state == PS_DOWN and self.bird.running and not self.bird.stopping:
            self.start()

    def update_startup_delay(self) -> None:
        """``bgp_update_startup_delay``: error wait, doubling up to the maximum, forgotten
        after the error forget time."""
        now = self.bird.now_s()
        cf = self.cf
        if self.last_proto_error is not None and now - self.last_proto_error >= cf.error_forget_time:
            self.startup_delay = 0
        self.last_proto_error = now
        lo, hi = cf.error_wait_time
        self.startup_delay = lo if not self.startup_delay else min(2 * self.startup_delay, hi)

    # established
    def enter_established(self, conn: BgpConn) -> None:
        """``bgp_conn_enter_established_state``: up; feed our routes; End-of-RIB."""
        self.bird.log_event(self, "BGP session established")
        if self.source_addr is None and conn.sk is not None and conn.sk.local is not None:
            self.source_addr = int_to_ip(conn.sk.local[0])
        self.conn = conn
        self.last_error = (BE_NONE, 0)
        conn.state = ESTABLISHED
        if self.gr_active and (not conn.peer_gr_able or not conn.peer_gr_aflags & W.GR_FORWARDING_FLAG):
            self.graceful_restart_done()
        self.set_proto_state(PS_UP)
        self.adj_out.clear()
        self.buckets.clear()
        self.withdraw_bucket.clear()
        self.prefix_bucket.clear()
        self.feed_state = "loading" if self.cf.graceful_restart else None
        self.bird.sim.after(0, self._feed)

    def _feed(self) -> None:
        """``rt_feed_baby``: every route the table would export to us now."""
        if self.conn is None or self.proto_state != PS_UP:
            return
        bird = self.bird
        if self.ibgp_plain:
            keys = sorted(bird._nonplain)
            st = self.stats
            skipped = (sum(len(bird.table[k]) for k in bird.table if k not in bird._nonplain)
                       if self.add_path_tx else len(bird.table) - len(keys))
            st.exp_updates_received += skipped
            st.exp_updates_rejected += skipped
        else:
            keys = sorted(bird.table)
        for key in keys:
            routes = bird.table[key]
            if self.add_path_tx:
                for r in routes:
                    self.rt_notify(key, r, None, r.src.global_id)
            elif routes:
                self.rt_notify(key, routes[0], None, None)
        if self.feed_state == "loading":
            self.feed_state = "loaded"
        self.conn.schedule("UPDATE")

    def refeed(self) -> None:
        self.adj_out.clear()
        self._feed()

    def leave_established(self) -> None:
        self.bird.log_event(self, "BGP session closed")
        self.conn = None
        if self.proto_state == PS_UP:
            self.stop(0)

    # graceful restart (receiving speaker, RFC 4724)
    def handle_graceful_restart(self) -> None:
        self.bird.log_event(self, "Neighbor graceful restart detected")
        self.set_proto_state(PS_START)
        self.gr_active = True
        self.gr_timer.start_random(self.conn.peer_gr_time if self.conn else self.cf.graceful_restart_time)
        for routes in self.bird.table.values():
            for r in routes:
                if r.src.proto is self:
                    r.stale = True

    def graceful_restart_done(self) -> None:
        self.gr_active = False
        self.gr_timer.stop()
        stale = [(r.key, r.src) for routes in self.bird.table.values() for r in routes
                 if r.src.proto is self and r.stale]
        for key, src in stale:
            self.bird.rte_update(key, src, None)

    def _gr_timeout(self) -> None:
        self.bird.log_event(self, "Neighbor graceful restart timeout")
        self.stop(0)

    # routes in
    def rx_update(self, u: W.Update) -> str:
        """``bgp_do_rx_update``: withdraw, then decode and import the NLRI."""
        bird = self.bird
        out = []
        if u.end_of_rib:
            if self.gr_active:
                self.graceful_restart_done()
            return "End-of-RIB"
        for n in u.withdrawn:
            src = self._src(n.path_id)
            self.stats.imp_withdraws_received += 1
            if bird.rte_update(n.key, src, None, self):
                out.append(f"withdrawn {n.prefix}")
        if not u.nlri:
            return "; ".join(out)
        pa = u.attrs
        if not self.is_internal and (pa.local_pref is not None or pa.originator_id is not None
                                     or pa.cluster_list is not None):
            pa = attrs.evolve(pa, local_pref=None, originator_id=None, cluster_list=None)
        reason = u.withdraw_reason
        if reason is None:
            if _as_path_contains(pa.as_path, bird.local_as):
                reason = "our AS in AS_PATH"
            elif pa.originator_id is not None and ip_to_int(pa.originator_id) == bird.router_id_int:
                reason = "our router id as ORIGINATOR_ID"
            elif self.rr_client and pa.cluster_list and self.rr_cluster_id in pa.cluster_list:
                reason = "our cluster id in CLUSTER_LIST"
        if reason is not None:
            for n in u.nlri:
                self.stats.imp_updates_received += 1
                self.stats.imp_updates_invalid += 1
                bird.rte_update(n.key, self._src(n.path_id), None, self)
            return "; ".join(out + [f"{', '.join(n.prefix for n in u.nlri)} dropped: {reason}"])
        if pa.local_pref is None:
            pa = attrs.evolve(pa, local_pref=self.cf.default_local_pref)
        dest, gw, iface, metric, recursive = self._next_hop(pa.next_hop)
        now = bird.sim.now
        for n in u.nlri:
            self.stats.imp_updates_received += 1
            r = Rte(n.key, self._src(n.path_id), PREF_BGP, "bgp", pa, dest, gw, iface, metric,
                    pa.next_hop, now, self.cf.address, recursive)
            if not _accept(self.cf.import_filter, r):
                self.stats.imp_updates_filtered += 1
                bird.rte_update(n.key, r.src, None, self)
                continue
            changed = bird.rte_update(n.key, r.src, r, self)
            best = bird.table.get(n.key, [None])[0] is r
            out.append(f"{n.prefix} {'best' if best else 'not best'}"
                       + (f", kernel: {bird.kernel_text(n.key)}" if best and changed else ""))
        return "; ".join(out)

    def _src(self, path_id):
        if path_id is None or not self.add_path_rx:
            return self.main_source
        s = self.sources.get(path_id)
        if s is None:
            s = self.sources[path_id] = self.bird.new_source(self, path_id)
        return s

    def _next_hop(self, nh: str):
        """``bgp_set_next_hop``: direct (a neighbor on a connected network, else the peer)
        or recursive through the IGP routes; unresolvable → unreachable."""
        bird = self.bird
        if self.gw_mode == "direct":
            found = bird.neighbor_iface(nh)
            if found is None:
                return "router", self.cf.address, self.neigh_iface, 0, False
            return "router", nh, found[0], 0, False
        res = bird.resolve_recursive(nh)
        if res is None:
            return "unreachable", None, None, 0, True
        gw, iface, metric = res
        return "router", gw, iface, metric, True

    def flush_routes(self) -> None:
        """The nest flushes a stopping protocol's routes (``rt_prune``)."""
        gone = [(r.key, r.src) for routes in self.bird.table.values() for r in routes
                if r.src.proto is self]
        for key, src in gone:
            self.bird.rte_update(key, src, None)
        for s in list(self.sources.values()):
            self.bird.free_source(s)
        self.sources.clear()

    # routes out
    def import_control(self, r: Rte):
        """``bgp_import_control`` + ``bgp_create_attrs``/``bgp_update_attrs``: the
        attributes to send, or None (rejected before the export filter)."""
        bird = self.bird
        src = r.src.proto
        if src is self:
            return None
        if r.kind == "bgp":
            pa = r.attrs
            if self.rr_client and pa.cluster_list and self.rr_cluster_id in pa.cluster_list:
                return None
            if pa.communities:
                if 0xFFFFFF02 in pa.communities:
                    return None
                if not self.is_internal and (0xFFFFFF01 in pa.communities or 0xFFFFFF03 in pa.communities):
                    return None
            rr = False
            if self.is_internal and src.is_internal:
                if not (self.rr_client or src.rr_client):
                    return None
                rr = True
            return self._update_attrs(r, pa, rr)
        return self._create_attrs(r)

    def _create_attrs(self, r: Rte):
        if self.is_internal:
            path = ()
        else:
            path = ((W.AS_SEQUENCE, (self.bird.local_as,)),)
        if (self.cf.next_hop_self or r.dest != "router" or r.gw is None
                or (not self.is_internal and (self.neigh_iface is None or r.iface != self.neigh_iface))):
            nh = self.source_addr
        else:
            nh = r.gw
        return W.PathAttributes(origin=W.ORIGIN_IGP, as_path=path, next_hop=nh,
                                local_pref=self.cf.default_local_pref)

    def _update_attrs(self, r: Rte, pa: W.PathAttributes, rr: bool):
        changes = {}
        if not self.is_internal:
            path = pa.as_path or ()
            if path and path[0][0] == W.AS_SEQUENCE and len(path[0][1]) < 255:
                path = ((W.AS_SEQUENCE, (self.bird.local_as,) + tuple(path[0][1])),) + tuple(path[1:])
            else:
                path = ((W.AS_SEQUENCE, (self.bird.local_as,)),) + tuple(path)
            changes["as_path"] = path
            if pa.med is not None:
                changes["med"] = 0
        keep = (not self.cf.next_hop_self and pa.next_hop is not None
                and ((self.is_internal and pa.next_hop != "0.0.0.0")
                     or (self.neigh_iface is not None and r.iface == self.neigh_iface)))
        if not keep:
            changes["next_hop"] = self.source_addr
        if rr:
            src = r.src.proto
            if pa.originator_id is None:
                changes["originator_id"] = src.remote_id
            cid = src.rr_cluster_id if src.rr_client else self.rr_cluster_id
            cl = tuple(pa.cluster_list or ())
            if cid is not None and cid not in cl:
                cl = (cid,) + cl
            if src.rr_client and self.rr_client and src.rr_cluster_id != self.rr_cluster_id \
                    and self.rr_cluster_id not in cl:
                cl = (self.rr_cluster_id,) + cl
            changes["cluster_list"] = cl
        return attrs.evolve(pa, **changes) if changes else pa

    def _bucket_attrs(self, pa: W.PathAttributes):
        """``bgp_get_bucket``'s normalisation: eBGP drops LOCAL_PREF and the reflection
        attributes; integer sets (COMMUNITIES, CLUSTER_LIST) are sorted."""
        ch = {}
        if not self.is_internal:
            ch.update(local_pref=None, originator_id=None, cluster_list=None)
        else:
            if pa.cluster_list and len(pa.cluster_list) > 1:
                ch["cluster_list"] = tuple(sorted(pa.cluster_list, key=ip_to_int))
        if pa.communities and len(pa.communities) > 1:
            ch["communities"] = tuple(sorted(pa.communities))
        pa = attrs.evolve(pa, **ch) if ch else pa
        if pa.next_hop is None or pa.next_hop == self.cf.address:
            return None
        return pa

    def rt_notify(self, key, new, old, path_id) -> None:
        """``do_rt_notify`` → ``bgp_rt_notify``: queue an announcement or a withdrawal."""
        st = self.stats
        pa = None
        if new is not None:
            st.exp_updates_received += 1
            pa = self.import_control(new)
            if pa is None:
                st.exp_updates_rejected += 1
            elif not _accept(self.export_filter, new):
                st.exp_updates_filtered += 1
                pa = None
            else:
                pa = self._bucket_attrs(pa)
        else:
            st.exp_withdraws_received += 1
        pkey = (key, path_id)
        was = self.adj_out.get(pkey)
        if pa is not None:
            if was == pa:
                return
            st.exp_updates_accepted += 1
            self.adj_out[pkey] = pa
            self._queue(pkey, pa)
        elif was is not None:
            st.exp_withdraws_accepted += 1
            del self.adj_out[pkey]
            self._queue(pkey, None)
        else:
            return
        if self.conn is not None:
            self.conn.schedule("UPDATE")

    def _queue(self, pkey, pa) -> None:
        prev = self.prefix_bucket.get(pkey)
        if prev is not None:
            b = self.withdraw_bucket if prev is _WITHDRAW else self.buckets.get(prev)
            if b is not None:
                b.pop(pkey, None)
        if pa is None:
            self.withdraw_bucket[pkey] = None
            self.prefix_bucket[pkey] = _WITHDRAW
        else:
            self.buckets.setdefault(pa, {})[pkey] = None
            self.prefix_bucket[pkey] = pa

    def create_update(self):
        """``bgp_create_update``: withdrawals alone first, then one bucket's prefixes."""
        ap = self.add_path_tx
        room = W.MAX_LEN - W.HEADER_LEN - 4
        if self.withdraw_bucket:
            out = []
            for pkey in list(self.withdraw_bucket):
                size = (4 if ap else 0) + 1 + (pkey[0][1] + 7) // 8
                if room < 9:
                    break
                room -= size
                del self.withdraw_bucket[pkey]
                self.prefix_bucket.pop(pkey, None)
                out.append(W.Nlri(pkey[0][0], pkey[0][1], pkey[1] if ap else None))
            return W.update_message(tuple(out), None, (), self.as4_session, ap)
        while self.buckets:
            pa, prefixes = next(iter(self.buckets.items()))
            if not prefixes:
                del self.buckets[pa]
                continue
            room -= _attrs_size(pa, self.as4_session)
            out = []
            for pkey in list(prefixes):
                if room < 9:
                    break
                room -= (4 if ap else 0) + 1 + (pkey[0][1] + 7) // 8
                del prefixes[pkey]
                self.prefix_bucket.pop(pkey, None)
                out.append(W.Nlri(pkey[0][0], pkey[0][1], pkey[1] if ap else None))
            if not prefixes:
                del self.buckets[pa]
            return W.update_message((), pa, tuple(out), self.as4_session, ap)
        return None

    def make_open(self) -> W.Open:
        return self.bird.open_for(self)

    # incoming connection (``bgp_incoming_connection``)
    def accept(self, sk) -> bool:
        acc = (self.proto_state in (PS_START, PS_UP) and self.start_state >= BSS_CONNECT
               and self.incoming.sk is None)
        if self.conn is not None and self.conn.state == ESTABLISHED and self.gr_ready:
            self.store_error(None, BE_MISC, BEM_GRACEFUL_RESTART)
            self.handle_graceful_restart()
            self.conn.enter_idle()
            acc = True
        self.bird.log_event(self, f"Incoming connection from {int_to_ip(sk.remote[0])} (port "
                                  f"{sk.remote[1]}) {'accepted' if acc else 'rejected'}")
        if not acc:
            return False
        sk.ip_ttl = self.ttl
        c = self.incoming
        c.sk = sk
        c.reader = W.StreamReader()
        sk.on_close = c.on_close
        c.send_open()
        return True


_WITHDRAW = object()


def _attrs_size(pa: W.PathAttributes, as4: bool) -> int:
    w = 4 if as4 else 2
    n = 0
    if pa.origin is not None:
        n += 4
    if pa.as_path is not None:
        n += 3 + sum(2 + w * len(v) for _, v in pa.as_path)
    for v in (pa.next_hop, pa.med, pa.local_pref, pa.originator_id):
        if v is not None:
            n += 7
    if pa.communities:
        n += 3 + 4 * len(pa.communities)
    if pa.cluster_list:
        n += 3 + 4 * len(pa.cluster_list)
    return n


def _accept(flt, r) -> bool:
    if flt is None or flt == "none":
        return False
    if flt == "all":
        return True
    return bool(flt(r))


def _strerror(code: int) -> str:
    import os
    return os.strerror(code)


@attrs.define
class _Stats:
    """``struct proto_stats``: the "Route change stats" of ``show protocols all``."""

    imp_updates_received: int = 0
    imp_updates_invalid: int = 0
    imp_updates_filtered: int = 0
    imp_updates_ignored: int = 0
    imp_updates_accepted: int = 0
    imp_withdraws_received: int = 0
    imp_withdraws_invalid: int = 0
    imp_withdraws_ignored: int = 0
    imp_withdraws_accepted: int = 0
    exp_updates_received: int = 0
    exp_updates_rejected: int = 0
    exp_updates_filtered: int = 0
    exp_updates_accepted: int = 0
    exp_withdraws_received: int = 0
    exp_withdraws_accepted: int = 0


class _SimpleProtocol:
    """static1, kernel1, device1, direct1: always up once BIRD runs."""

    def __init__(self, bird, name: str, label: str, kind: str):
        self.bird = bird
        self.name = name
        self.proto_label = label
        self.kind = kind
        self.proto_state = PS_DOWN
        self.last_state_change = 0
        self.is_internal = True
        self.stats = _Stats()

    def status(self) -> str:
        return ""


# -- the daemon ---------------------------------------------------------------------------------
class Bird(Process):
    """``bird``: BGP, static, direct and kernel protocols in one namespace.

    >>> bird = ns.spawn(Bird("192.168.0.2", 64512,
    ...     peers=[BgpPeer("192.168.0.3", 64512, name="Mesh_192_168_0_3", **CALICO_PEER)],
    ...     static_routes=[StaticRoute("10.20.0.0/24")],
    ...     export=lambda r: r.prefix == "10.20.0.0/24", kernel_export="all"))

    ``export`` is the default export filter of the BGP protocols and ``kernel_export`` the
    kernel protocol's (a callable taking a :class:`KernelRoute`, "all" or "none"; BIRD's
    default for both is none).  ``direct`` lists the interface patterns of ``protocol
    direct`` (BIRD's ``interface`` globs, "-" to exclude), None for no direct protocol.
    """

    name = "bird"

    def __init__(self, router_id: str, local_as: int, peers=(), static_routes=(),
                 export="none", kernel_export="none", rr_cluster_id: str = None,
                 direct=("*",), kernel_persist: bool = False, version: str = "1.6.8",
                 listen_address: str = "0.0.0.0", log_events: bool = True):
        super().__init__()
        self.router_id = router_id
        self.router_id_int = ip_to_int(router_id)
        self.local_as = int(local_as)
        self.rr_cluster_id = rr_cluster_id
        self.export = export
        self.kernel_export = kernel_export
        self.direct_patterns = tuple(direct) if direct is not None else None
        self.kernel_persist = kernel_persist
        self.version = version
        self.listen_address = listen_address
        self.log_events = log_events
        self.peer_configs = list(peers)
        self.static_routes = [s if isinstance(s, StaticRoute) else StaticRoute(s) for s in static_routes]
        self.protocols = []          # BGP protocols in order
        self.all_protocols = []
        self.table = {}
        self.kernel_installed = {}   # key -> (Route object, KernelRoute)
        self.kernel_errors = set()
        self.listener = None
        self.phase = 0
        self.stopping = False
        self._next_id = 0
        self._free_ids = []
        #: keys of the table with a route that is not plain iBGP (see ``_bgp_notify``)
        self._nonplain = {}
        #: route changes a plain iBGP peer rejects without looking: (best changes, any changes)
        self.plain_changes = [0, 0]
        self.events = []
        self.msg_tx = {}
        self.msg_rx = {}
        self.bytes_tx = 0
        self.bytes_rx = 0
        self.bytes_by_type = {}
        #: when the kernel table last changed because of us (virtual ns)
        self.last_kernel_change = 0
        self.started_at = 0
        self._validate()

    def _validate(self) -> None:
        """What BIRD's configuration parser refuses, with the culprit named."""
        if ip_to_int(self.router_id) == 0:
            raise ValueError("bird: router id 0.0.0.0 is not allowed")
        if not 0 < self.local_as <= 0xFFFFFFFF:
            raise ValueError(f"bird: local AS {self.local_as} is out of range")
        names, addresses = set(), set()
        for i, cf in enumerate(self.peer_configs, 1):
            self._check_peer(cf, cf.name or f"bgp{i}", names, addresses)

    def _check_peer(self, cf, name: str, names: set, addresses: set) -> None:
        ip_to_int(cf.address)
        if name in names:
            raise ValueError(f"bird: two protocols are named {name!r}")
        if cf.address in addresses:
            raise ValueError(f"bird: {name}: a second protocol for neighbor {cf.address}")
        names.add(name)
        addresses.add(cf.address)
        if not 0 < cf.remote_as <= 0xFFFFFFFF:
            raise ValueError(f"bird: {name}: neighbor AS {cf.remote_as} is out of range")
        if cf.rr_client and cf.remote_as != self.local_as:
            raise ValueError(f"bird: {name}: only an internal neighbor can be an RR client")
        if cf.hold_time and cf.hold_time < 3:
            raise ValueError(f"bird: {name}: hold time {cf.hold_time} is below 3 seconds")
        if cf.remote_as > 0xFFFF and not cf.enable_as4:
            raise ValueError(f"bird: {name}: neighbor AS number out of range (AS4 not available)")

    # -- reconfiguration (``birdc configure`` after confd rewrote bird.cfg) -------------------
    def add_peer(self, cf: BgpPeer) -> "BgpProtocol":
        """A new ``protocol bgp`` in the configuration: it starts at once; the others are
        untouched, as BIRD's reconfiguration leaves unchanged protocols alone."""
        name = cf.name or f"bgp{len(self.peer_configs) + 1}"
        self._check_peer(cf, name, {p.name for p in self.all_protocols},
                         {p.cf.address for p in self.protocols})
        self.peer_configs.append(cf)
        if not self.all_protocols:      # not started yet: start() builds it with the others
            return None
        p = BgpProtocol(self, cf, name)
        self.protocols.append(p)
        p.main_source = self.new_source(p, 0, keep=True)
        self.all_protocols.append(p)
        if self.running and not self.stopping:
            p.start()
        return p

    def remove_peer(self, name: str) -> None:
        """A ``protocol bgp`` gone from the configuration: Cease 6/3 "Peer de-configured"
        to the peer, its routes flushed, the protocol removed once it is down."""
        p = self.protocol(name)
        if not isinstance(p, BgpProtocol):
            raise ValueError(f"bird: {name} is not a BGP protocol")
        self.peer_configs.remove(p.cf)
        p.deconfigured = True
        p.store_error(None, BE_MAN_DOWN, 0)
        if p.proto_state == PS_DOWN:
            p.down()
        else:
            p.stop(3)

    # -- clock --------------------------------------------------------------------
    def now_s(self) -> int:
        return (self.sim.now + self.phase) // S

    def log_event(self, proto, text: str) -> None:
        if self.log_events:
            self.events.append((self.sim.now, proto.name, text))

    def count_tx(self, kind: str, n: int) -> None:
        self.msg_tx[kind] = self.msg_tx.get(kind, 0) + 1
        self.bytes_by_type[kind] = self.bytes_by_type.get(kind, 0) + n
        self.bytes_tx += n

    def count_rx(self, mtype: int, n: int) -> None:
        kind = W.MESSAGE_NAMES.get(mtype, str(mtype))
        self.msg_rx[kind] = self.msg_rx.get(kind, 0) + 1
        self.bytes_rx += n

    # -- start / stop ---------------------------------------------------------------
    def start(self) -> None:
        for prog in ("birdc", "birdcl"):
            self.ns.install_command(prog, self.birdc_argv,
                                    f"{prog} show protocols [all] [NAME] | {prog} show route [all] "
                                    f"[for ADDR] [protocol NAME] [export NAME] [count]")
        self.phase = self.sim.rng.randrange(S)
        self.started_at = self.sim.now
        self.static = _SimpleProtocol(self, "static1", "Static", "static")
        self.kernel = _SimpleProtocol(self, "kernel1", "Kernel", "kernel")
        self.device = _SimpleProtocol(self, "device1", "Device", "device")
        self.direct = _SimpleProtocol(self, "direct1", "Direct", "direct") \
            if self.direct_patterns is not None else None
        simple = [self.static, self.kernel, self.device] + ([self.direct] if self.direct else [])
        # route sources in configuration order, as ``proto_init_instance`` allocates them
        for p in simple:
            p.main_source = self.new_source(p, 0, keep=True)
        for i, cf in enumerate(self.peer_configs, 1):
            p = BgpProtocol(self, cf, cf.name or f"bgp{i}")
            self.protocols.append(p)
            p.main_source = self.new_source(p, 0, keep=True)
        self.all_protocols = simple + self.protocols
        try:
            self._listen()
        except OSError as e:
            self.eprint(f"bird: Unable to open listening socket: {e.strerror}")
            self.exit(1)
            return
        for p in simple:
            p.proto_state = PS_UP
            p.last_state_change = self.sim.now
        if self.direct is not None:
            self._import_direct()
        for s in self.static_routes:
            self._import_static(s)
        for p in self.protocols:
            p.start()

    def _listen(self) -> None:
        sk = self.ns.tcp.socket()
        sk.reuseaddr = True
        sk.ip_ttl = 255
        sk.ip_tos = IP_TOS_BGP
        sk.bind((self.listen_address, W.BGP_PORT))
        sk.listen(4)
        sk.on_accept = self._incoming
        self.listener = sk

    def _incoming(self, sk) -> None:
        """``bgp_incoming_connection``: find the protocol of the connecting address."""
        rip = int_to_ip(sk.remote[0])
        for p in self.protocols:
            if p.cf.address == rip:
                if p.accept(sk):
                    return
                sk.close()
                return
        self.events.append((self.sim.now, "bgp", f"Unexpected connect from unknown address "
                                                  f"{rip} (port {sk.remote[1]})"))
        sk.close()

    def stop(self) -> None:
        """``birdc down`` (SIGTERM): Cease 6/2 "Administrative shutdown" to every peer,
        close, and (without ``persist``) remove our kernel routes."""
        if not self.running:
            return
        if not self.kernel_persist:
            for key in list(self.kernel_installed):
                self._kernel_remove(key)
        self.stopping = True
        for p in self.protocols:
            p.store_error(None, BE_MAN_DOWN, 0)
            p.startup_delay = 0
            if p.proto_state != PS_DOWN:
                p.stop(2)
        if self.listener is not None:
            self.listener.close()
        self.sim.after(1, self._finish_stop)

    def _finish_stop(self) -> None:
        for p in self.protocols:
            for c in (p.outgoing, p.incoming):
                c.connect_timer.stop()
                c.hold_timer.stop()
                c.keepalive_timer.stop()
            p.startup_timer.stop()
            p.gr_timer.stop()
        self.exit(0)

    def kill(self) -> None:
        """SIGKILL: no NOTIFICATION; the kernel closes our sockets (FIN) and keeps our
        routes."""
        if not self.running:
            return
        self.stopping = True
        for p in self.protocols:
            for c in (p.outgoing, p.incoming):
                c.close_conn()
                c.state = IDLE
            p.startup_timer.stop()
            p.gr_timer.stop()
        if self.listener is not None:
            self.listener.close()
        self.exit(137)

    # -- sources (``rt_get_source`` with BIRD's global ids) -----------------------------------
    def new_source(self, proto, path_id: int, keep: bool = False) -> Source:
        """``idm_alloc``: the lowest free id (0 is reserved)."""
        if self._free_ids:
            gid = heapq.heappop(self._free_ids)
        else:
            self._next_id += 1
            gid = self._next_id
        s = Source(proto, path_id, gid)
        if keep:
            s.uc = 1 << 30
        return s

    def free_source(self, s: Source) -> None:
        heapq.heappush(self._free_ids, s.global_id)

    # -- neighbours and next hops -------------------------------------------------------------
    def neighbor_iface(self, ip: str):
        """``neigh_find``: (device name, our address) of the connected network holding ``ip``."""
        n = ip_to_int(ip)
        for a in self.ns.addrs:
            if a.dev.loopback or a.prefixlen >= 32:
                continue
            if (int(a.ip) ^ n) >> (32 - a.prefixlen) == 0:
                if int(a.ip) == n:
                    return None
                return a.dev.name, str(a.ip)
        return None

    def resolve_recursive(self, nh: str):
        """``rta_set_recursive_next_hop``: the IGP route to the next hop (not one of ours):
        ``(gateway, device, metric)``, or None."""
        found = self.neighbor_iface(nh)
        if found is not None:
            return nh, found[0], 0
        n = ip_to_int(nh)
        best = None
        for r in self.ns.fib.main:
            if r.proto == RTPROT_BIRD or r.type != "unicast" or r.dev is None:
                continue
            net = int(r.dst.network_address)
            plen = r.dst.prefixlen
            if plen and (n ^ net) >> (32 - plen):
                continue
            if best is None or plen > best.dst.prefixlen or (plen == best.dst.prefixlen and r.metric < best.metric):
                best = r
        if best is None:
            return None
        return (best.via or nh), best.dev.name, best.metric

    # -- the routing table ---------------------------------------------------------------
    def _import_direct(self) -> None:
        now = self.sim.now
        for a in self.ns.addrs:
            if a.dev.loopback or a.scope == "host" or a.prefixlen >= 32:
                continue
            if not _match_iface(self.direct_patterns, a.dev.name):
                continue
            net = a.network
            key = (int(net.network_address), net.prefixlen)
            r = Rte(key, self.direct.main_source, PREF_DIRECT, "direct", None, "device", None,
                    a.dev.name, 0, None, now)
            self.rte_update(key, r.src, r, self.direct)

    def _import_static(self, s: StaticRoute) -> None:
        net = ipaddress.IPv4Network(s.prefix)
        key = (int(net.network_address), net.prefixlen)
        dest, gw, iface = s.kind, None, None
        if s.kind == "via":
            dest, gw = "router", s.via
            found = self.neighbor_iface(s.via)
            if found is None:
                self.events.append((self.sim.now, "static1", f"{s.prefix}: gateway {s.via} "
                                                             f"is not a neighbor"))
                return
            iface = found[0]
        elif s.kind not in ("blackhole", "unreachable", "prohibit"):
            raise ValueError(f"bird: static route {s.prefix}: unknown kind {s.kind!r}")
        r = Rte(key, self.static.main_source, PREF_STATIC, "static", None, dest, gw, iface, 0,
                None, self.sim.now)
        self.rte_update(key, r.src, r, self.static)

    def add_static(self, s) -> None:
        """``birdc configure`` with one more static route."""
        s = s if isinstance(s, StaticRoute) else StaticRoute(s)
        self.static_routes.append(s)
        if self.running and self.static.proto_state == PS_UP:
            self._import_static(s)

    def remove_static(self, prefix: str) -> None:
        net = ipaddress.IPv4Network(prefix)
        key = (int(net.network_address), net.prefixlen)
        self.static_routes = [s for s in self.static_routes if ipaddress.IPv4Network(s.prefix) != net]
        self.rte_update(key, self.static.main_source, None, self.static)

    def rte_update(self, key, src, new, proto=None) -> bool:
        """``rte_update2`` → ``rte_recalculate``: put ``new`` (or nothing) in place of the
        route from ``src`` for ``key``; re-select the best; tell the kernel and the peers.
        Returns whether anything changed."""
        st = proto.stats if proto is not None else None
        routes = self.table.get(key)
        old = None
        if routes:
            for r in routes:
                if r.src is src:
                    old = r
                    break
        if new is None and old is None:
            if st is not None:
                st.imp_withdraws_ignored += 1
            return False
        if new is not None and old is not None and new.same(old):
            old.stale = False  # a graceful-restart refresh (``rte_update`` on a stale route)
            if st is not None:
                st.imp_updates_ignored += 1
            return False
        if st is not None:
            if new is not None:
                st.imp_updates_accepted += 1
            else:
                st.imp_withdraws_accepted += 1
        if routes is None:
            routes = self.table[key] = []
        old_best = routes[0] if routes else None
        if old is not None:
            routes.remove(old)
            if old.src.proto.kind == "bgp" and old.src is not old.src.proto.main_source:
                old.src.uc -= 1
        if new is not None:
            routes.append(new)
            if new.src.proto.kind == "bgp" and new.src is not new.src.proto.main_source:
                new.src.uc += 1
        if old is not None and old.src.uc <= 0 and old.src is not old.src.proto.main_source \
                and (new is None or new.src is not old.src):
            self._release(old.src)
        np = sum(1 for r in routes if not (r.kind == "bgp" and r.src.proto.ibgp_plain))
        if np:
            self._nonplain[key] = np
        else:
            self._nonplain.pop(key, None)
        if not routes:
            del self.table[key]
            new_best = None
        else:
            best = old_best if old_best in routes else None
            for r in routes:
                if best is None or (r is not best and rte_better(r, best)):
                    best = r
            routes.remove(best)
            routes.insert(0, best)
            new_best = best
        best_changed = new_best is not old_best or (new_best is new and old is old_best)
        if best_changed:
            self._kernel_notify(key, new_best)
        self._bgp_notify(key, new, old, new_best, old_best, best_changed)
        return True

    def _release(self, src: Source) -> None:
        p = src.proto
        if getattr(p, "sources", None) is not None and p.sources.get(src.path_id) is src:
            del p.sources[src.path_id]
        self.free_source(src)

    def _bgp_notify(self, key, new, old, new_best, old_best, best_changed) -> None:
        """``rt_notify`` to every BGP protocol that is up.  A route learned over plain iBGP
        (no reflection) is rejected by ``bgp_import_control`` for every plain iBGP peer:
        such changes are only counted (``plain_changes``), which keeps a full mesh at
        O(reflecting and eBGP peers) per route change instead of O(all peers)."""
        def plain(r):
            return r is None or (r.kind == "bgp" and r.src.proto.ibgp_plain)
        any_plain = plain(new) and plain(old)
        best_plain = plain(new_best) and plain(old_best)
        if any_plain and new is not None:
            self.plain_changes[1] += 1
        if best_changed and best_plain and new_best is not None:
            self.plain_changes[0] += 1
        for p in self.protocols:
            if p.conn is None or p.proto_state != PS_UP:
                continue
            if p.add_path_tx:
                if p.ibgp_plain and any_plain:
                    continue
                if new is not None:
                    p.rt_notify(key, new, old, new.src.global_id)
                if old is not None and (new is None or new.src is not old.src):
                    p.rt_notify(key, None, old, old.src.global_id)
            elif best_changed:
                if p.ibgp_plain and best_plain:
                    continue
                p.rt_notify(key, new_best, old_best, None)

    # -- kernel protocol ------------------------------------------------------------------
    def _kernel_notify(self, key, best) -> None:
        if self.stopping:
            return  # the kernel protocol is shut down with the rest (``persist`` or not)
        if best is None:
            self._kernel_remove(key)
            return
        if best.kind == "direct" or (best.dest == "router" and best.iface is None):
            self._kernel_remove(key)
            return
        kr = KernelRoute(best.prefix, best.dest, best.gw, best.iface, best.bgp_next_hop, best.kind)
        if not _accept(self.kernel_export, kr):
            self._kernel_remove(key)
            return
        self._kernel_install(key, kr)

    def _kernel_install(self, key, kr: KernelRoute) -> None:
        """``krt_replace_rte`` → ``nl_send_route``: delete the old route, add the new one
        (``NLM_F_CREATE|NLM_F_EXCL``); a clash is remembered as a sync error."""
        ns = self.ns
        self._kernel_remove(key)
        try:
            if kr.dest == "router":
                if kr.krt_tunnel:
                    r = ns.route_add(kr.prefix, dev=kr.krt_tunnel, via=kr.bgp_next_hop or kr.gw,
                                     proto=RTPROT_BIRD, onlink=True, metric=kr.krt_metric)
                else:
                    r = ns.route_add(kr.prefix, dev=kr.iface, via=kr.gw, proto=RTPROT_BIRD,
                                     metric=kr.krt_metric)
            elif kr.dest == "device":
                r = ns.route_add(kr.prefix, dev=kr.iface, proto=RTPROT_BIRD, metric=kr.krt_metric)
            else:
                r = ns.route_add(kr.prefix, type=kr.dest, proto=RTPROT_BIRD, metric=kr.krt_metric)
        except (FileExistsError, ValueError, KeyError) as e:
            self.kernel_errors.add(key)
            self.events.append((self.sim.now, "kernel1", f"Error adding route {kr.prefix}: {e}"))
            return
        self.kernel_errors.discard(key)
        self.kernel_installed[key] = (r, kr)
        self.last_kernel_change = self.sim.now

    def _kernel_remove(self, key) -> None:
        got = self.kernel_installed.pop(key, None)
        self.kernel_errors.discard(key)
        if got is None:
            return
        r, _ = got
        t = self.ns.fib.tables.get(r.table)
        if t is None:
            return
        try:
            t.delete(r.dst, dev=r.dev, metric=r.metric)
        except LookupError:
            return
        self.last_kernel_change = self.sim.now

    def kernel_text(self, key) -> str:
        got = self.kernel_installed.get(key)
        if got is None:
            return "sync error" if key in self.kernel_errors else "not installed"
        return got[0].show()

    # -- OPEN ------------------------------------------------------------------------
    def open_for(self, p: BgpProtocol) -> W.Open:
        """``bgp_create_open`` of BIRD 1.6: AS (AS_TRANS above 65535), hold time, router id,
        capabilities in one optional parameter."""
        cf = p.cf
        caps = [W.cap_multiprotocol()]
        if cf.enable_route_refresh:
            caps.append(W.cap_route_refresh())
        if cf.graceful_restart == GR_AWARE:
            caps.append(W.cap_graceful_restart(0, families=()))
        elif cf.graceful_restart:
            caps.append(W.cap_graceful_restart(cf.graceful_restart_time))
        if cf.enable_as4:
            caps.append(W.cap_as4(self.local_as))
        if cf.add_paths:
            caps.append(W.cap_add_path(cf.add_paths))
        if cf.enable_route_refresh:
            caps.append(W.cap_enhanced_route_refresh())
        if cf.graceful_restart:
            # long-lived graceful restart, "aware" (BIRD 1.6.4+ with graceful restart on)
            caps.append(W.Capability(71))
        my_as = self.local_as if self.local_as < 0xFFFF else W.AS_TRANS
        return W.Open(my_as, cf.hold_time, self.router_id, tuple(caps))

    # -- observation ------------------------------------------------------------------------
    def proto_state_changed(self, p, old, new) -> None:
        """A protocol changed state (a hook for callers; BIRD logs it with ``debug states``)."""
        if self.log_events:
            self.events.append((self.sim.now, p.name, f"State changed to {new}"))

    def protocol(self, name: str):
        for p in self.all_protocols:
            if p.name == name:
                return p
        raise KeyError(f"bird: no protocol named {name!r}; there are: "
                       f"{', '.join(p.name for p in self.all_protocols)}")

    def sessions(self) -> dict:
        """``{protocol name: state text}`` of the BGP protocols (``Established``, ...)."""
        return {p.name: p.state_text for p in self.protocols}

    def established(self) -> list:
        return [p for p in self.protocols if p.conn is not None and p.conn.state == ESTABLISHED]

    def routes(self, best_only: bool = True) -> dict:
        """``{prefix: Rte}`` of the best routes (or ``{prefix: [Rte, ...]}``)."""
        if best_only:
            return {r[0].prefix: r[0] for r in self.table.values() if r}
        return {rs[0].prefix: list(rs) for rs in self.table.values() if rs}

    def _fmt_time(self, t_ns: int) -> str:
        """``tm_format_datetime`` with 1.6's ``timeformat protocol`` "%T" / "%F" (older
        than 20 hours)."""
        t = (self.sim.epoch_ns + t_ns) // S
        if self.sim.now - t_ns < 20 * 3600 * S:
            return _time.strftime("%H:%M:%S", _time.gmtime(t))
        return _time.strftime("%Y-%m-%d", _time.gmtime(t))

    def birdc(self, command: str) -> str:
        """What ``birdc``/``birdcl`` prints for ``command`` (show protocols [all] [NAME],
        show route [all] [for ADDR] [protocol NAME] [export NAME] [count])."""
        return birdc(self, command)

    def birdc_argv(self, args: list) -> str:
        """``birdc ARGS...``, as a shell hands the words over."""
        return birdc(self, " ".join(args))


def _match_iface(patterns, name: str) -> bool:
    for pat in patterns:
        neg = pat.startswith("-")
        if fnmatch.fnmatchcase(name, pat.lstrip("-")):
            return not neg
    return False


# -- birdc ------------------------------------------------------------------------------------
def _greeting(bird) -> str:
    v = bird.version
    return f"BIRD {v} ready."


def _proto_line(bird, p) -> str:
    tbuf = bird._fmt_time(p.last_state_change)
    return f"{p.name:<8} {p.proto_label:<8} {'master':<8} {p.proto_state:<5}  {tbuf:<10}  {p.status()}"


def _proto_all(bird, p) -> list:
    lines = [_proto_line(bird, p)]
    if p.kind == "bgp" and p.cf.description:
        lines.append(f"  Description:    {p.cf.description}")
    pref = {"bgp": PREF_BGP, "static": PREF_STATIC, "kernel": PREF_KERNEL, "direct": PREF_DIRECT,
            "device": 0}[p.kind]
    lines.append(f"  Preference:     {pref}")
    if p.kind == "bgp":
        inf = "ACCEPT" if p.cf.import_filter == "all" else ("REJECT" if p.cf.import_filter == "none" else "(unnamed)")
        ef = p.export_filter
        outf = "ACCEPT" if ef == "all" else ("REJECT" if ef in ("none", None) else getattr(ef, "__name__", "(unnamed)"))
    elif p.kind == "kernel":
        inf = "ACCEPT"
        kf = bird.kernel_export
        outf = "ACCEPT" if kf == "all" else ("REJECT" if kf in ("none", None) else getattr(kf, "__name__", "(unnamed)"))
    else:
        inf, outf = "ACCEPT", "REJECT"
    lines.append(f"  Input filter:   {inf}")
    lines.append(f"  Output filter:  {outf}")
    if p.proto_state != PS_DOWN and p.kind != "device":
        imported = sum(1 for rs in bird.table.values() for r in rs if r.src.proto is p)
        preferred = sum(1 for rs in bird.table.values() if rs and rs[0].src.proto is p)
        if p.kind == "bgp":
            exported = len(p.adj_out)
        elif p.kind == "kernel":
            exported = len(bird.kernel_installed)
        else:
            exported = 0
        lines.append(f"  Routes:         {imported} imported, {exported} exported, {preferred} preferred")
        s = p.stats
        lines += [
            "  Route change stats:     received   rejected   filtered    ignored   accepted",
            f"    Import updates:     {s.imp_updates_received:10} {s.imp_updates_invalid:10} "
            f"{s.imp_updates_filtered:10} {s.imp_updates_ignored:10} {s.imp_updates_accepted:10}",
            f"    Import withdraws:   {s.imp_withdraws_received:10} {s.imp_withdraws_invalid:10}"
            f"        --- {s.imp_withdraws_ignored:10} {s.imp_withdraws_accepted:10}",
            f"    Export updates:     {s.exp_updates_received:10} {s.exp_updates_rejected:10} "
            f"{s.exp_updates_filtered:10}        --- {s.exp_updates_accepted:10}",
            f"    Export withdraws:   {s.exp_withdraws_received:10}        ---        ---        --- "
            f"{s.exp_withdraws_accepted:10}",
        ]
    if p.kind == "bgp":
        lines += _bgp_info(bird, p)
    lines.append("")
    return lines


def _bgp_info(bird, p) -> list:
    """``bgp_show_proto_info`` (1.6.8)."""
    out = [f"  BGP state:          {p.state_text}",
           f"    Neighbor address: {p.cf.address}",
           f"    Neighbor AS:      {p.remote_as}"]
    if p.gr_active:
        out.append("    Neighbor graceful restart active")
    if p.proto_state == PS_START:
        oc = p.outgoing
        if p.start_state < BSS_CONNECT and p.startup_timer.active:
            out.append(f"    Error wait:       {p.startup_timer.remains()}/{p.startup_delay}")
        if oc.state == ACTIVE and oc.connect_timer.active:
            out.append(f"    Connect delay:    {oc.connect_timer.remains()}/{p.cf.connect_delay_time}")
        if p.gr_active and p.gr_timer.active:
            out.append(f"    Restart timer:    {p.gr_timer.remains()}/-")
    elif p.proto_state == PS_UP and p.conn is not None:
        c = p.conn
        o = c.remote_open
        caps = ""
        if o.capability(W.CAP_ROUTE_REFRESH):
            caps += " refresh"
        if o.capability(W.CAP_ENHANCED_ROUTE_REFRESH):
            caps += " enhanced-refresh"
        if o.capability(W.CAP_GRACEFUL_RESTART):
            caps += " restart-able" if c.peer_gr_able else " restart-aware"
        if o.capability(71):
            caps += " llgr-able" if o.capability(71).value else " llgr-aware"
        if o.as4:
            caps += " AS4"
        if o.add_path & W.ADD_PATH_RX:
            caps += " add-path-rx"
        if o.add_path & W.ADD_PATH_TX:
            caps += " add-path-tx"
        sess = "internal" if p.is_internal else "external"
        if p.multihop:
            sess += " multihop"
        if p.rr_client:
            sess += " route-reflector"
        if p.as4_session:
            sess += " AS4"
        if p.add_path_rx:
            sess += " add-path-rx"
        if p.add_path_tx:
            sess += " add-path-tx"
        out += [f"    Neighbor ID:      {p.remote_id}",
                f"    Neighbor caps:   {caps}",
                f"    Session:          {sess}",
                f"    Source address:   {p.source_addr}",
                f"    Hold timer:       {c.hold_timer.remains()}/{c.hold_time}",
                f"    Keepalive timer:  {c.keepalive_timer.remains()}/{c.keepalive_time}"]
    if p.last_error[0] not in (BE_NONE, BE_MAN_DOWN):
        out.append(f"    Last error:       {_ERR_CLASS[p.last_error[0]]}{p.last_error_text()}")
    return out


def _route_lines(bird, r: Rte, primary: bool, verbose: bool) -> list:
    """``rt_show_rte``."""
    if r.dest == "router":
        via = f"via {r.gw} on {r.iface}"
    elif r.dest == "device":
        via = f"dev {r.iface}"
    elif r.dest == "prohibit":
        via = "prohibited"
    else:
        via = r.dest
    frm = f" from {r.from_addr}" if r.from_addr and r.from_addr != r.gw else ""
    mark = ""
    if primary:
        mark = " !" if r.key in bird.kernel_errors else " *"
    if r.kind == "bgp":
        info = f" ({r.pref}"
        if r.stale:
            info += "s"
        if r.recursive:
            info += "/-" if not _resolvable(r) else f"/{r.igp_metric}"
        info += ") ["
        asns = r.attrs.path_asns()
        if asns:
            info += f"AS{asns[-1]}"
        if r.attrs.origin is not None:
            info += "ie?"[r.attrs.origin]
        info += "]"
    else:
        info = f" ({r.pref})"
    lines = [f"{r.prefix:<18} {via} [{r.proto_name} {bird._fmt_time(r.lastmod)}{frm}]{mark}{info}"]
    if verbose:
        kind = {"bgp": "BGP", "static": "static", "direct": "device"}[r.kind]
        lines.append(f"\tType: {kind} unicast univ")
        if r.attrs is not None:
            lines += _bgp_attr_lines(r.attrs)
    return lines


def _bgp_attr_lines(a) -> list:
    """The ``BGP.*`` lines of ``show route all`` for one set of path attributes."""
    lines = [f"\tBGP.origin: {('IGP', 'EGP', 'Incomplete')[a.origin or 0]}",
             f"\tBGP.as_path: {' '.join(str(x) for x in a.path_asns())}",
             f"\tBGP.next_hop: {a.next_hop}"]
    if a.med is not None:
        lines.append(f"\tBGP.med: {a.med}")
    if a.local_pref is not None:
        lines.append(f"\tBGP.local_pref: {a.local_pref}")
    if a.originator_id is not None:
        lines.append(f"\tBGP.originator_id: {a.originator_id}")
    if a.cluster_list:
        lines.append(f"\tBGP.cluster_list: {' '.join(a.cluster_list)}")
    if a.communities:
        lines.append("\tBGP.community: " + " ".join(f"({c >> 16},{c & 0xFFFF})" for c in a.communities))
    return lines


def _export_attrs_lines(p, r: Rte, pa) -> list:
    """``show route export P all``: the attributes as they are sent to ``p``."""
    return [f"\tType: {'BGP' if r.kind == 'bgp' else r.kind} unicast univ"] + _bgp_attr_lines(pa)


def birdc(bird, command: str) -> str:
    words = command.split()
    if words and words[0] in ("birdc", "birdcl"):
        words = words[1:]
    head = _greeting(bird)
    if not bird.running and bird.exit_code is not None:
        return "Unable to connect to server control socket (/var/run/bird/bird.ctl): " \
               "Connection refused\n"
    if len(words) >= 2 and words[0] == "show" and "protocols".startswith(words[1]) and len(words[1]) >= 3:
        rest = words[2:]
        verbose = bool(rest) and rest[0] == "all"
        if verbose:
            rest = rest[1:]
        protos = bird.all_protocols
        if rest:
            protos = [p for p in protos if fnmatch.fnmatchcase(p.name, rest[0].strip('"'))]
            if not protos:
                return f"{head}\nsyntax error, unexpected CF_SYM_UNDEFINED, expecting END or CF_SYM_DEFINED or TEXT or ALL\n"
        lines = [head, "name     proto    table    state  since       info"]
        for p in protos:
            lines += _proto_all(bird, p) if verbose else [_proto_line(bird, p)]
        return "\n".join(lines) + "\n"
    if len(words) >= 2 and words[0] == "show" and words[1] == "route":
        rest = words[2:]
        verbose = "all" in rest
        rest = [w for w in rest if w != "all"]
        count = "count" in rest
        rest = [w for w in rest if w != "count"]
        opts = {}
        while rest:
            if len(rest) >= 2 and rest[0] in ("for", "protocol", "export"):
                opts[rest[0]] = rest[1]
                rest = rest[2:]
            elif "/" in rest[0] and "net" not in opts:
                opts["net"] = rest[0]          # ``show route PREFIX``: that network exactly
                rest = rest[1:]
            else:
                return f"{head}\nsyntax error, unexpected CF_SYM_UNDEFINED\n"
        lines = [head]
        keys = sorted(bird.table, key=lambda k: (k[0], k[1]))
        try:
            if "net" in opts:
                net = ipaddress.IPv4Network(opts["net"], strict=False)
                keys = [k for k in keys if k == (int(net.network_address), net.prefixlen)]
            if "for" in opts:
                # ``for ADDR`` or ``for PREFIX``: the longest route covering it
                net = ipaddress.IPv4Network(opts["for"], strict=False)
                ip, plen = int(net.network_address), net.prefixlen
                best = None
                for k in keys:
                    if k[1] <= plen and (k[1] == 0 or (ip ^ k[0]) >> (32 - k[1]) == 0):
                        if best is None or k[1] > best[1]:
                            best = k
                keys = [best] if best is not None else []
        except ValueError:
            return f"{head}\nsyntax error, unexpected CF_SYM_UNDEFINED\n"
        nroutes = nnets = 0
        if "export" in opts:
            p = bird.protocol(opts["export"])
            for k in keys:
                shown = False
                for (pk, pid), pa in sorted(p.adj_out.items(), key=lambda t: (t[0][1] or 0)):
                    if pk != k:
                        continue
                    r = next((x for x in bird.table.get(k, ()) if pid is None or x.src.global_id == pid),
                             None)
                    if r is None:
                        continue
                    nroutes += 1
                    shown = True
                    if not count:
                        lines += _route_lines(bird, r, r is bird.table[k][0], False)
                        if verbose:
                            lines += _export_attrs_lines(p, r, pa)
                nnets += shown
        else:
            for k in keys:
                routes = bird.table.get(k, [])
                sel = [r for r in routes if "protocol" not in opts or r.proto_name == opts["protocol"]]
                if sel:
                    nnets += 1
                for r in sel:
                    nroutes += 1
                    if not count:
                        lines += _route_lines(bird, r, r is routes[0], verbose)
        if count:
            lines.append(f"{nroutes} of {nroutes} routes for {nnets} networks")
        return "\n".join(lines) + "\n"
    return f"{head}\nsyntax error, unexpected CF_SYM_UNDEFINED, expecting ...\n"


# -- Calico's filters, as BIRD code written in Python -------------------------------------------
def calico_export_to_bgp_peers(pools, blocks=()):
    """Calico's ``calico_export_to_bgp_peers`` (``bird_ipam.cfg.template`` with
    ``calico_aggr`` from ``bird_aggr.cfg.template``): a node exports its own blocks exactly,
    nothing more specific inside them (its pod /32s), and whatever else falls in an IP pool;
    everything else is rejected."""
    pool_nets = [ipaddress.IPv4Network(p) for p in pools]
    block_nets = [ipaddress.IPv4Network(b) for b in blocks]

    def calico_export_to_bgp_peers(r) -> bool:
        net = r.network
        for b in block_nets:
            if net == b:
                return True
            if net.subnet_of(b):
                return False
        return any(net.subnet_of(p) for p in pool_nets)
    return calico_export_to_bgp_peers


def calico_kernel_programming(pools, local_subnet: str = None):
    """Calico's ``calico_kernel_programming`` filter.  ``pools`` is a list of
    ``(cidr, ipip_mode, vxlan_mode)`` with modes "Always", "CrossSubnet" or "Never" (None);
    routes in a VXLAN pool are rejected (Felix programs those), routes in an IPIP pool get
    ``krt_tunnel = "tunl0"`` -- with CrossSubnet only when the BGP next hop is outside
    ``local_subnet`` -- and everything else is accepted as it is."""
    parsed = [(ipaddress.IPv4Network(c), (i or "Never"), (v or "Never")) for c, i, v in pools]
    local = ipaddress.IPv4Network(local_subnet) if local_subnet else None

    def calico_kernel_programming(kr: KernelRoute) -> bool:
        net = ipaddress.IPv4Network(kr.prefix)
        for cidr, ipip, vxlan in parsed:
            if net.subnet_of(cidr):
                if vxlan != "Never":
                    return False
                if ipip == "CrossSubnet":
                    nh = kr.bgp_next_hop
                    if nh is not None and local is not None and ipaddress.IPv4Address(nh) in local:
                        kr.krt_tunnel = ""
                    else:
                        kr.krt_tunnel = "tunl0"
                elif ipip == "Always":
                    kr.krt_tunnel = "tunl0"
                else:
                    kr.krt_tunnel = ""
                return True
        return True
    return calico_kernel_programming


def calico_mesh_peer(node_ip: str, peer_ip: str, asn: int = 64512, **kw) -> BgpPeer:
    """``protocol bgp Mesh_A_B_C_D from bgp_template``: the full-mesh peer of Calico's
    template, passive towards a peer whose address sorts higher (the template compares the
    addresses as strings, as Go's templates do)."""
    name = "Mesh_" + peer_ip.replace(".", "_")
    passive = kw.pop("passive", peer_ip > node_ip)
    cfg = dict(CALICO_PEER)
    cfg.update(kw)
    return BgpPeer(peer_ip, asn, name=name, source_address=node_ip, passive=passive, **cfg)


__all__ = ["Bird", "BgpPeer", "StaticRoute", "KernelRoute", "Rte", "CALICO_PEER",
           "CALICO_BIRD_VERSION", "birdc", "calico_export_to_bgp_peers",
           "calico_kernel_programming", "calico_mesh_peer", "STATE_NAMES", "bgp_rte_better"]
