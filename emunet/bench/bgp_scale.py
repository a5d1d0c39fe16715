"""``emunet bgp-scale``: what a BGP full mesh and route reflectors cost as a cluster grows.

For each size N and mode, N nodes sit on one underlay switch (``lan0``); each runs
``bird`` configured as calico/node's ``bird.cfg.template`` would configure it, originates its
/24 block (``protocol static { route BLOCK blackhole; }``) and exports it with Calico's
``calico_export_to_bgp_peers``:

* ``mesh``: the node-to-node mesh, one session per pair, made unidirectional as Calico's
  template makes it (``passive on`` towards a peer whose address sorts higher);
* ``rr``: nodes 1 and 2 are route reflectors with the same cluster id (``244.0.0.1``, the
  example of Calico's docs), peering with each other as plain iBGP and with everyone else as
  ``rr client``; every other node peers with both reflectors.  Both ends connect (BGPPeer
  resources make no passive side), so collisions are resolved as RFC 4271 6.8 says.

The virtual clock runs until every node has every other node's block in its kernel table
(``proto bird``) and every configured session is established; the convergence time is
when the last kernel route went in.  Reported: sessions, BGP messages and bytes by type (sent), frames that
crossed the switch, virtual convergence time, wall time, events, peak RSS (each
configuration runs in a forked process so that its peak is its own).  The cyclic garbage
collector is frozen after the build: the run allocates millions of short-lived objects and
gen-2 collections would otherwise dominate the wall time.

The node builder is a parameter (:func:`bird_node` by default) so that another model of a
node -- Calico's, with felix, CNI and tunnels -- can be measured the same way: it gets a
:class:`NodeSpec` and returns an object with ``ns`` and ``bird``.
"""
import gc
import ipaddress
import json
import os
import resource
import time

import attrs

from emunet.control.bird import Bird, BgpPeer, StaticRoute
from emunet.control.calico import CALICO_PEER, calico_export_to_bgp_peers
from emunet.devices.switch import Nic, Switch
from emunet.observe.capture import Capture
from emunet.sim import S, Simulator
from emunet.stack.namespace import Namespace
from emunet.topology import nic_mac

AS_NUMBER = 64512
CLUSTER_ID = "244.0.0.1"
POOL = "10.0.0.0/8"


@attrs.define
class PeerSpec:
    address: str
    name: str
    rr_client: bool = False
    passive: bool = False


@attrs.define
class NodeSpec:
    """What a node builder gets: its name, underlay address, block, role and peers."""

    index: int
    name: str
    ip: str
    prefixlen: int
    block: str
    role: str                         # "mesh", "rr" or "client"
    asn: int = AS_NUMBER
    rr_cluster_id: str = None
    peers: list = attrs.Factory(list)
    pool: str = POOL


@attrs.define
class SpeakerNode:
    spec: NodeSpec
    ns: Namespace
    eth0: Nic
    bird: Bird


def node_address(i: int, n: int) -> tuple:
    """Node i's underlay address: 192.168.0.2 ... on a /24 up to 250 nodes, else a /16."""
    if n <= 250:
        return f"192.168.0.{i + 2}", 24
    return str(ipaddress.IPv4Address("192.168.0.0") + i + 2), 16


def node_block(i: int) -> str:
    """Node i's block: 10.20.i.0/24 (10.21.0.0/24 after 256 nodes, and so on)."""
    return f"10.{20 + i // 256}.{i % 256}.0/24"


