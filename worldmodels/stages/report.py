"""Stage 06: plots, GIFs and a results table beside the paper's.

    python 06_plot_results.py --config doom small

Reads what stages 02-05 wrote in {run_dir} and makes:
  figures/controller_scores.png  CMA-ES fitness per generation (mean, best, worst) and the
                                 periodic evaluations of the mean solution
  figures/real_episode.gif       the agent in the real game: frame | what V reconstructs
  figures/dream_episode.gif      the agent inside M's dream (decoded z), at the config's tau
  results.md, metrics.json       our scores beside the paper's tables
"""
import os

import numpy as np
from PIL import Image

from worldmodels import config
from worldmodels.run import Run
from worldmodels.storage import fileio
from worldmodels import npmodels

STAGE = "06_plot_results"

# Paper tables (Ha & Schmidhuber 2018, "World Models", sections 3-4). mean, std over 100 trials.
PAPER = {
    "carracing": [("DQN (Prieur, 2017)", "343 ± 18"), ("A3C continuous (Jang et al., 2017)", "591 ± 45"),
                  ("A3C discrete (Khan & Elibol, 2016)", "652 ± 10"), ("ceobillionaire (Gym leaderboard)", "838 ± 11"),
                  ("V model only", "632 ± 251"), ("V model with hidden layer", "788 ± 141"),
                  ("Full world model (V + M + C)", "906 ± 21")],
    "doom": [("Random policy", "210 ± 108"), ("Gym leader", "820 ± 58"),
             ("World model, tau = 1.15 (trained in the dream)", "1092 ± 556")],
}
PAPER_TEMPERATURE = [(0.10, "2086 ± 140", "193 ± 58"), (0.50, "2060 ± 277", "196 ± 50"),
                     (1.00, "1145 ± 690", "868 ± 511"), (1.15, "918 ± 546", "1092 ± 556"),
                     (1.30, "732 ± 269", "753 ± 139")]
# The authors' own Doom run in the dream at tau = 1.15: the mean solution's score over 1,024 dream
# rollouts at generations 25, 50, ..., 1000 (orig doomrnn/log/doomrnn.cma.16.64.hist_best.json; its
# best, 958.5 at generation 1575, is the controller that scored 973 +- 540 in the real game, orig results.txt).
ORIG_DOOM_MEAN_SOLUTION = (
    701.4, 701.0, 741.8, 791.5, 753.7, 815.3, 778.6, 789.6, 768.8, 776.6, 783.8, 810.1, 819.8, 844.3,
    819.5, 813.3, 800.7, 806.5, 829.8, 840.6, 852.3, 870.2, 880.0, 842.9, 868.1, 838.3, 865.5, 862.7,
    824.0, 879.7, 917.5, 860.5, 919.2, 877.2, 907.5, 879.3, 904.8, 883.8, 878.7, 905.6)

# The authors' own CarRacing run in the real game, CMA-ES 64 x 16 on 64 cores (orig
# carracing/log/carracing.cma.16.64.hist.json and .hist_best.json): the population's mean fitness,
# and the mean solution's score over 1,024 episodes (scored every 25 generations), at a few generations.
ORIG_CARRACING_POPULATION = ((10, 25, 50, 100, 200), (308, 668, 767, 799, 823))
ORIG_CARRACING_MEAN_SOLUTION = ((25, 50, 100, 200, 500, 1000, 1800), (823, 867, 867, 880, 891, 892, 900.5))
# CarRacing's table rows: controller.inputs -> the paper's row name
CARRACING_ROWS = (("z", "V model only"), ("z_hidden", "V model with hidden layer"),
                  ("zh", "Full world model (V + M + C)"))


def fmt(d):
    return "—" if not d else f"{d['mean']:.0f} ± {d['std']:.0f}"


def fmt_n(d):
    return "—" if not d else f"{fmt(d)} (n={d['episodes']})"


