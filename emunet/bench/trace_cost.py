"""What leaving a Trace observer on costs: a ping flood with and without one attached.

``emunet bench trace-cost [--count N] [--repeat R]`` runs ``ping -f``-like
traffic (one echo request every 100 µs of virtual time) between two containers on
docker0 and between two pods across flannel's VXLAN, with no observer, a Trace, a
Capture, and both, and prints the wall time per echo request/reply exchange.  The
best of ``repeat`` runs is kept (the machine is shared; the minimum is the least
disturbed).
"""
import gc
import time

from emunet.apps.ping import Ping
from emunet.observe.capture import Capture
from emunet.observe.trace import Trace
from emunet.scenarios import docker_bridge, flannel_vxlan

MODES = ("none", "null", "trace", "capture", "capture+trace")


class NullObserver:
    """Attached, does nothing: what the model's own reporting costs (the notes it builds,
    the calls it makes) once any observer is there."""

    def on_frame(self, *args):
        pass

    def on_note(self, *args):
        pass

    def on_drop(self, *args):
        pass


def _docker_bridge():
    lab = docker_bridge.build(seed=1, capture=False)
    return lab.sim, lab.c1.ns, lab.c2.ip


def _flannel_vxlan():
    lab = flannel_vxlan.build(seed=1, capture=False)
    lab.settle()
    return lab.sim, lab.client.ns, lab.server.ip


TOPOLOGIES = {"docker-bridge": _docker_bridge, "flannel-vxlan": _flannel_vxlan}


def measure(topology: str, mode: str, count: int) -> dict:
    sim, src, dst = TOPOLOGIES[topology]()
    trace = capture = None
    if mode == "null":
        sim.observers.append(NullObserver())
    if "trace" in mode:
        trace = Trace()
        sim.observers.append(trace)
    if "capture" in mode:
        capture = Capture.attach(sim)
    ping = Ping(str(dst), count=count, interval=0.0001, linger=1.0)
    # the runs before this one left their simulators as cyclic garbage; collected here,
    # untimed, rather than by a pass in the middle of this flood
    gc.collect()
    t0 = time.process_time()
    src.spawn(ping)
    sim.run(until=sim.time + count * 0.0001 + 2.0)   # flanneld's timers never run dry
    wall = time.process_time() - t0
    return {"topology": topology, "mode": mode, "count": count, "received": ping.received,
            "wall_s": wall, "us_per_ping": wall / count * 1e6,
            "trace_records": len(trace) if trace is not None else 0,
            "capture_frames": len(capture.records) if capture else 0}


class _Recorder:
    """Keeps the arguments of every report, to replay them into an observer alone."""

    def __init__(self):
        self.calls = []

    def on_frame(self, *args):
        self.calls.append(("on_frame", args))

    def on_note(self, *args):
        self.calls.append(("on_note", args))

    def on_drop(self, *args):
        self.calls.append(("on_drop", args))


def per_report(topology: str = "flannel-vxlan", count: int = 200, repeat: int = 5) -> dict:
    """The observer's own cost per report, without the datapath around it: the reports
    of a ping run are recorded, then replayed into a fresh Trace (and Capture)."""
    sim, src, dst = TOPOLOGIES[topology]()
    rec = _Recorder()
    sim.observers.append(rec)
    src.spawn(Ping(str(dst), count=count, interval=0.0001, linger=1.0))
    sim.run(until=sim.time + count * 0.0001 + 2.0)
    out = {"topology": topology, "reports": len(rec.calls),
           "reports_per_ping": len(rec.calls) / count}
    for name, cls in (("trace", Trace), ("capture", lambda: Capture(epoch_ns=0))):
        best = None
        for _ in range(repeat):
            obs = cls()
            calls = [(getattr(obs, m), a) for m, a in rec.calls]
            t0 = time.process_time()
            for fn, args in calls:
                fn(*args)
            dt = time.process_time() - t0
            best = dt if best is None else min(best, dt)
        out[f"{name}_us_per_report"] = best / len(rec.calls) * 1e6
    return out


def run(count: int = 2000, repeat: int = 3, topologies=tuple(TOPOLOGIES)) -> dict:
    rows = []
    for topo in topologies:
        best = {}
        for _ in range(repeat):
            for mode in MODES:      # interleaved, so a slow moment hits every mode alike
                m = measure(topo, mode, count)
                if mode not in best or m["wall_s"] < best[mode]["wall_s"]:
                    best[mode] = m
        base = best["none"]["us_per_ping"]
        for mode in MODES:
            r = dict(best[mode])
            r["overhead_pct"] = (r["us_per_ping"] / base - 1) * 100
            rows.append(r)
    return {"results": rows, "per_report": [per_report(t) for t in topologies]}


def table(result: dict) -> str:
    head = f"{'topology':<14} {'observers':<14} {'µs/ping':>8} {'overhead':>9} {'records':>8} {'frames':>7}"
    lines = [head, "-" * len(head)]
    for r in result["results"]:
        lines.append(f"{r['topology']:<14} {r['mode']:<14} {r['us_per_ping']:>8.1f} "
                     f"{r['overhead_pct']:>8.1f}% {r['trace_records']:>8} {r['capture_frames']:>7}")
    for r in result.get("per_report", []):
        lines.append(f"{r['topology']}: {r['reports_per_ping']:.0f} reports per ping; alone, a Trace "
                     f"takes {r['trace_us_per_report']:.2f} µs per report, a Capture "
                     f"{r['capture_us_per_report']:.2f} µs")
    return "\n".join(lines) + "\n"
