"""``calico-ipam`` (``libcalico-go/lib/ipam``): a pool is cut into blocks (``blockSize``, 26 by
default; the seed gives each node a /24); a node claims a block when it first needs an
address and hands addresses out of it, lowest first.  Real Calico starts its search for a
free block at a random place in the pool; here blocks are taken in order (or named by the
caller), so that addresses are predictable.  Blocks and their host affinities are written
to the datastore as Calico writes them (``/calico/ipam/v2/assignment/ipv4/block/10.20.0.0-24``,
``/calico/ipam/v2/host/<node>/ipv4/block/...``).
"""
import ipaddress

import attrs

from emunet.control.calico.datastore import IPAM, IpPool
from emunet.control.etcd import EtcdStore
from emunet.control.gojson import go_json


def block_key(cidr: ipaddress.IPv4Network) -> str:
    return f"{cidr.network_address}-{cidr.prefixlen}"


@attrs.define(eq=False)
class Block:
    """An IPAM block (``AllocationBlock``): a CIDR, its host affinity, who holds which address."""

    cidr: ipaddress.IPv4Network
    host: str
    allocations: dict = attrs.Factory(dict)   # ordinal -> handle

    def value(self) -> str:
        size = self.cidr.num_addresses
        handles = []
        allocations = []
        for i in range(size):
            h = self.allocations.get(i)
            if h is None:
                allocations.append(None)
            else:
                if h not in handles:
                    handles.append(h)
                allocations.append(handles.index(h))
        return go_json({"cidr": str(self.cidr), "affinity": f"host:{self.host}", "allocations": allocations,
                        "unallocated": [i for i in range(size) if i not in self.allocations],
                        "attributes": [{"handle_id": h, "secondary": None} for h in handles],
                        "deleted": False})


class Ipam:
    """``calico-ipam``: blocks with host affinity; addresses lowest first within a block."""

    def __init__(self, store: EtcdStore, pool: IpPool):
        self.store = store
        self.pool = pool
        self.blocks = {}          # network -> Block
        self.by_ip = {}           # IPv4Address -> (Block, handle)

    def host_blocks(self, host: str) -> list:
        return [b for b in self.blocks.values() if b.host == host]

    def check_block(self, host: str, cidr: str) -> ipaddress.IPv4Network:
        """The block ``cidr`` if ``host`` may claim it; else ValueError naming why."""
        pool = self.pool.network
        net = ipaddress.IPv4Network(cidr)
        if net.prefixlen != self.pool.block_size or not net.subnet_of(pool):
            raise ValueError(f"block {net} for {host}: not a /{self.pool.block_size} block of pool "
                             f"{self.pool.name} ({pool})")
        owner = self.blocks.get(net)
        if owner is not None:
            raise ValueError(f"block {net} for {host}: already affine to {owner.host}")
        return net

    def claim_block(self, host: str, cidr: str = None) -> Block:
        """``claimAffineBlock``: the named block, or the first free one of the pool."""
        pool = self.pool.network
        if cidr is not None:
            net = self.check_block(host, cidr)
        else:
            net = next((n for n in pool.subnets(new_prefix=self.pool.block_size) if n not in self.blocks), None)
            if net is None:
                raise ValueError(f"IP pool {self.pool.name} ({pool}) has no free block left for {host}")
        b = Block(net, host)
        self.blocks[net] = b
        self.store.put(f"{IPAM}/host/{host}/ipv4/block/{block_key(net)}", go_json({"state": "confirmed",
                                                                                   "deleted": False}))
        self._write(b)
        return b

    def release_block(self, b: Block) -> None:
        """The block and its affinity deleted (IPAM garbage collection of a deleted node)."""
        del self.blocks[b.cidr]
        for ip in [ip for ip, (blk, _) in self.by_ip.items() if blk is b]:
            del self.by_ip[ip]
        self.store.delete(f"{IPAM}/host/{b.host}/ipv4/block/{block_key(b.cidr)}")
        self.store.delete(f"{IPAM}/assignment/ipv4/block/{block_key(b.cidr)}")

    def _write(self, b: Block) -> None:
        self.store.put(f"{IPAM}/assignment/ipv4/block/{block_key(b.cidr)}", b.value())

    def assign(self, host: str, handle: str, ip: str = None) -> ipaddress.IPv4Address:
        """``AutoAssign`` (or ``AssignIP`` when ``ip`` is given) for ``host``."""
        if ip is not None:
            addr = ipaddress.IPv4Address(ip)
            if addr in self.by_ip:
                raise ValueError(f"{addr} for {handle}: already assigned to {self.by_ip[addr][1]}")
            block = next((b for b in self.blocks.values() if addr in b.cidr), None)
            if block is None:
                if addr not in self.pool.network:
                    raise ValueError(f"{addr} for {handle}: not in IP pool {self.pool.name} ({self.pool.cidr})")
                base = ipaddress.IPv4Network(f"{addr}/{self.pool.block_size}", strict=False)
                block = self.claim_block(host, str(base))
            elif block.host != host:
                raise ValueError(f"{addr} for {handle}: its block {block.cidr} is affine to {block.host}, "
                                 f"not {host}")
        else:
            addr, block = None, None
            for b in self.host_blocks(host):
                free = next((i for i in range(b.cidr.num_addresses) if i not in b.allocations), None)
                if free is not None:
                    addr, block = b.cidr.network_address + free, b
                    break
            if block is None:
                block = self.claim_block(host)
                addr = block.cidr.network_address
        block.allocations[int(addr) - int(block.cidr.network_address)] = handle
        self.by_ip[addr] = (block, handle)
        self._write(block)
        return addr


__all__ = ["block_key", "Block", "Ipam"]
