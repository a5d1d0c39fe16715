"""docker0 with two containers, built in emunet and in real namespaces; same traffic; the
captures of every interface on the path compared frame by frame (see compare.py for the
fields and the short list of normalised ones)."""
import time

from emunet.apps.ping import Ping

from tests.kernel.cases import DockerKernel, DockerModel, emunet_frames, settle
from tests.kernel.compare import compare, compare_timing
from tests.kernel.harness import Topology

MS = 1_000_000


def test_arp_and_ping_through_docker0(netns):
    """ping -c 1 c1 → c2: ARP request (flooded), reply, echo request and reply across the
    bridge, and c2's unicast ARP probe ~5 s later (its entry for c1 went STALE → DELAY)."""
    model = DockerModel()
    labels = model.labels()
    with Topology("ping") as t:
        k = DockerKernel(t, model)
        sn = k.sniff(labels)
        start = time.monotonic()
        p = t.exec(k.ns["c1"], "ping", "-c", "1", "172.17.0.8")
        assert "1 received" in p.stdout, p.stdout
        kcap = settle(sn, until=5.6, start=start)
    model.containers["c1"].ns.spawn(Ping("172.17.0.8", count=1))
    model.sim.run(until=7.0)
    ecap = emunet_frames(model.sim, labels)
    rep = compare("docker-bridge ping", kcap, ecap)
    compare_timing(rep, kcap, ecap, tolerance_ns=250 * MS)
    assert len(kcap["c1/eth0"]) == 6, rep.text()   # the traffic happened, probe included
    assert rep, rep.text()
