"""Docker on one host: dockerd's default bridge network (:mod:`.bridge`), the iptables
rules it writes (:mod:`.iptables`) and its published ports (:mod:`.portmapper`)."""
from emunet.control.docker.bridge import Container, DockerHost, mac_from_ip
from emunet.control.docker.portmapper import DockerProxy, PortBinding, parse_port_spec

__all__ = ["DockerHost", "Container", "mac_from_ip", "DockerProxy", "PortBinding",
           "parse_port_spec"]
