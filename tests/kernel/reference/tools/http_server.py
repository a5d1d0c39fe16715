"""Tiny deterministic HTTP server used for the kernel reference capture.

usage: http_server.py READY_FILE MODE
Binds 172.17.0.8:80, accepts ONE connection, reads the request up to the
blank line, then
  MODE=server-close : answers without Content-Length ("Connection: close")
                      and closes at once -> the SERVER sends the first FIN,
                      curl reads to EOF and closes afterwards.
  MODE=client-close : answers with Content-Length: 6, then waits for the
                      client's FIN (recv() == b"") before closing -> the
                      CLIENT (curl) sends the first FIN.
"""
import socket
import sys

BODY = b"hello\n"

def main():
    ready_file, mode = sys.argv[1], sys.argv[2]
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
    if mode == "server-close":
        c.sendall(b"HTTP/1.1 200 OK\r\n"
                  b"Content-Type: text/plain\r\n"
                  b"Connection: close\r\n"
                  b"\r\n" + BODY)
    else:
        c.sendall(b"HTTP/1.1 200 OK\r\n"
                  b"Content-Type: text/plain\r\n"
                  b"Content-Length: 6\r\n"
                  b"\r\n" + BODY)
        while c.recv(4096):
            pass
    c.close()
    s.close()
    sys.stdout.write("mode=%s peer=%s:%d\n" % ((mode,) + addr))
    sys.stdout.write("request=%r\n" % data)

if __name__ == "__main__":
    main()
