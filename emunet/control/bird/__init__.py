"""BIRD 1.6, the BGP daemon inside calico/node, laid out as its source tree is:

* :mod:`~emunet.control.bird.config` -- ``conf/`` and ``bird.cfg``'s sections: ``protocol
  bgp`` (:class:`BgpPeer`), static routes, the kernel protocol's filter view, filters;
* :mod:`~emunet.control.bird.proto` -- ``nest/proto.c``: protocol states, preferences,
  counters, the protocols without sessions;
* :mod:`~emunet.control.bird.rt` -- ``nest/rt-table.c``: routes, sources, the table and
  ``rte_update``;
* :mod:`~emunet.control.bird.conn` -- ``proto/bgp/bgp.c``: one connection, its state machine
  and timers;
* :mod:`~emunet.control.bird.bgp` -- ``proto/bgp/bgp.c`` and ``packets.c``: ``protocol bgp``
  (OPEN, UPDATE in and out, graceful restart), with :mod:`~emunet.control.bird.bgp_attrs`
  (``attrs.c``: best path, export control, route reflection, buckets);
* :mod:`~emunet.control.bird.krt` -- ``sysdep/unix/krt.c``: the kernel protocol;
* :mod:`~emunet.control.bird.birdc` -- ``client/`` and ``nest/cli.c``: what ``birdc`` prints;
* :mod:`~emunet.control.bird.bird` -- the daemon (:class:`Bird`).

Calico's filters and peer template live with Calico's confd (:mod:`emunet.control.calico.confd`).
"""
from emunet.control.bird.bgp import BgpProtocol
from emunet.control.bird.bgp_attrs import bgp_rte_better
from emunet.control.bird.bird import Bird
from emunet.control.bird.birdc import birdc
from emunet.control.bird.config import GR_AWARE, BgpPeer, KernelRoute, StaticRoute
from emunet.control.bird.conn import STATE_NAMES
from emunet.control.bird.krt import RTPROT_BIRD
from emunet.control.bird.rt import Rte, RouteTable

__all__ = ["Bird", "BgpPeer", "StaticRoute", "KernelRoute", "GR_AWARE", "Rte", "RouteTable",
           "BgpProtocol", "birdc", "STATE_NAMES", "bgp_rte_better", "RTPROT_BIRD"]
