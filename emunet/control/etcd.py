"""An etcd-like key-value store on the virtual clock: revisions, TTL leases and prefix watches.

Flannel keeps its state in etcd (the v3 API, as flanneld's ``pkg/subnet/etcd``
uses it): the network configuration at ``/coreos.com/network/config`` and one
key per node subnet under ``/coreos.com/network/subnets/``, each attached to
a lease granted with a 24-hour TTL.  This store has the parts of etcd that
behaviour depends on:

* every change bumps the store **revision**; a key remembers its create and
  mod revisions and its version;
* **leases** (``grant(ttl)``) expire ``ttl`` seconds after they were granted or
  last kept alive; when one expires every key still attached to it is deleted
  (one DELETE event per key), as etcd's lessor does.  Putting a key with a new
  lease detaches it from the old one (flannel's ``updateSubnet`` grants a new
  lease at each renewal);
* **watches** on a prefix deliver the events of each revision to a callback,
  ``watch_delay_ns`` after the change (the time a watch response takes to reach
  a client); a watch may start at an older revision and replays history;
* ``create`` is the transaction flannel uses to claim a subnet
  (``If(Version(key) = 0).Then(Put)``).

etcd lives outside the datapath, as the real one does on its own machines:
clients call it directly and no packets are modelled for it.
"""
import bisect

import attrs

from emunet.sim import MS, S


@attrs.define(eq=False)
class KeyValue:
    key: str
    value: str
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0
    #: what a client decoded from this version of the key (clients may memoise here)
    decoded: object = None


@attrs.define(eq=False)
class WatchEvent:
    type: str            # "PUT" or "DELETE"
    kv: KeyValue
    revision: int
    prev_kv: KeyValue = None


@attrs.define(eq=False)
class Lease:
    id: int
    ttl: int             # seconds, as granted
    expires_ns: int
    keys: set = attrs.Factory(set)
    timer: object = None


class Watch:
    def __init__(self, store, prefix: str, callback):
        self.store = store
        self.prefix = prefix
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        if self in self.store.watches:
            self.store.watches.remove(self)


