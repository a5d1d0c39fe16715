"""``protocol bgp``: one configured peer (BIRD 1.6's ``struct bgp_proto``, ``proto/bgp/bgp.c``),
with its two connections (:mod:`~emunet.control.bird.conn`), what it imports from UPDATEs
and exports to its peer (``packets.c``, ``attrs.c``), and graceful restart.

* **Start and stop** as ``bgp_start``: a direct eBGP session waits for its neighbour to be
  on a connected network; the connect delay, connect retry and error wait (doubling up to its
  maximum, forgotten after the error forget time) are BIRD's.  Defaults: hold 240, startup
  hold 240, keepalive hold/3, connect delay 5, connect retry 120, error wait 60..300, error
  forget 300.
* **On the wire**: BGP sockets carry TOS 0xC0 (``IP_PREC_INTERNET_CONTROL``); a direct eBGP
  session TTL 1, multihop (all iBGP, Calico's ``multihop``) TTL 64, the listening socket TTL
  255 (so SYN-ACKs leave with 255, as the kernel showed); ``source address`` binds before
  connect (an odd ephemeral port).  OPEN carries BIRD's capabilities: multiprotocol IPv4
  unicast, route refresh, graceful restart (``aware``: empty; ``graceful restart``: 120 s and
  IPv4 unicast), 4-octet AS, ADD-PATH (send and/or receive), enhanced route refresh, long-lived
  GR aware (1.6.4 and later), in that order: byte for byte what the real 1.6.8 sends
  (``tests/kernel/test_kernel_bird.py``).  The initial feed ends with End-of-RIB (BIRD sends
  it whenever graceful restart is at least "aware", its default).
* **Imports** drop routes whose NEXT_HOP is one of our own addresses (RFC 4271 6.3; BIRD
  1.6.8 leaves this check out), whose AS_PATH holds our AS, whose ORIGINATOR_ID is our router id,
  or (on an ``rr client`` session) whose CLUSTER_LIST holds our cluster id -- BIRD's reading
  of RFC 4456 section 8.  The next hop is resolved directly or recursively through the IGP
  routes (``gateway direct|recursive``).  With ADD-PATH send, every route of a prefix is
  exported with its route source's global id as path id (BIRD's ``RA_ANY``).
* **Graceful restart** (receiving speaker, RFC 4724): a session that drops with graceful
  restart negotiated keeps the peer's routes as stale for its restart time; hold timer
  expiry or an error flushes every route learned from that peer.

Left out: IPv6, MP-BGP beyond the IPv4 unicast capability, confederations, route limits,
BFD, MD5, route-refresh requests of our own, deterministic MED.
"""
import os

import attrs

from emunet.control.bird.bgp_attrs import (Buckets, as_path_contains, bgp_bucket_attrs,
                                           bgp_import_control, bgp_rte_better)
from emunet.control.bird.config import GR_AWARE, BgpPeer, run_filter
from emunet.control.bird.conn import (ACTIVE, BE_BGP_RX, BE_BGP_TX, BE_MISC, BE_NONE, BE_SOCKET,
                                      BEM_GRACEFUL_RESTART, BSS_CONNECT, BSS_DELAY, BSS_PREPARE,
                                      CONNECT, ERR_CLASS, ESTABLISHED, IDLE, MISC_ERRORS,
                                      OPENCONFIRM, OPENSENT, STATE_NAMES, BgpConn, Timer)
from emunet.control.bird.proto import PREF_BGP, PS_DOWN, PS_START, PS_STOP, PS_UP, ProtoStats
from emunet.control.bird.rt import Rte
from emunet.wire import bgp as W
from emunet.wire.ipv4 import int_to_ip, ip_to_int

#: ``IP_PREC_INTERNET_CONTROL``: the TOS BIRD sets on every BGP socket
IP_TOS_BGP = 0xC0


