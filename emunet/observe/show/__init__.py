"""What ``ip``, ``ifconfig``, ``route``, ``arp``, ``netstat``, ``bridge``, ``brctl``,
``sysctl`` and ``cat /proc/net/*`` print, character for character, for a namespace of the
model, and the command line that runs them and the tools control planes install
(``birdc``, ``docker network inspect``).

The ground truth is Linux 6.18 with iproute2 6.1, net-tools 2.10 and bridge-utils 1.7,
run on a topology identical to the docker-bridge scenario (``tests/kernel/reference/``)
and on extra namespaces built to see the less common states (the
``tests/observe/test_show_*.py`` files cite what each rule comes from).  Counters come from
the model (:class:`~emunet.devices.base.DeviceStats`); everything else is what those tools
print for the same state.

One module per tool family, as the tools' own source trees divide them: :mod:`.iplink`
and :mod:`.iproute` (iproute2's ``ip``, whose command line is :mod:`.iproute2`),
:mod:`.bridge` (iproute2's ``bridge``, bridge-utils' ``brctl``), :mod:`.nettools`,
:mod:`.procfs` (``/proc/net`` and ``sysctl``); :mod:`.kernel` is what they all read from
the kernel; :mod:`.registry` is the command line.
"""
from emunet.observe.show.bridge import brctl_show, brctl_showmacs, bridge_fdb, bridge_link
from emunet.observe.show.iplink import ip_addr, ip_addr_oneline, ip_brief, ip_link, netnsids
from emunet.observe.show.iproute import ip_neigh, ip_route, ip_route_get, ip_rule
from emunet.observe.show.nettools import arp, ifconfig, netstat_i, netstat_r, route
from emunet.observe.show.procfs import proc_net_arp, proc_net_dev, proc_net_route, sysctl
from emunet.observe.show.registry import SUPPORTED, run_command

__all__ = [
    "run_command", "ip_link", "ip_addr", "ip_route", "ip_route_get", "ip_neigh",
    "ifconfig", "route", "netstat_r", "netstat_i", "arp", "bridge_fdb", "bridge_link",
    "brctl_show", "brctl_showmacs", "ip_rule", "proc_net_route", "proc_net_arp", "proc_net_dev",
    "ip_addr_oneline", "ip_brief",
    "sysctl", "netnsids", "SUPPORTED",
]
