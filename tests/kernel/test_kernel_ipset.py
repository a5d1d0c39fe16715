"""ipset against the kernel: the same ``ipset restore`` script run by the real ipset 7.17 in a
namespace and by emunet's model, then ``ipset list`` and ``ipset save`` compared byte for
byte: the members in the kernel's hash order (jhash2 with the set's ``initval``, the
bucket arrays growing, shrinking and freed on delete, the table doubling when a bucket is
full), ``Size in memory``, slot order after ``swap`` and ``destroy``; and the error texts
and exit statuses of bad commands.  Each set is created with an explicit ``initval`` (the
kernel draws it at random otherwise).

Needs root, network namespaces, the ``ipset`` tool and a kernel with ``CONFIG_IP_SET``
(hash:ip, hash:net, hash:ip,port); skipped with the reason otherwise.
"""
import gzip
import random
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emunet.stack.netfilter.ipset import IpSets, IpsetError, ipset_command

from tests.kernel.harness import PREFIX, run

NS = f"{PREFIX}ipset"


def _missing() -> str:
    if shutil.which("ipset") is None:
        return "the ipset tool is not installed (Debian's `ipset` package)"
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            config = f.read()
    except OSError:
        return ""
    for option in ("CONFIG_IP_SET", "CONFIG_IP_SET_HASH_IP", "CONFIG_IP_SET_HASH_NET",
                   "CONFIG_IP_SET_HASH_IPPORT"):
        if f"{option}=y" not in config and f"{option}=m" not in config:
            return f"the kernel lacks {option}"
    return ""


@pytest.fixture(scope="module")
def kernel(netns):
    reason = _missing()
    if reason:
        pytest.skip(f"ipset comparison skipped: {reason}")
    run(["ip", "netns", "add", NS])
    try:
        yield Kernel()
    finally:
        run(["ip", "netns", "del", NS], check=False)


class Kernel:
    """The real ``ipset`` in the test's namespace."""

    def __call__(self, *argv, stdin: str = None):
        p = run(["ip", "netns", "exec", NS, "ipset", *argv], check=False, input=stdin)
        return p.returncode, p.stdout, p.stderr

    def reset(self) -> None:
        self("destroy")


def emunet(script: str) -> IpSets:
    sets = IpSets(random.Random(0))
    ipset_command(sets, ["restore"], stdin=script)
    return sets


def compare(kernel: Kernel, script: str) -> None:
    kernel.reset()
    rc, _, err = kernel("restore", stdin=script)
    assert rc == 0, err
    ours = emunet(script)
    for argv in (["list"], ["save"], ["list", "-n"], ["list", "-t"]):
        assert ipset_command(ours, argv) == kernel(*argv)[1], f"ipset {' '.join(argv)} differs"


# -- scripts --------------------------------------------------------------------------
_TYPES = ("hash:ip", "hash:net", "hash:ip,port")


def _element(draw, typename: str) -> str:
    a = f"10.{draw(st.integers(0, 1))}.{draw(st.integers(0, 3))}.{draw(st.integers(0, 255))}"
    if typename == "hash:ip":
        return a
    if typename == "hash:net":
        return f"{a}/{draw(st.sampled_from([8, 16, 20, 24, 28, 30, 31, 32]))}"
    return f"{a},{draw(st.sampled_from(['tcp', 'udp', 'sctp']))}:{draw(st.integers(0, 65535))}"


@st.composite
def scripts(draw):
    """Creates (small tables, so buckets fill and the table doubles), then adds and
    deletes (``-exist`` so every line applies), a swap, a destroy and a re-create."""
    lines, members = [], {}
    names = [f"s{i}" for i in range(draw(st.integers(1, 3)))]
    types = {}
    for name in names:
        t = types[name] = draw(st.sampled_from(_TYPES))
        size = draw(st.sampled_from([64, 128, 1024]))
        lines.append(f"create {name} {t} family inet hashsize {size} maxelem 1048576 "
                     f"initval 0x{draw(st.integers(0, 2**32 - 1)):08x}")
        members[name] = []
    for _ in range(draw(st.integers(0, 300))):
        name = draw(st.sampled_from(names))
        if members[name] and draw(st.integers(0, 3)) == 0:
            lines.append(f"del {name} {draw(st.sampled_from(members[name]))} -exist")
        else:
            e = _element(draw, types[name])
            members[name].append(e)
            lines.append(f"add {name} {e} -exist")
    if draw(st.booleans()):
        t = types[names[0]]
        lines.append(f"create tmp {t} family inet maxelem 1048576 initval 0x{draw(st.integers(0, 2**32 - 1)):08x}")
        lines.append(f"add tmp {_element(draw, t)}")
        lines.append(f"swap {names[0]} tmp")
        lines.append("destroy tmp")
        lines.append(f"create again hash:ip initval 0x{draw(st.integers(0, 2**32 - 1)):08x}")
    return "\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=scripts())
