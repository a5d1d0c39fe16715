"""Userspace programs that live in a namespace: ping, UDP echo, an HTTP server."""
from emunet.apps.base import Process
from emunet.apps.ping import Ping
from emunet.apps.udp import UdpEchoServer, UdpSender

__all__ = ["Process", "Ping", "UdpEchoServer", "UdpSender"]
