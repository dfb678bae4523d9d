#!/usr/bin/python3
"""Plots of the benchmark logs, as PNG files in benchmarks/plots/.

    /usr/bin/python3 benchmarks/plots.py [--logs DIR] [--out DIR]

Needs matplotlib (Debian: apt-get install -y python3-matplotlib, then run it with /usr/bin/python3 when
the python3 on PATH is another build). Reads benchmarks/logs/ (or --logs) and writes (or --out):

  phases<flags>.png          wall seconds of each phase (read, pedigree, number, assemble, solve,
                             write, total) against animals, one line per phase and rank count, from
                             run.sh's solve_<animals><flags>_<ranks>.txt
  residual_<animals><flags>_<ranks>.png
                             true relative residual ||r - C x_i|| / ||r|| against iteration, one line
                             per preconditioner, from compare_pc.sh's history_*.txt
  communication_<animals><flags>.png
                             ghost values per owned equation against ranks (ghosts / equations, all
                             ranks; ghosts_max / (equations / ranks), the worst rank), for each operator,
                             from communication.sh's CSV
  scaling<flags>.png         speed-up (strong) and efficiency (weak) against ranks, from scaling.sh's
                             CSV (the last run of each point)
  genomic.png                seconds of each phase of a single-step run (genotypes read, G, A22,
                             inverses or APY's factors, solve), one bar per run, from genomic.sh's
                             genomic_*.txt and genomic_factored.sh's genomic_factored_*.txt
Whatever has no logs is left out; the names of the files written are printed.
"""
import argparse
import csv
import glob
import math
import os
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plots.py: matplotlib is missing (Debian: apt-get install -y python3-matplotlib; run with /usr/bin/python3)")

PHASES = ["read", "pedigree", "number", "assemble", "solve", "write", "total"]


def flags_label(tag):
    return tag if tag else "single trait"


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(path)


def summary_seconds(path):
    """The phases' seconds from henderson's summary line '  seconds read 0.1 ... write 0.1, total 0.5'."""
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("  seconds"):
                words = line.replace(",", " ").split()[1:]
                return {words[i]: float(words[i + 1]) for i in range(0, len(words) - 1, 2)}
    return None


