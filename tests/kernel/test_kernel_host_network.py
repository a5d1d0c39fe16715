"""``--net=host``: a web server in the host's own namespace, reached by curl from a bridge
container over docker0 and from the host itself over lo, and a connection refused by a
closed port (RST|ACK); emunet's TCP (Nginx, Curl) against the kernel's (a python3 server
sending the same bytes as emunet's nginx, in the same two writes, and the real curl).

Compared per frame: TCP option layout (MSS, SACK_PERM, TS, NOP, WS and their order),
windows, flags, header and payload lengths, relative sequence and acknowledgement
numbers, the FIN sequence, IP ID 0 where the kernel sends 0 and +1 steps per socket.
The model's TCP sysctls are set to this kernel's (tcp_rmem, rmem_max: they decide the
window scale), the curl version to the installed curl's (the User-Agent)."""
import re
import time

from emunet.apps.http import Curl, Nginx
from tests.kernel.cases import (DockerModel, Mirror, emunet_frames, kernel_tcp_sysctls,
                                nginx_responses, settle, start_nginx_standin)
from tests.kernel.compare import compare
from tests.kernel.harness import Topology, run

MS = 1_000_000

def test_curl_to_a_host_network_server_over_docker0_and_lo_and_a_refused_port(netns):
    curl_version = re.match(r"curl (\S+)", run(["curl", "--version"]).stdout).group(1)
    model = DockerModel(containers=(("c1", "172.17.0.7"),))
    host, c1 = model.host.ns, model.containers["c1"].ns
    labels = Mirror.labels_of(model.sim)
    with Topology("hostnet") as t:
        k = Mirror(t, model.sim)
        kernel_tcp_sysctls(t, k)

        # emunet first: its nginx's bytes are what the kernel's server will send
        sim = model.sim
        host.spawn(Nginx())
        sim.after(0 * MS, lambda: c1.spawn(Curl("http://172.17.0.1/", version=curl_version)))
        sim.after(500 * MS, lambda: host.spawn(Curl("http://127.0.0.1/", version=curl_version)))
        sim.after(1000 * MS, lambda: c1.spawn(Curl("http://172.17.0.1:8080/", show_error=True,
                                                   version=curl_version)))
        sim.run(until=2.0)
        ecap = emunet_frames(sim, labels)
        responses = (nginx_responses(ecap, "172.17.0.1", "c1/eth0") +
                     nginx_responses(ecap, "127.0.0.1", "host/lo"))
        assert len(responses) == 2, responses

        start_nginx_standin(t, k.ns["host"], responses)
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
    assert out["http://172.17.0.1/"].returncode == 0, out
    assert out["http://172.17.0.1:8080/"].returncode == 7, out
    rep = compare("host-network TCP", kcap, ecap)
    assert len(kcap["c1/eth0"]) >= 12, rep.text()
    assert rep, rep.text()
    assert {"tcp.options", "tcp.window", "tcp.ts.ecr", "ip.id.step", "tcp.payload"} <= rep.fields
