"""emunet's iptables against the real one (iptables 1.8 with the nf_tables backend) in a
scratch network namespace: the same rule sets loaded with ``iptables-restore`` print the
same ``iptables-save``, ``iptables -S`` and ``iptables -L -n -v [-x] [--line-numbers]``,
byte for byte, and bad input is refused with the same text and exit status."""
import json
import os
import shutil

import pytest

from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.stack.netfilter.iptables import Iptables
from emunet.stack.netfilter.libxtables import IptablesError
from tests.kernel.harness import Topology, run
from tests.stack.netfilter.rulesets import (BAD_COMMANDS, BAD_RESTORES, COUNTERS, DOCKER, NOFLUSH, REFERENCE,
                                            RULESETS, SEQUENCE, SHOWS, load_reference)


@pytest.fixture(scope="module")
def real(netns):
    """A namespace with the real iptables, or a skip naming what is missing."""
    missing = [t for t in ("iptables", "iptables-restore", "iptables-save") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"iptables comparison skipped: {', '.join(missing)} not installed")
    version = run(["iptables", "--version"]).stdout
    if "v1.8" not in version or "nf_tables" not in version:
        pytest.skip(f"iptables comparison needs iptables 1.8 (nf_tables); this is {version.strip()}")
    with Topology("ipt") as t:
        yield t, t.netns("fw")


def _ours():
    return Iptables(Namespace(Simulator(seed=1), "fw").netfilter)


def _real_reset(t, ns):
    for table in ("filter", "nat", "mangle", "raw"):
        t.exec(ns, "iptables", "-t", table, "-F")
        t.exec(ns, "iptables", "-t", table, "-X")
        for chain in ("INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"):
            t.exec(ns, "iptables", "-t", table, "-P", chain, "ACCEPT", check=False)
    t.exec(ns, "iptables-restore", check=False)   # nothing: keeps the tables (empty input)


def _real_save(t, ns, *args) -> str:
    out = t.exec(ns, "iptables-save", *args).stdout
    return "".join(line for line in out.splitlines(keepends=True) if not line.startswith("#"))


def _our_save(ipt, **kw) -> str:
    return "".join(line for line in ipt.save(**kw).splitlines(keepends=True) if not line.startswith("#"))


@pytest.mark.parametrize("name", sorted(RULESETS))
def test_restore_then_show_is_what_iptables_prints(real, name):
    t, ns = real
    text = RULESETS[name]
    p = run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, check=False)
    assert p.returncode == 0, p.stderr
    ours = _ours()
    ours.restore(text)
    try:
        assert _our_save(ours) == _real_save(t, ns)
        for argv in SHOWS:
            want = t.exec(ns, *argv).stdout
            assert ours.run(argv) == want, " ".join(argv)
    finally:
        run(["ip", "netns", "exec", ns, "sh", "-c",
             "for t in filter nat mangle; do iptables -t $t -F; iptables -t $t -X; done; "
             "iptables -P INPUT ACCEPT; iptables -P FORWARD ACCEPT"])


def test_save_with_counters_and_restore_with_counters(real):
    t, ns = real
    text = COUNTERS
    run(["ip", "netns", "exec", ns, "iptables-restore", "-c"], input=text)
    ours = _ours()
    ours.restore(text, counters=True)
    try:
        assert _our_save(ours, counters=True, table="filter") == _real_save(t, ns, "-c", "-t", "filter")
        for argv in (["iptables", "-L", "-n", "-v"], ["iptables", "-L", "-n", "-v", "-x"],
                     ["iptables", "-S", "-v"]):
            assert ours.run(argv) == t.exec(ns, *argv).stdout, " ".join(argv)
    finally:
        run(["ip", "netns", "exec", ns, "sh", "-c", "iptables -F; iptables -X; iptables -P FORWARD ACCEPT; "
             "iptables -Z"])


@pytest.mark.parametrize("cmd", BAD_COMMANDS)
def test_refused_commands_print_iptables_texts(real, cmd):
    t, ns = real
    run(["ip", "netns", "exec", ns, "iptables-restore"], input=DOCKER)
    want = t.exec(ns, "iptables", *cmd.split(), check=False)
    ours = _ours()
    ours.restore(DOCKER)
    before = ours.save()
    try:
        ours.run(["iptables"] + cmd.split())
    except IptablesError as e:
        got = (e.message + "\n", e.status)
    else:
        got = ("", 0)
    try:
        assert got == (want.stderr, want.returncode)
        assert ours.save() == before or want.returncode == 0
        if want.returncode == 0:
            for table in ("filter", "nat"):
                assert _our_save(ours, table=table) == _real_save(t, ns, "-t", table)
    finally:
        run(["ip", "netns", "exec", ns, "sh", "-c",
             "for t in filter nat; do iptables -t $t -F; iptables -t $t -X; done; iptables -P FORWARD ACCEPT"])


