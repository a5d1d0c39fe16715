"""BGP-4 on the wire: RFC 4271 messages, capabilities (RFC 5492), 4-octet AS numbers
(RFC 6793), route reflection (RFC 4456), communities (RFC 1997) and ADD-PATH NLRI (RFC 7911).

Two halves, as everywhere in ``emunet.wire``:

* **Parsing** is ``struct`` on bytes (the hot path of a speaker: a 200-node mesh exchanges
  tens of thousands of messages): :mod:`~emunet.wire.bgp.message` (the header, OPEN, UPDATE,
  KEEPALIVE, ROUTE-REFRESH and the stream reader), :mod:`~emunet.wire.bgp.path_attrs` (the
  path attributes of an UPDATE) and :mod:`~emunet.wire.bgp.notification` (the error codes and
  :class:`BgpError`, which carries the NOTIFICATION a bad message earns).
* **Building** (:mod:`~emunet.wire.bgp.build`) uses ``scapy.contrib.bgp`` as the template for
  each message, once per distinct content.

Callers use the package as one namespace: ``from emunet.wire import bgp as W``.
"""
from emunet.wire.bgp.notification import (
    ERR_HEADER, ERR_OPEN, ERR_UPDATE, ERR_HOLD_TIMER, ERR_FSM, ERR_CEASE, ERR_ROUTE_REFRESH,
    ERROR_DESCRIPTIONS, error_description, BgpError, Notification,
)
from emunet.wire.bgp.path_attrs import (
    ORIGIN, AS_PATH, NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR,
    COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST, MP_REACH_NLRI, MP_UNREACH_NLRI, AS4_PATH,
    AS4_AGGREGATOR, ATTR_OPTIONAL, ATTR_TRANSITIVE, ATTR_PARTIAL, ATTR_EXTENDED, ATTR_FLAGS,
    ATTR_LENGTHS, ORIGIN_IGP, ORIGIN_EGP, ORIGIN_INCOMPLETE, AS_SET, AS_SEQUENCE,
    AS_CONFED_SEQUENCE, AS_CONFED_SET, PathAttributes,
)
from emunet.wire.bgp.message import (
    BGP_PORT, BGP_VERSION, HEADER_LEN, MAX_LEN, MARKER, AS_TRANS, OPEN, UPDATE, NOTIFICATION,
    KEEPALIVE, ROUTE_REFRESH, MESSAGE_NAMES, CAP_MULTIPROTOCOL, CAP_ROUTE_REFRESH,
    CAP_EXTENDED_MESSAGE, CAP_GRACEFUL_RESTART, CAP_AS4, CAP_ADD_PATH, CAP_ENHANCED_ROUTE_REFRESH,
    CAP_LLGR, AFI_IPV4, SAFI_UNICAST, ADD_PATH_RX, ADD_PATH_TX, ADD_PATH_FULL, GR_RESTART_FLAG,
    GR_FORWARDING_FLAG, Capability, cap_multiprotocol, cap_route_refresh,
    cap_enhanced_route_refresh, cap_as4, cap_graceful_restart, cap_add_path, Open, Nlri, Update,
    Keepalive, RouteRefresh, check_header, StreamReader, parse,
)
from emunet.wire.bgp.build import (
    scapy_asn_width, keepalive_message, open_message, update_message, notification_message,
    route_refresh_message, build, describe, message_type,
)

__all__ = [
    # NOTIFICATION
    "ERR_HEADER", "ERR_OPEN", "ERR_UPDATE", "ERR_HOLD_TIMER", "ERR_FSM", "ERR_CEASE",
    "ERR_ROUTE_REFRESH", "ERROR_DESCRIPTIONS", "error_description", "BgpError", "Notification",
    # path attributes
    "ORIGIN", "AS_PATH", "NEXT_HOP", "MULTI_EXIT_DISC", "LOCAL_PREF", "ATOMIC_AGGREGATE",
    "AGGREGATOR", "COMMUNITIES", "ORIGINATOR_ID", "CLUSTER_LIST", "MP_REACH_NLRI",
    "MP_UNREACH_NLRI", "AS4_PATH", "AS4_AGGREGATOR", "ATTR_OPTIONAL", "ATTR_TRANSITIVE",
    "ATTR_PARTIAL", "ATTR_EXTENDED", "ATTR_FLAGS", "ATTR_LENGTHS", "ORIGIN_IGP", "ORIGIN_EGP",
    "ORIGIN_INCOMPLETE", "AS_SET", "AS_SEQUENCE", "AS_CONFED_SEQUENCE", "AS_CONFED_SET",
    "PathAttributes",
    # messages
    "BGP_PORT", "BGP_VERSION", "HEADER_LEN", "MAX_LEN", "MARKER", "AS_TRANS", "OPEN", "UPDATE",
    "NOTIFICATION", "KEEPALIVE", "ROUTE_REFRESH", "MESSAGE_NAMES", "CAP_MULTIPROTOCOL",
    "CAP_ROUTE_REFRESH", "CAP_EXTENDED_MESSAGE", "CAP_GRACEFUL_RESTART", "CAP_AS4",
    "CAP_ADD_PATH", "CAP_ENHANCED_ROUTE_REFRESH", "CAP_LLGR", "AFI_IPV4", "SAFI_UNICAST",
    "ADD_PATH_RX", "ADD_PATH_TX", "ADD_PATH_FULL", "GR_RESTART_FLAG", "GR_FORWARDING_FLAG",
    "Capability", "cap_multiprotocol", "cap_route_refresh", "cap_enhanced_route_refresh", "cap_as4",
    "cap_graceful_restart", "cap_add_path", "Open", "Nlri", "Update", "Keepalive",
    "RouteRefresh", "check_header", "StreamReader", "parse",
    # building
    "scapy_asn_width", "keepalive_message", "open_message", "update_message",
    "notification_message", "route_refresh_message", "build", "describe", "message_type",
]
