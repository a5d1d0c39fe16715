"""TCP (placeholder until the full state machine lands): every segment is answered
as by a closed port (``tcp_v4_send_reset``)."""
from emunet.wire.errors import Malformed
from emunet.wire.ipv4 import IPPROTO_TCP
from emunet.wire.tcp import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpView


class Tcp:
    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim

    def rcv(self, dev, frame, ipv, broadcast: bool) -> None:
        try:
            seg = TcpView.check(frame.data, ipv.payload_offset, ipv.end, ipv.src, ipv.dst)
        except Malformed as e:
            self.ns.count_drop(e.reason, dev, frame, e.detail)
            return
        if broadcast:
            self.ns.count_drop("OTHERHOST", dev, frame, "TCP to a broadcast address")
            return
        self.ns.count_drop("NO_SOCKET", dev, frame, f"no socket on TCP port {seg.dport}")
        self.send_reset(ipv, seg, frame.pid)

    def send_reset(self, ipv, seg, pid) -> None:
        flags = seg.flags
        if flags & TCP_RST:
            return
        plen = seg.end - seg.off - seg.data_offset
        if flags & TCP_ACK:
            seq, ack, rflags = seg.ack, 0, TCP_RST
        else:
            seq = 0
            ack = seg.seq + plen + (1 if flags & TCP_SYN else 0) + (1 if flags & TCP_FIN else 0)
            rflags = TCP_RST | TCP_ACK
        out = TcpView.emit(seg.dport, seg.sport, seq, ack, rflags, 0, b"", b"", ipv.dst, ipv.src)
        self.ns.ip_send(ipv.dst, ipv.src, IPPROTO_TCP, out, pid, df=True, ident=0,
                        note=f"tcp RST to closed port {seg.dport}")

    def err(self, src, sport, dst, dport, origin, type_, code) -> bool:
        return False
