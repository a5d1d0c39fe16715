"""The seed's stand-alone container network: c1 pings c2 across docker0.

c1 (172.17.0.7, 02:42:ac:11:00:07) and c2 (172.17.0.8, 02:42:ac:11:00:08)
hang off ``docker0`` (172.17.0.1/16) through veth pairs.  c1 does not know
c2's MAC: it broadcasts an ARP request, which the bridge floods (and learns
c1's port from); c2 answers; then the echo request and reply cross the bridge
by FDB hits.
"""
from emunet.apps.ping import Ping
from emunet.control.docker import DockerHost
from emunet.scenarios.base import Lab


class DockerBridge(Lab):
    name = "docker-bridge"

    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__(self.name, seed, capture)
        self.docker = DockerHost(self.sim)
        self.hosts["host"] = self.docker
        self.c1 = self.docker.run("c1", ip="172.17.0.7")
        self.c2 = self.docker.run("c2", ip="172.17.0.8")
        self.duration = 60.0

    def traffic(self) -> None:
        self.ping = self.spawn(self.c1.ns, Ping("172.17.0.8", count=1),
                               "docker exec -it c1 ping -c 1 172.17.0.8")


def build(seed: int = 1, capture: bool = True) -> DockerBridge:
    return DockerBridge(seed, capture)
