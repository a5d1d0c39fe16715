"""What libxtables shares between iptables' extensions and its command line
(``libxtables/xtables.c``, ``xshared.c``): the exit statuses and errors, and the parsers and
printers of addresses, masks, ports, protocols, marks and quoted strings."""
from emunet.wire.ipv4 import int_to_ip

__all__ = ["IptablesError", "ParameterProblem", "PARAMETER_PROBLEM", "OTHER_PROBLEM",
           "VERSION_PROBLEM", "RESOURCE_PROBLEM", "parse_address_list", "parse_port",
           "strtoul_prefix", "parse_port_range", "parse_protocol", "proto_name", "format_addr",
           "mask_to_str", "save_string", "parse_uint", "parse_mark_mask", "service_name",
           "PROTOCOLS", "SERVICES"]

#: ``enum xtables_exittype``: iptables' exit statuses
OTHER_PROBLEM = 1
PARAMETER_PROBLEM = 2
VERSION_PROBLEM = 3
RESOURCE_PROBLEM = 4


class IptablesError(Exception):
    """A command refused, with the text the real tool prints on stderr (its last newline
    removed) and its exit status (:data:`PARAMETER_PROBLEM` and friends)."""

    def __init__(self, message: str, status: int = PARAMETER_PROBLEM):
        super().__init__(message)
        self.message = message
        self.status = status


class ParameterProblem(Exception):
    """``xtables_error(PARAMETER_PROBLEM, ...)`` raised by a parser; the front-end adds the
    program's prefix and the "Try `iptables -h'" line (the text is the format's, a
    trailing newline included where iptables has one)."""

    def __init__(self, text: str, status: int = PARAMETER_PROBLEM):
        super().__init__(text)
        self.text = text
        self.status = status


# -- libxtables' parsers and printers ---------------------------------------
#: the protocol names iptables prints and accepts (``xtables_chain_protos`` first, then
#: what ``getprotobynumber`` finds in netbase's /etc/protocols)
PROTOCOLS = {"all": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17,
             "ipv6": 41, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58, "ospf": 89,
             "ipip": 94, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "udplite": 136}
_PROTO_NAMES = {}
for _name, _num in PROTOCOLS.items():
    _PROTO_NAMES.setdefault(_num, _name)

#: the services ``getservbyname``/``getservbyport`` find in netbase's /etc/services (the
#: ones container networking uses); (name, proto) -> port
SERVICES = {"ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "bootps": 67,
            "bootpc": 68, "tftp": 69, "http": 80, "kerberos": 88, "pop3": 110, "sunrpc": 111,
            "ntp": 123, "imap2": 143, "snmp": 161, "bgp": 179, "ldap": 389, "https": 443,
            "isakmp": 500, "syslog": 514, "submission": 587, "ldaps": 636, "rsync": 873,
            "imaps": 993, "pop3s": 995, "openvpn": 1194, "mysql": 3306, "postgresql": 5432,
            "http-alt": 8080, "vxlan": 4789}
#: services that exist for one protocol only in /etc/services
_SERVICE_PROTOS = {"bootps": ("udp",), "bootpc": ("udp",), "tftp": ("udp",), "ntp": ("udp",),
                   "snmp": ("udp",), "syslog": ("udp",), "isakmp": ("udp",), "openvpn": ("udp", "tcp"),
                   "vxlan": ("udp",), "ssh": ("tcp",), "telnet": ("tcp",), "smtp": ("tcp",),
                   "ftp": ("tcp",), "pop3": ("tcp",), "imap2": ("tcp",), "bgp": ("tcp",),
                   "ldaps": ("tcp",), "rsync": ("tcp",), "imaps": ("tcp",), "pop3s": ("tcp",),
                   "submission": ("tcp",), "mysql": ("tcp",), "postgresql": ("tcp",),
                   "http-alt": ("tcp",), "https": ("tcp", "udp"), "http": ("tcp",)}
_PORT_SERVICES = {}
for _name, _port in SERVICES.items():
    for _p in _SERVICE_PROTOS.get(_name, ("tcp", "udp")):
        _PORT_SERVICES.setdefault((_port, _p), _name)


def service_name(port: int, proto: str):
    """``getservbyport``: the service's name, or None."""
    return _PORT_SERVICES.get((port, proto))


def strtoul_prefix(text: str):
    """``strtoul(text, &end, 0)`` on the leading number: (value, the rest), or None when
    ``text`` does not start with one (``0x`` hex, a leading ``0`` octal, else decimal)."""
    if text[:2].lower() == "0x" and len(text) > 2 and text[2] in "0123456789abcdefABCDEF":
        i = 2
        while i < len(text) and text[i] in "0123456789abcdefABCDEF":
            i += 1
        return int(text[2:i], 16), text[i:]
    if text[:1] == "0":
        i = 1
        while i < len(text) and text[i] in "01234567":
            i += 1
        return int(text[:i], 8), text[i:]
    i = 0
    while i < len(text) and text[i].isdigit():
        i += 1
    if i == 0:
        return None
    return int(text[:i]), text[i:]


def parse_uint(text: str, lo: int = 0, hi: int = 0xFFFFFFFF):
    """``xtables_strtoui`` with base 0 on the whole of ``text``, or None."""
    r = strtoul_prefix(text)
    if r is None or r[1]:
        return None
    return r[0] if lo <= r[0] <= hi else None


def parse_protocol(text: str) -> int:
    """``xtables_parse_protocol``: a number 0..255 or a name."""
    v = parse_uint(text, 0, 255) if text[:1].isdigit() else None
    if v is not None:
        return v
    num = PROTOCOLS.get(text.lower())
    if num is None:
        raise ParameterProblem(f'unknown protocol "{text}" specified')
    return num


