"""The network stack of a namespace: the FIB, neighbours and ARP, the IPv4 path, ICMP, UDP, TCP."""
from emunet.stack.namespace import Namespace, IfAddr
from emunet.stack.fib import Fib, Route, RoutingTable
from emunet.stack.neigh import NeighTable, Neighbour, NeighParams

__all__ = ["Namespace", "IfAddr", "Fib", "Route", "RoutingTable", "NeighTable", "Neighbour", "NeighParams"]
