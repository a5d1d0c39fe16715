"""emunet's iptables against what the real iptables 1.8.9 (nf_tables) printed for the same
input (reference/iptables-1.8.9.json, checked against the real tool by
tests/kernel/test_kernel_iptables.py): rule sets loaded with iptables-restore and shown
with iptables-save, -S and -L -n -v [-x] [--line-numbers]; refused command lines and
restore inputs, with their error text and exit status."""
import pytest

from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.stack.netfilter.iptables import Iptables
from emunet.stack.netfilter.libxtables import IptablesError
from tests.stack.netfilter.rulesets import BAD_COMMANDS, BAD_RESTORES, COUNTERS, DOCKER, RULESETS, SHOWS, load_reference

REF = load_reference()


def _ours():
    return Iptables(Namespace(Simulator(seed=1), "fw").netfilter)


def _save(ipt, **kw):
    return "".join(line for line in ipt.save(**kw).splitlines(keepends=True) if not line.startswith("#"))


@pytest.mark.parametrize("name", sorted(RULESETS))
def test_rule_sets_show_as_iptables_shows_them(name):
    ipt = _ours()
    ipt.restore(RULESETS[name])
    want = REF["rulesets"][name]
    for table in ("filter", "nat", "mangle"):
        assert _save(ipt, table=table) == want[f"iptables-save -t {table}"], table
    for argv in SHOWS:
        assert ipt.run(argv) == want[" ".join(argv)], " ".join(argv)


def test_counters_restored_and_shown_as_iptables_does():
    ipt = _ours()
    ipt.restore(COUNTERS, counters=True)
    want = REF["counters"]
    assert _save(ipt, counters=True, table="filter") == want["iptables-save -c -t filter"]
    for argv in (["iptables", "-L", "-n", "-v"], ["iptables", "-L", "-n", "-v", "-x"], ["iptables", "-S", "-v"]):
        assert ipt.run(argv) == want[" ".join(argv)]


@pytest.mark.parametrize("cmd", BAD_COMMANDS)
def test_refused_commands_say_what_iptables_says(cmd):
    ipt = _ours()
    ipt.restore(DOCKER)
    before = ipt.save()
    stderr, status = REF["bad_commands"][cmd]
    try:
        ipt.run(["iptables"] + cmd.split())
    except IptablesError as e:
        assert (e.message + "\n", e.status) == (stderr, status)
        assert ipt.save() == before
    else:
        assert (stderr, status) == ("", 0)


@pytest.mark.parametrize("text", BAD_RESTORES)
def test_refused_restores_say_what_iptables_restore_says_and_change_nothing(text):
    ipt = _ours()
    ipt.restore(DOCKER)
    before = ipt.save()
    with pytest.raises(IptablesError) as e:
        ipt.restore(text)
    assert [e.value.message + "\n", e.value.status] == REF["bad_restores"][text]
    assert ipt.save() == before
