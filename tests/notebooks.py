"""Run the walkthrough notebooks, and refresh their committed outputs.

The notebooks in ``notebooks/`` are committed *with* their outputs, so they read on
GitHub as they run.  Those outputs must be what the notebook prints today:
``tests/scenarios/test_notebooks.py`` executes each one and compares.  After changing the model or
a notebook, refresh them with::

    python3 -m tests.notebooks            # every notebooks/*.ipynb
    python3 -m tests.notebooks notebooks/03-flannel-udp.ipynb

Each runs in a fresh kernel started from this interpreter, with this checkout first on
``sys.path`` and an empty temporary directory as its working directory (what a notebook
writes, its pcapng files, lands there), so the outputs do not depend on the machine.
"""
import json
import os
import pathlib
import sys
import tempfile
import xml.etree.ElementTree as ET

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "emunet-notebooks"
TIMEOUT = 300


def notebooks() -> list:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _kernelspec(directory: pathlib.Path) -> None:
    """A kernelspec that starts ipykernel with this very interpreter: the test command
    works on a fresh machine whatever kernelspecs (if any) it has installed."""
    spec = directory / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (emunet)", "language": "python"}))


def execute(path, workdir=None):
    """The notebook at ``path``, executed top to bottom in a fresh kernel; raises
    ``nbclient.exceptions.CellExecutionError`` on the first cell that fails."""
    nb = nbformat.read(str(path), as_version=4)
    with tempfile.TemporaryDirectory(prefix="emunet-nb-") as tmp:
        tmp = pathlib.Path(tmp)
        _kernelspec(tmp / "jupyter")
        cwd = pathlib.Path(workdir) if workdir else tmp / "run"
        cwd.mkdir(parents=True, exist_ok=True)
        saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "PYTHONPATH", "PYTHONHASHSEED")}
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(tmp / "jupyter"), saved["JUPYTER_PATH"]]))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved["PYTHONPATH"]]))
        os.environ["PYTHONHASHSEED"] = "0"
        try:
            client = NotebookClient(nb, timeout=TIMEOUT, kernel_name=KERNEL, record_timing=False,
                                    resources={"metadata": {"path": str(cwd)}})
            client.execute()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return nb


def _svg_texts(svg: str) -> list:
    """What a picture says (its text elements), not where a layout engine put it."""
    root = ET.fromstring(svg)
    return sorted("".join(e.itertext()).strip() for e in root.iter() if e.tag.endswith("}text"))


def comparable(nb) -> list:
    """Per code cell: its source and outputs, with what may differ between machines left
    out: stderr (warnings of the environment), timings, and the geometry of pictures."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = []
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                if o.name == "stdout":
                    # the kernel cuts a cell's printing into stream messages as its buffer
                    # happens to flush: only their concatenation is what was printed
                    if outs and outs[-1][0] == "stdout":
                        outs[-1] = ("stdout", outs[-1][1] + o.text)
                    else:
                        outs.append(("stdout", o.text))
            elif o.output_type in ("display_data", "execute_result"):
                data = o.get("data", {})
                if "image/svg+xml" in data:
                    svg = data["image/svg+xml"]
                    outs.append(("svg", _svg_texts(svg if isinstance(svg, str) else "".join(svg))))
                elif "text/plain" in data:
                    outs.append(("text", data["text/plain"]))
            elif o.output_type == "error":
                outs.append(("error", o.ename, o.evalue))
        cells.append((cell.source, outs))
    return cells


def _clean(nb) -> None:
    """What is written back: no stderr, no per-machine kernel metadata."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.output_type == "stream" and o.name == "stderr")]
            cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}


def refresh(path) -> None:
    nb = execute(path)
    _clean(nb)
    nbformat.write(nb, str(path))


def main(argv=None) -> int:
    paths = [pathlib.Path(p) for p in (argv if argv is not None else sys.argv[1:])] or notebooks()
    for p in paths:
        print(f"executing {p} ...", flush=True)
        refresh(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