def references(experiment, meta):
    """The authors' logged run to draw beside a controller's curve (history.json's meta), where it
    is the same experiment: Doom in the dream at tau = 1.15, CarRacing's full world model."""
    if experiment == "doom" and meta.get("mode") == "dream" and abs(meta.get("temperature", 0) - 1.15) < 1e-6:
        return [([25 * (i + 1) for i in range(len(ORIG_DOOM_MEAN_SOLUTION))], ORIG_DOOM_MEAN_SOLUTION,
                 "authors' run: mean solution (orig log)")]
    if experiment == "carracing" and meta.get("mode") == "real" and meta.get("inputs", "zh") == "zh":
        return [ORIG_CARRACING_POPULATION + ("authors' run (64 x 16): population mean",),
                ORIG_CARRACING_MEAN_SOLUTION + ("authors' run: mean solution",)]
    return []


def plot_scores(history, path, title, references=()):
    """references: (generations, scores, label) series drawn up to our last generation."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    gens = history["generations"]
    g = [h["generation"] for h in gens]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(g, [h["worst"] for h in gens], [h["best"] for h in gens], alpha=0.2, label="worst–best")
    ax.plot(g, [h["mean"] for h in gens], label="population mean")
    ax.plot(g, [h["best"] for h in gens], lw=0.8, label="best")
    evals = history.get("evaluations", [])
    if evals:
        ax.errorbar([e["generation"] for e in evals], [e["mean"] for e in evals], [e["std"] for e in evals],
                    fmt="o", color="k", capsize=3, label="mean solution, evaluated")
    for (ref_g, ref_s, label), style in zip(references, ("s--", "^:")):
        keep = [i for i, x in enumerate(ref_g) if g and x <= g[-1]]
        if keep:
            ax.plot([ref_g[i] for i in keep], [ref_s[i] for i in keep], style, color="gray", ms=3, label=label)
    save_figure(fig, ax, path, "generation", "fitness (mean reward over trials)", title, 8)


def save_gif(frames, path, scale=2, stride=2, fps=15):
    """Every `stride`-th frame, upscaled; kept small enough to commit and view on GitHub."""
    frames = frames[::stride] + ([frames[-1]] if (len(frames) - 1) % stride else [])
    imgs = [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST) for f in frames]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0, optimize=True)


def real_episode(cfg, wm, params, seed, max_frames):
    """Frames of one real episode: the 64x64 frame the agent sees beside V's reconstruction of it."""
    from worldmodels import envs
    env = envs.make_env(cfg)
    agent = npmodels.Agent(wm, params, np.random.default_rng(seed), cfg.controller.inputs)
    obs, _ = env.reset(seed=seed)
    agent.reset()
    frames, total = [], 0.0
    for _ in range(max_frames):
        mu, _ = wm.encode(obs[None])
        recon = (wm.decode(mu)[0] * 255).round().astype(np.uint8)
        frames.append(np.concatenate([obs, recon], axis=1))
        obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        total += reward
        if terminated or truncated:
            break
    env.close()
    return frames, total


def dream_episode(cfg, wm, init, params, seed, max_frames):
    from worldmodels import dream
    env = dream.DreamEnv(wm, (init["mu"], init["logvar"]), temperature=cfg.controller.temperature,
                         max_steps=cfg.controller.max_steps, render_mode="rgb_array", inputs=cfg.controller.inputs)
    obs, _ = env.reset(seed=seed)
    frames, total = [], 0.0
    for _ in range(max_frames):
        frames.append(np.asarray(env.render()))
        action = env.controller.act(params, obs[None])[0]
        obs, reward, terminated, truncated, _ = env.step(action)
        total += reward
        if terminated or truncated:
            break
    env.close()
    return frames, total


def controller_folders(run_dir, mode, key, named=None):
    """Every controller folder in run_dir trained in `mode` -> {key(history): row}; for a key found in
    several folders, the one the command names (`named`, controller.dir: the table's agent, also where
    a longer side run exists), else the one scored in the real game with the most generations."""
    found = {}
    for name in sorted(os.listdir(run_dir)):
        folder = os.path.join(run_dir, name)
        h = fileio.read_json(os.path.join(folder, "history.json"), required=False) if os.path.isdir(folder) else None
        if not h or h.get("meta", {}).get("mode") != mode:
            continue
        row = {"dir": name, "generations": len(h["generations"]), "history": h,
               "virtual": fileio.read_json(os.path.join(folder, "eval_dream.json"), required=False),
               "actual": fileio.read_json(os.path.join(folder, "eval_real.json"), required=False)}
        k = key(h)
        old = found.get(k)
        if old is None or (name == named, row["actual"] is not None, row["generations"]) > (
                old["dir"] == named, old["actual"] is not None, old["generations"]):
            found[k] = row
    return found


