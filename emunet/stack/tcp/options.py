"""TCP options: ``tcp_parse_options`` (``net/ipv4/tcp_input.c``) and the layouts
``tcp_options_write`` (``net/ipv4/tcp_output.c``) puts on the wire.

A SYN or SYN-ACK carries ``MSS, SACK_PERM, TS, NOP, WS`` laid out as
``02 04 mss | 04 02 08 0a tsval tsecr | 01 03 03 ws``; any later segment carries
``NOP NOP TS`` and, on an ACK with out-of-order data to report, ``NOP NOP SACK`` blocks.
"""
import struct

from emunet.stack.tcp.constants import TCP_MAX_WSCALE
from emunet.stack.tcp.seq import MASK
from emunet.wire.tcp import (TCP_SYN, TCPOPT_EOL, TCPOPT_MSS, TCPOPT_NOP, TCPOPT_SACK,
                             TCPOPT_SACK_PERM, TCPOPT_TIMESTAMP, TCPOPT_WINDOW, TcpView)



def parse_options(seg: TcpView) -> dict:
    """``tcp_parse_options``: lenient, as the kernel is (a malformed option ends the
    parse; it does not drop the segment)."""
    out = {}
    buf, i, end = seg.buf, seg.off + 20, seg.off + seg.data_offset
    syn = bool(seg.flags & TCP_SYN)
    while i < end:
        kind = buf[i]
        if kind == TCPOPT_EOL:
            break
        if kind == TCPOPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            break
        size = buf[i + 1]
        if size < 2 or i + size > end:
            break  # "don't parse partial options"
        body = bytes(buf[i + 2:i + size])
        if kind == TCPOPT_MSS and size == 4 and syn:
            out["mss"] = struct.unpack("!H", body)[0]
        elif kind == TCPOPT_WINDOW and size == 3 and syn:
            out["wscale"] = min(body[0], TCP_MAX_WSCALE)
        elif kind == TCPOPT_SACK_PERM and size == 2 and syn:
            out["sack_perm"] = True
        elif kind == TCPOPT_TIMESTAMP and size == 10:
            out["ts"] = struct.unpack("!II", body)
        elif kind == TCPOPT_SACK and size >= 10 and (size - 2) % 8 == 0:
            out["sack"] = [struct.unpack_from("!II", body, j) for j in range(0, size - 2, 8)]
        i += size
    return out


def syn_options(mss: int, sack: bool, ts, wscale) -> bytes:
    """The options of a SYN or SYN-ACK in ``tcp_options_write`` order."""
    b = struct.pack("!BBH", TCPOPT_MSS, 4, mss)
    if ts is not None:
        b += bytes((TCPOPT_SACK_PERM, 2, TCPOPT_TIMESTAMP, 10)) if sack else \
            bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10))
        b += struct.pack("!II", ts[0] & MASK, ts[1] & MASK)
    if sack and ts is None:
        b += bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERM, 2))
    if wscale is not None:
        b += bytes((TCPOPT_NOP, TCPOPT_WINDOW, 3, wscale))
    return b


def timestamp_option(tsval: int, tsecr: int) -> bytes:
    """``NOP NOP TS tsval tsecr``: the 12 bytes every segment after the SYN carries."""
    return bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10)) + struct.pack("!II", tsval, tsecr)


def sack_option(blocks: list) -> bytes:
    """``NOP NOP SACK`` with the (start, end) blocks (at most 3 beside a timestamp, 4
    without)."""
    return bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, 2 + 8 * len(blocks))) + \
        b"".join(struct.pack("!II", a, b) for a, b in blocks)
