"""Show commands (emunet.observe.show) against what Linux prints.

Three sources of truth:

* ``tests/kernel/reference/``: a real kernel (6.18, iproute2 6.1, net-tools 2.10,
  bridge-utils 1.7) running the docker-bridge topology; every command listed in its
  ``commands_index.txt`` that the module models is compared here.  What is normalised,
  and why (nothing else is):

  - counters (``ip -s link``, ``ifconfig``, ``netstat -i``, ``/proc/net/dev``): they are
    the model's, and the kernel counted IPv6/IGMP chatter the model does not send;
    numbers are masked keeping their column width, so alignment is still checked;
  - the host-side veth names and MACs: dockerd (and our scenario, from its seeded RNG)
    picks ``veth`` + 7 random hex digits, the reference fixed ``veth1a2b3c4`` /
    ``veth5d6e7f8``; the kernel gives those veths random MACs on every run;
  - ``brctl showmacs`` ageing timers (wall-clock time since learning) and, because the
    random MACs decide the sort order, its line order.

  The reference also pins two settings, which the tests pass rather than normalise:
  namespaces created with ``ip netns`` (``link-netns emuref-c1``; the
  ``*.linknetnsid.txt`` files have dockerd's unnamed form, ``link-netnsid 0``) and name
  lookups that fail (``route``/``arp`` print ``172.17.0.1``, not ``_gateway``).  The
  reference snapshots were taken about 1 s after the ping (c2's "after probe" one about
  6 s after), so the scenario is run for that long.
* the seed (``/work/shared/seed``): what ``route``, ``arp`` and ``ifconfig`` print in the
  containers of the story, modulo its collapsed whitespace.
* kernel runs made while writing the module (namespaces ``emushow-*``), for states the
  reference topology never reaches: a bridge without ports, a veth whose peer is down,
  routes on a device without carrier or administratively down, reject routes, every
  neighbour state, secondary addresses, a veth with txqueuelen 0 (as dockerd creates
  them), large counters.  Their output is pasted below verbatim.
"""
import ipaddress
import json
import pathlib
import re

import pytest

from emunet import cli
from emunet.devices.bridge import Bridge, FdbEntry
from emunet.devices.veth import veth_pair
from emunet.observe import show
from emunet.observe.show import run_command
from emunet.observe.show.nettools import bytes_scaled
from emunet.scenarios import docker_bridge
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace

REF = pathlib.Path(__file__).parent / "kernel" / "reference"
NETNS = {"host": "emuref-host", "c1": "emuref-c1", "c2": "emuref-c2"}
REF_VETH = {"c1": "veth1a2b3c4", "c2": "veth5d6e7f8"}

# commands the reference ran that the module does not model (details, IPv6 groups,
# neighbour timers)
NOT_MODELLED = {"ip -d link show", "bridge -d link", "ip maddr", "ip -s neigh"}


def _index():
    path = REF / "commands_index.txt"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r"(\S+)\s+rc=(\d+)\s+\[(\w+)(, /run/netns hidden)?\] (.*)", line)
        if m is None:
            continue
        fname, rc, where, hidden, cmd = m.groups()
        if rc != "0" or any(cmd.startswith(p) for p in NOT_MODELLED):
            continue
        out.append(pytest.param(fname, where, cmd, bool(hidden), id=fname))
    return out


_labs = {}


def _lab_at(seconds: float):
    """The docker-bridge scenario, run for ``seconds`` of virtual time (cached)."""
    if seconds not in _labs:
        lab = docker_bridge.build(seed=1, capture=False)
        lab.duration = seconds
        _labs[seconds] = lab.run()
    return _labs[seconds]


def _mask_numbers(line: str) -> str:
    """Every number replaced by N, right-aligned in the same width."""
    return re.sub(r" *\d+", lambda m: " " * (len(m.group(0)) - 1) + "N", line)


def _mask_counters(text: str, cmd: str) -> str:
    lines = text.split("\n")
    out = []
    after_header = False
    for i, line in enumerate(lines):
        if cmd.startswith("ifconfig") and re.match(r" {8}[RT]X ", line):
            # free-form text, not columns: "RX packets 3  bytes 182 (182.0 B)"
            line = re.sub(r"\d+", "N", re.sub(r"\(\d+\.\d [KMGTPE]?i?B\)", "(H)", line))
        elif cmd.startswith("ip -s") and after_header:
            line = _mask_numbers(line)
        elif cmd == "netstat -i" and i >= 2 and line:
            name, rest = line[:16], line[16:]
            line = name + _mask_numbers(rest[:6]) + _mask_numbers(rest[6:67]) + rest[67:]
        elif cmd == "cat /proc/net/dev" and i >= 2 and line:
            name, rest = line.split(":", 1)
            line = name + ":" + _mask_numbers(rest)
        after_header = bool(re.match(r" {4}[RT]X: ", line))
        out.append(line)
    return "\n".join(out)


def _ref_veth_macs() -> dict:
    text = (REF / "host_ip_link.txt").read_text()
    macs = {}
    for where, name in REF_VETH.items():
        m = re.search(re.escape(name) + r"@if\d+:.*\n    link/ether (\S+)", text)
        macs[where] = m.group(1)
    return macs


@pytest.mark.skipif(not (REF / "commands_index.txt").exists(), reason="no kernel reference")
@pytest.mark.parametrize("fname,where,cmd,hidden", _index())
def test_matches_kernel_reference(fname, where, cmd, hidden):
    seconds = 1.0
    if fname in ("c2_ip_neigh.txt", "c2_ip_neigh_after_probe.txt"):
        seconds = 7.0  # after c2's unicast probe (delay_first_probe_time 5 s)
    lab = _lab_at(seconds)
    ours = run_command(lab, where, cmd, netns_names=None if hidden else NETNS, gateway_name=None)
    ref = (REF / fname).read_text()
    # the host-side veths: our seeded-random names and MACs → the reference's names,
    # both sides' random MACs → a placeholder
    ref_macs = _ref_veth_macs()
    for c, name in REF_VETH.items():
        veth = lab.docker.containers[c].veth_host
        ours = ours.replace(veth.name, name)
        ours = ours.replace(":".join(f"{b:02x}" for b in veth.mac), f"<{c}-veth-mac>")
        ref = ref.replace(ref_macs[c], f"<{c}-veth-mac>")
    ours, ref = _mask_counters(ours, cmd), _mask_counters(ref, cmd)
    if cmd.startswith("brctl showmacs"):
        ours_l, ref_l = ours.splitlines(), ref.splitlines()
        assert ours_l[0] == ref_l[0]
        mask = lambda ls: sorted(re.sub(r"\s+\d+\.\d\d$", " T", s) for s in ls[1:])  # noqa: E731
        assert mask(ours_l) == mask(ref_l)
        return
    assert ours == ref


