"""HTTP programs over the model's TCP: ``nginx`` serving its welcome page, and ``curl``.

Both were checked against the real programs on this machine (nginx 1.22.1 and curl
7.88.1 in network namespaces, captured with tcpdump):

* nginx answers ``GET /`` with the header block below (238 bytes for a 1.2x.x
  version string) and the 615-byte ``index.html`` as a *second* segment (``sendfile``
  after ``writev``; Nagle holds the body until the header is ACKed, which the
  client's quick ACK does at once).  It keeps the connection (``keep-alive``) and
  closes when the client does.
* nginx's ``bind()`` failure is retried 5 times, 500 ms apart
  (``ngx_open_listening_sockets``), then ``still could not bind()`` and exit 1, 2.5 s
  after the start.  ``nginx: [emerg] ...`` is what it writes to stderr
  (``ngx_log_stderr``); the docker image also sends its error log to stderr
  (``/var/log/nginx/error.log -> /dev/stderr``, level ``notice``), so ``docker logs``
  shows each message twice, first with the error log's time stamp and ``1#1``.
* curl sends ``GET PATH HTTP/1.1`` with ``Host``, ``User-Agent: curl/VERSION`` and
  ``Accept: */*`` (byte for byte what 7.88.1 sent), writes the body to stdout and
  closes first (its FIN, then nginx's FIN, then its ACK).  ``-s`` silences the error
  message of a refused connection (exit 7 all the same); ``-sS`` shows it.  The
  message depends on the version: ``Failed to connect to IP port N: Connection
  refused`` (7.7x, e.g. 7.74.0 of Debian 11), ``... after 0 ms: Connection refused``
  (7.8x), ``... after 0 ms: Couldn't connect to server`` (7.88.1, checked here).
"""
import errno
import os
import time

from emunet.apps.base import Process

#: nginx's welcome page as the nginx:1.21 image ships it (615 bytes)
WELCOME_PAGE = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

#: Last-Modified of ``/usr/share/nginx/html/index.html`` in the nginx:1.21.6 image
#: (its ETag is ``"61f01158-267"``: mtime and size in hex)
NGINX_PAGE_MTIME = 1643123032

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(epoch_s: int) -> str:
    """RFC 7231 IMF-fixdate, as ``ngx_http_time`` writes it."""
    t = time.gmtime(epoch_s)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


def _log_time(epoch_s: int) -> str:
    t = time.gmtime(epoch_s)
    return time.strftime("%Y/%m/%d %H:%M:%S", t)


