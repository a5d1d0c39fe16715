"""The ``emunet`` command.

Every argument is judged as argparse reads it (a ``type=`` function or ``choices=``), so
a bad value gets argparse's own answer, ``emunet trace: error: argument --ttl: ...`` with
the valid range, and exit status 2.  What only a built scenario can judge (a namespace's
name, a show command, a file to write) is refused the same way: one line on stderr naming
the argument, status 2.
"""
import argparse
import errno
import ipaddress
import json
import os
import sys

import graphviz

from emunet import __version__
from emunet.bench import bgp_scale, hop_rate, plot, scale, trace_cost
from emunet.compare import BACKENDS, compare_backends
from emunet.observe.draw import render
from emunet.observe.show import run_command
from emunet.scenarios.registry import SCENARIOS, get, run_scenario


# -- argument types: each raises argparse.ArgumentTypeError with the valid range ------------
class IntRange:
    """An integer from ``lo`` to ``hi`` (``hi`` None: no upper bound); ``why`` says where
    the range comes from."""

    def __init__(self, lo: int, hi: int = None, why: str = ""):
        self.lo, self.hi, self.why = lo, hi, why

    def describe(self) -> str:
        return f"{self.lo}..{self.hi}" if self.hi is not None else f"{self.lo} or more"

    def __call__(self, text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer ({self.describe()})") from None
        if value < self.lo or (self.hi is not None and value > self.hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range ({self.describe()})"
                                             + (f": {self.why}" if self.why else ""))
        return value


class OneOf:
    """One of a set of names (``names`` a callable for a registry that can grow)."""

    def __init__(self, what: str, names):
        self.what, self.names = what, names

    def valid(self) -> list:
        return list(self.names() if callable(self.names) else self.names)

    def describe(self) -> str:
        return "there are: " + ", ".join(self.valid())

    def __call__(self, text: str) -> str:
        if text not in self.valid():
            raise argparse.ArgumentTypeError(f"no {self.what} named {text!r}; {self.describe()}")
        return text


class ListOf:
    """Comma-separated values, at least one, each judged by ``item``."""

    def __init__(self, item, example: str):
        self.item, self.example = item, example

    def __call__(self, text: str) -> list:
        parts = [p.strip() for p in text.split(",")]
        if not all(parts):
            what = "has an empty item" if any(parts) else "is empty"
            raise argparse.ArgumentTypeError(f"{text!r} {what}: give values separated by commas, e.g. "
                                             f"{self.example} ({self.item.describe()})")
        return [self.item(p) for p in parts]


def ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address (e.g. 172.17.0.8)") from None


def path(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("give a file name")
    return text


#: ``draw --out``'s formats by suffix: DOT text as it is, the others drawn by Graphviz's dot
PICTURES = ("svg", "png", "pdf", "dot", "gv")


def picture(text: str) -> str:
    """A picture's file name; its suffix picks the format."""
    suffix = os.path.splitext(text)[1][1:].lower()
    if suffix not in PICTURES:
        raise argparse.ArgumentTypeError(f"{text!r}: the suffix picks the format, one of "
                                         f"{', '.join('.' + f for f in PICTURES)}")
    return text


SCENARIO = OneOf("scenario", SCENARIOS)
SEED = IntRange(0, why="the simulator's random seed (a negative seed would repeat its positive twin)")
#: Linux: a TTL is one byte, and setsockopt(IP_TTL) refuses 0 ("ping -t 0": Invalid argument)
TTL = IntRange(1, 255, "one byte, and Linux refuses IP_TTL 0 (ping: cannot set unicast time-to-live)")
#: udp_sendmsg refuses port 0 with EINVAL
PORT = IntRange(1, 65535, "a UDP port; sendto refuses port 0 (EINVAL)")
#: an IPv4 datagram is at most 65535 bytes: 20 of IP header and 8 of ICMP or UDP header leave
#: 65507 (iputils' ping -s 65508: "local error: message too long")
SIZE = IntRange(0, 65535 - 20 - 8, "an IPv4 datagram holds at most 65535 bytes, 28 of them IP and "
                "ICMP/UDP headers")


class Refused(Exception):
    """A value the model refused: ``emunet CMD: error: argument ARG: why``, exit status 2."""

    def __init__(self, argument: str, why: str):
        super().__init__(f"argument {argument}: {why}")


def _parent_dir(file_name: str) -> None:
    """Create the directories a file is to be written in, as ``run --out`` does."""
    parent = os.path.dirname(file_name)
    if parent:
        _make_dirs(parent)


def _make_dirs(directory: str) -> None:
    # makedirs says "File exists" of a file in the way; mkdir -p's word is the clearer one
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), directory)
    os.makedirs(directory, exist_ok=True)


