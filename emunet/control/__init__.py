"""Control planes: they configure namespaces the way netlink would (docker, flannel, calico)."""
from emunet.control.bird import Bird, BgpPeer, KernelRoute, StaticRoute

__all__ = ["Bird", "BgpPeer", "KernelRoute", "StaticRoute"]
