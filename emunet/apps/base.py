"""The base of every simulated program."""


class Process:
    """A program running in a namespace: it has a name, a pid, standard output
    (a list of lines, as the real program would print them) and an exit code.
    ``start`` runs when it is spawned; the program then lives on events."""

    name = "process"
    _next_pid = None

    def __init__(self):
        self.ns = None
        self.sim = None
        self.stdout = []
        self.stderr = []
        self.exit_code = None
        self.pid = 0

    def attach(self, ns) -> None:
        self.ns = ns
        self.sim = ns.sim
        # pids as a fresh container's would be: small numbers, deterministic
        self.pid = 1 + len(ns.processes)

    def start(self) -> None:
        pass

    def print(self, line: str = "") -> None:
        self.stdout.append(line)

    def eprint(self, line: str) -> None:
        self.stderr.append(line)

    def exit(self, code: int = 0) -> None:
        if self.exit_code is None:
            self.exit_code = code
            self.on_exit()

    def on_exit(self) -> None:
        pass

    @property
    def running(self) -> bool:
        return self.exit_code is None

    @property
    def output(self) -> str:
        return "\n".join(self.stdout)
