"""flanneld: subnet leases in etcd and the udp, vxlan and host-gw backends.

What flanneld does on a node, as its source has it (flannel-io/flannel, read
for this model: ``pkg/subnet/etcd/local_manager.go``, ``registry.go``,
``pkg/subnet/config.go``, ``subnet.go``, ``watch.go``, ``pkg/backend/udp/``
(``udp_amd64.go``, ``proxy_amd64.c``), ``pkg/backend/vxlan/`` (``vxlan.go``,
``device.go``, ``vxlan_network.go``), ``pkg/backend/hostgw/hostgw.go``,
``backend/route_network.go``, ``pkg/mac/mac.go``):

1. read the network config from ``/coreos.com/network/config``
   (``{"Network": "100.96.0.0/16", "SubnetLen": 24, "Backend": {"Type": "vxlan"}}``;
   SubnetLen defaults to 24, SubnetMin to the second subnet, SubnetMax to the
   last, the backend to ``udp``);
2. acquire a lease (``tryAcquireLease``): reuse the lease whose PublicIP is
   ours, else the previous subnet (``FLANNEL_SUBNET`` of an old subnet.env),
   else pick at random among the first 100 free subnets; claim it with a
   transaction (create-if-absent) under a lease of 24 h (``subnetTTL``) at
   ``/coreos.com/network/subnets/100.96.1.0-24``, the value the JSON of the
   lease attributes: ``{"PublicIP":"10.168.0.2","BackendType":"vxlan",
   "BackendData":{"VtepMAC":"..."}}`` (the seed's era, flannel ≤ v0.14; since
   v0.15 leases also carry ``"PublicIPv6":null`` and vxlan's BackendData a
   ``"VNI"``).  The udp backend's attributes carry the PublicIP only;
3. renew the lease an hour before it expires (``--subnet-lease-renew-margin``
   60 min) by putting it again under a new 24 h lease; if its own lease is
   deleted, flanneld exits: "Lease has been revoked. Shutting down daemon.";
4. write ``/run/flannel/subnet.env``: FLANNEL_NETWORK, FLANNEL_SUBNET (the
   subnet's first address), FLANNEL_MTU, FLANNEL_IPMASQ;
5. list the leases, then watch ``subnets/``: for every other node's lease
   that appears or changes (EventAdded) or disappears (EventRemoved,
   expiry included), the backend (re)programs the kernel.

The backends:

* **udp**: the TUN ``flannel0`` (MTU eth0 − 28) gets the subnet's first
  address with the *network's* prefix (``100.96.1.0/16``), whose kernel
  prefix route ``100.96.0.0/16 dev flannel0 proto kernel scope link src
  100.96.1.0`` sends every pod packet for another node to flanneld.  The
  proxy (``proxy_amd64.c``) reads a packet from the TUN, finds the subnet
  whose lease holds the destination (none: an ICMP net unreachable, TTL 8,
  written back into the TUN, never about an ICMP packet; its source is the
  TUN's own address, so the node's kernel drops it as a martian source and
  the sender never hears of it), decrements the
  TTL (a zero TTL discards it) and ``sendto()``s the bare packet from its
  socket bound to ``<PublicIP>:8285`` to ``<remote PublicIP>:8285``; the
  receiver decrements the TTL again and ``write()``s it into its TUN.  Four
  user/kernel copies per packet between the two nodes, three on the sending
  node if the application's own ``send()`` is counted, as the seed counts;
* **vxlan**: ``flannel.1`` (VNI 1, dstport 8472, local = the node's IP, dev
  eth0, nolearning, a random locally administered MAC, MTU eth0 − 50,
  address ``<subnet>/32``); per remote lease the PERMANENT neighbour
  ``<subnet .0> lladdr <VtepMAC>``, the FDB entry ``<VtepMAC> dst <PublicIP>
  self permanent``, and the route ``<subnet> via <subnet .0> dev flannel.1
  onlink``; removal deletes all three;
* **host-gw**: per remote lease the route ``<subnet> via <PublicIP> dev eth0``;
  the kernel refuses a gateway that is not on a directly connected network
  (ENETUNREACH, "Nexthop has invalid gateway"), and flanneld logs
  ``Error adding route to <subnet> via <gw> dev index <n>: network is
  unreachable`` (``backend/route_network.go``).  Every 10 s it re-adds routes
  that went missing (silently when the kernel still refuses).

iptables masquerade rules (``--ip-masq``) are not modelled (no netfilter).
"""
import abc
import datetime
import functools
import ipaddress
import json
import re
import struct
from collections import Counter

