"""Build a topology in real Linux network namespaces, run traffic, capture it.

The kernel side of the differential tests.  Everything here is plain Linux:
``ip`` builds namespaces, bridges, veth pairs and VXLAN devices; ``ethtool``
turns TX checksum offload off so that the L4 checksums the kernel writes are
complete (with offload on, a capture on a veth sees only the pseudo-header
sum; see ``reference/FINDINGS.md`` §7); captures are AF_PACKET sockets opened
*inside* each namespace (``setns`` on the test's own thread, then back), bound
to one interface, as tcpdump's are.  Kernel timestamps come with each frame
(``SO_TIMESTAMPNS``), and outgoing frames on ``lo`` are skipped, as libpcap
skips them (each is seen again as incoming).

Every namespace is called ``emuk-<case>-<name>``: nothing else on the machine
is touched, a :class:`Topology` deletes its namespaces when it is closed (even
after a failure, and at interpreter exit if a test was interrupted), and
:func:`clean_leftovers` removes those of a crashed earlier run.
"""
import atexit
import contextlib
import ctypes
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

#: ``emuk-<pid>-``: two test runs at once (two checkouts on one machine) keep apart
PREFIX = f"emuk-{os.getpid()}-"
CLONE_NEWNET = 0x40000000

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
SO_TIMESTAMPNS = 35          # SO_TIMESTAMPNS_OLD on x86 and the generic ABI
SCM_TIMESTAMPNS = SO_TIMESTAMPNS

_libc = None
_live = set()            # Topology objects not yet closed (cleaned at exit)
_live_lock = threading.Lock()


class Unavailable(Exception):
    """Network namespaces cannot be used here; the message says why."""


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


