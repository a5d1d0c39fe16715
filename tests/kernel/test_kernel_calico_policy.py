"""Felix's policy programming against the kernel: what emunet's Felix writes on node2 of the
calico-policy scenario (every ``ipset restore`` and ``iptables-restore --noflush`` input,
in order) is replayed with the real tools in a namespace.  The kernel must accept every
line, and ``iptables-save -t filter`` and the IP sets must then be what emunet's model
holds: the same chains, rules (as iptables 1.8.9 prints them back) and members.

Needs root, network namespaces, iptables (nft backend) and ipset; skipped otherwise.
"""
import re
import shutil

import pytest

from emunet.scenarios.registry import get

from tests.kernel.harness import PREFIX, run

NS = f"{PREFIX}felix"


@pytest.fixture(scope="module")
def kernel(netns):
    missing = [t for t in ("iptables-restore", "iptables-save", "ipset") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"Felix comparison skipped: {', '.join(missing)} not installed")
    run(["ip", "netns", "add", NS])
    try:
        yield lambda *argv, stdin=None: run(["ip", "netns", "exec", NS, *argv], input=stdin)
    finally:
        run(["ip", "netns", "del", NS], check=False)


def _rules(save: str) -> list:
    """An iptables-save text without its comment lines and counters."""
    return [re.sub(r" \[\d+:\d+\]$", "", line) for line in save.splitlines() if not line.startswith("#")]


def _members(listing: str) -> dict:
    out, name, inside = {}, None, False
    for line in listing.splitlines():
        if line.startswith("Name: "):
            name, inside = line[6:], False
            out[name] = []
        elif line == "Members:":
            inside = True
        elif inside and line:
            out[name].append(line)
    return {k: sorted(v) for k, v in out.items()}


def test_what_felix_writes_loads_into_the_kernel_and_reads_back_the_same(kernel):
    lab = get("calico-policy").build(seed=1, capture=False)
    lab.settle()
    node2 = lab.node2
    log = node2.felix.dataplane.log
    assert any("cali40s:" in text for _, text in log)      # the policies were programmed
    for program, text in log:
        if program == "ipset restore":
            kernel("ipset", "restore", stdin=text)
        elif program == "ipset":
            kernel("ipset", *text.split())
        else:
            kernel("iptables-restore", "--noflush", stdin=text)
    real = kernel("iptables-save", "-t", "filter").stdout
    assert _rules(node2.ns.netfilter.iptables_save()) == _rules(real)
    real_sets = kernel("ipset", "list").stdout
    assert _members(node2.ns.netfilter.ipset("list")) == _members(real_sets)
    assert node2.ns.netfilter.ipset("list -n") == kernel("ipset", "list", "-n").stdout
