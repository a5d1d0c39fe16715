"""The lease store's indexes against brute force: a range is every live key under the
prefix in key order, a replay is the history from a revision on, and watchers are told in
the order they started watching, whatever their prefixes."""
from hypothesis import given, settings, strategies as st

from emunet import Simulator
from emunet.control.etcd import EtcdStore
from emunet.sim import MS

KEYS = st.sampled_from(["/a", "/a/", "/a/x", "/a/y", "/ab", "/b/x", "/b/", "/", "/a/x/1", "/c"])
OPS = st.lists(st.one_of(
    st.tuples(st.just("put"), KEYS, st.integers(0, 3)),
    st.tuples(st.just("delete"), KEYS, st.just(0)),
    st.tuples(st.just("lease"), KEYS, st.integers(1, 3)),      # put under a lease of 1-3 s
    st.tuples(st.just("wait"), st.just(""), st.integers(1, 2)),
), max_size=40)
PREFIXES = ["/", "/a", "/a/", "/b/", "/ab", "/z"]


@settings(max_examples=150, deadline=None)
@given(OPS, st.integers(1, 30))
def test_range_and_replay_match_brute_force(ops, start):
    sim = Simulator(seed=1)
    etcd = EtcdStore(sim)
    for op, key, arg in ops:
        if op == "put":
            etcd.put(key, str(arg))
        elif op == "delete":
            etcd.delete(key)
        elif op == "lease":
            etcd.put(key, "leased", ttl=arg)
        else:
            sim.run(until=sim.time + arg)
    for prefix in PREFIXES:
        assert [kv.key for kv in etcd.range(prefix)] == sorted(k for k in etcd.data if k.startswith(prefix))
        got = []
        etcd.watch(prefix, got.extend, start_revision=start)
        sim.run(until=sim.time + 0.01)
        assert got == [e for e in etcd.history if e.revision >= start and e.kv.key.startswith(prefix)]


def test_watchers_are_told_in_the_order_they_started_watching():
    sim = Simulator(seed=1)
    etcd = EtcdStore(sim)
    told = []
    watches = {}

    def watcher(name):
        def callback(events):
            told.append((sim.now, name, [e.kv.key for e in events]))
            if name == "w1":
                watches["w3"].cancel()   # w3, told of the same change after w1, hears nothing
        return callback

    for name, prefix in [("w1", "/a/"), ("w2", "/b/"), ("w3", "/a/"), ("w4", "/"), ("w5", "/a/x")]:
        watches[name] = etcd.watch(prefix, watcher(name))
    etcd.put("/a/x", "1")
    etcd.put("/b/y", "2")
    sim.run(until=1)
    assert told == [(1 * MS, "w1", ["/a/x"]), (1 * MS, "w4", ["/a/x"]), (1 * MS, "w5", ["/a/x"]),
                    (1 * MS, "w2", ["/b/y"]), (1 * MS, "w4", ["/b/y"])]
