"""The iptables commands dockerd runs for a bridge network: libnetwork's ``iptables``
package (``iptables.go``: ``NewChain``, ``ProgramChain``, ``Forward``, ``AddReturnRule``,
``EnsureJumpRule``), the bridge driver's ``setup_ip_tables.go`` (``setupIPChains``,
``setupIPTablesInternal``, ``setIcc``, ``setINC``), ``setup_ip_forwarding.go`` and the
controller's ``firewall_linux.go`` (``arrangeUserFilterRule``), as Docker 20.10 to 24
run them with the iptables backend (moby/libnetwork at the 20.10 branch).

Each function returns the argument lists dockerd passes to ``iptables`` (without its
``--wait``), in the order it runs them, so that the same commands can be given to the
model's iptables and to the real one.  dockerd first asks whether a rule exists
(``iptables -C``) and skips what is there already; on a fresh host nothing is, so the
``-C`` probes and the clean-up deletions of rules left by an earlier daemon
(``removeIPChains``, ``setIcc``'s ``-D`` of the opposite ICC rule) change nothing and are
left out.

The resulting ``iptables-save`` of a host with the default bridge and ``-p 8080:80`` on
a container 172.17.0.7 (checked by replaying these commands with iptables 1.8.9 in a
network namespace, ``tests/kernel/test_kernel_docker_nat.py``)::

    *filter
    :FORWARD DROP [0:0]
    -A FORWARD -j DOCKER-USER
    -A FORWARD -j DOCKER-ISOLATION-STAGE-1
    -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    -A FORWARD -o docker0 -j DOCKER
    -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
    -A FORWARD -i docker0 -o docker0 -j ACCEPT
    -A DOCKER -d 172.17.0.7/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
    ...
    *nat
    -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
    -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
    -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
    -A POSTROUTING -s 172.17.0.7/32 -d 172.17.0.7/32 -p tcp -m tcp --dport 80 -j MASQUERADE
    -A DOCKER -i docker0 -j RETURN
    -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.7:80
"""

#: ``DockerChain``, ``IsolationChain1/2`` (setup_ip_tables.go), ``userChain`` (firewall_linux.go)
DOCKER_CHAIN = "DOCKER"
ISOLATION_CHAIN1 = "DOCKER-ISOLATION-STAGE-1"
ISOLATION_CHAIN2 = "DOCKER-ISOLATION-STAGE-2"
USER_CHAIN = "DOCKER-USER"
#: ``LoopbackByVersion`` for IPv4
LOOPBACK = "127.0.0.0/8"


def new_chain(name: str, table: str) -> list:
    """``IPTable.NewChain``: ``-N`` (after an ``-n -L`` that found no such chain)."""
    return [["-t", table, "-N", name]]


def add_return_rule(chain: str) -> list:
    """``IPTable.AddReturnRule``: ``-A CHAIN -j RETURN`` in the filter table."""
    return [["-A", chain, "-j", "RETURN"]]


def ensure_jump_rule(from_chain: str, to_chain: str) -> list:
    """``IPTable.EnsureJumpRule``: the jump inserted at the top of ``from_chain`` (an
    existing one is deleted first, so that it ends up on top)."""
    return [["-I", from_chain, "-j", to_chain]]


def setup_ip_chains() -> list:
    """``setupIPChains``, when the bridge driver starts: the nat and filter ``DOCKER``
    chains, the two isolation chains and their RETURN rules."""
    return (new_chain(DOCKER_CHAIN, "nat") + new_chain(DOCKER_CHAIN, "filter")
            + new_chain(ISOLATION_CHAIN1, "filter") + new_chain(ISOLATION_CHAIN2, "filter")
            + add_return_rule(ISOLATION_CHAIN1) + add_return_rule(ISOLATION_CHAIN2))


def setup_ip_forwarding(was_enabled: bool) -> list:
    """``setupIPForwarding``: a daemon that turns ``ip_forward`` on itself also sets the
    FORWARD policy to DROP; one that finds it on leaves the policy alone."""
    return [] if was_enabled else [["-t", "filter", "-P", "FORWARD", "DROP"]]


def set_icc(bridge: str, icc: bool) -> list:
    """``setIcc``: traffic between two containers of the network accepted (``-I``, ICC
    on, the default) or dropped (``-A``, ``--icc=false``)."""
    args = ["-i", bridge, "-o", bridge, "-j"]
    if icc:
        return [["-I", "FORWARD", *args, "ACCEPT"]]
    return [["-A", "FORWARD", *args, "DROP"]]


def setup_ip_tables_internal(bridge: str, subnet: str, icc: bool = True, ip_masq: bool = True,
                             hairpin: bool = False, host_ip: str = None) -> list:
    """``setupIPTablesInternal`` for a network that is not ``--internal``:

    * with IP masquerading (the default), ``-s SUBNET ! -o BRIDGE -j MASQUERADE`` in nat
      POSTROUTING, or ``-j SNAT --to-source HOST_IP`` when the network has a host IP
      (``com.docker.network.host_ipv4``);
    * with masquerading and the userland proxy (``hairpin`` False, the default), the
      nat ``DOCKER -i BRIDGE -j RETURN`` that keeps containers' own traffic from DNAT;
    * in hairpin mode (``--userland-proxy=false``), the MASQUERADE of traffic the host
      itself sends into the bridge (``-m addrtype --src-type LOCAL -o BRIDGE``);
    * the ICC rule (:func:`set_icc`), then ``-i BRIDGE ! -o BRIDGE -j ACCEPT``.
    """
    if host_ip is None:
        nat_args = ["-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"]
        hp_nat_args = ["-m", "addrtype", "--src-type", "LOCAL", "-o", bridge, "-j", "MASQUERADE"]
    else:
        nat_args = ["-s", subnet, "!", "-o", bridge, "-j", "SNAT", "--to-source", host_ip]
        hp_nat_args = ["-m", "addrtype", "--src-type", "LOCAL", "-o", bridge, "-j", "SNAT",
                       "--to-source", host_ip]
    out = []
    if ip_masq:
        out.append(["-t", "nat", "-I", "POSTROUTING", *nat_args])
    if ip_masq and not hairpin:
        out.append(["-t", "nat", "-I", DOCKER_CHAIN, "-i", bridge, "-j", "RETURN"])
    if hairpin:
        out.append(["-t", "nat", "-I", "POSTROUTING", *hp_nat_args])
    out += set_icc(bridge, icc)
    out.append(["-I", "FORWARD", "-i", bridge, "!", "-o", bridge, "-j", "ACCEPT"])
    return out


