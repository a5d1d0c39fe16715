"""``jhash2`` (``include/linux/jhash.h``): Bob Jenkins' lookup3 hash over 32-bit words,
as the kernel uses it for flow hashes (a VXLAN source port), NAT's address choice and
ipset's buckets."""

_M32 = 0xFFFFFFFF
JHASH_INITVAL = 0xDEADBEEF


def _rol32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def jhash2(words, initval: int) -> int:
    """``jhash2(k, length, initval)`` from ``include/linux/jhash.h`` (Bob Jenkins' lookup3)."""
    length = len(words)
    a = b = c = (JHASH_INITVAL + (length << 2) + initval) & _M32
    i = 0
    while length > 3:
        a = (a + words[i]) & _M32
        b = (b + words[i + 1]) & _M32
        c = (c + words[i + 2]) & _M32
        # __jhash_mix
        a = (a - c) & _M32; a ^= _rol32(c, 4);  c = (c + b) & _M32
        b = (b - a) & _M32; b ^= _rol32(a, 6);  a = (a + c) & _M32
        c = (c - b) & _M32; c ^= _rol32(b, 8);  b = (b + a) & _M32
        a = (a - c) & _M32; a ^= _rol32(c, 16); c = (c + b) & _M32
        b = (b - a) & _M32; b ^= _rol32(a, 19); a = (a + c) & _M32
        c = (c - b) & _M32; c ^= _rol32(b, 4);  b = (b + a) & _M32
        length -= 3
        i += 3
    if length == 0:
        return c
    if length == 3:
        c = (c + words[i + 2]) & _M32
    if length >= 2:
        b = (b + words[i + 1]) & _M32
    a = (a + words[i]) & _M32
    # __jhash_final
    c ^= b; c = (c - _rol32(b, 14)) & _M32
    a ^= c; a = (a - _rol32(c, 11)) & _M32
    b ^= a; b = (b - _rol32(a, 25)) & _M32
    c ^= b; c = (c - _rol32(b, 16)) & _M32
    a ^= c; a = (a - _rol32(c, 4)) & _M32
    b ^= a; b = (b - _rol32(a, 14)) & _M32
    c ^= b; c = (c - _rol32(b, 24)) & _M32
    return c


__all__ = ["jhash2", "JHASH_INITVAL"]
