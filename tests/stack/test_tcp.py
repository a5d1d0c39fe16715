"""TCP: handshake, data, close, resets and retransmission, with Scapy as the oracle and the
kernel's own captures (tests/kernel/reference/, and the numbers measured for this module,
quoted where they are used) as the ground truth."""
import errno
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from emunet import MS, S, US, Simulator
from emunet.apps.base import Process
from emunet.apps.http import Curl
from emunet.control.docker import DockerHost
from emunet.stack import tcp as tcpmod
from emunet.stack.tcp import APP_WAKEUP_NS as APP_WAKEUP
from emunet.wire.frame import Frame
from emunet.wire.ipv4 import ip_to_int
from emunet.wire.tcp import TcpView
from emunet.observe.capture import Capture

REF = Path(__file__).parent.parent / "kernel" / "reference"
#: the sysctls of the kernel that made the reference captures (6.18): 32 MiB tcp_rmem[2]
#: gives window scale 10, and the first four SYN retransmissions are 1 s apart
KERNEL_6_18 = {"net.ipv4.tcp_rmem": (4096, 131072, 33554432), "net.core.rmem_max": 4194304,
               "net.ipv4.tcp_syn_linear_timeouts": 4}


# -- helpers ---------------------------------------------------------------------------
def make_lab(seed=1, sysctls=None):
    sim = Simulator(seed=seed)
    Capture.attach(sim)
    host = DockerHost(sim)
    c1 = host.run("c1", ip="172.17.0.7")
    c2 = host.run("c2", ip="172.17.0.8")
    for ns in (host.ns, c1.ns, c2.ns):
        ns.sysctl.update(sysctls or {})
    return sim, host, c1, c2


class Server(Process):
    """Answers ``response`` to each complete request; closes ``close_after`` ns later
    (None: only when the client does)."""

    name = "server"

    def __init__(self, port=80, response=b"", close_after=None, chunks=None):
        super().__init__()
        self.port = port
        self.response = response
        self.close_after = close_after
        self.chunks = chunks
        self.requests = []
        self.conns = []
        self.closed_by_peer = []

    def start(self):
        self.sock = self.ns.tcp.socket()
        self.sock.reuseaddr = True
        self.sock.bind(("0.0.0.0", self.port))
        self.sock.listen(128)
        self.sock.on_accept = self._accept

    def _accept(self, conn):
        self.conns.append(conn)
        buf = bytearray()

        def on_data(d):
            buf.extend(d)
            if b"\r\n\r\n" in buf:
                self.requests.append(bytes(buf))
                buf.clear()
                for part in (self.chunks or [self.response]):
                    if part:
                        conn.send(part)
                if self.close_after is not None:
                    self.sim.after(self.close_after, conn.close)

        def on_close():
            self.closed_by_peer.append(self.sim.now)
            conn.close()  # EOF: close our side too, as nginx does

        conn.on_data = on_data
        conn.on_close = on_close


class Client(Process):
    """Connects, sends ``data``, closes ``close_after`` ns after the connection is up."""

    name = "client"

    def __init__(self, dst, port=80, data=b"", close_after=None):
        super().__init__()
        self.dst, self.port, self.data, self.close_after = dst, port, data, close_after
        self.received = bytearray()
        self.connected_at = None
        self.closed_at = None

    def start(self):
        self.sock = self.ns.tcp.socket()
        self.sock.on_connected = self._up
        self.sock.on_data = self.received.extend
        self.sock.on_close = self._closed
        self.sock.connect((self.dst, self.port))

    def _up(self):
        self.connected_at = self.sim.now
        if self.data:
            self.sock.send(self.data)
        if self.close_after is not None:
            self.sim.after(self.close_after, self.sock.close)

    def _closed(self):
        self.closed_at = self.sim.now
        self.exit(0 if not self.sock.error else 1)


def tcp_pkts(sim, iface):
    out = []
    for r in Capture.of(sim).on(iface):
        p = Ether(r.data)
        if TCP in p:
            p.time_ns = r.time_ns
            out.append(p)
    return out


def opt_layout(raw_opts: bytes) -> bytes:
    """Option bytes with the timestamp values zeroed: the layout, not the clock."""
    b = bytearray(raw_opts)
    i = 0
    while i < len(b):
        k = b[i]
        if k in (0, 1):
            i += 1
            continue
        ln = b[i + 1]
        if k == 8:
            b[i + 2:i + 10] = bytes(8)
        i += ln
    return bytes(b)


def raw_options(p) -> bytes:
    t = p[TCP]
    raw = bytes(t)
    return raw[20:t.dataofs * 4]


def checksums_ok(p) -> bool:
    raw = bytes(p)
    q = Ether(raw)
    del q[IP].chksum
    del q[TCP].chksum
    return bytes(Ether(bytes(q))) == raw


def ts(p):
    return dict(p[TCP].options).get("Timestamp")


