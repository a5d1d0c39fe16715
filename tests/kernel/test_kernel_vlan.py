"""802.1Q against the kernel.

* Tagged frames on a device with no VLAN device for their VID (``check_vlan_id`` in
  ``__netif_receive_skb_core``): injected from one end of a veth pair, captured on both
  ends (tags put back from ``PACKET_AUXDATA`` as libpcap does), and the receiver's
  counters compared with the model's drop reasons.  This path is the same whether or not
  the kernel has 8021q: without it ``vlan_do_receive`` is a stub that finds no device.
* VLAN devices and a router on a stick (``eth0.10``/``eth0.20`` on one leg), over a
  VLAN-transparent bridge: needs ``ip link add ... type vlan``, which some kernels lack
  (``CONFIG_VLAN_8021Q``); the test says so and is skipped there.
"""
import gzip
import json
import os
import socket
import time

import pytest

from emunet.apps.ping import Ping
from emunet.devices.veth import veth_pair
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.wire.frame import Frame
from emunet.observe.capture import Capture

from tests.kernel.cases import Mirror, VlanStick, emunet_frames, settle
from tests.kernel.compare import compare
from tests.kernel.harness import PREFIX, Topology, in_netns, run

MS = 1_000_000
A_MAC, B_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def _kernel_config(option: str) -> str:
    """``CONFIG_X=y`` / ``# CONFIG_X is not set`` from /proc/config.gz, or ''."""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            for line in f:
                if line.startswith(f"{option}=") or line.startswith(f"# {option} is not set"):
                    return line.strip()
    except OSError:
        pass
    return ""


def vlan_devices_unavailable() -> str:
    """'' when this kernel can make a VLAN device in a namespace, else why not."""
    probe = f"{PREFIX}vlanprobe"
    run(["ip", "netns", "add", probe])
    try:
        run(["ip", "-n", probe, "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1"])
        p = run(["ip", "-n", probe, "link", "add", "link", "v0", "name", "v0.10", "type", "vlan",
                 "id", "10"], check=False)
        if p.returncode == 0:
            return ""
        config = _kernel_config("CONFIG_VLAN_8021Q")
        return (f"this kernel ({os.uname().release}) cannot make 802.1Q VLAN devices: "
                f"`ip link add link v0 name v0.10 type vlan id 10` answers "
                f"{(p.stderr or p.stdout).strip()!r}"
                + (f" ({config}" if config else " (no 8021q module or built-in support")
                + "; the Linux bridge's vlan_filtering, the other stand-in, depends on it too: "
                  "CONFIG_BRIDGE_VLAN_FILTERING needs VLAN_8021Q)")
    finally:
        run(["ip", "netns", "del", probe], check=False)


# -- tagged frames without a VLAN device ----------------------------------------------
def _frames():
    """(what, bytes) injected from a's eth0 towards b (10.0.0.2)."""
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    eth = dict(dst=B_MAC, src=A_MAC)
    echo = IP(version=4, ihl=5, tos=0, id=0x1234, flags=0, frag=0, ttl=64, src="10.0.0.1",
              dst="10.0.0.2") / ICMP(type=8, code=0, id=0x4242, seq=1) / (b"emunet" * 8)
    arp = ARP(hwtype=1, ptype=0x0800, hwlen=6, plen=4, op=1, hwsrc=A_MAC, psrc="10.0.0.1",
              hwdst="00:00:00:00:00:00", pdst="10.0.0.2")
    qinq = bytes(Ether(**eth, type=0x8100) / Dot1Q(prio=0, dei=0, vlan=10, type=0x0800) / echo)
    return [
        ("untagged echo", bytes(Ether(**eth, type=0x0800) / echo)),
        ("VID 10 echo", bytes(Ether(**eth, type=0x8100) / Dot1Q(prio=0, dei=0, vlan=10, type=0x0800) / echo)),
        ("VID 0 PCP 5 echo", bytes(Ether(**eth, type=0x8100) / Dot1Q(prio=5, dei=0, vlan=0, type=0x0800)
                                   / echo)),
        ("VID 10 ARP request", bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=A_MAC, type=0x8100)
                                     / Dot1Q(prio=0, dei=0, vlan=10, type=0x0806) / arp)),
        ("VID 10 ethertype 0x88b5", bytes(Ether(**eth, type=0x8100) / Dot1Q(prio=0, dei=0, vlan=10,
                                                                            type=0x88B5) / (b"x" * 46))),
        ("18-byte tagged frame", bytes.fromhex("02000000000b02000000000a8100000a0800")),
        ("802.1ad VID 10 echo", b"".join((qinq[:12], b"\x88\xa8", qinq[14:]))),
        ("VID 0 then VID 10 echo", qinq[:12] + b"\x81\x00\x00\x00" + qinq[12:]),
    ]