def temperature_runs(run_dir, named=None):
    """The controllers trained in the dream, one per temperature -> {tau: row} (Doom; CarRacing with
    a reward head)."""
    return controller_folders(run_dir, "dream", lambda h: round(float(h["meta"]["temperature"]), 4), named)


def input_rows(run_dir, named=None):
    """CarRacing: the controllers trained in the real game, one per form of C -> {inputs: row}."""
    return controller_folders(run_dir, "real", lambda h: h["meta"].get("inputs", "zh"), named)


def save_figure(fig, ax, path, xlabel, ylabel, title, legend_size):
    """Label, grid, legend, and write a stage-06 figure."""
    import matplotlib.pyplot as plt
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fileio.atomic_write(path, lambda f: fig.savefig(f, dpi=110, format="png"))
    plt.close(fig)


def draw_curve(ax, history, color, label):
    """One CMA-ES run on `ax`: its population mean per generation (a line) and its mean solution's
    evaluations (mean ± std)."""
    gens, evals = history["generations"], history.get("evaluations", [])
    ax.plot([h["generation"] for h in gens], [h["mean"] for h in gens], f"{color}-", lw=0.8,
            label=f"{label}: population mean")
    if evals:
        ax.errorbar([e["generation"] for e in evals], [e["mean"] for e in evals], [e["std"] for e in evals],
                    fmt=f"{color}o", capsize=2, ms=4, label=f"{label}: mean solution")