# -- the handshake, field by field ---------------------------------------------------------
def test_handshake_options_windows_and_ip_fields_default_profile():
    """Default sysctls (tcp_rmem[2] = 6 MiB → WS 7), checked against the kernel with the same
    tcp_rmem: SYN win 64240, SYN-ACK 65160, then 502 from the client and 509 from a server
    that has just received a 74-byte request."""
    sim, host, c1, c2 = make_lab()
    c2.ns.spawn(Server(response=b"x" * 89, close_after=50 * US))
    cl = c1.ns.spawn(Client("172.17.0.8", data=b"GET / HTTP/1.1\r\nHost: 172.17.0.8\r\n"
                            b"User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"))
    sim.run(until=2)
    pk = tcp_pkts(sim, "c1/eth0")
    syn, synack, ack, get, sack = pk[:5]
    assert [str(p[TCP].flags) for p in pk[:5]] == ["S", "SA", "A", "PA", "A"]
    # SYN: MSS 1460, SACK_PERM, TS, NOP, WS 7 -- exactly Linux's 20 bytes
    assert opt_layout(raw_options(syn)) == bytes.fromhex("020405b40402080a00000000000000000103030" + "7")
    assert syn[TCP].window == 64240 and syn[TCP].ack == 0 and ts(syn)[1] == 0
    assert opt_layout(raw_options(synack)) == opt_layout(raw_options(syn))
    assert synack[TCP].window == 65160
    assert synack[TCP].ack == syn[TCP].seq + 1 and ts(synack)[1] == ts(syn)[0]
    assert ack[TCP].seq == syn[TCP].seq + 1 and ack[TCP].ack == synack[TCP].seq + 1
    assert ack[TCP].window == 502 and raw_options(ack)[:4] == b"\x01\x01\x08\x0a"
    assert ts(ack) == (ts(syn)[0], ts(synack)[0])
    assert len(get[TCP].payload) == 74 and get[TCP].window == 502
    assert sack[TCP].window == 509 and sack[TCP].ack == get[TCP].seq + 74
    for p in pk:
        assert p[IP].flags == "DF" and p[IP].ttl == 64 and p[IP].tos == 0
        assert checksums_ok(p)
    # IP IDs: the SYN-ACK comes from a request socket (0); each socket counts from random
    assert synack[IP].id == 0
    client_ids = [p[IP].id for p in pk if p[IP].src == "172.17.0.7"]
    server_ids = [p[IP].id for p in pk if p[IP].src == "172.17.0.8" and p[TCP].flags != "SA"]
    assert client_ids == [(client_ids[0] + i) & 0xFFFF for i in range(len(client_ids))]
    assert server_ids == [(server_ids[0] + i) & 0xFFFF for i in range(len(server_ids))]
    assert 32768 <= syn[TCP].sport <= 60999 and syn[TCP].sport % 2 == 0
    assert cl.received == b"x" * 89


def test_window_scale_follows_tcp_rmem_like_the_kernel():
    """ilog2(max(tcp_rmem[2], rmem_max)) - 15: 7 by default, 10 with the 6.18 sysctls."""
    for sysctls, ws, after in ((None, 7, 502), (KERNEL_6_18, 10, 63)):
        sim, host, c1, c2 = make_lab(sysctls=sysctls)
        c2.ns.spawn(Server())
        c1.ns.spawn(Client("172.17.0.8"))
        sim.run(until=1)
        syn, synack, ack = tcp_pkts(sim, "c1/eth0")[:3]
        assert dict(syn[TCP].options)["WScale"] == ws == dict(synack[TCP].options)["WScale"]
        assert ack[TCP].window == after


def test_loopback_mss_and_windows():
    """Over lo (MTU 65536) the kernel advertises MSS 65495, SYN window 65495, SYN-ACK 65483,
    then 512 (checked: curl → nginx on 127.0.0.1 with tcp_rmem[2] = 6 MiB)."""
    sim, host, c1, c2 = make_lab()
    host.ns.spawn(Server(response=b"y" * 238, close_after=10 * US))
    host.ns.spawn(Client("127.0.0.1", data=b"z" * 73))
    sim.run(until=1)
    pk = tcp_pkts(sim, "host/lo")
    out = [p for p in pk]
    syn, synack, ack = out[0], out[2], out[4]   # lo shows each frame going out and coming in
    assert dict(syn[TCP].options)["MSS"] == 65495 and syn[TCP].window == 65495
    assert dict(synack[TCP].options)["MSS"] == 65495 and synack[TCP].window == 65483
    assert ack[TCP].window == 512 and syn[IP].src == syn[IP].dst == "127.0.0.1"


def _ref_pcap(name):
    for p in (REF / "txcsumoff" / name, REF / name):
        if p.exists():
            return p
    return None


