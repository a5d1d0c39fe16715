"""TCP sequence-number arithmetic: ``before``/``after`` of ``include/net/tcp.h``, the
acceptability test of ``tcp_sequence`` (``net/ipv4/tcp_input.c``), and the kernel's
integer helpers the window and timer code use (``ilog2``, ``ALIGN``).

Sequence numbers are 32-bit and wrap: ``a`` is before ``b`` when ``b - a`` taken modulo
2**32 is less than half the space, as RFC 9293 section 3.4 defines it.
"""
MASK = 0xFFFFFFFF


def before(a: int, b: int) -> bool:
    """``before(a, b)``: a comes before b in sequence space."""
    return ((a - b) & MASK) >= 0x80000000


def after(a: int, b: int) -> bool:
    """``after(a, b)``: a comes after b in sequence space."""
    return ((b - a) & MASK) >= 0x80000000


def dist(a: int, b: int) -> int:
    """``a - b`` in sequence space (a at or after b)."""
    return (a - b) & MASK


def in_window(seq: int, start: int, size: int) -> bool:
    """``seq`` lies in ``[start, start + size)`` (an empty window still holds ``start``)."""
    return not before(seq, start) and before(seq, (start + max(size, 1)) & MASK)


def tcp_in_window(seq: int, end_seq: int, s_win: int, e_win: int) -> bool:
    """``tcp_in_window`` (``tcp_minisocks.c``): the segment ``[seq, end_seq)`` touches the
    window ``[s_win, e_win]`` (a time-wait or request socket's test)."""
    if seq == s_win:
        return True
    if after(end_seq, s_win) and before(seq, e_win):
        return True
    return seq == e_win and seq == end_seq


def acceptable(seq: int, seglen: int, rcv_nxt: int, rwnd: int) -> bool:
    """``tcp_sequence``: RFC 9293's four cases, with Linux's leniency for data that ends
    in the window."""
    if seglen == 0:
        if rwnd == 0:
            return seq == rcv_nxt
        return in_window(seq, rcv_nxt, rwnd) or seq == rcv_nxt
    if rwnd == 0:
        return False
    end = (seq + seglen - 1) & MASK
    return in_window(seq, rcv_nxt, rwnd) or in_window(end, rcv_nxt, rwnd) or \
        (before(seq, rcv_nxt) and after(end, rcv_nxt))


def ilog2(n: int) -> int:
    """``ilog2``: the position of the highest set bit."""
    return n.bit_length() - 1


def align(n: int, unit: int) -> int:
    """``ALIGN``: ``n`` rounded up to a multiple of ``unit``."""
    return -(-n // unit) * unit
