"""kube-proxy in iptables mode, Kubernetes v1.29 (``pkg/proxy/iptables/proxier.go``).

What it writes, and how, read from proxier.go as it stood in the 1.29 cycle (the one with
the ``nf_conntrack_tcp_be_liberal`` check that CHANGELOG-1.29 announces, before 1.30's
context-taking constructor and nfacct counters):

* at start, ``ipt.Monitor`` makes the canary chain ``KUBE-PROXY-CANARY`` in the mangle,
  nat and filter tables; every ``--iptables-sync-period`` (30 s) it looks for them, and a
  missing one (someone flushed iptables) forces a full resync;
* on a *full* sync, the jump rules, each made sure of (``iptables -C``) and else
  prepended (``iptables -I``), in ``iptablesJumpChains`` order: INPUT, FORWARD and OUTPUT
  of the filter table to KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS, KUBE-SERVICES,
  KUBE-FORWARD and KUBE-PROXY-FIREWALL, PREROUTING and OUTPUT of nat to KUBE-SERVICES,
  nat POSTROUTING to KUBE-POSTROUTING, and kube-proxy's copy of kubelet's KUBE-FIREWALL
  from INPUT and OUTPUT;
* then one ``iptables-restore --noflush --counters`` of the filter and nat tables (the text
  :func:`sync_proxy_rules` returns): every top-level chain declared (so flushed) and
  refilled, KUBE-MARK-MASQ (``--or-mark``), KUBE-POSTROUTING (``RETURN`` unless marked,
  ``--xor-mark`` to clear the mark, ``MASQUERADE --random-fully``), per service port its
  KUBE-SVC (and KUBE-SVL, KUBE-EXT, KUBE-FW) chain and a KUBE-SEP chain per endpoint, the
  ``-m statistic --mode random --probability`` ladder ``1/n, 1/(n-1), ...`` formatted
  ``%0.10f``, the nodeport tail rule, KUBE-FORWARD, and ``-X`` for the service chains that
  iptables-save still shows but no service uses any more;
* a *partial* sync (any later one, ``MinimizeIPTablesRestore``) leaves out the nat chains
  of the service ports whose Service and endpoints did not change: under ``--noflush``
  they stay as they were.

Chain names are computed as kube-proxy computes them: ``KUBE-SVC-`` (``-SVL-``, ``-EXT-``,
``-FW-``) + the first 16 characters of base32(sha256(``ns/name:port`` + protocol)), and
``KUBE-SEP-`` + the same of ``ns/name:port`` + protocol + ``ip:port``.

The package: :mod:`.api` (the Service and EndpointSlice values), :mod:`.proxier` (the chain
names and the rules ``syncProxyRules`` writes), :mod:`.daemon` (the process).

What this model leaves out, and says so: Go's map order (kube-proxy walks its services
in whatever order Go's map gives; here in the order of their names, so a run is
deterministic); topology-aware hints (no node labels); IPv6; the health-check servers
(their filter ACCEPT rule is written, nobody listens); the UDP conntrack cleanup;
the ``recent`` match of ClientIP affinity is written as kube-proxy writes it, but
emunet's iptables may refuse it.
"""
from emunet.control.kube_proxy.api import Endpoint, EndpointPort, EndpointSlice, Service, ServicePort
from emunet.control.kube_proxy.daemon import KubeProxy
from emunet.control.kube_proxy.proxier import (JUMP_CHAINS, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS,
                                              KUBE_POSTROUTING, KUBE_PROXY_CANARY, KUBE_SERVICES,
                                              ProxierConfig, categorize_endpoints, compute_probability,
                                              endpoint_infos, masquerade_mark, port_proto_hash,
                                              service_port_chain_name, service_port_endpoint_chain_name,
                                              service_port_infos, sync_proxy_rules)

__all__ = ["Service", "ServicePort", "Endpoint", "EndpointPort", "EndpointSlice", "KubeProxy", "ProxierConfig",
           "sync_proxy_rules", "service_port_chain_name", "service_port_endpoint_chain_name", "port_proto_hash",
           "compute_probability", "masquerade_mark", "categorize_endpoints", "JUMP_CHAINS", "KUBE_SERVICES",
           "KUBE_MARK_MASQ", "KUBE_POSTROUTING", "KUBE_NODEPORTS", "KUBE_FORWARD", "KUBE_PROXY_CANARY",
           "endpoint_infos", "service_port_infos"]
