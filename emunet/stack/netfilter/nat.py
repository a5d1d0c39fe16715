"""NAT (``net/netfilter/nf_nat_core.c``, ``nf_nat_proto.c``, ``nf_nat_masquerade.c``).

A NAT target (DNAT, SNAT, MASQUERADE) binds a *new* connection once, at the first packet
the nat table sees (:func:`nf_nat_setup_info`); every later packet of the connection, both
ways, gets the binding applied without the table being asked again (:func:`nf_nat_packet`).
"""
import attrs

#: ``nf_nat_range2.flags``
NF_NAT_RANGE_MAP_IPS = 1
NF_NAT_RANGE_PROTO_SPECIFIED = 2
NF_NAT_RANGE_PROTO_RANDOM = 4
NF_NAT_RANGE_PERSISTENT = 8
NF_NAT_RANGE_PROTO_RANDOM_FULLY = 16


@attrs.frozen
class NatRange:
    """``struct nf_nat_range2``: the addresses (integers, inclusive) and ports a NAT
    target maps to; ``min_ip`` None keeps the address (``--to-ports`` alone, or
    MASQUERADE, which takes the outgoing device's address), ``min_port`` None keeps the
    port (unless it clashes with another connection's)."""

    min_ip: int = None
    max_ip: int = None
    min_port: int = None
    max_port: int = None
    flags: int = 0
