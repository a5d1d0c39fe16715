"""Packet traces: one packet's journey as numbered steps, with the reason it died.

A ``Trace`` is an observer, like the capture: it receives every report the
model makes (a frame sent or received by a device, a bridge's decision, a note
about what a hop decided, a drop) and keeps it as a raw tuple — recording is
one ``list.append`` per report; most of what a Trace costs is the model writing its
notes for any observer, which it skips when nobody listens (``emunet bench trace-cost``
measures both; the README has the figures).  Everything else happens only when a journey is
asked for:

* records are grouped by the packet's identity (``Frame.pid``), which a
  forwarded copy, a decapsulated inner frame and the outer frame an
  encapsulating device (VXLAN, flanneld's UDP proxy, IPIP) builds around it all
  keep, so one packet is followed through its tunnels;
* each record is cut into *observation points* — device tx/rx, the bridge's
  decision, a route lookup (``(routing)``), neighbour resolution, a netfilter
  verdict, encap/decap, a user-space process handling it (with the user/kernel
  crossings counted along the journey), socket delivery, the drop — read from
  the model's notes (the vocabulary is :data:`POINT_RULES`);
* the packet is described from its bytes with ``struct`` (no Scapy), an outer
  frame as *carrying* the inner packet, whatever the tunnel (the carried IPv4
  header is recognised by its checksum and length, not by a port number);
* ICMP errors that quote the packet (net/host/port unreachable, fragmentation
  needed, time exceeded) are found by matching the quoted header, and their
  own journey back to the sender follows the packet's.
"""
import collections
import re

import attrs

from emunet.observe.describe import ipv4_header_ok, describe, layers
from emunet.observe.pcapng import PcapngWriter
from emunet.observe.sequence import sequence_svg
from emunet.sim import DEFAULT_EPOCH_NS, format_elapsed
from emunet.wire.frame import LINKTYPE_ETHERNET
from emunet.wire.ipv4 import int_to_ip


def ip_key(data: bytes, off: int) -> tuple:
    """What identifies an IPv4 packet across hops and in an ICMP error's quote:
    source, destination, IP ID and protocol."""
    return (data[off + 12:off + 16], data[off + 16:off + 20], data[off + 4:off + 6], data[off + 9])


def _icmp_error_quote(data: bytes, linktype: int):
    """The key of the packet an ICMP error quotes, or None if ``data`` is no ICMP error."""
    ls = layers(data, linktype)
    if not ls:
        return None
    off = ls[-1][0]
    ihl = (data[off] & 0x0F) * 4
    l4 = off + ihl
    if data[off + 9] != 1 or len(data) < l4 + 8 + 20 or data[l4] not in (3, 11, 12):
        return None
    if not ipv4_header_ok(data, l4 + 8, False):
        return None
    return ip_key(data, l4 + 8)


# -- records ----------------------------------------------------------------------------
@attrs.frozen
class TraceRecord:
    """One report, as the model made it."""

    time_ns: int
    pid: int
    point: str        # "tx", "rx", "bridge" (a bridge's decision), "stack" (a note), "drop"
    namespace: str
    device: str       # "" for notes and drops of the stack itself
    kind: str         # the device's kind ("veth", "bridge", "tun", "vxlan", ...), or ""
    data: bytes       # the frame (or, for a note, the packet the note is about)
    linktype: int
    text: str         # what the hop decided, or the drop reason and detail

    def to_dict(self) -> dict:
        return {"time_ns": self.time_ns, "pid": self.pid, "point": self.point,
                "namespace": self.namespace, "device": self.device,
                "packet": describe(self.data, self.linktype) if self.data else "",
                "length": len(self.data), "text": self.text}


