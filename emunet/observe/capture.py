"""The capture: every frame on every interface it crosses, with what each hop decided.

A ``Capture`` is an observer of the simulator.  It records a frame each time
a device reports one (sent, received, or seen by a bridge's own interface, as
tcpdump on that interface would), keeps the notes the model adds about that
frame afterwards ("fdb miss → flood", "route 172.17.0.0/16 dev eth0", drop
reasons) as per-frame comments, and writes one pcapng for the run with an
interface block per ``namespace/iface``.
"""
import os
import re

import attrs

from emunet.devices.switch import Switch
from emunet.observe.pcapng import PcapngWriter, write_classic_pcap
from emunet.sim import DEFAULT_EPOCH_NS
from emunet.wire.frame import LINKTYPE_ETHERNET


@attrs.define(eq=False)
class CaptureRecord:
    time_ns: int
    iface: str
    linktype: int
    data: bytes
    direction: str
    pid: int
    comments: list = attrs.Factory(list)


@attrs.define(eq=False)
class DropRecord:
    time_ns: int
    where: str
    reason: str
    detail: str
    pid: int


class Capture:
    """Records frames in memory; ``write`` saves them as pcapng.

    >>> sim = Simulator(seed=1)
    >>> capture = Capture.attach(sim)       # from now on, every frame of this run
    """

    @classmethod
    def attach(cls, sim, filter_ifaces=None) -> "Capture":
        """A capture of ``sim``'s run, placed on the calendar where ``sim`` places it, and
        subscribed to its reports (what tcpdump on every interface would see from now on)."""
        capture = cls(epoch_ns=sim.epoch_ns, filter_ifaces=filter_ifaces)
        sim.observers.append(capture)
        return capture

    @staticmethod
    def of(sim):
        """The capture attached to ``sim`` (the first, if several), or None."""
        return next((o for o in sim.observers if isinstance(o, Capture)), None)

    def __init__(self, epoch_ns: int = None, filter_ifaces=None):
        self.records = []
        self.drops = []
        self.epoch_ns = epoch_ns
        self.filter = set(filter_ifaces) if filter_ifaces else None
        self._last = {}
        self.iface_kinds = {}
        self.enabled = True

    def __len__(self):
        return len(self.records)

    # -- observer interface -------------------------------------------------
    def on_frame(self, now, dev, frame, direction, note) -> None:
        if not self.enabled:
            return
        key = dev.key
        if self.filter is not None and key not in self.filter:
            return
        if key not in self.iface_kinds:
            self.iface_kinds[key] = (dev.linktype, dev.kind)
        rec = CaptureRecord(now, key, dev.linktype, frame.data, direction, frame.pid,
                            [note] if note else [])
        self.records.append(rec)
        self._last[frame] = rec
        self._last[(frame, key)] = rec

    def _record_for(self, dev, frame):
        if dev is not None and hasattr(dev, "key"):
            rec = self._last.get((frame, dev.key))
            if rec is not None:
                return rec
        return self._last.get(frame)

    def on_note(self, now, dev, frame, text) -> None:
        rec = self._record_for(dev, frame)
        if rec is not None:
            rec.comments.append(text)

    def on_drop(self, now, where, frame, reason, detail) -> None:
        name = where.key if hasattr(where, "key") else getattr(where, "name", "?")
        self.drops.append(DropRecord(now, name, reason, detail, frame.pid if frame is not None else 0))
        if frame is not None:
            rec = self._record_for(where, frame)
            if rec is None and isinstance(where, Switch):
                rec = self._sent_unpadded(frame)
            if rec is not None:
                rec.comments.append(f"DROP {reason}" + (f": {detail}" if detail else ""))

    def _sent_unpadded(self, frame):
        """The sender's record of a frame its NIC padded to 60 bytes on the cable before
        the switch dropped it (the padded copy is no capture's): the last record of the
        same packet whose bytes begin the padded ones, among the latest few."""
        data = frame.data
        for rec in reversed(self.records[-64:]):
            if rec.pid == frame.pid and data.startswith(rec.data):
                return rec
        return None

    # -- queries ------------------------------------------------------------
    def on(self, iface: str) -> list:
        """Records seen on ``namespace/iface``, in order."""
        return [r for r in self.records if r.iface == iface]

    def interfaces(self) -> list:
        seen = []
        for r in self.records:
            if r.iface not in seen:
                seen.append(r.iface)
        return seen

    def packets(self, iface: str = None) -> list:
        """Scapy dissections of the records (for people and tests; slow)."""
        from scapy.layers.inet import IP
        from scapy.layers.l2 import Ether
        out = []
        for r in self.records:
            if iface is None or r.iface == iface:
                p = Ether(r.data) if r.linktype == LINKTYPE_ETHERNET else IP(r.data)
                p.sniffed_on = r.iface
                p.comments = [c.encode() for c in r.comments]
                out.append(p)
        return out

    # -- output -------------------------------------------------------------
    def write(self, path, epoch_ns: int = None) -> str:
        """Write every record to ``path`` as pcapng; returns the path."""
        epoch = epoch_ns if epoch_ns is not None else (self.epoch_ns if self.epoch_ns is not None
                                                       else DEFAULT_EPOCH_NS)
        tmp = f"{path}.partial"
        with open(tmp, "wb") as f:
            w = PcapngWriter(f)
            for r in self.records:
                idx = w.interface(r.iface, r.linktype, self._describe(r.iface))
                w.packet(idx, epoch + r.time_ns, r.data, r.direction, r.comments)
        os.replace(tmp, path)
        return str(path)

    def _describe(self, iface: str) -> str:
        ns, _, name = iface.partition("/")
        kind = self.iface_kinds.get(iface, (None, "device"))[1]
        return f"{kind} {name} in namespace {ns}"

    def write_per_interface(self, directory, prefix: str = "", epoch_ns: int = None) -> list:
        """One classic pcap per interface (``<prefix><ns>-<iface>.pcap``), as tcpdump -w would."""
        epoch = epoch_ns if epoch_ns is not None else (self.epoch_ns or DEFAULT_EPOCH_NS)
        paths = []
        for iface in self.interfaces():
            recs = self.on(iface)
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", iface.replace("/", "-"))
            path = os.path.join(directory, f"{prefix}{name}.pcap")
            write_classic_pcap(path, recs[0].linktype, [(epoch + r.time_ns, r.data) for r in recs])
            paths.append(path)
        return paths
