"""Userspace programs that live in a namespace: ping, UDP echo, nginx and curl, nc."""
from emunet.apps.base import Process
from emunet.apps.http import Curl, Nginx
from emunet.apps.netcat import NcListen, NcSend
from emunet.apps.ping import Ping
from emunet.apps.udp import UdpEchoServer, UdpSender

__all__ = ["Process", "Ping", "UdpEchoServer", "UdpSender", "Nginx", "Curl", "NcListen", "NcSend"]
