"""flanneld, the daemon on every node (``main.go``; its lease handling from
``pkg/subnet/etcd/local_manager.go`` and ``registry.go``, its lease watch from
``pkg/subnet/watch.go``).

1. read the network config from ``<prefix>/config``
   (:class:`~emunet.control.flannel.config.NetworkConfig`);
2. let the backend register: it creates its devices and acquires a lease
   (``tryAcquireLease``): reuse the lease whose PublicIP is ours, else the
   previous subnet (``FLANNEL_SUBNET`` of an old subnet.env), else pick at
   random among the first 100 free subnets; claim it with a transaction
   (create-if-absent) under a 24 h etcd lease at ``<prefix>/subnets/100.96.1.0-24``;
3. renew the lease an hour before it expires (``--subnet-lease-renew-margin``
   60 min) by putting it again under a new 24 h lease; if its own lease is
   deleted, flanneld exits: "Lease has been revoked. Shutting down daemon.";
4. write ``/run/flannel/subnet.env``: FLANNEL_NETWORK, FLANNEL_SUBNET (the
   subnet's first address), FLANNEL_MTU, FLANNEL_IPMASQ;
5. list the leases, then watch ``subnets/``: for every other node's lease
   that appears or changes (EventAdded) or disappears (EventRemoved, expiry
   included), the backend (re)programs the kernel.

Between 2 and 4, as ``main.go`` does: with ``--ip-masq``, recycle the masquerade rules of
the previous network and subnet, then keep its own four POSTROUTING rules in place;
with ``--iptables-forward-rules``, keep the two FORWARD accepts in place
(:mod:`emunet.control.flannel.iptables`), each set checked again every
``--iptables-resync`` seconds.  flanneld's default for ``--iptables-forward-rules`` is
true; here it is off unless asked for, so a cluster without netfilter rules stays one.
"""
import datetime
import ipaddress
from collections import Counter

from emunet.apps.base import Process
from emunet.control.flannel.backend import BACKENDS
from emunet.control.flannel.config import PREFIX, FlannelError, NetworkConfig
from emunet.control.flannel.iptables import ensure_iptables, forward_rules, masq_rules, teardown_iptables
from emunet.control.flannel.subnet import (
    ADDED, RACE_RETRIES, REMOVED, SUBNET_TTL_S, SubnetLease, allocate_subnet, parse_subnet_key,
)
from emunet.sim import S

#: ``--subnet-lease-renew-margin``: minutes before expiry at which the lease is renewed
RENEW_MARGIN_MIN = 60


def _ip4net(text: str) -> str:
    """``ip.IP4Net`` read from subnet.env and printed again (its zero value 0.0.0.0/0)."""
    return text if text else "0.0.0.0/0"


