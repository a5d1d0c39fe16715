"""Calico (``projectcalico/calico``) as the pieces a node runs, each in the module named after
it: the datastore's resources (:mod:`~emunet.control.calico.datastore`), ``calico-ipam``
(:mod:`~emunet.control.calico.ipam`), the CNI plugin (:mod:`~emunet.control.calico.cni`),
Felix (:mod:`~emunet.control.calico.felix`; its policy rendering in
:mod:`~emunet.control.calico.rules` and :mod:`~emunet.control.calico.dataplane`, Kubernetes
NetworkPolicy in :mod:`~emunet.control.calico.policy`, Calico's selectors in
:mod:`~emunet.control.calico.selector`) and confd with the BIRD configuration it renders
(:mod:`~emunet.control.calico.confd`).  The machines and clusters that run them are built by
:mod:`emunet.topology.calico`.
"""
from emunet.control.calico.cni import HOST_VETH_MAC, POD_GATEWAY, cni_add, veth_name
from emunet.control.calico.confd import (CALICO_BIRD_VERSION, CALICO_PEER, Confd,
                                         calico_export_to_bgp_peers, calico_kernel_programming,
                                         calico_mesh_peer)
from emunet.control.calico.datastore import (DEFAULT_AS, IPAM, RESOURCES, BgpPeerResource, IpPool,
                                             bgp_configuration, selector_matches)
from emunet.control.calico.felix import FELIX_PROTO, VXLAN_DEVICE, VXLAN_VNI, Felix
from emunet.control.calico.ipam import Block, Ipam, block_key
from emunet.control.calico.policy import (IPBlock, LabelSelector, NetworkPolicy, NetworkPolicyPeer,
                                          NetworkPolicyPort, NetworkPolicyRule)

__all__ = ["cni_add", "veth_name", "HOST_VETH_MAC", "POD_GATEWAY",
           "Confd", "CALICO_PEER", "CALICO_BIRD_VERSION", "calico_export_to_bgp_peers",
           "calico_kernel_programming", "calico_mesh_peer",
           "IpPool", "BgpPeerResource", "selector_matches", "bgp_configuration", "DEFAULT_AS",
           "RESOURCES", "IPAM",
           "Felix", "FELIX_PROTO", "VXLAN_DEVICE", "VXLAN_VNI",
           "Ipam", "Block", "block_key",
           "NetworkPolicy", "NetworkPolicyRule", "NetworkPolicyPeer", "NetworkPolicyPort", "LabelSelector",
           "IPBlock"]
