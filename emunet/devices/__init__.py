"""Network devices: the NetDevice base and the kinds Linux has (veth, bridge, loopback, ...)."""
from emunet.devices.base import NetDevice, DeviceStats
from emunet.devices.veth import Veth, veth_pair
from emunet.devices.loopback import Loopback
from emunet.devices.bridge import Bridge, FdbEntry
from emunet.devices.tun import Tun
from emunet.devices.vxlan import Vxlan, VxlanFdbEntry
from emunet.devices.switch import Nic, PortVlan, Switch
from emunet.devices.ipip import Ipip
from emunet.devices.vlan import Vlan, VlanGroup, vlan_add

__all__ = ["NetDevice", "DeviceStats", "Veth", "veth_pair", "Loopback", "Bridge", "FdbEntry",
           "Tun", "Vxlan", "VxlanFdbEntry", "Nic", "Switch", "PortVlan", "Ipip",
           "Vlan", "VlanGroup", "vlan_add"]
