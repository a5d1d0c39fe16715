"""``bridge fdb``, ``bridge link``, ``brctl show`` and ``brctl showmacs``
(emunet.observe.show.bridge), with ``ip link``, ``ip addr`` and ``ifconfig`` of the same
devices, against what Linux printed for the ``emushow-*`` namespaces described in
tests/observe/showlab.py.
"""
from emunet.devices.bridge import Bridge, FdbEntry
from emunet.devices.veth import veth_pair
from emunet.observe import show
from emunet.observe.show import run_command
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from tests.observe.showlab import FakeLab


def bridge_lab():
    """exp1: in namespace emushow-h a bridge br0 (up, no port), a never-up bridge, a veth
    pair vb/va in the same namespace with only va up; ``ip link add va type veth peer
    name vb`` registers vb first, so vb is 4 and va 5."""
    sim = Simulator(seed=1)
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
    sim, h, br0, va, vb = bridge_lab()
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
    sim, h, br0, va, vb = bridge_lab()
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
    assert run_command(FakeLab(h), "emushow-h", "bridge fdb show dev vc") == (
        "02:00:00:00:00:98 master br0 permanent\n02:00:00:00:00:99 master br0 static\n"
        "02:00:00:00:00:0c master br0 permanent\n33:33:00:00:00:01 self permanent\n"
        "01:00:5e:00:00:01 self permanent\n")