def _key_error(e: KeyError) -> str:
    return e.args[0] if e.args else str(e)


def _check_namespace(lab, name: str, argument: str) -> None:
    """Refuse, naming ``argument``, a namespace the scenario does not have."""
    try:
        lab.namespace(name)
    except KeyError as e:
        raise Refused(argument, _key_error(e)) from None


# -- the subcommands -------------------------------------------------------------------------
def _cmd_scenarios(args) -> int:
    width = max(len(n) for n in SCENARIOS)
    for name, sc in SCENARIOS.items():
        print(f"{name:<{width}}  {sc.summary}")
    return 0


def _cmd_run(args) -> int:
    names = list(SCENARIOS) if args.all else args.names
    if not names:
        raise Refused("names", "name a scenario or give --all")
    _make_dirs(args.out)
    for name in names:
        lab = run_scenario(name, args.out, seed=args.seed, per_interface=args.per_interface)
        if not args.quiet:
            where = os.path.join(args.out, f"{name}.pcapng")
            if args.per_interface:
                where += f", one pcap per interface in {os.path.join(args.out, name, '')}"
            print(f"# {name}: {len(lab.capture.records)} frames, "
                  f"{lab.sim.events_run} events, {lab.sim.time:.6f} s virtual → {where}")
            for line in lab.transcript:
                print(line)
    return 0


def _cmd_show(args) -> int:
    lab = get(args.scenario).build(args.seed)
    _check_namespace(lab, args.namespace, "namespace")
    lab.run()
    try:
        text = run_command(lab, args.namespace, args.command)
    except ValueError as e:
        raise Refused("command", str(e)) from None
    print(text, end="")
    return 0


def _cmd_compare(args) -> int:
    print(compare_backends(args.backends, seed=args.seed), end="")
    return 0


def _print(result: dict, table, as_json: bool) -> None:
    print(json.dumps(result, indent=2) if as_json else table(result), end="\n" if as_json else "")


def _cmd_hop_rate(args) -> int:
    result = hop_rate.run(args.topologies, count=args.count, baseline_count=args.baseline_count,
                          repeat=args.repeat)
    _print(result, hop_rate.table, args.json)
    return 0


def _cmd_scale(args) -> int:
    result = scale.run(args.nodes, modes=args.modes, pods_per_node=args.pods_per_node, pairs=args.pairs,
                       stream=args.stream)
    _print(result, scale.table, args.json)
    return 0


def _cmd_trace_cost(args) -> int:
    _print(trace_cost.run(args.count, args.repeat), trace_cost.table, args.json)
    return 0


def _cmd_plot(args) -> int:
    if args.hop_rate_json is None and args.scale_json is None:
        raise Refused("--hop-rate-json", "give --hop-rate-json and/or --scale-json")
    _parent_dir(args.out)
    print(plot.plot(args.hop_rate_json, args.scale_json, args.out))
    return 0


def _cmd_bgp_scale(args) -> int:
    if "rr" in args.modes and min(args.nodes) < 3:
        raise Refused("--nodes", f"{min(args.nodes)} nodes are too few for --modes rr: two route "
                      "reflectors and at least one client, 3 or more")
    def progress(row):      # the largest sizes take minutes: say what is done as it is
        print(f"# {row['nodes']} nodes, {row['mode']}: built in {row['build_s']:.1f} s, "
              + ("converged" if row["converged"] else "NOT converged") + f" in {row['wall_s']:.1f} s (wall)",
              file=sys.stderr)

    _print(bgp_scale.run(args.nodes, args.modes, seed=args.seed, progress=progress), bgp_scale.table,
           args.json)
    return 0