def plot_rows(rows, path):
    """CarRacing: each row's CMA-ES curve (population mean; the mean solution's evaluations) beside
    the authors' full-world-model run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    last = 1
    for i, (inputs, label) in enumerate(CARRACING_ROWS):
        r = rows.get(inputs)
        if not r:
            continue
        last = max(last, len(r["history"]["generations"]))
        draw_curve(ax, r["history"], f"C{i}", label)
    for (ref_g, ref_s), style, label in ((ORIG_CARRACING_POPULATION, "s--", "authors (64 x 16): population mean"),
                                         (ORIG_CARRACING_MEAN_SOLUTION, "^:", "authors: mean solution")):
        keep = [k for k, x in enumerate(ref_g) if x <= max(last, 50)]
        ax.plot([ref_g[k] for k in keep], [ref_s[k] for k in keep], style, color="gray", ms=4, label=label)
    save_figure(fig, ax, path, "generation", "reward (mean over trials)",
                "CarRacing: CMA-ES in the real game, per controller form", 7)


def plot_temperatures(runs, path, experiment="doom"):
    """Virtual (dream) and actual (real game) score against tau: ours, beside the paper's for Doom
    (the paper trains CarRacing's C in the real game only)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def num(text):
        mean, std = text.split(" ± ")
        return float(mean), float(std)
    fig, ax = plt.subplots(figsize=(7, 4))
    taus = [t for t, _, _ in PAPER_TEMPERATURE]
    for col, label, style in ((1, "paper virtual", "C0--"), (2, "paper actual", "C1--")) if experiment == "doom" else ():
        m = np.array([num(r[col]) for r in PAPER_TEMPERATURE])
        ax.errorbar(np.array(taus) - 0.01, m[:, 0], m[:, 1], fmt=style, marker="s", ms=4, capsize=2, alpha=0.5,
                    label=label)
    for key, label, style in (("virtual", "ours virtual", "C0-"), ("actual", "ours actual", "C1-")):
        pts = sorted((t, r[key]["mean"], r[key]["std"]) for t, r in runs.items() if r[key])
        if pts:
            t, m, sd = map(np.array, zip(*pts))
            ax.errorbar(t + 0.01, m, sd, fmt=style, marker="o", capsize=3, label=label)
    if experiment == "doom":
        ax.axhline(210, color="gray", lw=0.8, ls=":", label="paper random policy (210)")
    ylabel, title = (("steps survived (mean ± std)", "DoomTakeCover: controllers trained in the dream")
                     if experiment == "doom" else
                     ("reward (mean ± std)", "CarRacing: controllers trained in the dream (M with a reward head)"))
    save_figure(fig, ax, path, "temperature tau of M during training", ylabel, title, 7)


def results_table(cfg, history, real, random, dream_score, gens, runs=None, rows=None):
    exp = cfg.experiment

    def epochs(stage):  # a warm start's epochs come on top of the model it started from
        return f"{stage.epochs} epoch(s)" + (f" on top of `{stage.init_from}`" if stage.init_from else "")

    data = f"{cfg.data.episodes} random rollouts"
    if cfg.data.agent and cfg.data.agent_from < cfg.data.episodes:
        data = (f"{cfg.data.episodes} rollouts ({cfg.data.agent_from} random, the rest played by "
                f"`{cfg.data.agent}`)")
    lines = [f"# Results: {cfg.name}", "",
             f"Scale: config `{' + '.join(cfg.config_names)}` — {data}, "
             f"VAE {epochs(cfg.vae)}, MDN-RNN {epochs(cfg.rnn)}, CMA-ES population "
             f"{cfg.controller.population} x {cfg.controller.trials} trials, {gens} generation(s) "
             f"({'in the dream, tau = %.2f' % cfg.controller.temperature if cfg.controller.mode == 'dream' else 'in the real game'}).",
             "", "| Method | Score (mean ± std) | Episodes |", "|---|---|---|"]
    for name, score in PAPER[exp]:
        lines.append(f"| Paper: {name} | {score} | 100 |")
    if rows:
        paper = dict(PAPER[exp])
        lines += ["", "The paper's CarRacing table and ours (one shared V and M; C evolved in the real game; "
                  "scores over 100 episodes of gymnasium's CarRacing-v3; n: episodes):", "",
                  "| Controller | `controller.inputs` | Paper | Ours | Ours: generations (folder) |",
                  "|---|---|---|---|---|", f"| random policy | — | — | {fmt_n(random)} | — |"]
        for inputs, name in CARRACING_ROWS:
            r = rows.get(inputs)
            gen = f"{r['generations']} ({r['dir']})" if r else "not run"
            lines.append(f"| {name} | `{inputs}` | {paper[name]} | {fmt_n(r and r['actual'])} | {gen} |")
        return "\n".join(lines) + "\n"
    if random:
        lines.append(f"| **Ours: random policy** | {fmt(random)} | {len(random['scores'])} |")
    lines.append(f"| **Ours: V + M + C** (real game) | {fmt(real)} | {len(real['scores']) if real else 0} |")
    if exp == "doom" or runs:
        runs = runs or {}
        whose = "the paper's and ours" if exp == "doom" else "ours (the paper trains CarRacing's C in the real game only)"
        lines += ["", f"Temperature table, {whose} (one shared V and M; virtual: in the dream at "
                  "that tau; actual: the real game; n: episodes):",
                  "", "| tau | Paper virtual | Paper actual | Ours virtual | Ours actual | Ours: generations "
                  "(folder) |", "|---|---|---|---|---|---|"]
        paper = {tau: (virt, act) for tau, virt, act in PAPER_TEMPERATURE} if exp == "doom" else {}
        for tau in sorted(set(paper) | set(runs)):
            virt, act = paper.get(tau, ("—", "—"))
            r = runs.get(tau)
            gen = f"{r['generations']} ({r['dir']})" if r else "not run"
            lines.append(f"| {tau:.2f} | {virt} | {act} | {fmt_n(r and r['virtual'])} | {fmt_n(r and r['actual'])} "
                         f"| {gen} |")
        lines.append(f"| random policy | — | {'210 ± 108' if exp == 'doom' else '—'} | — | {fmt_n(random)} | — |")
    return "\n".join(lines) + "\n"


def main():
    args = config.parser(__doc__).parse_args()
    cfg = config.from_args(args)
    run = Run(cfg)
    run_dir, ctrl_dir = run.results, run.controller()
    fig_dir = os.path.join(run_dir, "figures")
    history = fileio.read_json(os.path.join(ctrl_dir, "history.json"), required=True, hint="05_train_controller.py")
    real = fileio.read_json(os.path.join(ctrl_dir, "eval_real.json"), required=False)
    random = fileio.read_json(os.path.join(ctrl_dir, "eval_random.json"), required=False)
    runs = temperature_runs(run_dir, cfg.controller.dir) if cfg.experiment == "doom" or cfg.controller.mode == "dream" else {}
    rows = input_rows(run_dir, cfg.controller.dir) if cfg.experiment == "carracing" else {}
    for r in list(runs.values()) + list(rows.values()):  # the random policy does not depend on the controller folder
        random = random or fileio.read_json(os.path.join(run_dir, r["dir"], "eval_random.json"), required=False)
    dream_score = fileio.read_json(os.path.join(ctrl_dir, "eval_dream.json"), required=False)
    fileio.check_writable(run_dir, fig_dir)
    fileio.RunLock(run_dir, STAGE).acquire()  # one writer at a time
    wm = npmodels.WorldModel.load(run.world_model)
    params = npmodels.Controller(cfg.experiment, wm.z_size, wm.hidden, cfg.controller.inputs).load(
        os.path.join(ctrl_dir, "best.npz"))
    init = fileio.load_npz(run.initial_z, ["mu", "logvar"])

    meta = history.get("meta", {})
    plot_scores(history, os.path.join(fig_dir, "controller_scores.png"),
                f"CMA-ES on {cfg.name} ({cfg.controller.mode})", references(cfg.experiment, meta))
    max_frames = min(cfg.controller.max_steps, 400)
    frames, real_total = real_episode(cfg, wm, params, seed=10_000_000, max_frames=max_frames)
    save_gif(frames, os.path.join(fig_dir, "real_episode.gif"))
    frames, dream_total = dream_episode(cfg, wm, init, params, seed=10_000_000, max_frames=max_frames)
    save_gif(frames, os.path.join(fig_dir, "dream_episode.gif"))

    gens = len(history["generations"])
    if runs:
        plot_temperatures(runs, os.path.join(fig_dir, "temperature.png"), cfg.experiment)
    if rows:
        plot_rows(rows, os.path.join(fig_dir, "controller_rows.png"))
    table = results_table(cfg, history, real, random, dream_score, gens, runs, rows)
    fileio.atomic_write(os.path.join(run_dir, "results.md"), lambda f: f.write(table), mode="w")
    metrics = {"name": cfg.name, "generations": gens, "real": real and {k: real[k] for k in ("mean", "std")},
               "random": random and {k: random[k] for k in ("mean", "std")},
               "dream": dream_score and {k: dream_score[k] for k in ("mean", "std")},
               "gif_episodes": {"real_return": real_total, "dream_return": dream_total},
               "temperatures": {str(t): {"dir": r["dir"], "generations": r["generations"],
                                         "virtual": r["virtual"] and {k: r["virtual"][k] for k in ("mean", "std")},
                                         "actual": r["actual"] and {k: r["actual"][k] for k in ("mean", "std")}}
                                for t, r in sorted(runs.items())},
               "rows": {k: {"dir": r["dir"], "generations": r["generations"],
                            "actual": r["actual"] and {k2: r["actual"][k2] for k2 in ("mean", "std")}}
                        for k, r in sorted(rows.items())}}
    fileio.write_json(os.path.join(run_dir, "metrics.json"), metrics)
    print(table)
    print(f"[{STAGE}] wrote {run_dir}/results.md, metrics.json and figures/ "
          "(controller_scores.png, real_episode.gif, dream_episode.gif)")


def cli():
    """The command line: `python 06_plot_results.py --help`."""
    try:
        main()
    except fileio.DataError as e:
        raise SystemExit(f"[{STAGE}] error: {e}")
