"""The Calico CNI plugin's dataplane work (``cni-plugin/pkg/dataplane/linux``): per pod a
veth pair, ``eth0`` in the pod with a ``/32`` and the routes ``169.254.1.1 dev eth0 scope
link`` and ``default via 169.254.1.1 dev eth0``; the host end named ``cali`` + the first 11
hex digits of SHA-1 of ``<k8s namespace>.<pod>`` with MAC ``ee:ee:ee:ee:ee:ee`` and the
sysctls ``proxy_arp=1``, ``neigh.proxy_delay=0``, ``forwarding=1`` -- so the host answers the
pod's ARP for the fictitious gateway with its own cali MAC -- and the host route ``<pod IP>
dev caliX scope link``.  The veth MTU is the host's less the encapsulation (1500 with none,
1480 with IPIP, 1450 with VXLAN: :meth:`~emunet.control.calico.datastore.IpPool.veth_mtu`).
"""
import hashlib

from emunet.devices.veth import veth_pair
from emunet.stack.namespace import Namespace

#: the MAC Calico gives every host-side veth
HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee"
#: the pods' default gateway: nobody has it, the host answers its ARP by proxy
POD_GATEWAY = "169.254.1.1"


def veth_name(k8s_namespace: str, pod: str, prefix: str = "cali") -> str:
    """``VethNameForWorkload``: the prefix and 11 hex digits of SHA-1 of ``namespace.pod``."""
    return prefix + hashlib.sha1(f"{k8s_namespace}.{pod}".encode()).hexdigest()[:11]


def cni_add(host: Namespace, pod: str, ip: str, mtu: int = 1500, k8s_namespace: str = "default"):
    """The calico CNI plugin's dataplane work for one pod (``cni-plugin/pkg/dataplane/linux``):
    a new namespace ``pod`` with ``eth0`` (a random MAC, ``ip``/32, ``169.254.1.1 dev eth0
    scope link``, ``default via 169.254.1.1 dev eth0``), the host end ``cali…`` in ``host``
    with MAC ee:ee:ee:ee:ee:ee, ``proxy_arp=1``, ``neigh.proxy_delay=0``, ``forwarding=1``,
    and the host route ``ip dev cali… scope link``.  Returns (pod namespace, pod eth0,
    host veth)."""
    sim = host.sim
    host_name = veth_name(k8s_namespace, pod)
    pns = Namespace(sim, pod)
    pns.parent = host
    inside, outside = veth_pair(sim, "eth0", host_name, mtu=mtu, peer_mac=HOST_VETH_MAC)
    # the plugin creates the pair in the host and moves eth0 into the pod: the host numbers both
    inside.ifindex = host.alloc_ifindex()
    host.add_device(outside)
    pns.add_device(inside, ifindex=inside.ifindex)
    inside.set_up()
    pns.addr_add(inside, f"{ip}/32")
    pns.route_add(f"{POD_GATEWAY}/32", dev=inside, scope="link")
    pns.route_add("default", via=POD_GATEWAY, dev=inside)
    # the host side: proxy ARP answered at once, forwarding, then up, then the route
    for key, value in (("net.ipv4.conf.{}.proxy_arp", 1), ("net.ipv4.neigh.{}.proxy_delay", 0),
                       ("net.ipv4.conf.{}.forwarding", 1)):
        host.set_sysctl(key.format(host_name), value)
    outside.set_up()
    host.route_add(f"{ip}/32", dev=outside, scope="link", replace=True)
    return pns, inside, outside


__all__ = ["HOST_VETH_MAC", "POD_GATEWAY", "veth_name", "cni_add"]
