"""The ``emunet`` command."""
import argparse
import json
import sys

from emunet.bench import bgp_scale, hop_rate, plot, scale
from emunet.compare import compare_backends
from emunet.observe.draw import render
from emunet.observe.show import run_command
from emunet.scenarios.registry import SCENARIOS, get, run_scenario


def _cmd_scenarios(args) -> int:
    width = max(len(n) for n in SCENARIOS)
    for name, sc in SCENARIOS.items():
        print(f"{name:<{width}}  {sc.summary}")
    return 0


def _cmd_run(args) -> int:
    names = list(SCENARIOS) if args.all else args.names
    if not names:
        print("emunet run: name a scenario or give --all", file=sys.stderr)
        return 2
    for name in names:
        get(name)  # fail early, with the list of names, on a typo
    for name in names:
        lab = run_scenario(name, args.out, seed=args.seed, per_interface=args.per_interface)
        if not args.quiet:
            print(f"# {name}: {len(lab.capture.records)} frames, "
                  f"{lab.sim.events_run} events, {lab.sim.time:.6f} s virtual"
                  + (f" → {args.out}/{name}.pcapng" if args.out else ""))
            for line in lab.transcript:
                print(line)
    return 0


def _cmd_show(args) -> int:
    lab = get(args.scenario).build(args.seed)
    lab.run()
    print(run_command(lab, args.namespace, args.command), end="")
    return 0


def _cmd_compare(args) -> int:
    print(compare_backends([b for b in args.backends.split(",") if b], seed=args.seed), end="")
    return 0


def _cmd_bench(args) -> int:
    if args.what == "plot":
        print(plot.plot(args.hop_rate_json, args.scale_json, args.out))
        return 0
    if args.what == "hop-rate":
        topologies = [t for t in args.topologies.split(",") if t] if args.topologies else hop_rate.TOPOLOGIES
        result = hop_rate.run(topologies, count=args.count, baseline_count=args.baseline_count,
                              repeat=args.repeat)
        print(json.dumps(result, indent=2) if args.json else hop_rate.table(result), end="\n" if args.json else "")
    else:
        nodes = [int(n) for n in args.nodes.split(",") if n]
        result = scale.run(nodes, modes=[m for m in args.modes.split(",") if m],
                           pods_per_node=args.pods_per_node, pairs=args.pairs, stream=args.stream)
        print(json.dumps(result, indent=2) if args.json else scale.table(result), end="\n" if args.json else "")
    return 0


def _cmd_bgp_scale(args) -> int:
    sizes = [int(n) for n in args.nodes.split(",") if n]
    modes = [m for m in args.mode.split(",") if m]
    result = bgp_scale.run(sizes, modes, seed=args.seed)
    print(json.dumps(result, indent=2) if args.json else bgp_scale.table(result), end="\n" if args.json else "")
    return 0


def _cmd_trace(args) -> int:
    lab = get(args.scenario).build(args.seed)
    if args.pmtudisc is not None and args.proto != "icmp":
        print("emunet trace: -M is ping's: use it with --proto icmp", file=sys.stderr)
        return 2
    trace, pid = lab.trace_packet(args.src, args.to, args.proto, args.dport, args.size, ttl=args.ttl,
                                  pmtudisc=args.pmtudisc or "want")
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(trace.sequence_svg(pid, f"{args.scenario}: {args.src} → {args.to}"))
    if args.pcap:
        trace.write_pcapng(args.pcap, pid, lab.sim.epoch_ns)
    if args.json:
        print(json.dumps(trace.to_json(pid), indent=2))
    else:
        print(trace.format(pid), end="")
        reason = trace.drop_reason(pid)
        if reason:
            print(f"packet dropped: {reason}")
    return 0


