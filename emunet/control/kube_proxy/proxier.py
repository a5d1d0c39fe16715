"""What kube-proxy's iptables proxier computes from Services and EndpointSlices
(``pkg/proxy/iptables/proxier.go``'s ``syncProxyRules``): the chain names, the
``iptables-restore`` text of the filter and nat tables."""
import base64
import hashlib
import ipaddress

import attrs

from emunet.control.kube_proxy.api import Service

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY"
KUBELET_FIREWALL = "KUBE-FIREWALL"
#: ``largeClusterEndpointsThreshold``: above this many endpoints, comments are left out
LARGE_CLUSTER_ENDPOINTS = 1000

SVC_PREFIX = "KUBE-SVC-"
SVL_PREFIX = "KUBE-SVL-"
FW_PREFIX = "KUBE-FW-"
EXT_PREFIX = "KUBE-EXT-"
SEP_PREFIX = "KUBE-SEP-"
_SERVICE_CHAIN_PREFIXES = (SVC_PREFIX, SVL_PREFIX, SEP_PREFIX, FW_PREFIX, EXT_PREFIX)

_NEW = ("-m", "conntrack", "--ctstate", "NEW")
#: ``iptablesJumpChains`` then ``iptablesKubeletJumpChains``: (table, chain jumped to,
#: chain jumped from, comment, the arguments before the comment)
JUMP_CHAINS = (
    ("filter", KUBE_EXTERNAL_SERVICES, "INPUT", "kubernetes externally-visible service portals", _NEW),
    ("filter", KUBE_EXTERNAL_SERVICES, "FORWARD", "kubernetes externally-visible service portals", _NEW),
    ("filter", KUBE_NODEPORTS, "INPUT", "kubernetes health check service ports", ()),
    ("filter", KUBE_SERVICES, "FORWARD", "kubernetes service portals", _NEW),
    ("filter", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", _NEW),
    ("filter", KUBE_FORWARD, "FORWARD", "kubernetes forwarding rules", ()),
    ("filter", KUBE_PROXY_FIREWALL, "INPUT", "kubernetes load balancer firewall", _NEW),
    ("filter", KUBE_PROXY_FIREWALL, "OUTPUT", "kubernetes load balancer firewall", _NEW),
    ("filter", KUBE_PROXY_FIREWALL, "FORWARD", "kubernetes load balancer firewall", _NEW),
    ("nat", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", ()),
    ("nat", KUBE_SERVICES, "PREROUTING", "kubernetes service portals", ()),
    ("nat", KUBE_POSTROUTING, "POSTROUTING", "kubernetes postrouting rules", ()),
    ("filter", KUBELET_FIREWALL, "INPUT", "", ()),
    ("filter", KUBELET_FIREWALL, "OUTPUT", "", ()),
)
#: the tables ``ipt.Monitor`` keeps a canary chain in
CANARY_TABLES = ("mangle", "nat", "filter")


# -- what kube-proxy computes from them ------------------------------------------
def port_proto_hash(service_port_name: str, protocol: str) -> str:
    """``portProtoHash``: base32(sha256(name + protocol)), first 16 characters."""
    digest = hashlib.sha256((service_port_name + protocol).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def service_port_chain_name(service_port_name: str, protocol: str) -> str:
    """``servicePortPolicyClusterChain``: ``KUBE-SVC-`` + :func:`port_proto_hash`."""
    return SVC_PREFIX + port_proto_hash(service_port_name, protocol)


def service_port_endpoint_chain_name(service_port_name: str, protocol: str, endpoint: str) -> str:
    """``servicePortEndpointChainName``: ``KUBE-SEP-`` + base32(sha256(name + protocol +
    ``ip:port``)), first 16 characters."""
    digest = hashlib.sha256((service_port_name + protocol + endpoint).encode()).digest()
    return SEP_PREFIX + base64.b32encode(digest).decode()[:16]


def is_service_chain_name(chain: str) -> bool:
    return chain.startswith(_SERVICE_CHAIN_PREFIXES)


def compute_probability(n: int) -> str:
    """``computeProbability``: ``fmt.Sprintf("%0.10f", 1.0/float64(n))``."""
    return f"{1.0 / n:0.10f}"


def masquerade_mark(bit: int) -> str:
    """The mark ``--masquerade-bit`` gives: Go's ``%#08x`` pads the digits to 8 before the
    ``0x`` (bit 14 is ``0x00004000``)."""
    if not 0 <= bit <= 31:
        raise ValueError(f"--iptables-masquerade-bit: {bit}: must be in the range [0, 31]")
    return f"0x{1 << bit:08x}"


@attrs.frozen
class EndpointInfo:
    """``endpointInfo``: one address:port of a service port, and its SEP chain."""

    ip: str
    port: int
    is_local: bool
    ready: bool
    serving: bool
    terminating: bool
    chain_name: str

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@attrs.frozen
class ServicePortInfo:
    """``servicePortInfo``: one port of one Service, with its chain names."""

    namespace: str
    service: str
    port_name: str
    protocol: str           # "TCP"
    cluster_ip: str
    port: int
    node_port: int
    external_ips: tuple
    load_balancer_vips: tuple
    load_balancer_source_ranges: tuple
    external_policy_local: bool
    internal_policy_local: bool
    health_check_node_port: int
    session_affinity: str
    sticky_max_age: int

    @property
    def name_string(self) -> str:
        """``ServicePortName.String()``: ``ns/name`` and ``:port`` when the port has a name."""
        return f"{self.namespace}/{self.service}" + (f":{self.port_name}" if self.port_name else "")

    @property
    def proto(self) -> str:
        return self.protocol.lower()

    def _chain(self, prefix: str) -> str:
        return prefix + port_proto_hash(self.name_string, self.proto)

    cluster_policy_chain = property(lambda self: self._chain(SVC_PREFIX))
    local_policy_chain = property(lambda self: self._chain(SVL_PREFIX))
    firewall_chain = property(lambda self: self._chain(FW_PREFIX))
    external_chain = property(lambda self: self._chain(EXT_PREFIX))

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.load_balancer_vips or self.external_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (self.external_policy_local and self.externally_accessible)


def service_port_infos(svc: Service) -> list:
    """``newServiceInfo`` for every port of ``svc`` (none for a skipped service)."""
    if svc.skipped:
        return []
    ranges = tuple(str(ipaddress.IPv4Network(r.strip(), strict=False)) for r in svc.load_balancer_source_ranges)
    hc = svc.health_check_node_port if svc.type == "LoadBalancer" and svc.external_policy_local else 0
    return [ServicePortInfo(svc.namespace, svc.name, p.name, p.protocol, svc.cluster_ip, p.port, p.node_port,
                            svc.external_ips, svc.load_balancer_ips, ranges, svc.external_policy_local,
                            svc.internal_policy_local, hc, svc.session_affinity,
                            svc.session_affinity_timeout)
            for p in svc.ports]


def endpoint_infos(spi: ServicePortInfo, slices, hostname: str) -> list:
    """The endpoints of one service port (``EndpointSliceCache``): every address of the
    slices whose port carries the service port's name and protocol, sorted as the cache
    sorts them (by ``ip:port`` as a string)."""
    seen = {}
    for sl in slices:
        for ep_port in sl.ports:
            if ep_port.name != spi.port_name or ep_port.protocol != spi.protocol:
                continue
            for ep in sl.endpoints:
                key = f"{ep.ip}:{ep_port.port}"
                seen[key] = EndpointInfo(
                    ep.ip, ep_port.port, ep.node_name is not None and ep.node_name == hostname, ep.ready,
                    ep.is_serving, ep.terminating,
                    service_port_endpoint_chain_name(spi.name_string, spi.proto, key))
    return [seen[k] for k in sorted(seen)]


def categorize_endpoints(endpoints: list, spi: ServicePortInfo):
    """``proxy.CategorizeEndpoints`` (without topology hints): (cluster endpoints, local
    endpoints, all endpoints reachable from this node, whether any endpoint is usable
    anywhere)."""
    cluster, local, has_any = [], [], False
    if spi.uses_cluster_endpoints:
        cluster = [e for e in endpoints if e.ready]
        if not cluster:
            cluster = [e for e in endpoints if e.serving and e.terminating]
        has_any = bool(cluster)
    if not spi.uses_local_endpoints:
        return cluster, local, cluster, has_any
    local_ready = local_terminating = False
    for e in endpoints:
        if e.ready:
            has_any = True
            local_ready = local_ready or e.is_local
        elif e.serving and e.terminating:
            has_any = True
            local_terminating = local_terminating or e.is_local
    serving_terminating = False
    if local_ready:
        local = [e for e in endpoints if e.is_local and e.ready]
    elif local_terminating:
        serving_terminating = True
        local = [e for e in endpoints if e.is_local and e.serving and e.terminating]
    if not spi.uses_cluster_endpoints:
        return cluster, local, local, has_any
    if not serving_terminating:
        # cluster holds every ready endpoint, so every local one too
        return cluster, local, cluster, has_any
    merged = {str(e): e for e in cluster}
    merged.update((str(e), e) for e in local)
    return cluster, local, [merged[k] for k in sorted(merged)], has_any


@attrs.frozen
class ProxierConfig:
    """What the command line and the node give the proxier: ``--masquerade-all``,
    ``masquerade_mark`` (from ``--iptables-masquerade-bit``), ``cluster_cidr`` (the
    ``LocalTrafficDetector`` by CIDR; None: not implemented), ``hostname`` (endpoints on
    this node are local), ``node_ip``, ``localhost_nodeports``, ``node_port_ips``
    (the addresses ``--nodeport-addresses`` selects; empty: all, ``--dst-type LOCAL``),
    ``random_fully`` (iptables has ``--random-fully``), ``tcp_be_liberal``
    (``nf_conntrack_tcp_be_liberal`` is set: no INVALID drop)."""

    hostname: str
    node_ip: str
    cluster_cidr: str = None
    masquerade_all: bool = False
    masquerade_mark: str = masquerade_mark(14)
    localhost_nodeports: bool = True
    node_port_ips: tuple = ()
    random_fully: bool = True
    tcp_be_liberal: bool = False


def _q(text: str) -> str:
    return f'"{text}"'


def sync_proxy_rules(cfg: ProxierConfig, services, slices, existing_nat_chains=(), changed=None,
                     large_cluster: bool = None) -> tuple:
    """``syncProxyRules``: the ``iptables-restore`` text for the filter and nat tables.

    ``services``: the Services; ``slices``: the EndpointSlices; ``existing_nat_chains``:
    the nat chains ``iptables-save`` shows now (service chains among them that no service
    uses any more get ``-X``); ``changed``: None for a full sync, else the set of
    ``(namespace, name)`` whose Service or endpoints changed since the last sync (a partial
    sync: the nat chains of the others are left out).  Returns (text, the nat chains the
    rules use)."""
    filter_chains, filter_rules, nat_chains, nat_rules = [], [], [], []
    mark = cfg.masquerade_mark
    for c in (KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL):
        filter_chains.append(f":{c} - [0:0]")
    for c in (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ):
        nat_chains.append(f":{c} - [0:0]")
    nat_rules.append(f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN")
    nat_rules.append(f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}")
    nat_rules.append(f"-A {KUBE_POSTROUTING} -m comment --comment "
                     f"{_q('kubernetes service traffic requiring SNAT')} -j MASQUERADE"
                     + (" --random-fully" if cfg.random_fully else ""))
    nat_rules.append(f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}")
    if cfg.localhost_nodeports:
        filter_chains.append(f":{KUBELET_FIREWALL} - [0:0]")
        filter_rules.append(f"-A {KUBELET_FIREWALL} -m comment --comment {_q('block incoming localnet connections')} "
                            f"-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT "
                            f"-j DROP")

    ports = sorted((spi for svc in services for spi in service_port_infos(svc)),
                   key=lambda s: (s.name_string, s.protocol))
    by_service = {}
    for sl in slices:
        by_service.setdefault((sl.namespace, sl.service), []).append(sl)
    eps = {spi: endpoint_infos(spi, by_service.get((spi.namespace, spi.service), ()), cfg.hostname)
           for spi in ports}
    if large_cluster is None:
        large_cluster = sum(len(v) for v in eps.values()) > LARGE_CLUSTER_ENDPOINTS
    active = set()
    local_detect = cfg.cluster_cidr is not None

    def comment(text: str) -> str:
        return "" if large_cluster else f" -m comment --comment {text}"

    for spi in ports:
        name, proto = spi.name_string, spi.proto
        cluster_eps, local_eps, reachable, has_endpoints = categorize_endpoints(eps[spi], spi)
        svc_chain, svl_chain = spi.cluster_policy_chain, spi.local_policy_chain
        uses_cluster_chain = bool(cluster_eps) and spi.uses_cluster_endpoints
        uses_local_chain = bool(local_eps) and spi.uses_local_endpoints
        internal_chain, has_internal = svc_chain, has_endpoints
        if spi.internal_policy_local:
            internal_chain = svl_chain
            has_internal = has_internal and bool(local_eps)
        external_policy_chain, has_external = svc_chain, has_endpoints
        if spi.external_policy_local:
            external_policy_chain = svl_chain
            has_external = has_external and bool(local_eps)
        ext_chain = spi.external_chain
        uses_ext_chain = has_endpoints and spi.externally_accessible
        lb_chain = ext_chain
        uses_fw_chain = has_endpoints and bool(spi.load_balancer_vips) and bool(spi.load_balancer_source_ranges)
        if uses_fw_chain:
            lb_chain = spi.firewall_chain
        int_target = int_comment = ext_target = ext_comment = ""
        if not has_endpoints:
            int_target = ext_target = "REJECT"
            int_comment = ext_comment = _q(f"{name} has no endpoints")
        else:
            if not has_internal:
                int_target, int_comment = "DROP", _q(f"{name} has no local endpoints")
            if not has_external:
                ext_target, ext_comment = "DROP", _q(f"{name} has no local endpoints")
        dport = f"-m {proto} -p {proto}"

        # capture the cluster IP
        if has_internal:
            nat_rules.append(f"-A {KUBE_SERVICES} -m comment --comment {_q(name + ' cluster IP')} {dport} "
                             f"-d {spi.cluster_ip} --dport {spi.port} -j {internal_chain}")
        else:
            filter_rules.append(f"-A {KUBE_SERVICES} -m comment --comment {int_comment} {dport} "
                                f"-d {spi.cluster_ip} --dport {spi.port} -j {int_target}")
        for ip in spi.external_ips:
            if has_endpoints:
                nat_rules.append(f"-A {KUBE_SERVICES} -m comment --comment {_q(name + ' external IP')} {dport} "
                                 f"-d {ip} --dport {spi.port} -j {ext_chain}")
            if not has_external:
                filter_rules.append(f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {ext_comment} {dport} "
                                    f"-d {ip} --dport {spi.port} -j {ext_target}")
        for ip in spi.load_balancer_vips:
            if has_endpoints:
                nat_rules.append(f"-A {KUBE_SERVICES} -m comment --comment {_q(name + ' loadbalancer IP')} "
                                 f"{dport} -d {ip} --dport {spi.port} -j {lb_chain}")
            if uses_fw_chain:
                filter_rules.append(f"-A {KUBE_PROXY_FIREWALL} -m comment --comment "
                                    f"{_q(f'{name} traffic not accepted by {spi.firewall_chain}')} {dport} "
                                    f"-d {ip} --dport {spi.port} -j DROP")
        if not has_external:
            for ip in spi.load_balancer_vips:
                filter_rules.append(f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {ext_comment} {dport} "
                                    f"-d {ip} --dport {spi.port} -j {ext_target}")
        if spi.node_port:
            if has_endpoints:
                nat_rules.append(f"-A {KUBE_NODEPORTS} -m comment --comment {name} {dport} "
                                 f"--dport {spi.node_port} -j {ext_chain}")
            if not has_external:
                filter_rules.append(f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {ext_comment} "
                                    f"-m addrtype --dst-type LOCAL {dport} --dport {spi.node_port} -j {ext_target}")
        if spi.health_check_node_port:
            filter_rules.append(f"-A {KUBE_NODEPORTS} -m comment --comment {_q(name + ' health check node port')} "
                                f"-m tcp -p tcp --dport {spi.health_check_node_port} -j ACCEPT")

        # the service's own chains: left out of a partial sync when nothing of it changed
        skip = changed is not None and (spi.namespace, spi.service) not in changed
        chains, rules = ([], []) if skip else (nat_chains, nat_rules)

        if has_internal:
            match = (f"-m comment --comment {_q(name + ' cluster IP')} {dport} -d {spi.cluster_ip} "
                     f"--dport {spi.port}")
            if cfg.masquerade_all:
                rules.append(f"-A {internal_chain} {match} -j {KUBE_MARK_MASQ}")
            elif local_detect:
                # off-cluster traffic to a service VIP (a static route to any node) is masqueraded
                rules.append(f"-A {internal_chain} {match} ! -s {cfg.cluster_cidr} -j {KUBE_MARK_MASQ}")
        if uses_ext_chain:
            chains.append(f":{ext_chain} - [0:0]")
            active.add(ext_chain)
            if not spi.external_policy_local:
                rules.append(f"-A {ext_chain} -m comment --comment "
                             f"{_q(f'masquerade traffic for {name} external destinations')} -j {KUBE_MARK_MASQ}")
            else:
                if local_detect:
                    rules.append(f"-A {ext_chain} -m comment --comment "
                                 f"{_q(f'pod traffic for {name} external destinations')} "
                                 f"-s {cfg.cluster_cidr} -j {svc_chain}")
                rules.append(f"-A {ext_chain} -m comment --comment "
                             f"{_q(f'masquerade LOCAL traffic for {name} external destinations')} "
                             f"-m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}")
                rules.append(f"-A {ext_chain} -m comment --comment "
                             f"{_q(f'route LOCAL traffic for {name} external destinations')} "
                             f"-m addrtype --src-type LOCAL -j {svc_chain}")
            if has_external:
                rules.append(f"-A {ext_chain} -j {external_policy_chain}")
        if uses_fw_chain:
            fw = spi.firewall_chain
            chains.append(f":{fw} - [0:0]")
            active.add(fw)
            head = f"-A {fw} -m comment --comment {_q(name + ' loadbalancer IP')}"
            allow_from_node = False
            for cidr in spi.load_balancer_source_ranges:
                rules.append(f"{head} -s {cidr} -j {ext_chain}")
                if ipaddress.IPv4Address(cfg.node_ip) in ipaddress.IPv4Network(cidr):
                    allow_from_node = True
            if allow_from_node:
                # a node's request to a VIP the node holds loops back with the VIP as source
                for ip in spi.load_balancer_vips:
                    rules.append(f"{head} -s {ip} -j {ext_chain}")
            rules.append(f"-A {fw} -m comment --comment "
                         f"{_q(f'other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL')}")
        if uses_cluster_chain:
            chains.append(f":{svc_chain} - [0:0]")
            active.add(svc_chain)
            rules.extend(_service_to_endpoint_rules(spi, svc_chain, cluster_eps, comment))
        if uses_local_chain:
            chains.append(f":{svl_chain} - [0:0]")
            active.add(svl_chain)
            rules.extend(_service_to_endpoint_rules(spi, svl_chain, local_eps, comment))
        for ep in reachable:
            sep = ep.chain_name
            chains.append(f":{sep} - [0:0]")
            active.add(sep)
            head = f"-A {sep}" + comment(name)
            # traffic that loops back to the pod that sent it is masqueraded (hairpin)
            rules.append(f"{head} -s {ep.ip} -j {KUBE_MARK_MASQ}")
            recent = f" -m recent --name {sep} --set" if spi.session_affinity == "ClientIP" else ""
            rules.append(f"{head}{recent} {dport} -j DNAT --to-destination {ep}")

    for chain in sorted(set(existing_nat_chains) - active):
        if is_service_chain_name(chain):
            nat_chains.append(f":{chain} - [0:0]")
            nat_rules.append(f"-X {chain}")

    nodeports = f"-m comment --comment {_q('kubernetes service nodeports; NOTE: this must be the last rule in this chain')}"
    if not cfg.node_port_ips:
        nat_rules.append(f"-A {KUBE_SERVICES} {nodeports} -m addrtype --dst-type LOCAL"
                         + ("" if cfg.localhost_nodeports else " ! -d 127.0.0.0/8") + f" -j {KUBE_NODEPORTS}")
    else:
        for ip in cfg.node_port_ips:
            if ipaddress.IPv4Address(ip).is_loopback and not cfg.localhost_nodeports:
                continue
            nat_rules.append(f"-A {KUBE_SERVICES} {nodeports} -d {ip} -j {KUBE_NODEPORTS}")

    if not cfg.tcp_be_liberal:
        filter_rules.append(f"-A {KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP")
    filter_rules.append(f"-A {KUBE_FORWARD} -m comment --comment {_q('kubernetes forwarding rules')} "
                        f"-m mark --mark {mark}/{mark} -j ACCEPT")
    filter_rules.append(f"-A {KUBE_FORWARD} -m comment --comment {_q('kubernetes forwarding conntrack rule')} "
                        f"-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")

    lines = ["*filter", *filter_chains, *filter_rules, "COMMIT", "*nat", *nat_chains, *nat_rules, "COMMIT"]
    return "\n".join(lines) + "\n", active


def _service_to_endpoint_rules(spi: ServicePortInfo, chain: str, endpoints: list, comment) -> list:
    """``writeServiceToEndpointRules``: the affinity rules, then one rule per endpoint, every
    one but the last taken with probability 1/(the endpoints left)."""
    rules = []
    if spi.session_affinity == "ClientIP":
        for ep in endpoints:
            rules.append(f"-A {chain}" + comment(_q(f"{spi.name_string} -> {ep}"))
                         + f" -m recent --name {ep.chain_name} --rcheck --seconds {spi.sticky_max_age} --reap"
                         + f" -j {ep.chain_name}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        rule = f"-A {chain}" + comment(_q(f"{spi.name_string} -> {ep}"))
        if i < n - 1:
            rule += f" -m statistic --mode random --probability {compute_probability(n - i)}"
        rules.append(f"{rule} -j {ep.chain_name}")
    return rules


def nat_chains_of(save_text: str) -> set:
    """``GetChainsFromTable``: the chains ``iptables-save`` declares in its nat table."""
    chains, table = set(), None
    for line in save_text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":") and table == "nat":
            chains.add(line[1:].split(None, 1)[0])
    return chains


__all__ = ["ProxierConfig", "sync_proxy_rules", "service_port_chain_name",
           "service_port_endpoint_chain_name", "port_proto_hash", "compute_probability",
           "masquerade_mark", "categorize_endpoints", "service_port_infos", "endpoint_infos",
           "nat_chains_of", "JUMP_CHAINS", "CANARY_TABLES", "KUBE_SERVICES", "KUBE_MARK_MASQ",
           "KUBE_POSTROUTING", "KUBE_NODEPORTS", "KUBE_FORWARD", "KUBE_PROXY_CANARY"]
