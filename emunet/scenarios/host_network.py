"""``--net=host``: nginx in the host's own namespace, reached over docker0 and over lo.

Timeline (virtual seconds):

* 0.0  ``docker run -d --net=host --name nginx-1 nginx``: nginx binds 0.0.0.0:80 in
  the *host* namespace (no veth, no docker0 port: the container shares the host stack).
* 0.5  ``docker exec c1 curl -s http://172.17.0.1/``: c1 (172.17.0.7, a bridge
  container) ARPs for its gateway, then the three-way handshake, GET, the 238-byte
  header and the 615-byte page, and the close cross docker0 to the host's nginx.
* 1.0  ``curl -s http://127.0.0.1/`` on the host itself: the same exchange over ``lo``
  (MSS 65495, windows 65495 / 65483).
* 1.5  ``docker run -d --net=host --name nginx-2 nginx``: port 80 of the shared
  namespace is taken; nginx retries bind() 5 times, 500 ms apart, and exits 1 at 4.0.
* 4.5  ``docker logs nginx-2``: what it wrote (the docker image logs to stderr).
* 5.0  ``docker exec c1 curl -sS http://172.17.0.1:8080/``: nobody listens on 8080;
  the host's kernel answers the SYN with RST|ACK and curl reports the refusal
  (``-s`` alone would print nothing and still exit 7, as real curl does).

The run stops at 6 s of virtual time: the sockets left in TIME_WAIT (60 s) are not
waited for.
"""
from emunet.apps.base import Process
from emunet.apps.http import Curl, Nginx
from emunet.control.docker import DockerHost
from emunet.scenarios.base import Lab
from emunet.sim import MS


class _Print(Process):
    """A command whose output is known when it starts (``docker run -d`` prints the id)."""

    name = "print"

    def __init__(self, lines_fn, code: int = 0):
        super().__init__()
        self.lines_fn = lines_fn
        self.code = code

    def start(self) -> None:
        for line in self.lines_fn():
            self.print(line)
        self.exit(self.code)


class HostNetwork(Lab):
    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("host-network", seed, capture)
        self.docker = DockerHost(self.sim)
        self.hosts["host"] = self.docker
        self.host_ns = self.docker.ns
        self.c1 = self.docker.run("c1", ip="172.17.0.7")
        self.nginx1 = self.nginx2 = None
        self.curl_c1 = self.curl_host = self.curl_refused = None
        self.duration = 6.0

    def _docker_run_host(self, name: str) -> Nginx:
        c = self.docker.run(name, net="host")
        nginx = Nginx()
        self.spawn(self.host_ns, _Print(lambda: [c.id]),
                   f"docker run -d --net=host --name {name} nginx")
        self.host_ns.spawn(nginx)
        return nginx

    def traffic(self) -> None:
        sim = self.sim

        def nginx1():
            self.nginx1 = self._docker_run_host("nginx-1")

        def curl_c1():
            self.curl_c1 = self.spawn(self.c1.ns, Curl("http://172.17.0.1/"),
                                      "docker exec c1 curl -s http://172.17.0.1/")

        def curl_host():
            self.curl_host = self.spawn(self.host_ns, Curl("http://127.0.0.1/"),
                                        "curl -s http://127.0.0.1/")

        def nginx2():
            self.nginx2 = self._docker_run_host("nginx-2")

        def logs():
            self.spawn(self.host_ns, _Print(lambda: list(self.nginx2.stderr)),
                       "docker logs nginx-2")

        def refused():
            self.curl_refused = self.spawn(
                self.c1.ns, Curl("http://172.17.0.1:8080/", show_error=True),
                "docker exec c1 curl -sS http://172.17.0.1:8080/")

        nginx1()
        sim.after(500 * MS, curl_c1)
        sim.after(1000 * MS, curl_host)
        sim.after(1500 * MS, nginx2)
        sim.after(4500 * MS, logs)
        sim.after(5000 * MS, refused)


def build(seed: int = 1, capture: bool = True) -> HostNetwork:
    return HostNetwork(seed, capture)
