"""Userspace programs that live in a namespace: ping, UDP echo, nginx and curl."""
from emunet.apps.base import Process
from emunet.apps.http import Curl, Nginx
from emunet.apps.ping import Ping
from emunet.apps.udp import UdpEchoServer, UdpSender

__all__ = ["Process", "Ping", "UdpEchoServer", "UdpSender", "Nginx", "Curl"]
