"""flannel's subnet leases: keys, values, allocation and watch events (``pkg/subnet/``).

A node's lease lives at ``/coreos.com/network/subnets/100.96.1.0-24``
(``MakeSubnetKey``), under an etcd lease of 24 h (``subnetTTL``); its value is
the JSON of the lease attributes (``LeaseAttrs``):
``{"PublicIP":"10.168.0.2","BackendType":"vxlan","BackendData":{"VtepMAC":"..."}}``
(the seed's era, flannel ≤ v0.14; since v0.15 leases also carry
``"PublicIPv6":null`` and vxlan's BackendData a ``"VNI"``).  The udp backend's
attributes carry the PublicIP only.

A node without a lease picks at random among the first 100 free subnets
(``allocateSubnet`` in ``pkg/subnet/etcd/local_manager.go``).  The lease
watcher (``watch.go``) turns etcd events into :data:`ADDED` (a lease appeared
or changed) and :data:`REMOVED` (deleted or expired) events for the backend.
"""
import functools
import ipaddress
import json
import re

import attrs

from emunet.control.flannel.config import FlannelError, NetworkConfig
from emunet.control.gojson import go_json
from emunet.wire.ipv4 import ip_to_int

#: ``subnetTTL``: every lease is put under a 24 h etcd lease
SUBNET_TTL_S = 24 * 3600
#: ``raceRetries``: attempts at creating a lease key that another node may take first
RACE_RETRIES = 10
#: ``EventAdded`` and ``EventRemoved``
ADDED = "added"
REMOVED = "removed"
_SUBNET_KEY = re.compile(r"(\d+\.\d+\.\d+\.\d+)-(\d+)$")


def subnet_key(subnet: ipaddress.IPv4Network) -> str:
    """``MakeSubnetKey``: ``100.96.1.0-24``."""
    return f"{subnet.network_address}-{subnet.prefixlen}"


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
    def from_attrs(cls, subnet, attrs_: dict) -> "SubnetLease":
        """A new lease of ``subnet`` with the attributes a backend registers."""
        return cls(subnet, attrs_.get("PublicIP"), attrs_.get("BackendType", ""), attrs_.get("BackendData"))

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


def allocate_subnet(config: NetworkConfig, taken: set, rng) -> ipaddress.IPv4Network:
    """``allocateSubnet``: the first 100 free subnets from SubnetMin, one picked at random;
    ``taken`` holds the leased subnets as (network, prefix length) integers (hashing N
    IPv4Network objects per join is the slow part of a join to a large cluster)."""
    size = 1 << (32 - config.subnet_len)
    used = {net for net, plen in taken if plen == config.subnet_len}
    ip, top = int(config.subnet_min), int(config.subnet_max)
    free = []
    while ip <= top and len(free) < 100:
        if ip not in used:
            free.append(ip)
        ip += size
    if not free:
        raise FlannelError("failed to acquire lease: out of subnets")
    return ipaddress.IPv4Network((free[rng.randrange(len(free))], config.subnet_len))
