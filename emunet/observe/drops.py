"""Drop counters by reason, per device and per namespace, laid out like ``ip -s link``.

Linux counts a drop in a device's ``rx_dropped``/``tx_dropped`` (what ``ip -s
link`` prints) or in the stack's SNMP counters, and names its reason only to a
tracer (the ``skb:kfree_skb`` tracepoint's ``skb_drop_reason``, which
``dropwatch`` and ``perf`` read).  The model keeps both as counters —
``dev.drop_reasons`` for drops on a device's queue, ``ns.drop_reasons`` for
drops in the stack (no route, neighbour failed, no socket, TTL, too big) — and
this view prints them together: emunet's own command, ``drops``, not a Linux tool.

A switch of the underlay (:class:`emunet.devices.switch.Switch`) is no Linux device and
lives in no namespace, but what it discards is lost to the machines cabled to it: the
switches this namespace's NICs are cabled to are listed after the stack, each once it
has dropped something, with its reasons (``VLAN_INGRESS_FILTER``, ``BRIDGE_NO_HAIRPIN``,
``NO_TX_TARGET``, ...).
"""


def _reasons(counter, indent: str = "    ") -> list:
    if not counter:
        return []
    width = max(len(r) for r in counter)
    return [f"{indent}{reason:<{width}}  {n}" for reason, n in sorted(counter.items())]


def drops(ns) -> str:
    """Per device: ``rx dropped``/``tx dropped`` and the reasons; then the stack's reasons;
    then those of each switch a NIC here is cabled to, if it dropped anything."""
    out = []
    devs = sorted(ns.devices.values(), key=lambda d: d.ifindex)
    for dev in devs:
        out.append(f"{dev.ifindex}: {dev.name}: rx dropped {dev.stats.rx_dropped}  "
                   f"tx dropped {dev.stats.tx_dropped}")
        out += _reasons(dev.drop_reasons)
    out.append(f"stack (namespace {ns.name}): dropped {sum(ns.drop_reasons.values())}")
    out += _reasons(ns.drop_reasons)
    cabled = {}
    for dev in devs:
        sw = getattr(dev, "switch", None)
        if sw is not None and sw.dropped:
            cabled.setdefault(sw, []).append(dev.name)
    for sw, names in cabled.items():
        out.append(f"switch {sw.name} ({', '.join(names)} cabled to it): dropped {sw.dropped}")
        out += _reasons(sw.drop_reasons)
    return "\n".join(out) + "\n"


__all__ = ["drops"]
