"""The Kubernetes API objects kube-proxy watches (``core/v1`` Service, ``discovery/v1``
EndpointSlice), as values."""
import attrs

PROTOCOLS = ("TCP", "UDP", "SCTP")
_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
_POLICIES = ("Cluster", "Local")


# -- the API objects kube-proxy watches ------------------------------------------
@attrs.frozen
class ServicePort:
    """One entry of a Service's ``spec.ports``; ``node_port`` 0 means none."""

    port: int
    name: str = ""
    protocol: str = "TCP"
    target_port: int = None
    node_port: int = 0

    def __attrs_post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"spec.ports.protocol: Unsupported value: {self.protocol!r}: supported "
                             f"values: \"SCTP\", \"TCP\", \"UDP\"")
        for what, v in (("port", self.port), ("nodePort", self.node_port or 1)):
            if not 1 <= v <= 65535:
                raise ValueError(f"spec.ports.{what}: Invalid value: {v}: must be between 1 and 65535, "
                                 f"inclusive")


@attrs.frozen
class Service:
    """A ``v1.Service`` as kube-proxy reads it.  ``cluster_ip`` ``"None"`` (headless) or a
    ``type`` ``ExternalName`` service is not proxied (``ShouldSkipService``)."""

    namespace: str
    name: str
    cluster_ip: str
    ports: tuple = attrs.field(converter=tuple)
    type: str = "ClusterIP"
    external_ips: tuple = attrs.field(default=(), converter=tuple)
    load_balancer_ips: tuple = attrs.field(default=(), converter=tuple)     # status.loadBalancer.ingress
    load_balancer_source_ranges: tuple = attrs.field(default=(), converter=tuple)
    external_traffic_policy: str = "Cluster"
    internal_traffic_policy: str = "Cluster"
    health_check_node_port: int = 0
    session_affinity: str = "None"
    session_affinity_timeout: int = 10800

    def __attrs_post_init__(self):
        if self.type not in _SERVICE_TYPES:
            raise ValueError(f"spec.type: Unsupported value: {self.type!r}")
        for what, v in (("externalTrafficPolicy", self.external_traffic_policy),
                        ("internalTrafficPolicy", self.internal_traffic_policy)):
            if v not in _POLICIES:
                raise ValueError(f"spec.{what}: Unsupported value: {v!r}: supported values: \"Cluster\", \"Local\"")
        if self.session_affinity not in ("None", "ClientIP"):
            raise ValueError(f"spec.sessionAffinity: Unsupported value: {self.session_affinity!r}")

    @property
    def skipped(self) -> bool:
        """``ShouldSkipService``: headless and ExternalName services get no rules."""
        return self.cluster_ip in ("", "None") or self.type == "ExternalName"

    @property
    def external_policy_local(self) -> bool:
        """``apiservice.ExternalPolicyLocal``: only NodePort and LoadBalancer services have one."""
        return self.type in ("NodePort", "LoadBalancer") and self.external_traffic_policy == "Local"

    @property
    def internal_policy_local(self) -> bool:
        return self.internal_traffic_policy == "Local"


@attrs.frozen
class EndpointPort:
    """One entry of an EndpointSlice's ``ports``: the port name matches the Service port's."""

    port: int
    name: str = ""
    protocol: str = "TCP"


@attrs.frozen
class Endpoint:
    """One entry of an EndpointSlice's ``endpoints``: an address, the node it runs on and its
    conditions (``serving`` defaults to ``ready``)."""

    ip: str
    node_name: str = None
    ready: bool = True
    serving: bool = None
    terminating: bool = False

    @property
    def is_serving(self) -> bool:
        return self.ready if self.serving is None else self.serving


@attrs.frozen
class EndpointSlice:
    """``discovery/v1.EndpointSlice`` of Service ``namespace/service``."""

    namespace: str
    service: str
    endpoints: tuple = attrs.field(converter=tuple)
    ports: tuple = attrs.field(converter=tuple)


__all__ = ["ServicePort", "Service", "EndpointPort", "Endpoint", "EndpointSlice", "PROTOCOLS"]