import attrs

from emunet.apps.base import Process
from emunet.control.gojson import go_json
from emunet.devices.tun import Tun
from emunet.devices.vxlan import Vxlan
from emunet.sim import S
from emunet.stack.udp import UdpSocket
from emunet.wire.checksum import internet_checksum
from emunet.wire.ethernet import eth_random_addr, mac_to_bytes, mac_to_str
from emunet.wire.ipv4 import IPPROTO_ICMP, decrease_ttl, int_to_ip, ip_to_int
from emunet.wire.vxlan import LINUX_VXLAN_PORT, UDP_ENCAP_OVERHEAD, VXLAN_OVERHEAD

PREFIX = "/coreos.com/network"
SUBNET_TTL_S = 24 * 3600
RENEW_MARGIN_MIN = 60
RACE_RETRIES = 10
ROUTE_CHECK_S = 10
UDP_DEFAULT_PORT = 8285
_SUBNET_KEY = re.compile(r"(\d+\.\d+\.\d+\.\d+)-(\d+)$")

ADDED = "added"
REMOVED = "removed"


class FlannelError(Exception):
    """An error flanneld reports and exits on."""


# -- configuration and leases --------------------------------------------------
@attrs.define
class NetworkConfig:
    """``subnet.Config`` after ``ParseConfig`` and ``CheckNetworkConfig``."""

    network: ipaddress.IPv4Network
    subnet_len: int
    subnet_min: ipaddress.IPv4Address
    subnet_max: ipaddress.IPv4Address
    backend_type: str
    backend: dict

    @classmethod
    def parse(cls, text: str) -> "NetworkConfig":
        raw = json.loads(text)
        if "Network" not in raw:
            raise FlannelError("please define a correct Network parameter in the flannel config")
        net = ipaddress.IPv4Network(raw["Network"])
        backend = raw.get("Backend") or {}
        btype = backend.get("Type", "udp") if backend else "udp"
        slen = int(raw.get("SubnetLen", 0))
        if slen:
            if slen > 30:
                raise FlannelError("SubnetLen must be less than /31")
            if slen < net.prefixlen + 2:
                raise FlannelError("network must be able to accommodate at least four subnets")
        elif net.prefixlen > 28:
            raise FlannelError("network is too small. Minimum useful network prefix is /28")
        elif net.prefixlen <= 22:
            slen = 24
        else:
            slen = net.prefixlen + 2
        size = 1 << (32 - slen)
        smin = ipaddress.IPv4Address(raw["SubnetMin"]) if raw.get("SubnetMin") else \
            net.network_address + size
        smax = ipaddress.IPv4Address(raw["SubnetMax"]) if raw.get("SubnetMax") else \
            net.broadcast_address + 1 - size
        for what, a in (("SubnetMin", smin), ("SubnetMax", smax)):
            if a not in net:
                raise FlannelError(f"{what} is not in the range of the Network")
            if int(a) % size:
                raise FlannelError(f"{what} is not on a SubnetLen boundary: {a}")
        return cls(net, slen, smin, smax, btype, backend)


def subnet_key(subnet: ipaddress.IPv4Network) -> str:
    """``MakeSubnetKey``: ``100.96.1.0-24``."""
    return f"{subnet.network_address}-{subnet.prefixlen}"


