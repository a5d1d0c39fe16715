"""BGP NOTIFICATION: the error codes and subcodes of RFC 4271 section 6, the descriptions BIRD
prints for them, and :class:`BgpError`, the exception a parser raises for input that must be
answered with a NOTIFICATION (BIRD 1.6's ``bgp_error`` and ``bgp_msg_table`` in
``proto/bgp/packets.c``)."""
import attrs

from emunet.wire.errors import Malformed

# NOTIFICATION error codes
ERR_HEADER = 1
ERR_OPEN = 2
ERR_UPDATE = 3
ERR_HOLD_TIMER = 4
ERR_FSM = 5
ERR_CEASE = 6
ERR_ROUTE_REFRESH = 7

#: the descriptions BIRD 1.6 prints (``bgp_msg_table`` in ``packets.c``): what ``birdc show
#: protocols`` says after "Received:" or "BGP Error:"
ERROR_DESCRIPTIONS = {
    (1, 0): "Invalid message header", (1, 1): "Connection not synchronized",
    (1, 2): "Bad message length", (1, 3): "Bad message type",
    (2, 0): "Invalid OPEN message", (2, 1): "Unsupported version number",
    (2, 2): "Bad peer AS", (2, 3): "Bad BGP identifier",
    (2, 4): "Unsupported optional parameter", (2, 5): "Authentication failure",
    (2, 6): "Unacceptable hold time", (2, 7): "Required capability missing",
    (2, 8): "No supported AFI/SAFI",
    (3, 0): "Invalid UPDATE message", (3, 1): "Malformed attribute list",
    (3, 2): "Unrecognized well-known attribute", (3, 3): "Missing mandatory attribute",
    (3, 4): "Invalid attribute flags", (3, 5): "Invalid attribute length",
    (3, 6): "Invalid ORIGIN attribute", (3, 7): "AS routing loop",
    (3, 8): "Invalid NEXT_HOP attribute", (3, 9): "Optional attribute error",
    (3, 10): "Invalid network field", (3, 11): "Malformed AS_PATH",
    (4, 0): "Hold timer expired",
    (5, 0): "Finite state machine error", (5, 1): "Unexpected message in OpenSent state",
    (5, 2): "Unexpected message in OpenConfirm state",
    (5, 3): "Unexpected message in Established state",
    (6, 0): "Cease", (6, 1): "Maximum number of prefixes reached",
    (6, 2): "Administrative shutdown", (6, 3): "Peer de-configured",
    (6, 4): "Administrative reset", (6, 5): "Connection rejected",
    (6, 6): "Other configuration change", (6, 7): "Connection collision resolution",
    (6, 8): "Out of Resources",
    (7, 0): "Invalid ROUTE-REFRESH message", (7, 1): "Invalid ROUTE-REFRESH message length",
}


def error_description(code: int, subcode: int) -> str:
    return ERROR_DESCRIPTIONS.get((code, subcode), f"Unknown error {code}.{subcode}")


class BgpError(Malformed):
    """A message that must be answered with a NOTIFICATION ``code``/``subcode`` (and
    ``data``), after which the session is closed (RFC 4271 section 6).  ``mtype`` is the
    type of the message at fault where the header check already knew it: an error in a
    NOTIFICATION is never answered with one (section 6.4)."""

    def __init__(self, code: int, subcode: int, data: bytes = b"", detail: str = "",
                 mtype: int = None):
        text = f"{code}/{subcode} {error_description(code, subcode)}"
        super().__init__("BGP_ERROR", f"{text}: {detail}" if detail else text)
        self.code = code
        self.subcode = subcode
        self.data = bytes(data)
        self.mtype = mtype


@attrs.frozen
class Notification:
    code: int
    subcode: int = 0
    data: bytes = b""

    @property
    def description(self) -> str:
        return error_description(self.code, self.subcode)
