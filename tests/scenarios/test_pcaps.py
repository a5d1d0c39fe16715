"""The committed captures: reproduced byte for byte, readable, and clean in tshark."""
import os
import subprocess
import sys

import pytest
from scapy.utils import rdpcap

from emunet.scenarios import SCENARIOS, run_scenario
from tests.tshark import needs_tshark, problems

PCAPS = os.path.join(os.path.dirname(__file__), "..", "..", "pcaps")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Every scenario run afresh, as `emunet run --all --out DIR` does."""
    out = tmp_path_factory.mktemp("pcaps")
    subprocess.run([sys.executable, "-m", "emunet", "run", "--all", "--quiet", "--out", str(out)],
                   check=True)
    return out


def test_a_capture_is_committed_for_every_registered_scenario_and_no_other(fresh):
    """`emunet run --all` writes one capture per registered scenario, and pcaps/ holds
    exactly those: a scenario dropped from the registry leaves no capture unchecked."""
    want = sorted(f"{name}.pcapng" for name in SCENARIOS)
    assert sorted(os.listdir(fresh)) == want
    assert sorted(os.listdir(PCAPS)) == want


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_committed_capture_is_reproduced_byte_for_byte(name, fresh):
    committed = os.path.join(PCAPS, f"{name}.pcapng")
    assert os.path.exists(committed), f"pcaps/{name}.pcapng is not committed: run `emunet run --all --out pcaps/`"
    with open(committed, "rb") as a, open(fresh / f"{name}.pcapng", "rb") as b:
        assert a.read() == b.read(), f"{name}: a fresh run differs from the committed capture"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_seed_same_bytes_in_process(name, tmp_path):
    a = run_scenario(name, str(tmp_path / "a"))
    b = run_scenario(name, str(tmp_path / "b"))
    assert len(a.capture.records) == len(b.capture.records) > 0
    assert (tmp_path / "a" / f"{name}.pcapng").read_bytes() == (tmp_path / "b" / f"{name}.pcapng").read_bytes()


@needs_tshark
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_tshark_finds_no_malformed_packet_or_error(name):
    bad = problems(os.path.join(PCAPS, f"{name}.pcapng"))
    assert bad == [], f"{name}: " + "; ".join(bad[:10])


def test_scapy_reads_interfaces_comments_and_direction():
    pkts = rdpcap(os.path.join(PCAPS, "docker-bridge.pcapng"))
    names = {p.sniffed_on for p in pkts}
    assert {"c1/eth0", "c2/eth0", "host/docker0"} <= names
    first = pkts[0]
    assert first.sniffed_on == "c1/eth0"
    assert any(b"ARP probe 1 (broadcast)" in c for c in first.comments)
    assert first.direction == 2  # outbound
    # timestamps from the virtual clock, placed at the seed's date
    assert int(first.time) == 1_618_229_517


def test_per_interface_classic_pcaps(tmp_path):
    run_scenario("docker-bridge", str(tmp_path), per_interface=True)
    files = sorted(os.listdir(tmp_path / "docker-bridge"))
    assert "host-docker0.pcap" in files and "c1-eth0.pcap" in files
    pk = rdpcap(str(tmp_path / "docker-bridge" / "host-docker0.pcap"))
    assert len(pk) >= 4 and len(pk[0]) == 42


def test_capture_is_written_even_when_the_run_fails(tmp_path, monkeypatch):
    from emunet.scenarios import docker_bridge

    class Boom(docker_bridge.DockerBridge):
        def traffic(self):
            super().traffic()
            self.sim.after(1_000_000_000, self._boom)

        def _boom(self):
            raise RuntimeError("a program crashed")

    from emunet.scenarios import registry
    monkeypatch.setitem(registry.SCENARIOS, "boom", registry.Scenario("boom", "", lambda seed: Boom(seed)))
    with pytest.raises(RuntimeError):
        run_scenario("boom", str(tmp_path))
    # everything up to the crash is there and readable: the docker-bridge run's frames up
    # to c2's probe 5 s later, each as the committed capture has it
    pkts = rdpcap(str(tmp_path / "boom.pcapng"))
    committed = rdpcap(os.path.join(PCAPS, "docker-bridge.pcapng"))
    assert 20 <= len(pkts) < len(committed)

    def frame(p):
        return bytes(p), p.time, p.sniffed_on, p.direction, p.comments

    assert [frame(p) for p in pkts] == [frame(p) for p in committed[:len(pkts)]]
    assert committed[len(pkts)].time - pkts[-1].time > 1  # the rest came after the crash
