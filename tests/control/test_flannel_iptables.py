"""flanneld's ``--ip-masq`` and ``--iptables-forward-rules`` (flannel v0.14's
``network/iptables.go``): the rule texts, their place in the tables, and the resync that
puts a removed rule back with its set, in order."""
from emunet import Simulator
from emunet.control.flannel.iptables import forward_rules, masq_rules
from emunet.topology import Cluster


def test_masq_rules_are_flannels():
    assert masq_rules("100.96.0.0/16", "100.96.1.0/24") == [
        ("nat", "POSTROUTING", ["-s", "100.96.0.0/16", "-d", "100.96.0.0/16", "-j", "RETURN"]),
        ("nat", "POSTROUTING", ["-s", "100.96.0.0/16", "!", "-d", "224.0.0.0/4", "-j", "MASQUERADE",
                                "--random-fully"]),
        ("nat", "POSTROUTING", ["!", "-s", "100.96.0.0/16", "-d", "100.96.1.0/24", "-j", "RETURN"]),
        ("nat", "POSTROUTING", ["!", "-s", "100.96.0.0/16", "-d", "100.96.0.0/16", "-j", "MASQUERADE",
                                "--random-fully"]),
    ]
    # an iptables older than 1.6.2: the same rules without --random-fully
    assert all("--random-fully" not in spec for _, _, spec in masq_rules("10.0.0.0/8", "10.0.1.0/24", False))
    assert forward_rules("100.96.0.0/16") == [("filter", "FORWARD", ["-s", "100.96.0.0/16", "-j", "ACCEPT"]),
                                              ("filter", "FORWARD", ["-d", "100.96.0.0/16", "-j", "ACCEPT"])]


def _cluster(**kw):
    sim = Simulator(seed=1)
    c = Cluster(sim, backend="vxlan", network="100.96.0.0/16", **kw)
    c.add_segment("lan0", "10.168.0.0/24", gateway="10.168.0.1")
    n1 = c.add_node("node1", "10.168.0.2", subnet="100.96.1.0/24")
    c.add_node("node2", "10.168.0.3", subnet="100.96.2.0/24")
    c.settle()
    return sim, c, n1


def test_ip_masq_appends_to_postrouting_and_writes_subnet_env():
    sim, c, n1 = _cluster(ip_masq=True)
    assert n1.ns.netfilter.iptables("-t nat -S POSTROUTING").splitlines() == [
        "-P POSTROUTING ACCEPT",
        "-A POSTROUTING -s 100.96.0.0/16 -d 100.96.0.0/16 -j RETURN",
        "-A POSTROUTING -s 100.96.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully",
        "-A POSTROUTING ! -s 100.96.0.0/16 -d 100.96.1.0/24 -j RETURN",
        "-A POSTROUTING ! -s 100.96.0.0/16 -d 100.96.0.0/16 -j MASQUERADE --random-fully",
    ]
    assert n1.flanneld.subnet_env["FLANNEL_IPMASQ"] == "true"
    log = [t for _, lvl, t in n1.flanneld.log if lvl == "I"]
    i = log.index("Setting up masking rules")
    # recycleIPTables first: no previous subnet.env, so the set for Go's zero IP4Net
    assert log[i - 5] == ("Current network or subnet (100.96.0.0/16, 100.96.1.0/24) is not equal to "
                          "previous one (0.0.0.0/0, 0.0.0.0/0), trying to recycle old iptables rules")
    assert log[i - 4] == "Deleting iptables rule: -s 0.0.0.0/0 -d 0.0.0.0/0 -j RETURN"
    assert log[i + 1] == "Some iptables rules are missing; deleting and recreating rules"
    # without --iptables-forward-rules the filter table is never touched
    assert "filter" not in n1.ns.netfilter.tables


def test_without_flags_flanneld_writes_no_rules():
    _, _, n1 = _cluster()
    assert not n1.ns.netfilter.tables and not n1.ns.netfilter.active


def test_a_removed_rule_comes_back_with_its_set_at_the_next_resync():
    sim, c, n1 = _cluster(ip_masq=True, iptables_forward_rules=True)
    ipt = n1.ns.netfilter.iptables
    before = ipt("-t nat -S POSTROUTING")
    ipt("-t nat -D POSTROUTING -s 100.96.0.0/16 -d 100.96.0.0/16 -j RETURN")
    ipt("-t nat -A POSTROUTING -d 192.0.2.1 -j RETURN")          # someone else's rule, appended last
    ipt("-D FORWARD -d 100.96.0.0/16 -j ACCEPT")
    n = len(n1.flanneld.log)
    sim.run(until=sim.time + 5.0)         # --iptables-resync 5
    after = ipt("-t nat -S POSTROUTING").splitlines()
    # the whole set deleted and appended again: after the other rule, in flannel's order
    assert after == ["-P POSTROUTING ACCEPT", "-A POSTROUTING -d 192.0.2.1/32 -j RETURN"] + before.splitlines()[1:]
    assert ipt("-S FORWARD").splitlines()[1:] == ["-A FORWARD -s 100.96.0.0/16 -j ACCEPT",
                                                  "-A FORWARD -d 100.96.0.0/16 -j ACCEPT"]
    assert [t for _, _, t in n1.flanneld.log[n:]].count("Some iptables rules are missing; deleting and "
                                                        "recreating rules") == 2