@attrs.frozen
class Step:
    """One observation point of a packet's journey, numbered from 1."""

    n: int
    time_ns: int
    namespace: str
    device: str       # a device, or "(routing)", "(neigh)", "(socket)", ... or a process
    point: str        # see POINTS
    text: str
    packet: str = ""  # the packet as seen here (frames only): ``describe``
    pid: int = 0
    role: str = "packet"          # or "icmp-error": the error sent back about the packet
    crossings: tuple = ()         # user/kernel crossings counted at this step
    reason: str = ""              # the drop reason (``skb_drop_reason`` name), for a drop
    data: bytes = attrs.field(default=b"", repr=False)
    linktype: int = attrs.field(default=LINKTYPE_ETHERNET, repr=False)

    @property
    def is_frame(self) -> bool:
        return self.point in ("tx", "rx", "bridge")

    @property
    def carrying(self) -> str:
        """The carried (innermost) packet when this frame is an encapsulation, else ""."""
        _, sep, inner = self.packet.partition(" carrying ")
        return inner.rpartition(" carrying ")[2] if sep else ""

    def to_dict(self) -> dict:
        return {"step": self.n, "time_ns": self.time_ns, "namespace": self.namespace,
                "device": self.device, "point": self.point, "packet": self.packet,
                "carrying": self.carrying, "length": len(self.data) if self.is_frame else 0,
                "text": self.text, "crossings": list(self.crossings), "reason": self.reason,
                "pid": self.pid, "role": self.role}


#: the observation points a step can be, in the words of the kernel / the seed
POINTS = ("send", "routing", "neigh", "tx", "rx", "bridge", "netfilter", "encap", "decap",
          "user", "socket", "deliver", "icmp", "drop", "stack")

#: how the model's notes name observation points (first match wins); None: a part that
#: repeats what an earlier step showed (the tx side of a forwarding decision)
POINT_RULES = [
    (re.compile(r"^forward: route (?P<route>.+)$"), "routing"),
    (re.compile(r"^forwarded: route "), None),
    (re.compile(r"^route (?P<route>.+)$"), "routing"),
    (re.compile(r"^neigh (?P<ip>\S+) INCOMPLETE: queued until ARP resolves$"), "neigh"),
    (re.compile(r"^(?:ARP (?:reply|request|from)\b|who-has \S+ \(ours\)|DAD probe"
                r"|neigh \S+ (?:STALE|REACHABLE|DELAY|PROBE|FAILED)$)"), "neigh"),
    (re.compile(r"^(?:iptables|nft|netfilter|conntrack)\b"), "netfilter"),
    (re.compile(r"^\w+ encap\b"), "encap"),
    (re.compile(r"^\w+ decap\b"), "decap"),
    (re.compile(r"^ping: "), "send"),
    (re.compile(r"^udp \d+ → "), "send"),
    (re.compile(r"^tcp \S+ \[S\] .*connect\(\)"), "send"),
    (re.compile(r"^tcp (?:SYN to listener|RST in SYN_SENT|SYN-ACK:|ACK completes)"), "socket"),
    (re.compile(r"^icmp [\w ()]+ to \d"), "icmp"),
    (re.compile(r"^[\w-]+:? .*user/kernel cop(?:y|ies)\b"), "user"),
    (re.compile(r"^flanneld: "), "user"),
    (re.compile(r"→ (?:ping )?socket\b"), "socket"),
    (re.compile(r"→ echo reply$"), "deliver"),
]
_COPIES = re.compile(r"(?:; )?user/kernel cop(?:y \d+|ies \d+ and \d+) by [\w-]+")
_COPIES_COUNT = re.compile(r"user/kernel cop(y|ies)\b")


