"""Tiny deterministic HTTP server used for the kernel reference capture.

Binds 172.17.0.8:80, accepts ONE connection, reads the request up to the
blank line, answers a fixed HTTP/1.1 200 OK response and closes.
"""
import socket
import sys

RESPONSE = (b"HTTP/1.1 200 OK\r\n"
            b"Content-Type: text/plain\r\n"
            b"Content-Length: 6\r\n"
            b"Connection: close\r\n"
            b"\r\n"
            b"hello\n")

def main():
    ready_file = sys.argv[1]
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("172.17.0.8", 80))
    s.listen(128)
    open(ready_file, "w").write("ready\n")
    s.settimeout(20)
    c, addr = s.accept()
    c.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(4096)
        if not d:
            break
        data += d
    c.sendall(RESPONSE)
    c.close()
    s.close()
    sys.stdout.write("peer=%s:%d\n" % addr)
    sys.stdout.write("request=%r\n" % data)

if __name__ == "__main__":
    main()
