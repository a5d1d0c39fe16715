"""What every scenario is: a built topology, its traffic, and a transcript."""
import attrs

from emunet.sim import Simulator


class Lab:
    """One scenario, built and ready to run.

    ``sim`` is the simulator; ``hosts`` names the objects a user talks to
    (a :class:`~emunet.control.docker.DockerHost`, a cluster node, ...);
    ``transcript`` collects what a user would have seen in their terminal,
    commands with a ``$`` prompt followed by their output.
    """

    def __init__(self, name: str, seed: int = 1, capture: bool = True):
        self.name = name
        self.sim = Simulator(seed=seed, capture=capture)
        self.hosts = {}
        self.transcript = []
        self.processes = []
        self.duration = 60.0

    def traffic(self) -> None:
        """Start the scenario's programs (overridden per scenario)."""

    def run(self) -> "Lab":
        self.traffic()
        self.sim.run(until=self.duration)
        for prompt, proc in self.processes:
            self.transcript.append(f"$ {prompt}")
            self.transcript.extend(proc.stdout)
            self.transcript.extend(proc.stderr)
        return self

    def spawn(self, ns, process, prompt: str):
        """Start ``process`` in ``ns`` and record it in the transcript under ``prompt``."""
        ns.spawn(process)
        self.processes.append((prompt, process))
        return process

    def namespace(self, name: str):
        return self.sim.ns(name)


@attrs.define(frozen=True)
class Scenario:
    """A named, registered scenario."""

    name: str
    summary: str
    build: object  # callable(seed) -> Lab