def test_same_exchange_as_the_kernel_reference_capture():
    """Replays the kernel reference (curl 7.88.1 → a Python server on 172.17.0.8:80 that
    answers and closes) with the reference's own bytes and compares, direction by
    direction: flags, relative seq/ack, window, length, option layout, DF, TTL, and the IP ID
    pattern (0 or consecutive)."""
    path = _ref_pcap("tcp_docker0.pcap")
    if path is None:
        pytest.skip("no kernel reference capture")
    from scapy.utils import rdpcap
    ref = [p for p in rdpcap(str(path)) if TCP in p]
    if len(ref) < 8:
        pytest.skip("reference capture incomplete")
    cli_ip = ref[0][IP].src
    request = next(bytes(p[TCP].payload) for p in ref if p[IP].src == cli_ip and len(p[TCP].payload))
    response = next(bytes(p[TCP].payload) for p in ref if p[IP].src != cli_ip and len(p[TCP].payload))
    curl = Curl("http://172.17.0.8/", version=request.split(b"curl/")[1].split(b"\r\n")[0].decode())
    assert curl.request == request  # curl's request, byte for byte

    sim, host, c1, c2 = make_lab(sysctls=KERNEL_6_18)
    c2.ns.spawn(Server(response=response, close_after=1 * US))
    c1.ns.spawn(curl)
    sim.run(until=2)
    ours = tcp_pkts(sim, "host/docker0")

    def summary(pkts, src):
        rows = []
        isn = {p[IP].src: p[TCP].seq for p in pkts if p[TCP].flags & 0x02}
        first_id = None
        for p in pkts:
            if p[IP].src != src:
                continue
            t = p[TCP]
            peer = p[IP].dst
            ident = p[IP].id
            if ident and first_id is None:
                first_id = ident
            rows.append((str(t.flags), (t.seq - isn[src]) & 0xFFFFFFFF,
                         (t.ack - isn[peer]) & 0xFFFFFFFF if t.flags & 0x10 else 0, t.window,
                         len(t.payload), opt_layout(raw_options(p)), p[IP].flags == "DF", p[IP].ttl,
                         0 if ident == 0 else (ident - first_id) & 0xFFFF))
        return rows

    for side in (cli_ip, ref[1][IP].src):
        ours_side = "172.17.0.7" if side == cli_ip else "172.17.0.8"
        assert summary(ours, ours_side) == summary(ref, side), side
    assert curl.stdout == response.split(b"\r\n\r\n", 1)[1].decode().splitlines()


def test_seq_ack_and_timestamps_are_consistent_over_a_whole_exchange():
    """Scapy as the oracle: every segment starts where the previous one of its direction
    ended; every ACK covers at most what was sent; TSecr echoes a TSval the peer sent."""
    sim, host, c1, c2 = make_lab(seed=7)
    c2.ns.spawn(Server(chunks=[b"h" * 238, b"b" * 5000]))
    cl = c1.ns.spawn(Client("172.17.0.8", data=b"GET / HTTP/1.1\r\n\r\n", close_after=5 * MS))
    sim.run(until=3)
    pk = tcp_pkts(sim, "c1/eth0")
    nxt, sent_ts = {}, {"172.17.0.7": set(), "172.17.0.8": set()}
    for p in pk:
        t, src, dst = p[TCP], p[IP].src, p[IP].dst
        assert checksums_ok(p)
        if src in nxt:
            assert t.seq == nxt[src], p.summary()
        seglen = len(t.payload) + (1 if t.flags & 0x03 else 0)
        nxt[src] = (t.seq + seglen) & 0xFFFFFFFF
        if t.flags & 0x10 and dst in nxt:
            assert ((nxt[dst] - t.ack) & 0xFFFFFFFF) < 0x80000000  # never ahead of the peer
        tv, te = ts(p)
        sent_ts[src].add(tv)
        if t.flags & 0x10:
            assert te in sent_ts[dst]
        assert len(t.payload) <= 1448
    assert bytes(cl.received) == b"h" * 238 + b"b" * 5000
    sizes = [len(p[TCP].payload) for p in pk if p[IP].src == "172.17.0.8" and len(p[TCP].payload)]
    assert sizes == [238, 1448, 1448, 1448, 656]
    # Nagle held the body until the header was ACKed, as nginx's header/sendfile split shows
    body0 = next(i for i, p in enumerate(pk) if len(p[TCP].payload) == 1448)
    assert pk[body0 - 1][IP].src == "172.17.0.7" and pk[body0 - 1][TCP].ack == pk[body0][TCP].seq


def test_segmentation_psh_and_window_growth_match_the_kernel():
    """A 3000-byte write: 1448, 1448, 104 with PSH on the last only; the receiver ACKs each
    at once (quick ACK) and its window grows by 2 x 1448 per full segment: 525, 548 with WS 7
    and 66, 69 with WS 10 -- the numbers the kernel showed for the same exchange."""
    for sysctls, wins in ((None, [525, 548, 548]), (KERNEL_6_18, [66, 69, 69])):
        sim, host, c1, c2 = make_lab(sysctls=sysctls)
        c2.ns.spawn(Server(response=b"y" * 3000))
        c1.ns.spawn(Client("172.17.0.8", data=b"hello\r\n\r\n"))
        sim.run(until=1)
        pk = tcp_pkts(sim, "c1/eth0")
        data = [p for p in pk if p[IP].src == "172.17.0.8" and len(p[TCP].payload)]
        assert [len(p[TCP].payload) for p in data] == [1448, 1448, 104]
        assert [str(p[TCP].flags) for p in data] == ["A", "A", "PA"]
        acks = [p for p in pk if p[IP].src == "172.17.0.7" and p[TCP].ack > data[0][TCP].seq]
        assert [p[TCP].window for p in acks[:3]] == wins


