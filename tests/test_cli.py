"""The emunet command."""
import os
import subprocess
import sys

from emunet.cli import main
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
    assert main(["run", "nosuch"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"emunet: no scenario named 'nosuch'; there are: {', '.join(SCENARIOS)}\n"


def test_python_dash_m_emunet_is_the_same_command(capsys):
    ran = subprocess.run([sys.executable, "-m", "emunet", "scenarios"], capture_output=True,
                         text=True, check=True)
    assert main(["scenarios"]) == 0
    assert (ran.stdout, ran.stderr) == (capsys.readouterr().out, "")