def test_reference_neighbour_states_follow_time():
    if not (REF / "c2_ip_neigh_right_after_ping.txt").exists():
        pytest.skip("no kernel reference")
    # right after the ping c2's entry for c1 is DELAY (it sent the echo reply to a STALE
    # entry); the kernel's snapshot agrees with the model's at t = 1 s
    assert run_command(_lab_at(1.0), "c2", "ip neigh") == \
        (REF / "c2_ip_neigh_right_after_ping.txt").read_text()


# -- the seed --------------------------------------------------------------------
def _collapsed(text: str) -> list:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def lab():
    return docker_bridge.build(seed=1, capture=False).run()


def test_seed_route_in_container(lab):
    assert _collapsed(run_command(lab, "c1", "route")) == [
        "Kernel IP routing table",
        "Destination Gateway Genmask Flags Metric Ref Use Iface",
        "default _gateway 0.0.0.0 UG 0 0 0 eth0",
        "172.17.0.0 0.0.0.0 255.255.0.0 U 0 0 0 eth0",
    ]


def test_seed_arp_after_ping(lab):
    lines = _collapsed(run_command(lab, "c1", "arp"))
    assert lines[0] == "Address HWtype HWaddress Flags Mask Iface"
    assert "172.17.0.8 ether 02:42:ac:11:00:08 C eth0" in lines


def test_seed_arp_with_gateway_entry():
    # the seed's c1 had talked to its gateway before pinging c2: _gateway then appears
    # below the newer entry, as in the seed
    lab = docker_bridge.build(seed=1, capture=False)
    lab.c1.ping("172.17.0.1")
    lab.sim.run(until=1.0)
    lab.run()
    assert _collapsed(run_command(lab, "c1", "arp")) == [
        "Address HWtype HWaddress Flags Mask Iface",
        "172.17.0.8 ether 02:42:ac:11:00:08 C eth0",
        "_gateway ether 02:42:2e:8d:21:d6 C eth0",
    ]
    assert _collapsed(run_command(lab, "c1", "arp -n"))[2] == \
        "172.17.0.1 ether 02:42:2e:8d:21:d6 C eth0"


def test_seed_ifconfig_eth0(lab):
    block = _collapsed(run_command(lab, "c1", "ifconfig eth0"))
    assert block[0] == "eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST> mtu 1500"
    assert block[1] == "inet 172.17.0.7 netmask 255.255.0.0 broadcast 172.17.255.255"
    # the veth's queue length is the model's: 1000 as `ip link add` makes it (and as the
    # kernel reference shows); see the next test for dockerd's 0
    assert block[2] == "ether 02:42:ac:11:00:07 txqueuelen 1000 (Ethernet)"
    assert block[3].startswith("RX packets ")
    assert block[-1].startswith("TX errors 0 dropped 0 overruns 0 carrier 0 collisions 0")
    lo = _collapsed(run_command(lab, "c1", "ifconfig lo"))
    assert lo[:3] == ["lo: flags=73<UP,LOOPBACK,RUNNING> mtu 65536",
                      "inet 127.0.0.1 netmask 255.0.0.0",
                      "loop txqueuelen 1000 (Local Loopback)"]
    assert lo[3] == "RX packets 0 bytes 0 (0.0 B)"


def test_seed_txqueuelen_0_as_dockerd_creates_veths():
    # libnetwork creates its veth pairs with TxQLen 0: the seed's containers show
    # `txqueuelen 0`, and the kernel then leaves `qlen` out of `ip link`
    lab = docker_bridge.build(seed=1, capture=False)
    for c in lab.docker.containers.values():
        c.veth_host.txqueuelen = c.veth_host.peer.txqueuelen = 0
    lab.run()
    assert _collapsed(run_command(lab, "c1", "ifconfig eth0"))[2] == \
        "ether 02:42:ac:11:00:07 txqueuelen 0 (Ethernet)"
    assert run_command(lab, "c1", "ip link show eth0").splitlines()[0] == (
        "3: eth0@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP "
        "mode DEFAULT group default ")


def test_seed_docker_network_inspect(lab):
    text = run_command(lab, "host", "docker network inspect bridge")
    data = json.loads(text)
    assert list(data[0]) == ["Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM",
                             "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly",
                             "Containers", "Options", "Labels"]
    assert text.startswith('[\n    {\n        "Name": "bridge",\n')
    assert '                    "Subnet": "172.17.0.0/16",\n' \
           '                    "Gateway": "172.17.0.1"\n' in text
    assert text.endswith("        \"Labels\": {}\n    }\n]\n")
    ids = list(data[0]["Containers"])
    assert ids == sorted(ids)  # Go marshals a map with sorted keys
    assert {c["Name"]: c["MacAddress"] for c in data[0]["Containers"].values()} == \
        {"c1": "02:42:ac:11:00:07", "c2": "02:42:ac:11:00:08"}
    short = lab.docker.network_id[:12]
    assert run_command(lab, "host", f"docker inspect network {short}") == text
    with pytest.raises(ValueError, match="No such network: nope"):
        run_command(lab, "host", "docker network inspect nope")
    with pytest.raises(ValueError, match=r"docker: not installed in namespace .c1. \(it is in host\)"):
        run_command(lab, "c1", "docker network inspect bridge")


def test_sysctl(lab):
    assert run_command(lab, "host", "sysctl net.ipv4.ip_forward") == "net.ipv4.ip_forward = 1\n"
    assert run_command(lab, "c1", "sysctl net.ipv4.ip_forward") == "net.ipv4.ip_forward = 0\n"
    assert run_command(lab, "c1", "sysctl -n net.ipv4.ip_forward") == "0\n"
    with pytest.raises(ValueError, match="cannot stat /proc/sys/net/ipv4/nope"):
        run_command(lab, "c1", "sysctl net.ipv4.nope")


def test_unknown_command_names_it_and_the_supported_ones(lab):
    with pytest.raises(ValueError) as e:
        run_command(lab, "c1", "ip xfrm state")
    assert "'ip xfrm state'" in str(e.value)
    assert "ip route get ADDR" in str(e.value) and "bridge fdb show" in str(e.value)
    with pytest.raises(ValueError, match="unsupported show command 'tcpdump'"):
        run_command(lab, "c1", "tcpdump")


def test_cli_show_ip_route(capsys):
    assert cli.main(["show", "docker-bridge", "c1", "ip route"]) == 0
    assert capsys.readouterr().out == ("default via 172.17.0.1 dev eth0 \n"
                                       "172.17.0.0/16 dev eth0 proto kernel scope link src 172.17.0.7 \n")


