"""The attribute side of BGP (BIRD 1.6's ``proto/bgp/attrs.c``): which of two BGP routes is
better (``bgp_rte_better``), what goes out to a peer and with which attributes
(``bgp_import_control``, ``bgp_create_attrs``/``bgp_update_attrs``, the bucket
normalisation), and the buckets themselves: the prefixes waiting to be sent, grouped by the
attributes they share, which ``bgp_create_update`` (``packets.c``) empties one UPDATE at a
time.

Best path as ``bgp_rte_better``: resolvable, LOCAL_PREF, AS path length, ORIGIN, MED between
routes from the same neighbour AS, eBGP over iBGP, IGP metric, ORIGINATOR_ID or router id,
CLUSTER_LIST length, neighbour address.  Export follows ``bgp_import_control``: no iBGP route
to iBGP peers unless one end is a route-reflector client; reflected routes get ORIGINATOR_ID
and the cluster id on CLUSTER_LIST; eBGP prepends the local AS and drops LOCAL_PREF,
ORIGINATOR_ID, CLUSTER_LIST.  UPDATEs group prefixes that share attributes, withdrawals
first.  The functions take the protocol (``struct bgp_proto``) they work for, as BIRD's do.
"""
import attrs

from emunet.control.bird.rt import Rte
from emunet.wire import bgp as W
from emunet.wire.ipv4 import ip_to_int


def as_path_contains(path, asn) -> bool:
    return any(asn in seg for _, seg in (path or ()))


def neighbor_as(r: Rte) -> int:
    """``bgp_get_neighbor``: the first AS of the path, else the peer's AS."""
    for _, seg in (r.attrs.as_path or ()):
        if seg:
            return seg[0]
    return r.src.proto.remote_as


def bgp_rte_better(new: Rte, old: Rte) -> bool:
    """``bgp_rte_better``: is BGP route ``new`` better than ``old``?"""
    nb, ob = new.src.proto, old.src.proto
    n, o = new.resolvable, old.resolvable
    if n != o:
        return n
    na, oa = new.attrs, old.attrs
    n = na.local_pref if na.local_pref is not None else nb.cf.default_local_pref
    o = oa.local_pref if oa.local_pref is not None else ob.cf.default_local_pref
    if n != o:
        return n > o
    n = na.as_path_length if na.as_path is not None else 255
    o = oa.as_path_length if oa.as_path is not None else 255
    if n != o:
        return n < o
    n = na.origin if na.origin is not None else W.ORIGIN_INCOMPLETE
    o = oa.origin if oa.origin is not None else W.ORIGIN_INCOMPLETE
    if n != o:
        return n < o
    if neighbor_as(new) == neighbor_as(old):
        n = na.med if na.med is not None else 0
        o = oa.med if oa.med is not None else 0
        if n != o:
            return n < o
    if nb.is_internal != ob.is_internal:
        return not nb.is_internal
    if new.igp_metric != old.igp_metric:
        return new.igp_metric < old.igp_metric
    n = ip_to_int(na.originator_id) if na.originator_id else ip_to_int(nb.remote_id or "0.0.0.0")
    o = ip_to_int(oa.originator_id) if oa.originator_id else ip_to_int(ob.remote_id or "0.0.0.0")
    if n != o:
        return n < o
    n = len(na.cluster_list or ())
    o = len(oa.cluster_list or ())
    if n != o:
        return n < o
    return ip_to_int(nb.cf.address) < ip_to_int(ob.cf.address)


def bgp_import_control(p, r: Rte):
    """``bgp_import_control`` + ``bgp_create_attrs``/``bgp_update_attrs``: the
    attributes to send to peer ``p``, or None (rejected before the export filter)."""
    src = r.src.proto
    if src is p:
        return None
    if r.kind == "bgp":
        pa = r.attrs
        if p.rr_client and pa.cluster_list and p.rr_cluster_id in pa.cluster_list:
            return None
        if pa.communities:
            if 0xFFFFFF02 in pa.communities:
                return None
            if not p.is_internal and (0xFFFFFF01 in pa.communities or 0xFFFFFF03 in pa.communities):
                return None
        rr = False
        if p.is_internal and src.is_internal:
            if not (p.rr_client or src.rr_client):
                return None
            rr = True
        return _update_attrs(p, r, pa, rr)
    return _create_attrs(p, r)


