"""``--net=host``: a web server in the host's own namespace, reached by curl from a bridge
container over docker0 and from the host itself over lo, and a connection refused by a
closed port (RST|ACK); emunet's TCP (Nginx, Curl) against the kernel's (a python3 server
sending the same bytes as emunet's nginx, in the same two writes, and the real curl).

Compared per frame: TCP option layout (MSS, SACK_PERM, TS, NOP, WS and their order),
windows, flags, header and payload lengths, relative sequence and acknowledgement
numbers, the FIN sequence, IP ID 0 where the kernel sends 0 and +1 steps per socket.
The model's TCP sysctls are set to this kernel's (tcp_rmem, rmem_max: they decide the
window scale), the curl version to the installed curl's (the User-Agent)."""
import json
import os
import re
import shutil
import tempfile
import time

from emunet.apps.http import Curl, Nginx
from tests.kernel.cases import DockerModel, Mirror, emunet_frames, settle
from tests.kernel.compare import compare
from tests.kernel.harness import Topology, run

MS = 1_000_000

SERVER = r"""
import json, socket, sys
responses = [(bytes.fromhex(h), bytes.fromhex(b)) for h, b in json.load(open(sys.argv[1]))]
srv = socket.socket()
srv.bind(("0.0.0.0", 80))
srv.listen(511)
print("ready", flush=True)
for head, body in responses:
    conn, _ = srv.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = conn.recv(65536)
        if not chunk:
            break
        req += chunk
    conn.send(head)          # nginx: writev() of the header
    conn.send(body)          # nginx: sendfile() of the page (Nagle holds it until the ACK)
    while conn.recv(65536):  # keep-alive: close when the client does
        pass
    conn.close()
"""


def _responses(ecap, server_ip: str, iface: str) -> list:
    """The server's replies in emunet's capture, split where nginx split them (header, page)."""
    from tests.kernel.compare import dissect
    out = []
    cur = b""
    for _, data, _ in ecap[iface]:
        f = dict(dissect(data))
        if f.get("ip.src") == server_ip and f.get("tcp.sport") == 80 and f.get("tcp.payload"):
            cur += bytes.fromhex(f["tcp.payload"])
        if f.get("ip.src") == server_ip and f.get("tcp.sport") == 80 and "FIN" in f.get("tcp.flags", ""):
            if cur:
                head, sep, body = cur.partition(b"\r\n\r\n")
                out.append(((head + sep).hex(), body.hex()))
            cur = b""
    return out


def test_curl_to_a_host_network_server_over_docker0_and_lo_and_a_refused_port(netns):
    curl_version = re.match(r"curl (\S+)", run(["curl", "--version"]).stdout).group(1)
    model = DockerModel(containers=(("c1", "172.17.0.7"),))
    host, c1 = model.host.ns, model.containers["c1"].ns
    labels = Mirror.labels_of(model.sim)
    with Topology("hostnet") as t:
        k = Mirror(t, model.sim)
        # this kernel's TCP buffer sysctls into the model (the window scale follows them)
        rmem = tuple(int(x) for x in t.exec(k.ns["host"], "sysctl", "-n", "net.ipv4.tcp_rmem").stdout.split())
        rmem_max = int(open("/proc/sys/net/core/rmem_max").read())
        for ns in model.sim.namespaces.values():
            ns.sysctl["net.ipv4.tcp_rmem"] = rmem
            ns.sysctl["net.core.rmem_max"] = rmem_max

        # emunet first: its nginx's bytes are what the kernel's server will send
        sim = model.sim
        host.spawn(Nginx())
        sim.after(0 * MS, lambda: c1.spawn(Curl("http://172.17.0.1/", version=curl_version)))
        sim.after(500 * MS, lambda: host.spawn(Curl("http://127.0.0.1/", version=curl_version)))
        sim.after(1000 * MS, lambda: c1.spawn(Curl("http://172.17.0.1:8080/", show_error=True,
                                                   version=curl_version)))
        sim.run(until=2.0)
        ecap = emunet_frames(sim, labels)
        responses = (_responses(ecap, "172.17.0.1", "c1/eth0") +
                     _responses(ecap, "127.0.0.1", "host/lo"))
        assert len(responses) == 2, responses

        tmp = tempfile.mkdtemp(prefix="emuk-")
        try:
            path = os.path.join(tmp, "responses.json")
            with open(path, "w") as f:
                json.dump(responses, f)
            t.start(k.ns["host"], ["python3", "-c", SERVER, path], ready="ready")
            sn = k.sniff(labels)
            t0 = time.monotonic()
            out = {}
            steps = [(0.0, "c1", ["curl", "-s", "http://172.17.0.1/"]),
                     (0.5, "host", ["curl", "-s", "http://127.0.0.1/"]),
                     (1.0, "c1", ["curl", "-sS", "http://172.17.0.1:8080/"])]
            for at, who, argv in steps:
                left = t0 + at - time.monotonic()
                if left > 0:
                    time.sleep(left)
                out[argv[-1]] = t.exec(k.ns[who], *argv, check=False)
            kcap = settle(sn, until=1.4, start=t0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    assert out["http://172.17.0.1/"].returncode == 0, out
    assert out["http://172.17.0.1:8080/"].returncode == 7, out
    rep = compare("host-network TCP", kcap, ecap)
    assert len(kcap["c1/eth0"]) >= 12, rep.text()
    assert rep, rep.text()
    assert {"tcp.options", "tcp.window", "tcp.ts.ecr", "ip.id.step", "tcp.payload"} <= rep.fields
