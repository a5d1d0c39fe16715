"""Kubernetes NetworkPolicy as Calico takes it in, up to the rules Felix renders (Calico
v3.26.4).

* :class:`NetworkPolicy` and its parts are the ``networking.k8s.io/v1`` objects: a
  ``podSelector``, ``policyTypes``, ``ingress`` rules (``from`` peers, ``ports``) and
  ``egress`` rules (``to`` peers, ``ports``); a peer is a ``podSelector`` or an
  ``ipBlock`` (``cidr``, ``except``).  The API server's defaulting is applied when the
  value is made: no ``policyTypes`` means Ingress, plus Egress if there are egress rules;
  a port without a protocol is TCP.
* :func:`k8s_network_policy_to_calico` is ``conversion.K8sNetworkPolicyToCalico``
  (``libcalico-go/lib/backend/k8s/conversion``): the ``projectcalico.org/v3``
  NetworkPolicy ``knp.default.<name>`` at order 1000 that kube-controllers' policy
  controller writes to the datastore: pod selectors become ``projectcalico.org/orchestrator
  == 'k8s' && key == 'value'...``, one Allow rule per protocol and peer.
* :func:`policy_from_resource` is the syncer's ``convertNetworkPolicyV2ToV1`` and
  Felix's rule scanner (``updateprocessors``, ``calc/rule_scanner.go``,
  ``calc/rule_convert.go``): the policy named ``<namespace>/knp.default.<name>``, its
  selector with ``&& projectcalico.org/namespace == '<ns>'``, each rule's selector
  namespaced and parsed (its IP set id), nets normalised, the protocol lowercased.

Not modelled (refused when a policy is made): ``namespaceSelector`` peers (every pod is
in its policy's namespace here), named ports, IPv6 blocks.
"""
import ipaddress

import attrs

from emunet.control.calico.selector import Selector, parse

__all__ = ["LabelSelector", "IPBlock", "NetworkPolicyPeer", "NetworkPolicyPort", "NetworkPolicyRule",
           "NetworkPolicy", "FelixRule", "FelixPolicy", "k8s_network_policy_to_calico",
           "policy_from_resource", "rules_from_resource", "POLICY_ORDER", "K8S_POLICY_PREFIX"]

#: ``conversion.K8sNetworkPolicyNamePrefix`` and the order every converted policy gets
K8S_POLICY_PREFIX = "knp.default."
POLICY_ORDER = 1000.0
LABEL_ORCHESTRATOR = "projectcalico.org/orchestrator"
LABEL_NAMESPACE = "projectcalico.org/namespace"
_PROTOCOLS = ("TCP", "UDP", "SCTP")


def _pairs(mapping) -> tuple:
    return tuple(sorted(dict(mapping or {}).items()))


@attrs.frozen
class LabelSelector:
    """A ``metav1.LabelSelector``: ``match_labels`` (key, value) pairs and
    ``match_expressions`` (key, operator, values) triples.  The empty selector selects
    every pod of the namespace."""

    match_labels: tuple = attrs.field(default=(), converter=_pairs)
    match_expressions: tuple = attrs.field(default=(), converter=lambda x: tuple(
        (k, op, tuple(v)) for k, op, v in (x or ())))

    def __attrs_post_init__(self):
        for key, op, values in self.match_expressions:
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                raise ValueError(f"matchExpressions: operator {op!r} is not one of In, NotIn, Exists, "
                                 f"DoesNotExist (key {key!r})")

    def matches(self, labels: dict) -> bool:
        """Kubernetes' own reading (``labels.Selector.Matches``), for reference."""
        if any(labels.get(k) != v for k, v in self.match_labels):
            return False
        for key, op, values in self.match_expressions:
            ok = {"In": key in labels and labels[key] in values,
                  "NotIn": key not in labels or labels[key] not in values,
                  "Exists": key in labels, "DoesNotExist": key not in labels}[op]
            if not ok:
                return False
        return True

    def to_calico(self, pod: bool = True) -> str:
        """``k8sSelectorToCalico``: the orchestrator term first (pod selectors), the labels
        by sorted key, then the expressions in their order."""
        terms = [f"{LABEL_ORCHESTRATOR} == 'k8s'"] if pod else []
        terms += [f"{k} == '{v}'" for k, v in self.match_labels]
        for key, op, values in self.match_expressions:
            listed = "', '".join(values)
            terms.append({"In": f"{key} in {{ '{listed}' }}", "NotIn": f"{key} not in {{ '{listed}' }}",
                          "Exists": f"has({key})", "DoesNotExist": f"! has({key})"}[op])
        return " && ".join(terms)

    def resource(self) -> dict:
        out = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            out["matchExpressions"] = [{"key": k, "operator": op, **({"values": list(v)} if v else {})}
                                       for k, op, v in self.match_expressions]
        return out


