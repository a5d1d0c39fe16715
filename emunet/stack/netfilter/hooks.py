"""Netfilter's numbers (``include/uapi/linux/netfilter.h``, ``netfilter_ipv4.h``): the five
IPv4 hooks, the verdicts, and the priorities that order the tables at a hook."""

#: ``enum nf_inet_hooks``
NF_INET_PRE_ROUTING = 0
NF_INET_LOCAL_IN = 1
NF_INET_FORWARD = 2
NF_INET_LOCAL_OUT = 3
NF_INET_POST_ROUTING = 4
#: the built-in chain of each hook, as iptables names it
HOOK_CHAINS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
CHAIN_HOOKS = {name: i for i, name in enumerate(HOOK_CHAINS)}

#: verdicts (``NF_DROP`` .. ``NF_STOP``) and xtables' own (``XT_CONTINUE``, ``XT_RETURN``)
NF_DROP = 0
NF_ACCEPT = 1
NF_STOLEN = 2
NF_REPEAT = 4
XT_CONTINUE = 0xFFFFFFFF
XT_RETURN = -NF_REPEAT - 1

#: ``enum nf_ip_hook_priorities``: the order of the tables (and conntrack) at one hook
NF_IP_PRI_CONNTRACK_DEFRAG = -400
NF_IP_PRI_RAW = -300
NF_IP_PRI_CONNTRACK = -200
NF_IP_PRI_MANGLE = -150
NF_IP_PRI_NAT_DST = -100
NF_IP_PRI_FILTER = 0
NF_IP_PRI_SECURITY = 50
NF_IP_PRI_NAT_SRC = 100
NF_IP_PRI_CONNTRACK_HELPER = 300
NF_IP_PRI_CONNTRACK_CONFIRM = 0x7FFFFFFF

#: each table's hooks (``valid_hooks``) and priority, in the kernel's priority order
TABLES = {
    "raw": ((NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT), NF_IP_PRI_RAW),
    "mangle": ((NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT,
                NF_INET_POST_ROUTING), NF_IP_PRI_MANGLE),
    "nat": ((NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING),
            NF_IP_PRI_NAT_DST),
    "filter": ((NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT), NF_IP_PRI_FILTER),
}

#: ``enum nf_nat_manip_type``
NF_NAT_MANIP_SRC = 0
NF_NAT_MANIP_DST = 1


def hook_maniptype(hook: int) -> int:
    """``HOOK2MANIP``: the NAT a hook does (destination before routing and on local output,
    source after)."""
    return NF_NAT_MANIP_SRC if hook in (NF_INET_POST_ROUTING, NF_INET_LOCAL_IN) else NF_NAT_MANIP_DST
