"""Cluster scale: build time, peak memory and ping times as a cluster grows.

For each mode and size, a fresh Python process (so that the peak RSS is that
size's own, not the largest size built so far in this process):

1. builds the cluster with the mode's builder, ``pods_per_node`` pods on every
   node, control plane settled (``build_s``, wall time; ``build_cpu_s``, the same in CPU
   time, which a shared machine does not inflate; ``peak_rss_mib``, the process's
   high-water mark, interpreter included; ``base_rss_mib``, the mark before the build);
2. sends one ping between each of ``pairs`` pod pairs drawn from a seeded RNG,
   all at once, and runs until every one is answered (``ping_s``: wall time;
   ``ping_delivered``: pairs answered);
3. streams ``stream`` pings between the first pair (one in flight at a time), three
   times, and reports the fastest stream's frame-hops per second of wall time at this
   size (``hops_per_s``), which shows whether route and FDB lookups stay cheap as the
   tables grow (``hops_per_cpu_s``: the best per second of CPU time; ``stream_hops``:
   frames received during that stream, the cluster's own chatter included).

Builders are a registry keyed by mode name: ``builder(sim, nodes, pods_per_node)``
returns a cluster whose ``pods`` maps names to pods that have ``ns`` and ``ip``.
"""
import gc
import json
import os
import random
import resource
import subprocess
import sys
import time

from emunet.apps.ping import Ping
from emunet.bench.hop_rate import frame_hops
from emunet.sim import Simulator
from emunet.topology import calico_cluster, flannel_cluster

#: mode name -> builder(sim, nodes, pods_per_node) -> a cluster with ``pods``
BUILDERS = {}
#: ping streams per size; the fastest is reported
STREAM_RUNS = 3


def builder(mode: str):
    """Register a cluster builder under ``mode`` (``@builder("calico-bgp")``)."""
    def register(fn):
        BUILDERS[mode] = fn
        return fn
    return register


@builder("flannel-vxlan")
def _flannel_vxlan(sim, nodes: int, pods_per_node: int):
    return flannel_cluster(sim, nodes, backend="vxlan", pods_per_node=pods_per_node)


@builder("flannel-host-gw")
def _flannel_host_gw(sim, nodes: int, pods_per_node: int):
    return flannel_cluster(sim, nodes, backend="host-gw", pods_per_node=pods_per_node)


@builder("calico-mesh")
def _calico_mesh(sim, nodes: int, pods_per_node: int):
    return calico_cluster(sim, nodes, "mesh", pods_per_node)


@builder("calico-rr")
def _calico_rr(sim, nodes: int, pods_per_node: int):
    return calico_cluster(sim, nodes, "rr", pods_per_node)


