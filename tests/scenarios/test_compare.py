"""``emunet compare``: the three backends side by side, every figure measured from the runs."""
import contextlib
import io

import pytest

from emunet.compare import compare_backends, measure

NAMES = ["flannel-udp", "flannel-vxlan", "flannel-host-gw"]


@pytest.fixture(scope="module")
def table():
    return compare_backends(NAMES, seed=1)


def _row(table: str, label: str) -> list:
    line = next(l for l in table.splitlines() if l.startswith(label))
    return line[len(label):].split()


def test_overheads_mtus_and_bytes_on_the_wire(table):
    assert _row(table, "encapsulation overhead (bytes per packet)") == ["28", "50", "0"]
    assert _row(table, "pod MTU (largest UDP payload)") == ["1472", "(1444)", "1450", "(1422)", "1500", "(1472)"]
    assert _row(table, "bytes on node1 eth0 for the 1400-byte datagram") == ["1470", "1492", "1442"]


def test_frames_copies_and_hops(table):
    # ping: ARP request and reply on the underlay, then the echo request and reply
    assert _row(table, "frames on the underlay: ping (ARP incl.)") == ["4", "4", "4"]
    assert _row(table, "frames on the underlay: datagram + echo") == ["2", "2", "2"]
    # the seed's three copies for the UDP backend; the kernel backends copy once at each end
    assert _row(table, "user/kernel copies per packet, sending node") == ["3", "1", "1"]
    assert _row(table, "user/kernel copies per packet, end to end") == ["6", "2", "2"]
    assert _row(table, "IP hops (TTL 64 → at the server pod)") == ["4", "(TTL", "60)", "2", "(TTL", "62)",
                                                                   "2", "(TTL", "62)"]


def test_only_host_gw_needs_one_l2_segment(table):
    assert "flannel-udp: no (a ping across a router arrives)" in table
    assert "flannel-vxlan: no (a ping across a router arrives)" in table
    line = next(l for l in table.splitlines() if l.strip().startswith("flannel-host-gw: "))
    assert line.strip().startswith("flannel-host-gw: yes (across a router: Error adding route to ")
    assert line.endswith("network is unreachable)")


def test_outer_headers_are_read_from_the_bytes():
    m = measure("flannel-vxlan")
    assert m["outer"].startswith("Eth/IPv4/UDP ") and m["outer"].endswith("→8472/VXLAN vni 1/inner Eth")
    assert measure("flannel-udp")["outer"] == "Eth/IPv4/UDP 8285→8285/inner IPv4"


def test_the_cli_prints_the_table(table):
    from emunet.cli import main
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["compare", "--backends", ",".join(NAMES)]) == 0
    out = buf.getvalue()
    assert out.splitlines()[0].split() == NAMES
    assert "encapsulation overhead" in out
    assert out == table


def test_calico_backends_measured_the_same_way():
    bgp, ipip, vxlan = (measure(n) for n in ("calico-bgp", "calico-ipip", "calico-vxlan"))
    assert (bgp["overhead"], ipip["overhead"], vxlan["overhead"]) == ("0", "20", "50")
    assert (bgp["mtu"], ipip["mtu"], vxlan["mtu"]) == ("1500 (1472)", "1480 (1452)", "1450 (1422)")
    assert ipip["outer"] == "Eth/IPv4 proto 4 (IPIP)/inner IPv4"
    assert vxlan["outer"].endswith("→4789/VXLAN vni 4096/inner Eth")
    assert ipip["path"] == "pod-1 → node1 → router → node3 → pod-5"
    assert bgp["l2"].startswith("yes (across a router: IP_NOROUTE at router/")
    assert ipip["l2"] == vxlan["l2"] == "no (a ping across a router arrives)"
    assert bgp["copies_sender"] == ipip["copies_sender"] == "1"