def test_cli_show_unknown_command(capsys):
    assert cli.main(["show", "docker-bridge", "c1", "ipconfig"]) == 1
    assert "unsupported show command 'ipconfig'" in capsys.readouterr().err


# -- states seen on the kernel while writing the module ----------------------------
def _bridge_lab():
    """exp1: in namespace emushow-h a bridge br0 (up, no port), a never-up bridge, a veth
    pair vb/va in the same namespace with only va up; ``ip link add va type veth peer
    name vb`` registers vb first, so vb is 4 and va 5."""
    sim = Simulator(seed=1, capture=False)
    h = Namespace(sim, "emushow-h")
    br0 = h.add_device(Bridge(sim, "br0", "02:42:2e:8d:21:d6"))
    br0.set_up()
    h.addr_add("br0", "172.17.0.1/16")
    h.add_device(Bridge(sim, "longbridgename1", "02:00:00:00:00:01"))
    va, vb = veth_pair(sim, "va", "vb", mac="02:00:00:00:00:0a", peer_mac="02:00:00:00:00:0b")
    h.add_device(vb)
    h.add_device(va)
    va.set_up()
    return sim, h, br0, va, vb


def test_kernel_bridge_without_ports_and_veth_with_peer_down():
    sim, h, br0, va, vb = _bridge_lab()
    assert show.ip_link(h) == """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: br0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN mode DEFAULT group default qlen 1000
    link/ether 02:42:2e:8d:21:d6 brd ff:ff:ff:ff:ff:ff
3: longbridgename1: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000
    link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff
4: vb@va: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT group default qlen 1000
    link/ether 02:00:00:00:00:0b brd ff:ff:ff:ff:ff:ff
5: va@vb: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN mode DEFAULT group default qlen 1000
    link/ether 02:00:00:00:00:0a brd ff:ff:ff:ff:ff:ff
"""
    assert show.ip_addr(h, "va") == """\
5: va@vb: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default qlen 1000
    link/ether 02:00:00:00:00:0a brd ff:ff:ff:ff:ff:ff
"""
    br0.stats.tx_dropped = 1  # what the kernel's br0 had dropped by then (counters are the model's)
    assert show.ifconfig(h, all=True) == """\
br0: flags=4099<UP,BROADCAST,MULTICAST>  mtu 1500
        inet 172.17.0.1  netmask 255.255.0.0  broadcast 172.17.255.255
        ether 02:42:2e:8d:21:d6  txqueuelen 1000  (Ethernet)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 1 overruns 0  carrier 0  collisions 0

lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536
        inet 127.0.0.1  netmask 255.0.0.0
        loop  txqueuelen 1000  (Local Loopback)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

longbridgename1: flags=4098<BROADCAST,MULTICAST>  mtu 1500
        ether 02:00:00:00:00:01  txqueuelen 1000  (Ethernet)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

va: flags=4099<UP,BROADCAST,MULTICAST>  mtu 1500
        ether 02:00:00:00:00:0a  txqueuelen 1000  (Ethernet)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

vb: flags=4098<BROADCAST,MULTICAST>  mtu 1500
        ether 02:00:00:00:00:0b  txqueuelen 1000  (Ethernet)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

"""
    assert show.ifconfig(h).split("\n\n")[:2] == show.ifconfig(h, all=True).split("\n\n")[:2]
    assert "longbridgename1" not in show.ifconfig(h)
    assert show.bridge_fdb(h) == """\
33:33:00:00:00:01 dev br0 self permanent
01:00:5e:00:00:6a dev br0 self permanent
33:33:00:00:00:6a dev br0 self permanent
01:00:5e:00:00:01 dev br0 self permanent
02:42:2e:8d:21:d6 dev br0 master br0 permanent
33:33:00:00:00:01 dev longbridgename1 self permanent
02:00:00:00:00:01 dev longbridgename1 master longbridgename1 permanent
33:33:00:00:00:01 dev vb self permanent
33:33:00:00:00:01 dev va self permanent
01:00:5e:00:00:01 dev va self permanent
"""
    assert show.brctl_show(h) == ("bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"
                                  "br0\t\t8000.02422e8d21d6\tno\t\t\n"
                                  "longbridgename1\t\t8000.020000000001\tno\t\t\n")
    assert show.bridge_link(h) == ""