@contextlib.contextmanager
def in_netns(name: str):
    """Run the body with this thread in network namespace ``name`` (``/run/netns/NAME``).

    Sockets created inside stay in that namespace after the thread goes back."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def run(argv, check=True, timeout=30, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed (rc={p.returncode}): "
                           f"{(p.stderr or p.stdout).strip()}")
    return p


def _netns_list() -> list:
    p = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def clean_leftovers() -> list:
    """Delete namespaces left by an earlier run that crashed (``emuk-<pid>-*`` whose
    process is gone); returns their names."""
    def dead(name: str) -> bool:
        pid = name.split("-")[1]
        return name.startswith(PREFIX) or not (pid.isdigit() and os.path.exists(f"/proc/{pid}"))
    gone = [n for n in _netns_list() if n.startswith("emuk-") and dead(n)]
    for n in gone:
        run(["ip", "netns", "del", n], check=False)
    return gone


_availability = None


def availability() -> str:
    """``""`` when network namespaces work here, else the reason they do not."""
    global _availability
    if _availability is not None:
        return _availability
    reason = ""
    if not sys.platform.startswith("linux"):
        reason = f"network namespaces need Linux; this is {sys.platform}"
    elif os.geteuid() != 0:
        reason = (f"not root (euid {os.geteuid()}): creating network namespaces, veth pairs "
                  f"and bridges needs CAP_SYS_ADMIN/CAP_NET_ADMIN")
    else:
        missing = [t for t in ("ip", "ethtool", "ping") if shutil.which(t) is None]
        if missing:
            reason = (f"{', '.join(missing)} not installed (tests/run.sh installs iproute2, "
                      f"ethtool and iputils-ping)")
    if not reason:
        clean_leftovers()
        probe = f"{PREFIX}probe-{os.getpid()}"
        p = run(["ip", "netns", "add", probe], check=False)
        if p.returncode != 0:
            reason = f"`ip netns add {probe}` failed: {p.stderr.strip() or p.returncode}"
        else:
            try:
                q = run(["ip", "-n", probe, "link", "add", "name", "emukpa", "type", "veth", "peer",
                         "name", "emukpb"],
                        check=False)
                if q.returncode != 0:
                    reason = f"cannot create a veth pair in a namespace: {q.stderr.strip()}"
                else:
                    try:
                        with in_netns(probe):
                            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
                    except OSError as e:
                        reason = f"cannot open an AF_PACKET socket inside a namespace: {e}"
            finally:
                run(["ip", "netns", "del", probe], check=False)
    _availability = reason
    return reason


class Sniffer:
    """An AF_PACKET socket on one interface of one namespace: what tcpdump -i IFACE sees.

    An 802.1Q tag the kernel holds out of line (``skb_vlan_untag`` on receive, a VLAN
    device's tag on an offloading lower) reaches a packet socket as ``PACKET_AUXDATA``
    (``tp_vlan_tci``, ``tp_vlan_tpid``); the tag is put back after the MACs, as libpcap
    does (``VLAN_VALID``: a TCI other than 0, or ``TP_STATUS_VLAN_VALID``), so the frames
    are the bytes tcpdump shows."""

    def __init__(self, ns: str, ifname: str, promisc: bool = False):
        self.ns = ns
        self.ifname = ifname
        with in_netns(ns):
            # protocol 0 receives nothing until bound, so no frame of another interface slips in
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
                s.bind((ifname, ETH_P_ALL))
                self.ifindex = socket.if_nametoindex(ifname)
                if promisc:
                    # tcpdump's default: a promiscuous bridge passes a copy of every frame up
                    mreq = struct.pack("iHH8s", self.ifindex, PACKET_MR_PROMISC, 0, b"")
                    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            except BaseException:
                s.close()
                raise
        s.setblocking(False)
        self.sock = s
        self.frames = []      # (time_ns, bytes, direction)

    def drain(self) -> list:
        loopback = self.ifname == "lo"
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(
                    65536, socket.CMSG_SPACE(16) + socket.CMSG_SPACE(20))
            except BlockingIOError:
                break
            pkttype = addr[2]
            if loopback and pkttype == PACKET_OUTGOING:
                continue   # libpcap: an outgoing frame on lo is seen again as incoming
            t = None
            for level, kind, blob in anc:
                if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", blob[:16])
                    t = sec * 1_000_000_000 + nsec
                elif level == SOL_PACKET and kind == PACKET_AUXDATA and len(blob) >= 20:
                    status, _len, _snap, _mac, _net, tci, tpid = struct.unpack("IIIHHHH", blob[:20])
                    if (tci or status & TP_STATUS_VLAN_VALID) and len(data) >= 12:
                        if not status & TP_STATUS_VLAN_TPID_VALID:
                            tpid = 0x8100
                        data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
            if t is None:
                t = time.time_ns()
            self.frames.append((t, data, "out" if pkttype == PACKET_OUTGOING else "in"))
        return self.frames

    def close(self) -> None:
        if self.sock is not None:
            self.drain()
            self.sock.close()
            self.sock = None


class Process:
    """A program running in a namespace (``ip netns exec NS argv``), stopped on close."""

    def __init__(self, ns: str, argv, ready: str = None, timeout: float = 5.0):
        self.argv = argv
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        if ready is not None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = self.proc.stdout.readline()
                if not line:
                    break
                self.lines.append(line.rstrip("\n"))
                if ready in line:
                    return
            err = self.stop()
            raise RuntimeError(f"{' '.join(argv)} did not print {ready!r} in {timeout} s: "
                               f"{' | '.join(self.lines)} {err}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.lines += (out or "").splitlines()
        return err or ""


class Topology:
    """A set of namespaces ``emuk-<case>-<name>``, removed by :meth:`close`.

    >>> with Topology("demo") as t:                      # doctest: +SKIP
    ...     h = t.netns("host"); t.ip(h, "link", "add", "docker0", "type", "bridge")
    """

    def __init__(self, case: str):
        self.case = case
        self.namespaces = []
        self.sniffers = []
        self.processes = []
        self._veths = 0
        with _live_lock:
            _live.add(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def name(self, short: str) -> str:
        return f"{PREFIX}{self.case}-{short}"

    def netns(self, short: str, forwarding: bool = False) -> str:
        """``ip netns add``, IPv6 off (no router solicitations, MLD or DAD on the wire),
        ``lo`` up; returns the namespace's name."""
        ns = self.name(short)
        run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        self.sysctl(ns, {"net.ipv6.conf.all.disable_ipv6": 1,
                         "net.ipv6.conf.default.disable_ipv6": 1,
                         "net.ipv6.conf.lo.disable_ipv6": 1,
                         "net.ipv4.ip_forward": int(forwarding)})
        self.ip(ns, "link", "set", "lo", "up")
        return ns

    def sysctl(self, ns: str, values: dict) -> None:
        """Write sysctls in ``ns``; a key is dotted (``net.ipv4.ip_forward``) or, when a
        device name in it has a dot, a path (``net/ipv4/conf/flannel.1/proxy_arp``)."""
        script = "; ".join(f"echo {v} > /proc/sys/{k if '/' in k else k.replace('.', '/')}"
                           for k, v in values.items())
        run(["ip", "netns", "exec", ns, "sh", "-ec", script])

    def ip(self, ns: str, *args) -> str:
        return run(["ip", "-n", ns, *args]).stdout

    def ip_batch(self, ns: str, lines) -> None:
        """Several ``ip`` commands in one process (``ip -n NS -batch -``)."""
        run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n")

    def exec(self, ns: str, *argv, check=True, timeout=30) -> subprocess.CompletedProcess:
        return run(["ip", "netns", "exec", ns, *argv], check=check, timeout=timeout)

    def tx_csum_off(self, ns: str, *devs) -> None:
        """``ethtool -K DEV tx off``: the kernel writes complete TCP/UDP checksums, as a
        real NIC (and emunet) put them on the wire."""
        for d in devs:
            self.exec(ns, "ethtool", "-K", d, "tx", "off")

    def veth(self, ns_a: str, name_a: str, ns_b: str, name_b: str, mac_a=None, mac_b=None,
             mtu: int = None) -> None:
        """A veth pair ``name_a`` in ``ns_a`` / ``name_b`` in ``ns_b`` (left down)."""
        if ns_a == ns_b:
            self.ip(ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b)
        else:
            self._veths += 1
            tmp = f"emuktmp{self._veths}"
            self.ip(ns_a, "link", "add", name_a, "type", "veth", "peer", "name", tmp)
            self.ip(ns_a, "link", "set", tmp, "netns", ns_b)
            self.ip(ns_b, "link", "set", tmp, "name", name_b)
        for ns, name, mac in ((ns_a, name_a, mac_a), (ns_b, name_b, mac_b)):
            args = (["address", mac] if mac else []) + (["mtu", str(mtu)] if mtu else [])
            if args:
                self.ip(ns, "link", "set", name, *args)

    def sniff(self, ns: str, ifname: str, promisc: bool = False) -> Sniffer:
        s = Sniffer(ns, ifname, promisc)
        self.sniffers.append(s)
        return s

    def start(self, ns: str, argv, ready: str = None) -> Process:
        p = Process(ns, argv, ready)
        self.processes.append(p)
        return p

    def close(self) -> None:
        for s in self.sniffers:
            try:
                s.close()
            except OSError:
                pass
        for p in self.processes:
            p.stop()
        for ns in reversed(self.namespaces):
            run(["ip", "netns", "del", ns], check=False)
        self.namespaces = []
        with _live_lock:
            _live.discard(self)


@atexit.register
def _close_all() -> None:
    with _live_lock:
        live = list(_live)
    for t in live:
        try:
            t.close()
        except Exception:   # pragma: no cover - best effort at exit
            pass


class WallClock:
    """Watches CLOCK_REALTIME against CLOCK_MONOTONIC.  The kernel stamps captured frames
    with the wall clock (SO_TIMESTAMPNS); a step of it during a capture (an NTP step, a
    VM's clock resync after a pause) shifts every later frame's time, once by 5.5 s here.
    ``step_ns()`` is how far the wall clock moved against the monotonic one since."""

    def __init__(self):
        self.offset = time.time_ns() - time.monotonic_ns()

    def step_ns(self) -> int:
        return time.time_ns() - time.monotonic_ns() - self.offset


def wait_quiet(sniffers, quiet: float = 0.3, limit: float = 10.0) -> None:
    """Return once no sniffer has seen a new frame for ``quiet`` seconds (or ``limit`` passed)."""
    deadline = time.monotonic() + limit
    counts = None
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        now_counts = [len(s.drain()) for s in sniffers]
        if now_counts != counts:
            counts = now_counts
            last_change = time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            return
        time.sleep(0.05)


__all__ = ["Unavailable", "Topology", "Sniffer", "WallClock", "availability", "clean_leftovers",
           "in_netns", "wait_quiet"]
