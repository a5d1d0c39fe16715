"""dockerd's iptables rules on the model's host: what ``iptables-save`` prints after the
daemon starts and ``docker run -p`` publishes a port, the options that change them, the
port specs and allocation errors, and ``docker-proxy``.

The expected texts are what real dockerd (20.10–24, libnetwork's ``setup_ip_tables.go``,
``iptables.go``, ``firewall_linux.go``) leaves on a fresh host, in the order its commands
put them: checked by replaying the model's commands with iptables 1.8.9
(``tests/kernel/test_kernel_docker_nat.py``), and the same as the widely published
``iptables-save`` of Docker hosts."""
import pytest

from emunet.apps.http import Curl, Nginx
from emunet.apps.udp import UdpEchoServer, UdpSender
from emunet.control.docker import DockerHost, parse_port_spec
from emunet.control.docker.portmapper import PortBinding
from emunet.sim import Simulator

FILTER_DEFAULT = """\
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
{docker}-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
"""
NAT_DEFAULT = """\
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
{postrouting}-A DOCKER -i docker0 -j RETURN
{docker}"""

#: ``iptables-save`` of the docker-publish host: the daemon, the default bridge, and
#: ``docker run -p 8080:80`` on c1 (172.17.0.7); per table, without the comment lines
EXPECTED_SAVE = {
    "filter": FILTER_DEFAULT.format(docker="-A DOCKER -d 172.17.0.7/32 ! -i docker0 -o docker0 "
                                           "-p tcp -m tcp --dport 80 -j ACCEPT\n"),
    "nat": NAT_DEFAULT.format(
        postrouting="-A POSTROUTING -s 172.17.0.7/32 -d 172.17.0.7/32 -p tcp -m tcp --dport 80 "
                    "-j MASQUERADE\n",
        docker="-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination "
               "172.17.0.7:80\n"),
}
#: the daemon and its default bridge alone (no published port)
EXPECTED_DAEMON = {"filter": FILTER_DEFAULT.format(docker=""),
                   "nat": NAT_DEFAULT.format(postrouting="", docker="")}


def save_tables(text: str) -> dict:
    """``iptables-save`` output as table name -> its chain and rule lines (without the
    ``#`` comments, ``*table`` and ``COMMIT``): the tables' order in the output is the
    backend's (nft and legacy differ), the order within a table is the rules' own."""
    tables, cur = {}, None
    for line in text.splitlines():
        if line.startswith("*"):
            cur = line[1:]
            tables[cur] = ""
        elif line == "COMMIT":
            cur = None
        elif cur is not None and not line.startswith("#"):
            tables[cur] += line + "\n"
    return tables


def _host(**kw):
    sim = Simulator(seed=1)
    return sim, DockerHost(sim, **kw)


def test_the_daemon_and_the_default_bridge_write_dockers_chains_in_dockers_order():
    sim, host = _host()
    assert save_tables(host.ns.netfilter.iptables_save()) == EXPECTED_DAEMON
    assert host.ns.sysctl["net.bridge.bridge-nf-call-iptables"] == 1   # br_netfilter loaded
    assert host.ns.sysctl["net.ipv4.ip_forward"] == 1


def test_docker_run_p_8080_80_adds_the_dnat_the_forward_accept_and_the_hairpin_masquerade():
    sim, host = _host()
    c1 = host.run("c1", ip="172.17.0.7", publish=["8080:80"])
    assert save_tables(host.ns.netfilter.iptables_save()) == EXPECTED_SAVE
    assert c1.ports == [PortBinding("tcp", "0.0.0.0", 8080, "172.17.0.7", 80)]
    assert str(c1.ports[0]) == "0.0.0.0:8080->80/tcp"
    # the commands as dockerd runs them: -A of ProgramRule, 0/0 for any host address
    assert host.iptables_log[-3:] == [
        ["-t", "nat", "-A", "DOCKER", "-p", "tcp", "-d", "0/0", "--dport", "8080", "-j", "DNAT",
         "--to-destination", "172.17.0.7:80", "!", "-i", "docker0"],
        ["-t", "filter", "-A", "DOCKER", "!", "-i", "docker0", "-o", "docker0", "-p", "tcp",
         "-d", "172.17.0.7", "--dport", "80", "-j", "ACCEPT"],
        ["-t", "nat", "-A", "POSTROUTING", "-p", "tcp", "-s", "172.17.0.7", "-d", "172.17.0.7",
         "--dport", "80", "-j", "MASQUERADE"]]
    assert [p.argv for p in c1.proxies] == [[
        "/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0", "-host-port", "8080",
        "-container-ip", "172.17.0.7", "-container-port", "80"]]