def test_kernel_veth_across_namespaces_and_bridge_ports():
    sim, h, br0, va, vb = _bridge_lab()
    a = Namespace(sim, "emushow-a")
    vc, eth0 = veth_pair(sim, "vc", "eth0", mac="02:00:00:00:00:0c", peer_mac="02:42:ac:11:00:09")
    h.add_device(vc)
    a.add_device(eth0)
    names = {"emushow-h": "emushow-h", "emushow-a": "emushow-a"}
    vc.set_up()
    assert show.ip_link(h, "vc", netns_names=names) == """\
6: vc@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state LOWERLAYERDOWN mode DEFAULT group default qlen 1000
    link/ether 02:00:00:00:00:0c brd ff:ff:ff:ff:ff:ff link-netns emushow-a
"""
    # dockerd's veths: txqueuelen 0, so no qlen (and a trailing space after "default")
    eth0.txqueuelen = 0
    a.addr_add("eth0", "172.17.0.9/16", broadcast=False)
    eth0.set_up()
    assert show.ip_link(a, netns_names=names) == """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: eth0@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default 
    link/ether 02:42:ac:11:00:09 brd ff:ff:ff:ff:ff:ff link-netns emushow-h
"""
    assert show.ip_addr(a, netns_names=names) == """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
2: eth0@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default 
    link/ether 02:42:ac:11:00:09 brd ff:ff:ff:ff:ff:ff link-netns emushow-h
    inet 172.17.0.9/16 scope global eth0
       valid_lft forever preferred_lft forever
"""
    # the unnamed form, as in a docker container
    assert show.ip_link(a, "eth0").splitlines()[1].endswith(" link-netnsid 0")
    assert show.ifconfig(a).split("\n\n")[0] == """\
eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500
        inet 172.17.0.9  netmask 255.255.0.0  broadcast 0.0.0.0
        ether 02:42:ac:11:00:09  txqueuelen 0  (Ethernet)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0"""
    assert show.bridge_fdb(a) == ("33:33:00:00:00:01 dev eth0 self permanent\n"
                                  "01:00:5e:00:00:01 dev eth0 self permanent\n")

    br0.add_port(vc)
    # `bridge link` looks the peer's ifindex (2, in emushow-a) up in emushow-h: br0
    assert show.bridge_link(h) == ("6: vc@br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master br0 "
                                   "state forwarding priority 32 cost 2 \n")
    fdb_up = """\
33:33:00:00:00:01 dev br0 self permanent
01:00:5e:00:00:6a dev br0 self permanent
33:33:00:00:00:6a dev br0 self permanent
01:00:5e:00:00:01 dev br0 self permanent
02:42:2e:8d:21:d6 dev br0 master br0 permanent
33:33:00:00:00:01 dev longbridgename1 self permanent
02:00:00:00:00:01 dev longbridgename1 master longbridgename1 permanent
33:33:00:00:00:01 dev vb self permanent
33:33:00:00:00:01 dev va self permanent
01:00:5e:00:00:01 dev va self permanent
02:00:00:00:00:0c dev vc master br0 permanent
33:33:00:00:00:01 dev vc self permanent
01:00:5e:00:00:01 dev vc self permanent
"""
    assert show.bridge_fdb(h) == fdb_up
    assert show.bridge_fdb(h, br="br0") == """\
33:33:00:00:00:01 dev br0 self permanent
01:00:5e:00:00:6a dev br0 self permanent
33:33:00:00:00:6a dev br0 self permanent
01:00:5e:00:00:01 dev br0 self permanent
02:42:2e:8d:21:d6 dev br0 master br0 permanent
02:00:00:00:00:0c dev vc master br0 permanent
33:33:00:00:00:01 dev vc self permanent
01:00:5e:00:00:01 dev vc self permanent
"""
    assert show.brctl_show(h) == ("bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"
                                  "br0\t\t8000.02422e8d21d6\tno\t\tvc\n"
                                  "longbridgename1\t\t8000.020000000001\tno\t\t\n")

    vc.set_down()
    assert show.bridge_link(h) == ("6: vc@br0: <BROADCAST,MULTICAST> mtu 1500 master br0 "
                                   "state disabled priority 32 cost 2 \n")
    assert show.bridge_fdb(h) == fdb_up[:fdb_up.rindex("01:00:5e:00:00:01 dev vc")]
    assert show.ip_link(h, "br0") == """\
2: br0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN mode DEFAULT group default qlen 1000
    link/ether 02:42:2e:8d:21:d6 brd ff:ff:ff:ff:ff:ff
"""
    vc.set_up()
    br0.set_down()
    # the local device with vc's peer's ifindex (br0) is down: M-DOWN
    assert show.bridge_link(h) == ("6: vc@br0: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 "
                                   "master br0 state disabled priority 32 cost 2 \n")
    assert show.bridge_fdb(h).splitlines()[:2] == ["33:33:00:00:00:01 dev br0 self permanent",
                                                   "02:42:2e:8d:21:d6 dev br0 master br0 permanent"]
    br0.set_up()
    br0.add_port(vb)
    br0.fdb_add("02:00:00:00:00:99", vc)  # bridge fdb add ... master static
    mac98 = bytes.fromhex("020000000098")  # bridge fdb add ... master: NUD_PERMANENT, local
    br0.fdb[mac98] = FdbEntry(mac98, vc, sim.now, is_local=True)
    assert show.bridge_fdb(h) == """\
33:33:00:00:00:01 dev br0 self permanent
01:00:5e:00:00:6a dev br0 self permanent
33:33:00:00:00:6a dev br0 self permanent
01:00:5e:00:00:01 dev br0 self permanent
02:42:2e:8d:21:d6 dev br0 master br0 permanent
33:33:00:00:00:01 dev longbridgename1 self permanent
02:00:00:00:00:01 dev longbridgename1 master longbridgename1 permanent
02:00:00:00:00:0b dev vb master br0 permanent
33:33:00:00:00:01 dev vb self permanent
33:33:00:00:00:01 dev va self permanent
01:00:5e:00:00:01 dev va self permanent
02:00:00:00:00:98 dev vc master br0 permanent
02:00:00:00:00:99 dev vc master br0 static
02:00:00:00:00:0c dev vc master br0 permanent
33:33:00:00:00:01 dev vc self permanent
01:00:5e:00:00:01 dev vc self permanent
"""
    assert show.brctl_show(h) == ("bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"
                                  "br0\t\t8000.02422e8d21d6\tno\t\tvb\n"
                                  "\t\t\t\t\t\t\tvc\n"
                                  "longbridgename1\t\t8000.020000000001\tno\t\t\n")
    assert show.bridge_link(h) == (
        "4: vb@va: <BROADCAST,MULTICAST> mtu 1500 master br0 state disabled priority 32 cost 2 \n"
        "6: vc@br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master br0 state forwarding "
        "priority 32 cost 2 \n")
    assert show.brctl_showmacs(h, "br0") == (
        "port no\tmac addr\t\tis local?\tageing timer\n"
        "  2\t02:00:00:00:00:0b\tyes\t\t   0.00\n"
        "  1\t02:00:00:00:00:0c\tyes\t\t   0.00\n"
        "  1\t02:00:00:00:00:98\tyes\t\t   0.00\n"
        "  1\t02:00:00:00:00:99\tno\t\t   0.00\n")
    assert run_command(_FakeLab(h), "emushow-h", "bridge fdb show dev vc") == (
        "02:00:00:00:00:98 master br0 permanent\n02:00:00:00:00:99 master br0 static\n"
        "02:00:00:00:00:0c master br0 permanent\n33:33:00:00:00:01 self permanent\n"
        "01:00:5e:00:00:01 self permanent\n")


class _FakeLab:
    """Just enough of a Lab for run_command."""

    def __init__(self, *namespaces):
        self._ns = {ns.name: ns for ns in namespaces}
        self.hosts = {}

    def namespace(self, name):
        return self._ns[name]


def _route_lab():
    """exp2: emushow-x with a veth pair vx/vy (vy registered first: 2, vx 3)."""
    sim = Simulator(seed=1, capture=False)
    x = Namespace(sim, "emushow-x")
    vx, vy = veth_pair(sim, "vx", "vy", mac="02:00:00:00:01:01", peer_mac="02:00:00:00:01:02")
    x.add_device(vy)
    x.add_device(vx)
    return sim, x, vx, vy


LO_LOCAL = """\
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 
broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 
"""


