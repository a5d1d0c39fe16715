"""Packet traces: the numbered steps of one packet's path, with drop reasons.

A ``Trace`` is an observer, like the capture: it receives every report the
model makes (a frame seen on a device, a decision noted about it, a drop) and
keeps them as records keyed by the packet's identity (``Frame.pid``), which a
forwarded copy and an encapsulating outer frame keep.  Recording is a tuple
append per report; describing a packet (``ICMP echo request 10.0.0.1 >
10.0.0.2``) is done from the bytes with the wire views, only when printed.
"""
import struct

import attrs

from emunet.wire.frame import LINKTYPE_RAW
from emunet.wire.ipv4 import int_to_ip

_ICMP_NAMES = {0: "echo reply", 8: "echo request", 3: "unreachable", 11: "time exceeded"}


@attrs.frozen
class TraceRecord:
    """One observation of one packet."""

    time_ns: int
    pid: int
    point: str        # "tx", "rx", "bridge", "stack" (a decision), "drop"
    namespace: str
    device: str       # "" for decisions of the stack itself
    data: bytes       # the frame as seen at this point ("" for decisions and drops)
    linktype: int
    text: str         # what the hop decided, or the drop reason and detail

    def to_dict(self) -> dict:
        return {"time_ns": self.time_ns, "pid": self.pid, "point": self.point,
                "namespace": self.namespace, "device": self.device,
                "packet": describe(self.data, self.linktype) if self.data else "",
                "length": len(self.data), "text": self.text}


def describe(data: bytes, linktype: int = 1) -> str:
    """A one-line summary from the bytes (no Scapy): what tcpdump would say, briefly."""
    off = 0
    if linktype != LINKTYPE_RAW:
        if len(data) < 14:
            return f"{len(data)}-byte runt"
        etype = struct.unpack_from("!H", data, 12)[0]
        off = 14
        if etype == 0x8100 and len(data) >= 18:
            vid = struct.unpack_from("!H", data, 14)[0] & 0xFFF
            etype = struct.unpack_from("!H", data, 16)[0]
            off = 18
            return f"vlan {vid} " + _l3(data, off, etype)
        return _l3(data, off, etype)
    return _l3(data, 0, 0x0800)


def _l3(data: bytes, off: int, etype: int) -> str:
    if etype == 0x0806 and len(data) >= off + 28:
        op = struct.unpack_from("!H", data, off + 6)[0]
        spa = int_to_ip(int.from_bytes(data[off + 14:off + 18], "big"))
        tpa = int_to_ip(int.from_bytes(data[off + 24:off + 28], "big"))
        if op == 1:
            return f"ARP who-has {tpa} tell {spa}"
        mac = ":".join(f"{b:02x}" for b in data[off + 8:off + 14])
        return f"ARP {spa} is-at {mac}"
    if etype != 0x0800 or len(data) < off + 20:
        return f"ethertype {etype:#06x}"
    ihl = (data[off] & 0x0F) * 4
    proto = data[off + 9]
    src = int_to_ip(int.from_bytes(data[off + 12:off + 16], "big"))
    dst = int_to_ip(int.from_bytes(data[off + 16:off + 20], "big"))
    l4 = off + ihl
    if proto == 1 and len(data) >= l4 + 1:
        return f"ICMP {_ICMP_NAMES.get(data[l4], 'type %d' % data[l4])} {src} > {dst}"
    if proto == 4:
        return f"IPIP {src} > {dst} [{_l3(data, l4, 0x0800)}]"
    if proto in (6, 17) and len(data) >= l4 + 4:
        sport, dport = struct.unpack_from("!HH", data, l4)
        if proto == 17 and dport in (4789, 8472) and len(data) >= l4 + 16:
            vni = int.from_bytes(data[l4 + 12:l4 + 15], "big")
            return f"VXLAN vni {vni} {src} > {dst} [{describe(data[l4 + 16:])}]"
        if proto == 17 and dport == 8285 and sport == 8285:
            return f"UDP 8285 {src} > {dst} [{_l3(data, l4 + 8, 0x0800)}]"
        if proto == 6 and len(data) >= l4 + 14:
            flags = data[l4 + 13]
            names = "".join(c for bit, c in ((2, "S"), (1, "F"), (4, "R"), (8, "P"), (16, "."))
                            if flags & bit)
            return f"TCP {src}:{sport} > {dst}:{dport} [{names}]"
        return f"{'UDP' if proto == 17 else 'TCP'} {src}:{sport} > {dst}:{dport}"
    return f"IP proto {proto} {src} > {dst}"


class Trace:
    """Records every observation; ``steps(pid)`` gives one packet's path."""

    def __init__(self):
        self.records = []
        self.enabled = True

    def on_frame(self, now, dev, frame, direction, note) -> None:
        if self.enabled:
            point = {"out": "tx", "in": "rx"}.get(direction, direction)
            if dev.kind == "bridge" and direction == "in":
                point = "bridge"
            self.records.append(TraceRecord(now, frame.pid, point, dev.ns.name, dev.name,
                                            frame.data, frame.linktype, note or ""))

    def on_note(self, now, dev, frame, text) -> None:
        if self.enabled and frame is not None:
            ns = dev.ns.name if dev is not None and hasattr(dev, "ns") else ""
            if not ns and self.records:
                ns = next((r.namespace for r in reversed(self.records) if r.pid == frame.pid), "")
            self.records.append(TraceRecord(now, frame.pid, "stack", ns, "", b"", 1, text))

    def on_drop(self, now, where, frame, reason, detail) -> None:
        if not self.enabled:
            return
        if hasattr(where, "ns") and where.ns is not None:
            ns, dev = where.ns.name, where.name
        else:
            ns, dev = getattr(where, "name", ""), ""
        pid = frame.pid if frame is not None else 0
        self.records.append(TraceRecord(now, pid, "drop", ns, dev, b"", 1,
                                        f"{reason}" + (f": {detail}" if detail else "")))

    def steps(self, pid: int) -> list:
        return [r for r in self.records if r.pid == pid]

    def drop_reason(self, pid: int):
        """The reason the packet died, or None if it was not dropped."""
        for r in reversed(self.steps(pid)):
            if r.point == "drop":
                return r.text.split(":")[0]
        return None

    def format(self, pid: int) -> str:
        lines = []
        for i, r in enumerate(self.steps(pid), 1):
            what = describe(r.data, r.linktype) if r.data else ""
            dev = r.device or ("(drop)" if r.point == "drop" else "(stack)")
            point = "" if r.point == "stack" else r.point
            lines.append(f"{i:>2}  {r.namespace:<12} {dev:<15} {point:<6} {what:<44} {r.text}".rstrip())
        return "\n".join(lines) + "\n"
