"""The rule sets, command lines and restore inputs emunet's iptables is compared on: against
the real iptables in tests/kernel/test_kernel_iptables.py, and against what the real one
printed for them (``reference/iptables-1.8.9.json``) in test_iptables_reference.py."""
import json
import os

#: what iptables 1.8.9 (nf_tables) printed for the inputs below (written by
#: tests/kernel/test_kernel_iptables.py with EMUNET_UPDATE_REFERENCE=1)
REFERENCE = os.path.join(os.path.dirname(__file__), "reference", "iptables-1.8.9.json")


def load_reference() -> dict:
    with open(REFERENCE) as f:
        return json.load(f)

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


#: counters given to iptables-restore -c
COUNTERS = ("*filter\n:INPUT ACCEPT [5:300]\n:FORWARD DROP [7:700]\n:OUTPUT ACCEPT [0:0]\n:X - [0:0]\n"
            "[3:180] -A INPUT -s 10.0.0.1/32 -j X\n[12345678:9876543210] -A FORWARD -j ACCEPT\n"
            "[1:2] -A X -j RETURN\nCOMMIT\n")

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
    "-A FORWARD -j LOG --log-prefix 123456789012345678901234567890", "-A FORWARD -j LOG --log-level 9",
    "-A FORWARD -s 1.2.3.4,5.6.7.8 ! -d 1.1.1.1", "-R FORWARD 1 -s 1.1.1.1,2.2.2.2 -j ACCEPT",
    "-A FORWARD -p tcp --dport 5:3", "-t nat -A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:80:90",
    "-t nat -A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.4:90-80",
    "-t nat -A PREROUTING -p tcp -j DNAT --to-destination 1.2.3.400",
    "-t nat -A POSTROUTING -j MASQUERADE --to-ports 80", "-A FORWARD -m multiport --dports 1,2",
    "-A FORWARD -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16",
    "-A FORWARD -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
    "-A FORWARD -m mark --mark 0x1/0x1/0x1", "-I FORWARD 0 -j ACCEPT", "-D FORWARD 0", "-A FORWARD -j",
    "-X DOCKER-USER", "-E DOCKER DOCKER2", "-A FORWARD -m conntrack --ctstatus FOO",
    "-A FORWARD -m conntrack --ctdir FOO", "-A FORWARD -m physdev", "-A FORWARD -m addrtype",
    "-A FORWARD -m addrtype --limit-iface-in --limit-iface-out --src-type LOCAL",
    "-A OUTPUT -m addrtype --src-type LOCAL --limit-iface-in", "-A OUTPUT -m physdev --physdev-out veth0",
    "-A FORWARD -p tcp --tcp-flags SYN", "-A FORWARD -p tcp --tcp-flags FOO SYN",
    "-A FORWARD -m statistic --mode random --probability 0.5 --every 2", "-A FORWARD -m set --match-set",
    "-A FORWARD -m mark", "-A FORWARD -p icmp --icmp-type echo", "-A FORWARD -p icmp --icmp-type 300",
    "-A FORWARD -m comment --comment", "-A FORWARD -m state --state NEW,", "-A FORWARD -m state --state FOO",
    "-t nat -P POSTROUTING DROP", "-P FORWARD RETURN", "-A FORWARD -g ACCEPT", "-A FORWARD -j DOCKER -g DOCKER",
    "-A FORWARD -p tcp ! --dport 80 ! --sport 1", "-A FORWARD ! -p all", "-N A B", "-L FORWARD 9",
    "-S FORWARD 9", "-A FORWARD -o +", "-A FORWARD -m udp --dport 53", "-A FORWARD -f -p tcp --dport 80",
    "-A FORWARD -m conntrack --ctstate NEW,FOO", "-A FORWARD -m statistic --mode nth --every 5", "-A FORWARD -m addrtype --dst-type LOCAL,FOO",
]


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
    "-A FORWARD -j ACCEPT\nCOMMIT\n",
    "*filter\n:X\nCOMMIT\n",
    "*filter\n-N X\n-N X\nCOMMIT\n",
    "*filter\n[1:2 -A FORWARD\nCOMMIT\n",
    "*filter\n-A FORWARD -j ACCEPT\n*nat\nCOMMIT\n",
    "*nat\n-A POSTROUTING -j DROP\nCOMMIT\n",
    "*filter\n-w -A FORWARD\nCOMMIT\n",
    "*filter\n:ACCEPT - [0:0]\nCOMMIT\n",
    "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n*filter\n-A INPUT -p tcp --dport 1 -j ACCEPT\n-A INPUT -m nope\nCOMMIT\n",
]

#: --noflush restores applied one after the other to DOCKER's rules
NOFLUSH = [
    "*filter\n:DOCKER - [0:0]\n-A DOCKER -d 172.17.0.9/32 -p tcp -m tcp --dport 443 -j ACCEPT\nCOMMIT\n",
    "*nat\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A KUBE-SERVICES -j RETURN\nCOMMIT\n",
    "*filter\n-D FORWARD -j DOCKER-USER\n-I FORWARD 1 -j DOCKER-USER\n-X DOCKER-USER\nCOMMIT\n",
    "*nat\n:POSTROUTING DROP [0:0]\nCOMMIT\n",
]


#: command lines that change the rules, run one after the other on both
SEQUENCE = [
    "-N A", "-N B", "-N C", "-A FORWARD -j A", "-I A -s 10.0.0.1,10.0.0.2 -j B", "-I A 3 -j C",
    "-A A -s 1.2.3.4,5.6.7.8 -d 9.9.9.9/8 -j ACCEPT", "-I B -p tcp --dport 22 -j DROP",
    "-I B 2 -p udp --sport 53 -j RETURN", "-A C -j DROP", "-A C -j DROP", "-D C -j DROP",
    "-R B 1 -p tcp --dport 23 -j DROP", "-E C CC", "-nvL", "-w -A CC -m comment --comment 'after rename'",
    "-D A 1", "-t nat -N X", "-t nat -A PREROUTING -j X", "-t nat -A X -p tcp -j DNAT --to-destination 1.1.1.1:1",
    "-t nat -A X -j RETURN", "-t nat -I X 3 -j RETURN", "-t nat -F X", "-t nat -D PREROUTING -j X",
    "-t nat -X X", "-P FORWARD DROP", "-Z", "-F A", "-F", "-X CC", "-X", "-P FORWARD ACCEPT",
    "-A FORWARD -i + -o eth0", "-L FORWARD -v -n", "-Z -L FORWARD -n -v", "-Z FORWARD -v",
    "-Z FORWARD 1 -v", "-D FORWARD -o eth0",
    "-N D", "-I D 1 -j RETURN", "-I D 2 -j ACCEPT", "-t mangle -A OUTPUT -j MARK --set-mark 1", "-t mangle -F",
]
