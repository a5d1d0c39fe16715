"""``birdc``/``birdcl``: what BIRD 1.6's command-line client prints (``client/``, with the
server side of ``nest/cli.c``: ``proto_cmd_show`` and ``bgp_show_proto_info`` for ``show
protocols [all] [NAME]``, ``rt_show`` for ``show route [all] [PREFIX] [for ADDR] [protocol
NAME] [export NAME] [count]``).
"""
import fnmatch
import ipaddress

from emunet.control.bird.conn import ACTIVE, BE_MAN_DOWN, BE_NONE, BSS_CONNECT, ERR_CLASS
from emunet.control.bird.proto import (PREF_BGP, PREF_DIRECT, PREF_KERNEL, PREF_STATIC, PS_DOWN,
                                       PS_START, PS_UP)
from emunet.control.bird.rt import Rte
from emunet.wire import bgp as W


def _greeting(bird) -> str:
    v = bird.version
    return f"BIRD {v} ready."


def _proto_line(bird, p) -> str:
    tbuf = bird.format_time(p.last_state_change)
    return f"{p.name:<8} {p.proto_label:<8} {'master':<8} {p.proto_state:<5}  {tbuf:<10}  {p.status()}"


def _proto_all(bird, p) -> list:
    lines = [_proto_line(bird, p)]
    if p.kind == "bgp" and p.cf.description:
        lines.append(f"  Description:    {p.cf.description}")
    # the device protocol has no routes but a preference, the direct protocol's default
    pref = {"bgp": PREF_BGP, "static": PREF_STATIC, "kernel": PREF_KERNEL, "direct": PREF_DIRECT,
            "device": PREF_DIRECT}[p.kind]
    lines.append(f"  Preference:     {pref}")
    if p.kind == "bgp":
        inf = "ACCEPT" if p.cf.import_filter == "all" else ("REJECT" if p.cf.import_filter == "none" else "(unnamed)")
        ef = p.export_filter
        outf = "ACCEPT" if ef == "all" else ("REJECT" if ef in ("none", None) else getattr(ef, "__name__", "(unnamed)"))
    elif p.kind == "kernel":
        inf = "ACCEPT"
        kf = bird.kernel.export
        outf = "ACCEPT" if kf == "all" else ("REJECT" if kf in ("none", None) else getattr(kf, "__name__", "(unnamed)"))
    else:
        inf, outf = "ACCEPT", "REJECT"
    lines.append(f"  Input filter:   {inf}")
    lines.append(f"  Output filter:  {outf}")
    if p.proto_state != PS_DOWN:
        nets = bird.table.nets
        imported = sum(1 for rs in nets.values() for r in rs if r.src.proto is p)
        preferred = sum(1 for rs in nets.values() if rs and rs[0].src.proto is p)
        if p.kind == "bgp":
            exported = len(p.adj_out)
        elif p.kind == "kernel":
            exported = len(bird.kernel.installed)
        else:
            exported = 0
        lines.append(f"  Routes:         {imported} imported, {exported} exported, {preferred} preferred")
        s = p.stats
        lines += [
            "  Route change stats:     received   rejected   filtered    ignored   accepted",
            f"    Import updates:     {s.imp_updates_received:10} {s.imp_updates_invalid:10} "
            f"{s.imp_updates_filtered:10} {s.imp_updates_ignored:10} {s.imp_updates_accepted:10}",
            f"    Import withdraws:   {s.imp_withdraws_received:10} {s.imp_withdraws_invalid:10}"
            f"        --- {s.imp_withdraws_ignored:10} {s.imp_withdraws_accepted:10}",
            f"    Export updates:     {s.exp_updates_received:10} {s.exp_updates_rejected:10} "
            f"{s.exp_updates_filtered:10}        --- {s.exp_updates_accepted:10}",
            f"    Export withdraws:   {s.exp_withdraws_received:10}        ---        ---        --- "
            f"{s.exp_withdraws_accepted:10}",
        ]
    if p.kind == "bgp":
        lines += _bgp_info(bird, p)
    lines.append("")
    return lines


