"""Pictures of a scenario: its topology in the layout of the seed's figures.

Hosts are boxes (a Graphviz cluster per namespace) with their containers drawn
inside them at the top, as the seed draws Container-1 and Container-2 inside
Node1: each container's ``eth0`` joined by its veth pair to the host's end,
the veths enslaved to the bridge (``docker0``/``cni0``), below it the tunnel
devices (``flannel0`` with the process that holds it open, ``flannel.1``,
``tunl0``) and at the bottom the host's NIC, cabled to the underlay switch;
machines that hold no containers (the underlay's router) hang below the switch.
Every device is labelled with its name, MAC and addresses; a forwarding
namespace's routes are in a note beside it.

Built with the ``graphviz`` package (which writes DOT and runs Graphviz's
``dot``); ``dot_source`` and a ``.dot`` file need no binary at all.
"""
from emunet.wire.ethernet import mac_to_str
from emunet.wire.ipv4 import int_to_ip

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
#: where a device sits in a host's box, top to bottom (the seed's figures)
_TIER = {"veth": 0, "bridge": 1, "vlan": 2, "tun": 2, "vxlan": 2, "ipip": 2, "ether": 3}
_TUNNELS = ("tun", "vxlan", "ipip", "vlan")


def _node_id(dev) -> str:
    return f"{dev.ns.name}/{dev.name}".replace('"', "")


def _switch_id(sw) -> str:
    # no ':' in a node id: Graphviz reads "a:b" as port b of node a
    return f"switch/{sw.name}".replace('"', "")


def _proc_id(proc) -> str:
    return f"{proc.ns.name}/process {proc.pid}".replace('"', "")


def _label(dev) -> str:
    lines = [dev.name]
    if dev.kind not in ("loopback",) and any(dev.mac):
        lines.append(mac_to_str(dev.mac))
    for a in dev.ns.addresses(dev):
        lines.append(f"{a.ip}/{a.prefixlen}")
    extra = getattr(dev, "describe", None)
    if callable(extra):
        lines.append(extra())
    elif dev.kind == "vxlan" and hasattr(dev, "vni"):
        lines.append(f"vxlan id {dev.vni} dstport {dev.dstport}")
    elif dev.kind == "ipip" and hasattr(dev, "remote"):
        # the fallback tunl0 is bound to no peer: each route's next hop is the far end
        lines.append("ipip remote " + (int_to_ip(dev.remote) if dev.remote else "any"))
    return "\\n".join(lines)


def _devices(ns, show_lo: bool) -> list:
    return [d for d in ns.devices.values() if show_lo or not d.loopback]


def parent_of(ns):
    """The machine a container runs on: ``ns.parent`` when the control plane set it, else
    the one namespace that holds the other end of every veth of ``ns`` (and more besides)."""
    if getattr(ns, "parent", None) is not None:
        return ns.parent
    devs = [d for d in ns.devices.values() if not d.loopback]
    peers = {id(getattr(d, "peer", None) and d.peer.ns): getattr(d, "peer", None) for d in devs}
    if not devs or len(peers) != 1:
        return None
    peer = next(iter(peers.values()))
    if peer is None or peer.ns is None or peer.ns is ns:
        return None
    other = peer.ns
    return other if len([d for d in other.devices.values() if not d.loopback]) > len(devs) else None


