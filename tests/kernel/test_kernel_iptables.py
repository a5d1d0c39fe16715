"""emunet's iptables against the real one (iptables 1.8 with the nf_tables backend) in a
scratch network namespace: the same rule sets loaded with ``iptables-restore`` print the
same ``iptables-save``, ``iptables -S`` and ``iptables -L -n -v [-x] [--line-numbers]``,
byte for byte, and bad input is refused with the same text and exit status."""
import shutil

import pytest

from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.stack.netfilter.iptables import Iptables
from emunet.stack.netfilter.xtables import IptablesError
from tests.kernel.harness import Topology, run

DOCKER = """\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.7/32 -d 172.17.0.7/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.7:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.7/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
"""

KUBE = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m comment --comment "default/none:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]
:KUBE-SEP-BBBBBBBBBBBBBBBB - [0:0]
:KUBE-SEP-CCCCCCCCCCCCCCCC - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-XXXXXXXXXXXXXXXX - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j KUBE-SVC-XXXXXXXXXXXXXXXX
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-AAAAAAAAAAAAAAAA -s 100.96.2.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-AAAAAAAAAAAAAAAA -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 100.96.2.2:80
-A KUBE-SEP-BBBBBBBBBBBBBBBB -s 100.96.2.3/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-BBBBBBBBBBBBBBBB -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 100.96.2.3:80
-A KUBE-SEP-CCCCCCCCCCCCCCCC -s 100.96.2.4/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-CCCCCCCCCCCCCCCC -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 100.96.2.4:80
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-XXXXXXXXXXXXXXXX
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-XXXXXXXXXXXXXXXX ! -s 100.96.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-XXXXXXXXXXXXXXXX -m comment --comment "default/web:http -> 100.96.2.2:80" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-AAAAAAAAAAAAAAAA
-A KUBE-SVC-XXXXXXXXXXXXXXXX -m comment --comment "default/web:http -> 100.96.2.3:80" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-BBBBBBBBBBBBBBBB
-A KUBE-SVC-XXXXXXXXXXXXXXXX -m comment --comment "default/web:http -> 100.96.2.4:80" -j KUBE-SEP-CCCCCCCCCCCCCCCC
COMMIT
"""

#: user chains, gotos and returns, and every match and target option emunet knows
MISC = """\
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:MARKS - [0:0]
-A PREROUTING -i eth+ -j MARKS
-A MARKS -j MARK --set-mark 0x10
-A MARKS -j MARK --set-mark 0x1/0xff
-A MARKS -j MARK --and-mark 0xfff0
-A MARKS -j MARK --or-mark 0x20
-A MARKS -j MARK --xor-mark 0x3
-A MARKS -j MARK --set-xmark 0x5/0xf
-A MARKS -m mark --mark 0x10/0xf0 -j RETURN
-A MARKS -m mark ! --mark 0x7 -j ACCEPT
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
:C - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m state ! --state INVALID -j A
-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m multiport --dports 22,80,8000:8080 -j ACCEPT
-A INPUT -p tcp -m tcp --syn -j B
-A INPUT -p tcp -m tcp ! --sport 1024:65535 ! --dport 6000:6063 -j REJECT --reject-with tcp-reset
-A INPUT -p udp -m udp --sport 53 -m multiport --sports 1,2,3 -j ACCEPT
-A INPUT -p udp -m multiport ! --ports 5000:5100,6000 -j DROP
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 3/4 -j ACCEPT
-A INPUT -p icmp -m icmp ! --icmp-type any -j DROP
-A INPUT -p icmp -m icmp --icmp-type 11 -j LOG --log-prefix "ttl " --log-level 6 --log-tcp-sequence --log-ip-options
-A INPUT -f -j DROP
-A INPUT ! -f -p 47 -j ACCEPT
-A INPUT -s 10.0.0.0/255.0.255.0 -d 192.168.1.0/24 -j C
-A INPUT -m addrtype --src-type LOCAL,BROADCAST ! --dst-type UNICAST --limit-iface-in -j C
-A INPUT -m addrtype ! --src-type MULTICAST -j C
-A INPUT -m conntrack --ctstate NEW,UNTRACKED,SNAT --ctproto 6 --ctorigsrc 10.0.0.0/8 --ctorigdst 10.1.2.3 --ctorigdstport 80 -j ACCEPT
-A INPUT -m conntrack ! --ctrepldst 10.9.9.9/32 --ctreplsrcport 1000:2000 --ctstatus ASSURED,SEEN_REPLY --ctdir REPLY -j ACCEPT
-A INPUT -m statistic --mode nth --every 3 --packet 1 -j ACCEPT
-A INPUT -m statistic --mode nth --every 5 --packet 0 -j ACCEPT
-A INPUT -m statistic --mode random ! --probability 0.25 -j ACCEPT
-A INPUT -m physdev --physdev-in veth+ --physdev-is-bridged -j ACCEPT
-A INPUT -m physdev ! --physdev-is-in -j ACCEPT
-A INPUT -m comment --comment "quote \\" back\\\\slash 'single'" -j ACCEPT
-A INPUT -m comment --comment plain_comment-1 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-net-unreachable
-A INPUT -j REJECT --reject-with icmp-host-unreachable
-A INPUT -j REJECT --reject-with icmp-proto-unreachable
-A INPUT -j REJECT --reject-with icmp-net-prohibited
-A INPUT -j REJECT --reject-with icmp-admin-prohibited
-A INPUT -j LOG
-A FORWARD -m physdev --physdev-out veth0 --physdev-is-bridged -j ACCEPT
-A FORWARD -j A
-A A -g B
-A A -p tcp -j C
-A A -j RETURN
-A B -o veth1 -j RETURN
-A B ! -i veth+ -j DROP
-A C -p udp -m udp --dport 53 -j ACCEPT
-A C -p gre -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.0.1-10.0.0.3:5353-5355 --random --persistent
-A PREROUTING -p tcp -j DNAT --to-destination :8080
-A PREROUTING -d 1.2.3.4/32 -j DNAT --to-destination 10.0.0.9
-A INPUT -p tcp -j SNAT --to-source 10.0.0.2:1000-2000 --random-fully
-A OUTPUT -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.5:8080
-A POSTROUTING -o eth0 -j SNAT --to-source 10.0.0.2-10.0.0.4 --persistent
-A POSTROUTING -p tcp -j MASQUERADE --to-ports 1024-2048 --random
-A POSTROUTING -p udp -j MASQUERADE --to-ports 3000
COMMIT
"""

RULESETS = {"docker": DOCKER, "kube": KUBE, "misc": MISC}

#: the show commands compared for every rule set
SHOWS = [["iptables", "-S"], ["iptables", "-t", "nat", "-S"], ["iptables", "-t", "mangle", "-S"],
         ["iptables", "-L", "-n", "-v"], ["iptables", "-t", "nat", "-L", "-n", "-v"],
         ["iptables", "-t", "mangle", "-L", "-n", "-v"],
         ["iptables", "-L", "-n", "-v", "-x", "--line-numbers"],
         ["iptables", "-t", "nat", "-L", "-n", "-v", "-x", "--line-numbers"],
         ["iptables", "-L", "-n"], ["iptables", "-t", "nat", "-L", "-n", "--line-numbers"],
         ["iptables", "-S", "-v"], ["iptables", "-L", "INPUT", "-n"], ["iptables", "-S", "INPUT", "2"],
         ["iptables", "-L", "INPUT", "3", "-n", "-v"]]


@pytest.fixture(scope="module")
def real(netns):
    """A namespace with the real iptables, or a skip naming what is missing."""
    missing = [t for t in ("iptables", "iptables-restore", "iptables-save") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"iptables comparison skipped: {', '.join(missing)} not installed")
    version = run(["iptables", "--version"]).stdout
    if "v1.8" not in version or "nf_tables" not in version:
        pytest.skip(f"iptables comparison needs iptables 1.8 (nf_tables); this is {version.strip()}")
    with Topology("ipt") as t:
        yield t, t.netns("fw")


def _ours():
    return Iptables(Namespace(Simulator(seed=1), "fw").netfilter)


def _real_reset(t, ns):
    for table in ("filter", "nat", "mangle", "raw"):
        t.exec(ns, "iptables", "-t", table, "-F")
        t.exec(ns, "iptables", "-t", table, "-X")
        for chain in ("INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"):
            t.exec(ns, "iptables", "-t", table, "-P", chain, "ACCEPT", check=False)
    t.exec(ns, "iptables-restore", check=False)   # nothing: keeps the tables (empty input)


def _real_save(t, ns, *args) -> str:
    out = t.exec(ns, "iptables-save", *args).stdout
    return "".join(line for line in out.splitlines(keepends=True) if not line.startswith("#"))


def _our_save(ipt, **kw) -> str:
    return "".join(line for line in ipt.save(**kw).splitlines(keepends=True) if not line.startswith("#"))


@pytest.mark.parametrize("name", sorted(RULESETS))
def test_restore_then_show_is_what_iptables_prints(real, name):
    t, ns = real
    text = RULESETS[name]
    p = run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, check=False)
    assert p.returncode == 0, p.stderr
    ours = _ours()
    ours.restore(text)
    try:
        assert _our_save(ours) == _real_save(t, ns)
        for argv in SHOWS:
            want = t.exec(ns, *argv).stdout
            assert ours.run(argv) == want, " ".join(argv)
    finally:
        run(["ip", "netns", "exec", ns, "sh", "-c",
             "for t in filter nat mangle; do iptables -t $t -F; iptables -t $t -X; done; "
             "iptables -P INPUT ACCEPT; iptables -P FORWARD ACCEPT"])


def test_save_with_counters_and_restore_with_counters(real):
    t, ns = real
    text = ("*filter\n:INPUT ACCEPT [5:300]\n:FORWARD DROP [7:700]\n:OUTPUT ACCEPT [0:0]\n:X - [0:0]\n"
            "[3:180] -A INPUT -s 10.0.0.1/32 -j X\n[12345678:9876543210] -A FORWARD -j ACCEPT\n"
            "[1:2] -A X -j RETURN\nCOMMIT\n")
    run(["ip", "netns", "exec", ns, "iptables-restore", "-c"], input=text)
    ours = _ours()
    ours.restore(text, counters=True)
    try:
        assert _our_save(ours, counters=True, table="filter") == _real_save(t, ns, "-c", "-t", "filter")
        for argv in (["iptables", "-L", "-n", "-v"], ["iptables", "-L", "-n", "-v", "-x"],
                     ["iptables", "-S", "-v"]):
            assert ours.run(argv) == t.exec(ns, *argv).stdout, " ".join(argv)
    finally:
        run(["ip", "netns", "exec", ns, "sh", "-c", "iptables -F; iptables -X; iptables -P FORWARD ACCEPT; "
             "iptables -Z"])


#: command lines refused (each run on the DOCKER rules)
BAD_COMMANDS = [
    "-A FORWARD -j FOO", "-A FORWARD -m foo -j ACCEPT", "-A FORWARD -s 1.2.3.400 -j ACCEPT",
    "-A FORWARD -s 1.2.3.4/33 -j ACCEPT", "-A FORWARD -p tcp --dport 99999 -j ACCEPT",
    "-A FORWARD -p tcp --dport abc -j ACCEPT", "-A FORWARD --dport 80 -j ACCEPT",
    "-t nat -N DOCKER", "-X DOCKER", "-t nat -X DOCKER", "-A NOPE -j ACCEPT", "-t foo -L",
    "-A FORWARD -j DNAT --to-destination 1.2.3.4", "-t nat -A POSTROUTING -j DNAT --to-destination 1.2.3.4",
    "-t nat -A PREROUTING -j SNAT --to-source 1.2.3.4", "-t nat -A PREROUTING -j MASQUERADE",
    "-t nat -A OUTPUT -j REJECT", "-D FORWARD 99", "-D FORWARD -s 9.9.9.9 -j ACCEPT", "-P DOCKER ACCEPT",
    "-P FORWARD FOO", "-E DOCKER-USER DOCKER", "-F NOPE", "-N INPUT", "-p foo -A FORWARD",
    "-A FORWARD -p tcp -m multiport --dports 1,2 --dports 3 -j ACCEPT", "-A DOCKER-USER -j DOCKER-ISOLATION-STAGE-1",
    "-A DOCKER-ISOLATION-STAGE-2 -j FORWARD", "-X FORWARD", "-X NOPE", "-E NOPE Q", "-R FORWARD 9 -j ACCEPT",
    "-I FORWARD 99 -j ACCEPT", "-C FORWARD -j DROP", "-Z NOPE", "-L NOPE", "-S NOPE",
    "-A FORWARD -j RETURN -j ACCEPT", "-A FORWARD -s 1.2.3.4 -s 1.2.3.5", "-A FORWARD -p tcp --syn --tcp-flags SYN SYN",
    "-A FORWARD -m statistic --mode random", "-A FORWARD -m statistic --mode random --probability 2",
    "-A FORWARD -m statistic --mode foo", "-A FORWARD -m mark --mark foo", "-A FORWARD -j MARK",
    "-A FORWARD -j MARK --set-mark 1 --or-mark 2", "-A FORWARD -j LOG --log-level foo",
    "-A FORWARD -j REJECT --reject-with foo", "-t nat -A PREROUTING -j DNAT --to-destination 1.2.3.4:80",
    "-t nat -A PREROUTING -j DNAT", "-A FORWARD -m set --match-set foo src", "-A FORWARD -m conntrack --ctstate FOO",
    "-A FORWARD -m conntrack", "-A FORWARD -m comment", "-A FORWARD -m addrtype --src-type FOO",
    "-A FORWARD -i eth0 -i eth1", "-A", "-A FORWARD extra", "-A OUTPUT -i eth0", "-A INPUT -o eth0",
    "-A FORWARD -i thisnameislongerthan15", "-A FORWARD -j REJECT --reject-with tcp-reset",
    "-A FORWARD ! -p tcp -m tcp --dport 80", "-A FORWARD -m tcp --dport 80", "-t nat -A POSTROUTING -j DROP",
    "-A FORWARD ! -j ACCEPT", "-A FORWARD ! ! -s 1.2.3.4", "-A FORWARD !", "-N ACCEPT", "-N DNAT",
    "-N thisnameiswaytoolongforachainname", "-L -A FORWARD", "-A FORWARD -p udp -m multiport --dports 1:2:3",
    "-A FORWARD -m statistic --mode nth --every 3 --packet 3", "-A FORWARD -p icmp --icmp-type foo",
    "-A FORWARD -m conntrack --ctstate NEW,FOO", "-A FORWARD -m statistic --mode nth --every 5", "-A FORWARD -m addrtype --dst-type LOCAL,FOO",
]


@pytest.mark.parametrize("cmd", BAD_COMMANDS)
def test_refused_commands_print_iptables_texts(real, cmd):
    t, ns = real
    run(["ip", "netns", "exec", ns, "iptables-restore"], input=DOCKER)
    want = t.exec(ns, "iptables", *cmd.split(), check=False)
    ours = _ours()
    ours.restore(DOCKER)
    before = ours.save()
    try:
        ours.run(["iptables"] + cmd.split())
    except IptablesError as e:
        got = (e.message + "\n", e.status)
    else:
        got = ("", 0)
    try:
        assert got == (want.stderr, want.returncode)
        assert ours.save() == before or want.returncode == 0
        if want.returncode == 0:
            for table in ("filter", "nat"):
                assert _our_save(ours, table=table) == _real_save(t, ns, "-t", table)
    finally:
        run(["ip", "netns", "exec", ns, "sh", "-c",
             "for t in filter nat; do iptables -t $t -F; iptables -t $t -X; done; iptables -P FORWARD ACCEPT"])


#: iptables-restore inputs refused
BAD_RESTORES = [
    "*filter\n-A FORWARD -j FOO\nCOMMIT\n",
    "*filter\n:X - [0:0]\n-A FORWARD -m foo -j ACCEPT\nCOMMIT\n",
    "*filter\n-A FORWARD -s 1.2.3.400 -j ACCEPT\nCOMMIT\n",
    "*filter\n-A NOPE -j ACCEPT\nCOMMIT\n",
    "*filter\n:X - [0:0]\n:Y - [0:0]\n-A X -j Y\n-A Y -j X\n-A FORWARD -j X\nCOMMIT\n",
    "*nat\n-A POSTROUTING -j DNAT --to-destination 1.2.3.4\nCOMMIT\n",
    "*nat\n:X - [0:0]\n-A X -j DNAT --to-destination 1.2.3.4\n-A PREROUTING -j X\n-A POSTROUTING -j X\nCOMMIT\n",
    "*foo\nCOMMIT\n",
    "*filter\n-A FORWARD -j ACCEPT\n",
    "*filter\n:FORWARD FOO [0:0]\nCOMMIT\n",
    "*filter\nbogus\nCOMMIT\n",
    "*filter\n-A FORWARD -p tcp --dport 80 --dport 81 -j ACCEPT\nCOMMIT\n",
    "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n*nat\n-A PREROUTING -j NOPE\nCOMMIT\n",
    "*filter\n-t nat -A FORWARD -j ACCEPT\nCOMMIT\n",
    "*filter\n:-X - [0:0]\nCOMMIT\n",
    "*filter\n-X INPUT\nCOMMIT\n",
]


@pytest.mark.parametrize("text", BAD_RESTORES)
def test_refused_restores_print_iptables_restore_texts_and_change_nothing(real, text):
    t, ns = real
    p = run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, check=False)
    ours = _ours()
    ours.restore(DOCKER)
    before = ours.save()
    with pytest.raises(IptablesError) as e:
        ours.restore(text)
    try:
        assert (e.value.message + "\n", e.value.status) == (p.stderr, p.returncode)
        assert ours.save() == before
    finally:
        run(["ip", "netns", "exec", ns, "sh", "-c",
             "for t in filter nat; do iptables -t $t -F; iptables -t $t -X; done; iptables -P FORWARD ACCEPT"])


def test_jumps_nested_deeper_than_the_kernel_allows_are_refused_alike(real):
    t, ns = real
    for depth in (15, 16, 17):
        lines = ["*filter"] + [f":C{i} - [0:0]" for i in range(depth)]
        lines += [f"-A C{i} -j C{i + 1}" for i in range(depth - 1)] + ["-A FORWARD -j C0", "COMMIT", ""]
        text = "\n".join(lines)
        p = run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, check=False)
        ours = _ours()
        try:
            ours.restore(text)
            got = ("", 0)
        except IptablesError as e:
            got = (e.message + "\n", e.status)
        assert got == (p.stderr, p.returncode), depth