def _bgp_info(bird, p) -> list:
    """``bgp_show_proto_info`` (1.6.8)."""
    out = [f"  BGP state:          {p.state_text}",
           f"    Neighbor address: {p.cf.address}",
           f"    Neighbor AS:      {p.remote_as}"]
    if p.gr_active:
        out.append("    Neighbor graceful restart active")
    if p.proto_state == PS_START:
        oc = p.outgoing
        if p.start_state < BSS_CONNECT and p.startup_timer.active:
            out.append(f"    Error wait:       {p.startup_timer.remains()}/{p.startup_delay}")
        if oc.state == ACTIVE and oc.connect_timer.active:
            out.append(f"    Connect delay:    {oc.connect_timer.remains()}/{p.cf.connect_delay_time}")
        if p.gr_active and p.gr_timer.active:
            out.append(f"    Restart timer:    {p.gr_timer.remains()}/-")
    elif p.proto_state == PS_UP and p.conn is not None:
        c = p.conn
        o = c.remote_open
        caps = ""
        if o.capability(W.CAP_ROUTE_REFRESH):
            caps += " refresh"
        if o.capability(W.CAP_ENHANCED_ROUTE_REFRESH):
            caps += " enhanced-refresh"
        if o.capability(W.CAP_GRACEFUL_RESTART):
            caps += " restart-able" if c.peer_gr_able else " restart-aware"
        if o.capability(W.CAP_LLGR):
            caps += " llgr-able" if o.capability(W.CAP_LLGR).value else " llgr-aware"
        if o.as4:
            caps += " AS4"
        if o.add_path & W.ADD_PATH_RX:
            caps += " add-path-rx"
        if o.add_path & W.ADD_PATH_TX:
            caps += " add-path-tx"
        sess = "internal" if p.is_internal else "external"
        if p.multihop:
            sess += " multihop"
        if p.rr_client:
            sess += " route-reflector"
        if p.as4_session:
            sess += " AS4"
        if p.add_path_rx:
            sess += " add-path-rx"
        if p.add_path_tx:
            sess += " add-path-tx"
        out += [f"    Neighbor ID:      {p.remote_id}",
                f"    Neighbor caps:   {caps}",
                f"    Session:          {sess}",
                f"    Source address:   {p.source_addr}",
                f"    Hold timer:       {c.hold_timer.remains()}/{c.hold_time}",
                f"    Keepalive timer:  {c.keepalive_timer.remains()}/{c.keepalive_time}"]
    if p.last_error[0] not in (BE_NONE, BE_MAN_DOWN):
        out.append(f"    Last error:       {ERR_CLASS[p.last_error[0]]}{p.last_error_text()}")
    return out


def _route_lines(bird, r: Rte, primary: bool, verbose: bool) -> list:
    """``rt_show_rte``."""
    if r.dest == "router":
        via = f"via {r.gw} on {r.iface}"
    elif r.dest == "device":
        via = f"dev {r.iface}"
    elif r.dest == "prohibit":
        via = "prohibited"
    else:
        via = r.dest
    frm = f" from {r.from_addr}" if r.from_addr and r.from_addr != r.gw else ""
    mark = ""
    if primary:
        mark = " !" if r.key in bird.kernel.errors else " *"
    if r.kind == "bgp":
        info = f" ({r.pref}"
        if r.stale:
            info += "s"
        if r.recursive:
            info += "/-" if not r.resolvable else f"/{r.igp_metric}"
        info += ") ["
        asns = r.attrs.path_asns()
        if asns:
            info += f"AS{asns[-1]}"
        if r.attrs.origin is not None:
            info += "ie?"[r.attrs.origin]
        info += "]"
    else:
        info = f" ({r.pref})"
    lines = [f"{r.prefix:<18} {via} [{r.proto_name} {bird.format_time(r.lastmod)}{frm}]{mark}{info}"]
    if verbose:
        kind = {"bgp": "BGP", "static": "static", "direct": "device", "kernel": "inherit"}[r.kind]
        lines.append(f"\tType: {kind} unicast univ")
        if r.kind == "kernel":
            lines += [f"\tKernel.source: {r.attrs[0]}", f"\tKernel.metric: {r.attrs[1]}"]
        elif r.attrs is not None:
            lines += _bgp_attr_lines(r.attrs)
    return lines


def fib_order(key) -> tuple:
    """Where network ``key`` comes in a walk of BIRD 1.6's FIB (``nest/rt-fib.c``): by
    ``ipa_hash`` of the address (``ipv4_hash``: a 16-bit mix), as the chains are kept sorted
    by ``uid`` = hash << 16 + a counter; networks of one hash (rare) in the order they were
    added there, here by length and address."""
    a = key[0]
    a ^= a >> 16
    a ^= (a << 10) & 0xFFFFFFFF
    return (a & 0xFFFF, key[1], key[0])


def _bgp_attr_lines(a) -> list:
    """The ``BGP.*`` lines of ``show route all`` for one set of path attributes."""
    lines = [f"\tBGP.origin: {('IGP', 'EGP', 'Incomplete')[a.origin or 0]}",
             f"\tBGP.as_path: {' '.join(str(x) for x in a.path_asns())}",
             f"\tBGP.next_hop: {a.next_hop}"]
    if a.med is not None:
        lines.append(f"\tBGP.med: {a.med}")
    if a.local_pref is not None:
        lines.append(f"\tBGP.local_pref: {a.local_pref}")
    if a.originator_id is not None:
        lines.append(f"\tBGP.originator_id: {a.originator_id}")
    if a.cluster_list:
        lines.append(f"\tBGP.cluster_list: {' '.join(a.cluster_list)}")
    if a.communities:
        lines.append("\tBGP.community: " + " ".join(f"({c >> 16},{c & 0xFFFF})" for c in a.communities))
    return lines