def build_graph(sim, title: str = None, show_lo: bool = False, routes: bool = True):
    """A ``graphviz.Graph`` of every namespace, device and link of ``sim``."""
    import graphviz
    g = graphviz.Graph("emunet", graph_attr={"compound": "true", "fontname": "Helvetica",
                                             "rankdir": "TB", "label": title or "", "labelloc": "t",
                                             "newrank": "true", "nodesep": "0.25", "ranksep": "0.45"},
                       node_attr={"fontname": "Helvetica", "fontsize": "10"},
                       edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    children = {}
    parents = {ns: parent_of(ns) for ns in sim.namespaces.values()}
    for ns in sim.namespaces.values():
        children.setdefault(parents[ns], []).append(ns)
    hosts = {ns for ns in sim.namespaces.values() if children.get(ns)}

    members = {}         # namespace -> the node ids drawn in its box, other than devices

    def box(parent_graph, ns):
        own = members.setdefault(ns.name, [])
        with parent_graph.subgraph(name=f"cluster_{ns.name}") as c:
            c.attr(label=ns.name, style="rounded", color="#6b7280", fontsize="12",
                   bgcolor="#f9fafb" if ns in hosts else "white")
            for child in children.get(ns, []):
                box(c, child)
            for dev in _devices(ns, show_lo):
                c.node(_node_id(dev), _label(dev), **_KIND_STYLE.get(dev.kind, {"shape": "box"}))
            # the daemons living in the namespace (flanneld, nginx of a --net=host container)
            for proc in getattr(ns, "processes", []):
                if proc.running:
                    own.append(_proc_id(proc))
                    c.node(_proc_id(proc), f"{proc.name}\\n(process {proc.pid})", shape="component",
                           style="filled", fillcolor="#fef3c7")
            lines = [r.show() for r in ns.fib.tables["main"].routes()][:8] \
                if routes and ns.sysctl.get("net.ipv4.ip_forward") else []
            if lines and ns in hosts:
                own.append(f"{ns.name}/routes")
                c.node(f"{ns.name}/routes", "\\l".join(lines) + "\\l", shape="note",
                       fontsize="8", color="#9ca3af")
            elif lines:      # a router on the underlay: its routes under its name
                c.attr(label=ns.name + "\\n" + "\\l".join(lines) + "\\l", fontsize="9")

    # hosts first, left to right; machines without containers (routers) after them
    for ns in sorted(children.get(None, []), key=lambda n: n not in hosts):
        box(g, ns)

    switches = {}
    drawn = set()
    for ns in sim.namespaces.values():
        devs = _devices(ns, show_lo)
        for dev in devs:
            peer = getattr(dev, "peer", None)
            if peer is not None and peer.ns is not None and id(peer) not in drawn:
                drawn.add(id(dev))
                # the container's end on top: it is the tail of the edge
                top, bottom = (peer, dev) if parents.get(peer.ns) is ns else (dev, peer)
                g.edge(_node_id(top), _node_id(bottom), label="veth", color="#2563eb", penwidth="2")
            if dev.master is not None:
                g.edge(_node_id(dev), _node_id(dev.master), style="dashed", label="master")
            sw = getattr(dev, "switch", None)
            if sw is not None:
                if sw.name not in switches:
                    switches[sw.name] = sw
                    g.node(_switch_id(sw), f"switch {sw.name}", shape="hexagon", style="filled",
                           fillcolor="#e5e7eb")
                label = "cable"
                if getattr(sw, "vlan_aware", False):
                    label = sw.port_vlan(dev).describe()   # "access 10", "trunk 10,20"
                if hosts and ns not in hosts:
                    # a machine without containers (the underlay's router, a route reflector)
                    # hangs below the switch the hosts stand on: the cable does not rank it,
                    # unseen edges do, for the daemons in its box as for the NIC
                    g.edge(_node_id(dev), _switch_id(sw), label=label, penwidth="2", constraint="false")
                    g.edge(_switch_id(sw), _node_id(dev), style="invis")
                    for other in members.pop(ns.name, ()):
                        g.edge(_switch_id(sw), other, style="invis")
                else:
                    g.edge(_node_id(dev), _switch_id(sw), label=label, penwidth="2")
            lower = getattr(dev, "lower", None)
            if lower is not None and lower.ns is not None:
                label = f"vlan {dev.vid} on" if dev.kind == "vlan" else "encap via"
                g.edge(_node_id(dev), _node_id(lower), style="dotted", label=label)
            owner = getattr(dev, "owner", None)
            if dev.kind == "tun" and owner is not None and getattr(owner, "ns", None) is ns:
                proc = _proc_id(owner)
                g.edge(_node_id(dev), proc, label="read/write", style="dotted")
                nic = next((d for d in devs if d.kind == "ether" and getattr(d, "switch", None)), None)
                if nic is not None:
                    g.edge(proc, _node_id(nic), label="UDP socket", style="dotted")
        # layout only: bridge above the tunnels above the NIC, as the seed draws a host; a
        # host's veths enslaved to no bridge (Calico's cali*) above all of them
        tiers = {}
        for dev in devs:
            if dev.master is None and dev.kind in _TIER and (dev.kind != "veth" or ns in hosts):
                tiers.setdefault(_TIER[dev.kind], []).append(dev)
        levels = [tiers[k] for k in sorted(tiers)]
        for upper, lower_ in zip(levels, levels[1:]):
            for a in upper:
                for b in lower_:
                    if getattr(a, "lower", None) is b:
                        continue
                    g.edge(_node_id(a), _node_id(b), style="invis")
    return g


def dot_source(sim, title: str = None) -> str:
    return build_graph(sim, title).source


def svg(sim, title: str = None) -> str:
    """The picture as SVG text (for a notebook: ``IPython.display.SVG(svg(lab.sim))``)."""
    return build_graph(sim, title).pipe(format="svg").decode()


def render(sim, path: str, title: str = None) -> str:
    """Write the picture to ``path``; the suffix (.svg, .png, .pdf, .dot) picks the format.
    Any but .dot runs Graphviz's ``dot`` (``graphviz.ExecutableNotFound`` without it)."""
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


__all__ = ["build_graph", "dot_source", "svg", "render", "parent_of"]
