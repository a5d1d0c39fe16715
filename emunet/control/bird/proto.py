"""BIRD's protocols as the nest sees them (``nest/protocol.h``, ``nest/proto.c``): the protocol
states, the route preferences, the counters of ``show protocols all``, and
:class:`Protocol`, the protocols that are up as long as BIRD runs (``static1``, ``device1``,
``direct1``; the kernel protocol builds on it).
"""
import attrs

#: protocol states (``PS_*``), as ``show protocols`` prints them
PS_DOWN, PS_START, PS_UP, PS_STOP = "down", "start", "up", "stop"
#: route preferences (``DEF_PREF_*``)
PREF_DIRECT, PREF_STATIC, PREF_BGP, PREF_KERNEL = 240, 200, 100, 10


@attrs.define
class ProtoStats:
    """``struct proto_stats``: the "Route change stats" of ``show protocols all``."""

    imp_updates_received: int = 0
    imp_updates_invalid: int = 0
    imp_updates_filtered: int = 0
    imp_updates_ignored: int = 0
    imp_updates_accepted: int = 0
    imp_withdraws_received: int = 0
    imp_withdraws_invalid: int = 0
    imp_withdraws_ignored: int = 0
    imp_withdraws_accepted: int = 0
    exp_updates_received: int = 0
    exp_updates_rejected: int = 0
    exp_updates_filtered: int = 0
    exp_updates_accepted: int = 0
    exp_withdraws_received: int = 0
    exp_withdraws_accepted: int = 0


class Protocol:
    """``struct proto`` of a protocol with no session of its own: up once BIRD runs."""

    #: ``rte_better`` hook: how two routes of this protocol compare (None: they do not)
    rte_better = None

    def __init__(self, bird, name: str, label: str, kind: str):
        self.bird = bird
        self.name = name
        self.proto_label = label
        self.kind = kind
        self.proto_state = PS_DOWN
        self.last_state_change = 0
        self.is_internal = True
        self.stats = ProtoStats()
        self.main_source = None

    def status(self) -> str:
        return ""


__all__ = ["PS_DOWN", "PS_START", "PS_UP", "PS_STOP", "PREF_DIRECT", "PREF_STATIC", "PREF_BGP",
           "PREF_KERNEL", "ProtoStats", "Protocol"]
