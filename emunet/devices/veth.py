"""Virtual Ethernet pairs (``drivers/net/veth.c``)."""
from emunet.devices.base import NETDEV_CHANGE, NetDevice
from emunet.sim import US
from emunet.wire.ethernet import eth_random_addr


class Veth(NetDevice):
    """One end of a veth pair: what is sent on one end is received on the other,
    even when the two ends live in different namespaces."""

    kind = "veth"
    #: the time a frame takes to cross the pair (a softirq hand-off, not a wire)
    delay_ns = 1 * US

    def __init__(self, sim, name, mac=None, mtu=1500):
        super().__init__(sim, name, mac, mtu)
        self.peer = None
        self.qdisc = "noqueue"

    @property
    def carrier(self) -> bool:
        return self.admin_up and self.peer is not None and self.peer.admin_up

    def set_up(self) -> "Veth":
        super().set_up()
        if self.peer is not None:
            self.peer.notify(NETDEV_CHANGE)   # veth_open: netif_carrier_on(peer)
        return self

    def set_down(self) -> "Veth":
        super().set_down()
        if self.peer is not None:
            self.peer.notify(NETDEV_CHANGE)   # veth_close: netif_carrier_off(peer)
        return self

    def peer_name(self) -> str:
        return f"@if{self.peer.ifindex}" if self.peer is not None else ""

    def ndo_start_xmit(self, frame) -> None:
        self.sim.post(self.delay_ns, self.peer.receive, frame)


def veth_pair(sim, name: str, peer_name: str, mac=None, peer_mac=None, mtu: int = 1500):
    """Create a veth pair (``ip link add NAME type veth peer name PEER``).

    MACs not given are random, locally administered, as ``eth_hw_addr_random`` makes them,
    drawn from the simulator's seeded RNG."""
    a = Veth(sim, name, mac if mac is not None else eth_random_addr(sim.rng), mtu)
    b = Veth(sim, peer_name, peer_mac if peer_mac is not None else eth_random_addr(sim.rng), mtu)
    a.peer, b.peer = b, a
    return a, b

