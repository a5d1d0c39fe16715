"""IP sets (``net/netfilter/ipset``) and the ``ipset`` command (ipset 7.17, protocol 7).

A set is one of the hash types Calico's Felix programs: ``hash:ip`` and ``hash:net`` (a
selector's members, Felix's ``cali40s:...`` sets) and ``hash:ip,port`` (a named port's
members).  The storage is the kernel's (``ip_set_hash_gen.h``): ``2^htable_bits`` buckets
indexed by ``jhash2`` of the element's bytes with the set's ``initval``, each bucket an array
that starts with room for ``AHASH_INIT_SIZE`` elements and grows by as many up to
``bucketsize``, after which the table doubles.  So ``ipset list`` prints the members in the
kernel's order and the kernel's ``Size in memory``, given the same ``initval`` (drawn from the
simulator's seeded RNG where the kernel calls ``get_random_bytes``).

The sets of a namespace live in a :class:`IpSets` (``struct ip_set_net``): slots in creation
order, a destroyed set's slot reused by the next create, ``swap`` exchanging two slots'
contents and names as ``ip_set_swap`` does.  ``References`` counts the ``-m set`` matches of
the namespace's iptables rules that name the set.

Modelled: family ``inet`` only; the create options ``family``, ``hashsize``, ``maxelem``,
``bucketsize``, ``initval``; elements ``IP``, ``IP/CIDR`` and ``FROM-TO`` ranges for
``hash:ip`` and ``hash:net``, ``IP,[PROTO:]PORT`` (tcp, udp, sctp, udplite) for
``hash:ip,port``.  Not modelled (refused with a message saying so): ``inet6``, timeouts,
counters, comments, ``nomatch``, ``netmask``, the other set types.
"""
import ipaddress
import struct

from emunet.wire.ipv4 import IPPROTO_TCP, IPPROTO_UDP
from emunet.wire.jhash import jhash2

__all__ = ["IPSET_VERSION", "IpsetError", "IpSet", "IpSets", "ipset_command", "netfilter_ipsets",
           "ipset"]

#: what ``ipset version`` prints, and the prefix of every error message
IPSET_VERSION = "v7.17"
_PROTOCOL_VERSION = 7
_PREFIX = f"ipset {IPSET_VERSION}: "

#: ``ip_set_hash_gen.h``
AHASH_INIT_SIZE = 2
AHASH_MAX_SIZE = 6 * AHASH_INIT_SIZE
HTABLE_REGION_BITS = 10
IPSET_DEFAULT_HASHSIZE = 1024
IPSET_MIMINAL_HASHSIZE = 64
IPSET_DEFAULT_MAXELEM = 65536
#: ``sizeof(struct hbucket)`` and ``sizeof(struct ip_set_region)`` on x86-64
_HBUCKET_SIZE = 32
_REGION_SIZE = 24

IPPROTO_SCTP = 132
IPPROTO_UDPLITE = 136
_PORT_PROTOS = {"tcp": IPPROTO_TCP, "udp": IPPROTO_UDP, "sctp": IPPROTO_SCTP, "udplite": IPPROTO_UDPLITE}
_PROTO_NAMES = {v: k for k, v in _PORT_PROTOS.items()}

_M32 = 0xFFFFFFFF


class IpsetError(ValueError):
    """What the ``ipset`` tool prints on failure (``message``, without the ``ipset v7.17:``
    prefix) and its exit status."""

    def __init__(self, message: str, status: int = 1, prefix: bool = True):
        super().__init__((_PREFIX if prefix else "") + message)
        self.message = message
        self.status = status


def _syntax(message: str) -> IpsetError:
    return IpsetError("Syntax error: " + message)


def _unmodelled(what: str) -> IpsetError:
    return IpsetError(f"{what} is not modelled by emunet's ipset (hash:ip, hash:net and hash:ip,port "
                      f"sets of family inet, without timeouts, counters or comments)")


# -- element types -------------------------------------------------------------------
# An element is a tuple; its hash key is the bytes of the kernel's struct, read as
# little-endian u32 words (HKEY reads the struct through a u32 pointer on x86).

def _ip_words(ip: int) -> int:
    return int.from_bytes(ip.to_bytes(4, "big"), "little")


