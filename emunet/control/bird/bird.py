"""``bird``: a BGP speaker in BIRD 1.6's role (the daemon inside calico/node), over emunet's TCP.

A :class:`Bird` process holds BIRD's protocols in configuration order: ``static1``
(``protocol static``: blackhole/unreachable/via routes), ``kernel1`` (``protocol kernel``,
:mod:`~emunet.control.bird.krt`: best routes into the namespace's main table with ``proto
bird``), ``device1``, ``direct1`` (interface prefixes, pref 240, never sent to the kernel)
and one ``protocol bgp`` per :class:`~emunet.control.bird.config.BgpPeer`
(:mod:`~emunet.control.bird.bgp`).  Route preferences are BIRD's: direct 240, static 200,
BGP 100.  Routes meet in one table (:mod:`~emunet.control.bird.rt`).  Each speaker's
one-second clock has its own phase, drawn from ``sim.rng`` as every random choice is.

The behaviour comes from BIRD 1.6's ``proto/bgp/bgp.c``, ``packets.c``, ``attrs.c``,
``nest/rt-table.c``, ``sysdep/unix/krt.c`` and Calico's ``bird.cfg.template``; the modules of
this package say which part each mirrors.
"""
import fnmatch
import ipaddress
import time

from emunet.apps.base import Process
from emunet.control.bird.bgp import IP_TOS_BGP, BgpProtocol
from emunet.control.bird.birdc import birdc
from emunet.control.bird.config import BgpPeer, StaticRoute
from emunet.control.bird.conn import BE_MAN_DOWN, ESTABLISHED, IDLE
from emunet.control.bird.krt import RTPROT_BIRD, KernelProtocol
from emunet.control.bird.proto import PREF_DIRECT, PREF_STATIC, PS_DOWN, PS_UP, Protocol
from emunet.control.bird.rt import Rte, RouteTable
from emunet.sim import S
from emunet.wire import bgp as W
from emunet.wire.ipv4 import int_to_ip, ip_to_int


class Bird(Process):
    """``bird``: BGP, static, direct and kernel protocols in one namespace.

    >>> bird = ns.spawn(Bird("192.168.0.2", 64512,
    ...     peers=[BgpPeer("192.168.0.3", 64512, name="Mesh_192_168_0_3", multihop=64)],
    ...     static_routes=[StaticRoute("10.20.0.0/24")],
    ...     export=lambda r: r.prefix == "10.20.0.0/24", kernel_export="all"))

    ``export`` is the default export filter of the BGP protocols and ``kernel_export`` the
    kernel protocol's (a callable taking a :class:`~emunet.control.bird.config.KernelRoute`,
    "all" or "none"; BIRD's default for both is none); ``kernel_persist`` is its
    ``persist`` and ``kernel_learn`` its ``learn`` (alien routes of the main table into
    BIRD's, as ``kernel1`` routes).  ``static_protocol=False`` leaves ``static1`` out until a
    static route is added.  ``direct`` lists the interface patterns of ``protocol direct`` (BIRD's
    ``interface`` globs, "-" to exclude), None for no direct protocol.
    """

    name = "bird"

    def __init__(self, router_id: str, local_as: int, peers=(), static_routes=(),
                 export="none", kernel_export="none", rr_cluster_id: str = None,
                 direct=("*",), kernel_persist: bool = False, version: str = "1.6.8",
                 listen_address: str = "0.0.0.0", log_events: bool = True, kernel_learn: bool = False,
                 static_protocol: bool = True):
        super().__init__()
        self.router_id = router_id
        self.router_id_int = ip_to_int(router_id)
        self.local_as = int(local_as)
        self.rr_cluster_id = rr_cluster_id
        self.export = export
        self.direct_patterns = tuple(direct) if direct is not None else None
        self.version = version
        self.listen_address = listen_address
        self.log_events = log_events
        self.peer_configs = list(peers)
        self.static_routes = [s if isinstance(s, StaticRoute) else StaticRoute(s) for s in static_routes]
        self.static = Protocol(self, "static1", "Static", "static")
        #: whether bird.cfg has a ``protocol static`` (confd writes none for a node without blocks)
        self.static_configured = bool(static_protocol or self.static_routes)
        self.kernel = KernelProtocol(self, kernel_export, kernel_persist, kernel_learn)
        self.device = Protocol(self, "device1", "Device", "device")
        self.direct = Protocol(self, "direct1", "Direct", "direct") if direct is not None else None
        self.protocols = []          # BGP protocols in order
        #: every protocol in configuration order, once BIRD runs
        self.all_protocols = []
        self.table = RouteTable(self.kernel, self.protocols)
        self.listener = None
        self.phase = 0
        self.stopping = False
        self.events = []
        self.msg_tx = {}
        self.msg_rx = {}
        self.bytes_tx = 0
        self.bytes_rx = 0
        self.bytes_by_type = {}
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
        simple = (([self.static] if self.static_configured else []) + [self.kernel, self.device]
                  + ([self.direct] if self.direct else []))
        # route sources as ``proto_want_core_up`` allocates them, when a protocol comes up:
        # the device protocol first (``protos_commit`` starts it before the others), then the
        # rest in configuration order; a BGP protocol's once its session is up
        for p in [self.device] + [p for p in simple if p is not self.device]:
            p.main_source = self.table.new_source(p, 0, keep=True)
        for i, cf in enumerate(self.peer_configs, 1):
            self.protocols.append(BgpProtocol(self, cf, cf.name or f"bgp{i}"))
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
        self.kernel.start()
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
        self.kernel.shutdown()
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
            self.direct.stats.imp_updates_received += 1
            self.table.rte_update(key, r.src, r, self.direct)

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
        self.static.stats.imp_updates_received += 1
        self.table.rte_update(key, r.src, r, self.static)

    def add_static(self, s) -> None:
        """``birdc configure`` with one more static route."""
        s = s if isinstance(s, StaticRoute) else StaticRoute(s)
        self.static_routes.append(s)
        if not self.static_configured and self.all_protocols:
            # confd wrote a ``protocol static`` section where there was none: a new protocol
            self.all_protocols.insert(0, self.static)
            self.static.main_source = self.table.new_source(self.static, 0, keep=True)
            self.static.proto_state = PS_UP
            self.static.last_state_change = self.sim.now
        self.static_configured = True
        if self.running and self.static.proto_state == PS_UP:
            self._import_static(s)

    def remove_static(self, prefix: str) -> None:
        net = ipaddress.IPv4Network(prefix)
        key = (int(net.network_address), net.prefixlen)
        self.static_routes = [s for s in self.static_routes if ipaddress.IPv4Network(s.prefix) != net]
        self.table.rte_update(key, self.static.main_source, None, self.static)

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
            return {r[0].prefix: r[0] for r in self.table.nets.values() if r}
        return {rs[0].prefix: list(rs) for rs in self.table.nets.values() if rs}

    @property
    def last_kernel_change(self) -> int:
        """When the kernel table last changed because of us (virtual ns)."""
        return self.kernel.last_change

    def format_time(self, t_ns: int) -> str:
        """``tm_format_datetime`` with 1.6's ``timeformat protocol`` "%T" / "%F" (older
        than 20 hours): how ``birdc`` prints the virtual time ``t_ns``."""
        t = (self.sim.epoch_ns + t_ns) // S
        if self.sim.now - t_ns < 20 * 3600 * S:
            return time.strftime("%H:%M:%S", time.gmtime(t))
        return time.strftime("%Y-%m-%d", time.gmtime(t))

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


__all__ = ["Bird"]
