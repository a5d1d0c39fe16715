"""The real BIRD 1.6.8 in a namespace, for the kernel tests of emunet's BIRD.

:class:`KernelBird` writes the configuration files (what emunet's confd renders,
:func:`emunet.control.calico.confd.render_bird_cfg`) to a directory of its own and runs
``ip netns exec NS bird -f -c bird.cfg -s SOCK -P PID`` through the harness's
:class:`~tests.kernel.harness.Process` (stopped, and so BIRD killed, when the topology
closes); :meth:`KernelBird.birdc` asks it what ``birdc -s SOCK`` prints.

:func:`calico_nodes` builds the machines of a Calico scenario in namespaces: each node's
``eth0`` (the scenario's MAC, address) as a veth to a bridge ``lan0`` in a namespace ``lan``
(the scenario's switch; in namespaces a NIC cannot be had), its pods' ``cali`` veths (the
other end in a namespace of the pod's name), and the routes the model has in the node's
main table except BIRD's own (``proto bird``: BIRD installs those) and the kernel's.
"""
import os
import shutil
import tempfile
import time

from emunet.wire.ethernet import mac_to_str
from tests.kernel.harness import Topology, run

BIRD = "/usr/sbin/bird"
BIRDC = "/usr/sbin/birdc"


def bird_missing() -> str:
    """"" when BIRD 1.6's ``bird`` and ``birdc`` are here, else what is missing."""
    for prog in (BIRD, BIRDC):
        if shutil.which(prog) is None:
            return f"{prog} not installed (Debian's bird 1.6.8, the version calico/node embeds)"
    out = run([BIRD, "--version"], check=False)
    text = (out.stdout + out.stderr).strip()
    if "1.6." not in text:
        return f"{BIRD} is not BIRD 1.6 ({text!r})"
    return ""


class KernelBird:
    """One ``bird`` in namespace ``ns`` reading ``files`` (name -> text; ``bird.cfg`` first):
    the files are written and checked (``bird -p``) at once, BIRD runs from :meth:`start`."""

    def __init__(self, t: Topology, ns: str, files: dict, workdir: str, start: bool = True):
        self.t, self.ns = t, ns
        self.dir = os.path.join(workdir, ns)
        os.makedirs(self.dir, exist_ok=True)
        for name, text in files.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        self.sock = os.path.join(self.dir, "bird.ctl")
        self.cfg = os.path.join(self.dir, "bird.cfg")
        check = run([BIRD, "-p", "-c", self.cfg], check=False, cwd=self.dir)
        if check.returncode != 0:
            raise RuntimeError(f"bird -p refused {self.cfg}: {(check.stderr or check.stdout).strip()}")
        self.proc = None
        if start:
            self.start()
            self.wait()

    def start(self) -> None:
        """``bird -f`` in the namespace (``include "bird_aggr.cfg"`` is relative to its
        working directory)."""
        self.proc = self.t.start(self.ns, ["sh", "-c", f"cd {self.dir} && exec {BIRD} -f -c {self.cfg} "
                                                       f"-s {self.sock} -P {os.path.join(self.dir, 'bird.pid')}"])

    def wait(self, timeout: float = 10.0) -> None:
        """Until BIRD has opened its control socket."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.sock):
            if self.proc.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stop()
                raise RuntimeError(f"bird in {self.ns} did not open {self.sock}: {err.strip()}")
            time.sleep(0.02)

    def birdc(self, command: str) -> str:
        """What ``birdc -s SOCK COMMAND`` prints."""
        return run([BIRDC, "-s", self.sock, *command.split()]).stdout


def workdir() -> str:
    """A directory for the configurations and control sockets (removed at exit)."""
    import atexit
    d = tempfile.mkdtemp(prefix="emuk-bird-")
    atexit.register(shutil.rmtree, d, True)
    return d


def calico_nodes(t: Topology, cluster, tx_csum_off: bool = True) -> dict:
    """The machines of Calico cluster ``cluster`` (emunet's) as namespaces: returns
    ``{node name: namespace}``; the switch is the bridge ``lan0`` in namespace ``lan``."""
    lan = t.netns("lan")
    t.ip(lan, "link", "add", "lan0", "type", "bridge", "mcast_snooping", "0")
    t.ip(lan, "link", "set", "lan0", "up")
    out = {}
    for i, node in enumerate(cluster.nodes.values(), 1):
        ns = out[node.name] = t.netns(node.name, forwarding=True)
        t.veth(ns, "eth0", lan, f"port{i}", mac_a=mac_to_str(node.eth0.mac), mtu=node.eth0.mtu)
        t.ip(lan, "link", "set", f"port{i}", "master", "lan0")
        t.ip(lan, "link", "set", f"port{i}", "up")
        for pod in node.pods:
            pns = t.netns(pod.name)
            t.veth(ns, pod.veth_host.name, pns, "eth0", mac_a=mac_to_str(pod.veth_host.mac),
                   mac_b=mac_to_str(pod.mac))
            t.ip(pns, "link", "set", "eth0", "up")
            t.ip(ns, "link", "set", pod.veth_host.name, "up")
        if tx_csum_off:
            t.tx_csum_off(ns, "eth0")
        t.ip(ns, "link", "set", "eth0", "up")
        t.ip(ns, "addr", "add", f"{node.ip}/{node.segment.network.prefixlen}", "dev", "eth0")
        for r in node.ns.fib.main:
            if r.proto in ("kernel", "bird"):
                continue
            args = ["route", "add"] + ([r.type] if r.type != "unicast" else []) + [str(r.dst)]
            if r.via:
                args += ["via", r.via]
            if r.dev is not None:
                args += ["dev", r.dev.name]
            if r.scope not in (None, "universe") and not r.via:
                args += ["scope", r.scope]
            t.ip(ns, *args)
    return out


__all__ = ["BIRD", "BIRDC", "bird_missing", "KernelBird", "workdir", "calico_nodes"]
