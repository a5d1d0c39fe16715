"""``sysctl`` and ``cat /proc/net/{route,arp}`` (emunet.observe.show.procfs) against what
Linux prints; the ``emushow-*`` namespaces are described in tests/observe/showlab.py.
"""
import pytest

from emunet.observe import show
from emunet.observe.show import run_command
from tests.observe.showlab import neighbour_lab, routed_lab


def test_sysctl(docker_lab):
    assert run_command(docker_lab, "host", "sysctl net.ipv4.ip_forward") == "net.ipv4.ip_forward = 1\n"
    assert run_command(docker_lab, "c1", "sysctl net.ipv4.ip_forward") == "net.ipv4.ip_forward = 0\n"
    assert run_command(docker_lab, "c1", "sysctl -n net.ipv4.ip_forward") == "0\n"
    with pytest.raises(ValueError, match="cannot stat /proc/sys/net/ipv4/nope"):
        run_command(docker_lab, "c1", "sysctl net.ipv4.nope")


def test_kernel_proc_net_route():
    sim, x, vx, vy = routed_lab()
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


def test_kernel_proc_net_arp():
    sim, x, vx, vy = neighbour_lab()
    proc = show.proc_net_arp(x).splitlines()
    assert proc[0] == "IP address       HW type     Flags       HW address            Mask     Device"
    assert "10.1.0.16        0x1         0x0         00:00:00:00:00:00     *        vx" in proc
    assert "10.1.0.9         0x1         0x6         02:00:00:00:09:09     *        vx" in proc
    assert len(proc) == 9  # NOARP entries are not in /proc/net/arp
