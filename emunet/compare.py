"""``emunet compare``: the same traffic over several backends (Flannel's, Calico's), measured from the runs.

For each scenario the comparison runs the scenario's own traffic — a ping,
then one 1400-byte UDP datagram, from its client pod to its server pod on
another node (pod-1 on node1 to pod-3 on node2 for calico-bgp, to pod-5 on
node3, behind a router, for calico-ipip) — and reads every figure off the
run: the capture (which interface saw which bytes of which packet),
flanneld's per-packet count of the user/kernel copies it made, the pods'
devices, and the TTL the packet arrived with.  Nothing in the table is typed
in.  Whether the nodes must share an L2 segment is measured
too: the same backend is built again with the two nodes on different subnets
behind a router, and a ping either arrives or does not (and flanneld's error,
if any, says why).

Rows:

* *encapsulation overhead*: bytes on node1's eth0 for the datagram minus its
  bytes as it left the pod's eth0;
* *pod MTU*: the client pod's eth0 MTU (what flannel's subnet.env handed to the
  runtime); the largest UDP payload that fits is 28 bytes less;
* *outer headers*: read from the first underlay frame that carried the datagram;
* *frames on the underlay*: frames node and router NICs transmitted during the
  ping (ARP included) and during the datagram's round trip;
* *user/kernel copies per packet*: for the datagram, the sender's ``send()``
  plus flanneld's ``read()``/``sendto()`` on node1 — what the seed counts — and
  end to end, adding flanneld's ``recv()``/``write()`` on node2 and the echo
  server's ``recv()``;
* *IP hops*: 64 minus the TTL the datagram arrived with (flanneld's proxy
  decrements it too), and the namespaces it crossed;
* *ping RTT*: on the virtual clock (a user/kernel copy costs 2 µs, a cable 1 µs
  plus serialisation at 10 Gbit/s).
"""
import struct

from emunet.scenarios.registry import get
from emunet.sim import S

#: the scenarios that are one backend's pod pair and send the pod pair's traffic (a ping, then
#: the datagram); flannel-pmtu, k8s-service and calico-policy build the same clusters but
#: send traffic of their own
BACKENDS = ("flannel-udp", "flannel-vxlan", "flannel-host-gw", "calico-bgp", "calico-bgp-rr",
            "calico-ipip", "calico-vxlan")

_ROWS = [
    ("overhead", "encapsulation overhead (bytes per packet)"),
    ("mtu", "pod MTU (largest UDP payload)"),
    ("outer", "outer headers on the underlay"),
    ("wire_bytes", "bytes on node1 eth0 for the 1400-byte datagram"),
    ("frames_ping", "frames on the underlay: ping (ARP incl.)"),
    ("frames_udp", "frames on the underlay: datagram + echo"),
    ("copies_sender", "user/kernel copies per packet, sending node"),
    ("copies_e2e", "user/kernel copies per packet, end to end"),
    ("hops", "IP hops (TTL 64 → at the server pod)"),
    ("path", "namespaces on the path"),
    ("rtt", "ping RTT (virtual time)"),
    ("l2", "nodes must share an L2 segment"),
]


def _underlay_keys(cluster) -> set:
    keys = {n.eth0.key for n in cluster.nodes.values()}
    keys |= {s.router_nic.key for s in cluster.segments.values()}
    return keys


def _describe_outer(frame: bytes) -> str:
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return "?"
    ihl = (frame[14] & 0x0F) * 4
    proto = frame[23]
    l4 = 14 + ihl
    if proto == 4:
        return "Eth/IPv4 proto 4 (IPIP)/inner IPv4"
    if proto != 17:
        return "none (the pod's own IPv4 packet)"
    sport, dport = struct.unpack_from("!HH", frame, l4)
    inner = frame[l4 + 8:]
    if len(inner) >= 8 and inner[0] & 0x08 and dport in (4789, 8472):
        vni = int.from_bytes(inner[4:7], "big")
        return f"Eth/IPv4/UDP {sport}→{dport}/VXLAN vni {vni}/inner Eth"
    if len(inner) >= 20 and inner[0] >> 4 == 4:
        return f"Eth/IPv4/UDP {sport}→{dport}/inner IPv4"
    return "none (the pod's own IPv4 packet)"


def _window(records, keys, t0: int, t1: int) -> int:
    return sum(1 for r in records if r.iface in keys and r.direction == "out" and t0 <= r.time_ns < t1)


def _path(records, pid: int, stop_ns: str) -> str:
    seen = []
    for r in records:
        if r.pid != pid:
            continue
        ns = r.iface.split("/", 1)[0]
        if not seen or seen[-1] != ns:
            seen.append(ns)
        if r.iface == stop_ns:
            break
    return " → ".join(seen)


