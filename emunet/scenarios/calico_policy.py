"""Calico NetworkPolicy on the seed's BGP cluster: a default-deny ingress policy on the web
pod and an allow rule for the frontend, enforced by Felix's iptables chains.

The calico-bgp cluster (node1 192.168.0.2 with pod-1 10.20.0.2 and pod-2 10.20.0.3, node2
192.168.0.3 with pod-3 10.20.1.2 and pod-4 10.20.1.3, BIRD's mesh) with Felix's iptables
dataplane on.  pod-3 (``app: web``) runs nginx on port 80; pod-1 has ``role: frontend``,
pod-2 has no labels.  Two Kubernetes NetworkPolicies apply to pod-3 once BGP is up::

    default-deny-ingress   podSelector {app: web}, policyTypes [Ingress], no rules
    allow-frontend         podSelector {app: web}, ingress from podSelector {role: frontend},
                           ports TCP 80

kube-controllers writes them as ``knp.default.<name>``; Felix on node2 renders them as
``cali-pi-_<hash>`` chains jumped to, in name order, from ``cali-tw-<pod-3's cali
interface>``, and the frontend selector as the IP set ``cali40s:<hash>`` holding
10.20.0.2.  Then:

* pod-1 ``curl -s http://10.20.1.2/`` gets nginx's welcome page: its SYN matches
  ``allow-frontend``'s rule (the accept mark), the rest of the connection is
  ESTABLISHED in conntrack;
* a second later pod-2 ``timeout 5 curl -sS http://10.20.1.2/`` gets nothing: on node2
  neither policy accepts its SYN and ``Drop if no policies passed packet`` drops it
  (``NETFILTER_DROP``, the rule named in the drop), and the retransmissions 1 and 3 s
  later; ``timeout`` ends curl after 5 s (exit status 124, which kubectl reports).
"""
from emunet.apps.base import Process
from emunet.apps.http import Curl, Nginx
from emunet.control.calico.policy import (LabelSelector, NetworkPolicy, NetworkPolicyPeer,
                                          NetworkPolicyPort, NetworkPolicyRule)
from emunet.scenarios.calico_lab import CalicoLab
from emunet.sim import S

WEB = {"app": "web"}
FRONTEND = {"role": "frontend"}
DEFAULT_DENY = NetworkPolicy("default-deny-ingress", LabelSelector(WEB), policy_types=("Ingress",))
ALLOW_FRONTEND = NetworkPolicy(
    "allow-frontend", LabelSelector(WEB),
    ingress=(NetworkPolicyRule(peers=(NetworkPolicyPeer(pod_selector=LabelSelector(FRONTEND)),),
                               ports=(NetworkPolicyPort("TCP", 80),)),),
    policy_types=("Ingress",))
#: how long ``timeout`` lets the blocked curl wait
TIMEOUT = 5


class _Timeout(Process):
    """``timeout N CMD``: runs ``cmd`` in the same namespace, ends it after ``seconds``
    (status 124) and, as ``kubectl exec`` does for a failed command, says so."""

    name = "timeout"

    def __init__(self, seconds: int, cmd: Process):
        super().__init__()
        self.seconds = seconds
        self.cmd = cmd

    def start(self) -> None:
        self.ns.spawn(self.cmd)
        self.sim.after(self.seconds * S, self._expire)

    def _expire(self) -> None:
        if self.cmd.running:
            # SIGTERM: the process ends, and with it its socket (a SYN_SENT one just goes)
            sock = getattr(self.cmd, "sock", None)
            if sock is not None:
                sock.close()
            self.cmd.exit(124)
            self.stdout.extend(self.cmd.stdout)
            self.eprint("command terminated with exit code 124")
            self.exit(124)
        else:
            self.exit(self.cmd.exit_code)


class CalicoPolicy(CalicoLab):
    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("calico-policy", seed, capture, felix_iptables=True)
        self.seed_nodes({"pod-1": FRONTEND, "pod-3": WEB})
        self.server = self.pod3
        self.duration = 15.0
        self.nginx = self.allowed = self.blocked = None

    def settle(self) -> None:
        """BGP up, then the policies applied and programmed on every node."""
        if self._settled:
            return
        super().settle()
        for policy in (DEFAULT_DENY, ALLOW_FRONTEND):
            self.cluster.add_network_policy(policy)
        self.sim.run(until=self.sim.time + 0.1)

    def traffic(self) -> None:
        self.settle()
        self.nginx = self.pod3.spawn(Nginx())
        url = f"http://{self.pod3.ip}/"
        self.allowed = self.spawn(self.pod1.ns, Curl(url), f"kubectl exec pod-1 -- curl -s {url}")

        def blocked():
            self.blocked = self.spawn(self.pod2.ns, _Timeout(TIMEOUT, Curl(url, show_error=True)),
                                      f"kubectl exec pod-2 -- timeout {TIMEOUT} curl -sS {url}")
        self.sim.after(1 * S, blocked)


def build(seed: int = 1, capture: bool = True) -> CalicoPolicy:
    return CalicoPolicy(seed, capture)