def test_a_udp_port_on_one_host_address():
    sim, host = _host()
    host.run("c1", ip="172.17.0.7", publish=["127.0.0.1:5353:53/udp"])
    t = save_tables(host.ns.netfilter.iptables_save())
    assert ("-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p udp -m udp --dport 5353 -j DNAT "
            "--to-destination 172.17.0.7:53\n") in t["nat"]
    assert "-A DOCKER -d 172.17.0.7/32 ! -i docker0 -o docker0 -p udp -m udp --dport 53 -j ACCEPT\n" in t["filter"]


def test_hairpin_mode_without_the_userland_proxy():
    """``--userland-proxy=false``: the host's loopback traffic is DNATed too (no ``!
    127.0.0.0/8`` in OUTPUT, no ``! -i docker0`` in the DNAT, no RETURN for the bridge),
    and what the host sends into docker0 is masqueraded; no docker-proxy runs."""
    sim, host = _host(userland_proxy=False)
    c1 = host.run("c1", ip="172.17.0.7", publish=["8080:80"])
    nat = save_tables(host.ns.netfilter.iptables_save())["nat"]
    assert nat == (":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                   ":POSTROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n"
                   "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n"
                   "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER\n"
                   "-A POSTROUTING -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE\n"
                   "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n"
                   "-A POSTROUTING -s 172.17.0.7/32 -d 172.17.0.7/32 -p tcp -m tcp --dport 80 -j MASQUERADE\n"
                   "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.7:80\n")
    assert c1.proxies == [] and not [p for p in host.ns.processes if p.name == "docker-proxy"]


def test_icc_off_drops_container_to_container_and_no_masquerade():
    sim, host = _host(icc=False, ip_masq=False)
    t = save_tables(host.ns.netfilter.iptables_save())
    assert t["filter"].splitlines()[-7:-5] == ["-A FORWARD -i docker0 ! -o docker0 -j ACCEPT",
                                               "-A FORWARD -i docker0 -o docker0 -j DROP"]
    assert "MASQUERADE" not in t["nat"] and "RETURN" not in t["nat"]


def test_a_daemon_that_finds_forwarding_on_keeps_the_forward_policy():
    sim = Simulator(seed=1)
    from emunet.stack.namespace import Namespace
    ns = Namespace(sim, "host")
    ns.set_sysctl("net.ipv4.ip_forward", 1)
    host = DockerHost(sim, ns=ns)
    assert ":FORWARD ACCEPT [0:0]\n" in save_tables(host.ns.netfilter.iptables_save())["filter"]


def test_without_iptables_no_rule_and_no_published_port():
    sim, host = _host(iptables=False)
    assert host.iptables_log == [] and not host.ns.netfilter.tables
    with pytest.raises(ValueError, match="iptables is disabled"):
        host.run("c1", publish=["8080:80"])


@pytest.mark.parametrize("spec, binding", [
    ("8080:80", PortBinding("tcp", "0.0.0.0", 8080, None, 80)),
    ("8080:80/udp", PortBinding("udp", "0.0.0.0", 8080, None, 80)),
    ("127.0.0.1:8080:80", PortBinding("tcp", "127.0.0.1", 8080, None, 80)),
    ("80/TCP", PortBinding("tcp", "0.0.0.0", 0, None, 80)),
    ("10.0.0.2::53/udp", PortBinding("udp", "10.0.0.2", 0, None, 53)),
])
def test_port_specs(spec, binding):
    assert parse_port_spec(spec) == binding