# -- closing ------------------------------------------------------------------------------
def test_close_from_either_side_and_time_wait():
    sim, host, c1, c2 = make_lab()
    srv = c2.ns.spawn(Server(response=b"r" * 10))
    cl = c1.ns.spawn(Client("172.17.0.8", data=b"q\r\n\r\n", close_after=1 * MS))
    sim.run(until=0.5)
    pk = tcp_pkts(sim, "c1/eth0")
    flags = [(p[IP].src[-1], str(p[TCP].flags)) for p in pk]
    # client FIN; the server's process closes when told EOF: its FIN carries the ACK
    assert flags[-3:] == [("7", "FA"), ("8", "FA"), ("7", "A")]
    csock = cl.sock
    assert csock.state == tcpmod.TIME_WAIT
    sconn = srv.conns[0]
    assert sconn.state == tcpmod.CLOSED and srv.closed_by_peer
    sim.run(until=59)
    assert csock.state == tcpmod.TIME_WAIT
    sim.run(until=62)
    assert csock.state == tcpmod.CLOSED and not c1.ns.tcp.conns


class _Closer(Server):
    """Closes its side 1 s after the client's FIN (as the kernel experiment's server)."""

    def _accept(self, conn):
        super()._accept(conn)
        conn.on_close = lambda: self.sim.after(1 * S - APP_WAKEUP, conn.close)


def test_fin_ack_is_delayed_40ms_and_the_last_ack_comes_from_a_time_wait_socket():
    """Measured on the kernel: a FIN the process does not answer at once is ACKed 40.7 ms
    later (delayed ACK in ping-pong mode); the client, closed and FIN-ACKed, is a FIN_WAIT_2
    time-wait socket, so its ACK of the server's FIN has IP ID 0."""
    sim, host, c1, c2 = make_lab()
    c2.ns.spawn(_Closer(response=b"y" * 100))
    c1.ns.spawn(Client("172.17.0.8", data=b"hello\r\n\r\n", close_after=500 * MS))
    sim.run(until=3)
    pk = tcp_pkts(sim, "c1/eth0")
    fin = next(p for p in pk if p[IP].src == "172.17.0.7" and p[TCP].flags & 0x01)
    i = pk.index(fin)
    ack = pk[i + 1]
    assert ack[IP].src == "172.17.0.8" and str(ack[TCP].flags) == "A"
    assert ack.time_ns - fin.time_ns == pytest.approx(40 * MS, abs=10 * US)
    sfin, last = pk[i + 2], pk[i + 3]
    assert str(sfin[TCP].flags) == "FA" and sfin.time_ns - fin.time_ns == pytest.approx(1 * S, abs=MS)
    assert str(last[TCP].flags) == "A" and last[IP].id == 0 and last[IP].src == "172.17.0.7"
    assert last[TCP].ack == sfin[TCP].seq + 1


# -- resets -------------------------------------------------------------------------------
def test_rst_to_a_closed_port_and_curl_refused():
    """RST|ACK, seq 0, ack = ISN + 1, window 0, no options, IP ID 0, DF (the kernel's
    tcp_v4_send_reset, as in tcprst_docker0)."""
    sim, host, c1, c2 = make_lab()
    curls = [c1.ns.spawn(Curl("http://172.17.0.8:81/", silent=True, show_error=s, version=v))
             for s, v in ((False, "7.88.1"), (True, "7.88.1"), (True, "7.74.0"), (True, "7.81.0"))]
    sim.run(until=1)
    pk = tcp_pkts(sim, "c1/eth0")
    syns = [p for p in pk if p[TCP].flags == "S"]
    rsts = [p for p in pk if p[TCP].flags & 0x04]
    assert len(syns) == len(rsts) == 4
    for syn in syns:
        rst = next(r for r in rsts if r[TCP].dport == syn[TCP].sport)
        assert str(rst[TCP].flags) == "RA" and rst[TCP].seq == 0 and rst[TCP].ack == syn[TCP].seq + 1
        assert rst[TCP].window == 0 and rst[TCP].dataofs == 5 and rst[IP].id == 0
        assert rst[IP].flags == "DF" and rst[IP].ttl == 64 and checksums_ok(rst)
    assert [c.exit_code for c in curls] == [7, 7, 7, 7]
    assert curls[0].stderr == []  # curl -s says nothing
    assert curls[1].stderr == ["curl: (7) Failed to connect to 172.17.0.8 port 81 after 0 ms: "
                               "Couldn't connect to server"]   # 7.88.1, as tcprst_c1_curl_sS.txt
    assert curls[2].stderr == ["curl: (7) Failed to connect to 172.17.0.8 port 81: Connection refused"]
    assert curls[3].stderr == ["curl: (7) Failed to connect to 172.17.0.8 port 81 after 0 ms: "
                               "Connection refused"]
    assert c2.ns.drop_reasons["NO_SOCKET"] == 4


def _inject(ns, dev, pkt):
    ns.dev(dev).receive(Frame(bytes(pkt), ns.sim.new_pid()))


