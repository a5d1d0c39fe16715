"""Felix's iptables rules (``felix/rules`` and ``felix/iptables`` of Calico v3.26.4): the
filter table's chains as Felix renders them for one node, and the ``iptables-restore``
and ``ipset restore`` input it writes.

What is rendered, with Felix's names, comments and rule hashes:

* the static chains: ``cali-FORWARD``, ``cali-INPUT``, ``cali-OUTPUT``,
  ``cali-wl-to-host``, the (empty) host endpoint dispatch chains and ``cali-cidr-block``,
  hooked from ``FORWARD``, ``INPUT`` and ``OUTPUT`` by inserted rules, and the two rules
  appended to ``FORWARD`` (``Policy explicitly accepted packet.``); with IPIP or VXLAN,
  the encapsulation rules and their ``cali40all-hosts-net``/``cali40all-vxlan-net`` sets;
* the workload dispatch chains ``cali-from-wl-dispatch``/``cali-to-wl-dispatch`` (with
  Felix's prefix tree of child chains when several interfaces share a next character);
* per local workload ``cali-tw-<iface>`` (to the workload: ingress policy) and
  ``cali-fw-<iface>`` (from it: egress policy): conntrack, the policies in order, ``Drop
  if no policies passed packet``, then the profiles ``kns.<ns>`` and ``ksa.<ns>.<sa>``;
* per active policy ``cali-pi-<name>``/``cali-po-<name>`` (hashed to ``cali-pi-_...`` when
  the name is too long, which a Kubernetes policy's always is), each rule rendered as
  ``ProtoRuleToIptablesRules`` does: the accept mark then RETURN, match blocks with the
  scratch marks for several ports splits and for an ipBlock's ``except``;
* per referenced profile ``cali-pri-<name>``/``cali-pro-<name>``.

Every rule carries ``-m comment --comment "cali:<hash>"``, the hash Felix computes
(``Chain.RuleHashes``: SHA-224 chained over the chain name and each rule's rendering).

The marks are Felix's defaults for ``IptablesMarkMask`` 0xffff0000: accept 0x10000,
pass 0x20000, scratch 0x40000 and 0x80000.  The configuration is calico.yaml's
(``DefaultEndpointToHostAction`` ACCEPT) and Felix's defaults otherwise (filter allow
ACCEPT, deny DROP, interface prefix ``cali``, no IPVS support, VXLAN port 4789).

Simplified: only the filter table (Felix's raw, mangle and nat chains are not
rendered); chains are written in name order (Felix's dirty-chain set has none); a chain
is programmed when it is reachable from the hooks (Felix's reference counts, which agree
here).
"""
import base64
import hashlib
import re

import attrs

__all__ = ["Rule", "Chain", "RuleRenderer", "rule_hashes", "length_limited_id", "policy_chain_name",
           "profile_chain_name", "endpoint_chain_name", "ipset_name", "comment_fragment", "render_chain",
           "reachable", "MARK_ACCEPT", "MARK_PASS",
           "MARK_SCRATCH0", "MARK_SCRATCH1", "FELIX_VERSION"]

FELIX_VERSION = "v3.26.4"
MARK_ACCEPT = 0x10000
MARK_PASS = 0x20000
MARK_SCRATCH0 = 0x40000
MARK_SCRATCH1 = 0x80000
ALL_CALICO_MARKS = MARK_ACCEPT | MARK_PASS | MARK_SCRATCH0 | MARK_SCRATCH1
MAX_CHAIN_NAME_LENGTH = 28
MAX_IPSET_NAME_LENGTH = 31
RULE_HASH_PREFIX = "cali:"
IFACE_PREFIX = "cali"
VXLAN_PORT = 4789
HASH_LENGTH = 16

