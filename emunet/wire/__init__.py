"""Header views over bytes: Ethernet, 802.1Q, ARP, IPv4, ICMP, UDP, TCP, VXLAN.

Modelled on smoltcp's ``wire/`` module: each header is a small *view* over a
buffer (field getters at named offsets, ``check`` that validates lengths and
checksums) plus ``emit`` functions that build the bytes.  Nothing here knows
about devices or namespaces and nothing here calls Scapy on the hot path;
``Frame.packet`` is the one door to Scapy, for people and for tests.
"""
from emunet.wire.errors import Malformed
from emunet.wire.checksum import internet_checksum, ones_sum, pseudo_header_sum
from emunet.wire.frame import Frame, LINKTYPE_ETHERNET, LINKTYPE_RAW, CSUM_NONE, CSUM_IP, CSUM_L4
from emunet.wire.ethernet import (
    EthernetView, ETH_HLEN, ETH_P_IP, ETH_P_ARP, ETH_P_8021Q, ETH_P_8021AD, BROADCAST_MAC, ZERO_MAC,
    ETHERTYPE_IP, ETHERTYPE_ARP, TPID_8021Q, TPID_8021AD, VLAN_TPIDS,
    mac_to_bytes, mac_to_str, is_multicast_mac, eth_random_addr,
)
from emunet.wire.dot1q import Dot1QView
from emunet.wire.arp import ArpView, ARPOP_REQUEST, ARPOP_REPLY
from emunet.wire.ipv4 import (
    Ipv4View, IP_DF, IP_MF, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPIP,
    ip_to_int, int_to_ip,
)
from emunet.wire.icmp import IcmpView
from emunet.wire.udp import UdpView
from emunet.wire.tcp import TcpView, TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK

__all__ = [
    "Malformed", "internet_checksum", "ones_sum", "pseudo_header_sum",
    "Frame", "LINKTYPE_ETHERNET", "LINKTYPE_RAW", "CSUM_NONE", "CSUM_IP", "CSUM_L4",
    "EthernetView", "ETH_HLEN", "ETH_P_IP", "ETH_P_ARP", "ETH_P_8021Q", "ETH_P_8021AD",
    "BROADCAST_MAC", "ZERO_MAC", "ETHERTYPE_IP", "ETHERTYPE_ARP", "TPID_8021Q", "TPID_8021AD",
    "VLAN_TPIDS", "mac_to_bytes", "mac_to_str", "is_multicast_mac", "eth_random_addr",
    "Dot1QView", "ArpView", "ARPOP_REQUEST", "ARPOP_REPLY",
    "Ipv4View", "IP_DF", "IP_MF", "IPPROTO_ICMP", "IPPROTO_TCP", "IPPROTO_UDP",
    "IPPROTO_IPIP", "ip_to_int", "int_to_ip",
    "IcmpView", "UdpView", "TcpView",
    "TCP_FIN", "TCP_SYN", "TCP_RST", "TCP_PSH", "TCP_ACK",
]
from emunet.wire.vxlan import (
    VxlanView, TunnelTemplate, VXLAN_HLEN, VXLAN_FLAG_I, IANA_VXLAN_PORT, LINUX_VXLAN_PORT,
)

__all__ += ["VxlanView", "TunnelTemplate", "VXLAN_HLEN", "VXLAN_FLAG_I", "IANA_VXLAN_PORT",
            "LINUX_VXLAN_PORT"]
from emunet.wire.bgp import BgpError, StreamReader as BgpStreamReader  # noqa: E402

__all__ += ["BgpError", "BgpStreamReader"]