def _established(sysctls=None):
    sim, host, c1, c2 = make_lab(sysctls=sysctls)
    srv = c2.ns.spawn(Server())
    cl = c1.ns.spawn(Client("172.17.0.8"))
    sim.run(until=0.1)
    return sim, c1, c2, srv, cl


def _from_c2(c1, c2, cl, flags, seq, ack, payload=b"", options=None):
    mac_c1 = c1.ns.dev("eth0").mac
    mac_c2 = c2.ns.dev("eth0").mac
    t = TCP(sport=80, dport=cl.sock.local[1], seq=seq, ack=ack, flags=flags, window=509,
            options=options if options is not None else [])
    return Ether(src=mac_c2, dst=mac_c1) / IP(src="172.17.0.8", dst="172.17.0.7", flags="DF",
                                              id=1) / t / payload


def test_an_ack_to_a_closed_port_gets_rst_with_its_ack_as_seq():
    sim, c1, c2, srv, cl = _established()
    pkt = Ether(src=c2.ns.dev("eth0").mac, dst=c1.ns.dev("eth0").mac) / \
        IP(src="172.17.0.8", dst="172.17.0.7", flags="DF") / TCP(sport=80, dport=4444, seq=5,
                                                                 ack=123456, flags="A")
    n = len(Capture.of(sim).records)
    _inject(c1.ns, "eth0", pkt)
    sim.run(until=0.2)
    out = [Ether(r.data) for r in Capture.of(sim).records[n:] if r.iface == "c1/eth0" and r.direction == "out"]
    rst = out[0]
    assert str(rst[TCP].flags) == "R" and rst[TCP].seq == 123456 and rst[TCP].ack == 0
    assert rst[IP].id == 0


def test_rst_exact_resets_and_in_window_rst_gets_a_challenge_ack():
    sim, c1, c2, srv, cl = _established()
    sock = cl.sock
    n = len(Capture.of(sim).records)
    _inject(c1.ns, "eth0", _from_c2(c1, c2, cl, "R", (sock.rcv_nxt + 100) & 0xFFFFFFFF, 0))
    sim.run(until=0.2)
    out = [Ether(r.data) for r in Capture.of(sim).records[n:] if r.iface == "c1/eth0" and r.direction == "out"]
    assert str(out[0][TCP].flags) == "A" and out[0][TCP].ack == sock.rcv_nxt  # challenge ACK
    assert sock.state == tcpmod.ESTABLISHED
    _inject(c1.ns, "eth0", _from_c2(c1, c2, cl, "R", sock.rcv_nxt, 0))
    sim.run(until=0.3)
    assert sock.state == tcpmod.CLOSED and sock.error == errno.ECONNRESET and cl.closed_at


def test_out_of_order_data_gets_a_duplicate_ack_with_sack_then_is_reassembled():
    sim, c1, c2, srv, cl = _established()
    sock = cl.sock
    base, ack = sock.rcv_nxt, sock.snd_nxt
    n = len(Capture.of(sim).records)
    _inject(c1.ns, "eth0", _from_c2(c1, c2, cl, "PA", (base + 10) & 0xFFFFFFFF, ack, b"B" * 10))
    sim.run(until=0.2)
    out = [Ether(r.data) for r in Capture.of(sim).records[n:] if r.iface == "c1/eth0" and r.direction == "out"]
    assert out[0][TCP].ack == base
    sack = dict(out[0][TCP].options)["SAck"]
    assert sack == ((base + 10) & 0xFFFFFFFF, (base + 20) & 0xFFFFFFFF)
    n2 = len(Capture.of(sim).records)
    _inject(c1.ns, "eth0", _from_c2(c1, c2, cl, "PA", base, ack, b"A" * 10))
    sim.run(until=0.3)
    out = [Ether(r.data) for r in Capture.of(sim).records[n:] if r.iface == "c1/eth0" and r.direction == "out"]
    assert out[-1][TCP].ack == (base + 20) & 0xFFFFFFFF and "SAck" not in dict(out[-1][TCP].options)
    assert bytes(cl.received) == b"A" * 10 + b"B" * 10
    # the injected bytes were never sent by c2's socket: c1's ACK of them is, to c2, an ACK
    # for data never sent (a challenge ACK, RFC 5961 5.2), which c1 finds old (a duplicate
    # ACK); c2's next challenge ACK falls within tcp_invalid_ratelimit and is held back, so
    # three segments cross where, unlimited, the two would answer each other for ever
    crossed = [Ether(r.data)[TCP] for r in Capture.of(sim).records[n2:] if r.iface == "host/docker0"]
    port = cl.sock.local[1]
    assert [(t.sport, t.seq, t.ack) for t in crossed] == [
        (port, ack, (base + 20) & 0xFFFFFFFF),    # c1's ACK of the 20 bytes
        (80, base, ack),                          # c2's challenge ACK
        (port, ack, (base + 20) & 0xFFFFFFFF)]    # c1's duplicate ACK; c2 holds its answer back
    assert c2.ns.tcp.stats == {"TCPChallengeACK": 1, "TCPACKSkippedChallenge": 1}
    assert c1.ns.tcp.stats == {} and c2.ns.drop_reasons["TCP_ACK_UNSENT_DATA"] == 2


