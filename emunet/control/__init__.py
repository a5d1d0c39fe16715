"""Control planes: they configure namespaces the way netlink would (docker, flannel, calico)."""
