"""Stock gymnasium CarRacing-v3 vs fast_carracing.FastCarRacing: speed and identity, in one run.

    python bench/fast_carracing.py                         # 6 episodes of up to 1000 steps, seeds 1..6
    python bench/fast_carracing.py --episodes 2 --steps 300

Both envs (continuous actions, render_mode=None: the state_pixels observation envs.CarRacing uses)
play the same episodes side by side, one step of each in turn, so that both see the same machine
load: reset(seed) then random actions (fast_carracing.probe_actions; odd episodes hold each action
1..10 steps, even ones draw a new action every step; each episode has a spell of full steer + gas
then full brake in the middle that leaves the track) until the episode ends or --steps. Every
observation, reward, terminated and truncated is compared. Prints each env's steps/s (steps only,
and with resets: a reset builds a new track), the ratio, and the identity result; exits 1 on any
difference.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fast_carracing  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=6)
    p.add_argument("--steps", type=int, default=1000, help="steps per episode at most")
    p.add_argument("--seed", type=int, default=1, help="episode i plays seed + i")
    args = p.parse_args()
    stock, fast = fast_carracing.stock_env(), fast_carracing.FastCarRacing(continuous=True)
    timer, steps, failures = {}, 0, []
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for i in range(args.episodes):
        seed = args.seed + i
        hold = 10 if i % 2 == 0 else 1
        n, diff = fast_carracing.lockstep(stock, fast, seed, fast_carracing.probe_actions(seed, args.steps, hold),
                                          timer)
        steps += n
        print(f"seed {seed:3d} (actions held 1..{hold:2d} steps): {n:4d} steps, "
              + ("identical" if diff is None else f"DIFFERS: {diff}"), flush=True)
        if diff is not None:
            failures.append(diff)
    rate = {k: steps / timer[k + " step"] for k in ("stock", "fast")}
    rate_all = {k: steps / (timer[k + " step"] + timer[k + " reset"]) for k in ("stock", "fast")}
    print(f"{'':12s} {'steps/s':>9s} {'with resets':>12s}")
    for k in ("stock", "fast"):
        print(f"{k:12s} {rate[k]:9.0f} {rate_all[k]:12.0f}")
    print(f"{'fast/stock':12s} {rate['fast'] / rate['stock']:8.2f}x {rate_all['fast'] / rate_all['stock']:11.2f}x")
    print(f"identity: {args.episodes - len(failures)} of {args.episodes} episodes ({steps} steps) identical "
          "(observations, rewards, terminated, truncated)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