def _export_attrs_lines(p, r: Rte, pa) -> list:
    """``show route export P all``: the attributes as they are sent to ``p``."""
    return [f"\tType: {'BGP' if r.kind == 'bgp' else r.kind} unicast univ"] + _bgp_attr_lines(pa)


def birdc(bird, command: str) -> str:
    words = command.split()
    if words and words[0] in ("birdc", "birdcl"):
        words = words[1:]
    head = _greeting(bird)
    if not bird.running and bird.exit_code is not None:
        return "Unable to connect to server control socket (/var/run/bird/bird.ctl): " \
               "Connection refused\n"
    if len(words) >= 2 and words[0] == "show" and "protocols".startswith(words[1]) and len(words[1]) >= 3:
        rest = words[2:]
        verbose = bool(rest) and rest[0] == "all"
        if verbose:
            rest = rest[1:]
        protos = bird.all_protocols
        if rest:
            protos = [p for p in protos if fnmatch.fnmatchcase(p.name, rest[0].strip('"'))]
            if not protos:
                return f"{head}\nsyntax error, unexpected CF_SYM_UNDEFINED, expecting END or CF_SYM_DEFINED or TEXT or ALL\n"
        lines = [head, "name     proto    table    state  since       info"]
        for p in protos:
            lines += _proto_all(bird, p) if verbose else [_proto_line(bird, p)]
        return "\n".join(lines) + "\n"
    if len(words) >= 2 and words[0] == "show" and words[1] == "route":
        rest = words[2:]
        verbose = "all" in rest
        rest = [w for w in rest if w != "all"]
        count = "count" in rest
        rest = [w for w in rest if w != "count"]
        opts = {}
        while rest:
            if len(rest) >= 2 and rest[0] in ("for", "protocol", "export"):
                opts[rest[0]] = rest[1]
                rest = rest[2:]
            elif "/" in rest[0] and "net" not in opts:
                opts["net"] = rest[0]          # ``show route PREFIX``: that network exactly
                rest = rest[1:]
            else:
                return f"{head}\nsyntax error, unexpected CF_SYM_UNDEFINED\n"
        lines = [head]
        nets = bird.table.nets
        keys = sorted(nets, key=fib_order)
        try:
            if "net" in opts:
                net = ipaddress.IPv4Network(opts["net"], strict=False)
                keys = [k for k in keys if k == (int(net.network_address), net.prefixlen)]
            if "for" in opts:
                # ``for ADDR`` or ``for PREFIX``: the longest route covering it
                net = ipaddress.IPv4Network(opts["for"], strict=False)
                ip, plen = int(net.network_address), net.prefixlen
                best = None
                for k in keys:
                    if k[1] <= plen and (k[1] == 0 or (ip ^ k[0]) >> (32 - k[1]) == 0):
                        if best is None or k[1] > best[1]:
                            best = k
                keys = [best] if best is not None else []
        except ValueError:
            return f"{head}\nsyntax error, unexpected CF_SYM_UNDEFINED\n"
        nroutes = nnets = 0
        if "export" in opts:
            p = bird.protocol(opts["export"])
            for k in keys:
                shown = False
                for (pk, pid), pa in sorted(p.adj_out.items(), key=lambda t: (t[0][1] or 0)):
                    if pk != k:
                        continue
                    r = next((x for x in nets.get(k, ()) if pid is None or x.src.global_id == pid),
                             None)
                    if r is None:
                        continue
                    nroutes += 1
                    shown = True
                    if not count:
                        lines += _route_lines(bird, r, r is nets[k][0], False)
                        if verbose:
                            lines += _export_attrs_lines(p, r, pa)
                nnets += shown
        else:
            for k in keys:
                routes = nets.get(k, [])
                sel = [r for r in routes if "protocol" not in opts or r.proto_name == opts["protocol"]]
                if sel:
                    nnets += 1
                for r in sel:
                    nroutes += 1
                    if not count:
                        lines += _route_lines(bird, r, r is routes[0], verbose)
        if count:
            lines.append(f"{nroutes} of {nroutes} routes for {nnets} networks")
        return "\n".join(lines) + "\n"
    return f"{head}\nsyntax error, unexpected CF_SYM_UNDEFINED, expecting ...\n"


__all__ = ["birdc", "fib_order"]