@pytest.mark.parametrize("text", BAD_RESTORES)
def test_refused_restores_print_iptables_restore_texts_and_change_nothing(real, text):
    t, ns = real
    p = run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, check=False)
    ours = _ours()
    ours.restore(DOCKER)
    before = ours.save()
    with pytest.raises(IptablesError) as e:
        ours.restore(text)
    try:
        assert (e.value.message + "\n", e.value.status) == (p.stderr, p.returncode)
        assert ours.save() == before
    finally:
        run(["ip", "netns", "exec", ns, "sh", "-c",
             "for t in filter nat; do iptables -t $t -F; iptables -t $t -X; done; iptables -P FORWARD ACCEPT"])


def test_noflush_restores_change_what_they_name_alike(real):
    with Topology("iptnf") as t:
        ns = t.netns("fw")
        run(["ip", "netns", "exec", ns, "iptables-restore"], input=DOCKER)
        ours = _ours()
        ours.restore(DOCKER)
        for text in NOFLUSH:
            p = run(["ip", "netns", "exec", ns, "iptables-restore", "--noflush"], input=text, check=False)
            try:
                ours.restore(text, noflush=True)
                got = ("", 0)
            except IptablesError as e:
                got = (e.message + "\n", e.status)
            assert got == (p.stderr, p.returncode), text
            for table in ("filter", "nat"):
                assert _our_save(ours, table=table) == _real_save(t, ns, "-t", table), text


def test_jumps_nested_deeper_than_the_kernel_allows_are_refused_alike(real):
    t, ns = real
    for depth in (15, 16, 17):
        lines = ["*filter"] + [f":C{i} - [0:0]" for i in range(depth)]
        lines += [f"-A C{i} -j C{i + 1}" for i in range(depth - 1)] + ["-A FORWARD -j C0", "COMMIT", ""]
        text = "\n".join(lines)
        p = run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, check=False)
        ours = _ours()
        try:
            ours.restore(text)
            got = ("", 0)
        except IptablesError as e:
            got = (e.message + "\n", e.status)
        assert got == (p.stderr, p.returncode), depth


def test_a_sequence_of_commands_leaves_the_same_rules(real):
    with Topology("iptseq") as t:
        ns = t.netns("fw")
        ours = _ours()
        for cmd in SEQUENCE:
            head, _, quoted = cmd.partition(" '")
            argv = head.split() + ([quoted.rstrip("'")] if quoted else [])
            want = t.exec(ns, "iptables", *argv, check=False)
            try:
                got = (ours.run(argv), "", 0)
            except IptablesError as e:
                got = ("", e.message + "\n", e.status)
            assert got == (want.stdout, want.stderr, want.returncode), cmd
            for table in ("filter", "nat", "mangle"):
                assert _our_save(ours, table=table) == _real_save(t, ns, "-t", table), cmd


def _clean(t, ns):
    run(["ip", "netns", "exec", ns, "sh", "-c",
         "for t in filter nat mangle; do iptables -t $t -F; iptables -t $t -X; done; "
         "iptables -P INPUT ACCEPT; iptables -P FORWARD ACCEPT; iptables -Z"])


def capture_reference(t, ns) -> dict:
    """What the real iptables prints for every input of rulesets.py."""
    ref = {"version": run(["iptables", "--version"]).stdout, "rulesets": {}, "bad_commands": {},
           "bad_restores": {}, "sequence": []}
    for name, text in sorted(RULESETS.items()):
        run(["ip", "netns", "exec", ns, "iptables-restore"], input=text)
        shows = {f"iptables-save -t {table}": _real_save(t, ns, "-t", table) for table in ("filter", "nat", "mangle")}
        for argv in SHOWS:
            shows[" ".join(argv)] = t.exec(ns, *argv).stdout
        ref["rulesets"][name] = shows
        _clean(t, ns)
    run(["ip", "netns", "exec", ns, "iptables-restore", "-c"], input=COUNTERS)
    ref["counters"] = {"iptables-save -c -t filter": _real_save(t, ns, "-c", "-t", "filter")}
    for argv in (["iptables", "-L", "-n", "-v"], ["iptables", "-L", "-n", "-v", "-x"], ["iptables", "-S", "-v"]):
        ref["counters"][" ".join(argv)] = t.exec(ns, *argv).stdout
    _clean(t, ns)
    for cmd in BAD_COMMANDS:
        run(["ip", "netns", "exec", ns, "iptables-restore"], input=DOCKER)
        p = t.exec(ns, "iptables", *cmd.split(), check=False)
        ref["bad_commands"][cmd] = [p.stderr, p.returncode]
        _clean(t, ns)
    for text in BAD_RESTORES:
        p = run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, check=False)
        ref["bad_restores"][text] = [p.stderr, p.returncode]
        _clean(t, ns)
    return ref


def test_the_reference_file_is_what_iptables_prints(real):
    """tests/stack/netfilter/reference/ holds what the real iptables printed, so that the
    comparison also runs without root; here it must still be what iptables prints
    (EMUNET_UPDATE_REFERENCE=1 writes it anew)."""
    with Topology("iptref") as t:
        ref = capture_reference(t, t.netns("fw"))
    if os.environ.get("EMUNET_UPDATE_REFERENCE"):
        with open(REFERENCE, "w") as f:
            json.dump(ref, f, indent=1, sort_keys=True)
            f.write("\n")
    assert ref == load_reference()