@functools.lru_cache(maxsize=4096)
def _vtep_mac(text):
    """A lease's ``VtepMAC`` as bytes and as Go prints it, parsed once for all the nodes
    that program it."""
    mac = mac_to_bytes(text)
    return mac, mac_to_str(mac)


@functools.lru_cache(maxsize=None)
def parse_subnet_key(key: str):
    """``ParseSubnetKey``: the subnet a key names (one shared object per key)."""
    m = _SUBNET_KEY.search(key)
    return ipaddress.IPv4Network(f"{m.group(1)}/{m.group(2)}") if m else None


@attrs.define(eq=False)
class SubnetLease:
    """``subnet.Lease``: a subnet and the attributes its node published."""

    subnet: ipaddress.IPv4Network
    public_ip: str
    backend_type: str = ""
    backend_data: dict = None
    expiration_ns: int = 0
    #: derived once, for the backends' hot loop over N leases
    public_ip_int: int = attrs.field(init=False, default=0)
    gateway: str = attrs.field(init=False, default="")
    gateway_int: int = attrs.field(init=False, default=0)
    #: ``str(subnet)``, for the backends' log lines
    subnet_text: str = attrs.field(init=False, default="")

    def __attrs_post_init__(self):
        self.public_ip_int = ip_to_int(self.public_ip) if self.public_ip else 0
        self.gateway_int = int(self.subnet.network_address)
        self.gateway = str(self.subnet.network_address)
        self.subnet_text = f"{self.gateway}/{self.subnet.prefixlen}"

    @property
    def attrs(self) -> dict:
        """``LeaseAttrs`` in the order Go marshals them (omitempty fields left out)."""
        out = {"PublicIP": self.public_ip}
        if self.backend_type:
            out["BackendType"] = self.backend_type
        if self.backend_data is not None:
            out["BackendData"] = self.backend_data
        return out

    @property
    def key(self) -> str:
        return subnet_key(self.subnet)

    @property
    def value(self) -> str:
        return go_json(self.attrs)

    @classmethod
    def from_kv(cls, subnet, value: str, expiration_ns: int = 0) -> "SubnetLease":
        a = json.loads(value)
        return cls(subnet, a.get("PublicIP", "0.0.0.0"), a.get("BackendType", ""),
                   a.get("BackendData"), expiration_ns)

    @classmethod
    def decode(cls, store, kv) -> "SubnetLease":
        """The lease a stored key holds, decoded once per stored version (every watcher of
        that version shares it; nobody mutates a lease it did not create)."""
        lease = kv.decoded
        if lease is None:
            sn = parse_subnet_key(kv.key)
            if sn is None:
                return None
            owner = store.leases.get(kv.lease)
            lease = cls.from_kv(sn, kv.value, owner.expires_ns if owner else 0)
            kv.decoded = lease
        return lease


