"""``emunet show`` for netfilter: ``iptables -L/-S``, ``iptables-save`` and ``conntrack -L``
through the show command line; only the read-only forms are shows."""
import pytest

from emunet.observe.show.registry import run_command
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace


def _sim():
    sim = Simulator(seed=1)
    ns = Namespace(sim, "host")
    ns.netfilter.iptables_restore("*nat\n:DOCKER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n"
                                  "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n"
                                  "-A DOCKER -i docker0 -j RETURN\nCOMMIT\n")
    return sim, ns


def test_iptables_listings_are_the_models_iptables():
    sim, ns = _sim()
    assert run_command(sim, "host", "iptables -t nat -S") == ns.netfilter.iptables("-t nat -S")
    text = run_command(sim, "host", "iptables -t nat -L -n -v --line-numbers")
    assert text.startswith("Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)\n"
                           "num   pkts bytes target     prot opt in     out     source               destination")
    assert "Chain DOCKER (1 references)" in text
    assert run_command(sim, "host", "iptables-save -t nat").splitlines()[1:3] == ["*nat", ":PREROUTING ACCEPT [0:0]"]
    assert run_command(sim, "host", "iptables-save -t raw").splitlines()[1:5] == [
        "*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", "COMMIT"]
    assert "raw" not in ns.netfilter.tables


def test_a_show_never_changes_the_rules():
    sim, ns = _sim()
    before = ns.netfilter.iptables("-t nat -S")
    for command in ("iptables -t nat -F", "iptables -t nat -A DOCKER -j RETURN", "iptables -t nat -L -Z"):
        with pytest.raises(ValueError, match="unsupported show command"):
            run_command(sim, "host", command)
    assert ns.netfilter.iptables("-t nat -S") == before
    with pytest.raises(ValueError, match="chain `NOPE' in table `filter' is incompatible"):
        run_command(sim, "host", "iptables -L NOPE")


def test_conntrack_list_counts_the_entries_as_conntrack_tools_does():
    from emunet.apps.udp import UdpSender

    sim, ns = _sim()
    assert run_command(sim, "host", "conntrack -L") == \
        "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n"
    ns.netfilter.iptables("-A OUTPUT -m conntrack --ctstate NEW -j ACCEPT")
    ns.spawn(UdpSender("127.0.0.1", 53, b"x", sport=40000))
    sim.run(until=0.5)
    assert run_command(sim, "host", "conntrack -L") == (
        "udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=40000 dport=53 [UNREPLIED] "
        "src=127.0.0.1 dst=127.0.0.1 sport=53 dport=40000 mark=0 use=1\n"
        "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n")