def plan(n: int, mode: str) -> list:
    """The nodes of one run and who peers with whom, as Calico's configuration would say."""
    if mode not in ("mesh", "rr"):
        raise ValueError(f"bgp-scale: mode {mode!r} is not one of mesh, rr")
    if n < 2 or (mode == "rr" and n < 3):
        raise ValueError(f"bgp-scale: {n} nodes are too few for mode {mode}")
    specs = []
    for i in range(n):
        ip, plen = node_address(i, n)
        role = "mesh" if mode == "mesh" else ("rr" if i < 2 else "client")
        specs.append(NodeSpec(i, f"node{i + 1}", ip, plen, node_block(i), role,
                              rr_cluster_id=CLUSTER_ID if role == "rr" else None))
    for s in specs:
        if mode == "mesh":
            # "passive on; # Mesh is unidirectional, peer will connect to us." for a peer
            # whose address is greater (Go's template compares the strings)
            s.peers = [PeerSpec(o.ip, "Mesh_" + o.ip.replace(".", "_"), passive=o.ip > s.ip)
                       for o in specs if o is not s]
        elif s.role == "rr":
            s.peers = [PeerSpec(o.ip, "Node_" + o.ip.replace(".", "_"), rr_client=o.role == "client")
                       for o in specs if o is not s]
        else:
            s.peers = [PeerSpec(o.ip, "Node_" + o.ip.replace(".", "_")) for o in specs if o.role == "rr"]
    return specs


def bird_node(sim, switch: Switch, spec: NodeSpec) -> SpeakerNode:
    """A bare node: a namespace with ``eth0`` on the switch and calico/node's ``bird``."""
    ns = Namespace(sim, spec.name)
    ns.set_sysctl("net.ipv4.ip_forward", 1)
    eth0 = Nic(sim, "eth0", nic_mac(spec.ip))
    ns.add_device(eth0)
    switch.connect(eth0)
    eth0.set_up()
    ns.addr_add(eth0, f"{spec.ip}/{spec.prefixlen}")
    peers = [BgpPeer(p.address, spec.asn, name=p.name, rr_client=p.rr_client, passive=p.passive,
                     source_address=spec.ip, **CALICO_PEER) for p in spec.peers]
    bird = Bird(spec.ip, spec.asn, peers=peers, static_routes=[StaticRoute(spec.block)],
                export=calico_export_to_bgp_peers([spec.pool], [spec.block]),
                kernel_export="all", rr_cluster_id=spec.rr_cluster_id,
                direct=("-cali*", "-kube-ipvs*", "*"), kernel_persist=True,
                version="v0.3.3+birdv1.6.8")
    ns.spawn(bird)
    return SpeakerNode(spec, ns, eth0, bird)


@attrs.define
class Fleet:
    sim: Simulator
    switch: Switch
    nodes: list
    mode: str
    #: every frame of the run, when built with ``capture=True``
    capture: object = None

    def converged(self) -> bool:
        """Every node has every other node's block in its kernel table, from bird."""
        want = {n.spec.block for n in self.nodes}
        for node in self.nodes:
            have = {str(r.dst) for r in node.ns.fib.main if r.proto == "bird"}
            if not want - {node.spec.block} <= have:
                return False
        return True

    def sessions(self) -> int:
        return sum(len(n.bird.established()) for n in self.nodes) // 2

    def configured_sessions(self) -> int:
        return sum(len(n.spec.peers) for n in self.nodes) // 2

    def settled(self) -> bool:
        """Converged, and every configured session established."""
        return self.sessions() == self.configured_sessions() and self.converged()

    def last_route_change(self) -> int:
        return max(n.bird.last_kernel_change for n in self.nodes)


def build(n: int, mode: str, seed: int = 1, capture: bool = False, node_builder=bird_node,
          switch_latency_ns: int = 1000) -> Fleet:
    sim = Simulator(seed=seed)
    recorder = Capture.attach(sim) if capture else None
    sw = Switch(sim, "lan0", latency_ns=switch_latency_ns)
    nodes = [node_builder(sim, sw, spec) for spec in plan(n, mode)]
    return Fleet(sim, sw, nodes, mode, recorder)


def run_until_converged(fleet: Fleet, step: float = 0.05, limit: float = 900.0) -> bool:
    """Run until every block is everywhere and every session is up (``limit`` seconds of
    virtual time at most)."""
    sim = fleet.sim
    while not fleet.settled():
        if sim.time >= limit:
            return False
        sim.run(until=sim.time + step)
    return True


