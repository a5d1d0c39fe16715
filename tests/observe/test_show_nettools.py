"""``ifconfig``, ``route``, ``arp`` and ``netstat`` (emunet.observe.show.nettools) against
what Linux prints.

Two sources of truth besides the kernel reference (tests/observe/test_show_reference.py): the
seed (``/work/shared/seed``), what ``route``, ``arp`` and ``ifconfig`` print in the
containers of the story, modulo its collapsed whitespace; and the ``emushow-*``
namespaces described in tests/observe/showlab.py, whose output is pasted verbatim.
"""
import pytest

from emunet.observe import show
from emunet.observe.show import run_command
from emunet.observe.show.nettools import bytes_scaled
from emunet.scenarios import docker_bridge
from tests.observe.showlab import neighbour_lab, routed_lab


# -- the seed --------------------------------------------------------------------
def _collapsed(text: str) -> list:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def test_seed_route_in_container(docker_lab):
    assert _collapsed(run_command(docker_lab, "c1", "route")) == [
        "Kernel IP routing table",
        "Destination Gateway Genmask Flags Metric Ref Use Iface",
        "default _gateway 0.0.0.0 UG 0 0 0 eth0",
        "172.17.0.0 0.0.0.0 255.255.0.0 U 0 0 0 eth0",
    ]


def test_seed_arp_after_ping(docker_lab):
    lines = _collapsed(run_command(docker_lab, "c1", "arp"))
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


def test_seed_ifconfig_eth0(docker_lab):
    block = _collapsed(run_command(docker_lab, "c1", "ifconfig eth0"))
    assert block[0] == "eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST> mtu 1500"
    assert block[1] == "inet 172.17.0.7 netmask 255.255.0.0 broadcast 172.17.255.255"
    # the veth's queue length is the model's: 1000 as `ip link add` makes it (and as the
    # kernel reference shows); see the next test for dockerd's 0
    assert block[2] == "ether 02:42:ac:11:00:07 txqueuelen 1000 (Ethernet)"
    assert block[3].startswith("RX packets ")
    assert block[-1].startswith("TX errors 0 dropped 0 overruns 0 carrier 0 collisions 0")
    lo = _collapsed(run_command(docker_lab, "c1", "ifconfig lo"))
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


# -- states seen on the kernel while writing the module ----------------------------
def test_kernel_route_table():
    sim, x, vx, vy = routed_lab()
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


def test_kernel_arp_of_every_neighbour_state():
    sim, x, vx, vy = neighbour_lab()
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


@pytest.mark.parametrize("n,text", [
    (0, "0.0 B"), (182, "182.0 B"), (1024, "1024.0 B"), (1025, "1.0 KiB"),
    (195061, "190.4 KiB"), (9678058, "9.2 MiB"), (4326042, "4.1 MiB"),
    (119686042, "114.1 MiB"), (10224478003, "9.5 GiB"),
])
def test_ifconfig_byte_units(n, text):
    # seed: 9678058 (9.2 MiB), 195061 (190.4 KiB); kernel runs: the others; net-tools
    # switches unit only when strictly above it
    assert bytes_scaled(n) == text