def measure(name: str, seed: int = 1) -> dict:
    """Run scenario ``name`` (one of :data:`BACKENDS`) and read the figures off the run."""
    if name not in BACKENDS:
        raise ValueError(f"compare: {name!r} is not a backend scenario; there are: {', '.join(BACKENDS)}")
    lab = get(name).build(seed)
    lab.run()
    cluster, cap = lab.cluster, lab.capture
    recs = cap.records
    keys = _underlay_keys(cluster)
    client, server = lab.client, lab.server
    out = {}
    udp_pid = lab.sender.pids[0]
    ping_pid = lab.ping.pids[0]
    inner = next(r for r in recs if r.pid == udp_pid and r.iface == client.eth0.key and r.direction == "out")
    node1_eth0 = client.node.eth0.key
    outer = next(r for r in recs if r.pid == udp_pid and r.iface == node1_eth0 and r.direction == "out")
    out["overhead"] = str(len(outer.data) - len(inner.data))
    mtu = client.eth0.mtu
    out["mtu"] = f"{mtu} ({mtu - 28})"
    out["outer"] = _describe_outer(outer.data)
    out["wire_bytes"] = str(len(outer.data))
    t_ping = next(r.time_ns for r in recs if r.pid == ping_pid)
    t_udp = next(r.time_ns for r in recs if r.pid == udp_pid)
    out["frames_ping"] = str(_window(recs, keys, t_ping, t_udp))
    out["frames_udp"] = str(_window(recs, keys, t_udp, t_udp + 1 * S))
    # flanneld's copies through its TUN (none for the kernel datapaths and for Calico)
    fl = {n.name: n.flanneld.crossings.get(udp_pid, 0) if getattr(n, "flanneld", None) else 0
          for n in cluster.nodes.values()}
    sender = 1 + fl[client.node.name]
    delivered = 1 if lab.echo.served else 0
    out["copies_sender"] = str(sender)
    out["copies_e2e"] = str(1 + sum(fl.values()) + delivered)
    arrived = next(r for r in recs if r.pid == udp_pid and r.iface == server.eth0.key and r.direction == "in")
    ttl = arrived.data[14 + 8]
    out["hops"] = f"{64 - ttl} (TTL {ttl})"
    out["path"] = _path(recs, udp_pid, server.eth0.key)
    out["pods"] = f"{client.name} on {client.node.name} → {server.name} on {server.node.name}"
    rtt = lab.ping.rtts_us[0] if lab.ping.rtts_us else None
    out["rtt"] = f"{rtt} µs" if rtt is not None else "no reply"
    ok, errors, drops = lab.across_router(seed)
    if ok:
        out["l2"] = "no (a ping across a router arrives)"
    else:
        why = errors[0] if errors else (drops[0] if drops else "no reply")
        out["l2"] = f"yes (across a router: {why})"
    return out


def compare_backends(names, seed: int = 1) -> str:
    """The comparison table for the scenarios ``names`` (e.g. flannel-udp, flannel-vxlan,
    flannel-host-gw), one column each."""
    names = list(names)
    if not names:
        raise ValueError("compare: name at least one scenario (--backends flannel-udp,flannel-vxlan,...)")
    cols = [measure(n, seed) for n in names]
    label_w = max(len(label) for _, label in _ROWS)
    widths = [max(len(n), *(len(c[k]) for k, _ in _ROWS if k != "l2")) for n, c in zip(names, cols)]
    lines = []
    head = " " * label_w + "  " + "  ".join(n.ljust(w) for n, w in zip(names, widths))
    lines.append(head.rstrip())
    lines.append("-" * len(head.rstrip()))
    for key, label in _ROWS:
        if key == "l2":
            continue
        cells = "  ".join(c[key].ljust(w) for c, w in zip(cols, widths))
        lines.append(f"{label.ljust(label_w)}  {cells}".rstrip())
    lines.append("")
    lines.append(_ROWS[-1][1] + ":")
    for n, c in zip(names, cols):
        lines.append(f"  {n}: {c['l2']}")
    lines.append("")
    pods = {c["pods"] for c in cols}
    between = next(iter(pods)) if len(pods) == 1 else \
        "client pod → server pod (" + "; ".join(f"{n}: {c['pods']}" for n, c in zip(names, cols)) + ")"
    lines.append(f"Traffic: ping -c 1, then one 1400-byte UDP datagram to an echo server, {between}; "
                 "every figure is read from the run (capture, flanneld's counters, TTLs).")
    return "\n".join(lines) + "\n"


__all__ = ["BACKENDS", "compare_backends", "measure"]