class EtcdStore:
    """The store.  ``sim`` provides the clock; nothing here draws randomness."""

    def __init__(self, sim, name: str = "etcd", watch_delay_ns: int = 1 * MS):
        self.sim = sim
        self.name = name
        self.watch_delay_ns = watch_delay_ns
        self.revision = 1          # a fresh etcd cluster is at revision 1
        self.data = {}
        self.leases = {}
        self.watches = []
        self.history = []
        # the live keys in order, so that a range is a slice (as etcd's B-tree index reads
        # it), and the history's revisions, so that a replay starts where it must
        self._keys = []
        self._history_revs = []
        self._next_lease = 0x694D7A2E0C9E1A01   # lease IDs look like etcd's: large, increasing

    # -- leases ---------------------------------------------------------------
    def grant(self, ttl: int) -> Lease:
        """``LeaseGrant``: a lease that expires ``ttl`` seconds from now."""
        if ttl <= 0:
            raise ValueError(f"etcdserver: lease TTL must be positive, not {ttl}")
        lid = self._next_lease
        self._next_lease += 1
        lease = Lease(lid, ttl, self.sim.now + ttl * S)
        lease.timer = self.sim.after(ttl * S, self._expire, lid)
        self.leases[lid] = lease
        return lease

    def keepalive(self, lease_id: int) -> int:
        """``LeaseKeepAlive``: the lease lives ``ttl`` more seconds; returns the TTL."""
        lease = self.leases.get(lease_id)
        if lease is None:
            raise KeyError(f"etcdserver: requested lease not found ({lease_id:x})")
        lease.timer.cancel()
        lease.expires_ns = self.sim.now + lease.ttl * S
        lease.timer = self.sim.after(lease.ttl * S, self._expire, lease_id)
        return lease.ttl

    def revoke(self, lease_id: int) -> None:
        """``LeaseRevoke``: delete the lease and every key attached to it, now."""
        lease = self.leases.pop(lease_id, None)
        if lease is None:
            raise KeyError(f"etcdserver: requested lease not found ({lease_id:x})")
        lease.timer.cancel()
        self._delete_keys(sorted(lease.keys))

    def time_to_live(self, lease_id: int) -> int:
        """Seconds left (``LeaseTimeToLive``), -1 if the lease is gone."""
        lease = self.leases.get(lease_id)
        if lease is None:
            return -1
        return max(0, (lease.expires_ns - self.sim.now) // S)

    def _expire(self, lease_id: int) -> None:
        lease = self.leases.pop(lease_id, None)
        if lease is not None:
            self._delete_keys(sorted(lease.keys))

    # -- keys -----------------------------------------------------------------
    def get(self, key: str):
        return self.data.get(key)

    def range(self, prefix: str) -> list:
        """``Get(prefix, WithPrefix())``: the live keys under ``prefix``, sorted by key."""
        keys, data = self._keys, self.data
        out = []
        i = bisect.bisect_left(keys, prefix)
        while i < len(keys) and keys[i].startswith(prefix):
            out.append(data[keys[i]])
            i += 1
        return out

    def put(self, key: str, value: str, lease: int = 0, ttl: int = None) -> int:
        """``Put``; ``ttl`` is a shortcut that grants a fresh lease.  Returns the revision."""
        if ttl is not None:
            lease = self.grant(ttl).id
        if lease and lease not in self.leases:
            raise KeyError(f"etcdserver: requested lease not found ({lease:x})")
        self.revision += 1
        prev = self.data.get(key)
        if prev is not None and prev.lease and prev.lease != lease and prev.lease in self.leases:
            self.leases[prev.lease].keys.discard(key)
        kv = KeyValue(key, value, prev.create_revision if prev else self.revision, self.revision,
                      prev.version + 1 if prev else 1, lease)
        self.data[key] = kv
        if prev is None:
            bisect.insort(self._keys, key)
        if lease:
            self.leases[lease].keys.add(key)
        self._emit([WatchEvent("PUT", kv, self.revision, prev)])
        return self.revision

    def create(self, key: str, value: str, lease: int = 0) -> bool:
        """``Txn().If(Version(key) = 0).Then(Put(key, value, lease))``: False if taken."""
        if key in self.data:
            return False
        self.put(key, value, lease)
        return True

    def delete(self, key: str) -> bool:
        if key not in self.data:
            return False
        self._delete_keys([key])
        return True

    def _delete_keys(self, keys) -> None:
        events = []
        for key in keys:
            prev = self.data.pop(key, None)
            if prev is None:
                continue
            del self._keys[bisect.bisect_left(self._keys, key)]
            if prev.lease in self.leases:
                self.leases[prev.lease].keys.discard(key)
            self.revision += 1
            gone = KeyValue(key, "", 0, self.revision, 0, 0)
            events.append(WatchEvent("DELETE", gone, self.revision, prev))
        if events:
            self._emit(events)

    # -- watches --------------------------------------------------------------
    def watch(self, prefix: str, callback, start_revision: int = None) -> Watch:
        """Call ``callback(events)`` for changes under ``prefix``; with ``start_revision``,
        first replay the history from that revision on."""
        w = Watch(self, prefix, callback)
        self.watches.append(w)
        if start_revision is not None:
            first = bisect.bisect_left(self._history_revs, start_revision)
            old = [e for e in self.history[first:] if e.kv.key.startswith(prefix)]
            if old:
                self.sim.after(self.watch_delay_ns, self._deliver, w, old)
        return w

    def _emit(self, events) -> None:
        self.history.extend(events)
        self._history_revs.extend(e.revision for e in events)
        # one delivery for every watcher of this change, in the order they started watching
        # (as one event per watcher would run: back to back, nothing in between), the events
        # filtered once per prefix however many watchers share it; watchers get the same
        # list and must not change it
        by_prefix = {}
        targets = []
        for w in self.watches:
            mine = by_prefix.get(w.prefix)
            if mine is None:
                mine = by_prefix[w.prefix] = [e for e in events if e.kv.key.startswith(w.prefix)]
            if mine:
                targets.append((w, mine))
        if targets:
            self.sim.after(self.watch_delay_ns, self._deliver_all, targets)

    @staticmethod
    def _deliver(w: Watch, events) -> None:
        if not w.cancelled:
            w.callback(events)

    @staticmethod
    def _deliver_all(targets) -> None:
        for w, events in targets:
            if not w.cancelled:
                w.callback(events)

    # -- etcdctl ----------------------------------------------------------------
    def etcdctl_get(self, key: str, prefix: bool = False) -> str:
        """What ``etcdctl get KEY [--prefix]`` prints: key and value lines."""
        kvs = self.range(key) if prefix else ([self.data[key]] if key in self.data else [])
        return "".join(f"{kv.key}\n{kv.value}\n" for kv in kvs)


__all__ = ["EtcdStore", "KeyValue", "WatchEvent", "Lease", "Watch"]
