"""Small glue shared by the check notebooks: paths, one real episode, figures from the project's
own plotting functions shown inline. No model code here: V, M and C come from npmodels / dream."""
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GAMES = ("doom", "carracing")
GAME = "doom"
RUN = os.path.join("results", GAME)  # the shipped agent of GAME, relative to ROOT


def setup(game="doom"):
    """Pick the game whose shipped agent (results/<game>/, --config <game> cpu) the notebook reads;
    run from the repository root with its modules importable; one BLAS thread (the models' small
    matmuls are much faster so on a shared machine)."""
    global GAME, RUN
    if game not in GAMES:
        raise ValueError(f"GAME must be one of {GAMES}, got {game!r}")
    GAME, RUN = game, os.path.join("results", game)
    os.chdir(ROOT)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from worldmodels import npmodels
    npmodels.set_blas_threads(1)


def load_config(overrides=()):
    """The shipped run's config (--config GAME cpu)."""
    from worldmodels import config
    return config.load([GAME, "cpu"], list(overrides))


def plot_module():
    """Stage 06's module (worldmodels.stages.report): its figure and GIF helpers."""
    from worldmodels.stages import report
    return report


def random_episode(cfg, seed, max_steps=None):
    """One real episode played by the data-collection policy (envs.HeldRandomPolicy, seeded).

    Returns frames (T, 64, 64, 3) uint8, the frame seen before each action; actions (T, A)
    float32; terminated (True if the game ended the episode after the last action: Doom's player
    died, CarRacing's car left the playfield; False if capped).
    """
    from worldmodels import envs
    env = envs.make_env(cfg)
    policy = envs.HeldRandomPolicy(cfg, np.random.default_rng(seed))
    obs, _ = env.reset(seed=seed)
    frames, actions, terminated = [], [], False
    try:
        for _ in range(max_steps or cfg.env.max_steps):
            action = policy.act()
            frames.append(obs)
            actions.append(action)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    finally:
        env.close()
    return np.stack(frames), np.stack(actions).astype(np.float32), bool(terminated)


def to_uint8(images):
    """Decoder output in [0, 1] -> uint8."""
    return np.clip(np.rint(np.asarray(images) * 255.0), 0, 255).astype(np.uint8)


def show_rows(rows, labels, titles=None, scale=1.3):
    """A grid of frames: one row per entry of `rows` (each a sequence of (64, 64, 3) images;
    None leaves a blank), one label per row, optional titles over the first row."""
    import matplotlib.pyplot as plt
    n = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(scale * n, scale * len(rows) + 0.3), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row) and row[j] is not None:
                ax.imshow(row[j])
            else:
                ax.axis("off")  # (a row label on a blank first cell would be hidden too)
            if j == 0:
                ax.set_ylabel(labels[i], fontsize=8)
            if i == 0 and titles is not None and j < len(titles):
                ax.set_title(titles[j], fontsize=8)
    fig.tight_layout()
    plt.show()


def figure_from(write_png):
    """Show inline the PNG that `write_png(path)` writes: one of the project's own plotting
    functions, e.g. figure_from(lambda path: training.plot_curves(history, keys, path, title)),
    so that the figure is the one the stage writes to results/.

    Those functions switch matplotlib to Agg; the notebook's backend is restored after.
    """
    import matplotlib
    from IPython.display import Image
    backend = matplotlib.get_backend()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "figure.png")
        write_png(path)
        with open(path, "rb") as f:
            data = f.read()
    matplotlib.use(backend)
    return Image(data=data, format="png")


def gif(frames, scale=2, fps=15):
    """Frames (uint8, (N, H, W, 3)) as an inline animated GIF, via stage 06's save_gif."""
    from IPython.display import Image
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "episode.gif")
        plot_module().save_gif(list(frames), path, scale=scale, stride=1, fps=fps)
        with open(path, "rb") as f:
            return Image(data=f.read(), format="gif")
