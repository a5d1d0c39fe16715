"""Double bind on 0.0.0.0:80 for UDP and TCP (with and without SO_REUSEADDR)."""
import errno
import socket

def attempt(kind, reuse, listen):
    t = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    a = socket.socket(socket.AF_INET, t)
    b = socket.socket(socket.AF_INET, t)
    if reuse:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    a.bind(("0.0.0.0", 80))
    if listen:
        a.listen(5)
    label = "%s reuseaddr=%d first_listen=%d" % (kind, reuse, listen)
    try:
        b.bind(("0.0.0.0", 80))
        if listen:
            try:
                b.listen(5)
                print("%s: second bind OK, second listen OK" % label)
            except OSError as e:
                print("%s: second bind OK, second listen -> errno=%d %s %r" % (label, e.errno, errno.errorcode[e.errno], str(e)))
        else:
            print("%s: second bind OK" % label)
    except OSError as e:
        print("%s: second bind -> errno=%d %s %r" % (label, e.errno, errno.errorcode[e.errno], str(e)))
    a.close(); b.close()

for kind in ("udp", "tcp"):
    for reuse in (0, 1):
        for listen in ((0,) if kind == "udp" else (0, 1)):
            attempt(kind, reuse, listen)

# the plain python traceback text of the canonical case
import traceback
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("0.0.0.0", 80))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    b.bind(("0.0.0.0", 80))
except OSError:
    print("--- traceback (udp) ---")
    print(traceback.format_exc(), end="")
a.close(); b.close()
a = socket.socket(); a.bind(("0.0.0.0", 80)); a.listen(5)
b = socket.socket()
try:
    b.bind(("0.0.0.0", 80)); b.listen(5)
except OSError:
    print("--- traceback (tcp, first socket listening) ---")
    print(traceback.format_exc(), end="")
a.close(); b.close()