CHAIN_FORWARD = "cali-FORWARD"
CHAIN_INPUT = "cali-INPUT"
CHAIN_OUTPUT = "cali-OUTPUT"
CHAIN_WL_TO_HOST = "cali-wl-to-host"
CHAIN_FROM_WL = "cali-from-wl-dispatch"
CHAIN_TO_WL = "cali-to-wl-dispatch"
CHAIN_FROM_HEP_FWD = "cali-from-hep-forward"
CHAIN_TO_HEP_FWD = "cali-to-hep-forward"
CHAIN_FROM_HEP = "cali-from-host-endpoint"
CHAIN_TO_HEP = "cali-to-host-endpoint"
CHAIN_CIDR_BLOCK = "cali-cidr-block"
IPSET_ALL_HOSTS = "all-hosts-net"
IPSET_ALL_VXLAN = "all-vxlan-net"


# -- names ----------------------------------------------------------------------------
def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def length_limited_id(prefix: str, suffix: str, max_length: int = MAX_CHAIN_NAME_LENGTH) -> str:
    """``hashutils.GetLengthLimitedID``: ``prefix + suffix``, or, when too long (or exactly
    full and starting with ``_``), ``prefix + "_"`` + SHA-256 of the suffix cut to fit."""
    total = len(prefix) + len(suffix)
    if total > max_length or (total == max_length and suffix[:1] == "_"):
        return prefix + "_" + _b64(hashlib.sha256(suffix.encode()).digest())[:max_length - 1 - len(prefix)]
    return prefix + suffix


def policy_chain_name(prefix: str, policy_name: str) -> str:
    """``PolicyChainName``: ``cali-pi-``/``cali-po-`` + the policy's name."""
    return length_limited_id(prefix, policy_name)


def profile_chain_name(prefix: str, profile_name: str) -> str:
    """``ProfileChainName``: ``cali-pri-``/``cali-pro-`` + the profile's name."""
    return length_limited_id(prefix, profile_name)


def endpoint_chain_name(prefix: str, iface: str) -> str:
    """``EndpointChainName``: ``cali-tw-``/``cali-fw-`` + the interface."""
    return length_limited_id(prefix, iface)


def ipset_name(set_id: str) -> str:
    """``IPVersionConfig.NameForMainIPSet``: ``cali40`` + the id, cut to 31 characters."""
    return ("cali40" + set_id)[:MAX_IPSET_NAME_LENGTH]


# -- rules (felix/iptables: Rule, MatchCriteria, actions) -------------------------------
_SHELL_UNSAFE = re.compile(r"[^0-9A-Za-z_ @%+=:,./-]")


def comment_fragment(text: str) -> str:
    return '-m comment --comment "' + _SHELL_UNSAFE.sub("_", text)[:256] + '"'


@attrs.frozen
class Rule:
    """A Felix ``iptables.Rule``: ``match`` (the match fragments, in Felix's order),
    ``action`` (the target fragment, or "" for none) and ``comment`` (comments)."""

    match: tuple = ()
    action: str = ""
    comment: tuple = ()

    def render(self, chain: str, prefix: str = "", op: str = "-A") -> str:
        """``renderInner``: ``-A CHAIN [prefix] [comments] [matches] [action]``."""
        frags = [op, chain]
        if prefix:
            frags.append(prefix)
        frags.extend(comment_fragment(c) for c in self.comment)
        if self.match:
            frags.append(" ".join(self.match))
        if self.action:
            frags.append(self.action)
        return " ".join(frags)

    @property
    def target(self):
        """The chain this rule jumps or goes to, or None."""
        words = self.action.split()
        if len(words) == 2 and words[0] in ("--jump", "--goto") and words[1].startswith("cali-"):
            return words[1]
        return None


@attrs.frozen
class Chain:
    name: str
    rules: tuple = ()


def rule_hashes(chain: str, rules) -> list:
    """``Chain.RuleHashes``: each hash chains SHA-224 of the previous one (the first of the
    chain's name) with the rule rendered as ``-A CHAIN HASH ...``."""
    h = hashlib.sha224(chain.encode()).digest()
    out = []
    for r in rules:
        h = hashlib.sha224(h + r.render(chain, "HASH").encode()).digest()
        out.append(_b64(h)[:HASH_LENGTH])
    return out