def program_chain(table: str, bridge: str, hairpin: bool = False) -> list:
    """``IPTable.ProgramChain`` for the ``DOCKER`` chain of ``table``: in nat, the jumps
    from PREROUTING and OUTPUT for packets to a local address (OUTPUT leaves out
    127.0.0.0/8 unless in hairpin mode, where the host's loopback traffic is DNATed
    too); in filter, ``-o BRIDGE -j DOCKER`` and the conntrack accept above it."""
    if table == "nat":
        pre = ["-m", "addrtype", "--dst-type", "LOCAL", "-j", DOCKER_CHAIN]
        output = list(pre) if hairpin else pre + ["!", "--dst", LOOPBACK]
        return [["-t", "nat", "-A", "PREROUTING", *pre], ["-t", "nat", "-A", "OUTPUT", *output]]
    return [["-I", "FORWARD", "-o", bridge, "-j", DOCKER_CHAIN],
            ["-I", "FORWARD", "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
             "-j", "ACCEPT"]]


def setup_ip4_tables(bridge: str, subnet: str, icc: bool = True, ip_masq: bool = True,
                     hairpin: bool = False, host_ip: str = None) -> list:
    """``bridgeNetwork.setupIPTables`` then ``setupNetworkIsolationRules``, as
    ``createNetwork`` queues them: the network's rules, its nat and filter chain jumps,
    the jump to the first isolation chain on top of FORWARD, and :func:`set_inc`."""
    return (setup_ip_tables_internal(bridge, subnet, icc, ip_masq, hairpin, host_ip)
            + program_chain("nat", bridge, hairpin) + program_chain("filter", bridge, hairpin)
            + ensure_jump_rule("FORWARD", ISOLATION_CHAIN1) + set_inc(bridge))


def set_inc(bridge: str) -> list:
    """``setINC``: packets from this bridge to another interface go to stage 2, where a
    packet *to* a(nother) Docker bridge is dropped: networks cannot reach each other."""
    return [["-t", "filter", "-I", ISOLATION_CHAIN1, "-i", bridge, "!", "-o", bridge,
             "-j", ISOLATION_CHAIN2],
            ["-t", "filter", "-I", ISOLATION_CHAIN2, "-o", bridge, "-j", "DROP"]]


def arrange_user_filter_rule() -> list:
    """``arrangeUserFilterRule``, after every network is created: ``DOCKER-USER`` (the
    chain Docker never touches again), its RETURN rule, and its jump on top of FORWARD."""
    return (new_chain(USER_CHAIN, "filter") + add_return_rule(USER_CHAIN)
            + ensure_jump_rule("FORWARD", USER_CHAIN))


def forward(action: str, host_ip: str, host_port: int, proto: str, dest_addr: str,
            dest_port: int, bridge: str, hairpin: bool = False) -> list:
    """``ChainInfo.Forward`` (``action`` ``-A`` to add a published port, ``-D`` to remove
    it), through ``ProgramRule`` (``-t TABLE ACTION CHAIN ARGS``):

    * nat ``DOCKER``: DNAT of ``HOST_IP:HOST_PORT`` to the container; the host address
      0.0.0.0 is written ``0/0`` (iptables would read ``0.0.0.0`` as ``/32``); without
      hairpin mode the rule leaves out packets from the bridge itself (``! -i BRIDGE``);
    * filter ``DOCKER``: the FORWARD accept of the DNATed packet into the bridge;
    * nat POSTROUTING: MASQUERADE of a container reaching its own published port.

    SCTP's extra mangle ``CHECKSUM --checksum-fill`` rule is not modelled (no SCTP)."""
    daddr = "0/0" if host_ip in ("0.0.0.0", "", None) else host_ip
    port, dport = str(host_port), str(dest_port)
    dnat = ["-p", proto, "-d", daddr, "--dport", port, "-j", "DNAT",
            "--to-destination", f"{dest_addr}:{dport}"]
    if not hairpin:
        dnat += ["!", "-i", bridge]
    accept = ["!", "-i", bridge, "-o", bridge, "-p", proto, "-d", dest_addr, "--dport", dport,
              "-j", "ACCEPT"]
    masq = ["-p", proto, "-s", dest_addr, "-d", dest_addr, "--dport", dport, "-j", "MASQUERADE"]
    return [["-t", "nat", action, DOCKER_CHAIN, *dnat],
            ["-t", "filter", action, DOCKER_CHAIN, *accept],
            ["-t", "nat", action, "POSTROUTING", *masq]]


__all__ = ["DOCKER_CHAIN", "ISOLATION_CHAIN1", "ISOLATION_CHAIN2", "USER_CHAIN",
           "setup_ip_chains", "setup_ip_forwarding", "setup_ip4_tables", "set_icc", "set_inc",
           "setup_ip_tables_internal", "program_chain", "arrange_user_filter_rule", "forward"]
