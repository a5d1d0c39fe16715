"""docker-nat and docker-publish, read back from their captures: the addresses and ports
each wire carries on either side of the host's NAT, and what the host's tables and
conntrack say afterwards (the kernel comparison of the same runs is
``tests/kernel/test_kernel_docker_nat.py``)."""
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from emunet.apps.http import WELCOME_PAGE
from emunet.scenarios import docker_nat, docker_publish


def _ip_frames(lab, iface):
    return [Ether(r.data) for r in lab.capture.on(iface) if Ether(r.data).haslayer(IP)]


def test_docker_nat_masquerades_on_the_uplink_only_and_keeps_the_id_and_port():
    lab = docker_nat.build(seed=1).run()
    inside = _ip_frames(lab, "c1/eth0")
    uplink = _ip_frames(lab, "host/eth0")
    assert [(p[IP].src, p[IP].dst, p[IP].ttl) for p in inside] == [
        ("172.17.0.7", "10.0.0.1", 64), ("10.0.0.1", "172.17.0.7", 63),
        ("172.17.0.7", "10.0.0.1", 64), ("10.0.0.1", "172.17.0.7", 63)]
    assert [(p[IP].src, p[IP].dst, p[IP].ttl) for p in uplink] == [
        ("10.0.0.2", "10.0.0.1", 63), ("10.0.0.1", "10.0.0.2", 64),
        ("10.0.0.2", "10.0.0.1", 63), ("10.0.0.1", "10.0.0.2", 64)]
    # the ICMP id and the UDP port went through unchanged; the IP ID too (NAT keeps it)
    assert inside[0][ICMP].id == uplink[0][ICMP].id == uplink[1][ICMP].id == inside[1][ICMP].id
    assert inside[0][IP].id == uplink[0][IP].id
    assert (uplink[2][UDP].sport, uplink[2][UDP].dport) == (40000, 53)
    assert (inside[3][UDP].sport, inside[3][UDP].dport) == (53, 40000)
    # outside never sees the container's address
    assert all("172.17." not in (p[IP].src + p[IP].dst) for p in _ip_frames(lab, "outside/eth0"))
    assert lab.ping.received == 1 and lab.query.replies[0][1] == ("10.0.0.1", 53)
    text = "\n".join(lab.transcript)
    assert "    2   141 MASQUERADE  0    --  *      !docker0  172.17.0.0/16        0.0.0.0/0" in text
    assert ("udp      17 28 src=172.17.0.7 dst=10.0.0.1 sport=40000 dport=53 src=10.0.0.1 "
            "dst=10.0.0.2 sport=53 dport=40000 mark=0 use=1") in text
    assert "2 flow entries have been shown." in text


def test_docker_publish_dnats_outsides_connection_and_outside_sees_only_the_host():
    lab = docker_publish.build(seed=1).run()
    assert lab.curl.exit_code == 0 and lab.curl.body == WELCOME_PAGE and lab.nginx.served == 1
    out = [(p[IP].src, p[TCP].sport, p[IP].dst, p[TCP].dport) for p in _ip_frames(lab, "outside/eth0")]
    c1 = [(p[IP].src, p[TCP].sport, p[IP].dst, p[TCP].dport) for p in _ip_frames(lab, "c1/eth0")]
    assert set(out) == {("10.0.0.1", 45000, "10.0.0.2", 8080), ("10.0.0.2", 8080, "10.0.0.1", 45000)}
    assert set(c1) == {("10.0.0.1", 45000, "172.17.0.7", 80), ("172.17.0.7", 80, "10.0.0.1", 45000)}
    # handshake (3), GET and its ACK, header and its ACK, page and its ACK, FIN, FIN, ACK
    assert len(out) == len(c1) == 12
    assert all(p[IP].ttl == 63 for p in _ip_frames(lab, "c1/eth0") if p[IP].src == "10.0.0.1")
    text = "\n".join(lab.transcript)
    assert ("    1    60 DNAT       6    --  !docker0 *       0.0.0.0/0            0.0.0.0/0"
            "            tcp dpt:8080 to:172.17.0.7:80") in text
    assert ("tcp      6 118 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=45000 dport=8080 "
            "src=172.17.0.7 dst=10.0.0.1 sport=80 dport=45000 [ASSURED] mark=0 use=1") in text
    # the docker-proxy listening on 0.0.0.0:8080 saw none of it
    assert lab.c1.proxies[0].connections == 0