def _model():
    sim = Simulator(seed=1)
    Capture.attach(sim)
    a, b = Namespace(sim, "a"), Namespace(sim, "b")
    ea, eb = veth_pair(sim, "eth0", "eth0", mac=A_MAC, peer_mac=B_MAC)
    a.add_device(ea)
    b.add_device(eb)
    ea.set_up()
    eb.set_up()
    a.addr_add("eth0", "10.0.0.1/24")
    b.addr_add("eth0", "10.0.0.2/24")
    # replies go straight back, without an ARP exchange of their own
    b.neigh.add_permanent(eb, 0x0A000001, ea.mac)
    return sim, a, b


def _rx_counters(t, ns: str) -> dict:
    out = t.ip(ns, "-j", "-s", "-s", "link", "show", "eth0")
    return json.loads(out)[0]["stats64"]["rx"]


def test_tagged_frames_without_a_vlan_device(netns):
    """VID 0 is a priority tag (answered, untagged); another VID is PACKET_OTHERHOST (IP
    dropped and counted as otherhost, ARP consumed without a trace, an unknown protocol
    counted in rx_dropped); a tagged frame too short to untag is not even captured."""
    frames = _frames()
    sim, a, b = _model()
    labels = ["a/eth0", "b/eth0"]
    with Topology("tag") as t:
        k = Mirror(t, sim)
        before = _rx_counters(t, k.ns["b"])
        with in_netns(k.ns["a"]):
            tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            tx.bind(("eth0", 0))
            sn = k.sniff(labels)
            t0 = time.monotonic()
            for i, (_, data) in enumerate(frames):
                left = t0 + 0.1 * i - time.monotonic()
                if left > 0:
                    time.sleep(left)
                tx.send(data)
            kcap = settle(sn, until=0.1 * len(frames), start=t0)
        finally:
            tx.close()
        after = _rx_counters(t, k.ns["b"])
    eth0 = a.dev("eth0")
    for i, (_, data) in enumerate(frames):
        sim.after(100 * MS * i, lambda d=data: eth0.dev_queue_xmit(Frame(d, sim.new_pid())))
    sim.run(until=2.0)
    ecap = emunet_frames(sim, labels)
    rep = compare("tagged frames without a VLAN device", kcap, ecap)
    assert len(kcap["a/eth0"]) == len(frames) + 2, rep.text()   # + two echo replies
    assert len(kcap["b/eth0"]) == len(frames) - 1 + 2, rep.text()  # the 18-byte one is not seen
    assert rep, rep.text()
    assert {"vlan.id", "vlan.pcp", "vlan.etype"} <= rep.fields
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in ("packets", "dropped", "otherhost")}
    assert delta == {"packets": len(frames), "dropped": 1, "otherhost": 3}, (after, before)
    assert dict(b.drop_reasons) == {"OTHERHOST": 3, "UNHANDLED_PROTO": 1, "PKT_TOO_SMALL": 1}
    assert b.dev("eth0").stats.rx_packets == len(frames)


# -- VLAN devices and a router on a stick ---------------------------------------------------
def test_vlan_devices_and_a_router_on_a_stick(netns):
    """h10a → h10b inside VLAN 10 (tagged on every bridge port, untagged on eth0.10), then
    h10a → h20a through the router's eth0.10 and eth0.20 (TTL 63), every interface compared
    frame by frame."""
    reason = vlan_devices_unavailable()
    if reason:
        pytest.skip(f"kernel comparison of VLAN devices skipped: {reason}")
    model = VlanStick()
    labels = Mirror.labels_of(model.sim, lo=False)
    with Topology("vlan") as t:
        k = Mirror(t, model.sim)
        sn = k.sniff(labels)
        t0 = time.monotonic()
        same = t.exec(k.ns["h10a"], "ping", "-c", "1", "192.168.10.12")
        left = t0 + 0.5 - time.monotonic()
        if left > 0:
            time.sleep(left)
        routed = t.exec(k.ns["h10a"], "ping", "-c", "1", "192.168.20.11")
        kcap = settle(sn, until=1.0, start=t0)
    assert "1 received" in same.stdout and "ttl=63" in routed.stdout, (same.stdout, routed.stdout)
    sim = model.sim
    h10a = model.ns["h10a"]
    h10a.spawn(Ping("192.168.10.12", count=1))
    sim.after(500 * MS, lambda: h10a.spawn(Ping("192.168.20.11", count=1)))
    sim.run(until=2.0)
    rep = compare("VLAN devices, router on a stick", kcap, emunet_frames(sim, labels))
    assert len(kcap["router/eth0"]) >= 8, rep.text()
    assert rep, rep.text()
    assert {"vlan.id", "ip.ttl"} <= rep.fields
