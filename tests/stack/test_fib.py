"""Longest-prefix match (emunet/stack/fib.py) against a brute-force search.

Random route sets (any prefix length, /0 and /32 included, metrics, route types,
devices that go up and down) and random destinations; after every change the
lookup must equal the brute force, so a stale entry in the lookup cache shows up
as a failure."""
import ipaddress

from hypothesis import assume, example, given, strategies as st

from emunet.devices.veth import veth_pair
from emunet.observe.show import ip_route_get
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.stack.fib import Route, RoutingTable
from emunet.wire.ipv4 import int_to_ip

NDEV = 4
TYPES = ("unicast", "unicast", "unicast", "local", "broadcast", "blackhole", "unreachable")


def brute_force(routes, dst: int):
    """The best live route for ``dst``: longest prefix, then lowest metric.  A unicast
    route through an administratively down device is dead and skipped; one whose device
    only lacks carrier ("linkdown") is still used, as with ignore_routes_with_linkdown=0."""
    best = None
    for r in routes:
        net = r.dst
        if (dst ^ int(net.network_address)) >> (32 - net.prefixlen) if net.prefixlen else 0:
            continue
        if r.type == "unicast" and r.dev is not None and not r.dev.admin_up:
            continue
        key = (-net.prefixlen, r.metric)
        if best is None or key < best[0]:
            best = (key, r)
    return None if best is None else best[1]


def prefixes():
    return st.builds(lambda addr, plen: ipaddress.IPv4Network((addr, plen), strict=False),
                     st.one_of(st.integers(0, 0xFFFFFFFF), st.sampled_from([0x0A000000, 0x0A010000, 0x0A010200])),
                     st.one_of(st.integers(0, 32), st.sampled_from([0, 8, 16, 24, 32])))


route_specs = st.tuples(prefixes(), st.sampled_from([0, 0, 1, 100, 1024]), st.integers(0, NDEV - 1),
                        st.sampled_from(TYPES))
ops = st.one_of(
    st.tuples(st.just("add"), route_specs),
    st.tuples(st.just("del"), st.integers(0, 1000)),
    st.tuples(st.just("down"), st.integers(0, NDEV - 1)),
    st.tuples(st.just("up"), st.integers(0, NDEV - 1)),
    st.tuples(st.just("carrier_off"), st.integers(0, NDEV - 1)),
    st.tuples(st.just("carrier_on"), st.integers(0, NDEV - 1)),
    st.tuples(st.just("replace"), route_specs),
    st.tuples(st.just("lookup"), st.integers(0, 0xFFFFFFFF)),
)


def setup():
    sim = Simulator(seed=0)
    ns = Namespace(sim, "n")
    devs = []
    for i in range(NDEV):
        # veths whose peers live nowhere: the peer's state is this end's carrier
        dev, peer = veth_pair(sim, f"eth{i}", f"peer{i}", mac=bytes([2, 0, 0, 0, 0, i + 1]),
                              peer_mac=bytes([2, 0, 0, 0, 1, i + 1]))
        devs.append(ns.add_device(dev))
        dev.set_up()
        peer.set_up()
    return sim, ns, devs


def probes(routes, extra, draw_ints):
    """Destinations worth asking about: inside and at the edges of every prefix, plus random ones."""
    out = list(extra)
    for r in routes:
        net = r.dst
        out += [int(net.network_address), int(net.broadcast_address)]
    out += draw_ints
    return out


@given(st.lists(route_specs, max_size=25), st.lists(ops, max_size=40), st.lists(st.integers(0, 0xFFFFFFFF), max_size=10))
@example([(ipaddress.IPv4Network("0.0.0.0/0"), 0, 0, "unicast"),
          (ipaddress.IPv4Network("10.1.2.0/24"), 0, 1, "unicast")],
         [("lookup", 0x0A010203), ("down", 1), ("lookup", 0x0A010203), ("del", 1), ("up", 1),
          ("lookup", 0x0A010203)], [])
@example([(ipaddress.IPv4Network("10.1.2.3/32"), 5, 0, "unicast"),
          (ipaddress.IPv4Network("10.1.2.3/32"), 1, 1, "unicast"),
          (ipaddress.IPv4Network("10.0.0.0/8"), 0, 2, "blackhole")],
         [("lookup", 0x0A010203), ("down", 1), ("lookup", 0x0A010203), ("down", 0),
          ("lookup", 0x0A010203), ("del", 0), ("lookup", 0x0A010203)], [])