def render_chain(chain: Chain, chain_name_for_hash: str = None) -> list:
    """The ``-A`` lines Felix writes for a chain, each with its hash comment."""
    hashes = rule_hashes(chain_name_for_hash or chain.name, chain.rules)
    return [r.render(chain.name, comment_fragment(RULE_HASH_PREFIX + h)) for r, h in zip(chain.rules, hashes)]


# match fragments (match_builder.go)
def mark_clear(mark: int) -> str:
    return f"-m mark --mark 0/{mark:#x}"


def mark_set(mark: int) -> str:
    return f"-m mark --mark {mark:#x}/{mark:#x}"


def jump(chain: str) -> str:
    return f"--jump {chain}"


def goto(chain: str) -> str:
    return f"--goto {chain}"


def set_mark(mark: int) -> str:
    return f"--jump MARK --set-mark {mark:#x}/{mark:#x}"


def set_masked_mark(mark: int, mask: int) -> str:
    return f"--jump MARK --set-mark {mark:#x}/{mask:#x}"


def clear_mark(mark: int) -> str:
    return f"--jump MARK --set-mark 0/{mark:#x}"


ACCEPT, DROP, RETURN = "--jump ACCEPT", "--jump DROP", "--jump RETURN"


def _ports(ranges) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in ranges)


def split_port_list(ranges) -> list:
    """``SplitPortList``: groups of at most 15 multiport slots (a range takes two)."""
    splits, split, slots = [], [], 15
    for lo, hi in ranges:
        need = 1 if lo == hi else 2
        if slots < need:
            splits.append(split)
            split, slots = [], 15
        split.append((lo, hi))
        slots -= need
    if split:
        splits.append(split)
    return splits