def measure(n: int, mode: str, seed: int = 1, node_builder=bird_node) -> dict:
    t0 = time.perf_counter()
    fleet = build(n, mode, seed, node_builder=node_builder)
    t_build = time.perf_counter() - t0
    gc.collect()
    gc.freeze()
    gc.disable()
    t1 = time.perf_counter()
    ok = run_until_converged(fleet)
    wall = time.perf_counter() - t1
    gc.enable()
    msgs, nbytes = {}, 0
    for node in fleet.nodes:
        for k, v in node.bird.msg_tx.items():
            msgs[k] = msgs.get(k, 0) + v
        nbytes += node.bird.bytes_tx
    kinds = {}
    for node in fleet.nodes:
        for k, v in node.bird.bytes_by_type.items():
            kinds[k] = kinds.get(k, 0) + v
    return {
        "nodes": n, "mode": mode, "converged": ok, "sessions": fleet.sessions(),
        "messages": msgs, "message_bytes": kinds, "bgp_bytes": nbytes,
        "frames": fleet.switch.frames, "underlay_bytes": fleet.switch.bytes,
        "convergence_s": fleet.last_route_change() / S,
        "virtual_s": fleet.sim.time, "wall_s": round(wall, 3), "build_s": round(t_build, 3),
        "events": fleet.sim.events_run,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _in_child(fn, *args):
    """Run ``fn(*args)`` in a forked child (its own peak RSS); fall back to in-process."""
    if not hasattr(os, "fork"):
        return fn(*args)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = json.dumps(fn(*args)).encode()
        except BaseException as e:  # report, never hang the parent
            out = json.dumps({"error": f"{type(e).__name__}: {e}"}).encode()
        with os.fdopen(w, "wb") as f:
            f.write(out)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    res = json.loads(data)
    if "error" in res:
        raise RuntimeError(f"bgp-scale {args[:2]}: {res['error']}")
    return res


def run(sizes=(10, 50, 100, 200), modes=("mesh", "rr"), seed: int = 1, node_builder=bird_node,
        fork: bool = True, progress=None) -> dict:
    for n in sizes:
        for mode in modes:
            plan(n, mode)  # refuse a bad size or mode before running anything
    rows = []
    for n in sizes:
        for mode in modes:
            res = _in_child(measure, n, mode, seed, node_builder) if fork else \
                measure(n, mode, seed, node_builder)
            rows.append(res)
            if progress is not None:
                progress(res)
    return {"results": rows}


_KINDS = ("OPEN", "UPDATE", "KEEPALIVE", "NOTIFICATION")


def table(result: dict) -> str:
    head = (f"{'nodes':>5} {'mode':<4} {'sessions':>8} {'OPEN':>7} {'UPDATE':>8} {'KEEPALIVE':>9} "
            f"{'NOTIF':>6} {'BGP bytes':>10} {'frames':>8} {'conv (virt)':>11} {'wall':>8} "
            f"{'peak RSS':>9}")
    lines = [head, "-" * len(head)]
    for r in result["results"]:
        m = r["messages"]
        conv = f"{r['convergence_s']:.3f} s" if r["converged"] else "no"
        lines.append(f"{r['nodes']:>5} {r['mode']:<4} {r['sessions']:>8} {m.get('OPEN', 0):>7} "
                     f"{m.get('UPDATE', 0):>8} {m.get('KEEPALIVE', 0):>9} {m.get('NOTIFICATION', 0):>6} "
                     f"{r['bgp_bytes']:>10} {r['frames']:>8} {conv:>11} {r['wall_s']:>7.1f}s "
                     f"{r['peak_rss_mb']:>7.0f}MB")
    lines.append("")
    lines.append("bytes by type: " + "; ".join(
        f"{r['nodes']} {r['mode']}: " + ", ".join(f"{k} {r['message_bytes'].get(k, 0)}" for k in _KINDS)
        for r in result["results"]))
    return "\n".join(lines) + "\n"
