"""Topology builders: machines on an underlay (:mod:`~emunet.topology.underlay`), and the
clusters that run a control plane on them -- flannel's (:mod:`~emunet.topology.flannel`) and
Calico's (:mod:`~emunet.topology.calico`).  They sit above the control planes: a builder
starts flanneld, Felix or confd on a machine, no control plane imports a builder.
"""
from emunet.topology.calico import CalicoCluster, CalicoNode, calico_cluster
from emunet.topology.flannel import Cluster, Node, cni_mac, flannel_cluster
from emunet.topology.underlay import Machine, Pod, Segment, Underlay, nic_mac

__all__ = ["Underlay", "Segment", "Machine", "Pod", "nic_mac",
           "Cluster", "Node", "flannel_cluster", "cni_mac",
           "CalicoCluster", "CalicoNode", "calico_cluster"]
