"""A packet's journey as a sequence picture: which device, when.

One column (lane) per place the packet is seen — each device, the stack's
decisions of each namespace (route lookups, neighbour resolution, encap,
socket delivery, ...), each user-space process that handles it — grouped under
their namespace; one row per step, time running down.  Consecutive steps are
joined by arrows, so the packet's path zig-zags across the lanes as it moves
from namespace to namespace.  A frame that carries the packet inside a tunnel
header is drawn in orange, a drop as a red cross, and the ICMP error sent back
about the packet (if any) with dashed purple arrows below it.

The SVG is written directly (a handful of elements per step), so it is
byte-for-byte reproducible and renders inline in Jupyter (``IPython.display.SVG``).
"""
from xml.sax.saxutils import escape

from emunet.sim import format_elapsed

LANE_W = 92
ROW_H = 24
HEAD_H = 58
LEFT_W = 96
TEXT_W = 560
FONT = "font-family=\"Helvetica,Arial,sans-serif\""
_NS_FILL = ("#eef2ff", "#ecfdf5", "#fff7ed", "#fdf2f8", "#f0f9ff", "#fefce8")
_ERROR = "#7c3aed"
_CARRY = "#ea580c"
_DROP = "#dc2626"
_PLAIN = "#1f2937"


def _lane_of(step) -> tuple:
    """Devices are their own lanes; the stack's decisions share one lane per namespace."""
    if step.device.startswith("("):
        return (step.namespace, "stack")
    return (step.namespace, step.device)