class Flanneld(Process):
    """flanneld on one node (``flanneld --iface=eth0 --etcd-prefix=/coreos.com/network``).

    ``store`` is the :class:`~emunet.control.etcd.EtcdStore`.  The daemon starts
    synchronously (lease, devices, subnet.env) and then lives on etcd watch
    events and timers.  ``files`` holds what it wrote (``/run/flannel/subnet.env``);
    ``crossings`` counts, per packet id, the user/kernel copies it made.
    """

    name = "flanneld"

    def __init__(self, store, iface: str = "eth0", public_ip: str = None, previous_subnet: str = None,
                 ip_masq: bool = False, prefix: str = PREFIX, subnet_file: str = "/run/flannel/subnet.env",
                 renew_margin_min: int = RENEW_MARGIN_MIN, subnet_ttl_s: int = SUBNET_TTL_S,
                 hashrnd: int = None, iptables_forward_rules: bool = False, iptables_resync_s: int = 5,
                 random_fully: bool = True):
        super().__init__()
        self.store = store
        self.iface_name = iface
        self.public_ip = public_ip
        self.previous_subnet = ipaddress.IPv4Network(previous_subnet) if previous_subnet else None
        self.ip_masq = ip_masq
        self.prefix = prefix.rstrip("/")
        self.subnet_file = subnet_file
        self.renew_margin_ns = renew_margin_min * 60 * S
        self.subnet_ttl_s = subnet_ttl_s
        self.hashrnd = hashrnd
        self.iptables_forward_rules = iptables_forward_rules
        self.iptables_resync_ns = iptables_resync_s * S
        self.random_fully = random_fully      # go-iptables' HasRandomFully: iptables >= 1.6.2
        self.iptables_rules = []              # the rule sets it keeps in place
        self.config = None
        self.backend = None
        self.lease = None
        self.etcd_lease_id = 0
        self.leases = {}          # subnet -> SubnetLease, every node's but ours (leaseWatcher)
        self.files = {}
        self.log = []             # (time_ns, level, text)
        self.crossings = Counter()
        self.iface = None
        self.iface_addr = None
        self._watch = None
        self._timers = []
        self._log_sec = None
        self._log_stamp = ""

    # -- logging (glog: "I0412 12:11:57.321486    1234 file.go] message") --------
    def _log(self, level: str, where: str, text: str) -> None:
        self.log.append((self.sim.now, level, text))
        sec = self.sim.wall_ns // 1_000_000_000
        if sec != self._log_sec:
            t = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc)
            self._log_sec, self._log_stamp = sec, f"{t:%m%d %H:%M:%S}"
        us = (self.sim.wall_ns // 1000) % 1_000_000
        self.eprint(f"{level}{self._log_stamp}.{us:06d} {self.pid:>7} {where}] {text}")

    def verbose(self, v: int, where: str, text: str) -> None:
        """``log.V(v).Info``: kept in ``log`` (level ``V1``, ``V2``), not printed at the default
        verbosity (flanneld runs with ``-v=0`` unless told otherwise)."""
        self.log.append((self.sim.now, f"V{v}", text))

    def info(self, where: str, text: str) -> None:
        self._log("I", where, text)

    def warning(self, where: str, text: str) -> None:
        self._log("W", where, text)

    def error(self, where: str, text: str) -> None:
        self._log("E", where, text)

    def errors(self) -> list:
        return [t for _, lvl, t in self.log if lvl == "E"]

    # -- start ---------------------------------------------------------------
    def start(self) -> None:
        ns = self.ns
        try:
            self.iface = ns.dev(self.iface_name)
        except KeyError as e:
            self.error("main.go", f"Failed to find interface to use: {e}")
            self.exit(1)
            return
        addrs = [a for a in ns.addresses(self.iface) if a.scope == "global"]
        if not addrs:
            self.error("main.go", f"Failed to find IPv4 address for interface {self.iface_name}")
            self.exit(1)
            return
        self.iface_addr = str(addrs[0].ip)
        self.info("main.go", f"Using interface with name {self.iface_name} and address {self.iface_addr}")
        if self.public_ip is None:
            self.public_ip = self.iface_addr
            self.info("main.go", f"Defaulting external address to interface address ({self.iface_addr})")
        kv = self.store.get(f"{self.prefix}/config")
        if kv is None:
            self.error("main.go", f"Couldn't fetch network config: {self.prefix}/config: key not found")
            self.exit(1)
            return
        try:
            self.config = NetworkConfig.parse(kv.value)
            self.info("main.go", f"Found network config - Backend type: {self.config.backend_type}")
            cls = BACKENDS.get(self.config.backend_type)
            if cls is None:
                raise FlannelError(f"failed to create backend: unknown backend type: "
                                   f"{self.config.backend_type}")
            self.backend = cls(self)
            self.backend.register()
        except FlannelError as e:
            self.error("main.go", f"Error registering network: {e}")
            self.exit(1)
            return
        self._setup_iptables()
        self.write_subnet_file()
        self.info("main.go", "Running backend.")
        self._start_watch()
        self._schedule_renew()
        self.backend.run()

    # -- iptables (network/iptables.go) --------------------------------------------
    def _setup_iptables(self) -> None:
        network, subnet = str(self.config.network), str(self.lease.subnet)
        if self.ip_masq:
            self._recycle_iptables(network, subnet)
            self.info("main.go", "Setting up masking rules")
            self.iptables_rules.append(masq_rules(network, subnet, self.random_fully))
        if self.iptables_forward_rules:
            self.info("main.go", "Changing default FORWARD chain policy to ACCEPT")
            self.iptables_rules.append(forward_rules(network))
        for rules in self.iptables_rules:
            # SetupAndEnsureIPTables: a goroutine per set, at once and every resync period
            self._ensure_iptables(rules)

    def _ensure_iptables(self, rules: list) -> None:
        if not self.running:
            return
        ensure_iptables(self.ns, rules, self.info)
        self.after(self.iptables_resync_ns, self._ensure_iptables, rules)

    def _recycle_iptables(self, network: str, subnet: str) -> None:
        """``recycleIPTables``: the rules of the network and subnet of the previous
        subnet.env go when both changed (no file: 0.0.0.0/0, Go's zero IP4Net)."""
        prev = self.subnet_env
        prev_net = _ip4net(prev.get("FLANNEL_NETWORK"))
        prev_sub = _ip4net(prev.get("FLANNEL_SUBNET"))
        if prev_net != network and prev_sub != subnet:
            self.info("main.go", f"Current network or subnet ({network}, {subnet}) is not equal to previous "
                                 f"one ({prev_net}, {prev_sub}), trying to recycle old iptables rules")
            teardown_iptables(self.ns, masq_rules(prev_net, prev_sub, self.random_fully), self.info)

    def write_subnet_file(self) -> str:
        """``WriteSubnetFile``: the environment CNI and dockerd read."""
        sn = self.lease.subnet
        text = (f"FLANNEL_NETWORK={self.config.network}\n"
                f"FLANNEL_SUBNET={sn.network_address + 1}/{sn.prefixlen}\n"
                f"FLANNEL_MTU={self.backend.mtu()}\n"
                f"FLANNEL_IPMASQ={'true' if self.ip_masq else 'false'}\n")
        self.files[self.subnet_file] = text
        self.info("main.go", f"Wrote subnet file to {self.subnet_file}")
        return text

    @property
    def subnet_env(self) -> dict:
        text = self.files.get(self.subnet_file, "")
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    # -- leases --------------------------------------------------------------
    def _subnets_prefix(self) -> str:
        return f"{self.prefix}/subnets/"

    def list_leases(self) -> list:
        out = []
        for kv in self.store.range(self._subnets_prefix()):
            lease = SubnetLease.decode(self.store, kv)
            if lease is not None:
                out.append(lease)
        return out

    def acquire_lease(self, attrs_: dict) -> SubnetLease:
        """``AcquireLease`` → ``tryAcquireLease`` (up to ``raceRetries`` times)."""
        for _ in range(RACE_RETRIES):
            lease = self._try_acquire(attrs_)
            if lease is not None:
                self.lease = lease
                self.info("main.go", f"Subnet lease acquired: {lease.subnet}")
                return lease
        raise FlannelError("failed to acquire lease: Max retries reached trying to acquire a subnet")

    def _try_acquire(self, attrs_: dict):
        leases = self.list_leases()
        mine = next((l for l in leases if l.public_ip == self.public_ip), None)
        if mine is not None:
            if self.config.compatible(mine.subnet):
                self.info("local_manager.go", f"Found lease ({mine.subnet}) for current IP "
                                              f"({self.public_ip}), reusing")
                lease = SubnetLease.from_attrs(mine.subnet, attrs_)
                self._put_lease(lease)
                return lease
            self.info("local_manager.go", f"Found lease ({mine.subnet}) for current IP ({self.public_ip}) "
                                          f"but not compatible with current config, deleting")
            self.store.delete(self._subnets_prefix() + mine.key)
        sn = None
        taken = {(l.gateway_int, l.subnet.prefixlen) for l in leases}
        prev = self.previous_subnet
        if prev is not None and (int(prev.network_address), prev.prefixlen) not in taken:
            if self.config.compatible(self.previous_subnet):
                self.info("local_manager.go", f"Found previously leased subnet ({self.previous_subnet}), reusing")
                sn = self.previous_subnet
            else:
                self.error("local_manager.go", f"Found previously leased subnet ({self.previous_subnet}) that "
                                               f"is not compatible with the Etcd network config, ignoring")
        if sn is None:
            c = self.config
            self.info("local_manager.go", f"Picking subnet in range {c.subnet_min} ... {c.subnet_max}")
            sn = allocate_subnet(c, taken, self.sim.rng)
        lease = SubnetLease.from_attrs(sn, attrs_)
        etcd_lease = self.store.grant(self.subnet_ttl_s)
        if not self.store.create(self._subnets_prefix() + lease.key, lease.value, etcd_lease.id):
            self.store.revoke(etcd_lease.id)
            return None
        self.etcd_lease_id = etcd_lease.id
        lease.expiration_ns = etcd_lease.expires_ns
        self.info("local_manager.go", f"Allocated lease ({sn}) to current node ({self.public_ip}) ")
        return lease

    def _put_lease(self, lease: SubnetLease) -> None:
        """``updateSubnet``: a fresh 24 h lease, the key put under it."""
        etcd_lease = self.store.grant(self.subnet_ttl_s)
        self.store.put(self._subnets_prefix() + lease.key, lease.value, etcd_lease.id)
        self.etcd_lease_id = etcd_lease.id
        lease.expiration_ns = etcd_lease.expires_ns

    def _schedule_renew(self) -> None:
        delay = max(0, self.lease.expiration_ns - self.renew_margin_ns - self.sim.now)
        self.after(delay, self._renew)

    def _renew(self) -> None:
        if not self.running:
            return
        self._put_lease(self.lease)
        exp = datetime.datetime.fromtimestamp((self.sim.epoch_ns + self.lease.expiration_ns) / 1e9,
                                              datetime.timezone.utc)
        self.info("local_manager.go", f"Lease renewed, new expiration: {exp:%Y-%m-%d %H:%M:%S} +0000 UTC")
        self._schedule_renew()

    # -- watching ------------------------------------------------------------
    def _start_watch(self) -> None:
        snapshot = self.list_leases()
        rev = self.store.revision
        where = {"udp": "udp_network.go", "vxlan": "vxlan_network.go"}.get(self.backend.type, "route_network.go")
        self.info(where, "Watching for new subnet leases")
        batch = []
        own = self.lease.subnet
        own_net = int(own.network_address)
        for l in snapshot:
            if l.gateway_int == own_net and l.subnet == own:
                continue
            self.leases[l.subnet] = l
            batch.append((ADDED, l))
        if batch:
            self.backend.handle(batch)
        self._watch = self.store.watch(self._subnets_prefix(), self._on_watch, start_revision=rev + 1)

    def _on_watch(self, events) -> None:
        if not self.running:
            return
        batch = []
        own = self.lease.subnet
        own_net = int(own.network_address)
        for ev in events:
            sn = parse_subnet_key(ev.kv.key)
            if sn is None:
                continue
            # the integer first: IPv4Network.__eq__ is slow, and nearly every event is another's
            if int(sn.network_address) == own_net and sn == own:
                if ev.type == "DELETE":
                    self.error("local_manager.go", "Lease has been revoked. Shutting down daemon.")
                    self.stop(1)
                    return
                continue
            if ev.type == "PUT":
                l = SubnetLease.decode(self.store, ev.kv)
                self.leases[sn] = l
                batch.append((ADDED, l))
            else:
                old = self.leases.pop(sn, None)
                if old is None:
                    self.error("watch.go", f"Removed subnet ({sn}) was not found")
                    old = SubnetLease(sn, "0.0.0.0")
                batch.append((REMOVED, old))
        if batch:
            self.backend.handle(batch)

    # -- timers and stop ------------------------------------------------------
    def after(self, delay_ns: int, fn, *args):
        """A timer of the daemon's (its renewals, a backend's periodic work): ``stop()``
        cancels it, as the daemon's context cancels its goroutines."""
        now = self.sim.now
        # those before now have run: forgetting them keeps a long run's list short
        self._timers = [t for t in self._timers if t.time >= now and not t.cancelled]
        timer = self.sim.after(delay_ns, fn, *args)
        self._timers.append(timer)
        return timer

    def stop(self, code: int = 0) -> None:
        """The daemon exits (SIGTERM, a crash, a revoked lease): it stops renewing and
        watching; what it programmed stays in the kernel, except a TUN device, which
        goes away with its descriptor."""
        if not self.running:
            return
        if self._watch is not None:
            self._watch.cancel()
        for t in self._timers:
            t.cancel()
        if self.backend is not None:
            self.backend.stop()
        self.exit(code)

    def crossing(self, pid: int, dev, frame, text: str) -> None:
        self.crossings[pid] += 1
        if frame is not None and self.sim.observers:
            self.ns.note(dev, frame, f"{text} (user/kernel copy {self.crossings[pid]} by flanneld)")
