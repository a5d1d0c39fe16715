"""A picture of saved bench results: hop rates, and build time / memory / hop rate against
cluster size.  Needs matplotlib (the ``bench`` extra: ``pip install emunet[bench]``)."""
import json


#: the numbers each row of a saved result needs (and its names), by the command that saved it
_NUMBERS = {"hop-rate": ("hops_per_s", "hops_per_s_capture", "baseline_hops_per_s", "ratio"),
            "scale": ("nodes", "build_s", "peak_rss_mib")}
_NAMES = {"hop-rate": ("topology", "traffic"), "scale": ("mode",)}


def _load(path, kind: str):
    """The saved ``bench KIND --json`` in ``path``; a ValueError naming the file if it is not one."""
    if path is None:
        return None
    what = f"{path} is not the JSON of `emunet bench {kind} --json`"
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what}: {e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what}: not text") from None
    rows = data.get("results") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{what}: no list of results")
    for i, row in enumerate(rows):
        bad = [k for k in _NUMBERS[kind] if isinstance(row.get(k), bool)
               or not isinstance(row.get(k), (int, float))] + [k for k in _NAMES[kind] if k not in row]
        if bad:
            raise ValueError(f"{what}: result {i + 1} lacks (or has the wrong type for) {', '.join(bad)}")
    return data


def _seconds(s: float) -> str:
    """Two significant digits, in plain numbers: 0.055 s, 3.5 s, 19 s, 106 s."""
    return f"{s:.2g} s" if s < 10 else f"{s:.0f} s"


def plot(hop_rate_json: str, scale_json: str, out: str) -> str:
    """Draw ``bench hop-rate --json`` and ``bench scale --json`` results into the PNG ``out``."""
    if not out:
        raise ValueError("bench plot: give --out FILE.png")
    hop, sc = _load(hop_rate_json, "hop-rate"), _load(scale_json, "scale")
    if hop is None and sc is None:
        raise ValueError("bench plot: give --hop-rate-json and/or --scale-json")
    try:
        import matplotlib
    except ImportError:
        raise OSError("bench plot needs matplotlib: pip install 'emunet[bench]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")

    panels = (1 if hop else 0) + (2 if sc else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2), squeeze=False)
    axes = list(axes[0])
    if hop:
        ax = axes.pop(0)
        rows = hop["results"]
        labels = [f"{r['topology']}\n{r['traffic']}" for r in rows]
        width = 0.27
        xs = range(len(rows))
        series = (("hops_per_s", "capture off", "#1f77b4"), ("hops_per_s_capture", "capture on", "#ff7f0e"),
                  ("baseline_hops_per_s", "Scapy per hop", "#7f7f7f"))
        for i, (key, label, color) in enumerate(series):
            ax.bar([x + (i - 1) * width for x in xs], [r[key] for r in rows], width, label=label, color=color)
        for x, r in zip(xs, rows):
            ax.annotate(f"{r['ratio']:.0f}×", (x - width, r["hops_per_s"]), ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")
        # head room for the legend above the tallest bar and its ratio
        ax.set_ylim(top=5 * max(r[key] for r in rows for key, _, _ in series))
        ax.yaxis.set_major_formatter(plain)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("frame-hops per second (wall)")
        ax.set_title("Hop rate (ratio over the Scapy baseline)", fontsize=10)
        ax.legend(fontsize=8)
    if sc:
        by_mode = {}
        for r in sc["results"]:
            by_mode.setdefault(r["mode"], []).append(r)
        ax, ax_hops = axes
        ax_mem = ax.twinx()
        for mode, rows in by_mode.items():
            rows = sorted(rows, key=lambda r: r["nodes"])
            n = [r["nodes"] for r in rows]
            line, = ax.plot(n, [r["build_s"] for r in rows], "o-", label=f"{mode}: build, s")
            ax_mem.plot(n, [r["peak_rss_mib"] for r in rows], "s--", color=line.get_color(), alpha=0.5,
                        label=f"{mode}: peak RSS, MiB")
            for x, r in zip(n, rows):
                ax.annotate(_seconds(r["build_s"]), (x, r["build_s"]), textcoords="offset points",
                            xytext=(4, -10), fontsize=7)
            hops, = ax_hops.plot(n, [r.get("hops_per_s", 0) for r in rows], "o-",
                                 label=f"{mode}: ping stream, per wall s")
            if all("hops_per_cpu_s" in r for r in rows):
                ax_hops.plot(n, [r["hops_per_cpu_s"] for r in rows], "s--", color=hops.get_color(), alpha=0.5,
                             label=f"{mode}: per CPU s")
        for a in (ax, ax_mem, ax_hops):
            a.set_xscale("log")
            a.xaxis.set_major_formatter(plain)
        for a in (ax, ax_mem):
            a.set_yscale("log")
            a.yaxis.set_major_formatter(plain)
        ax.set_xlabel("nodes (two pods each)")
        ax.set_ylabel("build time, s (wall)")
        ax_mem.set_ylabel("peak RSS, MiB")
        ax.set_title("Cluster build time and memory", fontsize=10)
        lines = ax.get_legend_handles_labels()
        more = ax_mem.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
        ax_hops.set_ylim(bottom=0)
        ax_hops.yaxis.set_major_formatter(plain)
        ax_hops.set_xlabel("nodes (two pods each)")
        ax_hops.set_ylabel("frame-hops per second")
        ax_hops.set_title("Hop rate against cluster size", fontsize=10)
        ax_hops.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
