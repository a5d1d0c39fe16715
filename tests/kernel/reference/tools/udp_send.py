"""Send UDP datagrams from 172.17.0.7:40000 to 172.17.0.8:9999 (closed port).

1) unconnected sendto() with a 13-byte payload
2) after 1.2 s, connect()+send() with a 1000-byte payload (shows the 576-byte
   quoting limit of ICMP errors and the IP ID of a connected socket), then
   recv() to show the ECONNREFUSED the kernel reports on a connected socket.
"""
import errno
import socket
import time

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 40000))
n = s.sendto(b"hello emunet\n", ("172.17.0.8", 9999))
print("sendto unconnected returned", n)
time.sleep(1.2)
s.connect(("172.17.0.8", 9999))
n = s.send(bytes(range(256)) * 3 + bytes(232))
print("send connected returned", n)
s.settimeout(2)
try:
    s.recv(2048)
    print("recv returned data?!")
except OSError as e:
    print("recv raised OSError errno=%s (%s) str=%r" % (e.errno, errno.errorcode.get(e.errno), str(e)))
try:
    n = s.send(b"x")
    print("second send returned", n)
except OSError as e:
    print("second send raised errno=%s (%s) str=%r" % (e.errno, errno.errorcode.get(e.errno), str(e)))
