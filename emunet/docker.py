"""``from emunet.docker import DockerHost`` — Docker's single-host model."""
from emunet.control.docker import Container, DockerHost, mac_from_ip

__all__ = ["DockerHost", "Container", "mac_from_ip"]