def _cmd_trace(args) -> int:
    # ping's options with ping, the port with UDP: refused before anything is built
    if args.proto != "icmp":
        for value, name in ((args.pmtudisc, "-M"), (args.ttl, "--ttl")):
            if value is not None:
                raise Refused(name, "ping's option: use it with --proto icmp")
    elif args.dport is not None:
        raise Refused("--dport", "a UDP port: use it with --proto udp")
    lab = get(args.scenario).build(args.seed)
    _check_namespace(lab, args.src, "--from")
    trace, pid = lab.trace_packet(args.src, args.to, args.proto, 53 if args.dport is None else args.dport,
                                  args.size, ttl=args.ttl, pmtudisc=args.pmtudisc or "want")
    if args.svg:
        _parent_dir(args.svg)
        with open(args.svg, "w") as f:
            f.write(trace.sequence_svg(pid, f"{args.scenario}: {args.src} → {args.to}"))
    if args.pcap:
        _parent_dir(args.pcap)
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
    _parent_dir(args.out)
    try:
        print(render(lab.sim, args.out, title=args.scenario))
    except graphviz.ExecutableNotFound:
        # the graphviz package writes DOT itself and runs Graphviz's dot for a picture
        raise Refused("--out", f"a .{args.out.rsplit('.', 1)[-1]} picture needs Graphviz's dot, which pip "
                      "cannot install: apt-get install graphviz (macOS: brew install graphviz); "
                      "--out FILE.dot writes the DOT text without it") from None
    return 0


# -- the parser ------------------------------------------------------------------------------
def _subcommand(sub, name: str, fn, **kw) -> argparse.ArgumentParser:
    p = sub.add_parser(name, **kw)
    p.set_defaults(fn=fn, prog=p.prog)
    return p


