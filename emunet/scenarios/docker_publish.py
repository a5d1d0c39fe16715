"""``docker run -p 8080:80``: a machine outside the host reaches nginx in a container.

The machines of docker-nat (:mod:`emunet.scenarios.docker_nat`); c1 runs nginx with
``-p 8080:80``, for which dockerd appended three rules (nat ``DOCKER ! -i docker0 -p tcp
--dport 8080 -j DNAT --to-destination 172.17.0.7:80``, filter ``DOCKER -d 172.17.0.7/32 !
-i docker0 -o docker0 -p tcp --dport 80 -j ACCEPT`` and the hairpin MASQUERADE in nat
POSTROUTING) and started a ``docker-proxy`` on 0.0.0.0:8080, which this traffic never
meets: the DNAT in PREROUTING sends it to c1 before the host's own sockets are looked up.

Timeline (virtual seconds):

* 0.0  nginx starts in c1 (listening on port 80 of c1's namespace).
* 0.5  ``outside$ curl -s --local-port 45000 http://10.0.0.2:8080/``: outside ARPs for
  10.0.0.2; its SYN to 10.0.0.2:8080 is DNATed to 172.17.0.7:80 at the host's PREROUTING,
  accepted by filter FORWARD's jump to ``DOCKER``, and reaches c1 from 10.0.0.1:45000
  (no source NAT: c1 sees the real client); the host ARPs for c1 on docker0.  c1's
  answers are un-DNATed on their way out: outside sees 10.0.0.2:8080 all along.  GET,
  the 238-byte header and the 615-byte page, and curl's close.
* 2.0  ``iptables -t nat -L -n -v`` and ``conntrack -L`` on the host: the DNAT rule
  counted the SYN alone, the connection in TIME_WAIT with its reply tuple from c1.

The run ends at 10 s, after the neighbour probes.
"""
from emunet.apps.http import Curl, Nginx
from emunet.scenarios.docker_nat import HOST_IP, DockerOutsideLab
from emunet.sim import MS

#: the published port, and curl's fixed source port
HOST_PORT, CONTAINER_PORT, CURL_SPORT = 8080, 80, 45000


class DockerPublish(DockerOutsideLab):
    snapshots = ((2.0, "host", "iptables -t nat -L -n -v"), (2.0, "host", "conntrack -L"))

    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("docker-publish", seed, capture,
                         publish={"c1": [f"{HOST_PORT}:{CONTAINER_PORT}"]})
        self.nginx = self.curl = None

    def traffic(self) -> None:
        super().traffic()
        self.nginx = self.c1.ns.spawn(Nginx(port=CONTAINER_PORT))
        url = f"http://{HOST_IP}:{HOST_PORT}/"
        self.sim.after(500 * MS, lambda: setattr(self, "curl", self.spawn(
            self.outside, Curl(url, local_port=CURL_SPORT),
            f"outside$ curl -s --local-port {CURL_SPORT} {url}")))


def build(seed: int = 1, capture: bool = True) -> DockerPublish:
    return DockerPublish(seed, capture)
