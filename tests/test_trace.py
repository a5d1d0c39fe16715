"""Packet traces: the observation points in order, and the reason a packet died."""
import json

from emunet.apps import Ping
from emunet.cli import main
from emunet.observe.trace import Trace, describe
from emunet.scenarios import docker_bridge
from tests.test_stack import routed


def test_docker_bridge_trace_pins_the_observation_points():
    lab = docker_bridge.build(seed=1)
    trace, pid = lab.trace_packet("c1", "172.17.0.8")
    points = [(r.namespace, r.device, r.point) for r in trace.steps(pid) if r.point != "stack"]
    v1, v2 = lab.c1.veth_host.name, lab.c2.veth_host.name
    assert points == [("c1", "eth0", "tx"), ("host", v1, "rx"), ("host", "docker0", "bridge"),
                      ("host", v2, "tx"), ("c2", "eth0", "rx")]
    texts = [r.text for r in trace.steps(pid)]
    assert "queued until ARP resolves" in texts[0]
    assert any("fdb hit 02:42:ac:11:00:08" in t for t in texts)
    assert texts[-1].endswith("→ echo reply")
    assert trace.drop_reason(pid) is None


def _trace(sim, ns, app):
    t = Trace()
    sim.observers.append(t)
    ns.spawn(app)
    sim.run()
    return t, app.pids[0]


def test_unroutable_destination_dies_with_ip_noroute_and_net_unreachable():
    sim, left, r, right = routed()
    t, pid = _trace(sim, left, Ping("192.0.2.1", count=1))
    assert t.drop_reason(pid) == "IP_NOROUTE"
    last = t.steps(pid)[-1]
    assert last.namespace == "router" and last.point == "drop"
    errors = [x for x in t.records if x.data and "unreachable 10.0.1.1 > 10.0.1.2" in describe(x.data)]
    assert errors, "no ICMP error back to the sender"


def test_silent_neighbour_dies_with_neigh_failed_and_host_unreachable():
    sim, left, r, right = routed()
    right.addr_del("eth0", "10.0.2.2/24")  # nobody answers ARP for 10.0.2.2 any more
    t, pid = _trace(sim, left, Ping("10.0.2.2", count=1))
    assert t.drop_reason(pid) == "NEIGH_FAILED"
    assert t.steps(pid)[-1].namespace == "router"
    assert any(x.data and "unreachable 10.0.1.1 > 10.0.1.2" in describe(x.data) for x in t.records)


def test_df_over_smaller_mtu_dies_with_pkt_too_big():
    sim, left, r, right = routed(mtu_right=1400)
    t, pid = _trace(sim, left, Ping("10.0.2.2", count=1, size=1400))
    assert t.drop_reason(pid) == "PKT_TOO_BIG"
    assert "1428 bytes with DF > MTU 1400 of eth2" in t.steps(pid)[-1].text


def test_trace_command_prints_steps_and_json(capsys):
    assert main(["trace", "docker-bridge", "--from", "c1", "--to", "10.9.9.9", "--proto", "udp"]) == 0
    out = capsys.readouterr().out
    assert "to the bridge's own MAC → up the stack" in out
    assert out.strip().endswith("packet dropped: IP_NOROUTE")
    assert main(["trace", "docker-bridge", "--from", "c1", "--to", "172.17.0.8", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[1]["packet"] == "ICMP echo request 172.17.0.7 > 172.17.0.8"
    assert records[1]["namespace"] == "c1" and records[1]["point"] == "tx"
