"""``nc``: a byte stream over one TCP connection, for watching TCP itself (the MSS, path-MTU
discovery, the window) with no application protocol in the way.

* :class:`NcListen` is ``nc -l PORT``: it accepts one connection and reads until the peer
  closes, keeping what came (``received``), then closes its side;
* :class:`NcSend` is ``nc DST PORT < file``: it connects, writes ``data`` and closes once
  everything is written (``shutdown`` as nc does at end of input).
"""
import os

from emunet.apps.base import Process


class NcListen(Process):
    """``nc -l PORT``: one connection, read to the end."""

    name = "nc"

    def __init__(self, port: int, bind: str = "0.0.0.0"):
        super().__init__()
        self.port = port
        self.bind_ip = bind
        self.received = b""
        self.peer = None
        self.listener = None

    def start(self) -> None:
        sock = self.listener = self.ns.tcp.socket()
        sock.reuseaddr = True   # nc sets SO_REUSEADDR on its listening socket
        try:
            sock.bind((self.bind_ip, self.port))
            sock.listen(1)
        except OSError as e:
            self.eprint(f"nc: {os.strerror(e.errno)}")
            sock.close()
            self.exit(1)
            return
        sock.on_accept = self._accept

    def _accept(self, conn) -> None:
        self.listener.close()   # nc -l serves one connection
        self.peer = conn.raddr
        conn.on_data = self._data
        conn.on_close = lambda: self._closed(conn)

    def _data(self, data: bytes) -> None:
        self.received += data

    def _closed(self, conn) -> None:
        conn.close()
        self.exit(0)


class NcSend(Process):
    """``nc DST PORT < file``: connect, write ``data``, close."""

    name = "nc"

    def __init__(self, dst: str, port: int, data: bytes):
        super().__init__()
        self.dst = dst
        self.port = port
        self.data = data
        self.sock = None

    def start(self) -> None:
        sock = self.sock = self.ns.tcp.socket()
        sock.on_connected = self._connected
        sock.on_close = self._closed
        try:
            sock.connect((self.dst, self.port))
        except OSError as e:
            self.eprint(f"nc: connect to {self.dst} port {self.port} (tcp) failed: {os.strerror(e.errno)}")
            self.exit(1)

    def _connected(self) -> None:
        # the kernel sends what is queued, then the FIN, after the process has gone
        self.sock.send(self.data)
        self.sock.close()
        self.exit(0)

    def _closed(self) -> None:
        """The connection ended before it was made (refused, unreachable, timed out)."""
        err = self.sock.error or 111
        self.eprint(f"nc: connect to {self.dst} port {self.port} (tcp) failed: {os.strerror(err)}")
        self.exit(1)


__all__ = ["NcListen", "NcSend"]
