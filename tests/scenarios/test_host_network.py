"""The --net=host scenario: nginx in the host namespace, curl over docker0 and lo, a second
nginx that cannot bind, and a refused connection."""
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from emunet.apps.http import WELCOME_PAGE
from emunet.scenarios import host_network
from emunet.scenarios.registry import run_scenario
from emunet.sim import S

from tests.tshark import needs_tshark, problems, fields

PAGE_LINES = WELCOME_PAGE.decode().splitlines()


def _run(seed=1):
    return host_network.build(seed=seed).run()


def test_transcript():
    lab = _run()
    t = lab.transcript
    i = t.index("$ docker exec c1 curl -s http://172.17.0.1/")
    assert t[i + 1:i + 1 + len(PAGE_LINES)] == PAGE_LINES
    j = t.index("$ curl -s http://127.0.0.1/")
    assert t[j + 1:j + 1 + len(PAGE_LINES)] == PAGE_LINES
    assert t[0] == "$ docker run -d --net=host --name nginx-1 nginx"
    assert len(t[1]) == 64 and int(t[1], 16) >= 0  # the container id
    k = t.index("$ docker logs nginx-2")
    logs = t[k + 1:t.index("$ docker exec c1 curl -sS http://172.17.0.1:8080/")]
    emerg = "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"
    assert logs.count(emerg) == 5 and logs[-1] == "nginx: [emerg] still could not bind()"
    assert sum("[emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already in use)" in ln
               for ln in logs) == 5
    assert t[-1] == "curl: (7) Failed to connect to 172.17.0.1 port 8080: Connection refused"


def test_programs_and_exit_codes():
    lab = _run()
    assert lab.curl_c1.exit_code == 0 and lab.curl_host.exit_code == 0
    assert lab.curl_c1.body == lab.curl_host.body == WELCOME_PAGE
    assert lab.nginx1.running and lab.nginx1.served == 2
    assert lab.nginx1.listener.laddr == ("0.0.0.0", 80)
    assert lab.nginx2.exit_code == 1 and lab.curl_refused.exit_code == 7
    # the second nginx gave up after 5 tries 500 ms apart: 2.5 s after its start at 1.5 s
    assert lab.nginx2._tries == 5
    # nginx-1 lives in the host namespace itself: no veth, no namespace of its own
    assert lab.host_ns.tcp.listeners[(0, 80)] is lab.nginx1.listener
    assert set(lab.sim.namespaces) == {"host", "c1"}


def test_frames_on_docker0_and_lo():
    lab = _run()
    cap = lab.capture
    d0 = [Ether(r.data) for r in cap.on("host/docker0")]
    tcp80 = [p for p in d0 if TCP in p and 80 in (p[TCP].sport, p[TCP].dport)]
    assert [str(p[TCP].flags) for p in tcp80[:3]] == ["S", "SA", "A"]
    resp = [p for p in tcp80 if p[IP].src == "172.17.0.1" and len(p[TCP].payload)]
    header = bytes(resp[0][TCP].payload)
    assert header.startswith(b"HTTP/1.1 200 OK\r\nServer: nginx/1.21.6\r\nDate: Mon, 12 Apr 2021 ")
    assert b"\r\nContent-Type: text/html\r\nContent-Length: 615\r\n" in header
    assert b"\r\nConnection: keep-alive\r\nETag: \"61f01158-267\"\r\nAccept-Ranges: bytes\r\n\r\n" in header
    assert len(header) == 238 and bytes(resp[1][TCP].payload) == WELCOME_PAGE
    # the client closes first; nginx's FIN carries the ACK; curl's last ACK
    assert [(p[IP].src, str(p[TCP].flags)) for p in tcp80[-3:]] == \
        [("172.17.0.7", "FA"), ("172.17.0.1", "FA"), ("172.17.0.7", "A")]
    lo = [Ether(r.data) for r in cap.on("host/lo") if r.direction == "out"]
    assert lo and all(p[IP].src == p[IP].dst == "127.0.0.1" for p in lo)
    assert dict(lo[0][TCP].options)["MSS"] == 65495
    # the refused connection: the host's kernel RST|ACK with IP ID 0
    rst = [p for p in d0 if TCP in p and p[TCP].flags & 0x04]
    assert len(rst) == 1 and rst[0][TCP].sport == 8080 and rst[0][IP].id == 0
    # nobody else is on the wire: nginx-2 never sent anything
    assert {p[IP].src for p in d0 if IP in p} == {"172.17.0.1", "172.17.0.7"}


