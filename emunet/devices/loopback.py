"""The loopback device ``lo`` (``drivers/net/loopback.c``)."""
from emunet.devices.base import NetDevice
from emunet.sim import US


class Loopback(NetDevice):
    """Every frame sent on ``lo`` is received on ``lo``.  Its MAC is all zeros, as
    tcpdump on lo shows, and it does no ARP."""

    kind = "loopback"
    broadcast = False
    multicast = False
    noarp = True
    loopback = True
    delay_ns = 1 * US

    def __init__(self, sim, name: str = "lo"):
        super().__init__(sim, name, b"\0" * 6, mtu=65536)

    def ndo_start_xmit(self, frame) -> None:
        self.sim.post(self.delay_ns, self.receive, frame)
