"""Iterative training (paper section 5) as one command, for either game: R rounds, each one

  1. collects `--episodes` more rollouts played by the last round's agent (C on its V and M, with
     data.agent_explore random actions for exploration) into the base run's rollouts folder,
  2. trains V on (`--train-vae`) or keeps it, encodes all rollouts so far (a kept V reuses the last
     round's series and encodes only the new rollouts), and trains the last round's M on all of them
     for `--rnn-epochs` more epochs,
  3. trains a new C (in the dream or the real game, as the config says) and scores it over
     controller.real_eval_episodes real episodes. C starts from zeros as in the paper, or with
     `--c-from-last` at the last round's C (controller.init_from): a real-game round then needs
     fewer generations (`controller.generations=N`) than one from scratch.

    python tools/iterate.py --config doom cpu --rounds 3 --episodes 1000 --rnn-epochs 4
    python tools/iterate.py --config carracing cpu --rounds 2 --episodes 500 --np 3 --c-from-last

Round 0 is the run the config names (e.g. results/doom): its world model and its controller
(controller.dir) must exist, with the random-policy rollouts it was trained on. Round r is the run
`{name}-round{r}` (results/doom-round1, ...); it is made by the stage scripts with overrides, so each
round has its own resolved config.yaml. Run the same command again after a kill to resume: a round
that was scored (its eval_real.json) is skipped whole, and in the others the stages skip what they
finished. Each round's score is added to
{results_root}/{name}-rounds.json, printed as a table (round, episodes so far, real score,
the dream's score of the same C where the game has one) and drawn in {name}-rounds.png.

Ours, not the paper's: the number of episodes per round, M's epochs per round (warm-started from
the last round's M, not retrained from scratch) and, with --c-from-last, C's warm start.
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from worldmodels import config  # noqa: E402
from worldmodels.run import Run  # noqa: E402
from worldmodels.storage import fileio  # noqa: E402

STAGE = "iterate"


def base_overrides(base, r, args):
    """The dotted overrides that make round r >= 1 from the base config (round 0)."""
    prev = Run(base, base.name if r == 1 else f"{base.name}-round{r - 1}")
    prev_c = os.path.join(prev.controller(), "best.npz")
    random_episodes = base.data.episodes
    c_init = [f"controller.init_from={prev_c}"] if args.c_from_last else []
    return list(args.overrides) + c_init + [
        f"name={base.name}-round{r}",
        f"data.rollouts_dir={Run(base).rollouts}",
        f"data.episodes={random_episodes + r * args.episodes}",
        f"data.agent={prev_c}",
        f"data.agent_from={random_episodes + (r - 1) * args.episodes}",
        f"vae.epochs={args.vae_epochs if args.train_vae else 0}",
        f"vae.init_from={prev.world_model}",
        f"rnn.epochs={args.rnn_epochs}",
        f"rnn.init_from={prev.world_model}",
    ]


def reuse_series(prev, cfg):
    """Link the last round's encoded series into this round's series folder, so that stage 03 encodes
    only the new rollouts. Safe with any V: stage 03 checks every file's VAE hash and redoes those
    made by another V (and writes atomically, so it replaces a link, never the file it shares)."""
    src, dst = Run(prev).series, Run(cfg).series
    if not os.path.isdir(src) or os.path.abspath(src) == os.path.abspath(dst):
        return 0
    os.makedirs(dst, exist_ok=True)
    have, n = set(os.listdir(dst)), 0
    for name in sorted(os.listdir(src)):
        if name.startswith("ep_") and name.endswith(".npz") and ".tmp" not in name and name not in have:
            tmp = fileio.tmp_path(os.path.join(dst, name))
            try:
                os.link(os.path.join(src, name), tmp)
            except OSError:  # another file system: copy
                shutil.copyfile(os.path.join(src, name), tmp)
            os.replace(tmp, os.path.join(dst, name))
            n += 1
    return n


def _die_with_parent():
    """In the child, before exec: the kernel sends it SIGTERM when this process ends, however it
    ends (a kill -9 too), so that no stage runs on without the command that started it (Linux)."""
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def run(cmd, log):
    print(f"[{STAGE}] $ {' '.join(cmd)}", flush=True)
    linux = sys.platform.startswith("linux")
    proc = subprocess.run(cmd, cwd=ROOT, preexec_fn=_die_with_parent if linux else None)
    if proc.returncode != 0:
        raise SystemExit(f"[{STAGE}] error: {' '.join(cmd[1:3])} failed (exit {proc.returncode}); "
                         f"fix it and run the same command again to resume (log so far: {log})")


def round_score(cfg):
    folder = Run(cfg).controller()
    real = fileio.read_json(os.path.join(folder, "eval_real.json"), required=False)
    dream = fileio.read_json(os.path.join(folder, "eval_dream.json"), required=False)
    pick = ("mean", "std", "episodes")
    return {"run": cfg.name, "episodes_so_far": cfg.data.episodes, "agent": cfg.data.agent or None,
            "real": real and {k: real[k] for k in pick}, "dream": dream and {k: dream[k] for k in pick}}


def table(rows):
    def fmt(d):
        return "—" if not d else f"{d['mean']:.0f} ± {d['std']:.0f} (n={d['episodes']})"
    lines = ["| round | run | rollouts so far | real score | dream score |", "|---|---|---|---|---|"]
    lines += [f"| {i} | {r['run']} | {r['episodes_so_far']} | {fmt(r['real'])} | {fmt(r['dream'])} |"
              for i, r in enumerate(rows)]
    return "\n".join(lines)


def plot(rows, path, title):
    """The score per round: real game (and the dream where the game has one), mean ± std."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label, style, dx in (("real", "real game", "C1-o", 0.03), ("dream", "in the dream (its tau)", "C0--s", -0.03)):
        pts = [(i + dx, r[key]["mean"], r[key]["std"]) for i, r in enumerate(rows) if r[key]]
        if pts:
            ax.errorbar(*zip(*pts), fmt=style, capsize=3, ms=5, label=label)
    ax.set_xticks(range(len(rows)), [f"{i}\n{r['episodes_so_far']:,}" for i, r in enumerate(rows)])
    from worldmodels.stages import report
    report.save_figure(fig, ax, path, "round (rollouts so far)", "score (mean ± std)", title, 8)


