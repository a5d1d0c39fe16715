"""Bad values for every argument of every subcommand: argparse's answer naming the argument
and its valid range, or the model's refusal in one line, exit status 2, never a traceback.

The subcommands and their arguments are read from the parser, so a new subcommand or
argument is probed too; a new subcommand must be given a cheap valid command line in
``BASES``, and a new argument a ``type=`` or ``choices=`` (or a place in ``MODEL_JUDGED``).
Each probe runs ``main(argv)`` in this process, where a traceback would be an exception
escaping it; the issue's own command lines run in a subprocess as a user types them.
"""
import argparse
import json
import os
import subprocess
import sys

import pytest

from emunet import cli

#: a cheap valid command line per subcommand: (positionals, options); "{tmp}" is the test's
#: directory.  A bad value replaces one of them (or is added).
BASES = {
    ("scenarios",): ([], []),
    ("run",): (["docker-bridge"], ["--out", "{tmp}/out", "-q"]),
    ("show",): (["docker-bridge", "c1", "ip route"], []),
    ("trace",): (["docker-bridge"], ["--from", "c1", "--to", "172.17.0.8"]),
    ("draw",): (["docker-bridge"], ["--out", "{tmp}/topo.dot", "--no-run"]),
    ("compare",): ([], ["--backends", "flannel-host-gw"]),
    ("bench", "hop-rate"): ([], ["--count", "1", "--baseline-count", "1", "--repeat", "1",
                                 "--topologies", "docker-bridge"]),
    ("bench", "scale"): ([], ["--nodes", "1", "--pairs", "0", "--stream", "0"]),
    ("bench", "trace-cost"): ([], ["--count", "1", "--repeat", "1"]),
    ("bench", "plot"): ([], ["--scale-json", "{tmp}/scale.json", "--out", "{tmp}/plot.png"]),
    ("bgp-scale",): ([], ["--nodes", "2", "--modes", "mesh"]),
}
#: free text only a built scenario can judge
MODEL_JUDGED = {("show", "namespace"), ("show", "command"), ("trace", "--from")}
#: argument types whose every value is judged by argparse (free text: the model judges)
_TYPED = (cli.IntRange, cli.OneOf, cli.ListOf)


