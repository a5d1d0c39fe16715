"""IP fragmentation across docker0: c1 pings c2 with 3000 bytes of data.

The docker-bridge host (c1 172.17.0.7, c2 172.17.0.8 on docker0, dockerd's rules loaded):
``ping -c 1 -s 3000`` makes a 3028-byte datagram, longer than eth0's 1500, so c1's stack
cuts it into three fragments (1500, 1500 and 68 bytes: offsets 0, 1480, 2960; MF on the
first two; one IP ID; DF clear, as ping's default ``-M want`` leaves it for a datagram
that does not fit).  Docker's MASQUERADE rule loaded conntrack, so br_netfilter puts the
datagram back together on docker0 before iptables sees it (docker0's capture shows it
whole, 3042 bytes) and sends the pieces on to c2 as they came, once the last is in; c2
reassembles, answers with a 3028-byte echo reply, DF clear, fragmented the same way.
"""
from emunet.apps.ping import Ping
from emunet.scenarios.docker_bridge import DockerBridge


class DockerFragment(DockerBridge):
    name = "docker-fragment"

    def traffic(self) -> None:
        self.ping = self.spawn(self.c1.ns, Ping("172.17.0.8", count=1, size=3000),
                               "docker exec -it c1 ping -c 1 -s 3000 172.17.0.8")


def build(seed: int = 1, capture: bool = True) -> DockerFragment:
    return DockerFragment(seed, capture)