def main():
    p = config.parser(__doc__)
    p.add_argument("--rounds", type=int, required=True, help="rounds after the base run (>= 1)")
    p.add_argument("--episodes", type=int, default=1000, help="agent rollouts added per round")
    p.add_argument("--rnn-epochs", type=int, default=4, help="M's epochs per round, on all rollouts so far")
    p.add_argument("--train-vae", action="store_true", help="train V on too (default: keep the base run's V)")
    p.add_argument("--vae-epochs", type=int, default=1, help="with --train-vae: V's epochs per round")
    p.add_argument("--c-from-last", action="store_true",
                   help="start each round's CMA-ES at the last round's C (default: zeros, as the paper)")
    p.add_argument("--np", type=int, default=3, help="MPI processes for stage 05 (1 = no MPI)")
    args = p.parse_args()
    if args.rounds < 1 or args.episodes < 1 or args.rnn_epochs < 0:
        p.error("--rounds and --episodes must be >= 1, --rnn-epochs >= 0")
    args.overrides = [n for n in args.config if "=" in n] + list(args.overrides)
    names = [n for n in args.config if "=" not in n]
    try:
        base = config.load(names, args.overrides)
    except config.ConfigError as e:
        raise SystemExit(f"config error: {e}")
    if base.data.agent:
        raise SystemExit(f"[{STAGE}] error: the base run must be trained on random rollouts (data.agent is "
                         f"{base.data.agent!r}); give the config of round 0")
    first = os.path.join(Run(base).controller(), "best.npz")
    for path in (Run(base).world_model, first):
        if not os.path.exists(path):
            raise SystemExit(f"[{STAGE}] error: {path} not found: train the base run first "
                             f"(stages 01-05 with --config {' '.join(names)})")
    py = sys.executable
    mpi = [os.path.join(os.path.dirname(py), "mpiexec"), "-n", str(args.np)] if args.np > 1 else []
    summary = os.path.join(base.results_root, f"{base.name}-rounds.json")
    run([*mpi, py, "05_train_controller.py", "--config", *names, *args.overrides, "--eval"], summary)  # round 0
    rows = [round_score(base)]
    for r in range(1, args.rounds + 1):
        over = base_overrides(base, r, args)
        cfg = config.load(names, over)
        c = ["--config", *names, *over]
        scored = os.path.join(Run(cfg).controller(), "eval_real.json")
        if os.path.exists(scored):  # a finished round: the shared rollouts may have grown since
            print(f"[{STAGE}] round {r}/{args.rounds}: {cfg.name} done already ({scored})", flush=True)
        else:
            print(f"[{STAGE}] round {r}/{args.rounds}: {cfg.name}, {args.episodes} agent rollouts on "
                  f"{cfg.data.agent_from} so far", flush=True)
            run([py, "01_generate_data.py", *c], summary)
            run([py, "02_train_vae.py", *c], summary)
            if not args.train_vae:  # the same V encodes the same rollouts to the same series
                prev = config.load(names, base_overrides(base, r - 1, args)) if r > 1 else base
                n = reuse_series(prev, cfg)
                print(f"[{STAGE}] linked {n} series of {prev.name} into {cfg.name}'s (V kept)", flush=True)
            run([py, "03_generate_rnn_data.py", *c], summary)
            run([py, "04_train_rnn.py", *c], summary)
            run([*mpi, py, "05_train_controller.py", *c], summary)
            run([*mpi, py, "05_train_controller.py", *c, "--eval"], summary)
        rows.append(round_score(cfg))
        fileio.write_json(summary, {"base": base.name, "config": names, "overrides": args.overrides,
                                    "episodes_per_round": args.episodes, "rnn_epochs": args.rnn_epochs,
                                    "train_vae": args.train_vae, "c_from_last": args.c_from_last,
                                    "rounds": rows})
    figure = summary[:-len(".json")] + ".png"
    plot(rows, figure, f"Iterative training: {base.name}, {args.episodes:,} agent rollouts a round")
    print(table(rows))
    print(f"[{STAGE}] wrote {summary} and {figure}")


if __name__ == "__main__":
    main()