def test_kernel_routes_through_down_and_carrierless_devices():
    sim, x, vx, vy = _route_lab()
    x.addr_add("vx", "10.1.0.1/24")
    # an address on a down device: only its local route exists
    assert show.ip_route(x, table="all") == \
        "local 10.1.0.1 dev vx table local proto kernel scope host src 10.1.0.1 \n" + LO_LOCAL
    assert show.ip_addr(x, "vx") == """\
3: vx@vy: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN group default qlen 1000
    link/ether 02:00:00:00:01:01 brd ff:ff:ff:ff:ff:ff
    inet 10.1.0.1/24 brd 10.1.0.255 scope global vx
       valid_lft forever preferred_lft forever
"""
    vx.set_up()  # the peer is down: no carrier
    assert show.ip_route(x, table="all") == """\
10.1.0.0/24 dev vx proto kernel scope link src 10.1.0.1 linkdown 
local 10.1.0.1 dev vx table local proto kernel scope host src 10.1.0.1 
broadcast 10.1.0.255 dev vx table local proto kernel scope link src 10.1.0.1 linkdown 
""" + LO_LOCAL
    assert show.route(x, numeric=True) == """\
Kernel IP routing table
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
10.1.0.0        0.0.0.0         255.255.255.0   U     0      0        0 vx
"""
    vy.set_up()
    assert show.ip_route(x, table="all") == """\
10.1.0.0/24 dev vx proto kernel scope link src 10.1.0.1 
local 10.1.0.1 dev vx table local proto kernel scope host src 10.1.0.1 
broadcast 10.1.0.255 dev vx table local proto kernel scope link src 10.1.0.1 
""" + LO_LOCAL


def _add_exp2_routes(x):
    x.route_add("10.2.0.0/16", via="10.1.0.2")
    x.route_add("10.1.0.0/16", dev="vx")
    x.route_add("10.1.0.0/28", dev="vx")
    x.route_add("10.0.0.0/8", dev="vx", metric=100)
    x.route_add("10.0.0.0/8", dev="vx", metric=50)
    x.route_add("default", via="10.1.0.254", metric=10)
    x.route_add("default", via="10.1.0.253")
    x.route_add("192.168.0.0/16", type="blackhole")
    x.route_add("192.169.0.0/16", type="unreachable")
    x.route_add("192.170.0.0/16", type="prohibit")
    x.route_add("10.9.9.9", dev="vx")
    x.route_add("10.8.0.0/16", dev="vx", src="10.1.0.1")
    x.route_add("10.7.0.0/16", via="1.2.3.4", dev="vx", onlink=True)
    x.route_add("10.6.0.0/16", via="10.1.0.2", dev="vx", proto="static")