def test_list_and_save_are_the_kernels(kernel, script):
    compare(kernel, script)


def test_a_large_set_doubles_its_table_as_the_kernel_does(kernel):
    script = ("create a hash:ip hashsize 64 initval 0x7\n"
              + "".join(f"add a 10.0.{i // 256}.{i % 256}\n" for i in range(1500))
              + "create n hash:net hashsize 64 initval 0x9\n"
              + "".join(f"add n 10.{i // 256}.{i % 256}.0/24\n" for i in range(900))
              + "".join(f"del a 10.0.{i // 256}.{i % 256}\n" for i in range(0, 1500, 3)))
    compare(kernel, script)
    sets = emunet(script)
    assert sets["a"].hashsize == 256 and sets["n"].hashsize == 256


def test_ranges_and_cidrs_expand_as_the_kernel_does(kernel):
    compare(kernel, "create a hash:ip initval 0x1\nadd a 10.0.0.0/30\nadd a 10.1.0.1-10.1.0.3\n"
                    "create b hash:net initval 0x2\nadd b 10.2.0.1-10.2.0.6\nadd b 10.0.0.1/24\n")


@pytest.mark.parametrize("argv", [
    "create a hash:ip", "create q hash:foo", "create q", "create q hash:ip family inet9",
    "create q hash:ip bogus 3", "create q hash:ip hashsize x", "add a", "add a 10.0.0.300",
    "add a foo", "add nosuch 1.2.3.4", "add b 10.0.0.0/33", "add b 10.0.0.0/0",
    "add b 10.0.0.0/24", "add c 10.0.0.1", "add c 10.0.0.1,foo:80", "add c 10.0.0.1,udp:99999",
    "del a 9.9.9.9", "del a 9.9.9.9 -exist", "add a 10.0.0.1 -exist", "test a 10.0.0.1",
    "test a 10.0.0.9", "test b 10.0.0.77", "test b 10.0.0.0/24", "test b 10.0.0.0/25",
    "test c 10.0.0.1,80", "test c 10.0.0.1,udp:80", "destroy nosuch", "flush nosuch", "swap a b",
    "swap a nosuch", "frobnicate", "list nosuch", "add a 10.0.0.1 extra", "version",
])
def test_errors_and_statuses_are_the_tools(kernel, argv):
    setup = ("create a hash:ip initval 0x1\nadd a 10.0.0.1\ncreate b hash:net initval 0x2\n"
             "add b 10.0.0.0/24\ncreate c hash:ip,port initval 0x3\nadd c 10.0.0.1,tcp:80\n")
    kernel.reset()
    kernel("restore", stdin=setup)
    rc, out, err = kernel(*argv.split())
    ours = emunet(setup)
    try:
        text = ipset_command(ours, argv)
        status, message = 0, ""
    except IpsetError as e:
        text, status, message = "", e.status, str(e)
    assert status == rc
    if argv.startswith("test"):          # the verdict goes to stderr, in both outcomes
        assert (text or message) + "\n" == err
    else:
        assert text == out
        assert message == err.rstrip("\n")


def test_restore_names_the_failing_line_and_keeps_what_came_before(kernel):
    script = "create a hash:ip initval 0x1\nadd a 10.0.0.1\n# a comment\n\nadd a 10.0.0.1\nadd a 10.0.0.2\n"
    kernel.reset()
    rc, _, err = kernel("restore", stdin=script)
    with pytest.raises(IpsetError) as e:
        emunet(script)
    assert (rc, err.rstrip("\n")) == (e.value.status, str(e.value))
    ours = IpSets(random.Random(0))
    with pytest.raises(IpsetError):
        ipset_command(ours, ["restore"], stdin=script)
    assert ipset_command(ours, ["save"]) == kernel("save")[1]