# -- the daemon -----------------------------------------------------------------
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
                 hashrnd: int = None):
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
        self.write_subnet_file()
        self.info("main.go", "Running backend.")
        self._start_watch()
        self._schedule_renew()
        self.backend.run()

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

    def _compatible(self, sn) -> bool:
        c = self.config
        return c.subnet_min <= sn.network_address <= c.subnet_max and sn.prefixlen == c.subnet_len

    def acquire_lease(self, attrs_: dict) -> SubnetLease:
        """``AcquireLease`` → ``tryAcquireLease`` (up to ``raceRetries`` times)."""
        for _ in range(RACE_RETRIES):
            lease = self._try_acquire(attrs_)
            if lease is not None:
                self.lease = lease
                self.info("main.go", f"Subnet lease acquired: {lease.subnet}")
                return lease
        raise FlannelError("failed to acquire lease: Max retries reached trying to acquire a subnet")

    def _new_lease(self, sn, attrs_) -> SubnetLease:
        return SubnetLease(sn, attrs_.get("PublicIP"), attrs_.get("BackendType", ""),
                           attrs_.get("BackendData"))

    def _try_acquire(self, attrs_: dict):
        leases = self.list_leases()
        mine = next((l for l in leases if l.public_ip == self.public_ip), None)
        if mine is not None:
            if self._compatible(mine.subnet):
                self.info("local_manager.go", f"Found lease ({mine.subnet}) for current IP "
                                              f"({self.public_ip}), reusing")
                lease = self._new_lease(mine.subnet, attrs_)
                self._put_lease(lease)
                return lease
            self.info("local_manager.go", f"Found lease ({mine.subnet}) for current IP ({self.public_ip}) "
                                          f"but not compatible with current config, deleting")
            self.store.delete(self._subnets_prefix() + mine.key)
        sn = None
        # subnets as (network, length) integers: hashing N IPv4Network objects per join is
        # the slow part of a join to a large cluster
        taken = {(l.gateway_int, l.subnet.prefixlen) for l in leases}
        prev = self.previous_subnet
        if prev is not None and (int(prev.network_address), prev.prefixlen) not in taken:
            if self._compatible(self.previous_subnet):
                self.info("local_manager.go", f"Found previously leased subnet ({self.previous_subnet}), reusing")
                sn = self.previous_subnet
            else:
                self.error("local_manager.go", f"Found previously leased subnet ({self.previous_subnet}) that "
                                               f"is not compatible with the Etcd network config, ignoring")
        if sn is None:
            sn = self._allocate(taken)
        lease = self._new_lease(sn, attrs_)
        etcd_lease = self.store.grant(self.subnet_ttl_s)
        if not self.store.create(self._subnets_prefix() + lease.key, lease.value, etcd_lease.id):
            self.store.revoke(etcd_lease.id)
            return None
        self.etcd_lease_id = etcd_lease.id
        lease.expiration_ns = etcd_lease.expires_ns
        self.info("local_manager.go", f"Allocated lease ({sn}) to current node ({self.public_ip}) ")
        return lease

    def _allocate(self, taken: set):
        """``allocateSubnet``: the first 100 free subnets from SubnetMin, one picked at random;
        ``taken`` holds the leased subnets as (network, prefix length) integers."""
        c = self.config
        self.info("local_manager.go", f"Picking subnet in range {c.subnet_min} ... {c.subnet_max}")
        size = 1 << (32 - c.subnet_len)
        used = {net for net, plen in taken if plen == c.subnet_len}
        ip, top = int(c.subnet_min), int(c.subnet_max)
        free = []
        while ip <= top and len(free) < 100:
            if ip not in used:
                free.append(ip)
            ip += size
        if not free:
            raise FlannelError("failed to acquire lease: out of subnets")
        return ipaddress.IPv4Network((free[self.sim.rng.randrange(len(free))], c.subnet_len))

    def _put_lease(self, lease: SubnetLease) -> None:
        """``updateSubnet``: a fresh 24 h lease, the key put under it."""
        etcd_lease = self.store.grant(self.subnet_ttl_s)
        self.store.put(self._subnets_prefix() + lease.key, lease.value, etcd_lease.id)
        self.etcd_lease_id = etcd_lease.id
        lease.expiration_ns = etcd_lease.expires_ns

    def _schedule_renew(self) -> None:
        delay = max(0, self.lease.expiration_ns - self.renew_margin_ns - self.sim.now)
        self._timers.append(self.sim.after(delay, self._renew))

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

    # -- stop ----------------------------------------------------------------
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


# -- backends ---------------------------------------------------------------------
class Backend(abc.ABC):
    """What every flannel backend does (``backend.Backend`` / ``backend.Network``): register
    the node's lease with its attributes, then turn lease events into the datapath."""

    type = ""

    def __init__(self, d: Flanneld):
        self.d = d
        self.ns = d.ns
        self.sim = d.sim
        self.cfg = dict(d.config.backend)

    def mtu(self) -> int:
        return self.d.iface.mtu

    @abc.abstractmethod
    def register(self) -> None:
        """Create the backend's devices and acquire the lease (``RegisterNetwork``)."""

    def run(self) -> None:
        pass

    @abc.abstractmethod
    def handle(self, batch) -> None:
        """Program the datapath for a batch of (event type, lease) (``handleSubnetEvents``)."""

    def stop(self) -> None:
        pass