def _short(text: str, n: int = 96) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def sequence_svg(steps: list, title: str = None) -> str:
    """The SVG text of the picture of ``steps`` (a list of :class:`~emunet.observe.trace.Step`)."""
    if not steps:
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40">'
                f'<text x="10" y="24" {FONT} font-size="12">no steps</text></svg>\n')
    namespaces, lanes = [], []
    for s in steps:
        if s.namespace not in namespaces:
            namespaces.append(s.namespace)
    for ns in namespaces:
        for s in steps:
            key = _lane_of(s)
            if key[0] == ns and key not in lanes:
                lanes.append(key)
    x_of = {key: LEFT_W + i * LANE_W + LANE_W // 2 for i, key in enumerate(lanes)}
    width = LEFT_W + len(lanes) * LANE_W + TEXT_W
    top = HEAD_H + (22 if title else 0)
    # an extra row for the separator before the ICMP error's steps
    err_at = next((i for i, s in enumerate(steps) if s.pid != steps[0].pid), None)
    rows = len(steps) + (1 if err_at is not None else 0)
    height = top + rows * ROW_H + 16

    def y_of(i: int) -> int:
        return top + (i + (1 if err_at is not None and i >= err_at else 0)) * ROW_H + ROW_H // 2

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">',
           '<defs>'
           f'<marker id="a" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{_PLAIN}"/></marker>'
           f'<marker id="c" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{_CARRY}"/></marker>'
           f'<marker id="e" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{_ERROR}"/></marker>'
           '</defs>',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>']
    if title:
        out.append(f'<text x="8" y="18" {FONT} font-size="14" font-weight="bold">{escape(title)}</text>')
    # namespace headers and lane headers
    for k, ns in enumerate(namespaces):
        xs = [x_of[key] for key in lanes if key[0] == ns]
        x0, x1 = min(xs) - LANE_W // 2 + 2, max(xs) + LANE_W // 2 - 2
        out.append(f'<rect x="{x0}" y="{top - HEAD_H + 4}" width="{x1 - x0}" height="{height - top + HEAD_H - 10}" '
                   f'rx="6" fill="{_NS_FILL[k % len(_NS_FILL)]}" stroke="#9ca3af"/>')
        out.append(f'<text x="{(x0 + x1) // 2}" y="{top - HEAD_H + 20}" {FONT} font-size="12" '
                   f'font-weight="bold" text-anchor="middle">{escape(ns)}</text>')
    for key in lanes:
        x = x_of[key]
        label = "(stack)" if key[1] == "stack" else key[1]
        out.append(f'<text x="{x}" y="{top - 12}" {FONT} font-size="10" text-anchor="middle">'
                   f'{escape(label)}</text>')
        out.append(f'<line x1="{x}" y1="{top - 6}" x2="{x}" y2="{height - 12}" stroke="#9ca3af" '
                   f'stroke-dasharray="2,3"/>')
    out.append(f'<text x="8" y="{top - 12}" {FONT} font-size="10" font-weight="bold">step   time</text>')
    tx = LEFT_W + len(lanes) * LANE_W + 10
    out.append(f'<text x="{tx}" y="{top - 12}" {FONT} font-size="10" font-weight="bold">'
               f'what was seen or decided</text>')
    if err_at is not None:
        y = top + err_at * ROW_H + ROW_H // 2 + 4
        out.append(f'<text x="{LEFT_W + len(lanes) * LANE_W + 10}" y="{y}" {FONT} font-size="11" fill="{_ERROR}">↩ ICMP error about packet '
                   f'#{steps[0].pid}, back to its sender (packet #{steps[err_at].pid})</text>')
    # arrows first, markers on top
    t0 = steps[0].time_ns
    for i in range(1, len(steps)):
        a, b = steps[i - 1], steps[i]
        xa, ya, xb, yb = x_of[_lane_of(a)], y_of(i - 1), x_of[_lane_of(b)], y_of(i)
        if a.pid != b.pid:       # from the drop to the error it caused
            out.append(f'<line x1="{xa}" y1="{ya + 7}" x2="{xb}" y2="{yb - 7}" stroke="{_ERROR}" '
                       f'stroke-width="1" stroke-dasharray="1,3"/>')
            continue
        if b.role != "packet":
            colour, marker, dash = _ERROR, "e", ' stroke-dasharray="5,3"'
        elif b.carrying or (a.carrying and b.point == "rx"):
            colour, marker, dash = _CARRY, "c", ""
        else:
            colour, marker, dash = _PLAIN, "a", ""
        width_ = 2.5 if colour == _CARRY else 1.4
        out.append(f'<line x1="{xa}" y1="{ya + 5}" x2="{xb}" y2="{yb - 6}" stroke="{colour}" '
                   f'stroke-width="{width_}"{dash} marker-end="url(#{marker})"/>')
    shown = ""
    for i, s in enumerate(steps):
        x, y = x_of[_lane_of(s)], y_of(i)
        # the packet is named where it first appears and where it changes, as in the text
        packet = s.packet if s.packet != shown else ""
        shown = s.packet or shown
        colour = _ERROR if s.role != "packet" else (_CARRY if s.carrying else _PLAIN)
        if s.point == "drop":
            out.append(f'<path d="M{x - 6},{y - 6} L{x + 6},{y + 6} M{x - 6},{y + 6} L{x + 6},{y - 6}" '
                       f'stroke="{_DROP}" stroke-width="3"/>')
        elif s.point in ("tx", "rx", "bridge"):
            fill = colour if s.point == "tx" else "white"
            shape = "rect" if s.point == "bridge" else "circle"
            if shape == "rect":
                out.append(f'<rect x="{x - 6}" y="{y - 6}" width="12" height="12" fill="{fill}" '
                           f'stroke="{colour}" stroke-width="2"/>')
            else:
                out.append(f'<circle cx="{x}" cy="{y}" r="5.5" fill="{fill}" stroke="{colour}" '
                           f'stroke-width="2"/>')
        else:
            out.append(f'<path d="M{x},{y - 6} L{x + 6},{y} L{x},{y + 6} L{x - 6},{y} z" fill="#f9fafb" '
                       f'stroke="{colour}" stroke-width="1.5"/>')
        out.append(f'<text x="8" y="{y + 4}" {FONT} font-size="10">{s.n:>2}</text>')
        out.append(f'<text x="30" y="{y + 4}" {FONT} font-size="10" fill="#4b5563">'
                   f'{escape(format_elapsed(s.time_ns - t0, " "))}</text>')
        what = f"{s.point} {s.device}" if not s.device.startswith("(") else s.device
        body = s.reason + ": " + s.text.partition(": ")[2] if s.point == "drop" else \
            (packet + ("  " if packet and s.text else "") + s.text)
        if s.crossings:
            body += "  (user/kernel crossing " + " and ".join(map(str, s.crossings)) + ")"
        fill = _DROP if s.point == "drop" else colour
        out.append(f'<text x="{tx}" y="{y + 4}" {FONT} font-size="10" fill="{fill}">'
                   f'<tspan font-weight="bold">{escape(what)}</tspan> {escape(_short(body))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


__all__ = ["sequence_svg"]
