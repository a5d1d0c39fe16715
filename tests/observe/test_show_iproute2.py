"""``ip link``, ``ip addr``, ``ip route``, ``ip route get`` and ``ip neigh``
(emunet.observe.show.iplink, .iproute) against what Linux printed for the ``emushow-*``
namespaces described in tests/observe/showlab.py (pasted verbatim), with the other tools' view of
the same devices where one test builds them.
"""
import ipaddress

import pytest

from emunet.devices.tun import Tun
from emunet.devices.veth import veth_pair
from emunet.devices.vxlan import Vxlan
from emunet.observe import show
from emunet.observe.show import run_command
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from tests.observe.showlab import neighbour_lab, route_lab, routed_lab


LO_LOCAL = """\
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 
broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 
"""


def test_kernel_routes_through_down_and_carrierless_devices():
    sim, x, vx, vy = route_lab()
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


def test_kernel_route_listings():
    sim, x, vx, vy = routed_lab()
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


def test_kernel_route_show_dev_leaves_dev_out(docker_lab):
    assert run_command(docker_lab, "c1", "ip route show dev eth0") == (
        "default via 172.17.0.1 \n172.17.0.0/16 proto kernel scope link src 172.17.0.7 \n")
    assert run_command(docker_lab, "c1", "ip neigh show dev eth0") == \
        "172.17.0.8 lladdr 02:42:ac:11:00:08 STALE \n"
    assert run_command(docker_lab, "c1", "ip neigh show 172.17.0.8") == \
        "172.17.0.8 dev eth0 lladdr 02:42:ac:11:00:08 STALE \n"
    with pytest.raises(ValueError, match='Device "nosuch" does not exist.'):
        run_command(docker_lab, "c1", "ip addr show dev nosuch")


def test_kernel_secondary_addresses_and_their_order():
    sim, x, vx, vy = route_lab()
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
    sim, x, vx, vy = neighbour_lab()
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


def test_kernel_large_counters_widen_columns():
    # ~10 GB pushed through a veth on the kernel: the bytes column grows to 11
    sim, x, vx, vy = route_lab()
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


def test_kernel_tun_device():
    # exp5: `ip tuntap add dev flannel0 mode tun`, mtu 1472, 100.96.1.0/16, up; then a
    # process opens it (flanneld)
    sim = Simulator(seed=1)
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
    sim = Simulator(seed=1)
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
