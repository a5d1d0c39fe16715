"""Published ports: ``docker run -p``'s spec (go-connections ``nat.ParsePortSpec``), the
host-port allocator (libnetwork ``portallocator``) and the userland proxy
(``docker-proxy``, libnetwork ``cmd/proxy``), as Docker 20.10 has them.

What reaches a published port from *outside* the host is DNATed by the rules
:func:`~emunet.control.docker.iptables.forward` writes and never meets the proxy. The
proxy is for what the DNAT does not see: the host's own connections to 127.0.0.1 (the nat
OUTPUT jump leaves out 127.0.0.0/8) and containers' connections to a host address (the
nat ``DOCKER -i docker0 -j RETURN``). It listens on ``HOST_IP:HOST_PORT`` in the host's
namespace and, for each client, opens its own connection to the container.

Not modelled: a host with IPv6 also gets a second ``docker-proxy`` on ``[::]:HOST_PORT``
(20.10's implicit IPv6 binding; the model has no IPv6); port ranges (``8080-8081:80-81``);
SCTP.
"""
import ipaddress
import os

import attrs

from emunet.apps.base import Process

#: the protocols ``validateProto`` accepts; SCTP is refused by the model
PROTOCOLS = ("tcp", "udp")
#: ``UDPConnTrackTimeout``: an idle UDP client's backend socket is closed after this
UDP_CONNTRACK_TIMEOUT_NS = 90_000_000_000


@attrs.frozen
class PortBinding:
    """One published port (libnetwork ``types.PortBinding``): ``HOST_IP:HOST_PORT`` on
    the host to ``CONTAINER_IP:CONTAINER_PORT``, protocol ``proto``."""

    proto: str
    host_ip: str
    host_port: int
    container_ip: str = None
    container_port: int = 0

    def __str__(self) -> str:
        """As ``docker ps`` shows it: ``0.0.0.0:8080->80/tcp``."""
        return f"{self.host_ip}:{self.host_port}->{self.container_port}/{self.proto}"


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise ValueError(f"Invalid {what}: {text}")
    return int(text)


def parse_port_spec(spec: str) -> PortBinding:
    """``nat.ParsePortSpec`` for one port: ``[IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]``
    (no host port: one is allocated).  Errors are the CLI's texts (go-connections
    v0.4.0, vendored by Docker 20.10): ``No port specified``, ``Invalid proto``,
    ``Invalid ip address``, ``Invalid containerPort``, ``Invalid hostPort``."""
    parts = spec.split(":")
    if len(parts) == 1:
        ip, host, container = "", "", parts[0]
    elif len(parts) == 2:
        ip, (host, container) = "", parts
    elif len(parts) == 3:
        ip, host, container = parts
    else:
        raise ValueError(f"Invalid ip address: {':'.join(parts[:-2])} (IPv6 is not modelled)")
    container, _, proto = container.partition("/")
    proto = proto.lower() or "tcp"
    if not container:
        raise ValueError(f"No port specified: {spec}<empty>")
    if proto not in PROTOCOLS:
        if proto == "sctp":
            raise ValueError(f"Invalid proto: {proto} (SCTP is not modelled)")
        raise ValueError(f"Invalid proto: {proto}")
    if ip:
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise ValueError(f"Invalid ip address: {ip}") from None
    if "-" in container or "-" in host:
        raise ValueError(f"{spec}: port ranges are not modelled")
    cport = _port(container, "containerPort")
    hport = _port(host, "hostPort") if host else 0
    return PortBinding(proto, ip or "0.0.0.0", hport, None, cport)


class PortAllocator:
    """libnetwork's ``portallocator``: which host ports are taken, per host address and
    protocol; a request for port 0 gets the next free one of the dynamic range
    (``ip_local_port_range``, read at start), after the last one handed out.  Like the
    real one it does not see that 0.0.0.0:8080 and 127.0.0.1:8080 overlap: the second
    mapping fails when its proxy cannot bind."""

    def __init__(self, begin: int, end: int):
        self.begin, self.end = begin, end
        self.last = end
        self.taken = {}   # (proto, port) -> set of host IPs

    def request(self, host_ip: str, proto: str, port: int) -> int:
        """``RequestPortInRange``: the port, or ``Bind for IP:PORT failed: port is
        already allocated``."""
        if port == 0:
            for _ in range(self.end - self.begin + 1):
                self.last = self.begin if self.last >= self.end else self.last + 1
                if not self._clash(host_ip, proto, self.last):
                    port = self.last
                    break
            else:
                raise ValueError("all ports are allocated")
        elif self._clash(host_ip, proto, port):
            raise ValueError(f"Bind for {host_ip}:{port} failed: port is already allocated")
        self.taken.setdefault((proto, port), set()).add(host_ip)
        return port

    def release(self, host_ip: str, proto: str, port: int) -> None:
        self.taken.get((proto, port), set()).discard(host_ip)

    def _clash(self, host_ip: str, proto: str, port: int) -> bool:
        return host_ip in self.taken.get((proto, port), ())