def split_parts(text: str) -> list:
    """A note's parts: split at ``; `` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif c == ";" and depth == 0 and text.startswith("; ", i):
            parts.append(text[start:i])
            start = i + 2
    parts.append(text[start:])
    return [p for p in parts if p]


def classify(part: str):
    """(point, match) for one part of a note; ("stack", None) when no rule names it."""
    for rx, point in POINT_RULES:
        m = rx.search(part)
        if m:
            return point, m
    return "stack", None


def _dst_of(data: bytes, linktype: int) -> str:
    ls = layers(data, linktype) if data else []
    if not ls:
        return ""
    off = ls[0][0]
    return int_to_ip(int.from_bytes(data[off + 16:off + 20], "big"))


class Trace:
    """Records every report; :meth:`steps` gives one packet's journey."""

    def __init__(self, limit: int = None):
        # with a limit, a ring of the last ``limit`` reports: bounded memory for a trace
        # left on through a long run
        self._raw = collections.deque(maxlen=limit) if limit else []
        self._records = []
        self._by_pid = {}
        self.enabled = True

    def __len__(self) -> int:
        """How many reports are kept (the last ``limit`` with a limit)."""
        return len(self._raw)

    # -- observer interface: one append each ------------------------------------------
    def on_frame(self, now, dev, frame, direction, note) -> None:
        if self.enabled:
            self._raw.append((now, frame, direction, dev, dev.ns, note))

    def on_note(self, now, dev, frame, text) -> None:
        if self.enabled and frame is not None:
            self._raw.append((now, frame, "note", dev, dev.ns if dev is not None else None, text))

    def on_drop(self, now, where, frame, reason, detail) -> None:
        if self.enabled:
            self._raw.append((now, frame, "drop", where, getattr(where, "ns", where),
                              reason + (f": {detail}" if detail else "")))

    # -- the records, materialised on demand ----------------------------------------
    @property
    def records(self) -> list:
        """Every report as a :class:`TraceRecord`, in order."""
        raw = self._raw
        if isinstance(raw, collections.deque):
            self._records, self._by_pid = [], {}
            raw = list(raw)
        out = self._records
        by_pid = self._by_pid
        if len(out) == len(raw):
            return out
        last_ns = {pid: recs[-1].namespace for pid, recs in by_pid.items()}
        for now, frame, what, dev, ns, text in raw[len(out):]:
            if what == "drop" and hasattr(dev, "devices"):   # a namespace: a drop in the stack
                dev = None
            pid = frame.pid if frame is not None else 0
            data, linktype = (frame.data, frame.linktype) if frame is not None and what != "drop" \
                else (b"", LINKTYPE_ETHERNET)
            # a note with no device is about the namespace the packet was last seen in
            nsname = ns.name if ns is not None else last_ns.get(pid, "")
            devname = dev.name if dev is not None else ""
            kind = getattr(dev, "kind", "") if dev is not None else ""
            if what == "note":
                point = "stack"
            elif what == "drop":
                point = "drop"
            elif what == "in":
                point = "bridge" if kind == "bridge" else "rx"
            else:
                point = "tx" if what == "out" else what
            last_ns[pid] = nsname
            rec = TraceRecord(now, pid, point, nsname, devname, kind, data, linktype, text or "")
            out.append(rec)
            by_pid.setdefault(pid, []).append(rec)
        return out

    def records_of(self, pid: int) -> list:
        self.records
        return list(self._by_pid.get(pid, ()))

    def pids(self) -> list:
        """Every packet identity seen, in order of first appearance."""
        seen = {}
        for r in self.records:
            if r.pid:
                seen.setdefault(r.pid, None)
        return list(seen)

    # -- the journey ----------------------------------------------------------------
    def icmp_errors(self, pid: int) -> list:
        """The packets (pids) that are ICMP errors quoting ``pid``'s packet, in order."""
        own = self.records_of(pid)
        keys = set()
        for r in own:
            if r.data:
                for off, _ in layers(r.data, r.linktype):
                    keys.add(ip_key(r.data, off))
        about = f"(about packet #{pid})"
        found = {}
        for r in self.records:
            if r.pid == pid or r.pid in found:
                continue
            if about in r.text:        # the kernel's and flanneld's ICMP notes say which packet
                found[r.pid] = None
            elif r.data and keys:
                q = _icmp_error_quote(r.data, r.linktype)
                if q is not None and q in keys:
                    found[r.pid] = None
        return list(found)

    def steps(self, pid: int, errors: bool = True) -> list:
        """``pid``'s journey as :class:`Step` s; with ``errors``, followed by the journey of
        each ICMP error sent back about it."""
        steps = []
        self._expand(self.records_of(pid), "packet", steps, [0])
        if errors:
            for epid in self.icmp_errors(pid):
                self._expand(self.records_of(epid), "icmp-error", steps, [0])
        return steps

    def drop_reason(self, pid: int):
        """The reason the packet died, or None if it was not dropped."""
        for r in reversed(self.records_of(pid)):
            if r.point == "drop":
                return r.text.split(":")[0]
        return None

    def _expand(self, recs: list, role: str, steps: list, crossings: list) -> None:
        """Cut each record into observation points (see the module docstring)."""
        noted = set()        # parts of the last note, which the frame that follows repeats
        for i, r in enumerate(recs):
            dst = _dst_of(r.data, r.linktype) if r.data else ""
            final = all(x.point == "drop" for x in recs[i + 1:])

            def add(device, point, text, packet="", crossing=0, reason=""):
                nums = tuple(range(crossings[0] + 1, crossings[0] + 1 + crossing))
                crossings[0] += crossing
                steps.append(Step(len(steps) + 1, r.time_ns, r.namespace, device, point, text,
                                  packet, r.pid, role, nums, reason,
                                  r.data if point in ("tx", "rx", "bridge") else b"", r.linktype))

            if r.point == "drop":
                add(r.device or "(stack)", "drop", r.text, reason=r.text.split(":")[0])
                continue
            rest = []            # parts that stay on the frame's own line
            tun_copies = 0
            parts = split_parts(r.text)
            for part in parts:
                point, m = classify(part)
                if point is None or (r.point != "stack" and part in noted):
                    continue
                if point == "stack":
                    if r.point == "stack":
                        add(r.device or "(stack)", "stack", part)
                    else:
                        rest.append(part)
                elif point == "send":
                    # the birth of the packet in a process (user → kernel); later, a process
                    # re-sending what it holds (flanneld's sendto) has said so in its own step
                    if i == 0:
                        add("(send)", "send", part, crossing=1 if role == "packet" else 0)
                elif point == "routing":
                    route = m.group("route")
                    if route.startswith("local "):
                        add("(routing)", "routing", f"{route.split()[1]} is local: dev lo")
                    else:
                        fwd = " (forwarding)" if part.startswith("forward") else ""
                        add("(routing)", "routing", f"{dst} matches {route}{fwd}")
                elif point == "neigh":
                    if "ip" in m.groupdict():
                        add("(neigh)", "neigh", f"{m.group('ip')} INCOMPLETE: packet queued, ARP who-has sent")
                    else:
                        add("(neigh)", "neigh", part)
                elif point == "user":
                    copies = 0
                    if _COPIES_COUNT.search(part):
                        copies = 2 if "copies" in part else 1
                    text = _COPIES.sub("", part).replace(" ()", "").strip()
                    proc = re.match(r"[\w-]+", part).group(0)
                    if r.point == "rx":      # a process's write() into a TUN: on the rx line
                        rest.append(text)
                        tun_copies += copies
                    else:
                        add(proc, "user", re.sub(rf"^{proc}:? ", "", text), crossing=copies)
                elif point == "socket":
                    # kernel → user when the packet ends in the process that owns the socket
                    # (a TCP segment is handled by the kernel; only a datagram or a ping
                    # reply read by the process counts)
                    to_process = final and role == "packet" and "→ " in part
                    add("(socket)", "socket", part, crossing=1 if to_process else 0)
                else:
                    add(f"({point})", point, part)
            if r.point == "stack":
                noted = set(parts)
                continue
            noted = set()
            text = "; ".join(rest)
            if r.kind == "tun":
                text = ("← user space: " + text) if r.point == "rx" else \
                    ((text + "; ") if text else "") + "→ user space: to the process reading the TUN"
            add(r.device, r.point, text, describe(r.data, r.linktype) if r.data else "",
                crossing=tun_copies)

    # -- output -----------------------------------------------------------------------
    def format(self, pid: int, errors: bool = True) -> str:
        """The journey as text, one numbered line per step (what ``emunet trace`` prints)."""
        return format_steps(self.steps(pid, errors))

    def to_json(self, pid: int, errors: bool = True) -> list:
        return [s.to_dict() for s in self.steps(pid, errors)]

    def write_pcapng(self, path, pid: int, epoch_ns: int = None, errors: bool = True) -> str:
        """The frames of the journey as pcapng, each commented with its step line."""
        epoch = DEFAULT_EPOCH_NS if epoch_ns is None else epoch_ns
        steps = self.steps(pid, errors)
        # a decision comments the frame it leads to; what ends a packet (a drop, a delivery)
        # comments the last frame it was seen in
        comments = {}
        for i, s in enumerate(steps):
            if s.is_frame:
                comments.setdefault(i, []).append(f"step {s.n}: {_step_text(s, packet=False)}".rstrip(": "))
                continue
            same = [j for j, t in enumerate(steps) if t.pid == s.pid and t.is_frame]
            later = [j for j in same if j > i]
            earlier = [j for j in same if j < i]
            at = later[0] if later and s.point != "drop" else (earlier[-1] if earlier else None)
            if at is not None:
                comments.setdefault(at, []).append(f"step {s.n}: {_step_text(s)}")
        with open(path, "wb") as f:
            w = PcapngWriter(f)
            for i, s in enumerate(steps):
                if not s.is_frame:
                    continue
                idx = w.interface(f"{s.namespace}/{s.device}", s.linktype,
                                  f"{s.namespace}/{s.device} in the journey of packet #{pid}")
                w.packet(idx, epoch + s.time_ns, s.data, "out" if s.point == "tx" else "in",
                         sorted(comments.get(i, []), key=lambda c: int(c.split(":")[0][5:])))
        return str(path)

    def sequence_svg(self, pid: int, title: str = None, errors: bool = True) -> str:
        """The journey as a sequence picture (SVG): which device, when."""
        return sequence_svg(self.steps(pid, errors), title)