@settings(max_examples=25, deadline=None)
@given(gaps=st.lists(st.integers(0, 700), min_size=1, max_size=8), ratelimit=st.sampled_from([500, 100, 0]))
def test_duplicate_acks_to_old_acks_go_once_per_tcp_invalid_ratelimit(gaps, ratelimit):
    """Pure ACKs below the window at any times: ``tcp_oow_rate_limited`` lets the first
    through, then each that comes ``tcp_invalid_ratelimit`` or more after the last one
    answered, counted in jiffies (HZ 250: 500 ms is 125 of 4 ms); the rest are counted in
    ``TCPACKSkippedSeq``.  0 switches the limit off."""
    sim, c1, c2, srv, cl = _established({"net.ipv4.tcp_invalid_ratelimit": ratelimit})
    sock = cl.sock
    old = _from_c2(c1, c2, cl, "A", (sock.rcv_nxt - 1000) & 0xFFFFFFFF, sock.snd_nxt)
    times, t = [], 200 * MS
    for g in gaps:
        t += g * MS
        times.append(t)
    for t in times:
        sim.after(t - sim.now, lambda: _inject(c1.ns, "eth0", old))
    n = len(Capture.of(sim).records)
    sim.run(until=(times[-1] + 10 * MS) / S)
    out = [r.time_ns for r in Capture.of(sim).records[n:] if r.iface == "c1/eth0" and r.direction == "out"]
    expect, last = [], None
    for t in times:
        if last is None or t // (4 * MS) - last >= -(-ratelimit // 4):
            expect.append(t)
            last = t // (4 * MS)
    assert out == expect
    assert c1.ns.tcp.stats["TCPACKSkippedSeq"] == len(times) - len(expect)
    assert sock.state == tcpmod.ESTABLISHED


@pytest.mark.parametrize("limit,per_second", [(1, 1), (2147483647, 3)])
def test_tcp_challenge_ack_limit_is_a_budget_of_the_namespace_per_second(limit, per_second):
    """Three connections each get a SYN at 0.2 s and at 1.2 s: each socket may answer
    (its own limit is fresh), but a namespace with ``tcp_challenge_ack_limit`` 1 sends one
    challenge ACK a second (a budget drawn between 1 and 1); ``INT_MAX``, the default,
    lets all three go."""
    sim, host, c1, c2 = make_lab(sysctls={"net.ipv4.tcp_challenge_ack_limit": limit})
    c2.ns.spawn(Server())
    cls = [c1.ns.spawn(Client("172.17.0.8")) for _ in range(3)]
    sim.run(until=0.1)

    def syns():
        for cl in cls:
            _inject(c1.ns, "eth0", _from_c2(c1, c2, cl, "S", cl.sock.rcv_nxt, 0))
    n = len(Capture.of(sim).records)
    sim.after(100 * MS, syns)
    sim.after(1100 * MS, syns)
    sim.run(until=1.5)
    out = [r.time_ns for r in Capture.of(sim).records[n:] if r.iface == "c1/eth0" and r.direction == "out"]
    assert out == [200 * MS] * per_second + [1200 * MS] * per_second
    assert c1.ns.tcp.stats == {"TCPSYNChallenge": 6, "TCPChallengeACK": 2 * per_second}
    assert all(cl.sock.state == tcpmod.ESTABLISHED for cl in cls)


def test_malformed_segments_are_counted_as_drops_never_raised():
    sim, c1, c2, srv, cl = _established()
    mac1, mac2 = c1.ns.dev("eth0").mac, c2.ns.dev("eth0").mac
    good = Ether(src=mac2, dst=mac1) / IP(src="172.17.0.8", dst="172.17.0.7") / TCP(dport=cl.sock.local[1], sport=80)
    raw = bytearray(bytes(good))
    raw[-3] ^= 0xFF  # break the checksum
    c1.ns.dev("eth0").receive(Frame(bytes(raw), 1))
    short = Ether(src=mac2, dst=mac1) / IP(src="172.17.0.8", dst="172.17.0.7", proto=6) / (b"\x00" * 8)
    c1.ns.dev("eth0").receive(Frame(bytes(short), 2))
    bad_off = bytearray(bytes(good))
    bad_off[14 + 20 + 12] = 0xF0  # data offset 60 in a 20-byte segment
    c1.ns.dev("eth0").receive(Frame(bytes(bad_off), 3))
    sim.run(until=0.2)
    d = c1.ns.drop_reasons
    assert d["TCP_CSUM"] == 1 and d["PKT_TOO_SMALL"] >= 1 and d["TCP_OFFSET"] >= 1
    assert cl.sock.state == tcpmod.ESTABLISHED


@given(flags=st.integers(0, 255), seq=st.integers(0, 2**32 - 1), ack=st.integers(0, 2**32 - 1),
       window=st.integers(0, 65535), opts=st.binary(max_size=40), payload=st.binary(max_size=64),
       to_listener=st.booleans())
