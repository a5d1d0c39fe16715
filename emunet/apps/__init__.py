"""Userspace programs that live in a namespace: ping, traceroute, tracepath, UDP echo, nginx and curl, nc."""
from emunet.apps.base import Process
from emunet.apps.http import Curl, Nginx
from emunet.apps.netcat import NcListen, NcSend
from emunet.apps.ping import Ping
from emunet.apps.tracepath import Tracepath
from emunet.apps.traceroute import Traceroute
from emunet.apps.udp import UdpEchoServer, UdpSender

__all__ = ["Process", "Ping", "Traceroute", "Tracepath", "UdpEchoServer", "UdpSender", "Nginx", "Curl", "NcListen",
           "NcSend"]