class _ProxySocket(UdpSocket):
    """flanneld's UDP socket: ``recv()`` hands the datagram and its packet id to the proxy."""

    def __init__(self, layer, backend):
        super().__init__(layer)
        self.backend = backend

    def deliver(self, data: bytes, src: int, sport: int, frame) -> None:
        self.backend.udp_to_tun(data, frame)


class UdpBackend(Backend):
    """The udp backend: flannel0 and the user-space proxy (``proxy_amd64.c``)."""

    type = "udp"

    def mtu(self) -> int:
        return self.d.iface.mtu - UDP_ENCAP_OVERHEAD

    def register(self) -> None:
        d = self.d
        self.port = int(self.cfg.get("Port") or UDP_DEFAULT_PORT)
        lease = d.acquire_lease({"PublicIP": d.public_ip})
        net = d.config.network
        # the tunnel's address: the subnet's first address with the whole network's prefix
        self.tun_net = f"{lease.subnet.network_address}/{net.prefixlen}"
        self.tun_addr = lease.subnet.network_address.packed
        i = 0
        while f"flannel{i}" in self.ns.devices:
            i += 1
        tun = Tun(self.sim, f"flannel{i}", mtu=self.mtu())
        self.ns.add_device(tun)
        tun.attach(self.tun_to_udp, owner=d)
        self.ns.addr_add(tun, self.tun_net, broadcast=False)
        tun.set_up()
        try:
            self.ns.route_add(str(net), dev=tun, scope="universe")
        except FileExistsError:
            pass   # the kernel made the prefix route already: EEXIST is ignored
        self.tun = tun
        self.sock = _ProxySocket(self.ns.udp, self)
        try:
            self.sock.bind((d.iface_addr, self.port))
        except OSError as e:
            raise FlannelError(f"failed to start listening on UDP socket: {e.strerror}") from None
        self.routes = {}       # subnet network int -> (next hop ip int, port)
        self.mask = (0xFFFFFFFF << (32 - d.config.subnet_len)) & 0xFFFFFFFF
        self.forwarded = 0
        self.received = 0

    def handle(self, batch) -> None:
        for typ, lease in batch:
            key = int(lease.subnet.network_address)
            if typ == ADDED:
                self.d.info("udp_network.go", f"Subnet added: {lease.subnet}")
                self.routes[key] = (lease.public_ip_int, self.port)
            else:
                self.d.info("udp_network.go", f"Subnet removed: {lease.subnet}")
                self.routes.pop(key, None)

    # the proxy's two directions -------------------------------------------------
    def tun_to_udp(self, frame) -> None:
        d = self.d
        if not d.running:
            return
        d.crossing(frame.pid, self.tun, frame, f"flanneld read() the packet from {self.tun.name}")
        pkt = bytearray(frame.data)
        if len(pkt) < 20:
            d.error("proxy.c", f"TUN recv packet too small: {len(pkt)} bytes")
            return
        dst = int.from_bytes(pkt[16:20], "big")
        nh = self.routes.get(dst & self.mask)
        if nh is None:
            self.ns.count_drop("IP_NOROUTE", self.tun, frame,
                               f"flanneld: no lease holds {int_to_ip(dst)} (proxy find_route failed)")
            self._net_unreachable(bytes(pkt), frame.pid)
            return
        if pkt[8] <= 1:
            self.ns.count_drop("TTL_EXPIRED", self.tun, frame,
                               f"flanneld: Discarding IP fragment {int_to_ip(int.from_bytes(pkt[12:16], 'big'))}"
                               f" -> {int_to_ip(dst)} due to zero TTL")
            return
        decrease_ttl(pkt, 0)
        self.forwarded += 1
        d.crossings[frame.pid] += 1   # sendto(): user → kernel
        if self.sim.observers:
            self.ns.note(self.tun, frame, f"flanneld: lease {int_to_ip(dst & self.mask)}/{self.d.config.subnet_len}"
                                          f" → sendto {int_to_ip(nh[0])}:{nh[1]} (TTL − 1; user/kernel copy "
                                          f"{d.crossings[frame.pid]} by flanneld)")
        try:
            self.sock.sendto(bytes(pkt), (int_to_ip(nh[0]), nh[1]), pid=frame.pid)
        except OSError as e:
            d.error("proxy.c", f"UDP send to {int_to_ip(nh[0])}:{nh[1]} failed: {e.strerror}")

    def udp_to_tun(self, data: bytes, frame) -> None:
        d = self.d
        if not d.running:
            return
        d.crossings[frame.pid] += 1   # recv(): kernel → user
        if len(data) < 20:
            d.error("proxy.c", f"UDP recv packet too small: {len(data)} bytes")
            return
        pkt = bytearray(data)
        if pkt[8] <= 1:
            self.ns.count_drop("TTL_EXPIRED", None, frame, "flanneld: zero TTL after decrement")
            return
        decrease_ttl(pkt, 0)
        self.received += 1
        d.crossings[frame.pid] += 1   # write(): user → kernel
        self.tun.write(bytes(pkt), frame.pid,
                       f"flanneld recv() from :{self.port} and write() into {self.tun.name} (TTL − 1; user/kernel "
                       f"copies {d.crossings[frame.pid] - 1} and {d.crossings[frame.pid]} by flanneld)")

    def _net_unreachable(self, offender: bytes, pid: int) -> None:
        """``send_net_unreachable``: ICMP type 3 code 0, TTL 8, from the tunnel address."""
        ihl = (offender[0] & 0x0F) * 4
        if ihl >= 20 + 40 or offender[9] == IPPROTO_ICMP:
            return
        if struct.unpack_from("!H", offender, 6)[0] & 0x1FFF:
            return
        quote = offender[:ihl + 8]
        icmp = bytearray(struct.pack("!BBHI", 3, 0, 0, 0) + quote)
        struct.pack_into("!H", icmp, 2, internet_checksum(icmp))
        total = 20 + len(icmp)
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 8, IPPROTO_ICMP, 0,
                                   self.tun_addr, offender[12:16]))
        struct.pack_into("!H", ip, 10, internet_checksum(ip))
        # the error is a new packet (its own identity), as the kernel's ICMP errors are
        epid = self.sim.new_pid()
        self.d.crossings[epid] += 1
        self.tun.write(bytes(ip + icmp), epid, f"flanneld: ICMP net unreachable written back into the "
                                               f"TUN (about packet #{pid})")

    def stop(self) -> None:
        # a TUN without TUNSETPERSIST disappears with the process's descriptor
        self.sock.close()
        self.tun.detach()
        if self.tun.ns is not None:
            self.ns.remove_device(self.tun)