def _network(text: str) -> str:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"ipBlock: invalid CIDR {text!r}") from None
    if net.version != 4:
        raise ValueError(f"ipBlock {text}: IPv6 is not modelled")
    return str(net)


@attrs.frozen
class IPBlock:
    """``ipBlock``: ``cidr`` and the ``except`` CIDRs inside it (as written; Calico
    normalises them to their network)."""

    cidr: str
    except_: tuple = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self):
        outer = ipaddress.ip_network(_network(self.cidr))
        for e in self.except_:
            if not ipaddress.ip_network(_network(e)).subnet_of(outer):
                raise ValueError(f"ipBlock {self.cidr}: except {e} is not inside the cidr")


@attrs.frozen
class NetworkPolicyPeer:
    """A ``from``/``to`` peer: ``pod_selector`` or ``ip_block`` (exactly one)."""

    pod_selector: LabelSelector = None
    ip_block: IPBlock = None
    namespace_selector: LabelSelector = None

    def __attrs_post_init__(self):
        if self.namespace_selector is not None:
            raise ValueError("NetworkPolicyPeer: namespaceSelector is not modelled (every pod is in its "
                             "policy's namespace here)")
        if (self.pod_selector is None) == (self.ip_block is None):
            raise ValueError("NetworkPolicyPeer: give exactly one of podSelector and ipBlock")


@attrs.frozen
class NetworkPolicyPort:
    """``ports[]``: ``protocol`` (TCP, UDP, SCTP; TCP when not given), ``port`` (a number,
    or None for every port) and ``end_port``."""

    protocol: str = "TCP"
    port: int = None
    end_port: int = None

    def __attrs_post_init__(self):
        if self.protocol not in _PROTOCOLS:
            raise ValueError(f"NetworkPolicyPort: protocol {self.protocol!r} is not one of {', '.join(_PROTOCOLS)}")
        if isinstance(self.port, str):
            raise ValueError(f"NetworkPolicyPort: named port {self.port!r} is not modelled")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ValueError(f"NetworkPolicyPort: port {self.port} is not in 1-65535")
        if self.end_port is not None and (self.port is None or not self.port <= self.end_port <= 65535):
            raise ValueError(f"NetworkPolicyPort: endPort {self.end_port} needs a port no larger than it")


@attrs.frozen
class NetworkPolicyRule:
    """An ingress rule (``from`` = ``peers``) or egress rule (``to`` = ``peers``) with its
    ``ports``; empty peers match every peer, empty ports every port."""

    peers: tuple = attrs.field(default=(), converter=tuple)
    ports: tuple = attrs.field(default=(), converter=tuple)


def _default_types(policy) -> tuple:
    types = tuple(policy.policy_types)
    for t in types:
        if t not in ("Ingress", "Egress"):
            raise ValueError(f"NetworkPolicy {policy.name}: policyTypes {t!r} is not Ingress or Egress")
    if types:
        return types
    return ("Ingress", "Egress") if policy.egress else ("Ingress",)


