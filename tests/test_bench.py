"""The bench commands at tiny sizes: they run, their JSON has the figures, the figures are
positive.  Speed is measured by ``emunet bench``, never asserted here."""
import contextlib
import json

import pytest

from emunet.apps.ping import Ping
from emunet.apps.udp import UdpEchoServer, UdpSender
from emunet.bench import hop_rate, scale
from emunet.bench.naive import scapy_per_hop
from emunet.cli import main
from emunet.observe.capture import Capture


def _json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_hop_rate_json_names_its_figures(capsys):
    out = _json(capsys, ["bench", "hop-rate", "--json", "--count", "4", "--baseline-count", "2",
                         "--repeat", "1"])
    figures = ("hops_per_s", "hops_per_s_capture", "baseline_hops_per_s", "ratio",
               "delivered_per_s", "delivered_per_s_capture", "hops_per_cpu_s", "hops_per_cpu_s_capture",
               "ratio_cpu")
    assert (out["topology"], out["traffic"]) == ("flannel-vxlan", "ping")
    assert all(out[k] > 0 for k in figures)
    rows = {(r["topology"], r["traffic"]): r for r in out["results"]}
    assert set(rows) == {(t, k) for t in hop_rate.TOPOLOGIES for k in hop_rate.TRAFFIC}
    for r in rows.values():
        assert all(r[k] > 0 for k in figures), r
        assert r["answered"] == 4, r     # every packet of the stream came back
    # frames received from a link per round trip: 4 across docker0, 8 across flannel-vxlan,
    # plus the first packets' ARP (a dozen frames at most, over 4 packets)
    assert 4 <= rows["docker-bridge", "ping"]["hops_per_packet"] <= 4 + 12 / 4
    assert 8 <= rows["flannel-vxlan", "ping"]["hops_per_packet"] <= 8 + 12 / 4


def test_bench_hop_rate_table_has_a_row_per_measurement(capsys):
    assert main(["bench", "hop-rate", "--count", "2", "--baseline-count", "1", "--repeat", "1",
                 "--topologies", "docker-bridge"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:3] == ["topology", "traffic", "hops/s"]
    assert sum(line.startswith("docker-bridge") for line in text.splitlines()) == 2


def test_bench_scale_json_has_a_result_per_size(capsys):
    out = _json(capsys, ["bench", "scale", "--json", "--nodes", "2,3", "--pairs", "3",
                         "--stream", "4"])
    assert [(r["mode"], r["nodes"], r["pods"]) for r in out["results"]] == \
        [("flannel-vxlan", 2, 4), ("flannel-vxlan", 3, 6)]
    for r in out["results"]:
        assert all(r[k] > 0 for k in ("build_s", "peak_rss_mib", "ping_s", "hops_per_s")), r
        assert (r["ping_pairs"], r["ping_delivered"], r["stream_answered"]) == (3, 3, 4), r


def test_bench_refuses_unknown_modes_and_topologies(capsys):
    for argv, err in ((["bench", "scale", "--modes", "flannel-vxlna", "--nodes", "2"],
                       "argument --modes: no mode named 'flannel-vxlna'; there are: flannel-vxlan"),
                      (["bench", "hop-rate", "--topologies", "docker", "--count", "1"],
                       "argument --topologies: no topology named 'docker'; there are: docker-bridge")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and err in capsys.readouterr().err


def test_scale_builders_are_a_registry_by_mode():
    @scale.builder("test-mode")
    def build(sim, nodes, pods_per_node):
        return scale.BUILDERS["flannel-host-gw"](sim, nodes, pods_per_node)
    try:
        r = scale.measure_one("test-mode", 2, pods_per_node=1, pairs=1, stream=2)
        assert (r["mode"], r["pods"], r["ping_delivered"], r["stream_answered"]) == ("test-mode", 2, 1, 2)
    finally:
        del scale.BUILDERS["test-mode"]


@pytest.mark.parametrize("topology", sorted(hop_rate.TOPOLOGIES))
def test_the_scapy_baseline_carries_the_same_frames(topology):
    """The baseline is the same traffic: Scapy's rebuild at every hop changes no byte and no
    comment of the capture, only the time it takes."""
    captures = []
    for naive in (False, True):
        ep = hop_rate.TOPOLOGIES[topology](True)
        ep.dst.spawn(UdpEchoServer(port=hop_rate.BENCH_PORT))
        with scapy_per_hop() if naive else contextlib.nullcontext():
            ep.src.spawn(Ping(ep.dst_ip, count=2, interval=0.0005, linger=1))
            ep.src.spawn(UdpSender(ep.dst_ip, hop_rate.BENCH_PORT, b"\xa5" * 1400, count=2,
                                   interval=0.0005))
            ep.sim.run(until=ep.sim.time + 3)
        captures.append([(r.iface, r.data, r.comments) for r in Capture.of(ep.sim).records])
    assert len(captures[0]) > 20 and captures[0] == captures[1]


def test_bench_plot_draws_saved_results(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot is the optional 'bench' extra")
    hop = _json(capsys, ["bench", "hop-rate", "--json", "--count", "2", "--baseline-count", "1",
                         "--repeat", "1", "--topologies", "docker-bridge"])
    sc = {"results": [{"mode": "flannel-vxlan", "nodes": n, "build_s": n / 100, "peak_rss_mib": 20 + n,
                       "hops_per_s": 40000} for n in (10, 100)]}
    (tmp_path / "hop.json").write_text(json.dumps(hop))
    (tmp_path / "scale.json").write_text(json.dumps(sc))
    out = tmp_path / "bench.png"
    assert main(["bench", "plot", "--hop-rate-json", str(tmp_path / "hop.json"),
                 "--scale-json", str(tmp_path / "scale.json"), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_plot_says_what_it_needs(capsys):
    assert main(["bench", "plot", "--out", "x.png"]) == 2
    assert "give --hop-rate-json and/or --scale-json" in capsys.readouterr().err


def test_calico_mesh_and_rr_clusters_converge_and_every_pod_pair_answers():
    for mode in ("calico-mesh", "calico-rr"):
        r = scale.measure_one(mode, 4, pods_per_node=1, pairs=6, stream=2)
        assert r["ping_delivered"] == 6 and r["build_s"] > 0, r
