"""Compare real-game CMA-ES runs (05's history.json) by what they cost to reach a score: for each
run, the first evaluation of the mean solution at or above each threshold, with the generations,
real episodes, real env steps and wall time spent up to it, and a figure of the curves.

    python tools/compare_curves.py "zeros=results/carracing/zh/history.json" \\
        "dream C=results/carracing-dream-round2/warm/history.json" --thresholds 700 800 900 \\
        --png docs/figures/carracing-warm-start.png

Episodes count every rollout of the generations and evaluations up to and including the one that
reached the threshold; steps are summed the same way and shown only where the history records
them for every generation and evaluation (older runs did not); wall time is the recorded seconds.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels.storage import fileio  # noqa: E402

from worldmodels.stages import report as figures  # noqa: E402  (its figure helpers; no TensorFlow)


def costs(history):
    """One row per evaluation: {generation, mean, std, episodes, steps (None if not recorded),
    seconds}, each cost summed over every generation and evaluation up to it; and the number of
    generations run."""
    trials = history["settings"]["population"] * history["settings"]["trials"]
    evals = {e["generation"]: e for e in history.get("evaluations", [])}
    rows, episodes, steps, seconds = [], 0, 0, 0.0
    for g in history["generations"]:
        episodes += trials
        steps = None if steps is None or g.get("steps") is None else steps + g["steps"]
        seconds += g["seconds"]
        e = evals.get(g["generation"])
        if e:
            episodes += e["episodes"]
            steps = None if steps is None or e.get("steps") is None else steps + e["steps"]
            seconds += e["seconds"]
            rows.append({"generation": g["generation"], "mean": e["mean"], "std": e["std"],
                         "episodes": episodes, "steps": steps, "seconds": seconds})
    return rows, len(history["generations"])


def first_reaching(rows, threshold):
    """The first row whose evaluated mean is >= threshold, or None."""
    return next((r for r in rows if r["mean"] >= threshold), None)


def table(runs, thresholds):
    """Markdown: one line per (label, history) run and threshold."""
    out = ["| start | score | generation | real episodes | real steps | wall time |", "|---|---|---|---|---|---|"]
    for label, history in runs:
        rows, last = costs(history)
        for t in thresholds:
            r = first_reaching(rows, t)
            if r is None:
                out.append(f"| {label} | ≥ {t:g} | not in {last} generations | | | |")
            else:
                steps = f"{r['steps']:,}" if r["steps"] is not None else "not recorded"
                out.append(f"| {label} | ≥ {t:g} (scored {r['mean']:.0f} ± {r['std']:.0f}) | {r['generation']} | "
                           f"{r['episodes']:,} | {steps} | {r['seconds'] / 3600:.1f} h |")
    return "\n".join(out)


def plot(runs, path, title="CMA-ES in the real game"):
    """Each (label, history) run's curve (figures.draw_curve) on one figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (label, history) in enumerate(runs):
        figures.draw_curve(ax, history, f"C{i}", label)
    figures.save_figure(fig, ax, path, "generation", "reward (mean over episodes)",
                        title, 7)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="LABEL=HISTORY", help="a label and a 05 history.json")
    p.add_argument("--thresholds", nargs="+", type=float, default=[800, 900])
    p.add_argument("--png", help="also draw the curves here")
    p.add_argument("--title", default="CMA-ES in the real game", help="the figure's title")
    args = p.parse_args()
    runs = []
    for spec in args.runs:
        label, sep, path = spec.partition("=")
        if not sep or not path:
            raise SystemExit(f"{spec!r}: expected LABEL=path/to/history.json")
        h = fileio.read_json(path, required=True, hint="05_train_controller.py")
        if h.get("meta", {}).get("mode") != "real":
            raise SystemExit(f"{path}: not a real-game run (meta.mode = {h.get('meta', {}).get('mode')!r})")
        runs.append((label, h))
    print(table(runs, args.thresholds))
    if args.png:
        plot(runs, args.png, args.title)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