class VxlanBackend(Backend):
    """The vxlan backend: flannel.<VNI> and, per remote lease, neighbour + FDB + route."""

    type = "vxlan"

    def mtu(self) -> int:
        return self.d.iface.mtu - VXLAN_OVERHEAD

    def register(self) -> None:
        d = self.d
        vni = int(self.cfg.get("VNI", 1))
        port = int(self.cfg.get("Port", 0))
        self.direct_routing = bool(self.cfg.get("DirectRouting", False))
        learning = bool(self.cfg.get("Learning", False))
        gbp = bool(self.cfg.get("GBP", False))
        d.info("vxlan.go", f"VXLAN config: VNI={vni} Port={port} GBP={str(gbp).lower()} "
                           f"Learning={str(learning).lower()} DirectRouting={str(self.direct_routing).lower()}")
        name = f"flannel.{vni}"
        mac = eth_random_addr(self.sim.rng)     # pkg/mac NewHardwareAddr: random, local, unicast
        dev = Vxlan(self.sim, name, vni, d.iface_addr, lower=d.iface, mac=mac,
                    dstport=port or LINUX_VXLAN_PORT, learning=learning,
                    mtu=d.iface.mtu - VXLAN_OVERHEAD, hashrnd=d.hashrnd)
        if name in self.ns.devices:
            raise FlannelError(f"failed to create vxlan interface: {name} exists")
        self.ns.add_device(dev)
        self.dev = dev
        lease = d.acquire_lease({"PublicIP": d.public_ip, "BackendType": "vxlan",
                                 "BackendData": {"VtepMAC": mac_to_str(mac)}})
        # a /32, so that no broadcast or prefix route is created
        self.ns.addr_add(dev, f"{lease.subnet.network_address}/32")
        try:
            dev.set_up()
        except OSError as e:
            raise FlannelError(f"failed to set interface {name} to UP state: {e}") from None

    def _direct(self, lease) -> bool:
        if not self.direct_routing:
            return False
        gw = ip_to_int(lease.public_ip)
        return any(a.network.prefixlen < 32 and (gw ^ int(a.ip)) >> (32 - a.prefixlen) == 0
                   for a in self.ns.addresses(self.d.iface))

    def handle(self, batch) -> None:
        d, ns, dev = self.d, self.ns, self.dev
        for typ, lease in batch:
            sn = lease.subnet
            if lease.backend_type != "vxlan":
                d.warning("vxlan_network.go", f"ignoring non-vxlan subnet({sn}): type={lease.backend_type}")
                continue
            try:
                vtep_mac, vtep_text = _vtep_mac((lease.backend_data or {})["VtepMAC"])
            except (KeyError, ValueError, TypeError) as e:
                d.error("vxlan_network.go", f"error decoding subnet lease JSON: {e}")
                continue
            gw = lease.gateway
            if typ == ADDED:
                if self._direct(lease):
                    d.verbose(2, "vxlan_network.go", f"Adding direct route to subnet: {sn} PublicIP: "
                                                     f"{lease.public_ip}")
                    try:
                        ns.route_add(str(sn), via=lease.public_ip, replace=True)
                    except ValueError as e:
                        d.error("vxlan_network.go", f"Error adding route to {sn} via {lease.public_ip}: {e}")
                    continue
                d.verbose(2, "vxlan_network.go", f"adding subnet: {lease.subnet_text} PublicIP: "
                                                 f"{lease.public_ip} VtepMAC: {vtep_text}")
                ns.neigh.add_permanent(dev, lease.gateway_int, vtep_mac)
                dev.fdb_add(vtep_mac, lease.public_ip_int)
                # last, or the kernel would ARP for the gateway
                ns.route_add(sn, dev=dev, via=gw, onlink=True, replace=True)
            else:
                d.verbose(2, "vxlan_network.go", f"removing subnet: {lease.subnet_text} PublicIP: "
                                                 f"{lease.public_ip} VtepMAC: {vtep_text}")
                try:
                    ns.neigh.delete(dev, lease.gateway_int)
                except LookupError as e:
                    d.error("vxlan_network.go", f"DelARP failed: {e}")
                try:
                    dev.fdb_del(vtep_mac)
                except LookupError as e:
                    d.error("vxlan_network.go", f"DelFDB failed: {e}")
                try:
                    ns.route_del(sn, dev=dev)
                except LookupError as e:
                    d.error("vxlan_network.go", f"failed to delete vxlanRoute ({sn} -> {gw}): {e}")


