"""The simulator's clock and heap."""
import pytest

from emunet.sim import MS, S, Simulator


def test_events_run_in_time_then_scheduling_order():
    sim = Simulator(seed=1)
    seen = []
    sim.after(2 * MS, seen.append, "c")
    sim.after(1 * MS, seen.append, "a")
    sim.after(1 * MS, seen.append, "b")
    sim.after(0, seen.append, "first")
    assert sim.run() == 4
    assert seen == ["first", "a", "b", "c"]
    assert sim.now == 2 * MS


def test_run_until_and_max_events_and_cancel():
    sim = Simulator(seed=1)
    seen = []
    for i in range(5):
        sim.after(i * S, seen.append, i)
    ev = sim.after(int(2.5 * S), seen.append, "cancelled")
    ev.cancel()
    sim.run(until=1.5)
    assert seen == [0, 1] and sim.now == int(1.5 * S)
    sim.run(max_events=1)
    assert seen == [0, 1, 2]
    sim.run()
    assert seen == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        sim.after(-1, print)


def test_seeded_rng_is_reproducible():
    a, b = Simulator(seed=7), Simulator(seed=7)
    assert [a.rng.random() for _ in range(5)] == [b.rng.random() for _ in range(5)]
    assert Simulator(seed=8).rng.random() != Simulator(seed=7).rng.random()


def test_unknown_namespace_names_the_known_ones():
    sim = Simulator(seed=1)
    from emunet import Namespace
    Namespace(sim, "a")
    with pytest.raises(KeyError, match="'b'.*there are: a"):
        sim.ns("b")
    with pytest.raises(ValueError, match="already exists"):
        Namespace(sim, "a")


def test_post_orders_with_after_and_cannot_be_in_the_past():
    """``post`` is ``after`` without an Event: the same heap, the same (time, scheduling
    order) rule, cancelled neighbours skipped and not counted."""
    sim = Simulator(seed=1)
    seen = []
    sim.post(1 * MS, seen.append, "post a")
    ev = sim.after(1 * MS, seen.append, "cancelled")
    sim.after(1 * MS, seen.append, "after b")
    sim.post(0, seen.append, "post first")
    sim.post(1 * MS, seen.append, "post c")
    ev.cancel()
    assert sim.pending == 4
    assert sim.run() == 4
    assert seen == ["post first", "post a", "after b", "post c"]
    with pytest.raises(ValueError):
        sim.post(-1, print)
