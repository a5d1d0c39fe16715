"""Netfilter: the hooks of the IPv4 path, iptables' tables, conntrack and NAT."""
from emunet.stack.netfilter.core import Netfilter
from emunet.stack.netfilter.skb import NfPacket

__all__ = ["Netfilter", "NfPacket"]