def _cmd_draw(args) -> int:
    lab = get(args.scenario).build(args.seed)
    if not args.no_run:
        lab.run()
    print(render(lab.sim, args.out, title=args.scenario))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emunet", description="Packet-level emulator of container "
                                "and Kubernetes networking.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scenarios", help="list the scenarios")
    s.set_defaults(fn=_cmd_scenarios)
    r = sub.add_parser("run", help="run scenarios and write their captures")
    r.add_argument("names", nargs="*", help="scenario names")
    r.add_argument("--all", action="store_true", help="every scenario")
    r.add_argument("--out", help="directory for <scenario>.pcapng")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--per-interface", action="store_true",
                   help="also write one classic pcap per interface under <out>/<scenario>/")
    r.add_argument("-q", "--quiet", action="store_true")
    r.set_defaults(fn=_cmd_run)
    sh = sub.add_parser("show", help="run a scenario, then a show command in one of its namespaces")
    sh.add_argument("scenario")
    sh.add_argument("namespace", help="a namespace (container or host) of the scenario")
    sh.add_argument("command", help='e.g. "ip route", "ip neigh", "bridge fdb show", "ifconfig"')
    sh.add_argument("--seed", type=int, default=1)
    sh.set_defaults(fn=_cmd_show)
    t = sub.add_parser("trace", help="follow one packet through a scenario, step by step")
    t.add_argument("scenario")
    t.add_argument("--from", dest="src", required=True, help="namespace that sends the packet")
    t.add_argument("--to", required=True, help="destination address")
    t.add_argument("--proto", default="icmp", choices=["icmp", "udp"])
    t.add_argument("--dport", type=int, default=53)
    t.add_argument("--size", type=int, help="payload bytes")
    t.add_argument("--json", action="store_true", help="the steps as JSON records")
    t.add_argument("--ttl", type=int, help="the echo request's TTL (ping -t)")
    t.add_argument("-M", dest="pmtudisc", choices=["do", "dont", "want"],
                   help="ping -M: DF and fragmenting (default want: DF if it fits, fragments if not)")
    t.add_argument("--svg", help="also draw the journey as a sequence picture (SVG) to this file")
    t.add_argument("--pcap", help="also write the journey's frames, commented step by step, as pcapng")
    t.add_argument("--seed", type=int, default=1)
    t.set_defaults(fn=_cmd_trace)
    d = sub.add_parser("draw", help="draw a scenario's topology (namespaces, devices, links, addresses)")
    d.add_argument("scenario")
    d.add_argument("--out", required=True, help="picture file: .svg, .png, .pdf or .dot")
    d.add_argument("--no-run", action="store_true", help="draw before the traffic runs")
    d.add_argument("--seed", type=int, default=1)
    d.set_defaults(fn=_cmd_draw)
    c = sub.add_parser("compare", help="send the same traffic over several backends and compare")
    c.add_argument("--backends", default="flannel-udp,flannel-vxlan,flannel-host-gw,calico-bgp,calico-ipip,"
                   "calico-vxlan")
    c.add_argument("--seed", type=int, default=1)
    c.set_defaults(fn=_cmd_compare)
    b = sub.add_parser("bench", help="measure the datapath (hop-rate) or cluster build cost (scale), "
                       "or plot saved results (plot)")
    b.add_argument("what", choices=["hop-rate", "scale", "plot"])
    b.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    b.add_argument("--count", type=int, default=2000, help="hop-rate: packets per measurement")
    b.add_argument("--baseline-count", type=int, default=100,
                   help="hop-rate: packets through the Scapy-per-hop baseline")
    b.add_argument("--nodes", default="10,100,1000", help="scale: cluster sizes")
    b.add_argument("--modes", default="flannel-vxlan", help="scale: cluster kinds")
    b.add_argument("--topologies", help="hop-rate: topologies (default: all)")
    b.add_argument("--repeat", type=int, default=5, help="hop-rate: best of this many runs")
    b.add_argument("--pods-per-node", type=int, default=2, help="scale: pods on every node")
    b.add_argument("--pairs", type=int, default=100, help="scale: sampled pod pairs, one ping each")
    b.add_argument("--stream", type=int, default=2000,
                   help="scale: pings streamed between one pair to measure the hop rate at each size")
    b.add_argument("--hop-rate-json", help="plot: a saved `bench hop-rate --json`")
    b.add_argument("--scale-json", help="plot: a saved `bench scale --json`")
    b.add_argument("--out", help="plot: the PNG to write")
    b.set_defaults(fn=_cmd_bench)
    g = sub.add_parser("bgp-scale", help="BGP full mesh against route reflectors: sessions, "
                       "messages, frames, convergence time as the cluster grows")
    g.add_argument("--nodes", default="10,50,100,200", help="cluster sizes")
    g.add_argument("--mode", default="mesh,rr", help="mesh, rr or both")
    g.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    g.add_argument("--seed", type=int, default=1)
    g.set_defaults(fn=_cmd_bgp_scale)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (KeyError, ValueError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"emunet: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
