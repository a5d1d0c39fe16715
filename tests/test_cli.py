"""The emunet command."""
import subprocess
import sys

from emunet.cli import main


def test_scenarios_lists_the_single_host_ones(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert "docker-bridge" in out and "host-network" in out


def test_run_writes_the_capture_and_prints_the_transcript(tmp_path, capsys):
    assert main(["run", "docker-bridge", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "docker-bridge.pcapng").stat().st_size > 1000
    assert "$ docker exec -it c1 ping -c 1 172.17.0.8" in out
    assert "1 packets transmitted, 1 received, 0% packet loss" in out


def test_unknown_scenario_is_refused_by_name(capsys):
    assert main(["run", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "nosuch" in err and "docker-bridge" in err


def test_python_dash_m_emunet_is_the_same_command():
    out = subprocess.run([sys.executable, "-m", "emunet", "scenarios"], capture_output=True,
                         text=True, check=True).stdout
    assert "docker-bridge" in out
