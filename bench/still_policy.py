"""How kind is the dream? The do-nothing Doom controller (all-zero weights: it never moves) scored
in M's dream and in the real game. A dream where standing still survives much longer than in the
real game under-predicts death, and a controller evolved in it learns little.

    python bench/still_policy.py --config doom cpu --episodes 20 --temperature 1.15
    python bench/still_policy.py --config doom cpu --params results/doom/tau1.15/best.npz
    git show ea5bb59:results/doom/world_model.npz > /tmp/m20.npz   # M after 20 epochs
    python bench/still_policy.py --config doom cpu --world-model /tmp/m20.npz

    python bench/still_policy.py --config doom cpu name=doom-v2 --params results/doom-v2/tau1.15/best.npz
    python bench/still_policy.py --config doom cpu --action -1     # hold left all episode

Real episode j uses seed 1000 + j; dream rollouts use seed 0 (dream.dream_rollouts). Prints
mean +- std of the steps survived in each, and (Doom) how often the real-game actions press
left, nothing or right: a controller that holds one button has found a hole in the dream.
"""
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import config  # noqa: E402
from worldmodels import dream  # noqa: E402
from worldmodels import envs  # noqa: E402
from worldmodels import npmodels  # noqa: E402


def main():
    parser = config.parser(__doc__)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=None, help="default: controller.temperature")
    parser.add_argument("--params", help="a controller .npz instead of the all-zero one")
    parser.add_argument("--world-model", help="default: {run_dir}/world_model.npz")
    parser.add_argument("--action", type=float, help="a constant action instead (Doom: -1 holds left, 1 right)")
    args = parser.parse_args()
    cfg = config.from_args(args)
    run_dir = config.run_dir(cfg)
    wm = npmodels.WorldModel.load(args.world_model or os.path.join(run_dir, "world_model.npz"))
    n = npmodels.Controller(cfg.experiment, wm.z_size, wm.hidden).size
    params = np.load(args.params)["params"] if args.params else np.zeros(n)
    tau = args.temperature or cfg.controller.temperature
    init = np.load(os.path.join(run_dir, "initial_z.npz"))
    if args.action is None:
        virtual = dream.dream_rollouts(wm, init["mu"], init["logvar"], params, args.episodes, tau,
                                       cfg.controller.max_steps, seed=0)[0]
    else:  # no weights give a constant action (Doom's C has no bias): step the dream env instead
        denv = dream.DreamEnv(wm, (init["mu"], init["logvar"]), tau, cfg.controller.max_steps)
        virtual = []
        for j in range(args.episodes):
            denv.reset(seed=j)
            steps, done = 0, False
            while not done:
                _, _, terminated, truncated, _ = denv.step([args.action])
                steps, done = steps + 1, terminated or truncated
            virtual.append(steps)
        virtual = np.asarray(virtual, np.float64)
    env = envs.make_env(cfg)
    real, actions = [], []
    for j in range(args.episodes):
        agent = npmodels.Agent(wm, params, np.random.default_rng(j))
        obs, _ = env.reset(seed=1000 + j)
        total, done = 0.0, False
        while not done:
            action = agent.act(obs) if args.action is None else np.float32([args.action])
            actions.append(float(np.ravel(action)[0]))
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        real.append(total)
    env.close()
    name = f"constant action {args.action}" if args.action is not None else args.params or "do-nothing controller"
    print(f"{name}: dream (tau={tau}) {virtual.mean():.0f} +- {virtual.std():.0f}, "
          f"real game {np.mean(real):.0f} +- {np.std(real):.0f} ({args.episodes} episodes each)")
    if cfg.experiment == "doom":  # which button the actions press (envs.DoomTakeCover.THRESHOLD)
        a, t = np.asarray(actions), envs.DoomTakeCover.THRESHOLD
        print(f"real-game actions: left {np.mean(a < -t):.0%}, nothing {np.mean(abs(a) <= t):.0%}, "
              f"right {np.mean(a > t):.0%} of {len(a)} steps")


if __name__ == "__main__":
    main()
