"""Run tshark on a capture, as the tests' independent reader of our bytes."""
import shutil
import subprocess

import pytest

TSHARK = shutil.which("tshark")
#: Wireshark's expert severities (PI_SEVERITY_MASK values)
PI_WARN = 0x00600000
PI_ERROR = 0x00800000
CHECKSUM_PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                  "-o", "tcp.check_checksum:TRUE"]
#: the ports Flannel uses, which Wireshark does not decode by default (README says so too)
DECODE_AS = ["-d", "udp.port==8472,vxlan", "-d", "udp.port==8285,ip"]

needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed: "
                                  "the test command installs it (apt-get install tshark)")


def fields(path, names, extra=()) -> list:
    """One list of field strings per frame."""
    cmd = [TSHARK, "-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "separator=\t",
           *CHECKSUM_PREFS, *DECODE_AS, *extra]
    for n in names:
        cmd += ["-e", n]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


#: one pcapng holds each frame once per interface it crosses; TCP reassembly across those
#: copies reports "New fragment overlaps old data", an overlap no single link has
NO_REASSEMBLY = ["-o", "tcp.desegment_tcp_streams:FALSE"]


def problems(path, extra=()) -> list:
    """Frames with an expert error (checksums, lengths) or a malformed-packet mark."""
    rows = fields(path, ["frame.number", "_ws.expert.severity", "_ws.expert.message",
                         "_ws.malformed"], [*NO_REASSEMBLY, *extra])
    bad = []
    for number, sev, msg, malformed in rows:
        sevs = [int(s) for s in sev.split(",") if s]
        if malformed or any(s >= PI_ERROR for s in sevs):
            bad.append(f"frame {number}: {msg or 'malformed'}")
    return bad
