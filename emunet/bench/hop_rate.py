"""Frame-hops per second of wall time, capture off and on, against the Scapy-per-hop baseline."""
import time

from emunet.apps.ping import Ping
from emunet.apps.udp import UdpEchoServer, UdpSender
from emunet.bench.naive import scapy_per_hop


def frame_hops(sim) -> int:
    """Frames received by a device from a link (a bridge's own interface is not a link)."""
    return sum(d.stats.rx_packets for ns in sim.namespaces.values() for d in ns.devices.values()
               if d.kind != "bridge")


def _docker_bridge(capture: bool):
    from emunet import Simulator
    from emunet.docker import DockerHost
    sim = Simulator(seed=1, capture=capture)
    host = DockerHost(sim)
    a, b = host.run("c1"), host.run("c2")
    return sim, a.ns, b.ns, b.ip


def _flannel_vxlan(capture: bool):
    from emunet.scenarios.flannel_vxlan import build
    lab = build(seed=1, capture=capture)
    src, dst = lab.bench_endpoints()
    return lab.sim, src, dst[0], dst[1]


TOPOLOGIES = {"docker-bridge": _docker_bridge, "flannel-vxlan": _flannel_vxlan}


def measure(topology: str, traffic: str, count: int, capture: bool, naive: bool = False) -> dict:
    sim, src, dst_ns, dst_ip = TOPOLOGIES[topology](capture)
    if traffic == "ping":
        app = Ping(dst_ip, count=count, interval=0.0005, linger=1)
    else:
        dst_ns.spawn(UdpEchoServer(port=7))
        app = UdpSender(dst_ip, 7, b"\xa5" * 1400, count=count, interval=0.0005)
    before = frame_hops(sim)
    t0 = time.perf_counter()
    if naive:
        with scapy_per_hop():
            src.spawn(app)
            sim.run()
    else:
        src.spawn(app)
        sim.run()
    wall = time.perf_counter() - t0
    hops = frame_hops(sim) - before
    delivered = app.received if traffic == "ping" else len(app.replies)
    return {"topology": topology, "traffic": traffic, "capture": capture, "naive": naive,
            "packets": count, "delivered": delivered, "frame_hops": hops, "wall_s": wall,
            "hops_per_s": hops / wall, "delivered_per_s": delivered / wall}


def run(topologies=("docker-bridge", "flannel-vxlan"), count: int = 2000, baseline_count: int = 100) -> dict:
    rows = []
    for topo in topologies:
        try:
            TOPOLOGIES[topo](False)
        except ImportError:
            continue
        for traffic in ("ping", "udp1400"):
            off = measure(topo, traffic, count, capture=False)
            on = measure(topo, traffic, count, capture=True)
            base = measure(topo, traffic, baseline_count, capture=False, naive=True)
            rows.append({"topology": topo, "traffic": traffic,
                         "hops_per_s": off["hops_per_s"], "hops_per_s_capture": on["hops_per_s"],
                         "delivered_per_s": off["delivered_per_s"],
                         "delivered_per_s_capture": on["delivered_per_s"],
                         "baseline_hops_per_s": base["hops_per_s"],
                         "ratio": off["hops_per_s"] / base["hops_per_s"],
                         "hops_per_packet": off["frame_hops"] / max(1, off["packets"])})
    return {"results": rows}


def table(result: dict) -> str:
    head = (f"{'topology':<14} {'traffic':<8} {'hops/s':>10} {'hops/s cap':>11} {'pkts/s':>9} "
            f"{'baseline':>9} {'ratio':>6} {'hops/pkt':>8}")
    lines = [head, "-" * len(head)]
    for r in result["results"]:
        lines.append(f"{r['topology']:<14} {r['traffic']:<8} {r['hops_per_s']:>10.0f} "
                     f"{r['hops_per_s_capture']:>11.0f} {r['delivered_per_s']:>9.0f} "
                     f"{r['baseline_hops_per_s']:>9.0f} {r['ratio']:>6.1f} {r['hops_per_packet']:>8.1f}")
    return "\n".join(lines) + "\n"