@attrs.frozen
class NetworkPolicy:
    """A ``networking.k8s.io/v1`` NetworkPolicy."""

    name: str
    pod_selector: LabelSelector = attrs.field(factory=LabelSelector)
    ingress: tuple = attrs.field(default=(), converter=tuple)
    egress: tuple = attrs.field(default=(), converter=tuple)
    policy_types: tuple = attrs.field(default=(), converter=tuple)
    namespace: str = "default"

    def __attrs_post_init__(self):
        object.__setattr__(self, "policy_types", _default_types(self))

    def resource(self) -> dict:
        """The object as ``kubectl get -o json`` shows its spec."""
        def peer(p):
            if p.ip_block is not None:
                b = {"cidr": p.ip_block.cidr}
                if p.ip_block.except_:
                    b["except"] = list(p.ip_block.except_)
                return {"ipBlock": b}
            return {"podSelector": p.pod_selector.resource()}

        def port(p):
            out = {"protocol": p.protocol}
            if p.port is not None:
                out["port"] = p.port
            if p.end_port is not None:
                out["endPort"] = p.end_port
            return out

        def rule(r, key):
            out = {}
            if r.peers:
                out[key] = [peer(p) for p in r.peers]
            if r.ports:
                out["ports"] = [port(p) for p in r.ports]
            return out
        spec = {"podSelector": self.pod_selector.resource(), "policyTypes": list(self.policy_types)}
        if self.ingress:
            spec["ingress"] = [rule(r, "from") for r in self.ingress]
        if self.egress:
            spec["egress"] = [rule(r, "to") for r in self.egress]
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}


# -- K8sNetworkPolicyToCalico ---------------------------------------------------------
def _simplify_ports(ports: list) -> list:
    """``SimplifyPorts``: (first, last) ranges covering the ports, merged and sorted."""
    if len(ports) <= 1:
        return ports
    numbers = sorted({n for lo, hi in ports for n in range(lo, hi + 1)})
    out = []
    for n in numbers:
        if out and n <= out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _port_text(lo: int, hi: int):
    return lo if lo == hi else f"{lo}:{hi}"


def _calico_rules(rules, ingress: bool) -> list:
    """``k8sRuleToCalico`` for each rule: one Allow rule per protocol (sorted) and peer."""
    out = []
    for r in rules:
        protocol_ports = {}
        for p in r.ports or (None,):
            if p is None:
                protocol_ports = {"": None}
                break
            ports = None if p.port is None else [(p.port, p.end_port or p.port)]
            if ports is None:
                protocol_ports[p.protocol] = None
            elif protocol_ports.get(p.protocol, []) is not None:
                protocol_ports[p.protocol] = protocol_ports.get(p.protocol, []) + ports
        for proto in sorted(protocol_ports):
            ports = protocol_ports[proto]
            ports = None if ports is None else [_port_text(lo, hi) for lo, hi in _simplify_ports(ports)]
            for peer in r.peers or (None,):
                entity = {}
                if peer is not None and peer.ip_block is not None:
                    entity["nets"] = [_network(peer.ip_block.cidr)]
                    if peer.ip_block.except_:
                        entity["notNets"] = [_network(e) for e in peer.ip_block.except_]
                elif peer is not None:
                    entity["selector"] = peer.pod_selector.to_calico()
                rule = {"action": "Allow"}
                if proto:
                    rule["protocol"] = proto
                if ingress:
                    rule["source"] = entity
                    rule["destination"] = {"ports": ports} if ports else {}
                else:
                    rule["source"] = {}
                    rule["destination"] = {**entity, **({"ports": ports} if ports else {})}
                out.append(rule)
    return out


def k8s_network_policy_to_calico(np: NetworkPolicy) -> dict:
    """The ``projectcalico.org/v3`` NetworkPolicy kube-controllers writes for ``np``."""
    return {"kind": "NetworkPolicy", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": K8S_POLICY_PREFIX + np.name, "namespace": np.namespace},
            "spec": {"order": POLICY_ORDER,
                     "selector": np.pod_selector.to_calico(),
                     "ingress": _calico_rules(np.ingress, True),
                     "egress": _calico_rules(np.egress, False),
                     "types": list(np.policy_types)}}


