"""A Kubernetes Service on the flannel-vxlan cluster: kube-proxy's DNAT to the pods behind a
ClusterIP, the masquerade of a node's own connection, and the statistic rules spreading
connections over three endpoints.

The machines, subnets and pods of ``flannel-vxlan`` (node1 10.168.0.2 with pod-1
100.96.1.2 and pod-2 100.96.1.3, node2 10.168.0.3 with pod-4 100.96.2.2 and pod-3
100.96.2.3), flanneld run as kube-flannel runs it (``--ip-masq``, FORWARD accepts), and
kube-proxy in iptables mode on both nodes (``--cluster-cidr=100.96.0.0/16``).  Service
``default/web``, port ``http``, ClusterIP 10.96.0.10:80; nginx on pod-4, pod-3 and pod-2.

1. the Service has one endpoint, pod-4 (100.96.2.2:80).  pod-1 runs
   ``curl --local-port 46000 http://10.96.0.10/``: node1's PREROUTING jumps to
   KUBE-SERVICES, the ClusterIP rule to KUBE-SVC-CDGGSHYLG3RE2FKL (the source is in the
   cluster CIDR: no mark) and on to the endpoint's KUBE-SEP chain, whose DNAT rewrites the
   destination to 100.96.2.2:80 before routing: the SYN leaves node1 on flannel.1 from
   100.96.1.2:46000 to 100.96.2.2:80, and the replies are rewritten back to come from
   10.96.0.10:80;
2. node1 itself runs ``curl --local-port 47000 http://10.96.0.10/``: its OUTPUT chain does
   the same DNAT, but the source 10.168.0.2 is outside the cluster CIDR, so
   ``! -s 100.96.0.0/16 -j KUBE-MARK-MASQ`` marks the packet 0x4000, and KUBE-POSTROUTING
   masquerades it (``--random-fully``): it leaves flannel.1 from flannel.1's address
   100.96.1.0, from a port the seeded RNG picks;
3. the Service gets three endpoints (100.96.1.3, 100.96.2.2, 100.96.2.3, in the endpoint
   cache's string order), kube-proxy's partial sync rewrites the Service's chains with
   ``--probability 0.3333333333`` and ``0.5000000000``, and pod-1 connects ten times
   (source ports 46001 to 46010): the statistic match draws from the scenario's seeded
   RNG, and each connection lands on the endpoint its draw picked, pod-2's on node1 without
   leaving it.
"""
from emunet.apps.http import Curl, Nginx
from emunet.control.kube_proxy import Endpoint, EndpointPort, EndpointSlice, Service, ServicePort
from emunet.scenarios.flannel_udp import FlannelLab
from emunet.sim import MS, S

CLUSTER_IP = "10.96.0.10"
SERVICE = Service("default", "web", CLUSTER_IP, [ServicePort(80, name="http", target_port=80)])
URL = f"http://{CLUSTER_IP}/"
POD_PORT = 46000
NODE_PORT = 47000
SPREAD = 10


def web_slice(*ips) -> EndpointSlice:
    """The EndpointSlice of ``default/web`` with these pod addresses (port ``http`` 80)."""
    return EndpointSlice("default", "web", [Endpoint(ip) for ip in ips], [EndpointPort(80, "http")])


class K8sService(FlannelLab):
    backend = "vxlan"

    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("k8s-service", seed, capture)
        self.seed_pair("cni", "pod", ip_masq=True, iptables_forward_rules=True)
        c = self.cluster
        for node in (self.node1, self.node2):
            # kubeadm's prerequisite (br_netfilter loaded): bridged IPv4 meets iptables, so
            # pod-2's answer to pod-1 across cni0 is un-DNATed by conntrack like any other
            node.ns.set_sysctl("net.bridge.bridge-nf-call-iptables", 1)
        self.web = {p.ip: p.ns.spawn(Nginx()) for p in (self.pod4, self.pod3, self.pod2)}
        c.start_kube_proxy()
        c.apply_service(SERVICE)
        c.apply_endpoint_slice(web_slice(self.pod4.ip))
        self.hosts["kube-proxy-node1"] = self.node1.kube_proxy
        self.curl_pod = self.curl_node = None
        self.spread = []
        self.duration = 10.0

    def traffic(self) -> None:
        self.settle()
        self.sim.after(1 * S, self._pod_curl)
        self.sim.after(2 * S, self._node_curl)
        self.sim.after(3 * S, self._scale)
        for i in range(SPREAD):
            self.sim.after(4 * S + i * 500 * MS, self._spread_curl, POD_PORT + 1 + i)

    def _pod_curl(self) -> None:
        self.curl_pod = self.spawn(self.pod1.ns, Curl(URL, local_port=POD_PORT),
                                   self.prompt(f"curl -s --local-port {POD_PORT} {URL}"))

    def _node_curl(self) -> None:
        self.curl_node = self.spawn(self.node1.ns, Curl(URL, local_port=NODE_PORT),
                                    f"curl -s --local-port {NODE_PORT} {URL}   # on node1")

    def _scale(self) -> None:
        self.cluster.apply_endpoint_slice(web_slice(self.pod4.ip, self.pod3.ip, self.pod2.ip))

    def _spread_curl(self, port: int) -> None:
        self.spread.append(self.pod1.ns.spawn(Curl(URL, local_port=port)))

    def run(self) -> "K8sService":
        super().run()
        served = {ip: nginx.served for ip, nginx in self.web.items()}
        self.transcript.append(f"$ {self.prompt(f'curl -s --local-port N {URL}')}   # N = "
                               f"{POD_PORT + 1} .. {POD_PORT + SPREAD}")
        self.transcript.append(f"{sum(c.exit_code == 0 for c in self.spread)} of {SPREAD} answered; "
                               "requests served per pod: "
                               + ", ".join(f"{ip} {n}" for ip, n in sorted(served.items())))
        return self


def build(seed: int = 1, capture: bool = True) -> K8sService:
    return K8sService(seed, capture)
