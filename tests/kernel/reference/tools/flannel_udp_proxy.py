"""A stand-in for flanneld's UDP backend proxy, for the kernel comparison.

It does what flannel's ``pkg/backend/udp/proxy_amd64.c`` (``run_proxy``) does with
the descriptors ``udp_network_amd64.go`` hands it, and nothing else:

* the TUN: ``/dev/net/tun`` opened with ``TUNSETIFF`` IFF_TUN | IFF_NO_PI on the
  named device (``ip.OpenTun("flannel%d")``); packets are bare IPv4, read with a
  buffer of the TUN's MTU;
* the UDP socket: ``net.ListenUDP("udp4", {IfaceAddr, 8285})``, bound and never
  connected, no socket options touched (so the default PMTU discovery, "want":
  DF set, and an IP ID from the kernel's hashed generator, since ``ignore_df``);
  every packet goes out with ``sendto()`` to ``<PublicIP of the lease>:8285``;
* ``tun_to_udp``: the lease whose subnet holds the destination (none: write an
  ICMP net unreachable back into the TUN, as ``send_net_unreachable`` builds
  it: ID 0, TTL 8, TOS 0, no DF, from the TUN's address, quoting the header and
  8 bytes; never about an ICMP packet or a later fragment), then the TTL minus
  one with the checksum patched as ``decrement_ttl`` patches it (a zero TTL
  discards the packet), then ``sendto()``;
* ``udp_to_tun``: ``recv()``, TTL minus one, ``write()`` into the TUN.

Usage (inside the node's namespace; the harness starts it with ``ip netns exec``)::

    flannel_udp_proxy.py --tun flannel0 --tun-ip 100.96.1.0 --listen 10.168.0.2:8285 \
        --route 100.96.2.0/24=10.168.0.3:8285 [--route ...] [--mtu 1472]

It prints ``ready`` once both descriptors are open, and runs until terminated.
"""
import argparse
import fcntl
import ipaddress
import os
import select
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IPPROTO_ICMP = 1
MAX_IPOPTLEN = 40


def cksum(buf: bytes) -> int:
    """``cksum`` of proxy_amd64.c: the folded one's complement sum, complemented."""
    if len(buf) & 1:
        buf += b"\0"
    s = sum(struct.unpack(f"!{len(buf) // 2}H", buf))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def decrement_ttl(pkt: bytearray) -> bool:
    """``decrement_ttl``: False when the TTL reaches 0; the checksum is patched as the C
    code does on a little-endian machine (``check += htons(0x100)`` on the raw field,
    one more when it would overflow: RFC 1624)."""
    pkt[8] = (pkt[8] - 1) & 0xFF
    if pkt[8] == 0:
        sys.stderr.write(f"Discarding IP fragment {socket.inet_ntoa(bytes(pkt[12:16]))} -> "
                         f"{socket.inet_ntoa(bytes(pkt[16:20]))} due to zero TTL\n")
        return False
    check = struct.unpack_from("<H", pkt, 10)[0]          # the raw field, host order
    check += 2 if check >= 0xFFFE else 1                  # htons(0x100) == 1 here
    struct.pack_into("<H", pkt, 10, check & 0xFFFF)
    return True


def net_unreachable(offender: bytes, tun_ip: bytes):
    """``send_net_unreachable``: the packet to write back into the TUN, or None."""
    ihl = (offender[0] & 0x0F) * 4
    if ihl >= 20 + MAX_IPOPTLEN:
        return None
    if offender[9] == IPPROTO_ICMP:
        return None               # RFC 792: no ICMP about ICMP
    if struct.unpack_from("!H", offender, 6)[0] & 0x1FFF:
        return None               # only the first fragment
    quote = bytes(offender[:ihl + 8]).ljust(ihl + 8, b"\0")
    pktlen = 20 + 8 + ihl + 8
    iph = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, pktlen, 0, 0, 8, IPPROTO_ICMP, 0,
                                tun_ip, offender[12:16]))
    struct.pack_into("!H", iph, 10, cksum(bytes(iph)))
    icmp = bytearray(struct.pack("!BBHI", 3, 0, 0, 0) + quote)
    struct.pack_into("!H", icmp, 2, cksum(bytes(icmp)))
    return bytes(iph + icmp)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tun", required=True)
    ap.add_argument("--tun-ip", required=True)
    ap.add_argument("--listen", required=True, help="IfaceAddr:port")
    ap.add_argument("--route", action="append", default=[], help="SUBNET=IP:PORT")
    ap.add_argument("--mtu", type=int, default=1472)
    a = ap.parse_args()

    routes = []
    for r in a.route:
        net, hop = r.split("=")
        ip, port = hop.rsplit(":", 1)
        routes.append((ipaddress.IPv4Network(net), (ip, int(port))))
    tun_ip = socket.inet_aton(a.tun_ip)

    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", a.tun.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(tun, False)
    host, port = a.listen.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    sock.setblocking(False)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)

    def find_route(dst: bytes):
        d = ipaddress.IPv4Address(dst)
        for net, hop in routes:
            if d in net:
                return hop
        return None

    def tun_to_udp() -> bool:
        try:
            pkt = bytearray(os.read(tun, a.mtu))
        except BlockingIOError:
            return False
        if len(pkt) < 20:
            sys.stderr.write(f"TUN recv packet too small: {len(pkt)} bytes\n")
            return False
        hop = find_route(bytes(pkt[16:20]))
        if hop is None:
            icmp = net_unreachable(bytes(pkt), tun_ip)
            if icmp is not None:
                os.write(tun, icmp)
            return True
        if decrement_ttl(pkt):
            sock.sendto(bytes(pkt), hop)
        return True

    def udp_to_tun() -> bool:
        try:
            pkt = bytearray(sock.recv(a.mtu))
        except BlockingIOError:
            return False
        if len(pkt) < 20:
            sys.stderr.write(f"UDP recv packet too small: {len(pkt)} bytes\n")
            return False
        if decrement_ttl(pkt):
            os.write(tun, bytes(pkt))
        return True

    while True:
        select.select([tun, sock], [], [])
        while True:     # as run_proxy: bypass poll() while either side is readable
            active = tun_to_udp()
            active = udp_to_tun() or active
            if not active:
                break


if __name__ == "__main__":
    sys.exit(main())