def _create_attrs(p, r: Rte):
    """``bgp_create_attrs``: the attributes of a route BGP did not learn."""
    if p.is_internal:
        path = ()
    else:
        path = ((W.AS_SEQUENCE, (p.bird.local_as,)),)
    if (p.cf.next_hop_self or r.dest != "router" or r.gw is None
            or (not p.is_internal and (p.neigh_iface is None or r.iface != p.neigh_iface))):
        nh = p.source_addr
    else:
        nh = r.gw
    return W.PathAttributes(origin=W.ORIGIN_IGP, as_path=path, next_hop=nh,
                            local_pref=p.cf.default_local_pref)


def _update_attrs(p, r: Rte, pa: W.PathAttributes, rr: bool):
    """``bgp_update_attrs``: a BGP route's attributes as they leave towards ``p``
    (``rr``: reflected)."""
    changes = {}
    if not p.is_internal:
        path = pa.as_path or ()
        if path and path[0][0] == W.AS_SEQUENCE and len(path[0][1]) < 255:
            path = ((W.AS_SEQUENCE, (p.bird.local_as,) + tuple(path[0][1])),) + tuple(path[1:])
        else:
            path = ((W.AS_SEQUENCE, (p.bird.local_as,)),) + tuple(path)
        changes["as_path"] = path
        if pa.med is not None:
            changes["med"] = 0
    keep = (not p.cf.next_hop_self and pa.next_hop is not None
            and ((p.is_internal and pa.next_hop != "0.0.0.0")
                 or (p.neigh_iface is not None and r.iface == p.neigh_iface)))
    if not keep:
        changes["next_hop"] = p.source_addr
    if pa.unknown:
        passed = _passed_on(pa.unknown)
        if passed != pa.unknown:
            changes["unknown"] = passed
    if rr:
        src = r.src.proto
        if pa.originator_id is None:
            changes["originator_id"] = src.remote_id
        cid = src.rr_cluster_id if src.rr_client else p.rr_cluster_id
        cl = tuple(pa.cluster_list or ())
        if cid is not None and cid not in cl:
            cl = (cid,) + cl
        if src.rr_client and p.rr_client and src.rr_cluster_id != p.rr_cluster_id \
                and p.rr_cluster_id not in cl:
            cl = (p.rr_cluster_id,) + cl
        changes["cluster_list"] = cl
    return attrs.evolve(pa, **changes) if changes else pa


def _passed_on(unknown: tuple) -> tuple:
    """RFC 4271 section 5: an unrecognised optional transitive attribute goes on to other
    peers with its Partial bit set; an unrecognised non-transitive one is quietly dropped.
    AS4_PATH and AS4_AGGREGATOR, kept opaque, are dropped too: a 4-octet session neither
    reads nor sends them (RFC 6793 section 4.1)."""
    return tuple((flags | W.ATTR_PARTIAL, code, value) for flags, code, value in unknown
                 if flags & W.ATTR_TRANSITIVE and code not in (W.AS4_PATH, W.AS4_AGGREGATOR))


def bgp_bucket_attrs(p, pa: W.PathAttributes):
    """``bgp_get_bucket``'s normalisation: eBGP drops LOCAL_PREF and the reflection
    attributes; integer sets (COMMUNITIES, CLUSTER_LIST) are sorted; None when the next
    hop would be the peer itself."""
    ch = {}
    if not p.is_internal:
        ch.update(local_pref=None, originator_id=None, cluster_list=None)
    else:
        if pa.cluster_list and len(pa.cluster_list) > 1:
            ch["cluster_list"] = tuple(sorted(pa.cluster_list, key=ip_to_int))
    if pa.communities and len(pa.communities) > 1:
        ch["communities"] = tuple(sorted(pa.communities))
    pa = attrs.evolve(pa, **ch) if ch else pa
    if pa.next_hop is None or pa.next_hop == p.cf.address:
        return None
    return pa


