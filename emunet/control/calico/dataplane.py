"""What Felix's Linux dataplane (``felix/dataplane/linux``, ``felix/iptables/table.go``,
``felix/ipsets/ipsets.go``; Calico v3.26.4) writes to the kernel for policy: the
``ipset restore`` and ``iptables-restore --noflush`` input, with the order and the
incremental updates Felix uses.

:func:`desired_state` is the calculation graph's part (``calc``, ``policy_mgr``,
``endpoint_mgr``): from the endpoints, policies and profiles of the datastore, the chains
of one node (the policies that select a local workload, ordered by order then name, the
profiles the local workloads use) and the IP sets their rules name, each holding the
addresses of every workload in the cluster its selector matches.

:class:`FilterDataplane` programs that state into a namespace:

1. IP sets first (rules may only name existing sets): a new set is written whole, as
   ``writeFullRewrite`` does (create the main set if missing, fill a temporary
   ``cali4t<N>``, ``swap``, ``destroy`` the temporary); a changed set gets its deltas
   (``del ... --exist``, ``add``); the input ends with ``COMMIT``;
2. the filter table in one ``iptables-restore --noflush`` transaction, as Felix does in
   nftables mode: every new or changed chain declared (``:cali-X - -``, which flushes it)
   and rewritten whole, then Felix's rules inserted at the top of ``FORWARD``, ``INPUT``
   and ``OUTPUT`` and appended to ``FORWARD`` (once); chains no longer wanted are deleted
   in a second transaction;
3. sets no longer used are destroyed.

Each restore input is kept in :attr:`FilterDataplane.log` (what Felix's debug log shows).
"""
import attrs

from emunet.control.calico.rules import (IPSET_ALL_HOSTS, IPSET_ALL_VXLAN, RULE_HASH_PREFIX, RuleRenderer,
                                         comment_fragment, ipset_name, reachable,
                                         render_chain, rule_hashes)

__all__ = ["Endpoint", "Profile", "DesiredState", "desired_state", "FilterDataplane", "MAX_IPSET_SIZE"]

#: Felix's ``MaxIpsetSize``
MAX_IPSET_SIZE = 1048576
_HOOKS = ("FORWARD", "INPUT", "OUTPUT")


@attrs.frozen
class Endpoint:
    """A workload endpoint as Felix sees it: ``node``, ``iface`` (the host's ``cali``
    veth), ``ip``, ``labels`` (the pod's, with ``projectcalico.org/namespace`` and
    friends) and ``profiles``."""

    name: str
    node: str
    iface: str
    ip: str
    labels: tuple
    profiles: tuple

    @property
    def label_map(self) -> dict:
        return dict(self.labels)


@attrs.frozen
class Profile:
    """A profile (``kns.<namespace>``, ``ksa.<namespace>.<account>``): its inbound and
    outbound :class:`~emunet.control.calico.policy.FelixRule` rules."""

    name: str
    inbound: tuple = ()
    outbound: tuple = ()


@attrs.frozen
class DesiredState:
    """The node's ``chains`` (name -> :class:`~emunet.control.calico.rules.Chain`, the
    ones to program) and ``ipsets`` (name -> (type, sorted members))."""

    chains: dict
    ipsets: dict


def desired_state(node: str, renderer: RuleRenderer, endpoints, policies, profiles: dict,
                  host_ips=()) -> DesiredState:
    """The calculation graph for ``node``: ``endpoints`` of the whole cluster,
    ``policies`` (:class:`~emunet.control.calico.policy.FelixPolicy`), ``profiles`` by
    name, ``host_ips`` the cluster's node addresses (IPIP's and VXLAN's host sets)."""
    local = sorted((e for e in endpoints if e.node == node), key=lambda e: e.iface)
    ordered = sorted(policies, key=lambda p: (p.order, p.name))
    chains = {c.name: c for c in renderer.static_filter_chains()}
    chains.update((c.name, c) for c in renderer.workload_dispatch_chains(e.iface for e in local))
    active, used_profiles = {}, set()
    for e in local:
        labels = e.label_map
        mine = [p for p in ordered if p.selector.evaluate(labels)]
        ingress = [p.name for p in mine if p.governs("ingress")]
        egress = [p.name for p in mine if p.governs("egress")]
        active.update((p.name, p) for p in mine)
        used_profiles.update(e.profiles)
        chains.update((c.name, c) for c in renderer.workload_endpoint_chains(e.iface, ingress, egress, e.profiles))
    for p in active.values():
        chains.update((c.name, c) for c in renderer.policy_chains(p))
    for name in sorted(used_profiles):
        prof = profiles.get(name, Profile(name))
        chains.update((c.name, c) for c in renderer.profile_chains(name, prof.inbound, prof.outbound))
    roots = [r.target for rules in renderer.inserted_rules().values() for r in rules]
    chains = {n: chains[n] for n in reachable(chains, roots)}
    ipsets = {}
    for p in active.values():
        for set_id, sel in p.selectors:
            members = sorted({f"{e.ip}/32" for e in endpoints if sel.evaluate(e.label_map)},
                             key=_ip_key)
            ipsets[ipset_name(set_id)] = ("hash:net", members)
    hosts = sorted({f"{ip}/32" for ip in host_ips}, key=_ip_key)
    if renderer.ipip:
        ipsets[ipset_name(IPSET_ALL_HOSTS)] = ("hash:net", hosts)
    if renderer.vxlan:
        ipsets[ipset_name(IPSET_ALL_VXLAN)] = ("hash:net", hosts)
    return DesiredState(chains, ipsets)