def test_kernel_route_listings():
    sim, x, vx, vy = _route_lab()
    x.addr_add("vx", "10.1.0.1/24")
    vx.set_up()
    vy.set_up()
    _add_exp2_routes(x)
    # a trie walk: by address, the longer prefix first, then by metric
    assert show.ip_route(x) == show.ip_route(x, table="main") == """\
default via 10.1.0.253 dev vx 
default via 10.1.0.254 dev vx metric 10 
10.0.0.0/8 dev vx scope link metric 50 
10.0.0.0/8 dev vx scope link metric 100 
10.1.0.0/28 dev vx scope link 
10.1.0.0/24 dev vx proto kernel scope link src 10.1.0.1 
10.1.0.0/16 dev vx scope link 
10.2.0.0/16 via 10.1.0.2 dev vx 
10.6.0.0/16 via 10.1.0.2 dev vx proto static 
10.7.0.0/16 via 1.2.3.4 dev vx onlink 
10.8.0.0/16 dev vx scope link src 10.1.0.1 
10.9.9.9 dev vx scope link 
blackhole 192.168.0.0/16 
unreachable 192.169.0.0/16 
prohibit 192.170.0.0/16 
"""
    assert show.route(x, numeric=True) == """\
Kernel IP routing table
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
0.0.0.0         10.1.0.253      0.0.0.0         UG    0      0        0 vx
0.0.0.0         10.1.0.254      0.0.0.0         UG    10     0        0 vx
10.0.0.0        0.0.0.0         255.0.0.0       U     50     0        0 vx
10.0.0.0        0.0.0.0         255.0.0.0       U     100    0        0 vx
10.1.0.0        0.0.0.0         255.255.255.240 U     0      0        0 vx
10.1.0.0        0.0.0.0         255.255.255.0   U     0      0        0 vx
10.1.0.0        0.0.0.0         255.255.0.0     U     0      0        0 vx
10.2.0.0        10.1.0.2        255.255.0.0     UG    0      0        0 vx
10.6.0.0        10.1.0.2        255.255.0.0     UG    0      0        0 vx
10.7.0.0        1.2.3.4         255.255.0.0     UG    0      0        0 vx
10.8.0.0        0.0.0.0         255.255.0.0     U     0      0        0 vx
10.9.9.9        0.0.0.0         255.255.255.255 UH    0      0        0 vx
192.168.0.0     0.0.0.0         255.255.0.0     U     0      0        0 *
192.169.0.0     -               255.255.0.0     !     0      -        0 -
192.170.0.0     -               255.255.0.0     !     0      -        0 -
"""
    assert show.netstat_r(x, numeric=True) == """\
Kernel IP routing table
Destination     Gateway         Genmask         Flags   MSS Window  irtt Iface
0.0.0.0         10.1.0.253      0.0.0.0         UG        0 0          0 vx
0.0.0.0         10.1.0.254      0.0.0.0         UG        0 0          0 vx
10.0.0.0        0.0.0.0         255.0.0.0       U         0 0          0 vx
10.0.0.0        0.0.0.0         255.0.0.0       U         0 0          0 vx
10.1.0.0        0.0.0.0         255.255.255.240 U         0 0          0 vx
10.1.0.0        0.0.0.0         255.255.255.0   U         0 0          0 vx
10.1.0.0        0.0.0.0         255.255.0.0     U         0 0          0 vx
10.2.0.0        10.1.0.2        255.255.0.0     UG        0 0          0 vx
10.6.0.0        10.1.0.2        255.255.0.0     UG        0 0          0 vx
10.7.0.0        1.2.3.4         255.255.0.0     UG        0 0          0 vx
10.8.0.0        0.0.0.0         255.255.0.0     U         0 0          0 vx
10.9.9.9        0.0.0.0         255.255.255.255 UH        0 0          0 vx
192.168.0.0     0.0.0.0         255.255.0.0     U         0 0          0 *
192.169.0.0     -               255.255.0.0     !         - -          - -
192.170.0.0     -               255.255.0.0     !         - -          - -
"""
    # /etc/hosts and /etc/networks entries (names), no nss-myhostname (gateway_name None)
    names = {"10.1.0.254": "gw-a", "10.1.0.2": "nexthop-b", "10.1.0.9": "permhost",
             "127.0.0.0": "loopnet", "10.1.0.0": "subnet-one"}
    assert show.route(x, names=names, gateway_name=None) == """\
Kernel IP routing table
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
default         10.1.0.253      0.0.0.0         UG    0      0        0 vx
default         gw-a            0.0.0.0         UG    10     0        0 vx
10.0.0.0        0.0.0.0         255.0.0.0       U     50     0        0 vx
10.0.0.0        0.0.0.0         255.0.0.0       U     100    0        0 vx
subnet-one      0.0.0.0         255.255.255.240 U     0      0        0 vx
subnet-one      0.0.0.0         255.255.255.0   U     0      0        0 vx
subnet-one      0.0.0.0         255.255.0.0     U     0      0        0 vx
10.2.0.0        nexthop-b       255.255.0.0     UG    0      0        0 vx
10.6.0.0        nexthop-b       255.255.0.0     UG    0      0        0 vx
10.7.0.0        1.2.3.4         255.255.0.0     UG    0      0        0 vx
10.8.0.0        0.0.0.0         255.255.0.0     U     0      0        0 vx
10.9.9.9        0.0.0.0         255.255.255.255 UH    0      0        0 vx
192.168.0.0     0.0.0.0         255.255.0.0     U     0      0        0 *
192.169.0.0     -               255.255.0.0     !     0      -        0 -
192.170.0.0     -               255.255.0.0     !     0      -        0 -
"""
    assert show.netstat_r(x, numeric=False, names=names, gateway_name=None).splitlines()[3] == \
        "default         gw-a            0.0.0.0         UG        0 0          0 vx"
    assert show.proc_net_route(x) == "".join(f"{line:<127}\n" for line in """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
vx\t00000000\tFD00010A\t0003\t0\t0\t0\t00000000\t0\t0\t0
vx\t00000000\tFE00010A\t0003\t0\t0\t10\t00000000\t0\t0\t0
vx\t0000000A\t00000000\t0001\t0\t0\t50\t000000FF\t0\t0\t0
vx\t0000000A\t00000000\t0001\t0\t0\t100\t000000FF\t0\t0\t0
vx\t0000010A\t00000000\t0001\t0\t0\t0\tF0FFFFFF\t0\t0\t0
vx\t0000010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
vx\t0000010A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
vx\t0000020A\t0200010A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0
vx\t0000060A\t0200010A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0
vx\t0000070A\t04030201\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0
vx\t0000080A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
vx\t0909090A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0
*\t0000A8C0\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
*\t0000A9C0\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0
*\t0000AAC0\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0""".split("\n"))

    x.addr_add("vx", "10.3.0.1/16")
    gets = {
        "10.1.0.1": "local 10.1.0.1 dev lo src 10.1.0.1 uid 0 \n    cache <local> \n",
        "10.1.0.255": "broadcast 10.1.0.255 dev vx src 10.1.0.1 uid 0 \n    cache <local,brd> \n",
        "10.2.3.4": "10.2.3.4 via 10.1.0.2 dev vx src 10.1.0.1 uid 0 \n    cache \n",
        "10.7.1.1": "10.7.1.1 via 1.2.3.4 dev vx src 10.1.0.1 uid 0 \n    cache \n",
        "8.8.8.8": "8.8.8.8 via 10.1.0.253 dev vx src 10.1.0.1 uid 0 \n    cache \n",
        "192.168.1.1": "RTNETLINK answers: Invalid argument\n",
        "192.169.1.1": "RTNETLINK answers: No route to host\n",
        "192.170.1.1": "RTNETLINK answers: Permission denied\n",
        "127.0.0.1": "local 127.0.0.1 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n",
        "127.1.2.3": "local 127.1.2.3 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n",
        "10.8.0.1": "10.8.0.1 dev vx src 10.1.0.1 uid 0 \n    cache \n",
        "0.0.0.0": "local 0.0.0.0 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n",
        "255.255.255.255": "broadcast 255.255.255.255 dev vx src 10.1.0.1 uid 0 \n"
                           "    cache <local,brd> \n",
        "224.0.0.1": "multicast 224.0.0.1 dev vx src 10.1.0.1 rt_offload_failed uid 0 \n"
                     "    cache <local,mc> \n",
        "10.3.255.255": "broadcast 10.3.255.255 dev vx src 10.3.0.1 uid 0 \n    cache <local,brd> \n",
    }
    for addr, text in gets.items():
        assert show.ip_route_get(x, addr) == text, addr

    vy.set_down()  # vx loses its carrier
    assert show.ip_route(x) == """\
default via 10.1.0.253 dev vx linkdown 
default via 10.1.0.254 dev vx metric 10 linkdown 
10.0.0.0/8 dev vx scope link metric 50 linkdown 
10.0.0.0/8 dev vx scope link metric 100 linkdown 
10.1.0.0/28 dev vx scope link linkdown 
10.1.0.0/24 dev vx proto kernel scope link src 10.1.0.1 linkdown 
10.1.0.0/16 dev vx scope link linkdown 
10.2.0.0/16 via 10.1.0.2 dev vx linkdown 
10.3.0.0/16 dev vx proto kernel scope link src 10.3.0.1 linkdown 
10.6.0.0/16 via 10.1.0.2 dev vx proto static linkdown 
10.7.0.0/16 via 1.2.3.4 dev vx onlink linkdown 
10.8.0.0/16 dev vx scope link src 10.1.0.1 linkdown 
10.9.9.9 dev vx scope link linkdown 
blackhole 192.168.0.0/16 
unreachable 192.169.0.0/16 
prohibit 192.170.0.0/16 
"""
    assert show.ip_route(x, table="local") == """\
local 10.1.0.1 dev vx proto kernel scope host src 10.1.0.1 
broadcast 10.1.0.255 dev vx proto kernel scope link src 10.1.0.1 linkdown 
local 10.3.0.1 dev vx proto kernel scope host src 10.3.0.1 
broadcast 10.3.255.255 dev vx proto kernel scope link src 10.3.0.1 linkdown 
local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1 
local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 
broadcast 127.255.255.255 dev lo proto kernel scope link src 127.0.0.1 
"""
    vx.set_down()  # the kernel flushes every route through vx but the local ones
    assert show.ip_route(x, table="all") == """\
blackhole 192.168.0.0/16 
unreachable 192.169.0.0/16 
prohibit 192.170.0.0/16 
local 10.1.0.1 dev vx table local proto kernel scope host src 10.1.0.1 
local 10.3.0.1 dev vx table local proto kernel scope host src 10.3.0.1 
""" + LO_LOCAL
    assert show.ip_route_get(x, "10.1.0.1") == "local 10.1.0.1 dev lo src 10.1.0.1 uid 0 \n    cache <local> \n"
    assert show.ip_route_get(x, "10.1.0.7") == "RTNETLINK answers: Network is unreachable\n"
    with pytest.raises(ValueError, match="FIB table does not exist"):
        show.ip_route(x, table="100")


def test_kernel_route_show_dev_leaves_dev_out(lab):
    assert run_command(lab, "c1", "ip route show dev eth0") == (
        "default via 172.17.0.1 \n172.17.0.0/16 proto kernel scope link src 172.17.0.7 \n")
    assert run_command(lab, "c1", "ip neigh show dev eth0") == \
        "172.17.0.8 lladdr 02:42:ac:11:00:08 STALE \n"
    assert run_command(lab, "c1", "ip neigh show 172.17.0.8") == \
        "172.17.0.8 dev eth0 lladdr 02:42:ac:11:00:08 STALE \n"
    with pytest.raises(ValueError, match='Device "nosuch" does not exist.'):
        run_command(lab, "c1", "ip addr show dev nosuch")


