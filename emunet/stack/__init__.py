"""The network stack of a namespace: routes, neighbours, ICMP, UDP, TCP."""
from emunet.stack.namespace import Namespace, IfAddr
from emunet.stack.route import Route, RoutingTable
from emunet.stack.neigh import NeighTable, Neighbour, NeighParams

__all__ = ["Namespace", "IfAddr", "Route", "RoutingTable", "NeighTable", "Neighbour", "NeighParams"]