@pytest.mark.parametrize("spec, error", [
    ("8080:", "No port specified: 8080:<empty>"),
    ("8080:80/icmp", "Invalid proto: icmp"),
    ("1.2.3:8080:80", "Invalid ip address: 1.2.3"),
    ("8080:http", "Invalid containerPort: http"),
    ("x:80", "Invalid hostPort: x"),
    ("8080:70000", "Invalid containerPort: 70000"),
    ("8080-8081:80-81", "port ranges are not modelled"),
])
def test_bad_port_specs_get_the_clis_error(spec, error):
    sim, host = _host()
    before = host.ns.netfilter.iptables_save()
    with pytest.raises(ValueError, match=error.replace(".", r"\.")):
        host.run("c1", publish=[spec])
    assert "c1" not in host.containers and host.ns.netfilter.iptables_save() == before


def test_a_taken_host_port_is_refused_with_dockers_message_and_changes_nothing():
    sim, host = _host()
    host.run("c1", ip="172.17.0.7", publish=["8080:80"])
    before = host.ns.netfilter.iptables_save()
    c2 = host.run("c2", ip="172.17.0.8")
    with pytest.raises(ValueError) as e:
        host.publish_port(c2, "8080:80")
    assert str(e.value) == (f"Error response from daemon: driver failed programming external "
                            f"connectivity on endpoint c2 ({c2.endpoint_id}): Bind for "
                            f"0.0.0.0:8080 failed: port is already allocated")
    assert host.ns.netfilter.iptables_save() == before and c2.ports == []


def test_a_proxy_that_cannot_bind_takes_its_rules_back():
    """The allocator does not see that 127.0.0.1:8080 overlaps 0.0.0.0:8080; the second
    docker-proxy's bind() does, and dockerd deletes the rules it had appended."""
    sim, host = _host()
    host.run("c1", ip="172.17.0.7", publish=["8080:80"])
    before = host.ns.netfilter.iptables_save()
    c2 = host.run("c2", ip="172.17.0.8")
    with pytest.raises(ValueError, match=r"on endpoint c2 \(\w+\): Error starting userland proxy: "
                                         r"listen tcp4 127\.0\.0\.1:8080: bind: address already in use"):
        host.publish_port(c2, "127.0.0.1:8080:80")
    assert host.ns.netfilter.iptables_save() == before
    assert host.port_allocator.request("127.0.0.1", "tcp", 8080) == 8080   # released


def test_a_port_left_to_docker_is_the_first_of_the_ephemeral_range_then_the_next():
    sim, host = _host()
    a = host.run("c1", publish=["80"])
    b = host.run("c2", publish=["80", "53/udp"])
    assert [p.host_port for p in a.ports + b.ports] == [32768, 32769, 32770]


def test_the_hosts_own_connection_to_a_published_port_goes_through_docker_proxy():
    """``curl http://127.0.0.1:8080/`` on the host: the nat OUTPUT jump leaves out
    127.0.0.0/8, so the host's own docker-proxy accepts it and opens its own connection
    to c1:80 from 172.17.0.1; c1 sees the proxy, not the client."""
    sim, host = _host()
    c1 = host.run("c1", ip="172.17.0.7", publish=["8080:80"])
    nginx = c1.ns.spawn(Nginx())
    curl = host.ns.spawn(Curl("http://127.0.0.1:8080/"))
    sim.run(until=2.0)
    assert curl.exit_code == 0 and curl.status == 200 and b"Welcome to nginx!" in curl.body
    assert nginx.served == 1 and c1.proxies[0].connections == 1
    assert nginx.connections[0].raddr[0] == "172.17.0.1"


def test_a_udp_datagram_to_a_published_port_from_the_host_itself_through_the_proxy():
    sim, host = _host()
    c1 = host.run("c1", ip="172.17.0.7", publish=["5353:7/udp"])
    c1.ns.spawn(UdpEchoServer(7))
    sender = host.ns.spawn(UdpSender("127.0.0.1", 5353, b"hello"))
    sim.run(until=1.0)
    assert sender.replies == [(b"hello", ("127.0.0.1", 5353))]
