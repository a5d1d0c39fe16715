"""flanneld's iptables rules (``network/iptables.go`` of flannel v0.14, the model's era).

* ``--ip-masq`` (:func:`masq_rules`): four rules appended to the nat table's POSTROUTING
  chain itself (the FLANNEL-POSTRTG chain came with v0.15):
  ``-s NET -d NET -j RETURN`` (pod to pod, across nodes too: no NAT),
  ``-s NET ! -d 224.0.0.0/4 -j MASQUERADE --random-fully`` (pods to the outside world),
  ``! -s NET -d SUBNET -j RETURN`` (outside traffic to this node's pods keeps its source),
  ``! -s NET -d NET -j MASQUERADE --random-fully`` (the host to another node's pods);
  ``--random-fully`` only when iptables has it (1.6.2 and later);
* ``--iptables-forward-rules`` (:func:`forward_rules`): filter FORWARD accepts anything
  from or to the flannel network (Docker ≥ 1.13 sets the FORWARD policy to DROP).

``SetupAndEnsureIPTables`` (:func:`ensure_iptables`) runs every ``--iptables-resync``
seconds: when one rule of the set is missing, the whole set is deleted and appended
again, in order, since the order matters.  Before the masquerade rules, ``recycleIPTables``
deletes the set written for the network and subnet the previous ``subnet.env`` named,
when both differ from the current ones (with no previous file, the set for 0.0.0.0/0).
"""
from emunet.stack.netfilter.libxtables import IptablesError

MULTICAST = "224.0.0.0/4"


def masq_rules(network: str, subnet: str, random_fully: bool = True) -> list:
    """``MasqRules``: (table, chain, rulespec) for the flannel ``network`` and this node's
    ``subnet`` (both as ``ip.IP4Net.String`` prints them)."""
    rf = ["--random-fully"] if random_fully else []
    return [
        ("nat", "POSTROUTING", ["-s", network, "-d", network, "-j", "RETURN"]),
        ("nat", "POSTROUTING", ["-s", network, "!", "-d", MULTICAST, "-j", "MASQUERADE", *rf]),
        ("nat", "POSTROUTING", ["!", "-s", network, "-d", subnet, "-j", "RETURN"]),
        ("nat", "POSTROUTING", ["!", "-s", network, "-d", network, "-j", "MASQUERADE", *rf]),
    ]


def forward_rules(network: str) -> list:
    """``ForwardRules``."""
    return [
        ("filter", "FORWARD", ["-s", network, "-j", "ACCEPT"]),
        ("filter", "FORWARD", ["-d", network, "-j", "ACCEPT"]),
    ]


def _run(ns, table: str, op: str, chain: str, rulespec: list) -> bool:
    """go-iptables' ``Exists`` / ``Delete`` / ``Append``: False when iptables says the rule
    is not there ("Bad rule (does a matching rule exist in that chain?)")."""
    try:
        ns.netfilter.iptables(["-t", table, op, chain, *rulespec])
    except IptablesError as e:
        if "does a matching rule exist" in str(e) or "No chain/target/match by that name" in str(e):
            return False
        raise
    return True


def rules_exist(ns, rules: list) -> bool:
    """``ipTablesRulesExist``: ``iptables -C`` for each."""
    return all(_run(ns, t, "-C", c, spec) for t, c, spec in rules)


def teardown_iptables(ns, rules: list, log) -> None:
    """``teardownIPTables``: delete each, a missing one being no error."""
    for t, c, spec in rules:
        log("iptables.go", "Deleting iptables rule: " + " ".join(spec))
        _run(ns, t, "-D", c, spec)


def setup_iptables(ns, rules: list, log) -> None:
    """``setupIPTables``: ``AppendUnique`` each (``-C``, then ``-A`` if absent)."""
    for t, c, spec in rules:
        log("iptables.go", "Adding iptables rule: " + " ".join(spec))
        if not _run(ns, t, "-C", c, spec):
            _run(ns, t, "-A", c, spec)


def ensure_iptables(ns, rules: list, log) -> None:
    """``ensureIPTables``: nothing when every rule is there, else all of them again."""
    if rules_exist(ns, rules):
        return
    log("iptables.go", "Some iptables rules are missing; deleting and recreating rules")
    teardown_iptables(ns, rules, log)
    setup_iptables(ns, rules, log)


__all__ = ["masq_rules", "forward_rules", "rules_exist", "ensure_iptables", "setup_iptables",
           "teardown_iptables", "MULTICAST"]