_WITHDRAW = object()


def attrs_size(pa: W.PathAttributes, as4: bool) -> int:
    """The bytes ``pa`` takes in an UPDATE (what ``bgp_create_update`` leaves room for)."""
    w = 4 if as4 else 2
    n = 0
    if pa.origin is not None:
        n += 4
    if pa.as_path is not None:
        n += 3 + sum(2 + w * len(v) for _, v in pa.as_path)
    for v in (pa.next_hop, pa.med, pa.local_pref, pa.originator_id):
        if v is not None:
            n += 7
    if pa.communities:
        n += 3 + 4 * len(pa.communities)
    if pa.cluster_list:
        n += 3 + 4 * len(pa.cluster_list)
    return n


class Buckets:
    """The prefixes waiting to go to one peer: the withdraw bucket and one bucket per set
    of attributes (BIRD's bucket hash), each prefix ``(network, path id)`` in at most one."""

    def __init__(self):
        self.by_attrs = {}        # PathAttributes -> {pkey: None}, in insertion order
        self.withdraw = {}
        self.prefix = {}          # pkey -> its bucket's attributes, or _WITHDRAW

    def clear(self) -> None:
        self.by_attrs.clear()
        self.withdraw.clear()
        self.prefix.clear()

    def queue(self, pkey, pa) -> None:
        """``pkey`` (network and path id) to be announced with ``pa``, or withdrawn (None);
        out of whichever bucket held it before."""
        prev = self.prefix.get(pkey)
        if prev is not None:
            b = self.withdraw if prev is _WITHDRAW else self.by_attrs.get(prev)
            if b is not None:
                b.pop(pkey, None)
        if pa is None:
            self.withdraw[pkey] = None
            self.prefix[pkey] = _WITHDRAW
        else:
            self.by_attrs.setdefault(pa, {})[pkey] = None
            self.prefix[pkey] = pa

    def create_update(self, ap: bool, as4: bool):
        """``bgp_create_update``: the next UPDATE (withdrawals alone first, then one
        bucket's prefixes), or None when nothing waits.  ``ap``: ADD-PATH send, ``as4``:
        a 4-octet AS session."""
        room = W.MAX_LEN - W.HEADER_LEN - 4
        if self.withdraw:
            out = []
            for pkey in list(self.withdraw):
                size = (4 if ap else 0) + 1 + (pkey[0][1] + 7) // 8
                if room < 9:
                    break
                room -= size
                del self.withdraw[pkey]
                self.prefix.pop(pkey, None)
                out.append(W.Nlri(pkey[0][0], pkey[0][1], pkey[1] if ap else None))
            return W.update_message(tuple(out), None, (), as4, ap)
        while self.by_attrs:
            pa, prefixes = next(iter(self.by_attrs.items()))
            if not prefixes:
                del self.by_attrs[pa]
                continue
            room -= attrs_size(pa, as4)
            out = []
            for pkey in list(prefixes):
                if room < 9:
                    break
                room -= (4 if ap else 0) + 1 + (pkey[0][1] + 7) // 8
                del prefixes[pkey]
                self.prefix.pop(pkey, None)
                out.append(W.Nlri(pkey[0][0], pkey[0][1], pkey[1] if ap else None))
            if not prefixes:
                del self.by_attrs[pa]
            return W.update_message((), pa, tuple(out), as4, ap)
        return None


__all__ = ["as_path_contains", "neighbor_as", "bgp_rte_better", "bgp_import_control",
           "bgp_bucket_attrs", "attrs_size", "Buckets"]