def _bench(sub) -> None:
    b = sub.add_parser("bench", help="measure the datapath (hop-rate), cluster build cost (scale) or "
                       "what a Trace costs (trace-cost), or plot saved results (plot)")
    what = b.add_subparsers(dest="what", required=True, metavar="{hop-rate,scale,trace-cost,plot}")
    positive = IntRange(1)
    h = _subcommand(what, "hop-rate", _cmd_hop_rate, help="frame-hops per second against a Scapy-per-hop "
                    "baseline")
    h.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    h.add_argument("--count", type=positive, default=2000, help="packets per measurement")
    h.add_argument("--baseline-count", type=positive, default=100,
                   help="packets through the Scapy-per-hop baseline")
    h.add_argument("--topologies", type=ListOf(OneOf("topology", hop_rate.TOPOLOGIES), "docker-bridge"),
                   default=list(hop_rate.TOPOLOGIES), help="topologies (default: all)")
    h.add_argument("--repeat", type=positive, default=5, help="best of this many runs")
    s = _subcommand(what, "scale", _cmd_scale, help="build clusters of growing size: time, memory, hop rate")
    s.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    s.add_argument("--nodes", type=ListOf(positive, "10,100,1000"), default="10,100,1000",
                   help="cluster sizes")
    s.add_argument("--modes", type=ListOf(OneOf("mode", lambda: scale.BUILDERS), "flannel-vxlan,calico-rr"),
                   default="flannel-vxlan", help=f"cluster kinds: {', '.join(scale.BUILDERS)}")
    s.add_argument("--pods-per-node", type=positive, default=2, help="pods on every node")
    s.add_argument("--pairs", type=IntRange(0), default=100, help="sampled pod pairs, one ping each")
    s.add_argument("--stream", type=IntRange(0), default=2000,
                   help="pings streamed between one pair to measure the hop rate at each size")
    c = _subcommand(what, "trace-cost", _cmd_trace_cost, help="a ping flood with and without a Trace "
                    "or a Capture attached")
    c.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    c.add_argument("--count", type=positive, default=2000, help="echo requests per run")
    c.add_argument("--repeat", type=positive, default=3, help="runs per mode; the fastest is kept")
    p = _subcommand(what, "plot", _cmd_plot, help="draw saved results (needs matplotlib: "
                    "pip install 'emunet[bench]')")
    p.add_argument("--hop-rate-json", type=path, help="a saved `bench hop-rate --json`")
    p.add_argument("--scale-json", type=path, help="a saved `bench scale --json`")
    p.add_argument("--out", type=path, required=True, help="the PNG to write")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emunet", description="Packet-level emulator of container "
                                "and Kubernetes networking.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    seed = {"type": SEED, "default": 1, "help": "random seed (0 or more): same seed, same bytes"}
    _subcommand(sub, "scenarios", _cmd_scenarios, help="list the scenarios")
    r = _subcommand(sub, "run", _cmd_run, help="run scenarios and write their captures")
    r.add_argument("names", nargs="*", type=SCENARIO, help="scenario names")
    r.add_argument("--all", action="store_true", help="every scenario")
    r.add_argument("--out", type=path, default=".",
                   help="directory for <scenario>.pcapng, made if missing (default: the current one)")
    r.add_argument("--seed", **seed)
    r.add_argument("--per-interface", action="store_true",
                   help="also write one classic pcap per interface under <out>/<scenario>/")
    r.add_argument("-q", "--quiet", action="store_true")
    sh = _subcommand(sub, "show", _cmd_show,
                     help="run a scenario, then a show command in one of its namespaces")
    sh.add_argument("scenario", type=SCENARIO)
    sh.add_argument("namespace", help="a namespace (container or host) of the scenario")
    sh.add_argument("command", help='e.g. "ip route", "ip neigh", "bridge fdb show", "ifconfig"')
    sh.add_argument("--seed", **seed)
    t = _subcommand(sub, "trace", _cmd_trace, help="follow one packet through a scenario, step by step")
    t.add_argument("scenario", type=SCENARIO)
    t.add_argument("--from", dest="src", required=True, help="namespace that sends the packet")
    t.add_argument("--to", type=ipv4, required=True, help="destination address")
    t.add_argument("--proto", default="icmp", choices=["icmp", "udp"])
    t.add_argument("--dport", type=PORT, help=f"UDP destination port, {PORT.describe()} (default 53)")
    t.add_argument("--size", type=SIZE, help=f"payload bytes, {SIZE.describe()} (ping -s; default 56 "
                   "for ICMP, 32 for UDP)")
    t.add_argument("--json", action="store_true", help="the steps as JSON records")
    t.add_argument("--ttl", type=TTL, help=f"the echo request's TTL, {TTL.describe()} (ping -t)")
    t.add_argument("-M", dest="pmtudisc", choices=["do", "dont", "want"],
                   help="ping -M: DF and fragmenting (default want: DF if it fits, fragments if not)")
    t.add_argument("--svg", type=path, help="also draw the journey as a sequence picture (SVG) to this file")
    t.add_argument("--pcap", type=path,
                   help="also write the journey's frames, commented step by step, as pcapng")
    t.add_argument("--seed", **seed)
    d = _subcommand(sub, "draw", _cmd_draw,
                    help="draw a scenario's topology (namespaces, devices, links, addresses)")
    d.add_argument("scenario", type=SCENARIO)
    d.add_argument("--out", type=picture, required=True,
                   help="picture file: .svg, .png or .pdf (these need Graphviz's dot), or .dot")
    d.add_argument("--no-run", action="store_true", help="draw before the traffic runs")
    d.add_argument("--seed", **seed)
    c = _subcommand(sub, "compare", _cmd_compare, help="send the same traffic over several backends and compare")
    c.add_argument("--backends", type=ListOf(OneOf("backend scenario", BACKENDS), "flannel-udp,calico-ipip"),
                   default="flannel-udp,flannel-vxlan,flannel-host-gw,calico-bgp,calico-ipip,calico-vxlan",
                   help=f"scenarios to compare, comma-separated: {', '.join(BACKENDS)}")
    c.add_argument("--seed", **seed)
    _bench(sub)
    g = _subcommand(sub, "bgp-scale", _cmd_bgp_scale, help="BGP full mesh against route reflectors: "
                    "sessions, messages, frames, convergence time as the cluster grows")
    g.add_argument("--nodes", type=ListOf(IntRange(2, why="a BGP session needs two speakers"), "10,50"),
                   default="10,50,100,200", help="cluster sizes (the 200-node mesh takes a minute or more)")
    g.add_argument("--modes", "--mode", dest="modes", type=ListOf(OneOf("mode", ("mesh", "rr")), "mesh,rr"),
                   default="mesh,rr", help="mesh, rr or both")
    g.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    g.add_argument("--seed", **seed)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except OSError as e:     # a file named on the command line: its name and what is wrong
        print(f"{args.prog}: error: " + (f"{e.filename}: {e.strerror}" if e.filename else str(e)),
              file=sys.stderr)
    except (Refused, ValueError) as e:
        print(f"{args.prog}: error: {e}", file=sys.stderr)
    except KeyError as e:
        print(f"{args.prog}: error: {_key_error(e)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