def test_kernel_secondary_addresses_and_their_order():
    sim, x, vx, vy = _route_lab()
    vx.set_up()
    vy.set_up()
    x.addr_add("vx", "10.1.0.1/24")
    x.addr_add("vx", "10.1.0.5/24", broadcast=False)
    x.addr_add("vx", "10.3.0.1/16")
    x.addr_add("vx", "10.4.0.1/24", scope="link", broadcast=False)
    x.addr_add("lo", "127.0.0.2/8", scope="host", broadcast=False)
    assert show.ip_addr(x) == """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
    inet 127.0.0.2/8 scope host secondary lo
       valid_lft forever preferred_lft forever
2: vy@vx: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
    link/ether 02:00:00:00:01:02 brd ff:ff:ff:ff:ff:ff
3: vx@vy: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
    link/ether 02:00:00:00:01:01 brd ff:ff:ff:ff:ff:ff
    inet 10.4.0.1/24 scope link vx
       valid_lft forever preferred_lft forever
    inet 10.1.0.1/24 brd 10.1.0.255 scope global vx
       valid_lft forever preferred_lft forever
    inet 10.3.0.1/16 brd 10.3.255.255 scope global vx
       valid_lft forever preferred_lft forever
    inet 10.1.0.5/24 scope global secondary vx
       valid_lft forever preferred_lft forever
"""
    # ifconfig shows the first address of the list, and broadcast 0.0.0.0 when it has none
    assert show.ifconfig(x) == """\
lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536
        inet 127.0.0.1  netmask 255.0.0.0
        loop  txqueuelen 1000  (Local Loopback)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

vx: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500
        inet 10.4.0.1  netmask 255.255.255.0  broadcast 0.0.0.0
        ether 02:00:00:00:01:01  txqueuelen 1000  (Ethernet)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

vy: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500
        ether 02:00:00:00:01:02  txqueuelen 1000  (Ethernet)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

"""


def test_kernel_neighbour_states():
    sim, x, vx, vy = _route_lab()
    vx.set_up()
    vy.set_up()
    x.addr_add("vx", "10.1.0.1/24")
    ip = lambda s: int(ipaddress.IPv4Address(s))  # noqa: E731
    mac = lambda n: bytes.fromhex(f"0200000009{n:02x}")  # noqa: E731
    x.neigh.add_permanent(vx, ip("10.1.0.9"), mac(0x09))
    for last, state in ((10, "NOARP"), (11, "STALE"), (12, "REACHABLE"), (13, "PROBE"),
                        (14, "PROBE"), (15, "INCOMPLETE"), (16, "FAILED"), (254, "REACHABLE")):
        n = x.neigh.update(vx, ip(f"10.1.0.{last}"), mac(last), "STALE", create=True)
        n.state = state
        if state in ("INCOMPLETE", "FAILED"):
            n.lladdr = None
    # the kernel lists them in hash order (random seed); compare as sets
    assert sorted(show.ip_neigh(x).splitlines()) == sorted("""\
10.1.0.16 dev vx FAILED 
10.1.0.11 dev vx lladdr 02:00:00:00:09:0b STALE 
10.1.0.15 dev vx INCOMPLETE 
10.1.0.14 dev vx lladdr 02:00:00:00:09:0e PROBE 
10.1.0.13 dev vx lladdr 02:00:00:00:09:0d PROBE 
10.1.0.12 dev vx lladdr 02:00:00:00:09:0c REACHABLE 
10.1.0.9 dev vx lladdr 02:00:00:00:09:09 PERMANENT 
10.1.0.254 dev vx lladdr 02:00:00:00:09:fe REACHABLE """.splitlines())
    arp_n = show.arp(x, numeric=True).splitlines()
    assert arp_n[0] == "Address                  HWtype  HWaddress           Flags Mask            Iface"
    assert sorted(arp_n[1:]) == sorted("""\
10.1.0.16                        (incomplete)                              vx
10.1.0.11                ether   02:00:00:00:09:0b   C                     vx
10.1.0.15                        (incomplete)                              vx
10.1.0.14                ether   02:00:00:00:09:0e   C                     vx
10.1.0.13                ether   02:00:00:00:09:0d   C                     vx
10.1.0.12                ether   02:00:00:00:09:0c   C                     vx
10.1.0.9                 ether   02:00:00:00:09:09   CM                    vx
10.1.0.254               ether   02:00:00:00:09:fe   C                     vx""".splitlines())
    names = {"10.1.0.254": "gw-a", "10.1.0.9": "permhost-with-a-very-long-name.example.com"}
    arp = show.arp(x, names=names, gateway_name=None).splitlines()
    assert "permhost-with-a-very-lo  ether   02:00:00:00:09:09   CM                    vx" in arp
    assert "gw-a                     ether   02:00:00:00:09:fe   C                     vx" in arp
    assert sorted(show.arp(x, bsd=True, names=names, gateway_name=None).splitlines()) == sorted("""\
? (10.1.0.16) at <incomplete> on vx
? (10.1.0.11) at 02:00:00:00:09:0b [ether] on vx
? (10.1.0.15) at <incomplete> on vx
? (10.1.0.14) at 02:00:00:00:09:0e [ether] on vx
? (10.1.0.13) at 02:00:00:00:09:0d [ether] on vx
? (10.1.0.12) at 02:00:00:00:09:0c [ether] on vx
permhost-with-a-very-long-name.example.com (10.1.0.9) at 02:00:00:00:09:09 [ether] PERM on vx
gw-a (10.1.0.254) at 02:00:00:00:09:fe [ether] on vx""".splitlines())
    proc = show.proc_net_arp(x).splitlines()
    assert proc[0] == "IP address       HW type     Flags       HW address            Mask     Device"
    assert "10.1.0.16        0x1         0x0         00:00:00:00:00:00     *        vx" in proc
    assert "10.1.0.9         0x1         0x6         02:00:00:00:09:09     *        vx" in proc
    assert len(proc) == 9  # NOARP entries are not in /proc/net/arp