class Nginx(Process):
    """``nginx`` (the docker image's default server): ``listen 80``, ``root
    /usr/share/nginx/html``, ``keepalive_timeout 65``.

    ``stderr`` holds what the container writes to its stderr (what ``docker logs``
    prints); ``error_log`` the error log's own lines.  ``served`` counts responses.
    """

    name = "nginx"
    BIND_TRIES = 5
    BIND_RETRY_NS = 500_000_000
    KEEPALIVE_NS = 65_000_000_000

    def __init__(self, port: int = 80, bind: str = "0.0.0.0", version: str = "1.21.6",
                 page: bytes = WELCOME_PAGE, page_mtime: int = NGINX_PAGE_MTIME,
                 error_log_to_stderr: bool = True, log_pid: int = 1):
        super().__init__()
        self.port = port
        self.bind_ip = bind
        self.version = version
        self.page = page
        self.page_mtime = page_mtime
        self.error_log_to_stderr = error_log_to_stderr
        self.log_pid = log_pid
        self.error_log = []
        self.listener = None
        self.connections = []
        self.served = 0
        self.requests = []
        self._tries = 0
        self._log_epoch = None

    # -- logging as ngx_log_error_core does it -------------------------------
    def _log(self, level: str, msg: str) -> None:
        if self._log_epoch is None:
            # nginx's cached time is not updated while it sleeps between bind() tries
            self._log_epoch = self.sim.wall_ns // 1_000_000_000
        line = f"{_log_time(self._log_epoch)} [{level}] {self.log_pid}#{self.log_pid}: {msg}"
        self.error_log.append(line)
        if self.error_log_to_stderr:
            self.eprint(line)
        if level in ("emerg", "alert", "crit", "error", "warn"):
            self.eprint(f"nginx: [{level}] {msg}")

    def start(self) -> None:
        self._try_bind()

    def _try_bind(self) -> None:
        if not self.running:
            return
        self._tries += 1
        sock = self.ns.tcp.socket()
        sock.reuseaddr = True  # nginx sets SO_REUSEADDR on every listening socket
        try:
            sock.bind((self.bind_ip, self.port))
            sock.listen(511)
        except OSError as e:
            sock.close()
            self._log("emerg", f"bind() to {self.bind_ip}:{self.port} failed "
                               f"({e.errno}: {os.strerror(e.errno)})")
            # logged after every failed round, the last one too, before the 500 ms sleep
            self._log("notice", "try again to bind() after 500ms")
            if self._tries < self.BIND_TRIES:
                self.sim.after(self.BIND_RETRY_NS, self._try_bind)
            else:
                self.sim.after(self.BIND_RETRY_NS, self._give_up)
            return
        self.listener = sock
        sock.on_accept = self._accept

    def _give_up(self) -> None:
        self._log("emerg", "still could not bind()")
        self.exit(1)

    def _accept(self, conn) -> None:
        state = {"buf": b"", "timer": None}
        self.connections.append(conn)

        def keepalive_expired():
            conn.close()

        def arm():
            if state["timer"] is not None:
                state["timer"].cancel()
            state["timer"] = self.sim.after(self.KEEPALIVE_NS, keepalive_expired)

        def on_data(data: bytes) -> None:
            state["buf"] += data
            while b"\r\n\r\n" in state["buf"]:
                head, _, rest = state["buf"].partition(b"\r\n\r\n")
                state["buf"] = rest
                self._respond(conn, head)
            arm()

        def on_close() -> None:
            if state["timer"] is not None:
                state["timer"].cancel()
            conn.close()

        conn.on_data = on_data
        conn.on_close = on_close
        arm()

    def _respond(self, conn, head: bytes) -> None:
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.requests.append(line)
        parts = line.split()
        path = parts[1] if len(parts) >= 2 else "/"
        method = parts[0] if parts else ""
        date = http_date(self.sim.wall_ns // 1_000_000_000)
        server = f"nginx/{self.version}"
        if method in ("GET", "HEAD") and path in ("/", "/index.html"):
            body = self.page
            header = (f"HTTP/1.1 200 OK\r\nServer: {server}\r\nDate: {date}\r\n"
                      f"Content-Type: text/html\r\nContent-Length: {len(body)}\r\n"
                      f"Last-Modified: {http_date(self.page_mtime)}\r\n"
                      f"Connection: keep-alive\r\n"
                      f"ETag: \"{self.page_mtime:x}-{len(body):x}\"\r\n"
                      f"Accept-Ranges: bytes\r\n\r\n").encode()
        else:
            body = (f"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
                    f"<center><h1>404 Not Found</h1></center>\r\n"
                    f"<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n").encode()
            header = (f"HTTP/1.1 404 Not Found\r\nServer: {server}\r\nDate: {date}\r\n"
                      f"Content-Type: text/html\r\nContent-Length: {len(body)}\r\n"
                      f"Connection: keep-alive\r\n\r\n").encode()
        try:
            conn.send(header)         # writev() of the header buffer
            if method != "HEAD":
                conn.send(body)       # sendfile() of the file
        except OSError:
            conn.close()
            return
        self.served += 1

    def stop(self) -> None:
        """``nginx -s stop`` / ``docker stop``."""
        if self.listener is not None:
            self.listener.close()
        for c in self.connections:
            c.close()
        self.exit(0)


def _parse_version(v: str) -> tuple:
    return tuple(int(x) for x in v.split(".")[:3])


class Curl(Process):
    """``curl [-s] [-S] [--local-port N] http://IP[:PORT]/PATH``: one GET, the body on
    stdout.

    ``local_port`` binds the socket to that source port before connecting (curl's
    ``bindlocal``, without ``SO_REUSEADDR``); a port in use fails with ``bind failed
    with errno 98: Address already in use`` (checked with curl 7.88.1).  Exit codes as
    curl's: 0, 7 (could not connect), 45 (could not bind the local port), 52 (empty
    reply), 56 (receive failure).  Host names are not resolved: the model has no DNS.
    """

    name = "curl"

    def __init__(self, url: str, silent: bool = True, show_error: bool = False,
                 version: str = "7.74.0", local_port: int = None):
        super().__init__()
        self.url = url
        self.local_port = local_port
        self.silent = silent
        self.show_error = show_error
        self.version = version
        scheme, _, rest = url.partition("://")
        if scheme != "http" or not rest:
            raise ValueError(f"only http://IP[:PORT]/PATH URLs are modelled, not {url!r}")
        hostport, slash, path = rest.partition("/")
        self.path = "/" + path if slash else "/"
        host, _, port = hostport.partition(":")
        self.host = host
        self.port = int(port) if port else 80
        self.sock = None
        self.response = b""
        self.headers = {}
        self.status = None
        self.body = b""
        self._t0 = 0

    @property
    def request(self) -> bytes:
        host = self.host if self.port == 80 else f"{self.host}:{self.port}"
        return (f"GET {self.path} HTTP/1.1\r\nHost: {host}\r\n"
                f"User-Agent: curl/{self.version}\r\nAccept: */*\r\n\r\n").encode()

    def start(self) -> None:
        self._t0 = self.sim.now
        self.sock = self.ns.tcp.socket()
        self.sock.on_connected = self._connected
        self.sock.on_data = self._data
        self.sock.on_close = self._closed
        if self.local_port is not None:
            try:
                self.sock.bind(("0.0.0.0", self.local_port))
            except OSError as e:
                self._fail(45, f"bind failed with errno {e.errno}: {os.strerror(e.errno)}")
                return
        try:
            self.sock.connect((self.host, self.port))
        except OSError as e:
            self._fail(7, self._connect_error(e.errno))

    def _connect_error(self, err: int) -> str:
        ms = (self.sim.now - self._t0) // 1_000_000
        v = _parse_version(self.version)
        where = f"Failed to connect to {self.host} port {self.port}"
        if v >= (7, 88):
            return f"{where} after {ms} ms: Couldn't connect to server"
        if v >= (7, 78):
            return f"{where} after {ms} ms: {os.strerror(err)}"
        return f"{where}: {os.strerror(err)}"

    def _fail(self, code: int, msg: str) -> None:
        if not self.silent or self.show_error:
            self.eprint(f"curl: ({code}) {msg}")
        if self.sock is not None:
            self.sock.close()
        self.exit(code)

    def _connected(self) -> None:
        self.sock.send(self.request)

    def _data(self, data: bytes) -> None:
        self.response += data
        if self.status is None and b"\r\n\r\n" in self.response:
            head, _, _ = self.response.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1]) if len(lines[0].split()) > 1 else 0
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                self.headers[k.strip().lower()] = v.strip()
        if self.status is not None:
            body = self.response.partition(b"\r\n\r\n")[2]
            length = self.headers.get("content-length")
            if length is not None and len(body) >= int(length):
                self.body = body[:int(length)]
                self._done()

    def _closed(self) -> None:
        if not self.running:
            return
        err = self.sock.error
        if err and not self.response:
            if err == errno.ECONNRESET:
                self._fail(56, "Recv failure: Connection reset by peer")
            else:
                # curl turns a connect() that timed out into CURLE_OPERATION_TIMEDOUT
                self._fail(28 if err == errno.ETIMEDOUT else 7, self._connect_error(err))
            return
        if err:
            self._fail(56, f"Recv failure: {os.strerror(err)}")
            return
        if not self.response:
            self._fail(52, "Empty reply from server")
            return
        self.body = self.response.partition(b"\r\n\r\n")[2]
        self._done()

    def _done(self) -> None:
        text = self.body.decode("utf-8", "replace")
        for line in text.splitlines():
            self.print(line)
        self.sock.close()
        self.exit(0)


__all__ = ["Nginx", "Curl", "WELCOME_PAGE", "http_date"]
