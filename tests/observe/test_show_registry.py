"""The show command line (emunet.observe.show.registry): the programs control planes
install in a namespace, unknown commands, the ``emunet show`` CLI, and what run_command
accepts as the place to look namespaces up.
"""
import json

import pytest

from emunet import cli
from emunet.observe.show import run_command
from tests.observe.showlab import FakeLab, route_lab


def test_seed_docker_network_inspect(docker_lab):
    text = run_command(docker_lab, "host", "docker network inspect bridge")
    data = json.loads(text)
    assert list(data[0]) == ["Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM",
                             "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly",
                             "Containers", "Options", "Labels"]
    assert text.startswith('[\n    {\n        "Name": "bridge",\n')
    assert '                    "Subnet": "172.17.0.0/16",\n' \
           '                    "Gateway": "172.17.0.1"\n' in text
    assert text.endswith("        \"Labels\": {}\n    }\n]\n")
    ids = list(data[0]["Containers"])
    assert ids == sorted(ids)  # Go marshals a map with sorted keys
    assert {c["Name"]: c["MacAddress"] for c in data[0]["Containers"].values()} == \
        {"c1": "02:42:ac:11:00:07", "c2": "02:42:ac:11:00:08"}
    short = docker_lab.docker.network_id[:12]
    assert run_command(docker_lab, "host", f"docker inspect network {short}") == text
    with pytest.raises(ValueError, match="No such network: nope"):
        run_command(docker_lab, "host", "docker network inspect nope")
    with pytest.raises(ValueError, match=r"docker: not installed in namespace .c1. \(it is in host\)"):
        run_command(docker_lab, "c1", "docker network inspect bridge")


def test_unknown_command_names_it_and_the_supported_ones(docker_lab):
    with pytest.raises(ValueError) as e:
        run_command(docker_lab, "c1", "ip xfrm state")
    assert "'ip xfrm state'" in str(e.value)
    assert "ip route get ADDR" in str(e.value) and "bridge fdb show" in str(e.value)
    with pytest.raises(ValueError, match="unsupported show command 'tcpdump'"):
        run_command(docker_lab, "c1", "tcpdump")


def test_cli_show_ip_route(capsys):
    assert cli.main(["show", "docker-bridge", "c1", "ip route"]) == 0
    assert capsys.readouterr().out == ("default via 172.17.0.1 dev eth0 \n"
                                       "172.17.0.0/16 dev eth0 proto kernel scope link src 172.17.0.7 \n")


def test_cli_show_unknown_command(capsys):
    assert cli.main(["show", "docker-bridge", "c1", "ipconfig"]) == 2
    assert "unsupported show command 'ipconfig'" in capsys.readouterr().err


def test_run_command_takes_a_simulator_or_a_lab():
    # a simulator built with the public API alone, and the same namespace through a lab
    sim, x, vx, vy = route_lab()
    x.addr_add("vx", "10.1.0.1/24")
    assert run_command(sim, "emushow-x", "ip -br addr") == \
        run_command(FakeLab(x), "emushow-x", "ip -br addr") == (
            "lo               UNKNOWN        127.0.0.1/8 \n"
            "vy@vx            DOWN           \n"
            "vx@vy            DOWN           10.1.0.1/24 \n")
    with pytest.raises(KeyError, match="no namespace named 'nope'"):
        run_command(sim, "nope", "ip route")