# -- what Felix makes of it ------------------------------------------------------------
@attrs.frozen
class FelixRule:
    """A rule as Felix's calculation graph hands it to the renderer (``proto.Rule``, the
    fields a Kubernetes policy can set): ``action``, ``protocol`` (lowercase name or
    None), ``src_net``/``not_src_net``/``dst_net``/``not_dst_net`` (normalised CIDRs),
    ``src_ipset_ids``/``dst_ipset_ids`` (selector ids), ``dst_ports`` ((first, last))."""

    action: str = "allow"
    protocol: str = None
    src_net: tuple = ()
    not_src_net: tuple = ()
    dst_net: tuple = ()
    not_dst_net: tuple = ()
    src_ipset_ids: tuple = ()
    dst_ipset_ids: tuple = ()
    dst_ports: tuple = ()


@attrs.frozen
class FelixPolicy:
    """A policy as Felix holds it (``model.Policy`` after the rule scanner): ``name``
    (``<ns>/knp.default.<name>``), ``order``, ``selector`` (parsed), ``types``
    ("ingress"/"egress"), ``inbound``/``outbound`` rules, and ``selectors``: IP set id ->
    the parsed selector its set holds the members of."""

    name: str
    order: float
    selector: Selector
    types: tuple
    inbound: tuple
    outbound: tuple
    selectors: tuple

    def governs(self, direction: str) -> bool:
        return direction in self.types


def _namespaced(selector: str, namespace: str) -> str:
    """``getEndpointSelector`` for a rule of a namespaced policy without a namespace
    selector: ``(<ns selector>) && (<selector>)``, or nothing."""
    if not selector or not namespace:
        return selector
    return f"({LABEL_NAMESPACE} == '{namespace}') && ({selector})"


def _felix_rule(rule: dict, namespace: str, selectors: dict) -> FelixRule:
    src, dst = rule.get("source", {}), rule.get("destination", {})

    def ids(entity):
        text = _namespaced(entity.get("selector", ""), namespace)
        if not text:
            return ()
        sel = parse(text)
        selectors[sel.unique_id] = sel
        return (sel.unique_id,)

    def ports(entity):
        out = []
        for p in entity.get("ports", ()):
            lo, _, hi = str(p).partition(":")
            out.append((int(lo), int(hi or lo)))
        return tuple(out)
    proto = rule.get("protocol")
    return FelixRule(
        action=rule.get("action", "Allow").lower(), protocol=proto.lower() if proto else None,
        src_net=tuple(_network(n) for n in src.get("nets", ())),
        not_src_net=tuple(_network(n) for n in src.get("notNets", ())),
        dst_net=tuple(_network(n) for n in dst.get("nets", ())),
        not_dst_net=tuple(_network(n) for n in dst.get("notNets", ())),
        src_ipset_ids=ids(src), dst_ipset_ids=ids(dst), dst_ports=ports(dst))


def rules_from_resource(rules, namespace: str = "") -> tuple:
    """A profile's (or a policy's) v3 rules as Felix holds them; a profile is not
    namespaced (``namespace`` "")."""
    return tuple(_felix_rule(r, namespace, {}) for r in rules or ())


def policy_from_resource(resource: dict) -> FelixPolicy:
    """``convertNetworkPolicyV2ToV1`` then the rule scanner, for one v3 NetworkPolicy."""
    meta, spec = resource["metadata"], resource["spec"]
    ns = meta["namespace"]
    selector = spec.get("selector", "")
    ns_term = f"{LABEL_NAMESPACE} == '{ns}'"
    selector = f"({selector}) && {ns_term}" if selector else ns_term
    selectors = {}
    inbound = tuple(_felix_rule(r, ns, selectors) for r in spec.get("ingress") or ())
    outbound = tuple(_felix_rule(r, ns, selectors) for r in spec.get("egress") or ())
    return FelixPolicy(name=f"{ns}/{meta['name']}", order=spec.get("order", POLICY_ORDER),
                       selector=parse(selector), types=tuple(t.lower() for t in spec.get("types", ())),
                       inbound=inbound, outbound=outbound, selectors=tuple(sorted(selectors.items())))