def test_kernel_large_counters_widen_columns():
    # ~10 GB pushed through a veth on the kernel: the bytes column grows to 11
    sim, x, vx, vy = _route_lab()
    vx.set_up()
    vy.set_up()
    s = vx.stats
    s.rx_bytes, s.rx_packets, s.tx_bytes, s.tx_packets = 4072848, 61540, 10224478003, 165079
    assert show.ip_link(x, "vx", stats=True).split("\n", 2)[2] == """\
    RX:   bytes packets errors dropped  missed   mcast           
        4072848   61540      0       0       0       0 
    TX:   bytes packets errors dropped carrier collsns           
    10224478003  165079      0       0       0       0 
"""
    lines = show.ifconfig(x, dev="vx").splitlines()
    assert lines[2] == "        RX packets 61540  bytes 4072848 (3.8 MiB)"
    assert lines[4] == "        TX packets 165079  bytes 10224478003 (9.5 GiB)"


@pytest.mark.parametrize("n,text", [
    (0, "0.0 B"), (182, "182.0 B"), (1024, "1024.0 B"), (1025, "1.0 KiB"),
    (195061, "190.4 KiB"), (9678058, "9.2 MiB"), (4326042, "4.1 MiB"),
    (119686042, "114.1 MiB"), (10224478003, "9.5 GiB"),
])
def test_ifconfig_byte_units(n, text):
    # seed: 9678058 (9.2 MiB), 195061 (190.4 KiB); kernel runs: the others; net-tools
    # switches unit only when strictly above it
    assert bytes_scaled(n) == text


def test_kernel_tun_device():
    # exp5: `ip tuntap add dev flannel0 mode tun`, mtu 1472, 100.96.1.0/16, up; then a
    # process opens it (flanneld)
    from emunet.devices.tun import Tun
    sim = Simulator(seed=1, capture=False)
    t = Namespace(sim, "emushow-t")
    tun = t.add_device(Tun(sim, "flannel0", mtu=1472))
    t.addr_add("flannel0", "100.96.1.0/16", broadcast=False)
    tun.set_up()
    assert show.ip_addr(t, "flannel0") == """\
2: flannel0: <NO-CARRIER,POINTOPOINT,MULTICAST,NOARP,UP> mtu 1472 qdisc pfifo_fast state DOWN group default qlen 500
    link/none 
    inet 100.96.1.0/16 scope global flannel0
       valid_lft forever preferred_lft forever
"""
    assert show.ip_route(t) == "100.96.0.0/16 dev flannel0 proto kernel scope link src 100.96.1.0 linkdown \n"
    assert show.ifconfig(t, dev="flannel0") == """\
flannel0: flags=4241<UP,POINTOPOINT,NOARP,MULTICAST>  mtu 1472
        inet 100.96.1.0  netmask 255.255.0.0  destination 100.96.1.0
        unspec 00-00-00-00-00-00-00-00-00-00-00-00-00-00-00-00  txqueuelen 500  (UNSPEC)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

"""
    assert show.bridge_fdb(t) == ""
    assert show.ip_brief(t, "link") == (
        "lo               UNKNOWN        00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP> \n"
        "flannel0         DOWN           <NO-CARRIER,POINTOPOINT,MULTICAST,NOARP,UP> \n")
    assert show.netstat_i(t).splitlines()[2].endswith(" MOPU")
    tun.attach(lambda frame: None)
    assert show.ip_addr(t, "flannel0").splitlines()[0] == (
        "2: flannel0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1472 qdisc pfifo_fast "
        "state UP group default qlen 500")
    assert show.ifconfig(t, dev="flannel0").splitlines()[0] == \
        "flannel0: flags=4305<UP,POINTOPOINT,RUNNING,NOARP,MULTICAST>  mtu 1472"
    assert show.ip_route(t) == "100.96.0.0/16 dev flannel0 proto kernel scope link src 100.96.1.0 \n"
    assert show.netstat_i(t).splitlines()[2] == (
        "flannel0         1472        0      0      0 0             0      0      0      0 MOPRU")


def test_kernel_vxlan_device():
    # exp7: flannel.1 (vxlan id 1 dstport 8472 nolearning) over eth0, a permanent fdb
    # entry and neighbour for the remote VTEP, an onlink route through it
    from emunet.devices.vxlan import Vxlan
    sim = Simulator(seed=1, capture=False)
    v = Namespace(sim, "emushow-v")
    eth0, ethpeer = veth_pair(sim, "eth0", "ethpeer")
    v.add_device(ethpeer)
    v.add_device(eth0)
    v.addr_add("eth0", "10.168.0.2/24")
    ethpeer.set_up()
    eth0.set_up()
    vx = v.add_device(Vxlan(sim, "flannel.1", 1, "10.168.0.2", lower=eth0,
                            mac="c2:10:41:1e:7e:c2", dstport=8472, learning=False))
    v.addr_add("flannel.1", "100.96.1.0/32", broadcast=False)
    vx.set_up()
    vx.fdb_add("62:c9:35:18:7c:07", "10.168.0.3")
    v.route_add("100.96.2.0/24", via="100.96.2.0", dev="flannel.1", onlink=True)
    v.neigh.add_permanent(vx, int(ipaddress.IPv4Address("100.96.2.0")),
                          bytes.fromhex("62c935187c07"))
    assert show.ip_addr(v, "flannel.1") == """\
4: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN group default qlen 1000
    link/ether c2:10:41:1e:7e:c2 brd ff:ff:ff:ff:ff:ff
    inet 100.96.1.0/32 scope global flannel.1
       valid_lft forever preferred_lft forever
"""
    assert show.ip_route(v) == ("10.168.0.0/24 dev eth0 proto kernel scope link src 10.168.0.2 \n"
                                "100.96.2.0/24 via 100.96.2.0 dev flannel.1 onlink \n")
    assert show.bridge_fdb(v) == """\
33:33:00:00:00:01 dev ethpeer self permanent
01:00:5e:00:00:01 dev ethpeer self permanent
33:33:00:00:00:01 dev eth0 self permanent
01:00:5e:00:00:01 dev eth0 self permanent
62:c9:35:18:7c:07 dev flannel.1 dst 10.168.0.3 self permanent
"""
    assert show.bridge_fdb(v, dev="flannel.1") == "62:c9:35:18:7c:07 dst 10.168.0.3 self permanent\n"
    assert show.ifconfig(v, dev="flannel.1") == """\
flannel.1: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1450
        inet 100.96.1.0  netmask 255.255.255.255  broadcast 0.0.0.0
        ether c2:10:41:1e:7e:c2  txqueuelen 1000  (Ethernet)
        RX packets 0  bytes 0 (0.0 B)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 0  bytes 0 (0.0 B)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

"""
    assert show.ip_neigh(v) == "100.96.2.0 dev flannel.1 lladdr 62:c9:35:18:7c:07 PERMANENT \n"
    assert show.arp(v, numeric=True) == (
        "Address                  HWtype  HWaddress           Flags Mask            Iface\n"
        "100.96.2.0               ether   62:c9:35:18:7c:07   CM                    flannel.1\n")
