"""One BGP connection and its state machine (BIRD 1.6's ``struct bgp_conn`` in
``proto/bgp/bgp.c``, its receive side in ``packets.c``), and BIRD's timers.

Sessions follow RFC 4271 section 8 as BIRD runs it: Idle, Connect, Active, OpenSent,
OpenConfirm, Established (and Close while a NOTIFICATION drains), one outgoing and one
incoming connection per peer, collision detection in OpenConfirm by router id then AS (RFC
4271 6.8 as ``bgp_rx_open`` reads it).  Timers are whole seconds on the speaker's one-second
clock with RFC 4271 jitter (a timer of *v* seconds fires after *v* - rand(0 .. *v*/4)).  A
KEEPALIVE answers an OPEN; a bad message earns the NOTIFICATION RFC 4271 section 6 names
(see :class:`emunet.wire.bgp.BgpError`), then the connection closes, except a bad
NOTIFICATION, which closes it without one (section 6.4); hold timer expiry sends
"Hold timer expired" (4/0).
"""
import errno

from emunet.control.bird.proto import PS_START
from emunet.sim import S
from emunet.wire import bgp as W
from emunet.wire.ipv4 import ip_to_int


# -- BIRD's names and numbers (``proto/bgp/bgp.h``) ---------------------------------------
IDLE, CONNECT, ACTIVE, OPENSENT, OPENCONFIRM, ESTABLISHED, CLOSE = range(7)
STATE_NAMES = ("Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established", "Close")
#: RFC 6608 FSM error subcodes by state
FSM_SUBCODE = {OPENSENT: 1, OPENCONFIRM: 2, ESTABLISHED: 3}
#: the start states of a protocol (``BSS_*``)
BSS_PREPARE, BSS_DELAY, BSS_CONNECT = range(3)
#: the classes of a protocol's last error (``BE_*``), and how ``show protocols`` opens each
BE_NONE, BE_MISC, BE_SOCKET, BE_BGP_RX, BE_BGP_TX, BE_AUTO_DOWN, BE_MAN_DOWN = range(7)
ERR_CLASS = ("", "Error: ", "Socket: ", "Received: ", "BGP Error: ", "Automatic shutdown: ", "")
#: the miscellaneous errors (``BEM_*``) and their texts
BEM_NEIGHBOR_LOST, BEM_INVALID_NEXT_HOP, BEM_NO_SOCKET, BEM_GRACEFUL_RESTART = 1, 2, 4, 7
BEM_BAD_NOTIFICATION = 8
MISC_ERRORS = {1: "Neighbor lost", 2: "Invalid next hop", 3: "Kernel MD5 auth failed",
               4: "No listening socket", 5: "Link down", 6: "BFD session down",
               7: "Graceful restart",
               # not BIRD's: BIRD 1.6.8 answers a malformed NOTIFICATION with one, which
               # RFC 4271 section 6.4 forbids; emunet closes the connection instead
               8: "Malformed NOTIFICATION"}


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
        self.local_open = None
        self.remote_open = None
        #: what the peer's graceful restart capability said (set by its OPEN)
        self.peer_gr_able = False
        self.peer_gr_time = 0
        self.peer_gr_aflags = 0
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
        p.bird.log_event(p, f"Connection lost ({errno.errorcode.get(err, err)})" if err
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
            if e.mtype == W.NOTIFICATION:
                return self.bad_notification(e)
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
            if mtype == W.NOTIFICATION:
                return self.bad_notification(e)
            self._note(f"bird {p.name}: {e.detail} → NOTIFICATION {e.code}/{e.subcode}")
            self.error(e.code, e.subcode, e.data)

    def bad_notification(self, e: W.BgpError) -> None:
        """RFC 4271 section 6.4: an error found in a NOTIFICATION cannot be reported with
        one; the connection is closed without a word, and the protocol stops as for a
        received error."""
        p = self.bgp
        if self.state == CLOSE:
            return
        p.store_error(self, BE_MISC, BEM_BAD_NOTIFICATION)
        p.bird.log_event(p, f"Malformed NOTIFICATION: {e.detail}")
        self._note(f"bird {p.name}: malformed NOTIFICATION ({e.detail}) → close, no NOTIFICATION "
                   f"(RFC 4271 6.4)")
        self.enter_close()
        self.schedule("CLOSE")
        p.update_startup_delay()
        p.stop(0)

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


__all__ = ["IDLE", "CONNECT", "ACTIVE", "OPENSENT", "OPENCONFIRM", "ESTABLISHED", "CLOSE",
           "STATE_NAMES", "FSM_SUBCODE", "BSS_PREPARE", "BSS_DELAY", "BSS_CONNECT", "BE_NONE",
           "BE_MISC", "BE_SOCKET", "BE_BGP_RX", "BE_BGP_TX", "BE_AUTO_DOWN", "BE_MAN_DOWN",
           "ERR_CLASS", "BEM_NEIGHBOR_LOST", "BEM_INVALID_NEXT_HOP", "BEM_NO_SOCKET",
           "BEM_GRACEFUL_RESTART", "BEM_BAD_NOTIFICATION", "MISC_ERRORS", "Timer", "BgpConn"]
