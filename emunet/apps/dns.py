"""A DNS query and a small DNS server (RFC 1035 §4.1): enough of DNS for a datagram to
port 53 that a reader such as Wireshark decodes as what it is."""
import struct

from emunet.apps.base import Process

QTYPE_A = 1
QCLASS_IN = 1
#: header flags: QR (a response), AA (authoritative), RD (recursion desired)
FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_RD = 0x0100
RCODE_NXDOMAIN = 3
_HEADER = struct.Struct("!HHHHHH")


def encode_name(name: str) -> bytes:
    """A domain name as labels (``\\x07example\\x03com\\x00``)."""
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad DNS label {label!r} in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def dns_query(name: str, qid: int, qtype: int = QTYPE_A) -> bytes:
    """A standard query with recursion desired (what ``dig NAME`` sends, without EDNS)."""
    return _HEADER.pack(qid, FLAG_RD, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, QCLASS_IN)


def _question(msg: bytes):
    """(name, qtype, qclass, the question's bytes) of a one-question query, or None."""
    pos = _HEADER.size
    labels = []
    while pos < len(msg):
        n = msg[pos]
        if n == 0:
            break
        if n > 63 or pos + 1 + n > len(msg):    # compression in a question: not expected
            return None
        labels.append(msg[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    else:
        return None
    end = pos + 5
    if end > len(msg):
        return None
    qtype, qclass = struct.unpack_from("!HH", msg, pos + 1)
    return ".".join(labels).lower(), qtype, qclass, msg[_HEADER.size:end]


class DnsServer(Process):
    """An authoritative server for ``records`` (name -> IPv4 address) on UDP ``port``:
    an A/IN query for a name it has gets one answer (TTL ``ttl``, the name as a pointer
    to the question), any other well-formed query NXDOMAIN; both with AA set and the
    query's RD copied.  A datagram that is not a one-question query is ignored
    (``ignored`` counts them)."""

    name = "dns"

    def __init__(self, records: dict, port: int = 53, ttl: int = 300, bind: str = "0.0.0.0"):
        super().__init__()
        self.records = {k.rstrip(".").lower(): v for k, v in records.items()}
        self.port = port
        self.ttl = ttl
        self.bind_ip = bind
        self.sock = None
        self.answered = 0
        self.ignored = 0

    def start(self) -> None:
        self.sock = self.ns.udp.socket()
        self.sock.bind((self.bind_ip, self.port))
        self.sock.on_recv = self._query

    def answer(self, msg: bytes):
        """The response to query ``msg``, or None for what is not a query."""
        if len(msg) < _HEADER.size:
            return None
        qid, flags, qdcount, _, _, _ = _HEADER.unpack_from(msg)
        q = _question(msg) if qdcount == 1 and not flags & FLAG_QR else None
        if q is None:
            return None
        name, qtype, qclass, question = q
        rflags = FLAG_QR | FLAG_AA | (flags & FLAG_RD)
        addr = self.records.get(name)
        if addr is None:
            return _HEADER.pack(qid, rflags | RCODE_NXDOMAIN, 1, 0, 0, 0) + question
        if qtype != QTYPE_A or qclass != QCLASS_IN:
            return _HEADER.pack(qid, rflags, 1, 0, 0, 0) + question
        rr = struct.pack("!HHHIH", 0xC000 | _HEADER.size, QTYPE_A, QCLASS_IN, self.ttl, 4)
        rr += bytes(int(x) for x in addr.split("."))
        return _HEADER.pack(qid, rflags, 1, 1, 0, 0) + question + rr

    def _query(self, data: bytes, addr) -> None:
        reply = self.answer(data)
        if reply is None:
            self.ignored += 1
            return
        self.answered += 1
        self.sock.sendto(reply, addr)

    def on_exit(self) -> None:
        if self.sock is not None:
            self.sock.close()


__all__ = ["DnsServer", "dns_query", "encode_name"]
