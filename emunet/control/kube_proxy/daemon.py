"""The kube-proxy process on a node: informers' events, the bounded-frequency sync, the
canary chains and the jump rules (``pkg/proxy/iptables/proxier.go``'s ``Proxier``)."""
from emunet.apps.base import Process
from emunet.control.kube_proxy.api import EndpointSlice, Service
from emunet.control.kube_proxy.proxier import (CANARY_TABLES, JUMP_CHAINS, KUBE_PROXY_CANARY, ProxierConfig,
                                              masquerade_mark, nat_chains_of, sync_proxy_rules)
from emunet.sim import S
from emunet.stack.netfilter.libxtables import IptablesError

# -- the daemon ----------------------------------------------------------------
class KubeProxy(Process):
    """``kube-proxy --proxy-mode=iptables`` on one node.

    ``services`` and ``slices`` are what its informers hold (``(namespace, name)`` ->
    Service, and -> a list of EndpointSlices); the ``on_*`` methods are the informers'
    events.  A change asks for a sync (``Sync``); the ``BoundedFrequencyRunner`` runs it at
    once while it has a token (two, one back every ``min_sync_period_ns``, 1 s by default),
    else when the next token comes.  ``restores`` keeps every iptables-restore text it wrote
    (time, text); ``log`` what it logged."""

    name = "kube-proxy"

    def __init__(self, hostname: str, node_ip: str, cluster_cidr: str = None, masquerade_all: bool = False,
                 masquerade_bit: int = 14, localhost_nodeports: bool = True, random_fully: bool = True,
                 min_sync_period_ns: int = 1 * S, sync_period_ns: int = 30 * S, burst_syncs: int = 2):
        super().__init__()
        self.config = ProxierConfig(hostname, node_ip, cluster_cidr, masquerade_all, masquerade_mark(masquerade_bit),
                                    localhost_nodeports, (), random_fully)
        self.min_sync_period_ns = min_sync_period_ns
        self.sync_period_ns = sync_period_ns
        self.burst_syncs = burst_syncs
        self.services = {}
        self.slices = {}
        self.restores = []
        self.log = []
        self.need_full_sync = True
        self._changed = set()
        self._credit = burst_syncs * min_sync_period_ns
        self._credit_at = 0
        self._pending = None
        self._timers = []

    def _info(self, text: str) -> None:
        self.log.append((self.sim.now, text))

    def _ipt(self, argv: list) -> str:
        return self.ns.netfilter.iptables(argv)

    # -- start and the canary monitor (utiliptables.Monitor) --------------------
    def start(self) -> None:
        if self.config.localhost_nodeports:
            # NodePorts on 127.0.0.1 need route_localnet (and KUBE-FIREWALL guards it)
            self.ns.set_sysctl("net.ipv4.conf.all.route_localnet", 1)
        self._credit_at = self.sim.now
        self._ensure_canaries()
        self._info("Iptables supports --random-fully" if self.config.random_fully
                   else "Iptables does not support --random-fully")
        # OnServiceSynced and OnEndpointSlicesSynced: the second one syncs, unconditionally
        self.sync_proxy_rules()
        self._timers.append(self.sim.after(self.sync_period_ns, self._monitor))

    def _ensure_chain(self, table: str, chain: str) -> None:
        """``EnsureChain``: ``iptables -N``, an existing chain being no error."""
        if chain not in self._chains(table):
            self._ipt(["-t", table, "-N", chain])

    def _chains(self, table: str) -> set:
        save = self.ns.netfilter.iptables_save()
        chains, current = set(), None
        for line in save.splitlines():
            if line.startswith("*"):
                current = line[1:].strip()
            elif line.startswith(":") and current == table:
                chains.add(line[1:].split(None, 1)[0])
        return chains

    def _ensure_canaries(self) -> None:
        for table in CANARY_TABLES:
            self._ensure_chain(table, KUBE_PROXY_CANARY)

    def _monitor(self) -> None:
        """A missing canary means iptables was flushed: delete the rest, resync in full,
        make them again."""
        if not self.running:
            return
        if any(KUBE_PROXY_CANARY not in self._chains(t) for t in CANARY_TABLES):
            self._info("iptables canary chain deleted: forcing a full sync")
            for table in CANARY_TABLES:
                if KUBE_PROXY_CANARY in self._chains(table):
                    self._ipt(["-t", table, "-X", KUBE_PROXY_CANARY])
            self.need_full_sync = True
            self.sync_proxy_rules()
            self._ensure_canaries()
        self._timers.append(self.sim.after(self.sync_period_ns, self._monitor))

    # -- informer events --------------------------------------------------------
    def on_service_update(self, service: Service) -> None:
        """``OnServiceAdd`` / ``OnServiceUpdate``."""
        key = (service.namespace, service.name)
        if self.services.get(key) != service:
            self.services[key] = service
            self._changed.add(key)
            self.sync()

    def on_service_delete(self, namespace: str, name: str) -> None:
        if self.services.pop((namespace, name), None) is not None:
            self._changed.add((namespace, name))
            self.sync()

    def on_endpoint_slice_update(self, slice_: EndpointSlice) -> None:
        """``OnEndpointSliceAdd`` / ``Update``: one slice per service here (it replaces the
        service's endpoints)."""
        key = (slice_.namespace, slice_.service)
        if self.slices.get(key) != [slice_]:
            self.slices[key] = [slice_]
            self._changed.add(key)
            self.sync()

    def on_endpoint_slice_delete(self, namespace: str, service: str) -> None:
        if self.slices.pop((namespace, service), None) is not None:
            self._changed.add((namespace, service))
            self.sync()

    # -- the sync runner (async.BoundedFrequencyRunner) ---------------------------
    def sync(self) -> None:
        """``Sync``: run now if the token bucket (``burst_syncs`` tokens, one back every
        ``min_sync_period_ns``) has a token, else when it has one again."""
        if self._pending is not None or not self.running:
            return
        now = self.sim.now
        cap = self.burst_syncs * self.min_sync_period_ns
        self._credit = min(cap, self._credit + now - self._credit_at)
        self._credit_at = now
        wait = max(0, self.min_sync_period_ns - self._credit)
        self._pending = self.sim.after(wait, self._run)

    def _run(self) -> None:
        now = self.sim.now
        cap = self.burst_syncs * self.min_sync_period_ns
        self._credit = min(cap, self._credit + now - self._credit_at) - self.min_sync_period_ns
        self._credit_at = now
        self._pending = None
        if self.running:
            self.sync_proxy_rules()

    def sync_proxy_rules(self) -> str:
        """One ``syncProxyRules``: the jump rules on a full sync, then the restore.
        Returns the text restored."""
        full = self.need_full_sync
        if full:
            for table, dst, src, comment, extra in JUMP_CHAINS:
                self._ensure_chain(table, dst)
                rule = list(extra) + (["-m", "comment", "--comment", comment] if comment else []) + ["-j", dst]
                try:
                    self._ipt(["-t", table, "-C", src] + rule)
                except IptablesError:   # iptables -C: "Bad rule (does a matching rule exist in that chain?)"
                    self._ipt(["-t", table, "-I", src] + rule)
        existing = nat_chains_of(self.ns.netfilter.iptables_save())
        text, _active = sync_proxy_rules(self.config, self.services.values(),
                                         [s for v in self.slices.values() for s in v], existing,
                                         changed=None if full else set(self._changed))
        self.ns.netfilter.iptables_restore(text, noflush=True)
        self.restores.append((self.sim.now, text))
        self._changed.clear()
        self.need_full_sync = False
        self._info("SyncProxyRules complete")
        return text

    def stop(self) -> None:
        """kube-proxy exits; its rules stay in the kernel."""
        for t in self._timers:
            t.cancel()
        if self._pending is not None:
            self._pending.cancel()
        self.exit(0)


__all__ = ["KubeProxy"]