def test_any_segment_with_a_valid_checksum_is_handled_without_raising(flags, seq, ack, window, opts,
                                                                      payload, to_listener):
    sim, host, c1, c2 = make_lab()
    c2.ns.spawn(Server(response=b"ok"))
    cl = c1.ns.spawn(Client("172.17.0.8", data=b"x\r\n\r\n"))
    sim.run(until=0.05)
    opts = opts[:len(opts) - len(opts) % 4]
    dport = 80 if to_listener else cl.sock.local[1]
    sport = cl.sock.local[1] + 2 if to_listener else 80
    src, dst, ns = ("172.17.0.7", "172.17.0.8", c2.ns) if to_listener else ("172.17.0.8", "172.17.0.7", c1.ns)
    seg = TcpView.emit(sport, dport, seq, ack, flags, window, opts, payload,
                       bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    pkt = Ether(src=b"\x02\x42\xac\x11\x00\x99", dst=ns.dev("eth0").mac) / \
        IP(src=src, dst=dst, proto=6, flags="DF") / seg
    ns.dev("eth0").receive(Frame(bytes(pkt), 99))
    sim.run(until=2)
    for s in list(c1.ns.tcp.conns.values()) + list(c2.ns.tcp.conns.values()):
        assert s.state in (tcpmod.ESTABLISHED, tcpmod.CLOSE_WAIT, tcpmod.SYN_RECV, tcpmod.TIME_WAIT,
                           tcpmod.FIN_WAIT_1, tcpmod.FIN_WAIT_2, tcpmod.LAST_ACK, tcpmod.CLOSING)


# -- retransmission -----------------------------------------------------------------------
def _drop_times(sim, iface, reason="DEV_READY"):
    return [d.time_ns for d in Capture.of(sim).drops if d.where == iface and d.reason == reason]


def test_syn_is_retransmitted_at_1_3_s_while_the_peer_veth_is_down_then_connects():
    sim, host, c1, c2 = make_lab()
    host.ns.spawn(Server(response=b"page"))
    c1.ns.neigh.add_permanent(c1.ns.dev("eth0"), ip_to_int("172.17.0.1"), host.bridge.mac)
    c1.veth_host.set_down()
    sim.after(5 * S, c1.veth_host.set_up)
    cl = c1.ns.spawn(Client("172.17.0.1", data=b"GET\r\n\r\n"))
    sim.run(until=10)
    assert _drop_times(sim, "c1/eth0") == [0, 1 * S, 3 * S]
    syns = [p for p in tcp_pkts(sim, "c1/eth0") if p[TCP].flags == "S"]
    assert len(syns) == 1 and syns[0].time_ns == 7 * S  # the 3rd retransmission gets through
    assert cl.connected_at == pytest.approx(7 * S, abs=100 * US) and bytes(cl.received) == b"page"
    assert cl.sock.retrans_segs == 3


def test_syn_retries_6_then_etimedout_at_127_s():
    sim, host, c1, c2 = make_lab()
    c1.ns.neigh.add_permanent(c1.ns.dev("eth0"), ip_to_int("172.17.0.99"), b"\x02\x42\xac\x11\x00\x63")
    curl = c1.ns.spawn(Curl("http://172.17.0.99/", show_error=True))
    sim.run(until=200)
    syns = [p for p in tcp_pkts(sim, "c1/eth0") if p[TCP].flags == "S"]
    assert [p.time_ns // S for p in syns] == [0, 1, 3, 7, 15, 31, 63]
    assert len({p[TCP].seq for p in syns}) == 1 and len({p[TCP].sport for p in syns}) == 1
    ids = [p[IP].id for p in syns]
    assert ids == [(ids[0] + i) & 0xFFFF for i in range(7)]
    tsv = [ts(p)[0] for p in syns]
    assert [(t - tsv[0]) & 0xFFFFFFFF for t in tsv] == [0, 1000, 3000, 7000, 15000, 31000, 63000]
    assert curl.exit_code == 28 and curl.sock.error == errno.ETIMEDOUT
    assert curl.stderr == ["curl: (28) Failed to connect to 172.17.0.99 port 80: Connection timed out"]


def test_syn_linear_timeouts_as_kernel_6_18():
    """Kernel 6.18 (tcp_syn_linear_timeouts = 4) sent SYNs at 0, 1.02, 2.04, 3.06, 4.09,
    5.11, 7.13 s to a silent address (curl --connect-timeout 8)."""
    sim, host, c1, c2 = make_lab(sysctls=KERNEL_6_18)
    c1.ns.neigh.add_permanent(c1.ns.dev("eth0"), ip_to_int("172.17.0.99"), b"\x02\x42\xac\x11\x00\x63")
    c1.ns.spawn(Curl("http://172.17.0.99/"))
    sim.run(until=8)
    syns = [p for p in tcp_pkts(sim, "c1/eth0") if p[TCP].flags == "S"]
    assert [p.time_ns // S for p in syns] == [0, 1, 2, 3, 4, 5, 7]


def test_data_is_retransmitted_with_exponential_backoff():
    sim, host, c1, c2 = make_lab()
    srv = host.ns.spawn(Server())
    c1.ns.neigh.add_permanent(c1.ns.dev("eth0"), ip_to_int("172.17.0.1"), host.bridge.mac)
    cl = c1.ns.spawn(Client("172.17.0.1"))
    sim.run(until=0.1)
    rto = cl.sock.rto
    assert 200 * MS <= rto < 201 * MS  # srtt (µs) + max(4 rttvar, 200 ms)
    c1.veth_host.set_down()
    sim.after(1 * S, c1.veth_host.set_up)
    sim.after(0, cl.sock.send, b"request\r\n\r\n")
    sim.run(until=3)
    drops = _drop_times(sim, "c1/eth0")
    gaps = [b - a for a, b in zip(drops, drops[1:])]
    assert gaps == [rto, 2 * rto]  # 0.1 s, +rto, +2 rto: then the link is back
    assert srv.requests == [b"request\r\n\r\n"]
    assert cl.sock.retrans_segs == 3


def test_icmp_unreachable_aborts_a_connect():
    """c1 → 10.9.9.9: the host has no route, answers ICMP net unreachable; the SYN_SENT
    socket is aborted (tcp_v4_err) and curl reports it."""
    sim, host, c1, c2 = make_lab()
    curl = c1.ns.spawn(Curl("http://10.9.9.9/", show_error=True))
    sim.run(until=1)
    assert curl.exit_code == 7 and curl.sock.error == errno.ENETUNREACH
    assert curl.stderr == ["curl: (7) Failed to connect to 10.9.9.9 port 80: Network is unreachable"]


# -- the socket API -----------------------------------------------------------------------
def test_bind_eaddrinuse_as_linux():
    """As tests/kernel/reference/host_bind_test.txt: without SO_REUSEADDR a second bind of
    0.0.0.0:80 fails; with it on both, it succeeds unless the first socket listens."""
    sim = Simulator(seed=1)
    host = DockerHost(sim)
    tcp = host.ns.tcp
    for reuse, listen, ok in ((0, 0, False), (0, 1, False), (1, 0, True), (1, 1, False)):
        a, b = tcp.socket(), tcp.socket()
        a.reuseaddr = b.reuseaddr = bool(reuse)
        a.bind(("0.0.0.0", 80))
        if listen:
            a.listen(5)
        if ok:
            b.bind(("0.0.0.0", 80))
        else:
            with pytest.raises(OSError) as ei:
                b.bind(("0.0.0.0", 80))
            e = ei.value
            assert e.errno == errno.EADDRINUSE == 98 and e.strerror == "Address already in use"
            assert str(e) == "[Errno 98] Address already in use"
            assert f"bind() to 0.0.0.0:80 failed ({e.errno}: {e.strerror})" == \
                "bind() to 0.0.0.0:80 failed (98: Address already in use)"
        a.close()
        b.close()
    # a specific address conflicts with the wildcard, another port does not
    a = tcp.socket()
    a.bind(("0.0.0.0", 80))
    a.listen(5)
    with pytest.raises(OSError):
        tcp.socket().bind(("172.17.0.1", 80))
    tcp.socket().bind(("172.17.0.1", 81))
    with pytest.raises(OSError) as ei:
        tcp.socket().bind(("10.0.0.1", 82))
    assert ei.value.errno == errno.EADDRNOTAVAIL


def test_same_seed_same_bytes():
    def run(seed):
        sim, host, c1, c2 = make_lab(seed=seed)
        c2.ns.spawn(Server(response=b"r" * 2000))
        c1.ns.spawn(Client("172.17.0.8", data=b"q\r\n\r\n", close_after=2 * MS))
        sim.run(until=1)
        return [r.data for r in Capture.of(sim).records]
    assert run(3) == run(3)
    assert run(3) != run(4)


def test_sockets_leave_the_tables():
    sim, host, c1, c2 = make_lab()
    srv = c2.ns.spawn(Server(response=b"r"))
    c1.ns.spawn(Client("172.17.0.8", data=b"q\r\n\r\n", close_after=1 * MS))
    sim.run(until=70)
    assert not c1.ns.tcp.conns and not c1.ns.tcp.ports
    srv.sock.close()
    assert not c2.ns.tcp.listeners and not c2.ns.tcp.ports


def test_sequence_numbers_wrap_around():
    """ISNs 100 bytes below 2**32: data, windows and the close all cross the wrap."""
    import random

    class NearWrap(random.Random):
        def getrandbits(self, k):
            return (1 << 32) - 100 if k == 32 else super().getrandbits(k)

    sim, host, c1, c2 = make_lab()
    sim.rng = NearWrap(1)
    srv = c2.ns.spawn(Server(response=b"s" * 5000))
    cl = c1.ns.spawn(Client("172.17.0.8", data=b"c" * 3000 + b"\r\n\r\n", close_after=10 * MS))
    sim.run(until=80)
    assert bytes(cl.received) == b"s" * 5000 and srv.requests == [b"c" * 3000 + b"\r\n\r\n"]
    pk = tcp_pkts(sim, "c1/eth0")
    assert pk[0][TCP].seq == (1 << 32) - 100
    assert all(p[TCP].window >= 490 for p in pk if p[TCP].flags != "S" and not p[TCP].flags & 0x04)
    assert not any(p[TCP].flags & 0x04 for p in pk)
    assert not c1.ns.tcp.conns and cl.sock.retrans_segs == 0
