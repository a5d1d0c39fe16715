"""The emunet command."""
import json
import os
import subprocess
import sys

import pytest

import emunet
from emunet.cli import build_parser, main
from emunet.scenarios import SCENARIOS, run_scenario

PCAPS = os.path.join(os.path.dirname(__file__), "..", "pcaps")


def test_scenarios_lists_every_registered_scenario_with_its_summary(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split(None, 1) for line in lines] == \
        [[name, scenario.summary] for name, scenario in SCENARIOS.items()]
    # the summaries start in one column, two spaces after the longest name
    column = max(len(name) for name in SCENARIOS) + 2
    assert all(line[column - 2:column] == "  " and line[column] != " " for line in lines)
    assert out.endswith("\n")


def test_run_writes_the_capture_and_prints_the_transcript(tmp_path, capsys):
    assert main(["run", "docker-bridge", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    with open(os.path.join(PCAPS, "docker-bridge.pcapng"), "rb") as f:
        assert (tmp_path / "docker-bridge.pcapng").read_bytes() == f.read()
    assert "$ docker exec -it c1 ping -c 1 172.17.0.8" in out
    assert "1 packets transmitted, 1 received, 0% packet loss" in out
    lab = run_scenario("docker-bridge")
    assert out.splitlines() == [
        f"# docker-bridge: {len(lab.capture.records)} frames, {lab.sim.events_run} events, "
        f"{lab.sim.time:.6f} s virtual → {tmp_path}/docker-bridge.pcapng", *lab.transcript]


def test_unknown_scenario_is_refused_by_name(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "nosuch"])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == ""
    assert err.splitlines()[-1] == \
        f"emunet run: error: argument names: no scenario named 'nosuch'; there are: {', '.join(SCENARIOS)}"


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"emunet {emunet.__version__}\n"


def test_run_says_where_it_wrote_and_writes_here_without_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "docker-bridge", "--out", "pcaps/", "--per-interface"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(" → pcaps/docker-bridge.pcapng, one pcap per interface in pcaps/docker-bridge/")
    written = os.listdir(tmp_path / "pcaps" / "docker-bridge")
    assert len(written) == len(run_scenario("docker-bridge").capture.interfaces())
    assert {"c1-eth0.pcap", "c2-eth0.pcap", "host-docker0.pcap"} <= set(written)
    assert main(["run", "docker-bridge"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(" → ./docker-bridge.pcapng")
    assert (tmp_path / "docker-bridge.pcapng").read_bytes() == (tmp_path / "pcaps" / "docker-bridge.pcapng").read_bytes()


def test_draw_and_trace_make_the_directories_they_write_in(tmp_path, capsys):
    assert main(["draw", "docker-bridge", "--no-run", "--out", str(tmp_path / "a" / "topo.dot")]) == 0
    assert main(["trace", "docker-bridge", "--from", "c1", "--to", "172.17.0.8",
                 "--svg", str(tmp_path / "b" / "c" / "seq.svg"), "--pcap", str(tmp_path / "d" / "p.pcapng")]) == 0
    assert (tmp_path / "a" / "topo.dot").read_text().startswith("graph emunet {")
    assert (tmp_path / "b" / "c" / "seq.svg").read_text().startswith("<svg")
    assert (tmp_path / "d" / "p.pcapng").read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"


def test_draw_without_graphviz_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))         # no dot on it
    assert main(["draw", "docker-bridge", "--no-run", "--out", str(tmp_path / "x.svg")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (
        "emunet draw: error: argument --out: a .svg picture needs Graphviz's dot, which pip cannot "
        "install: apt-get install graphviz (macOS: brew install graphviz); --out FILE.dot writes the "
        "DOT text without it\n")
    assert main(["draw", "docker-bridge", "--no-run", "--out", str(tmp_path / "x.dot")]) == 0


def test_bgp_scale_takes_modes_as_bench_scale_does_and_mode_still():
    parser = build_parser()
    assert parser.parse_args(["bgp-scale", "--modes", "rr"]).modes == ["rr"]
    assert parser.parse_args(["bgp-scale", "--mode", "mesh,rr"]).modes == ["mesh", "rr"]
    assert parser.parse_args(["bench", "scale", "--modes", "calico-rr"]).modes == ["calico-rr"]


def test_bench_plot_names_the_file_it_cannot_read(tmp_path, capsys):
    bad = tmp_path / "hop.json"
    for text, why in (("{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
                      ('{"results": []}', "no list of results"),
                      ('{"results": [{"topology": "x"}]}', "result 1 lacks (or has the wrong type for) "
                       "hops_per_s, hops_per_s_capture, baseline_hops_per_s, ratio, traffic")):
        bad.write_text(text)
        assert main(["bench", "plot", "--hop-rate-json", str(bad), "--out", str(tmp_path / "x.png")]) == 2
        assert capsys.readouterr().err == \
            f"emunet bench plot: error: {bad} is not the JSON of `emunet bench hop-rate --json`: {why}\n"


def test_python_dash_m_emunet_is_the_same_command(capsys):
    ran = subprocess.run([sys.executable, "-m", "emunet", "scenarios"], capture_output=True,
                         text=True, check=True)
    assert main(["scenarios"]) == 0
    assert (ran.stdout, ran.stderr) == (capsys.readouterr().out, "")


def test_compare_says_between_which_pods_the_traffic_went(capsys):
    assert main(["compare", "--backends", "calico-ipip"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("Traffic: ping -c 1, then one 1400-byte UDP datagram to an echo server, "
                           "pod-1 on node1 → pod-5 on node3; ")
    assert main(["compare", "--backends", "flannel-udp,calico-bgp"]) == 0
    assert "server, client pod → server pod (flannel-udp: container-1 on node1 → container-4 on node2; " \
           "calico-bgp: pod-1 on node1 → pod-3 on node2); every figure" in capsys.readouterr().out


def test_bgp_scale_says_when_each_size_is_done(capsys):
    assert main(["bgp-scale", "--nodes", "2,3", "--modes", "mesh", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [(r["nodes"], r["mode"], r["converged"]) for r in json.loads(out)["results"]] == \
        [(2, "mesh", True), (3, "mesh", True)]
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["# 2 nodes, mesh", "# 3 nodes, mesh"]
    assert all(" s, converged in " in line and line.endswith(" s (wall)") for line in lines)
