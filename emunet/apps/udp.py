"""Small UDP programs: an echo server and a one-shot sender."""
import os

from emunet.apps.base import Process


class UdpEchoServer(Process):
    """Answers every datagram with the same bytes (like ``socat UDP-LISTEN:7,fork PIPE``)."""

    name = "udp-echo"

    def __init__(self, port: int = 7, bind: str = "0.0.0.0"):
        super().__init__()
        self.port = port
        self.bind_ip = bind
        self.sock = None
        self.served = 0

    def start(self) -> None:
        self.sock = self.ns.udp.socket()
        try:
            self.sock.bind((self.bind_ip, self.port))
        except OSError as e:
            self.eprint(f"udp-echo: {e.strerror}")
            self.exit(1)
            return
        self.sock.on_recv = self._echo

    def _echo(self, data: bytes, addr) -> None:
        self.served += 1
        self.sock.sendto(data, addr)

    def on_exit(self) -> None:
        if self.sock is not None:
            self.sock.close()


class UdpSender(Process):
    """Sends ``count`` datagrams of ``data`` to ``dst:dport`` and records the replies."""

    name = "udp-send"

    def __init__(self, dst: str, dport: int, data: bytes, count: int = 1, sport: int = 0,
                 interval: float = 1.0):
        super().__init__()
        self.dst = dst
        self.dport = dport
        self.data = data
        self.count = count
        self.sport = sport
        self.interval_ns = round(interval * 1e9)
        self.sent = 0
        self.replies = []
        self.errors = []
        self.pids = []
        self.sock = None

    def start(self) -> None:
        self.sock = self.ns.udp.socket()
        if self.sport:
            self.sock.bind(("0.0.0.0", self.sport))
        self.sock.connect((self.dst, self.dport))
        self.sock.on_recv = lambda data, addr: self.replies.append((data, addr))
        self.sock.on_error = lambda err, origin: self.errors.append((err, origin))
        self._send()

    def _send(self) -> None:
        pid = self.sim.new_pid()
        self.pids.append(pid)
        try:
            self.sock.send(self.data, pid=pid)
        except OSError as e:
            self.eprint(f"udp-send: {os.strerror(e.errno)}")
            self.exit(1)
            return
        self.sent += 1
        if self.sent < self.count:
            self.sim.after(self.interval_ns, self._send)
        else:
            self.exit(0)