# -- the renderer ------------------------------------------------------------------------
@attrs.frozen
class RuleRenderer:
    """``DefaultRuleRenderer`` for one node: ``ipip``/``vxlan`` say which encapsulation
    the pool uses (the INPUT/OUTPUT encapsulation rules and their sets)."""

    ipip: bool = False
    vxlan: bool = False

    # static chains (static.go)
    def static_filter_chains(self) -> list:
        fwd = Chain(CHAIN_FORWARD, (
            Rule(action=clear_mark(ALL_CALICO_MARKS & ~MARK_ACCEPT)),
            Rule((mark_clear(MARK_ACCEPT),), jump(CHAIN_FROM_HEP_FWD)),
            Rule((f"--in-interface {IFACE_PREFIX}+",), jump(CHAIN_FROM_WL)),
            Rule((f"--out-interface {IFACE_PREFIX}+",), jump(CHAIN_TO_WL)),
            Rule(action=jump(CHAIN_TO_HEP_FWD)),
            Rule(action=jump(CHAIN_CIDR_BLOCK)),
        ))
        inp = []
        if self.ipip:
            inp += [Rule(("-p 4", f"-m set --match-set {ipset_name(IPSET_ALL_HOSTS)} src",
                          "-m addrtype --dst-type LOCAL"), ACCEPT, ("Allow IPIP packets from Calico hosts",)),
                    Rule(("-p 4",), DROP, ("Drop IPIP packets from non-Calico hosts",))]
        if self.vxlan:
            inp += [Rule(("-p 17", f"-m multiport --destination-ports {VXLAN_PORT}",
                          f"-m set --match-set {ipset_name(IPSET_ALL_VXLAN)} src", "-m addrtype --dst-type LOCAL"),
                         ACCEPT, ("Allow IPv4 VXLAN packets from allowed hosts",)),
                    Rule(("-p 17", f"-m multiport --destination-ports {VXLAN_PORT}", "-m addrtype --dst-type LOCAL"),
                         DROP, ("Drop IPv4 VXLAN packets from non-allowed hosts",))]
        inp += [Rule((f"--in-interface {IFACE_PREFIX}+",), goto(CHAIN_WL_TO_HOST)),
                Rule((mark_set(MARK_ACCEPT),), ACCEPT),
                Rule(action=clear_mark(ALL_CALICO_MARKS)),
                Rule(action=jump(CHAIN_FROM_HEP)),
                Rule((mark_set(MARK_ACCEPT),), ACCEPT, ("Host endpoint policy accepted packet.",))]
        wl_to_host = Chain(CHAIN_WL_TO_HOST, (
            Rule(action=jump(CHAIN_FROM_WL)),
            Rule(action=ACCEPT, comment=("Configured DefaultEndpointToHostAction",)),
        ))
        out = [Rule((mark_set(MARK_ACCEPT),), ACCEPT),
               Rule((f"--out-interface {IFACE_PREFIX}+",), RETURN)]
        if self.ipip:
            out.append(Rule(("-p 4", f"-m set --match-set {ipset_name(IPSET_ALL_HOSTS)} dst",
                             "-m addrtype --src-type LOCAL"), ACCEPT, ("Allow IPIP packets to other Calico hosts",)))
        if self.vxlan:
            out.append(Rule(("-p 17", f"-m multiport --destination-ports {VXLAN_PORT}", "-m addrtype --src-type LOCAL",
                             f"-m set --match-set {ipset_name(IPSET_ALL_VXLAN)} dst"),
                            ACCEPT, ("Allow IPv4 VXLAN packets to other allowed hosts",)))
        out += [Rule(action=clear_mark(ALL_CALICO_MARKS)),
                Rule(("-m conntrack ! --ctstate DNAT",), jump(CHAIN_TO_HEP)),
                Rule((mark_set(MARK_ACCEPT),), ACCEPT, ("Host endpoint policy accepted packet.",))]
        empty = [Chain(n) for n in (CHAIN_FROM_HEP_FWD, CHAIN_TO_HEP_FWD, CHAIN_FROM_HEP, CHAIN_TO_HEP,
                                    CHAIN_CIDR_BLOCK)]
        return [fwd, Chain(CHAIN_INPUT, tuple(inp)), wl_to_host, Chain(CHAIN_OUTPUT, tuple(out)), *empty]

    @staticmethod
    def inserted_rules() -> dict:
        """The rules Felix inserts at the top of the built-in chains."""
        return {"FORWARD": [Rule(action=jump(CHAIN_FORWARD))], "INPUT": [Rule(action=jump(CHAIN_INPUT))],
                "OUTPUT": [Rule(action=jump(CHAIN_OUTPUT))]}

    @staticmethod
    def appended_rules() -> dict:
        """``StaticFilterForwardAppendRules``: appended to ``FORWARD``."""
        return {"FORWARD": [Rule((mark_set(MARK_ACCEPT),), ACCEPT, ("Policy explicitly accepted packet.",)),
                            Rule(action=set_mark(MARK_ACCEPT))]}

    # dispatch (dispatch.go)
    @staticmethod
    def workload_dispatch_chains(ifaces) -> list:
        """``WorkloadDispatchChains``: goto each endpoint's chain by interface, a child
        chain per next character shared by several interfaces, ``Unknown interface``
        dropped."""
        names = sorted(set(ifaces))
        common = _common_prefix(names)
        groups = {}
        for n in names:
            groups.setdefault(n[:len(common) + 1] if len(n) > len(common) else common, []).append(n)
        end = [Rule(action=DROP, comment=("Unknown interface",))]
        chains = []
        for root, pfx, flag in ((CHAIN_FROM_WL, "cali-fw-", "--in-interface"),
                                (CHAIN_TO_WL, "cali-tw-", "--out-interface")):
            root_rules, children = [], []
            for prefix, members in groups.items():
                if len(members) > 1:
                    child = f"{root}-{prefix[len(common):]}"
                    root_rules.append(Rule((f"{flag} {prefix}+",), goto(child)))
                    children.append(Chain(child, tuple(
                        [Rule((f"{flag} {m}",), goto(endpoint_chain_name(pfx, m))) for m in members] + end)))
                else:
                    root_rules.append(Rule((f"{flag} {members[0]}",), goto(endpoint_chain_name(pfx, members[0]))))
            chains += children + [Chain(root, tuple(root_rules + end))]
        return chains

    # endpoints (endpoints.go)
    @staticmethod
    def workload_endpoint_chains(iface: str, ingress_policies, egress_policies, profiles) -> list:
        """``WorkloadEndpointToIptablesChains``: ``cali-tw-`` (ingress policies, inbound
        profile chains) and ``cali-fw-`` (egress, with the encapsulation drops)."""
        def chain(prefix, policies, pol_pfx, prof_pfx, from_workload):
            rules = [Rule(("-m conntrack --ctstate RELATED,ESTABLISHED",), ACCEPT),
                     Rule(("-m conntrack --ctstate INVALID",), DROP),
                     Rule(action=clear_mark(MARK_ACCEPT))]
            if from_workload:       # AllowVXLANPacketsFromWorkloads/AllowIPIPPacketsFromWorkloads false
                rules += [Rule(("-p 17", f"-m multiport --destination-ports {VXLAN_PORT}"), DROP,
                               ("Drop VXLAN encapped packets originating in workloads",)),
                          Rule(("-p 4",), DROP, ("Drop IPinIP encapped packets originating in workloads",))]
            if policies:
                rules.append(Rule(action=clear_mark(MARK_PASS), comment=("Start of policies",)))
                for name in policies:
                    rules += [Rule((mark_clear(MARK_PASS),), jump(policy_chain_name(pol_pfx, name))),
                              Rule((mark_set(MARK_ACCEPT),), RETURN, ("Return if policy accepted",))]
                rules.append(Rule((mark_clear(MARK_PASS),), DROP, ("Drop if no policies passed packet",)))
            for p in profiles:
                rules += [Rule(action=jump(profile_chain_name(prof_pfx, p))),
                          Rule((mark_set(MARK_ACCEPT),), RETURN, ("Return if profile accepted",))]
            rules.append(Rule(action=DROP, comment=("Drop if no profiles matched",)))
            return Chain(endpoint_chain_name(prefix, iface), tuple(rules))
        return [chain("cali-tw-", ingress_policies, "cali-pi-", "cali-pri-", False),
                chain("cali-fw-", egress_policies, "cali-po-", "cali-pro-", True)]

    # policies and profiles (policy.go)
    def policy_chains(self, policy) -> list:
        """``PolicyToIptablesChains`` for a :class:`~emunet.control.calico.policy.FelixPolicy`."""
        return [Chain(policy_chain_name("cali-pi-", policy.name),
                      self.rules_to_iptables(policy.inbound, f"Policy {policy.name} ingress")),
                Chain(policy_chain_name("cali-po-", policy.name),
                      self.rules_to_iptables(policy.outbound, f"Policy {policy.name} egress"))]

    def profile_chains(self, name: str, inbound, outbound) -> list:
        """``ProfileToIptablesChains``."""
        return [Chain(profile_chain_name("cali-pri-", name),
                      self.rules_to_iptables(inbound, f"Profile {name} ingress")),
                Chain(profile_chain_name("cali-pro-", name),
                      self.rules_to_iptables(outbound, f"Profile {name} egress"))]

    def rules_to_iptables(self, rules, chain_comment: str) -> tuple:
        """``ProtoRulesToIptablesRules``: the first rule carries the chain's comment (an
        empty chain gets one rule that is only that comment)."""
        out = [r for rule in rules for r in self.rule_to_iptables(rule)]
        if not out:
            out = [Rule()]
        out[0] = attrs.evolve(out[0], comment=out[0].comment + (chain_comment,))
        return tuple(out)

    @staticmethod
    def rule_to_iptables(rule) -> list:
        """``ProtoRuleToIptablesRules`` for a :class:`~emunet.control.calico.policy.FelixRule`:
        the match blocks (several port splits; several CIDRs, or positive and negated ones
        together), the rule's own match, then the action (allow: the accept mark, then
        RETURN on it; deny: DROP)."""
        blocks = _MatchBlocks()
        src_net, not_src, dst_net, not_dst = (list(rule.src_net), list(rule.not_src_net),
                                              list(rule.dst_net), list(rule.not_dst_net))
        dst_ports = list(rule.dst_ports)
        splits = split_port_list(dst_ports)
        if len(splits) > 1:
            blocks.positive([("-p " + rule.protocol if rule.protocol else None,
                              f"-m multiport --destination-ports {_ports(s)}") for s in splits])
            dst_ports = []
        if len(src_net) > 1:
            blocks.positive([(None, f"--source {n}") for n in src_net])
            src_net = []
        if len(dst_net) > 1:
            blocks.positive([(None, f"--destination {n}") for n in dst_net])
            dst_net = []
        if len(src_net) + len(not_src) > 1:
            blocks.negated([f"--source {n}" for n in not_src])
            not_src = []
        if len(dst_net) + len(not_dst) > 1:
            blocks.negated([f"--destination {n}" for n in not_dst])
            not_dst = []
        # CalculateRuleMatch: positive criteria, then the negated ones
        match = []
        if rule.protocol:
            match.append(f"-p {rule.protocol}")
        match += [f"--source {n}" for n in src_net]
        match += [f"-m set --match-set {ipset_name(i)} src" for i in rule.src_ipset_ids]
        match += [f"--destination {n}" for n in dst_net]
        match += [f"-m set --match-set {ipset_name(i)} dst" for i in rule.dst_ipset_ids]
        if dst_ports:
            match.append(f"-m multiport --destination-ports {_ports(dst_ports)}")
        match += [f"! --source {n}" for n in not_src]
        match += [f"! --destination {n}" for n in not_dst]
        if blocks.used:
            match.append(mark_set(MARK_SCRATCH0))
        out = list(blocks.rules)
        if rule.action in ("allow", "pass", "next-tier"):
            mark = MARK_ACCEPT if rule.action == "allow" else MARK_PASS
            out += [Rule(tuple(match), set_mark(mark)), Rule((mark_set(mark),), RETURN)]
        elif rule.action == "deny":
            out.append(Rule(tuple(match), DROP))
        else:
            raise ValueError(f"rule action {rule.action!r} is not one of allow, deny, pass")
        return out