def plot_phases(logs, out):
    runs = {}  # tag -> ranks -> [(animals, seconds)]
    for path in glob.glob(os.path.join(logs, "solve_*_*.txt")):
        m = re.fullmatch(r"solve_(\d+)([A-Za-z0-9.]*)_(\d+)\.txt", os.path.basename(path))
        if not m:
            continue
        seconds = summary_seconds(path)
        if seconds:
            runs.setdefault(m.group(2), {}).setdefault(int(m.group(3)), []).append((int(m.group(1)), seconds))
    styles = ["-", "--", ":", "-."]
    written = []
    for tag, by_ranks in sorted(runs.items()):
        fig, ax = plt.subplots(figsize=(7.5, 5))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for r, (ranks, points) in enumerate(sorted(by_ranks.items())):
            points.sort()
            for c, phase in enumerate(PHASES):
                xs = [n for n, s in points if phase in s]
                ys = [max(s[phase], 1e-3) for n, s in points if phase in s]
                if xs:
                    ax.plot(xs, ys, styles[r % len(styles)], marker="o", color=colours[c % len(colours)],
                            label=f"{phase}, {ranks} rank{'s' if ranks > 1 else ''}", linewidth=2 if phase == "total" else 1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("animals")
        ax.set_ylabel("wall seconds (max over ranks)")
        ax.set_title(f"henderson phases, {flags_label(tag)} (run.sh)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        path = os.path.join(out, f"phases{tag}.png")
        save(fig, path)
        written.append(path)
    return written


def plot_residuals(logs, out):
    groups = {}  # (animals, tag, ranks) -> [(name, its, residuals)]
    for path in glob.glob(os.path.join(logs, "history_*.txt")):
        m = re.fullmatch(r"history_(\d+)([A-Za-z0-9.]*)_(\d+)_(.+)\.txt", os.path.basename(path))
        if not m:
            continue
        its, res = [], []
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) == 2:
                    try:
                        r = float(w[1])
                    except ValueError:
                        continue
                    if math.isfinite(r) and r > 0:
                        its.append(int(w[0]))
                        res.append(r)
        groups.setdefault((int(m.group(1)), m.group(2), int(m.group(3))), []).append((m.group(4), its, res))
    written = []
    for (animals, tag, ranks), lines in sorted(groups.items()):
        fig, ax = plt.subplots(figsize=(8, 5.5))
        colours = plt.get_cmap("tab20").colors
        for k, (name, its, res) in enumerate(sorted(lines)):
            style = "--" if name.startswith("deflation") else (":" if name.endswith("assembled") else "-")
            if its:
                ax.semilogy(its, res, style, color=colours[k % len(colours)], label=f"{name} ({its[-1]})", linewidth=1.3)
            else:
                ax.plot([], [], style, color=colours[k % len(colours)], label=f"{name} (no history)")
        ax.axhline(1e-8, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("iteration")
        ax.set_ylabel("true relative residual ||r - C x|| / ||r||")
        ax.set_title(f"CG, {animals} animals, {flags_label(tag)}, {ranks} rank{'s' if ranks > 1 else ''} (compare_pc.sh)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        path = os.path.join(out, f"residual_{animals}{tag}_{ranks}.png")
        save(fig, path)
        written.append(path)
    return written


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def plot_communication(logs, out):
    written = []
    for path in sorted(glob.glob(os.path.join(logs, "communication_*.csv"))):
        with open(path) as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(7.5, 5))
        for op in sorted({r["operator"] for r in rows}):
            pts = sorted((int(r["ranks"]), number(r["ghosts_per_equation"]), number(r["ghosts_max_per_owned"]))
                         for r in rows if r["operator"] == op)
            xs = [p[0] for p in pts if p[1] is not None]
            if xs:
                line, = ax.plot(xs, [p[1] for p in pts if p[1] is not None], "-o", label=f"{op}: ghosts / equations (all ranks)")
                ax.plot([p[0] for p in pts if p[2] is not None], [p[2] for p in pts if p[2] is not None], "--s",
                        color=line.get_color(), label=f"{op}: ghosts_max / owned (worst rank)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("ranks")
        ax.set_ylabel("ghost values per owned equation")
        name = os.path.basename(path)[len("communication_"):-len(".csv")]
        ax.set_title(f"Communication of one product with C, {name} (communication.sh)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        target = os.path.join(out, f"communication_{name}.png")
        save(fig, target)
        written.append(target)
    return written


def plot_scaling(logs, out):
    written = []
    for path in sorted(glob.glob(os.path.join(logs, "scaling*.csv"))):
        with open(path) as f:
            rows = list(csv.DictReader(f))
        # strong: a series per population size; weak: a series per animals a rank; the last run of a point wins
        series = {"strong": {}, "weak": {}}
        for r in rows:
            if number(r.get("total")) is None or r.get("mode") not in series:
                continue
            p, n = int(r["ranks"]), int(r["animals"])
            key = n if r["mode"] == "strong" else n // p
            series[r["mode"]].setdefault(key, {})[p] = r
        if not any(series.values()):
            continue
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        for ax, mode in zip(axes, ["strong", "weak"]):
            if not series[mode]:
                ax.set_visible(False)
                continue
            maxp = 1
            for key, by_ranks in sorted(series[mode].items()):
                pts = sorted(by_ranks.items())
                p0, r0 = pts[0]
                maxp = max(maxp, pts[-1][0])
                for what, style in [("total", "-o"), ("solve", "--s")]:
                    def t(r):
                        v = float(r[what])
                        return v / max(float(r["iterations"] or 1), 1) if what == "solve" else v
                    xs = [p for p, r in pts]
                    if mode == "strong":
                        ys = [t(r0) / t(r) for p, r in pts]
                        label = f"{key} animals, {'whole run' if what == 'total' else 'solve per iteration'}"
                    else:
                        ys = [100 * t(r0) / t(r) for p, r in pts]
                        label = f"{key} animals a rank, {'whole run' if what == 'total' else 'solve per iteration'}"
                    ax.plot(xs, ys, style, label=label)
            if mode == "strong":
                p0 = min(min(b) for b in series[mode].values())
                ax.plot([p0, maxp], [1, maxp / p0], ":", color="grey", label="ideal")
                ax.set_ylabel("speed-up over the fewest ranks")
                ax.set_yscale("log", base=2)
                ax.set_title("strong scaling")
            else:
                ax.axhline(100, color="grey", linestyle=":", label="ideal")
                ax.set_ylabel("efficiency % (against the fewest ranks)")
                ax.set_title("weak scaling")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("ranks")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        tag = os.path.basename(path)[len("scaling"):-len(".csv")]
        target = os.path.join(out, f"scaling{tag}.png")
        save(fig, target)
        written.append(target)
    return written


def genomic_seconds(path):
    """(genotypes, G, A22, inverses, solve) seconds of a single-step log, or None without genotypes."""
    seconds, setup = summary_seconds(path), None
    with open(path, errors="replace") as f:
        for line in f:
            m = re.search(r"seconds: G ([0-9.]+), A22 ([0-9.]+), inverses ([0-9.]+)", line)
            if m:
                setup = [float(x) for x in m.groups()]
    if not seconds or not setup:
        return None
    return [seconds.get("genotypes", 0.0)] + setup + [seconds.get("solve", 0.0)]


def plot_genomic(logs, out):
    bars = []  # (label, seconds)
    for path in sorted(glob.glob(os.path.join(logs, "genomic_*.txt"))):
        m = re.fullmatch(r"genomic_(factored_)?(\d+)_(\d+)_(\d+)_(\d+)_([a-z]+)\.txt", os.path.basename(path))
        if not m:
            continue
        seconds = genomic_seconds(path)
        if seconds:
            route = "factored" if m.group(1) else m.group(6)
            bars.append((f"{route}: {int(m.group(2)):.2g} animals, {int(m.group(3)):.2g} genotyped, {m.group(5)} ranks", seconds))
    if not bars:
        return []
    names = ["genotypes", "G", "A22", "inverses / APY factors", "solve"]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(bars) + 2))
    left = [0.0] * len(bars)
    for k, name in enumerate(names):
        widths = [b[1][k] for b in bars]
        ax.barh(range(len(bars)), widths, left=left, label=name)
        left = [l + w for l, w in zip(left, widths)]
    ax.set_yticks(range(len(bars)))
    ax.set_yticklabels([b[0] for b in bars], fontsize=8)
    ax.set_xlabel("wall seconds")
    ax.set_title("Single step: where the time goes (genomic.sh, genomic_factored.sh)")
    ax.legend(fontsize=8)
    target = os.path.join(out, "genomic.png")
    save(fig, target)
    return [target]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", default=os.path.join(here, "logs"), help="the benchmark logs (benchmarks/logs)")
    parser.add_argument("--out", default=os.path.join(here, "plots"), help="where the PNGs go (benchmarks/plots)")
    args = parser.parse_args()
    if not os.path.isdir(args.logs):
        sys.exit(f"plots.py: no directory {args.logs}")
    os.makedirs(args.out, exist_ok=True)
    written = plot_phases(args.logs, args.out) + plot_residuals(args.logs, args.out)
    written += plot_communication(args.logs, args.out) + plot_scaling(args.logs, args.out) + plot_genomic(args.logs, args.out)
    if not written:
        print(f"plots.py: nothing to plot in {args.logs}", file=sys.stderr)


if __name__ == "__main__":
    main()
