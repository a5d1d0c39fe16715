"""Netfilter in one namespace (``struct netns_ipv4``'s iptables tables, ``struct
netns_ct``): the tables, conntrack, and the hook functions the IPv4 path calls.

At each hook the functions run in the kernel's priority order (``nf_hook_entries``):

* PREROUTING: raw, conntrack (``nf_conntrack_in``), mangle, nat (destination);
* INPUT: mangle, filter, nat (source), conntrack confirm;
* FORWARD: mangle, filter;
* OUTPUT: raw, conntrack, mangle, nat (destination), filter;
* POSTROUTING: mangle, nat (source), conntrack confirm.

Conntrack is loaded, as the kernel loads it, while a rule needs it (a NAT target,
``-m conntrack``, ``-m state``).  A namespace with no table pays one attribute test per
hook (the kernel's static key): :attr:`Netfilter.active`.
"""
from emunet.stack.netfilter import br_netfilter, nat
from emunet.stack.netfilter.conntrack import IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY, Conntrack
from emunet.stack.netfilter.hooks import (HOOK_CHAINS, NF_ACCEPT, NF_INET_LOCAL_IN,
                                          NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING,
                                          NF_IP_PRI_CONNTRACK, NF_IP_PRI_CONNTRACK_CONFIRM,
                                          NF_IP_PRI_NAT_SRC, TABLES, hook_maniptype)
from emunet.stack.netfilter.ipset import ipset as ipset_command
from emunet.stack.netfilter.iptables import Iptables
from emunet.stack.netfilter.skb import NfPacket
from emunet.stack.netfilter.xtables import Table

#: the matches and targets whose rules need conntrack (``nf_ct_netns_get`` in their
#: ``checkentry``); a nat table holding only standard verdicts does not (FINDINGS §14)
_CT_MATCHES = ("conntrack", "state")
_CT_TARGETS = ("DNAT", "SNAT", "MASQUERADE")


