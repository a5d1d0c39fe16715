"""Notifier chains (``kernel/notifier.c``): how one part of the stack hears of another's changes.

The kernel's netdevice chain (``call_netdevice_notifiers``: ``NETDEV_UP``,
``NETDEV_DOWN``, ``NETDEV_CHANGE`` for a carrier change, ...) tells the FIB, ARP and
the VLAN code that a device changed; the FIB chain (``call_fib_notifiers``) tells
whoever listens that a route was added or deleted.  A namespace holds one chain of
each; devices and routing tables call them, and the listeners register themselves,
so no change has to remember who depends on it.
"""


class NotifierChain:
    """A raw notifier chain: ``call(event, obj)`` runs every registered callback, in the
    order they registered, with the event and the object it is about."""

    __slots__ = ("callbacks",)

    def __init__(self):
        self.callbacks = []

    def register(self, callback) -> None:
        if callback not in self.callbacks:
            self.callbacks.append(callback)

    def call(self, event: str, obj) -> None:
        for callback in self.callbacks:
            callback(event, obj)


#: ``call_fib_notifiers`` events
FIB_EVENT_ENTRY_ADD = "FIB_EVENT_ENTRY_ADD"
FIB_EVENT_ENTRY_DEL = "FIB_EVENT_ENTRY_DEL"

__all__ = ["NotifierChain", "FIB_EVENT_ENTRY_ADD", "FIB_EVENT_ENTRY_DEL"]
