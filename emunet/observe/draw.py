"""Pictures of a scenario: its topology in the layout of the seed's figures.

Hosts and containers are boxes (a Graphviz cluster per namespace) with their
devices inside; veth pairs, bridge ports, underlay cables and tunnel devices
are the edges between them.  Built with the ``graphviz`` package (which writes
DOT and runs Graphviz's ``dot``); ``dot_source`` needs no binary at all.
"""
import ipaddress

from emunet.wire.ethernet import mac_to_str

_KIND_STYLE = {
    "bridge": {"shape": "box3d", "style": "filled", "fillcolor": "#ffe9b3"},
    "veth": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbeafe"},
    "loopback": {"shape": "box", "style": "rounded,dashed"},
    "ether": {"shape": "box", "style": "filled", "fillcolor": "#d1fae5"},
    "tun": {"shape": "cds", "style": "filled", "fillcolor": "#fde2e2"},
    "vxlan": {"shape": "cds", "style": "filled", "fillcolor": "#fde2e2"},
    "ipip": {"shape": "cds", "style": "filled", "fillcolor": "#fde2e2"},
    "vlan": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ede9fe"},
}


def _node_id(dev) -> str:
    return f"{dev.ns.name}/{dev.name}".replace('"', "")


def _label(dev) -> str:
    lines = [dev.name]
    if dev.kind not in ("loopback",) and any(dev.mac):
        lines.append(mac_to_str(dev.mac))
    for a in dev.ns.addresses(dev):
        lines.append(f"{a.ip}/{a.prefixlen}")
    extra = getattr(dev, "describe", None)
    if callable(extra):
        lines.append(extra())
    return "\\n".join(lines)


def build_graph(sim, title: str = None, show_lo: bool = False):
    """A ``graphviz.Graph`` of every namespace, device and link of ``sim``."""
    import graphviz
    g = graphviz.Graph("emunet", graph_attr={"compound": "true", "fontname": "Helvetica",
                                             "rankdir": "TB", "label": title or "", "labelloc": "t"},
                       node_attr={"fontname": "Helvetica", "fontsize": "10"},
                       edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    switches = {}
    children = {}
    for ns in sim.namespaces.values():
        children.setdefault(getattr(ns, "parent", None), []).append(ns)

    def box(parent_graph, ns):
        # a container's namespace is drawn inside the host it runs on, as in the seed's figures
        with parent_graph.subgraph(name=f"cluster_{ns.name}") as c:
            routes = [r.show() for r in ns.tables["main"].routes()][:6]
            c.attr(label=f"{ns.name}", style="rounded", color="#6b7280", fontsize="12")
            for dev in ns.devices.values():
                if dev.loopback and not show_lo:
                    continue
                c.node(_node_id(dev), _label(dev), **_KIND_STYLE.get(dev.kind, {"shape": "box"}))
            if routes:
                c.node(f"{ns.name}/#routes", "\\l".join(routes) + "\\l", shape="note",
                       fontsize="8", color="#9ca3af")
            for child in children.get(ns, []):
                box(c, child)

    for ns in children.get(None, []):
        box(g, ns)
    drawn = set()
    for ns in sim.namespaces.values():
        for dev in ns.devices.values():
            peer = getattr(dev, "peer", None)
            if peer is not None and peer.ns is not None and (id(peer), id(dev)) not in drawn:
                drawn.add((id(dev), id(peer)))
                g.edge(_node_id(dev), _node_id(peer), label="veth", color="#2563eb", penwidth="2")
            if dev.master is not None:
                g.edge(_node_id(dev), _node_id(dev.master), style="dashed", label="master")
            sw = getattr(dev, "switch", None)
            if sw is not None:
                if sw.name not in switches:
                    switches[sw.name] = sw
                    g.node(f"switch/{sw.name}", f"switch {sw.name}", shape="hexagon",
                           style="filled", fillcolor="#e5e7eb")
                label = "cable"
                if getattr(sw, "vlan_aware", False):
                    label = sw.port_vlan(dev).describe()   # "access 10", "trunk 10,20"
                g.edge(_node_id(dev), f"switch/{sw.name}", label=label, penwidth="2")
            lower = getattr(dev, "lower", None)
            if lower is not None and lower.ns is not None:
                label = f"vlan {dev.vid} on" if dev.kind == "vlan" else "encap via"
                g.edge(_node_id(dev), _node_id(lower), style="dotted", label=label)
    return g


def dot_source(sim, title: str = None) -> str:
    return build_graph(sim, title).source


def render(sim, path: str, title: str = None) -> str:
    """Write the picture to ``path``; the suffix (.svg, .png, .pdf, .dot) picks the format."""
    fmt = path.rsplit(".", 1)[-1].lower() if "." in path else "svg"
    g = build_graph(sim, title)
    if fmt in ("dot", "gv"):
        with open(path, "w") as f:
            f.write(g.source)
        return path
    data = g.pipe(format=fmt)
    with open(path, "wb") as f:
        f.write(data)
    return path


__all__ = ["build_graph", "dot_source", "render", "ipaddress"]