def peak_rss_mib() -> float:
    """The process's resident-set high-water mark (``getrusage``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure_one(mode: str, nodes: int, pods_per_node: int = 2, pairs: int = 100, stream: int = 2000,
                seed: int = 1) -> dict:
    """Build one cluster and measure it, in this process."""
    if mode not in BUILDERS:
        raise ValueError(f"unknown mode {mode!r}; there are: {', '.join(BUILDERS)}")
    if nodes < 1 or pods_per_node < 1:
        raise ValueError(f"a cluster needs at least one node and one pod per node, not "
                         f"{nodes} nodes × {pods_per_node} pods")
    base_rss = peak_rss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    sim = Simulator(seed=seed)
    cluster = BUILDERS[mode](sim, nodes, pods_per_node)
    build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    build_events = sim.events_run
    pods = list(cluster.pods.values())
    out = {"mode": mode, "nodes": nodes, "pods": len(pods), "build_s": build_s,
           "build_cpu_s": build_cpu_s, "build_events": build_events}
    rng = random.Random(seed)
    sample = [tuple(rng.sample(pods, 2)) for _ in range(pairs)] if len(pods) >= 2 else []
    # the full collection the build's millions of objects have made due runs here, untimed,
    # not in the middle of a ping phase it has nothing to do with
    gc.collect()
    # 1. one ping per sampled pair, all at once
    t1 = time.perf_counter()
    pings = [a.ns.spawn(Ping(b.ip, count=1, linger=1.0)) for a, b in sample]
    sim.run(until=sim.time + 2.0)
    ping_s = time.perf_counter() - t1
    out.update(ping_pairs=len(sample), ping_delivered=sum(p.received for p in pings), ping_s=ping_s,
               ping_ms_per_pair=1000 * ping_s / max(1, len(sample)))
    # 2. a stream between the first pair: the datapath's speed with this size's tables; the
    # best of STREAM_RUNS (one stream is a tenth of a second, easily slowed by the neighbours
    # on a shared machine, as the hop-rate bench's best of 5 allows for)
    if sample and stream:
        a, b = sample[0]
        best = None
        for _ in range(STREAM_RUNS):
            before = frame_hops(sim)
            t2, c2 = time.perf_counter(), time.process_time()
            p = a.ns.spawn(Ping(b.ip, count=stream, interval=0.0005, linger=1.0))
            sim.run(until=sim.time + stream * 0.0005 + 2.0)
            wall, cpu = time.perf_counter() - t2, time.process_time() - c2
            hops = frame_hops(sim) - before
            run = {"stream_answered": p.received, "stream_hops": hops, "hops_per_s": hops / wall,
                   "hops_per_cpu_s": hops / max(cpu, 1e-9)}
            if best is None or run["hops_per_s"] > best["hops_per_s"]:
                best = run
            best["hops_per_cpu_s"] = max(best["hops_per_cpu_s"], run["hops_per_cpu_s"])
        out.update(stream_pings=stream, stream_runs=STREAM_RUNS, **best)
    out.update(peak_rss_mib=peak_rss_mib(), base_rss_mib=base_rss)
    return out


def _child_env() -> dict:
    """The environment for a child that imports this very ``emunet`` (a worktree's, say)."""
    # the checkout holding this package: emunet/bench/scale.py is three levels below it
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def measure_in_child(mode: str, nodes: int, pods_per_node: int = 2, pairs: int = 100,
                     stream: int = 2000, seed: int = 1) -> dict:
    """:func:`measure_one` in a fresh interpreter, so that its peak RSS is this size's alone."""
    cmd = [sys.executable, "-m", "emunet.bench.scale", mode, str(nodes), str(pods_per_node),
           str(pairs), str(stream), str(seed)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_child_env())
    if p.returncode == 2:       # the model refused the size (_main): say so in one line
        raise ValueError(f"{mode}, {nodes} nodes × {pods_per_node} pods: {p.stderr.strip()}")
    if p.returncode != 0:
        raise RuntimeError(f"bench scale {mode} {nodes} nodes failed (exit {p.returncode}): "
                           f"{p.stderr.strip().splitlines()[-1] if p.stderr.strip() else 'no output'}")
    return json.loads(p.stdout)


def run(nodes=(10, 100, 1000), modes=("flannel-vxlan",), pods_per_node: int = 2, pairs: int = 100,
        stream: int = 2000, seed: int = 1) -> dict:
    for m in modes:
        if m not in BUILDERS:
            raise ValueError(f"unknown mode {m!r}; there are: {', '.join(BUILDERS)}")
    if min(nodes, default=1) < 1 or pods_per_node < 1:
        raise ValueError(f"a cluster needs at least one node and one pod per node, not "
                         f"{min(nodes)} nodes × {pods_per_node} pods")
    rows = []
    for m in modes:
        for n in nodes:
            rows.append(measure_in_child(m, n, pods_per_node, pairs, stream, seed))
    return {"results": rows}


def table(result: dict) -> str:
    head = (f"{'mode':<16} {'nodes':>6} {'pods':>6} {'build_s':>8} {'×':>5} {'cpu_s':>7} {'peak_rss_mib':>12} "
            f"{'×':>5} {'pairs':>7} {'ping_s':>7} {'ms/pair':>8} {'hops/s':>8} {'hops/cpu-s':>10}")
    lines = [head, "-" * len(head)]
    prev = {}
    for r in result["results"]:
        p = prev.get(r["mode"])
        grow_b = f"{r['build_s'] / p['build_s']:>5.1f}" if p and p["build_s"] > 0 else f"{'':>5}"
        grow_m = f"{r['peak_rss_mib'] / p['peak_rss_mib']:>5.1f}" if p else f"{'':>5}"
        pairs = f"{r['ping_delivered']}/{r['ping_pairs']}"
        lines.append(f"{r['mode']:<16} {r['nodes']:>6} {r['pods']:>6} {r['build_s']:>8.2f} {grow_b} "
                     f"{r.get('build_cpu_s', 0):>7.2f} {r['peak_rss_mib']:>12.0f} {grow_m} "
                     f"{pairs:>7} {r['ping_s']:>7.3f} "
                     f"{r['ping_ms_per_pair']:>8.2f} {r.get('hops_per_s', 0):>8.0f} "
                     f"{r.get('hops_per_cpu_s', 0):>10.0f}")
        prev[r["mode"]] = r
    lines.append("build_s: wall time to build and settle (cpu_s: in CPU time); ×: growth over the "
                 "previous size; peak_rss_mib: the measuring process's high-water mark; pairs: pings "
                 "answered / sent, one per sampled pod pair, all at once; hops/s: a ping stream "
                 "between one pair at this size (hops/cpu-s: per second of CPU time)")
    return "\n".join(lines) + "\n"


def _main(argv) -> int:
    """The child of :func:`measure_in_child`: one JSON line, or the model's refusal on stderr
    with exit status 2 (a pod address a node's subnet cannot hold, say)."""
    mode, nodes, ppn, pairs, stream, seed = argv
    try:
        result = measure_one(mode, int(nodes), int(ppn), int(pairs), int(stream), int(seed))
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