class _HashIp:
    """``hash:ip``: ``struct hash_ip4_elem { __be32 ip; }``."""

    name = "hash:ip"
    revision = 6
    dsize = 4
    base_memsize = 192
    dimension = 1

    @staticmethod
    def words(e) -> list:
        return [_ip_words(e[0])]

    @staticmethod
    def format(e) -> str:
        return str(ipaddress.IPv4Address(e[0]))

    @staticmethod
    def parse(text: str, adt: str) -> list:
        """Elements for ``add``/``del``/``test`` of ``text`` (an IP, a CIDR or a range
        expands to each address, ascending, as ``hash_ip4_uadt`` loops)."""
        lo, hi, cidr = _parse_ip_or_range(text)
        if adt == "test" and (hi != lo or cidr is not None):
            raise IpsetError("Syntax error: plain IP address must be supplied: " + text)
        return [(ip,) for ip in range(lo, hi + 1)]

    @staticmethod
    def kadt(ipset, pkt, dirs):
        return (pkt.saddr if dirs[0] == "src" else pkt.daddr,)


class _HashNet:
    """``hash:net``: ``struct hash_net4_elem { __be32 ip; u16 padding0; u8 nomatch; u8 cidr; }``."""

    name = "hash:net"
    revision = 7
    dsize = 8
    base_memsize = 432
    dimension = 1

    @staticmethod
    def words(e) -> list:
        return [_ip_words(e[0]), e[1] << 24]

    @staticmethod
    def format(e) -> str:
        ip = str(ipaddress.IPv4Address(e[0]))
        return ip if e[1] == 32 else f"{ip}/{e[1]}"

    @staticmethod
    def parse(text: str, adt: str) -> list:
        if "-" in text and adt != "test":
            lo, hi, _ = _parse_ip_or_range(text)
            return [(int(n.network_address), n.prefixlen) for n in ipaddress.summarize_address_range(
                ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi))]
        addr, _, plen = text.partition("/")
        ip = _parse_ip(addr)
        cidr = 32 if not plen else _parse_number(plen, 0, 32)
        if cidr == 0:
            raise IpsetError("The value of the CIDR parameter of the IP address is invalid")
        return [(ip & (_M32 << (32 - cidr)) & _M32, cidr)]

    @staticmethod
    def kadt(ipset, pkt, dirs):
        return (pkt.saddr if dirs[0] == "src" else pkt.daddr, 32)


class _HashIpPort:
    """``hash:ip,port``: ``struct hash_ipport4_elem { __be32 ip; __be16 port; u8 proto; u8 padding; }``."""

    name = "hash:ip,port"
    revision = 7
    dsize = 8
    base_memsize = 192
    dimension = 2

    @staticmethod
    def words(e) -> list:
        ip, port, proto = e
        return [_ip_words(ip), int.from_bytes(struct.pack("!HBB", port, proto, 0), "little")]

    @staticmethod
    def format(e) -> str:
        ip, port, proto = e
        return f"{ipaddress.IPv4Address(ip)},{_PROTO_NAMES[proto]}:{port}"

    @staticmethod
    def parse(text: str, adt: str) -> list:
        ip_text, comma, port_text = text.partition(",")
        if not comma:
            raise _syntax(f"Second element is missing from {text}.")
        ip = _parse_ip(ip_text)
        proto_name, colon, port_num = port_text.rpartition(":")
        if not colon:
            proto_name, port_num = "tcp", port_text
        if proto_name not in _PORT_PROTOS:
            try:
                int(proto_name)
            except ValueError:
                raise _syntax(f"cannot parse '{proto_name}' as a protocol") from None
            raise _unmodelled(f"protocol {proto_name} in hash:ip,port")
        try:
            port = int(port_num)
        except ValueError:
            raise _unmodelled(f"the service name {port_num!r} (give the port number)") from None
        if not 0 <= port <= 65535:
            # the tool's parser tries the number, then PROTO as a number, then gives up
            raise _syntax(f"'{port_num}' is out of range 0-65535\nSyntax error: '{proto_name}' is "
                          f"invalid as number\ncannot parse '{port_num}' as a {proto_name} port")
        return [(ip, port, _PORT_PROTOS[proto_name])]

    @staticmethod
    def kadt(ipset, pkt, dirs):
        """``ip_set_get_ip4_port``: TCP and UDP ports; anything else cannot match."""
        if len(dirs) < 2 or pkt.proto not in (IPPROTO_TCP, IPPROTO_UDP) or pkt.sport is None:
            return None
        ip = pkt.saddr if dirs[0] == "src" else pkt.daddr
        port = pkt.sport if dirs[1] == "src" else pkt.dport
        return (ip, port, pkt.proto)