class _MatchBlocks:
    """``matchBlockBuilder``: blocks of rules that together compute one scratch bit
    (``0x40000``, all blocks passed) with the other (``0x80000``) as this block's."""

    def __init__(self):
        self.rules = []
        self.used = False
        self.done_first_positive = False

    def _initial(self, bits: int) -> None:
        if not self.used:
            self.rules.append(Rule(action=set_masked_mark(bits, MARK_SCRATCH0 | MARK_SCRATCH1)))
            self.used = True

    def positive(self, alternatives) -> None:
        self._initial(0)
        mark = MARK_SCRATCH0 if not self.done_first_positive else MARK_SCRATCH1
        for proto, m in alternatives:
            self.rules.append(Rule(tuple(x for x in (proto, m) if x), set_mark(mark)))
        if not self.done_first_positive:
            self.done_first_positive = True
        else:
            self.rules.append(Rule((mark_clear(MARK_SCRATCH1),), clear_mark(MARK_SCRATCH0)))

    def negated(self, matches) -> None:
        self._initial(MARK_SCRATCH0)
        for m in matches:
            self.rules.append(Rule((m,), clear_mark(MARK_SCRATCH0)))


def _common_prefix(names) -> str:
    if not names:
        return ""
    lo, hi = min(names), max(names)
    i = 0
    while i < len(lo) and i < len(hi) and lo[i] == hi[i]:
        i += 1
    return lo[:i]


def reachable(chains: dict, roots) -> list:
    """The names of the chains reachable from ``roots`` by jumps and gotos, sorted."""
    seen, todo = set(), [c for c in roots if c in chains]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(t for t in (r.target for r in chains[name].rules) if t and t in chains and t not in seen)
    return sorted(seen)
