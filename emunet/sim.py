"""The simulator: a virtual clock, an event heap and a seeded random source.

Time is an integer count of nanoseconds since the start of the run, so that
ordering never depends on floating-point rounding; ``epoch_ns`` places time 0
on the calendar for captures and ping's timestamps.  Events at the same time
run in the order they were scheduled (the heap is ordered by (time, sequence),
as SimPy and ns-3 do).  Every random choice in the model (IP IDs, ephemeral
ports, ping identifiers, veth names and MACs) comes from ``sim.rng``, so the
same scenario and seed give the same bytes.

Observation is attached from outside, ns-3 style: devices and stacks report
to ``sim.observers`` and never import a capture or a trace themselves.
"""
import heapq
import itertools
import random

NS = 1
US = 1_000
MS = 1_000_000
S = 1_000_000_000


def format_elapsed(ns: int, unit_sep: str = "") -> str:
    """A duration for people: µs below a millisecond, ms below a second, else s
    (``unit_sep`` between the number and its unit: none in a trace's step list, a space in
    its sequence picture)."""
    if ns < 1_000_000:
        return f"{ns / 1000:.1f}{unit_sep}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.3f}{unit_sep}ms"
    return f"{ns / 1_000_000_000:.6f}{unit_sep}s"


#: 2021-04-12T12:11:57Z, the "Created" time of the seed's docker network.
DEFAULT_EPOCH_NS = 1_618_229_517 * S


class Event:
    """A scheduled call made by :meth:`Simulator.after`; ``cancel()`` makes it a no-op
    (the heap entry stays)."""

    __slots__ = ("time", "fn", "args", "cancelled")

    def __init__(self, time, fn, args):
        self.time = time
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Simulator:
    """The clock and event heap every model object shares.

    >>> sim = Simulator(seed=1)
    >>> _ = sim.after(5 * MS, print, "five milliseconds")
    >>> sim.run()
    five milliseconds
    1
    """

    def __init__(self, seed: int = 0, epoch_ns: int = DEFAULT_EPOCH_NS):
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = 0
        self.epoch_ns = epoch_ns
        self._heap = []
        self._seq = itertools.count()
        self._pids = itertools.count(1)
        self.events_run = 0
        self.observers = []
        self.namespaces = {}

    # -- time ---------------------------------------------------------------
    @property
    def time(self) -> float:
        """Seconds since the start of the run."""
        return self.now / S

    @property
    def wall_ns(self) -> int:
        """Calendar time of ``now`` in nanoseconds since 1970, as a host clock would read."""
        return self.epoch_ns + self.now

    def after(self, delay_ns: int, fn, *args) -> Event:
        """Run ``fn(*args)`` ``delay_ns`` nanoseconds from now."""
        if delay_ns < 0:
            raise ValueError(f"cannot schedule {delay_ns} ns in the past")
        ev = Event(self.now + int(delay_ns), fn, args)
        heapq.heappush(self._heap, (ev.time, next(self._seq), fn, args, ev))
        return ev

    def post(self, delay_ns: int, fn, *args) -> None:
        """Run ``fn(*args)`` ``delay_ns`` (an int) nanoseconds from now, with no way to
        cancel it: the datapath's hand-offs (a veth crossing, a frame on a cable), of which
        there are several per hop, need no :class:`Event` of their own."""
        if delay_ns < 0:
            raise ValueError(f"cannot schedule {delay_ns} ns in the past")
        heapq.heappush(self._heap, (self.now + delay_ns, next(self._seq), fn, args, None))

    def call_later(self, seconds: float, fn, *args) -> Event:
        return self.after(round(seconds * S), fn, *args)

    def run(self, until: float = None, max_events: int = None) -> int:
        """Run events in order until the heap is empty, ``until`` seconds of virtual
        time have passed since time 0, or ``max_events`` have run.  Returns the
        number of events run by this call."""
        limit = None if until is None else round(until * S)
        heap = self._heap
        count = 0
        while heap:
            # (time, sequence, fn, args, the Event or None): ordered by time, then by the
            # order of scheduling (the sequence is unique, so nothing after it is compared)
            t, _, fn, args, ev = heap[0]
            if limit is not None and t > limit:
                break
            if max_events is not None and count >= max_events:
                break
            heapq.heappop(heap)
            if ev is not None and ev.cancelled:
                continue
            self.now = t
            fn(*args)
            count += 1
        if limit is not None and self.now < limit and (not heap or heap[0][0] > limit):
            self.now = limit
        self.events_run += count
        return count

    @property
    def pending(self) -> int:
        return sum(1 for *_, ev in self._heap if ev is None or not ev.cancelled)

    # -- identity -----------------------------------------------------------
    def new_pid(self) -> int:
        """A fresh packet identity for a packet born in the model."""
        return next(self._pids)

    # -- naming -------------------------------------------------------------
    def register(self, ns) -> None:
        if ns.name in self.namespaces:
            raise ValueError(f"a namespace named {ns.name!r} already exists")
        self.namespaces[ns.name] = ns

    def ns(self, name: str):
        try:
            return self.namespaces[name]
        except KeyError:
            raise KeyError(f"no namespace named {name!r}; there are: "
                           f"{', '.join(sorted(self.namespaces)) or 'none'}") from None

    # -- observation (called by the model only when ``observers`` is non-empty) --
    def frame(self, dev, frame, direction: str, note: str = None) -> None:
        """``frame`` was seen on ``dev``: direction "in", "out" or "tap" (a bridge's own
        interface seeing a frame it switches, as tcpdump on docker0 does)."""
        for o in self.observers:
            o.on_frame(self.now, dev, frame, direction, note)

    def note(self, dev, frame, text: str) -> None:
        """What a hop decided about a frame it has already reported."""
        for o in self.observers:
            o.on_note(self.now, dev, frame, text)

    def drop(self, where, frame, reason: str, detail: str = "") -> None:
        for o in self.observers:
            o.on_drop(self.now, where, frame, reason, detail)