def _ip_key(member: str):
    a, _, plen = member.partition("/")
    return (tuple(int(x) for x in a.split(".")), int(plen or 32))


class FilterDataplane:
    """Felix's ``iptables.Table`` (filter) and ``ipsets.IPSets`` for one namespace:
    what it has programmed (``chain_hashes``, ``set_members``) and how it gets to the
    next desired state (:meth:`apply`).  ``log`` holds each restore input written, as
    (program, text)."""

    def __init__(self, ns):
        self.ns = ns
        self.chain_hashes = {}
        self.set_members = {}
        self.hooked = False
        self.next_temp = 0
        self.log = []

    def apply(self, state: DesiredState, renderer: RuleRenderer) -> None:
        self._update_ipsets(state.ipsets)
        self._update_filter(state.chains, renderer)
        self._remove_ipsets(state.ipsets)

    # -- ipsets ------------------------------------------------------------------------
    def _run_ipset(self, lines: list) -> None:
        if not lines:
            return
        text = "".join(line + "\n" for line in lines) + "COMMIT\n"
        self.log.append(("ipset restore", text))
        self.ns.netfilter.ipset(["restore"], stdin=text)

    def _update_ipsets(self, wanted: dict) -> None:
        lines = []
        for name in sorted(wanted):
            typ, members = wanted[name]
            have = self.set_members.get(name)
            if have is None:       # writeFullRewrite
                temp = f"cali4t{self.next_temp}"
                self.next_temp += 1
                lines.append(f"create {name} {typ} family inet maxelem {MAX_IPSET_SIZE}")
                lines.append(f"create {temp} {typ} family inet maxelem {MAX_IPSET_SIZE}")
                lines.extend(f"add {temp} {m}" for m in members)
                lines.append(f"swap {name} {temp}")
                lines.append(f"destroy {temp}")
            else:                  # writeDeltas
                lines.extend(f"del {name} {m} --exist" for m in sorted(have - set(members), key=_ip_key))
                lines.extend(f"add {name} {m}" for m in members if m not in have)
            self.set_members[name] = set(members)
        self._run_ipset(lines)

    def _remove_ipsets(self, wanted: dict) -> None:
        for name in sorted(set(self.set_members) - set(wanted)):
            self.log.append(("ipset", f"destroy {name}\n"))
            self.ns.netfilter.ipset(["destroy", name])
            del self.set_members[name]

    # -- the filter table --------------------------------------------------------------
    def _update_filter(self, chains: dict, renderer: RuleRenderer) -> None:
        dirty = sorted(n for n, c in chains.items() if self.chain_hashes.get(n) != rule_hashes(n, c.rules))
        gone = sorted(set(self.chain_hashes) - set(chains))
        lines = [f":{n} - -" for n in dirty]
        for n in dirty:
            lines.extend(render_chain(chains[n]))
            self.chain_hashes[n] = rule_hashes(n, chains[n].rules)
        if not self.hooked:
            inserted, appended = renderer.inserted_rules(), renderer.appended_rules()
            for hook in _HOOKS:
                rules = inserted.get(hook, [])
                hashes = rule_hashes(hook, rules)
                for r, h in reversed(list(zip(rules, hashes))):   # each -I goes on top
                    lines.append(r.render(hook, comment_fragment(RULE_HASH_PREFIX + h), op="-I"))
                rules = appended.get(hook, [])
                hashes = rule_hashes(hook + "*appends*", rules)
                lines.extend(r.render(hook, comment_fragment(RULE_HASH_PREFIX + h)) for r, h in zip(rules, hashes))
            self.hooked = True
        if lines:
            text = "*filter\n" + "".join(line + "\n" for line in lines) + "COMMIT\n"
            self.log.append(("iptables-restore --noflush", text))
            self.ns.netfilter.iptables_restore(text, noflush=True)
        if gone:
            text = ("*filter\n" + "".join(f":{n} - -\n" for n in gone)
                    + "".join(f"-X {n}\n" for n in gone) + "COMMIT\n")
            self.log.append(("iptables-restore --noflush", text))
            self.ns.netfilter.iptables_restore(text, noflush=True)
            for n in gone:
                del self.chain_hashes[n]