def _step_text(s: Step, packet: bool = True) -> str:
    bits = []
    if s.packet and packet:
        bits.append(s.packet)
    if s.text:
        bits.append(s.text)
    if s.crossings:
        bits.append("(user/kernel crossing" + ("s " if len(s.crossings) > 1 else " ")
                    + " and ".join(map(str, s.crossings)) + ")")
    return "  ".join(b for b in bits if b)


def format_steps(steps: list) -> str:
    """Numbered lines: step, time since the first step, namespace, device, point, what."""
    if not steps:
        return ""
    t0 = steps[0].time_ns
    wns = max(len(s.namespace) for s in steps)
    wdev = max(len(s.device) for s in steps)
    lines = []
    pid = steps[0].pid
    shown = ""
    for s in steps:
        if s.pid != pid:
            lines.append(f"    ↩ ICMP error about packet #{steps[0].pid}, back to its sender "
                         f"(packet #{s.pid}):")
            pid = s.pid
        point = "" if s.device == f"({s.point})" else s.point
        # the packet is described where it first appears and wherever it changes (TTL,
        # encapsulation), not on every hop
        new = bool(s.packet) and s.packet != shown
        shown = s.packet or shown
        lines.append(f"{s.n:>2}  {format_elapsed(s.time_ns - t0):>11}  {s.namespace:<{wns}}  "
                     f"{s.device:<{wdev}}  {point:<6}  {_step_text(s, new)}".rstrip())
    return "\n".join(lines) + "\n"


__all__ = ["Trace", "TraceRecord", "Step", "POINTS", "POINT_RULES", "describe", "layers",
           "ip_key", "format_steps", "split_parts", "classify"]