TYPES = {t.name: t for t in (_HashIp, _HashNet, _HashIpPort)}


def _parse_ip(text: str) -> int:
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        raise _syntax(f"cannot parse {text}: resolving to IPv4 address failed") from None


def _parse_number(text: str, lo: int, hi: int) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise _syntax(f"'{text}' is invalid as number") from None
    if not lo <= n <= hi:
        raise _syntax(f"'{text}' is out of range {lo}-{hi}")
    return n


def _parse_ip_or_range(text: str):
    """(first, last, cidr or None) of ``IP``, ``IP/CIDR`` or ``FROM-TO``."""
    if "-" in text:
        a, _, b = text.partition("-")
        lo, hi = _parse_ip(a), _parse_ip(b)
        return (min(lo, hi), max(lo, hi), None)
    addr, slash, plen = text.partition("/")
    ip = _parse_ip(addr)
    if not slash:
        return (ip, ip, None)
    cidr = _parse_number(plen, 0, 32)
    mask = (_M32 << (32 - cidr)) & _M32
    return (ip & mask, (ip & mask) | (~mask & _M32), cidr)


class _Bucket:
    """``struct hbucket``: ``size`` slots, ``pos`` the first never-used one, ``used`` the
    bitmap (a list of bools), ``value`` the elements."""

    __slots__ = ("size", "pos", "used", "value")

    def __init__(self, size: int):
        self.size = size
        self.pos = 0
        self.used = [False] * size
        self.value = [None] * size


