"""BIRD's configuration (``conf/`` and the protocol sections of ``bird.cfg``): ``protocol bgp``
(:class:`BgpPeer`), the routes of ``protocol static`` (:class:`StaticRoute`), and what an
export filter of ``protocol kernel`` sees (:class:`KernelRoute`).

Filters are Python callables standing in for BIRD's filter language (``filter/filter.c``):
one takes a route and returns True to accept it; "all" and "none" are BIRD's ``all`` and
``none``.
"""
import attrs

#: ``graceful restart aware``: the capability without families (BIRD's default)
GR_AWARE = "aware"


@attrs.define
class BgpPeer:
    """One ``protocol bgp`` (BIRD's configuration keywords in brackets).

    ``export`` is the export filter (a callable taking a :class:`~emunet.control.bird.rt.Rte`
    and returning True to accept, or "all"/"none"; None: the speaker's); ``import_filter``
    likewise for imports ("all" by default, as BIRD's ``import all``)."""

    address: str                      # neighbor ADDRESS as ASN
    remote_as: int
    name: str = None                  # protocol name; default bgpN
    rr_client: bool = False           # rr client
    passive: bool = False             # passive on
    multihop: int = None              # multihop [N]; None: 64 for iBGP, direct for eBGP
    source_address: str = None        # source address
    gateway: str = None               # gateway direct|recursive; None: BIRD's default
    hold_time: int = 240
    startup_hold_time: int = 240
    keepalive_time: int = None        # None: hold time / 3
    connect_delay_time: int = 5       # connect delay time (start delay time)
    connect_retry_time: int = 120
    error_wait_time: tuple = (60, 300)
    error_forget_time: int = 300
    add_paths: int = 0                # add paths rx|tx|on
    graceful_restart: object = GR_AWARE  # graceful restart on|off|aware
    graceful_restart_time: int = 120
    next_hop_self: bool = False
    default_local_pref: int = 100
    export: object = None
    import_filter: object = "all"
    description: str = None
    enable_as4: bool = True
    enable_route_refresh: bool = True


@attrs.define
class StaticRoute:
    """``route PREFIX blackhole|unreachable|prohibit|via ADDRESS`` of ``protocol static``."""

    prefix: str
    kind: str = "blackhole"
    via: str = None


@attrs.define
class KernelRoute:
    """What the kernel protocol is about to program, as its export filter sees it
    (``calico_kernel_programming``): set ``krt_tunnel`` to a device name to send the route
    out of it with ``onlink`` (Calico's BIRD patch), return False to keep it out."""

    prefix: str
    dest: str                         # router, device, blackhole, unreachable, prohibit
    gw: str = None
    iface: str = None
    bgp_next_hop: str = None
    source: str = None                # static, direct, bgp
    krt_tunnel: str = ""
    krt_metric: int = 0


def run_filter(flt, r) -> bool:
    """``f_run``: does filter ``flt`` ("all", "none", None for BIRD's default none, or a
    callable) accept route ``r``?"""
    if flt is None or flt == "none":
        return False
    if flt == "all":
        return True
    return bool(flt(r))


__all__ = ["GR_AWARE", "BgpPeer", "StaticRoute", "KernelRoute", "run_filter"]