def proto_name(num: int, numeric: bool = False):
    """``proto_to_name``: iptables' own names first; with ``numeric`` no /etc/protocols."""
    for name in ("tcp", "sctp", "udp", "udplite", "icmp", "all"):
        if PROTOCOLS[name] == num:
            return name
    if num and not numeric:
        return _PROTO_NAMES.get(num)
    return None


def parse_port(text: str, proto: str) -> int:
    """``xtables_parse_port``: a number or a service name of ``proto``."""
    v = parse_uint(text, 0, 0xFFFF)
    if v is None and text in SERVICES and proto in _SERVICE_PROTOS.get(text, ("tcp", "udp")):
        v = SERVICES[text]
    if v is None:
        raise ParameterProblem(f"invalid port/service `{text}' specified")
    return v


def parse_port_range(text: str, proto: str):
    """``parse_tcp_ports``: ``P``, ``A:B``, ``:B`` or ``A:`` -> (min, max)."""
    if ":" not in text:
        p = parse_port(text, proto)
        return p, p
    a, b = text.split(":", 1)
    lo = parse_port(a, proto) if a else 0
    hi = parse_port(b, proto) if b else 0xFFFF
    if lo > hi:
        raise ParameterProblem("invalid portrange (min > max)")
    return lo, hi


def _strtoui8(text: str):
    """``xtables_strtoui(s, NULL, &v, 0, UINT8_MAX)``: ``strtoumax`` with base 0 (``0x``
    hexadecimal, a leading ``0`` octal), leading blanks allowed, nothing after the
    digits; None when that is not a number from 0 to 255."""
    t = text.lstrip(" \t\n\v\f\r")
    if t.startswith("+"):
        t = t[1:]
    if t[:2].lower() == "0x":
        digits, base = t[2:], 16
    elif t.startswith("0") and len(t) > 1:
        digits, base = t[1:], 8
    else:
        digits, base = t, 10
    try:
        v = int(digits, base) if digits and digits.isalnum() else None
    except ValueError:
        return None
    return v if v is not None and v <= 255 else None


def _parse_dotted(text: str, is_mask: bool = False):
    """``__numeric_to_ipaddr``: up to four dotted bytes; an address of fewer is completed
    with zeros (``10/8``, ``0/0``, ``127.0/8`` are networks), a mask is not."""
    parts = text.split(".")
    if len(parts) > 4 or (is_mask and len(parts) != 4):
        return None
    n = 0
    for p in parts:
        b = _strtoui8(p)
        if b is None:
            return None
        n = (n << 8) | b
    return n << (8 * (4 - len(parts)))


def parse_address_list(text: str):
    """``xtables_ipparse_multiple``: ``ADDR[/MASK][,ADDR[/MASK]...]`` -> [(addr, mask)],
    each address with its host bits cleared, as iptables stores it."""
    out = []
    for item in text.split(","):
        addr_text, slash, mask_text = item.partition("/")
        if slash:
            if "." in mask_text:
                mask = _parse_dotted(mask_text, is_mask=True)
                if mask is None:
                    raise ParameterProblem(f"invalid mask `{mask_text}' specified")
            else:
                bits = parse_uint(mask_text, 0, 32) if mask_text.isdigit() else None
                if bits is None:
                    raise ParameterProblem(f"invalid mask `{mask_text}' specified")
                mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
        else:
            mask = 0xFFFFFFFF
        addr = _parse_dotted(addr_text)
        if addr is None:
            raise ParameterProblem(f"host/network `{addr_text}' not found")
        out.append((addr & mask, mask))
    return out


def mask_to_str(mask: int) -> str:
    """``mask_to_str``: a prefix length when the mask is one, else dotted."""
    if mask == 0xFFFFFFFF:
        return "32"
    for i in range(31, -1, -1):
        if mask == (0xFFFFFFFF << (32 - i)) & 0xFFFFFFFF:
            return str(i)
    return int_to_ip(mask)


def format_addr(addr: int, mask: int, numeric: bool) -> str:
    """``ipv4_addr_to_string``: what ``-L`` shows in the source/destination columns."""
    if not mask and not numeric:
        return "anywhere"
    if mask == 0xFFFFFFFF:
        return int_to_ip(addr)
    return f"{int_to_ip(addr)}/{mask_to_str(mask)}"


_NO_QUOTE = set("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def save_string(value: str) -> str:
    """``xtables_save_string``: a leading space, then the value bare when it is made of
    safe characters, else in double quotes with ``"``, ``\\`` and ``'`` escaped."""
    if value and all(c in _NO_QUOTE for c in value):
        return " " + value
    escaped = "".join("\\" + c if c in "\"\\'" else c for c in value)
    return f' "{escaped}"'


def parse_mark_mask(text: str, ext_name: str, option: str):
    """``xtables_parse_mark_mask`` (``XTTYPE_MARKMASK32``): ``VALUE[/MASK]``, the mask all
    ones when not given."""
    bad = ParameterProblem(f'{ext_name}: bad integer value for option "--{option}", or out of range.\n')
    r = strtoul_prefix(text)
    if r is None or r[0] > 0xFFFFFFFF:
        raise bad
    value, rest = r
    if not rest:
        return value, 0xFFFFFFFF
    if rest[0] == "/":
        r = strtoul_prefix(rest[1:])
        if r is None or r[0] > 0xFFFFFFFF:
            raise bad
        if not r[1]:
            return value, r[0]
    raise ParameterProblem(f'{ext_name}: trailing garbage after value for option "--{option}".\n')