class Netfilter:
    """One namespace's netfilter.

    ``tables``: table name -> :class:`~emunet.stack.netfilter.xtables.Table`, made with
    its built-in chains the first time anything asks for it (as the kernel registers a
    table in a namespace on first use).  ``ipsets``: set name -> set (``ipset``).
    ``conntrack``: the connection table, None until loaded.  ``active`` is the kernel's
    static key: False while no hook has a function, and the IPv4 path then skips them all."""

    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim
        self.tables = {}
        self.ipsets = {}
        self.conntrack = None
        #: frames a bridge passes up after br_netfilter ran PREROUTING on them -> their
        #: NfPacket (``ip_sabotage_in``: the IPv4 path does not run the hook again)
        self.bridged = {}
        self.active = False
        #: conntrack's hooks are registered, and ``nf_defrag_ipv4``'s with them: fragments
        #: are reassembled before PREROUTING's tables see them
        self.tracking = False
        #: hook -> the functions registered there, in priority order
        self.hooks = ([], [], [], [], [])

    def get_table(self, name: str):
        """The table ``name``, registered now if this is its first use."""
        t = self.tables.get(name)
        if t is None:
            if name not in TABLES:
                raise ValueError(f"can't initialize iptables table `{name}': Table does not exist "
                                 f"(do you need to insmod?)")
            t = self.tables[name] = Table.builtin(name)
            self.rules_changed()
        return t

    def needs_conntrack(self) -> bool:
        """Whether a rule loaded needs connection tracking: a NAT target, or a match on
        the connection's state."""
        for t in self.tables.values():
            for c in t.chains.values():
                for r in c.rules:
                    if (r.target is not None and r.target.name in _CT_TARGETS) or \
                            any(m.name in _CT_MATCHES for m in r.matches):
                        return True
        return False

    def rules_changed(self) -> None:
        """A table, chain, rule or policy changed: register the hook functions anew."""
        # conntrack's hooks stay while a rule needs them; its table outlives them, as the
        # module does
        tracked = self.needs_conntrack()
        if tracked and self.conntrack is None:
            self.conntrack = Conntrack(self.sim)
        entries = ([], [], [], [], [])
        for name, table in self.tables.items():
            hooks, prio = TABLES[name]
            for hook in hooks:
                chain = HOOK_CHAINS[hook]
                if name == "nat":
                    p = NF_IP_PRI_NAT_SRC if hook in (NF_INET_POST_ROUTING, NF_INET_LOCAL_IN) else prio
                    entries[hook].append((p, f"nat {chain}", self._nat_fn(table, hook, chain)))
                else:
                    entries[hook].append((prio, f"{name} {chain}", self._table_fn(table, chain)))
        ct = self.conntrack
        if tracked:
            for hook in (NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT):
                entries[hook].append((NF_IP_PRI_CONNTRACK, "conntrack", ct.conntrack_in))
            for hook in (NF_INET_POST_ROUTING, NF_INET_LOCAL_IN):
                entries[hook].append((NF_IP_PRI_CONNTRACK_CONFIRM, "conntrack confirm", self._confirm))
        for e in entries:
            e.sort(key=lambda x: x[0])
        self.hooks = tuple([(what, fn) for _, what, fn in e] for e in entries)
        self.active = any(self.hooks)
        self.tracking = tracked

    @staticmethod
    def _table_fn(table, chain: str):
        def fn(pkt):
            return table.do_table(pkt, chain)
        return fn

    @staticmethod
    def _nat_fn(table, hook: int, chain: str):
        """``nf_nat_ipv4_fn`` → ``nf_nat_inet_fn``: the nat table is asked only by a new
        connection's first packet (per kind of NAT); every packet then gets the binding."""
        maniptype = hook_maniptype(hook)

        def fn(pkt):
            ct = pkt.ct
            if ct is None:
                return NF_ACCEPT
            ctinfo = pkt.ctinfo
            if ctinfo in (IP_CT_RELATED, IP_CT_RELATED_REPLY) and pkt.proto == 1:
                return nat.nf_nat_icmp_reply_translation(pkt, hook)
            if ctinfo in (IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY) and \
                    not nat.nf_nat_initialized(ct, maniptype):
                verdict = table.do_table(pkt, chain)
                if verdict != NF_ACCEPT:
                    return verdict
                if not nat.nf_nat_initialized(ct, maniptype):
                    nat.nf_nat_alloc_null_binding(pkt, hook)
            return nat.nf_nat_packet(pkt, hook)
        return fn

    def _confirm(self, pkt) -> int:
        """``nf_conntrack_confirm``: the packet got through every hook; its new connection
        goes into the table."""
        ct = pkt.ct
        if ct is not None and not ct.confirmed and not self.conntrack.confirm(ct):
            pkt.why = "conntrack: the connection's tuple clashed with another's at confirm"
            return 0
        return NF_ACCEPT

    # -- what the IPv4 path calls -------------------------------------------------------
    def packet(self, data: bytes, pid: int, indev=None, outdev=None) -> NfPacket:
        """The :class:`NfPacket` for the IP packet ``data`` entering the hooks."""
        return NfPacket(self.ns, data, pid, 0, indev, outdev,
                        notes=[] if self.sim.observers else None)

    def nf_hook(self, hook: int, pkt: NfPacket, indev=None, outdev=None) -> int:
        """``nf_hook_slow``: run ``hook``'s functions on ``pkt`` until one does not accept;
        that verdict, or NF_ACCEPT."""
        pkt.hook = hook
        pkt.indev = indev
        pkt.outdev = outdev
        for _, fn in self.hooks[hook]:
            verdict = fn(pkt)
            if verdict != NF_ACCEPT:
                return verdict
        return NF_ACCEPT

    def bridge_hooks(self, bridge) -> bool:
        """Whether IPv4 frames ``bridge`` handles meet iptables (``br_netfilter`` loaded and
        ``net.bridge.bridge-nf-call-iptables=1``)."""
        return self.active and bool(self.ns.sysctl.get("net.bridge.bridge-nf-call-iptables"))

    def br_nf_pre_routing(self, bridge, port, frame):
        return br_netfilter.br_nf_pre_routing(self, bridge, port, frame)

    def br_nf_forward(self, bridge, inport, outport, frame, pkt):
        return br_netfilter.br_nf_forward(self, bridge, inport, outport, frame, pkt)

    def iptables(self, argv) -> str:
        """The ``iptables`` command in this namespace (a list of arguments, or a string
        split as a shell would); what it prints.  Refusals raise
        :class:`~emunet.stack.netfilter.libxtables.IptablesError` with iptables' own text."""
        return Iptables(self).run(argv)

    def iptables_restore(self, text: str, noflush: bool = False, counters: bool = False) -> None:
        """``iptables-restore [--noflush] [--counters]``: load a rule set, all of it or (on
        an error) none of it."""
        Iptables(self).restore(text, noflush=noflush, counters=counters)

    def iptables_save(self, counters: bool = False) -> str:
        """``iptables-save [-c]``."""
        return Iptables(self).save(counters=counters)

    def conntrack_list(self) -> str:
        """``conntrack -L``."""
        if self.conntrack is None:
            return "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n"
        return self.conntrack.listing()

    def ipset(self, argv, stdin: str = "") -> str:
        """``ipset ARGV`` (a list or a string) in this namespace; ``stdin`` feeds
        ``ipset restore``.  What the tool prints; its errors raise
        :class:`~emunet.stack.netfilter.ipset.IpsetError` (:mod:`~emunet.stack.netfilter.ipset`)."""
        return ipset_command(self, argv, stdin)


__all__ = ["Netfilter"]
