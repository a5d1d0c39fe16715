"""What ``iptables -S`` and ``iptables -L`` print (iptables 1.8.9, nf_tables:
``nft_rule_list``/``nft_rule_save``, ``print_header``, ``print_firewall``)."""
from emunet.stack.netfilter.libxtables import format_addr, proto_name
from emunet.stack.netfilter.xtables import Rule, Table

__all__ = ["list_rules", "list_entries"]


def list_rules(table: Table, chain: str = None, rulenum: int = 0, counters: bool = False) -> str:
    """``iptables -S [CHAIN [N]] [-v]`` (``nft_rule_list_save``)."""
    out = []
    chains = [table.chains[chain]] if chain is not None else table.listing_order()
    if not rulenum:
        for c in chains:
            if c.builtin:
                out.append(f"-P {c.name} {c.policy}" + (f" -c {c.packets} {c.bytes}" if counters else ""))
            else:
                out.append(f"-N {c.name}")
    for c in chains:
        for num, r in enumerate(c.rules, 1):
            if rulenum and num != rulenum:
                continue
            out.append(f"-A {c.name}{r.spec(counters=counters)}")
    return "".join(line + "\n" for line in out)


def _num(n: int, exact: bool) -> str:
    """``xtables_print_num`` in a table."""
    if exact:
        return f"{n:8d} "
    if n <= 99999:
        return f"{n:5d} "
    for unit in "KMGT":
        n = (n + 500) // 1000
        if n <= 9999 or unit == "T":
            return f"{n:4d}{unit} "
    return ""


def list_entries(table: Table, chain: str = None, rulenum: int = 0, verbose: bool = False,
                 numeric: bool = False, exact: bool = False, linenumbers: bool = False) -> str:
    """``iptables -L [CHAIN [N]] [-n] [-v] [-x] [--line-numbers]`` (``nft_rule_list``,
    ``print_header``, ``print_firewall``)."""
    out = []
    chains = [table.chains[chain]] if chain is not None else table.listing_order()
    first = True
    for c in chains:
        if not rulenum:
            if not first:
                out.append("\n")
            first = False
            out.append(_header(table, c, verbose, exact, linenumbers))
        for num, r in enumerate(c.rules, 1):
            if rulenum and num != rulenum:
                continue
            out.append(_rule_line(r, num, verbose, numeric, exact, linenumbers))
    return "".join(out)


def _header(table, c, verbose, exact, linenumbers) -> str:
    line = f"Chain {c.name}"
    if c.builtin:
        line += f" (policy {c.policy}"
        if verbose:
            line += f" {c.packets} packets, {c.bytes} bytes"
        line += ")\n"
    else:
        line += f" ({table.references(c.name)} references)\n"
    if linenumbers:
        line += f"{'num':<4} "
    if verbose:
        if exact:
            line += f"{'pkts':>8} {'bytes':>10} "
        else:
            line += f"{'pkts':>5} {'bytes':>5} "
    line += f"{'target':<9} "
    line += " prot opt"
    if verbose:
        line += f" {'in':<6} {'out':<6} "
    line += f" {'source':<19} "
    line += f" {'destination':<19} "
    return line + "\n"


def _rule_line(r: Rule, num, verbose, numeric, exact, linenumbers) -> str:
    ip = r.ip
    out = []
    if linenumbers:
        out.append(f"{num:<4d} ")
    if verbose:
        out.append(_num(r.packets, exact))
        out.append(_num(r.bytes, exact))
    out.append(f"{r.target_name:<9} ")
    out.append("!" if ip.inv_proto else " ")
    pname = proto_name(ip.proto, numeric)
    if numeric or pname is None:
        out.append(f"{ip.proto:<4d} ")
    else:
        out.append(f"{pname:<4} ")
    # print_fragment
    out.append(("!" if ip.frag < 0 else "-") + ("f" if ip.frag else "-") + " ")
    if verbose:
        anyname = "*" if numeric else "any"
        iin = ("!" if ip.inv_in else "") + (ip.iniface if ip.iniface else anyname)
        iout = ("!" if ip.inv_out else "") + (ip.outiface if ip.outiface else anyname)
        out.append(f" {iin:<6} ")
        out.append(f"{iout:<6} ")
    out.append("!" if ip.inv_src else " ")
    out.append(f"{format_addr(ip.src, ip.smsk, numeric):<19} ")
    out.append("!" if ip.inv_dst else " ")
    out.append(f"{format_addr(ip.dst, ip.dmsk, numeric):<19} ")
    if r.goto:
        out.append("[goto] ")
    for m in r.matches:
        out.append(m.print(ip, numeric))
    if r.target is not None:
        out.append(r.target.print(ip, numeric))
    return "".join(out) + "\n"