class IpSet:
    """One set: the kernel's ``struct ip_set`` with its hash (``struct htype``).

    ``name``, ``type`` (the element type: :data:`TYPES`), ``hashsize`` (``2^htable_bits``),
    ``maxelem``, ``bucketsize``, ``initval``; ``references`` is filled in by
    :class:`IpSets` (it depends on the namespace's rules)."""

    def __init__(self, name: str, typename: str, initval: int, hashsize: int = IPSET_DEFAULT_HASHSIZE,
                 maxelem: int = IPSET_DEFAULT_MAXELEM, bucketsize: int = AHASH_MAX_SIZE):
        self.name = name
        self.type = TYPES[typename]
        self.maxelem = maxelem
        self.initval = initval & _M32
        if hashsize < IPSET_MIMINAL_HASHSIZE:
            hashsize = IPSET_MIMINAL_HASHSIZE
        self.htable_bits = (hashsize - 1).bit_length()     # fls(hashsize - 1)
        if bucketsize < AHASH_INIT_SIZE:
            bucketsize = AHASH_INIT_SIZE
        elif bucketsize > AHASH_MAX_SIZE:
            bucketsize = AHASH_MAX_SIZE
        elif bucketsize % 2:
            bucketsize += 1
        self.bucketsize = bucketsize
        self.family = "inet"
        self._reset()

    def _reset(self) -> None:
        self.buckets = [None] * (1 << self.htable_bits)
        self.elements = 0
        self.ext_size = 0
        self.cidrs = {}      # hash:net's nets[]: cidr -> number of elements of that prefix

    @property
    def typename(self) -> str:
        return self.type.name

    @property
    def hashsize(self) -> int:
        return 1 << self.htable_bits

    def _key(self, e) -> int:
        return jhash2(self.type.words(e), self.initval) & ((1 << self.htable_bits) - 1)

    @property
    def memsize(self) -> int:
        """``mtype_head``'s memsize: the hash header, the region locks, the buckets."""
        locks = 1 if self.htable_bits < HTABLE_REGION_BITS else 1 << (self.htable_bits - HTABLE_REGION_BITS)
        return self.type.base_memsize + locks * _REGION_SIZE + self.ext_size

    def _ext(self, n: int) -> int:
        return _HBUCKET_SIZE + n * self.type.dsize

    # -- the kernel's operations ----------------------------------------------------
    def add(self, e) -> None:
        """``mtype_add``: raises IpsetError if present or full; resizes (doubles the
        table) when the element's bucket is at ``bucketsize``."""
        while True:
            if self._add(e):
                return
            self._resize()

    def _add(self, e) -> bool:
        key = self._key(e)
        n = self.buckets[key]
        if n is None:
            if self.elements >= self.maxelem:
                raise IpsetError("Hash is full, cannot add more elements")
            n = self.buckets[key] = _Bucket(AHASH_INIT_SIZE)
            self.ext_size += self._ext(AHASH_INIT_SIZE)
        else:
            j = -1
            for i in range(n.pos):
                if not n.used[i]:
                    if j == -1:
                        j = i
                    continue
                if n.value[i] == e:
                    raise IpsetError("Element cannot be added to the set: it's already added")
            if j != -1:         # reuse the first deleted slot
                self._store(n, j, e)
                return True
            if self.elements >= self.maxelem:
                raise IpsetError("Hash is full, cannot add more elements")
            if n.pos >= n.size:
                if n.size >= self.bucketsize:
                    return False
                n.used.extend([False] * AHASH_INIT_SIZE)
                n.value.extend([None] * AHASH_INIT_SIZE)
                n.size += AHASH_INIT_SIZE
                self.ext_size += self._ext(AHASH_INIT_SIZE)
        j = n.pos
        n.pos += 1
        self._store(n, j, e)
        return True

    def _store(self, n: _Bucket, j: int, e) -> None:
        n.value[j] = e
        n.used[j] = True
        self.elements += 1
        if self.type is _HashNet:
            self.cidrs[e[1]] = self.cidrs.get(e[1], 0) + 1

    def _resize(self) -> None:
        """``mtype_resize``: a table twice the size, the elements rehashed in bucket
        order; again larger if a bucket overflows."""
        old = [e for e in self.members()]
        bits = self.htable_bits
        while True:
            bits += 1
            buckets = [None] * (1 << bits)
            ext = 0
            ok = True
            for e in old:
                key = jhash2(self.type.words(e), self.initval) & ((1 << bits) - 1)
                m = buckets[key]
                if m is None:
                    m = buckets[key] = _Bucket(AHASH_INIT_SIZE)
                    ext += self._ext(AHASH_INIT_SIZE)
                elif m.pos >= m.size:
                    if m.size >= self.bucketsize:
                        ok = False
                        break
                    m.used.extend([False] * AHASH_INIT_SIZE)
                    m.value.extend([None] * AHASH_INIT_SIZE)
                    m.size += AHASH_INIT_SIZE
                    ext += self._ext(AHASH_INIT_SIZE)
                m.value[m.pos] = e
                m.used[m.pos] = True
                m.pos += 1
            if ok:
                self.htable_bits, self.buckets, self.ext_size = bits, buckets, ext
                return

    def delete(self, e) -> None:
        """``mtype_del``: raises IpsetError if absent; shrinks or frees the bucket."""
        key = self._key(e)
        n = self.buckets[key]
        if n is not None:
            k = 0
            for i in range(n.pos):
                if not n.used[i]:
                    k += 1
                    continue
                if n.value[i] != e:
                    continue
                n.used[i] = False
                n.value[i] = None
                if i + 1 == n.pos:
                    n.pos -= 1
                self.elements -= 1
                if self.type is _HashNet:
                    self.cidrs[e[1]] -= 1
                    if not self.cidrs[e[1]]:
                        del self.cidrs[e[1]]
                for j in range(i, n.pos):
                    if not n.used[j]:
                        k += 1
                if k == n.pos:          # every slot left is a hole (the 6.x kernels' test)
                    self.ext_size -= self._ext(n.size)
                    self.buckets[key] = None
                elif k >= AHASH_INIT_SIZE:
                    tmp = _Bucket(n.size - AHASH_INIT_SIZE)
                    for j in range(n.pos):
                        if n.used[j]:
                            tmp.value[tmp.pos] = n.value[j]
                            tmp.used[tmp.pos] = True
                            tmp.pos += 1
                    self.ext_size -= self._ext(AHASH_INIT_SIZE)
                    self.buckets[key] = tmp
                return
        raise IpsetError("Element cannot be deleted from the set: it's not added")

    def contains(self, e) -> bool:
        """``mtype_test``; a ``hash:net`` address (a /32 test) tries every prefix length
        the set holds (``mtype_test_cidrs``)."""
        if self.type is _HashNet and e[1] == 32:
            ip = e[0]
            return any(self._find((ip & (_M32 << (32 - c)) & _M32, c)) for c in self.cidrs)
        return self._find(e)

    def _find(self, e) -> bool:
        n = self.buckets[self._key(e)]
        return n is not None and any(n.used[i] and n.value[i] == e for i in range(n.pos))

    def flush(self) -> None:
        self._reset()

    def members(self) -> list:
        """The elements in the kernel's listing order (``mtype_list``)."""
        return [n.value[i] for n in self.buckets if n is not None for i in range(n.pos) if n.used[i]]

    def test(self, pkt, dirs) -> bool:
        """The ``-m set --match-set NAME DIRS`` match (``ip_set_test`` with the type's
        ``kadt``): is the packet's address (and port) in the set?  ``dirs`` is a tuple of
        "src"/"dst", one per dimension; fewer than the set's dimension never match."""
        if len(dirs) < self.type.dimension:
            return False
        e = self.type.kadt(self, pkt, dirs)
        return e is not None and self.contains(e)

    # -- what the tool prints -------------------------------------------------------
    def header(self) -> str:
        return (f"family {self.family} hashsize {self.hashsize} maxelem {self.maxelem} "
                f"bucketsize {self.bucketsize} initval 0x{self.initval:08x}")

    def save(self) -> list:
        lines = [f"create {self.name} {self.typename} {self.header()}"]
        lines.extend(f"add {self.name} {self.type.format(e)}" for e in self.members())
        return lines

    def listing(self, references: int, terse: bool = False) -> list:
        lines = [f"Name: {self.name}", f"Type: {self.typename}", f"Revision: {self.type.revision}",
                 f"Header: {self.header()}", f"Size in memory: {self.memsize}",
                 f"References: {references}", f"Number of entries: {self.elements}"]
        if not terse:
            lines.append("Members:")
            lines.extend(self.type.format(e) for e in self.members())
        return lines