def test_virtual_duration_is_modest_and_runs_are_deterministic():
    a, b = _run(), _run()
    assert a.sim.now == 6 * S
    assert [r.data for r in a.capture.records] == [r.data for r in b.capture.records]
    assert a.transcript == b.transcript


@needs_tshark
def test_tshark_finds_no_malformed_packets_or_bad_checksums(tmp_path):
    """The one pcapng holds each frame once per interface it crosses, which Wireshark's
    reassembly takes for overlapping retransmissions; so the whole file is read without
    TCP reassembly, and each interface's own pcap (one copy of each frame, as tcpdump on
    that interface writes it) with full sequence analysis and reassembly."""
    lab = run_scenario("host-network", out_dir=str(tmp_path), per_interface=True)
    path = tmp_path / "host-network.pcapng"
    assert path.exists() and len(lab.capture.records) > 50
    assert problems(path) == []  # problems() reads it without reassembly
    per_iface = sorted((tmp_path / "host-network").glob("*.pcap"))
    checked = [p for p in per_iface if "-lo" not in p.name]  # lo records each frame out and in
    assert len(checked) >= 3
    for p in checked:
        assert problems(p, extra=["-o", "tcp.desegment_tcp_streams:TRUE"]) == [], p.name
    rows = fields(path, ["tcp.checksum.status", "ip.checksum.status"], extra=["-Y", "tcp"])
    assert rows and all(r == ["1", "1"] for r in rows)  # 1 = good (0 bad, 2 unverified)
    http = fields(path, ["http.response.code", "http.server"], extra=["-Y", "http.response"])
    assert http and all(r == ["200", "nginx/1.21.6"] for r in http)


def test_windows_flags_and_lengths_are_the_kernels():
    """The same exchange, curl → nginx, measured on Linux (tcp_rmem[2] = 6 MiB, as this
    model's default) over a veth + bridge and over lo: per direction, (flags, payload
    length, window) in order."""
    lab = _run()
    cap = lab.capture

    def rows(iface, src, sport=None, direction=None):
        out = []
        for r in cap.on(iface):
            if direction and r.direction != direction:
                continue
            p = Ether(r.data)
            if TCP in p and p[IP].src == src and 80 in (p[TCP].sport, p[TCP].dport) \
                    and (sport is None or p[TCP].sport == sport or p[TCP].dport == sport):
                out.append((str(p[TCP].flags), len(p[TCP].payload), p[TCP].window))
        return out

    assert rows("c1/eth0", "172.17.0.7") == [
        ("S", 0, 64240), ("A", 0, 502), ("PA", 74, 502), ("A", 0, 501), ("A", 0, 497),
        ("FA", 0, 497), ("A", 0, 497)]
    assert rows("c1/eth0", "172.17.0.1") == [
        ("SA", 0, 65160), ("A", 0, 509), ("PA", 238, 509), ("PA", 615, 509), ("FA", 0, 509)]
    lo = [Ether(r.data) for r in cap.on("host/lo") if r.direction == "out"]
    client_port = lo[0][TCP].sport
    cli = [(str(p[TCP].flags), len(p[TCP].payload), p[TCP].window) for p in lo if p[TCP].sport == client_port]
    srv = [(str(p[TCP].flags), len(p[TCP].payload), p[TCP].window) for p in lo if p[TCP].dport == client_port]
    assert cli == [("S", 0, 65495), ("A", 0, 512), ("PA", 73, 512), ("A", 0, 511), ("A", 0, 507),
                   ("FA", 0, 507), ("A", 0, 507)]
    assert srv == [("SA", 0, 65483), ("A", 0, 512), ("PA", 238, 512), ("PA", 615, 512), ("FA", 0, 512)]
