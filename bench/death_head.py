"""How often does M predict death, against how often the real game kills? Doom's M is run
teacher-forced over real episodes (z from each frame through V, the actions played), and its done
head is read at every step: the dream ends an episode where done_logit > 0 (worldmodels/dream.py).

    python bench/death_head.py --rollouts data/doom-probe/rollouts \\
        --world-model results/doom/world_model.npz results/doom-iter1/world_model.npz \\
        --split 7000200

For each world model and each group of episodes (seeds below --split, and from --split on: e.g.
random-policy episodes and agent episodes from 01 with data.agent), prints the real deaths per
1,000 steps, the steps where M's done logit is > 0 per 1,000 steps (the dream's death rate on those
states), the mean predicted death probability, the share of real deaths M flags (logit > 0 at
the death step, or at one of the 5 before it), and M's negative log-likelihood of each next z (per
dimension, as stage 04's z loss: on episodes M never saw, a check for overfitting). z is V's mean
(mu), so no sampling noise.
"""
import argparse
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import npmodels  # noqa: E402
from worldmodels.storage import episodes  # noqa: E402

NEAR = 5  # a flag this many steps before the death counts as a hit
LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def done_logits(wm, episodes):
    """Teacher-forced done logits, one (T,) array per episode, and the MDN's mean negative
    log-likelihood of each next frame's mu (per z dimension, as 04's z loss); all episodes stepped
    as one batch."""
    mus = [wm.encode(ep["obs"])[0] for ep in episodes]
    T, n = max(len(m) for m in mus), len(mus)
    z = np.zeros((n, T, wm.z_size), np.float32)
    a = np.zeros((n, T, wm.action_size), np.float32)
    for i, (m, ep) in enumerate(zip(mus, episodes)):
        z[i, :len(m)], a[i, :len(m)] = m, ep["action"].reshape(len(m), -1)
    h, c = wm.initial_state(n)
    out = np.zeros((n, T), np.float32)
    lengths = np.array([len(m) for m in mus])
    nll, count = 0.0, 0
    for t in range(T):
        h, c = wm.step(z[:, t], a[:, t], 1.0 if t == 0 else 0.0, h, c)
        logmix, mu, logstd, out[:, t] = wm.mdn(h)
        has_next = t + 1 < lengths
        if has_next.any():
            y = z[has_next, t + 1][..., None]
            lg = logmix[has_next] - 0.5 * ((y - mu[has_next]) / np.exp(logstd[has_next])) ** 2 \
                - logstd[has_next] - LOG_SQRT_2PI
            m = lg.max(-1, keepdims=True)
            nll -= float((m[..., 0] + np.log(np.exp(lg - m).sum(-1))).sum())
            count += int(has_next.sum()) * wm.z_size
    return [out[i, :len(m)] for i, m in enumerate(mus)], nll / max(count, 1)


def report(name, episodes, logits, nll):
    steps = sum(len(x) for x in logits)
    died = [x for x, ep in zip(logits, episodes) if ep["done"][-1]]  # the death is each one's last step
    deaths = len(died)
    flags = sum(int((x > 0).sum()) for x in logits)
    prob = np.mean(np.concatenate([1 / (1 + np.exp(-x)) for x in logits]))
    hits = sum(bool((x[-(NEAR + 1):] > 0).any()) for x in died)
    print(f"  {name:<28} {len(episodes):>4} episodes {steps:>7} steps | real deaths {1000 * deaths / steps:5.2f}"
          f" /1k steps | M's logit > 0: {1000 * flags / steps:5.2f} /1k | mean p(done) {prob:.4f} | deaths flagged "
          f"{hits}/{deaths} ({100 * hits / max(1, deaths):.0f} %) | z NLL {nll:.4f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rollouts", required=True, help="a folder of 01's ep_<seed>.npz")
    p.add_argument("--world-model", nargs="+", required=True)
    p.add_argument("--split", type=int, default=None, help="seeds >= this form a second group")
    args = p.parse_args()
    files = episodes.list_episodes(args.rollouts, "01_generate_data.py")
    seed = [int(os.path.basename(f)[3:-4]) for f in files]
    groups = {"all": files} if args.split is None else {
        f"seeds < {args.split}": [f for f, s in zip(files, seed) if s < args.split],
        f"seeds >= {args.split}": [f for f, s in zip(files, seed) if s >= args.split]}
    data = {g: [episodes.load(f, episodes.ROLLOUT) for f in fs] for g, fs in groups.items() if fs}
    for path in args.world_model:
        wm = npmodels.WorldModel.load(path)
        if not wm.predict_done:
            sys.exit(f"{path}: this M has no done head")
        print(path)
        for g, eps in data.items():
            report(g, eps, *done_logits(wm, eps))


if __name__ == "__main__":
    main()