def _leaves(parser, path=()):
    """(path, parser) for every subcommand, nested ones (bench hop-rate) included."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaves(sub, path + (name,))


def _arguments(parser):
    """The arguments that take a value (flags, help and version take none)."""
    return [a for a in parser._actions if a.nargs != 0 and not isinstance(a, argparse._SubParsersAction)]


def _name(action) -> str:
    return argparse._get_action_name(action)


def _bad_values(action, tmp) -> list:
    t = action.type.item if isinstance(action.type, cli.ListOf) else action.type
    lists = [","] if isinstance(action.type, cli.ListOf) else []
    if isinstance(t, cli.IntRange):
        return [str(t.lo - 1), "abc", "", "1.5", "0x10"] + ([str(t.hi + 1)] if t.hi is not None else []) + lists
    if isinstance(t, cli.OneOf) or action.choices:
        return ["nosuch", "", "NOSUCH"] + lists
    return ["nosuch", "", f"{tmp}/a-file/x.dot", "-"]


def _expected_words(action) -> str:
    """What argparse's error must say besides the argument's name: its valid range."""
    t = action.type.item if isinstance(action.type, cli.ListOf) else action.type
    if isinstance(t, (cli.IntRange, cli.OneOf)):
        return t.describe()
    if action.choices:
        return "choose from"
    return ""


def _argv(path, action, value, tmp) -> list:
    positionals, options = BASES[path]
    positionals = [p.format(tmp=tmp) for p in positionals]
    options = [o.format(tmp=tmp) for o in options]
    if not action.option_strings:
        positionals[[a.dest for a in _positionals(path)].index(action.dest)] = value
        return [*path, *options, "--", *positionals] if value.startswith("-") else [*path, *positionals, *options]
    for i, o in enumerate(options):
        if o in action.option_strings:
            options[i + 1] = value
            break
    else:
        options += [action.option_strings[0], value]
    return [*path, *positionals, *options]


def _positionals(path):
    parser = dict(_leaves(cli.build_parser()))[path]
    return [a for a in _arguments(parser) if not a.option_strings]


def _run(argv, capsys) -> tuple:
    try:
        status = cli.main(argv)
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def _probes():
    for path, parser in _leaves(cli.build_parser()):
        for action in _arguments(parser):
            yield pytest.param(path, action.dest, id=f"{' '.join(path)} {_name(action)}")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A directory to write in, with a file where a directory is wanted and a saved scale result."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "scale.json").write_text(json.dumps({"results": [
        {"mode": "flannel-vxlan", "nodes": 10, "build_s": 0.1, "peak_rss_mib": 30.0, "hops_per_s": 1e5}]}))
    return tmp_path


def test_every_subcommand_has_a_base_and_every_argument_a_judge():
    leaves = dict(_leaves(cli.build_parser()))
    assert set(leaves) == set(BASES), "give each subcommand a cheap valid command line in BASES"
    for path, parser in leaves.items():
        parser.parse_args([p.format(tmp="/tmp") for p in BASES[path][0] + BASES[path][1]])
        for action in _arguments(parser):
            judged = action.type is not None or action.choices is not None
            assert judged or (path[-1], _name(action)) in MODEL_JUDGED, \
                f"{' '.join(path)} {_name(action)}: give it a type= or choices="


@pytest.mark.parametrize("path,dest", list(_probes()))
def test_bad_values_get_one_line_naming_the_argument(path, dest, workdir, capsys):
    parser = dict(_leaves(cli.build_parser()))[path]
    action = next(a for a in _arguments(parser) if a.dest == dest)
    prog = "emunet " + " ".join(path)
    for value in _bad_values(action, workdir):
        argv = _argv(path, action, value, workdir)
        status, out, err = _run(argv, capsys)    # an exception escaping main fails the test here
        assert "Traceback" not in err, (argv, err)
        lines = err.splitlines()
        if isinstance(action.type, _TYPED) or action.choices:
            # argparse judged it: its usage, then one line naming the argument and the range
            assert status == 2 and out == "", (argv, status, err)
            assert lines[-1].startswith(f"{prog}: error: argument {_name(action)}: "), (argv, err)
            assert _expected_words(action) in lines[-1], (argv, err)
        elif status != 0:
            # free text the model (or the file system) refused: one line, status 2
            assert status == 2, (argv, status, err)
            assert lines[-1].startswith(f"{prog}: error: "), (argv, err)
            assert len(lines) == 1 or lines[0].startswith("usage: "), (argv, err)


@pytest.mark.parametrize("argv", [["nosuch"], ["bench", "nosuch"], [], ["bench"], ["trace", "docker-bridge"]])
def test_unknown_and_missing_subcommands_are_argparse_errors(argv, capsys):
    status, out, err = _run(argv, capsys)
    assert status == 2 and out == "" and "Traceback" not in err
    assert err.splitlines()[-1].startswith("emunet")


ISSUE = [   # issue 13's crashes, as a user typed them; the line and range each must name
    ("trace docker-bridge --from c1 --to 172.17.0.8 --ttl 300", "argument --ttl: 300 is out of range (1..255)"),
    ("trace docker-bridge --from c1 --to 172.17.0.8 --ttl -1", "argument --ttl: -1 is out of range (1..255)"),
    ("trace docker-bridge --from c1 --to 172.17.0.8 --ttl 0", "argument --ttl: 0 is out of range (1..255)"),
    ("trace docker-bridge --from c1 --to 172.17.0.8 --proto udp --dport 70000",
     "argument --dport: 70000 is out of range (1..65535)"),
    ("trace docker-bridge --from c1 --to 172.17.0.8 --size 100000",
     "argument --size: 100000 is out of range (0..65507)"),
    ("compare --backends docker-bridge", "argument --backends: no backend scenario named 'docker-bridge'; "
     "there are: flannel-udp, "),
    ("bench scale --nodes 0", "argument --nodes: 0 is out of range (1 or more)"),
    ("bench scale --nodes abc", "argument --nodes: 'abc' is not an integer (1 or more)"),
]


@pytest.mark.parametrize("command,says", ISSUE, ids=[c for c, _ in ISSUE])
def test_the_issues_crashes_are_one_line_answers(command, says):
    ran = subprocess.run([sys.executable, "-m", "emunet", *command.split()], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(
                             cli.__file__)))})
    assert ran.returncode == 2 and ran.stdout == "" and "Traceback" not in ran.stderr, ran.stderr
    prog = "emunet " + " ".join(command.split()[:2 if command.startswith("bench") else 1])
    assert ran.stderr.splitlines()[-1].startswith(f"{prog}: error: {says}"), ran.stderr


def test_the_model_refusals_name_the_argument(capsys):
    base = ["trace", "docker-bridge", "--to", "172.17.0.8"]
    cases = [
        (base + ["--from", "c9"], "emunet trace: error: argument --from: no namespace named 'c9'; "
                                  "there are: c1, c2, host"),
        (base + ["--from", "c1", "--proto", "udp", "--ttl", "5"],
         "emunet trace: error: argument --ttl: ping's option: use it with --proto icmp"),
        (base + ["--from", "c1", "--dport", "80"],
         "emunet trace: error: argument --dport: a UDP port: use it with --proto udp"),
        (["show", "docker-bridge", "c9", "ip route"],
         "emunet show: error: argument namespace: no namespace named 'c9'; there are: c1, c2, host"),
        (["bgp-scale", "--nodes", "10,2", "--mode", "mesh,rr"],
         "emunet bgp-scale: error: argument --nodes: 2 nodes are too few for --modes rr: two route "
         "reflectors and at least one client, 3 or more"),
    ]
    for argv, line in cases:
        assert _run(argv, capsys) == (2, "", line + "\n"), argv


def test_the_edges_of_the_ranges_are_accepted(capsys):
    base = ["trace", "docker-bridge", "--from", "c1", "--to", "172.17.0.8"]
    for extra in (["--ttl", "1"], ["--ttl", "255"], ["--size", "0"], ["--size", "65507"],
                  ["--proto", "udp", "--dport", "65535", "--size", "65507"]):
        status, out, err = _run(base + extra, capsys)
        assert (status, err) == (0, ""), extra
        if extra == ["--size", "65507"]:
            # the largest ping: 65535 bytes, cut into 45 fragments and put back together in c2
            assert "reassembled: 65535 bytes from 45 fragments" in out