def test_lookup_equals_brute_force(initial, operations, randoms):
    sim, ns, devs = setup()
    table = ns.fib.main
    live = []

    def add(spec, replace=False):
        net, metric, devi, rtype = spec
        r = Route(net, dev=devs[devi], metric=metric, type=rtype)
        if replace:
            old = [o for o in live if o.dst == net and o.metric == metric]
            assert table.add(r, replace=True) is r
            for o in old:
                live.remove(o)
            live.append(r)
            return
        try:
            table.add(r)
        except FileExistsError:
            # same prefix and metric: the kernel refuses; the table is unchanged
            assert any(o.dst == net and o.metric == metric for o in live)
            return
        live.append(r)

    def check(extra=()):
        assert len(table) == len(live)
        for dst in probes(live, extra, randoms):
            want = brute_force(live, dst)
            got = table.lookup(dst)
            assert got is want, (int_to_ip(dst), got and got.show(), want and want.show())
            assert table.lookup(int_to_ip(dst)) is want  # the dotted form finds the same route

    for spec in initial:
        add(spec)
    check()
    for op, arg in operations:
        if op == "add":
            add(arg)
        elif op == "del" and live:
            r = live.pop(arg % len(live))
            assert table.delete(r.dst, dev=r.dev, metric=r.metric) is r
        elif op == "down":
            devs[arg].set_down()  # the namespace invalidates its tables, as a netlink event would
        elif op == "up":
            devs[arg].set_up()
        elif op == "replace":
            add(arg, replace=True)
        elif op == "carrier_off":
            devs[arg].peer.set_down()
            assert not devs[arg].running
        elif op == "carrier_on":
            devs[arg].peer.set_up()
        check([arg] if op == "lookup" else ())


@given(st.lists(route_specs, min_size=1, max_size=20), st.data())
def test_delete_invalidates_cache(specs, data):
    """Look everything up (filling the cache), delete routes one by one, and look again."""
    table = RoutingTable("main")
    sim, ns, devs = setup()
    live = []
    for net, metric, devi, rtype in specs:
        r = Route(net, dev=devs[devi], metric=metric, type=rtype)
        try:
            table.add(r)
            live.append(r)
        except FileExistsError:
            pass
    dsts = probes(live, [], data.draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=5)))
    for d in dsts:
        table.lookup(d)
    order = data.draw(st.permutations(range(len(live))))
    doomed = [live[i] for i in order]
    for r in doomed:
        table.delete(r.dst, dev=r.dev, metric=r.metric)
        live.remove(r)
        for d in dsts:
            assert table.lookup(d) is brute_force(live, d)
    assert len(table) == 0 and table.lookup(0) is None and list(table) == []


# -- what the FIB calls local is delivered locally ------------------------------------
@given(st.one_of(st.integers(0x7F000000, 0x7FFFFFFF),        # 127.0.0.0/8 on lo
                 st.integers(0x0A090000, 0x0A09FFFF),        # an AnyIP "local" route on lo
                 st.sampled_from([0x0A000001, 0x7F000001])), # addresses of the namespace
       st.integers(1, 65535))
def test_local_routes_are_delivered_locally(dst, port):
    """``ip route get`` says "local" ⇒ a datagram to it reaches a socket bound to
    0.0.0.0:port in the same namespace (Linux answers ``ping 127.0.0.2``; ip_rcv must
    follow the local table's prefixes, not only the namespace's own addresses)."""
    sim = Simulator(seed=0)
    ns = Namespace(sim, "n")
    dev, peer = veth_pair(sim, "eth0", "peer0", mac=bytes.fromhex("020000000001"),
                          peer_mac=bytes.fromhex("020000000002"))
    ns.add_device(dev)
    dev.set_up()
    peer.set_up()
    ns.addr_add("eth0", "10.0.0.1/24")
    ns.route_add("10.9.0.0/16", dev="lo", type="local", table="local", scope="host")
    assume(ns.fib.lookup(dst).type == "local")  # not 127.255.255.255, a broadcast route
    assert ip_route_get(ns, int_to_ip(dst)).startswith("local ")
    sock = ns.udp.socket()
    sock.bind(("0.0.0.0", port))
    sender = ns.udp.socket()
    sender.bind((int_to_ip(dst) if ns.is_local_address(dst) else "0.0.0.0", 0))
    sender.sendto(b"hello", (int_to_ip(dst), port))
    sim.run()
    assert [d for d, _ in sock.received] == [b"hello"], dict(ns.drop_reasons)
    assert not ns.drop_reasons