class DockerProxy(Process):
    """``docker-proxy -proto P -host-ip IP -host-port N -container-ip CIP
    -container-port CN`` in the host's namespace.

    * TCP: listens on ``IP:N``; for every connection it accepts it connects to the
      container (from the bridge's address, as the route says) and copies bytes both
      ways; when either side closes, it closes the other.  The real proxy half-closes
      (``CloseWrite``); the model's TCP has no ``shutdown``, so a client that closes
      first ends the whole exchange, which for a request/response client is the same.
    * UDP: bound to ``IP:N``; each client address gets its own connected socket to the
      container, whose replies go back to that client from ``IP:N``; it is closed after
      90 s without traffic (``UDPConnTrackTimeout``).

    A port the proxy cannot bind (another program has it) is Docker's ``Error starting
    userland proxy: listen tcp4 0.0.0.0:8080: bind: address already in use``."""

    name = "docker-proxy"

    def __init__(self, binding: PortBinding):
        super().__init__()
        self.binding = binding
        self.sock = None
        self.clients = {}
        self.connections = 0

    @property
    def argv(self) -> list:
        b = self.binding
        return ["/usr/bin/docker-proxy", "-proto", b.proto, "-host-ip", b.host_ip,
                "-host-port", str(b.host_port), "-container-ip", b.container_ip,
                "-container-port", str(b.container_port)]

    def start(self) -> None:
        b = self.binding
        self.sock = self.ns.tcp.socket() if b.proto == "tcp" else self.ns.udp.socket()
        try:
            self.sock.bind((b.host_ip, b.host_port))
            if b.proto == "tcp":
                self.sock.listen(128)
        except OSError as e:
            self.sock.close()
            self.sock = None
            self.eprint(f"Error starting userland proxy: listen {b.proto}4 {b.host_ip}:{b.host_port}: "
                        f"bind: {os.strerror(e.errno).lower()}")
            self.exit(1)
            return
        if b.proto == "tcp":
            self.sock.on_accept = self._accept
        else:
            self.sock.on_recv = self._udp_from_client

    # -- TCP: tcp_proxy.go's clientLoop ----------------------------------------------------
    def _accept(self, client) -> None:
        self.connections += 1
        backend = self.ns.tcp.socket()
        pending = []

        def to_backend(data: bytes) -> None:
            if backend.state == "ESTABLISHED":
                backend.send(data)
            else:
                pending.append(data)

        def backend_connected() -> None:
            for data in pending:
                backend.send(data)
            pending.clear()

        def client_closed() -> None:
            backend.close()
            client.close()

        def backend_closed() -> None:
            client.close()
            backend.close()

        client.on_data = to_backend
        client.on_close = client_closed
        backend.on_connected = backend_connected
        backend.on_data = client.send
        backend.on_close = backend_closed
        try:
            backend.connect((self.binding.container_ip, self.binding.container_port))
        except OSError:
            client.close()

    # -- UDP: udp_proxy.go's Run and replyLoop ---------------------------------------------
    def _udp_from_client(self, data: bytes, client) -> None:
        entry = self.clients.get(client)
        if entry is None:
            backend = self.ns.udp.socket()
            backend.connect((self.binding.container_ip, self.binding.container_port))
            backend.on_recv = lambda reply, _src, c=client: self._udp_reply(c, reply)
            entry = self.clients[client] = [backend, None]
        self._udp_touch(client)
        entry[0].send(data)

    def _udp_reply(self, client, data: bytes) -> None:
        self._udp_touch(client)
        self.sock.sendto(data, client)

    def _udp_touch(self, client) -> None:
        entry = self.clients[client]
        if entry[1] is not None:
            entry[1].cancel()
        entry[1] = self.sim.after(UDP_CONNTRACK_TIMEOUT_NS, lambda: self._udp_expire(client))

    def _udp_expire(self, client) -> None:
        backend, _ = self.clients.pop(client)
        backend.close()

    def stop(self) -> None:
        """``docker stop``: the proxy is killed with its container's port mapping."""
        if self.sock is not None:
            self.sock.close()
        for backend, timer in self.clients.values():
            timer.cancel()
            backend.close()
        self.clients.clear()
        self.exit(0)


__all__ = ["PortBinding", "parse_port_spec", "PortAllocator", "DockerProxy"]
