"""The baseline: the same model, but every hop dissects and rebuilds the frame with Scapy,
as a datapath written with Scapy packets between hops would."""
import contextlib

from emunet.devices.base import NetDevice
from emunet.wire.frame import LINKTYPE_RAW


@contextlib.contextmanager
def scapy_per_hop():
    """Within this block every ``NetDevice.receive`` goes through a Scapy dissect and rebuild.

    Scapy is imported on entry, so that a timing taken inside the block measures the
    hops, not the import."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Ether

    def rebuild(data: bytes, linktype: int) -> bytes:
        pkt = IP(data) if linktype == LINKTYPE_RAW else Ether(data)
        ip = pkt.getlayer(IP)
        if ip is not None:
            del ip.chksum  # what a hop that touches the header (TTL, NAT) must do
        return bytes(pkt)

    original = NetDevice.receive

    def receive(self, frame):
        original(self, frame.derive(rebuild(frame.data, frame.linktype)))

    NetDevice.receive = receive
    try:
        yield
    finally:
        NetDevice.receive = original
