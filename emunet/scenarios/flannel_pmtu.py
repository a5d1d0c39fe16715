"""The overlay MTU gone wrong: flannel-vxlan with the pods at 1500 while flannel.1 is 1450.

The flannel-vxlan cluster, except that the pod side ignores ``FLANNEL_MTU``: the pods'
``eth0``, their host-side veths and ``cni0`` are at 1500, while ``flannel.1`` stays at
1450 (eth0's 1500 less VXLAN's 50).  From pod-1 (100.96.1.2) to pod-4 (100.96.2.2), one
second apart:

1. ``ping -c 1 -M dont -s 1472``: a 1500-byte request, DF clear.  node1 forwards it into
   flannel.1 and must fragment it there: 1444 + 76 bytes, each in its own VXLAN packet;
   node2 forwards the pieces, pod-4 reassembles, and its 1500-byte reply (DF clear) is
   fragmented by node2 the same way.  It works, at a cost.
2. ``ping -c 1 -M do -s 1472``: DF set.  node1 cannot forward it and answers
   ``fragmentation needed, mtu 1450`` from cni0's address; ping prints ``From 100.96.1.1
   icmp_seq=1 Frag needed and DF set (mtu = 1450)``, and pod-1's kernel learns the path MTU
   to 100.96.2.2 for 600 s (``ip route get 100.96.2.2``: ``cache expires 599sec mtu 1450``).
3. a plain ``ping -c 1 -s 1472`` (``-M want``): pod-1 now fragments the request itself, at
   1450; the reply is fragmented by node2, as in 1.
4. a 100 kB TCP transfer (``nc``) from pod-1 to pod-4:5001: pod-1's SYN announces MSS 1410
   (the learned 1450 less 40), so every data segment is 1398 bytes plus 52 of headers and
   fits flannel.1: no fragment, no fragmentation needed.  Without phase 2 the first full
   segments (1500 bytes, DF) would each earn a fragmentation needed, and TCP would resend
   them at 1398 (``tcp_v4_mtu_reduced``).
"""
from emunet.apps.base import Process
from emunet.apps.netcat import NcListen, NcSend
from emunet.apps.ping import Ping
from emunet.observe.show.iproute import ip_route_get
from emunet.scenarios.flannel_udp import FlannelLab
from emunet.sim import S

#: what pod-1 sends pod-4 in phase 4
TRANSFER = bytes(i % 251 for i in range(100_000))
TCP_PORT = 5001


class _Show(Process):
    """A show command run at a moment of the scenario, its output in the transcript."""

    name = "ip"

    def __init__(self, fn, *args):
        super().__init__()
        self.fn = fn
        self.args = args

    def start(self) -> None:
        for line in self.fn(self.ns, *self.args).rstrip("\n").split("\n"):
            self.print(line)
        self.exit(0)


class FlannelPmtu(FlannelLab):
    backend = "vxlan"

    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("flannel-pmtu", seed, capture)
        self.seed_pair("cni", "pod", pod_mtu=1500)
        self.pings = []
        #: (what, virtual time it started) for each of the four phases
        self.phases = []
        self.listener = self.sender_tcp = None
        self.duration = 60.0

    def traffic(self) -> None:
        self.settle()
        dst = self.server.ip
        for i, (mode, flag) in enumerate((("dont", "-M dont "), ("do", "-M do "), ("want", ""))):
            self.sim.after(i * S, self._ping, dst, mode, flag)
        self.sim.after(3 * S, self._transfer)

    def _ping(self, dst: str, mode: str, flag: str) -> None:
        self.phases.append((f"ping -M {mode}", self.sim.now))
        self.pings.append(self.spawn(self.client.ns, Ping(dst, count=1, size=1472, pmtudisc=mode),
                                     self.prompt(f"ping -c 1 {flag}-s 1472 {dst}")))
        if mode == "do":
            self.sim.after(S // 2, self._route_get, dst)

    def _route_get(self, dst: str) -> None:
        self.spawn(self.client.ns, _Show(ip_route_get, dst), self.prompt(f"ip route get {dst}"))

    def _transfer(self) -> None:
        self.phases.append(("nc: 100 kB over TCP", self.sim.now))
        self.listener = self.spawn(self.server.ns, NcListen(TCP_PORT), f"kubectl exec {self.server.name} -- "
                                                                    f"nc -l {TCP_PORT} > /dev/null")
        self.sender_tcp = self.spawn(self.client.ns, NcSend(self.server.ip, TCP_PORT, TRANSFER),
                                     self.prompt(f"nc {self.server.ip} {TCP_PORT} < 100k"))

    def run(self) -> "FlannelPmtu":
        super().run()
        got = len(self.listener.received) if self.listener is not None else 0
        self.transcript.append(f"# pod-4 received {got} of {len(TRANSFER)} bytes"
                               f"{' intact' if self.listener and self.listener.received == TRANSFER else ''}")
        return self


def build(seed: int = 1, capture: bool = True) -> FlannelPmtu:
    return FlannelPmtu(seed, capture)