class IpSets:
    """A namespace's sets (``struct ip_set_net``): ``slots`` in index order (None for a
    free slot), looked up by name as a mapping (``ipsets[name]``).  ``rng`` draws each
    set's ``initval``; ``references(name)`` counts the rules that use a set."""

    def __init__(self, rng, references=None):
        self.rng = rng
        self.slots = []
        self._references = references or (lambda name: 0)

    # mapping access, for the -m set match
    def __getitem__(self, name: str) -> IpSet:
        for s in self.slots:
            if s is not None and s.name == name:
                return s
        raise KeyError(name)

    def get(self, name: str, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __iter__(self):
        return (s.name for s in self.slots if s is not None)

    def __len__(self) -> int:
        return sum(1 for s in self.slots if s is not None)

    def references(self, name: str) -> int:
        return self._references(name)

    def _need(self, name: str) -> IpSet:
        s = self.get(name)
        if s is None:
            raise IpsetError("The set with the given name does not exist")
        return s

    # -- commands --------------------------------------------------------------------
    def create(self, name: str, typename: str, options: list, exist: bool = False) -> None:
        if typename not in TYPES:
            if typename in ("bitmap:ip", "bitmap:ip,mac", "bitmap:port", "hash:mac", "hash:ipmac",
                            "hash:ipmark", "hash:ip,port,ip", "hash:ip,port,net", "hash:ip,mark",
                            "hash:net,net", "hash:net,port", "hash:net,port,net", "hash:net,iface",
                            "list:set"):
                raise _unmodelled(f"the set type {typename}")
            raise _syntax(f"typename '{typename}' is unknown")
        kw = {}
        it = iter(options)
        for opt in it:
            if opt in ("family", "hashsize", "maxelem", "bucketsize", "initval"):
                value = next(it, None)
                if value is None:
                    raise IpsetError(f"Syntax error: missing mandatory value to option {opt}")
                if opt == "family":
                    if value == "inet6":
                        raise _unmodelled("family inet6")
                    if value != "inet":
                        raise _syntax(f"unknown inet family {value}")
                else:
                    kw[opt] = _parse_number(value, 0, _M32)
            elif opt in ("timeout", "counters", "comment", "skbinfo", "forceadd", "netmask", "bitmask",
                         "markmask", "-4", "-6", "inet6", "probes", "resize", "size", "range"):
                raise _unmodelled(f"the create option {opt}")
            else:
                raise IpsetError(f"Unknown argument: `{opt}'\nTry `ipset help' for more information.", 2)
        existing = self.get(name)
        if existing is not None:
            same = (existing.typename == typename and
                    existing.maxelem == kw.get("maxelem", IPSET_DEFAULT_MAXELEM))
            if exist and same:
                return
            raise IpsetError("Set cannot be created: set with the same name already exists")
        initval = kw.pop("initval", None)
        if initval is None:
            initval = self.rng.getrandbits(32)
        s = IpSet(name, typename, initval, **kw)
        for i, slot in enumerate(self.slots):
            if slot is None:
                self.slots[i] = s
                break
        else:
            self.slots.append(s)

    def adt(self, cmd: str, name: str, text: str, exist: bool = False) -> str:
        """``add``, ``del`` or ``test`` of one element text; ``test`` returns the verdict
        line (raising, with status 1, when not in the set)."""
        s = self._need(name)
        elems = s.type.parse(text, cmd)
        if cmd == "test":
            shown = s.type.format(elems[0])
            if s.contains(elems[0]):
                return f"Warning: {shown} is in set {name}."
            raise IpsetError(f"{shown} is NOT in set {name}.", prefix=False)
        for e in elems:
            try:
                (s.add if cmd == "add" else s.delete)(e)
            except IpsetError as err:
                if exist and "Hash is full" not in err.message:
                    continue
                raise
        return ""

    def destroy(self, name: str = None) -> None:
        if name is None:
            if any(self.references(s.name) for s in self.slots if s is not None):
                raise IpsetError("Set cannot be destroyed: it is in use by a kernel component")
            self.slots = []
            return
        s = self._need(name)
        if self.references(name):
            raise IpsetError("Set cannot be destroyed: it is in use by a kernel component")
        self.slots[self.slots.index(s)] = None
        while self.slots and self.slots[-1] is None:
            self.slots.pop()

    def flush(self, name: str = None) -> None:
        for s in ([self._need(name)] if name else [s for s in self.slots if s is not None]):
            s.flush()

    def swap(self, a: str, b: str) -> None:
        """``ip_set_swap``: the two slots exchange their sets, the sets their names."""
        sa = self._need(a)
        sb = self.get(b)
        if sb is None:
            raise IpsetError("Sets cannot be swapped: the second set does not exist")
        if sa.typename != sb.typename or sa.family != sb.family:
            raise IpsetError("The sets cannot be swapped: their type does not match")
        ia, ib = self.slots.index(sa), self.slots.index(sb)
        sa.name, sb.name = sb.name, sa.name
        self.slots[ia], self.slots[ib] = sb, sa

    def list(self, name: str = None, terse: bool = False, names: bool = False, save: bool = False) -> str:
        sets = [self._need(name)] if name else [s for s in self.slots if s is not None]
        if names:
            return "".join(f"{s.name}\n" for s in sets)
        if save:
            return "".join(line + "\n" for s in sets for line in s.save())
        return "\n".join("".join(line + "\n" for line in s.listing(self.references(s.name), terse))
                         for s in sets)

    def restore(self, text: str, exist: bool = False) -> None:
        """``ipset restore``: one command a line (``#`` comments, blank lines and
        ``COMMIT`` ignored); not atomic: the lines before a failing one stay applied, and
        the error names the line."""
        for lineno, line in enumerate(text.splitlines(), 1):
            argv = line.split()
            if not argv or argv[0].startswith("#") or argv == ["COMMIT"]:
                continue
            try:
                _run(self, argv, exist, restoring=True)
            except IpsetError as err:
                if err.status == 1 and err.args[0].startswith(_PREFIX):
                    raise IpsetError(f"Error in line {lineno}: {err.message}") from None
                raise


_COMMANDS = {"create": "create", "n": "create", "add": "add", "a": "add", "del": "del", "d": "del",
             "test": "test", "t": "test", "destroy": "destroy", "x": "destroy", "flush": "flush",
             "f": "flush", "list": "list", "l": "list", "-L": "list", "save": "save", "s": "save",
             "-S": "save", "swap": "swap", "w": "swap", "restore": "restore", "-R": "restore",
             "version": "version", "-V": "version", "-A": "add", "-D": "del", "-T": "test",
             "-X": "destroy", "-F": "flush", "-N": "create", "-W": "swap"}
_MANDATORY = {"create": 2, "add": 2, "del": 2, "test": 2, "swap": 2}
_ORDINAL = {1: "first", 2: "second"}
_EXIST_FLAGS = ("-exist", "--exist", "-!")


def _run(sets: IpSets, argv: list, exist: bool, restoring: bool = False, stdin: str = "") -> str:
    if any(a in _EXIST_FLAGS for a in argv):
        exist = True
        argv = [a for a in argv if a not in _EXIST_FLAGS]
    if not argv:
        raise IpsetError("No command specified.\nTry `ipset help' for more information.", 2)
    cmd = _COMMANDS.get(argv[0])
    if cmd is None:
        raise IpsetError(f"No command specified: unknown argument {argv[0]}\n"
                         f"Try `ipset help' for more information.", 2)
    args = argv[1:]
    need = _MANDATORY.get(cmd, 0)
    if len(args) < need:
        raise IpsetError(f"Missing {_ORDINAL[len(args) + 1]} mandatory argument to command {argv[0]}\n"
                         f"Try `ipset help' for more information.", 2)
    if cmd == "create":
        sets.create(args[0], args[1], args[2:], exist)
        return ""
    if cmd in ("add", "del", "test"):
        if len(args) > 2:
            raise IpsetError(f"Unknown argument: `{args[2]}'\nTry `ipset help' for more information.", 2)
        return sets.adt(cmd, args[0], args[1], exist)
    if cmd in ("destroy", "flush"):
        (sets.destroy if cmd == "destroy" else sets.flush)(args[0] if args else None)
        return ""
    if cmd == "swap":
        sets.swap(args[0], args[1])
        return ""
    if cmd in ("list", "save"):
        terse = names = False
        save = cmd == "save"
        name = None
        it = iter(args)
        for a in it:
            if a in ("-t", "-terse"):
                terse = True
            elif a in ("-n", "-name"):
                names = True
            elif a in ("-o", "-output"):
                fmt = next(it, "")
                if fmt not in ("plain", "save"):
                    raise _unmodelled(f"the output format {fmt!r}")
                save = fmt == "save"
            elif name is None:
                name = a
            else:
                raise IpsetError(f"Unknown argument: `{a}'\nTry `ipset help' for more information.", 2)
        return sets.list(name, terse=terse, names=names, save=save)
    if cmd == "restore" and not restoring:
        sets.restore(stdin, exist)
        return ""
    if cmd == "version":
        return f"ipset {IPSET_VERSION}, protocol version: {_PROTOCOL_VERSION}\n"
    raise IpsetError(f"No command specified: unknown argument {argv[0]}\nTry `ipset help' for more information.", 2)


def ipset_command(sets: IpSets, argv, stdin: str = "") -> str:
    """Run ``ipset ARGV`` against ``sets`` (``argv`` a list, or a string split on blanks);
    returns what the tool prints on stdout (the verdict line for ``test``), raises
    :class:`IpsetError` with the tool's message otherwise.  ``-exist``/``-!`` anywhere
    make add/create/del idempotent; ``restore`` reads ``stdin``."""
    if isinstance(argv, str):
        argv = argv.split()
    argv = list(argv)
    if argv and argv[0] == "ipset":
        argv = argv[1:]
    return _run(sets, argv, False, stdin=stdin)


def _rule_references(netfilter, name: str) -> int:
    """The kernel's ``set->ref`` as ``xt_set`` keeps it: one per ``-m set`` match naming the
    set in any rule of the namespace's tables."""
    return sum(1 for t in netfilter.tables.values() for c in t.chains.values() for r in c.rules
               for m in r.matches if getattr(m, "setname", None) == name)


def netfilter_ipsets(netfilter) -> IpSets:
    """The namespace's :class:`IpSets` (``netfilter.ipsets``), made on first use with the
    simulator's RNG for the sets' ``initval``."""
    sets = netfilter.ipsets
    if not isinstance(sets, IpSets):
        sets = netfilter.ipsets = IpSets(netfilter.sim.rng, lambda name: _rule_references(netfilter, name))
    return sets


def ipset(netfilter, argv, stdin: str = "") -> str:
    """``ipset ARGV`` in the namespace of ``netfilter`` (what ``Netfilter.ipset`` runs)."""
    return ipset_command(netfilter_ipsets(netfilter), argv, stdin)
