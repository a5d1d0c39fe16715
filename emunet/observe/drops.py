"""Drop counters by reason, per device and per namespace, laid out like ``ip -s link``.

Linux counts a drop in a device's ``rx_dropped``/``tx_dropped`` (what ``ip -s
link`` prints) or in the stack's SNMP counters, and names its reason only to a
tracer (the ``skb:kfree_skb`` tracepoint's ``skb_drop_reason``, which
``dropwatch`` and ``perf`` read).  The model keeps both as counters —
``dev.drop_reasons`` for drops on a device's queue, ``ns.drop_reasons`` for
drops in the stack (no route, neighbour failed, no socket, TTL, too big) — and
this view prints them together: emunet's own command, ``drops``, not a Linux tool.
"""


def _reasons(counter, indent: str = "    ") -> list:
    if not counter:
        return []
    width = max(len(r) for r in counter)
    return [f"{indent}{reason:<{width}}  {n}" for reason, n in sorted(counter.items())]


def drops(ns) -> str:
    """Per device: ``rx dropped``/``tx dropped`` and the reasons; then the stack's reasons."""
    out = []
    for dev in sorted(ns.devices.values(), key=lambda d: d.ifindex):
        out.append(f"{dev.ifindex}: {dev.name}: rx dropped {dev.stats.rx_dropped}  "
                   f"tx dropped {dev.stats.tx_dropped}")
        out += _reasons(dev.drop_reasons)
    out.append(f"stack (namespace {ns.name}): dropped {sum(ns.drop_reasons.values())}")
    out += _reasons(ns.drop_reasons)
    return "\n".join(out) + "\n"


__all__ = ["drops"]
