"""tracepath (iputils 20221126) in real namespaces against emunet's
:class:`~emunet.apps.tracepath.Tracepath`: the lines it prints (round trips left out) and
every interface's frames.

A probe's payload carries its send time (``CLOCK_MONOTONIC``, bytes 8 to 24), which
compare.py does not normalise: the comparison may differ there and nowhere else, and the
payloads are checked apart: the same TTL and padding, a plausible time, zeros after it.
"""
import re
import shutil
import struct
import time

import pytest

from emunet.apps.tracepath import UPTIME_NS, Tracepath

from tests.kernel.cases import DockerModel, Mirror, Nodes, emunet_frames, settle
from tests.kernel.compare import compare
from tests.kernel.harness import Topology

MS = 1_000_000
_TIME = re.compile(r" +\d+\.\d{3}ms ")


@pytest.fixture(autouse=True)
def _tracepath_installed(netns):
    if shutil.which("tracepath") is None:
        pytest.skip("kernel comparison skipped: tracepath is not installed (tests/run.sh "
                    "installs iputils-tracepath)")


def lines(text: str) -> list:
    """What tracepath printed, each round trip and the spaces before it written as `` T ``
    (the 52-column host field is checked in tests/apps/test_tracepath.py)."""
    return [_TIME.sub(" T ", line) for line in text.rstrip("\n").split("\n")]


def _kernel(model_sim, ns: str, argv, name: str):
    labels = Mirror.labels_of(model_sim)
    with Topology(name) as t:
        k = Mirror(t, model_sim)
        sn = k.sniff(labels)
        start = time.monotonic()
        p = t.exec(k.ns[ns], "tracepath", *argv, check=False)
        assert p.returncode == 0 and not p.stderr, p
        return p.stdout, settle(sn, until=0.3, start=start)


def _emunet(sim, ns, argv):
    tp = ns.spawn(Tracepath.from_argv(argv))
    sim.run(until=sim.time + 2.0)
    assert tp.exit_code == 0 and not tp.stderr, (tp.stdout, tp.stderr)
    return "\n".join(tp.stdout), emunet_frames(sim, Mirror.labels_of(sim))


def _probe_payloads(frames) -> list:
    """The UDP payloads of the probes a capture holds (outgoing datagrams to 44444 on)."""
    out = []
    for _, data, direction in frames:
        if direction == "out" and data[12:14] == b"\x08\x00" and data[23] == 17:
            off = 14 + (data[14] & 0x0F) * 4
            if int.from_bytes(data[off + 2:off + 4], "big") >= 44444:
                out.append(data[off + 8:])
    return out


def _check(rep, kcap, ecap, iface: str) -> None:
    """Only the probes' send times may differ; the payloads are checked here instead."""
    other = [d for d in rep.diffs if "counterpart" in d
             or any(not part.split(":")[0].endswith("udp.payload") for part in d.partition("]: ")[2].split("; "))]
    assert not other, rep.text()
    kp, ep = _probe_payloads(kcap[iface]), _probe_payloads(ecap[iface])
    assert len(kp) == len(ep) >= 2
    for k, e in zip(kp, ep):
        assert len(k) == len(e) and k[:8] == e[:8] and k[24:] == e[24:] == bytes(len(k) - 24)
        ksec, knsec = struct.unpack_from("<qq", k, 8)
        esec, ensec = struct.unpack_from("<qq", e, 8)
        assert ksec > 0 and 0 <= knsec < 10**9 and esec * 10**9 + ensec >= UPTIME_NS


def test_tracepath_across_docker0(netns):
    """``tracepath -n 172.17.0.8``: the first 65507-byte send fails (EMSGSIZE, the local
    error gives 1500), the probe goes again at 1500 bytes (DF, IP ID 0) and c2 answers
    ``reached``; the MTU changed during that TTL, so tracepath tries once more and prints
    ``reached`` twice; back 1 (c2's port unreachable arrives with TTL 64)."""
    model = DockerModel()
    argv = ["-n", "172.17.0.8"]
    kout, kcap = _kernel(model.sim, "c1", argv, "tpd")
    eout, ecap = _emunet(model.sim, model.containers["c1"].ns, argv)
    want = [" 1?: [LOCALHOST]                      pmtu 1500",
            " 1:  172.17.0.8 T reached",
            " 1:  172.17.0.8 T reached",
            "     Resume: pmtu 1500 hops 1 back 1 "]
    assert lines(kout) == want and lines(eout) == want, (kout, eout)
    rep = compare("tracepath across docker0", kcap, ecap)
    assert len(kcap["c1/eth0"]) == 2 + 4, rep.text()
    _check(rep, kcap, ecap, "c1/eth0")
    assert {"ip.flags.df", "ip.id", "icmp.quote.udp.len"} <= rep.fields


def test_tracepath_finds_flannels_1450(netns):
    """flannel-pmtu's misconfiguration (pods, veths and cni0 at 1500, flannel.1 at 1450):
    ``tracepath -n 100.96.2.2`` learns 1500 locally, then at TTL 2 node1's fragmentation
    needed (``pmtu 1450``, from cni0's address), and reaches pod2 at 1450: ``Resume: pmtu
    1450 hops 3 back 3``."""
    m = Nodes([("node1", "10.168.0.2", 24, "100.96.1.0/24"),
               ("node2", "10.168.0.3", 24, "100.96.2.0/24")], pod_mtu=1500)
    m.cable("node1", "node2", (b"\x42\x01\x0a\xa8\x00\x02", b"\x42\x01\x0a\xa8\x00\x03"))
    m.vxlan()
    argv = ["-n", "100.96.2.2"]
    kout, kcap = _kernel(m.sim, "pod1", argv, "tpp")
    eout, ecap = _emunet(m.sim, m.pod["pod1"], argv)
    want = [" 1?: [LOCALHOST]                      pmtu 1500",
            " 1:  100.96.1.1 T ",
            " 1:  100.96.1.1 T ",
            " 2:  100.96.1.1 T pmtu 1450",
            " 2:  100.96.2.0 T ",
            " 3:  100.96.2.2 T reached",
            "     Resume: pmtu 1450 hops 3 back 3 "]
    assert lines(kout) == want and lines(eout) == want, (kout, eout)
    rep = compare("tracepath across flannel.1 at 1450", kcap, ecap)
    # ARP (2); 3 probes at 1500 (2 time exceeded, 1 fragmentation needed), 2 at 1450 (a time
    # exceeded from node2, the port unreachable)
    assert len(kcap["pod1/eth0"]) == 2 + 6 + 4, rep.text()
    _check(rep, kcap, ecap, "pod1/eth0")
    assert {"inner.ip.len", "inner.icmp.rest", "vxlan.vni"} <= rep.fields