class BgpProtocol:
    """``struct bgp_proto``: one configured peer, with its two connections."""

    kind = "bgp"
    proto_label = "BGP"
    rte_better = staticmethod(bgp_rte_better)

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
        # export state: what the peer has been told, and what waits to be sent
        self.adj_out = {}
        self.buckets = Buckets()
        self._stats = ProtoStats()
        self._plain_base = None

    def __repr__(self):
        return f"<BgpProtocol {self.name} {self.state_text}>"

    @property
    def stats(self):
        """The protocol's counters, with the plain-iBGP rejections of the routes that
        changed while it was up folded in."""
        if self._plain_base is not None:
            i = 1 if self.add_path_tx else 0
            n = self.bird.table.plain_changes[i] - self._plain_base
            self._plain_base = self.bird.table.plain_changes[i]
            self._stats.exp_updates_received += n
            self._stats.exp_updates_rejected += n
        return self._stats

    def _track_plain(self, on: bool) -> None:
        if not self.ibgp_plain:
            return
        self.stats  # fold what is pending
        self._plain_base = self.bird.table.plain_changes[1 if self.add_path_tx else 0] if on else None

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
                if self.main_source is None:
                    # ``proto_want_core_up``: the route source comes with the first session
                    # (BIRD 1.6 frees it when the protocol goes down and takes the lowest
                    # free id at the next; here the first is kept)
                    self.main_source = self.bird.table.new_source(self, 0, keep=True)
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
            return MISC_ERRORS.get(code, "")
        if cls == BE_SOCKET:
            return "Connection closed" if not code else os.strerror(code)
        if cls in (BE_BGP_RX, BE_BGP_TX):
            return W.error_description(*code)
        return ""

    def status(self) -> str:
        """``bgp_get_status``: the info column of ``show protocols``."""
        cls = self.last_error[0]
        err1 = ERR_CLASS[cls]
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
        self.feed_state = "loading" if self.cf.graceful_restart else None
        self.bird.sim.after(0, self._feed)

    def _feed(self) -> None:
        """``rt_feed_baby``: every route the table would export to us now."""
        if self.conn is None or self.proto_state != PS_UP:
            return
        table = self.bird.table
        nets = table.nets
        if self.ibgp_plain:
            keys = sorted(table.nonplain)
            st = self.stats
            skipped = (sum(len(nets[k]) for k in nets if k not in table.nonplain)
                       if self.add_path_tx else len(nets) - len(keys))
            st.exp_updates_received += skipped
            st.exp_updates_rejected += skipped
        else:
            keys = sorted(nets)
        for key in keys:
            routes = nets[key]
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
        for routes in self.bird.table.nets.values():
            for r in routes:
                if r.src.proto is self:
                    r.stale = True

    def graceful_restart_done(self) -> None:
        self.gr_active = False
        self.gr_timer.stop()
        table = self.bird.table
        stale = [(r.key, r.src) for routes in table.nets.values() for r in routes
                 if r.src.proto is self and r.stale]
        for key, src in stale:
            table.rte_update(key, src, None)

    def _gr_timeout(self) -> None:
        self.bird.log_event(self, "Neighbor graceful restart timeout")
        self.stop(0)

    # routes in
    def rx_update(self, u: W.Update) -> str:
        """``bgp_do_rx_update``: withdraw, then decode and import the NLRI."""
        bird = self.bird
        table = bird.table
        out = []
        if u.end_of_rib:
            if self.gr_active:
                self.graceful_restart_done()
            return "End-of-RIB"
        for n in u.withdrawn:
            src = self._src(n.path_id)
            self.stats.imp_withdraws_received += 1
            if table.rte_update(n.key, src, None, self):
                out.append(f"withdrawn {n.prefix}")
        if not u.nlri:
            return "; ".join(out)
        pa = u.attrs
        if not self.is_internal and (pa.local_pref is not None or pa.originator_id is not None
                                     or pa.cluster_list is not None):
            pa = attrs.evolve(pa, local_pref=None, originator_id=None, cluster_list=None)
        reason = u.withdraw_reason
        if reason is None:
            if bird.ns.is_local_address(ip_to_int(pa.next_hop)):
                # RFC 4271 6.3: a NEXT_HOP that is the receiver's own address is semantically
                # incorrect; the route is ignored and no NOTIFICATION sent
                reason = f"NEXT_HOP {pa.next_hop} is our own address"
            elif as_path_contains(pa.as_path, bird.local_as):
                reason = "our AS in AS_PATH"
            elif pa.originator_id is not None and ip_to_int(pa.originator_id) == bird.router_id_int:
                reason = "our router id as ORIGINATOR_ID"
            elif self.rr_client and pa.cluster_list and self.rr_cluster_id in pa.cluster_list:
                reason = "our cluster id in CLUSTER_LIST"
        if reason is not None:
            for n in u.nlri:
                self.stats.imp_updates_received += 1
                self.stats.imp_updates_invalid += 1
                table.rte_update(n.key, self._src(n.path_id), None, self)
            return "; ".join(out + [f"{', '.join(n.prefix for n in u.nlri)} dropped: {reason}"])
        if pa.local_pref is None:
            pa = attrs.evolve(pa, local_pref=self.cf.default_local_pref)
        dest, gw, iface, metric, recursive = self._next_hop(pa.next_hop)
        now = bird.sim.now
        for n in u.nlri:
            self.stats.imp_updates_received += 1
            r = Rte(n.key, self._src(n.path_id), PREF_BGP, "bgp", pa, dest, gw, iface, metric,
                    pa.next_hop, now, self.cf.address, recursive)
            if not run_filter(self.cf.import_filter, r):
                self.stats.imp_updates_filtered += 1
                table.rte_update(n.key, r.src, None, self)
                continue
            changed = table.rte_update(n.key, r.src, r, self)
            best = table.nets.get(n.key, [None])[0] is r
            out.append(f"{n.prefix} {'best' if best else 'not best'}"
                       + (f", kernel: {bird.kernel.text(n.key)}" if best and changed else ""))
        return "; ".join(out)

    def _src(self, path_id):
        if path_id is None or not self.add_path_rx:
            return self.main_source
        s = self.sources.get(path_id)
        if s is None:
            s = self.sources[path_id] = self.bird.table.new_source(self, path_id)
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
        table = self.bird.table
        for key, src in table.routes_of(self):
            table.rte_update(key, src, None)
        for s in list(self.sources.values()):
            table.free_source(s)
        self.sources.clear()

    # routes out
    def rt_notify(self, key, new, old, path_id) -> None:
        """``do_rt_notify`` → ``bgp_rt_notify``: queue an announcement or a withdrawal."""
        st = self.stats
        pa = None
        if new is not None:
            st.exp_updates_received += 1
            pa = bgp_import_control(self, new)
            if pa is None:
                st.exp_updates_rejected += 1
            elif not run_filter(self.export_filter, new):
                st.exp_updates_filtered += 1
                pa = None
            else:
                pa = bgp_bucket_attrs(self, pa)
        else:
            st.exp_withdraws_received += 1
        pkey = (key, path_id)
        was = self.adj_out.get(pkey)
        if pa is not None:
            if was == pa:
                return
            st.exp_updates_accepted += 1
            self.adj_out[pkey] = pa
            self.buckets.queue(pkey, pa)
        elif was is not None:
            st.exp_withdraws_accepted += 1
            del self.adj_out[pkey]
            self.buckets.queue(pkey, None)
        else:
            return
        if self.conn is not None:
            self.conn.schedule("UPDATE")

    def create_update(self):
        """``bgp_create_update``: the next UPDATE for the peer, or None."""
        return self.buckets.create_update(self.add_path_tx, self.as4_session)

    def make_open(self) -> W.Open:
        """``bgp_create_open`` of BIRD 1.6: AS (AS_TRANS above 65535), hold time, router id,
        capabilities in one optional parameter."""
        cf = self.cf
        local_as = self.bird.local_as
        caps = [W.cap_multiprotocol()]
        if cf.enable_route_refresh:
            caps.append(W.cap_route_refresh())
        if cf.graceful_restart == GR_AWARE:
            caps.append(W.cap_graceful_restart(0, families=()))
        elif cf.graceful_restart:
            caps.append(W.cap_graceful_restart(cf.graceful_restart_time))
        if cf.enable_as4:
            caps.append(W.cap_as4(local_as))
        if cf.add_paths:
            caps.append(W.cap_add_path(cf.add_paths))
        if cf.enable_route_refresh:
            caps.append(W.cap_enhanced_route_refresh())
        if cf.graceful_restart:
            # long-lived graceful restart, "aware" (BIRD 1.6.4+ with graceful restart on)
            caps.append(W.Capability(W.CAP_LLGR))
        my_as = local_as if local_as < 0xFFFF else W.AS_TRANS
        return W.Open(my_as, cf.hold_time, self.bird.router_id, tuple(caps))

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


__all__ = ["IP_TOS_BGP", "BgpProtocol"]