class HostGwBackend(Backend):
    """The host-gw backend: a route per remote subnet via the remote node's IP."""

    type = "host-gw"

    def register(self) -> None:
        d = self.d
        if d.public_ip != d.iface_addr:
            raise FlannelError("your PublicIP differs from interface IP, meaning that probably you're on a "
                               "NAT, which is not supported by host-gw backend")
        d.acquire_lease({"PublicIP": d.public_ip, "BackendType": "host-gw"})
        self.routes = []       # (subnet, gateway): the routes it wants (n.routes)
        self.refused = {}      # subnet -> the error flanneld logged

    def run(self) -> None:
        self.d._timers.append(self.sim.after(ROUTE_CHECK_S * S, self._route_check))

    def _existing(self, sn):
        return [r for r in self.ns.fib.main.routes() if r.dst == sn]

    def handle(self, batch) -> None:
        d, ns = self.d, self.ns
        ifindex = d.iface.ifindex
        for typ, lease in batch:
            sn = lease.subnet
            if typ == ADDED:
                d.info("route_network.go", f"Subnet added: {sn} via {lease.public_ip}")
                if lease.backend_type != "host-gw":
                    d.warning("route_network.go", f"Ignoring non-host-gw subnet: type={lease.backend_type}")
                    continue
                want = (sn, lease.public_ip)
                if want not in self.routes:
                    self.routes.append(want)
                existing = self._existing(sn)
                if existing and not self._equal(existing[0], want):
                    old = existing[0]
                    d.warning("route_network.go", f"Replacing existing route to {sn} via {old.via} dev index "
                                                  f"{old.dev.ifindex if old.dev else 0} with {sn} via "
                                                  f"{lease.public_ip} dev index {ifindex}.")
                    ns.route_del(str(sn), dev=old.dev)
                    existing = []
                if existing:
                    d.info("route_network.go", f"Route to {sn} via {lease.public_ip} dev index {ifindex} "
                                               f"already exists, skipping.")
                    continue
                self._add(sn, lease.public_ip, log=True)
            else:
                d.info("route_network.go", f"Subnet removed: {sn}")
                if lease.backend_type and lease.backend_type != "host-gw":
                    d.warning("route_network.go", f"Ignoring non-host-gw subnet: type={lease.backend_type}")
                    continue
                self.routes = [w for w in self.routes if w[0] != sn]
                self.refused.pop(sn, None)
                try:
                    ns.route_del(str(sn), dev=d.iface)
                except LookupError:
                    d.error("route_network.go", f"Error deleting route to {sn}: no such process")

    def _equal(self, route, want) -> bool:
        return route.via == want[1] and route.dev is self.d.iface

    def _add(self, sn, gw: str, log: bool) -> bool:
        d = self.d
        try:
            self.ns.route_add(str(sn), via=gw, dev=d.iface)
        except ValueError:
            # the kernel: ENETUNREACH, extack "Nexthop has invalid gateway"
            if log:
                text = (f"Error adding route to {sn} via {gw} dev index {d.iface.ifindex}: "
                        f"network is unreachable")
                self.refused[sn] = text
                d.error("route_network.go", text)
            return False
        self.refused.pop(sn, None)
        return True

    def _route_check(self) -> None:
        """``checkSubnetExistInRoutes``: re-add wanted routes that are missing."""
        if not self.d.running:
            return
        for sn, gw in list(self.routes):
            if not any(self._equal(r, (sn, gw)) for r in self._existing(sn)):
                if self._add(sn, gw, log=False):
                    self.d.info("route_network.go", f"Route recovered {sn} : {gw}")
        self.d._timers.append(self.sim.after(ROUTE_CHECK_S * S, self._route_check))


BACKENDS = {"udp": UdpBackend, "vxlan": VxlanBackend, "host-gw": HostGwBackend}


def network_config_json(network: str, backend: str = "vxlan", subnet_len: int = 24, **extra) -> str:
    """The value an operator puts at ``/coreos.com/network/config``."""
    cfg = {"Network": network, "SubnetLen": subnet_len}
    for k, v in extra.items():
        if v is not None:
            cfg[k] = v
    cfg["Backend"] = {"Type": backend} if isinstance(backend, str) else backend
    return json.dumps(cfg)


__all__ = ["Flanneld", "NetworkConfig", "SubnetLease", "FlannelError", "UdpBackend", "VxlanBackend",
           "HostGwBackend", "BACKENDS", "PREFIX", "SUBNET_TTL_S", "subnet_key", "parse_subnet_key",
           "network_config_json"]
