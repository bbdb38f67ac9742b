"""Stock gymnasium CarRacing-v3 vs fast_carracing.FastCarRacing: speed and identity, in one run.

    python bench/fast_carracing.py                         # 6 episodes of up to 1000 steps, seeds 1..6
    python bench/fast_carracing.py --episodes 2 --steps 300
    python bench/fast_carracing.py --profile 1000       # where a FastCarRacing step's time goes

Both envs (continuous actions, render_mode=None: the state_pixels observation envs.CarRacing uses)
play the same episodes side by side, one step of each in turn, so that both see the same machine
load: reset(seed) then random actions (fast_carracing.probe_actions; odd episodes hold each action
1..10 steps, even ones draw a new action every step; each episode has a spell of full steer + gas
then full brake in the middle that leaves the track) until the episode ends or --steps. Every
observation, reward, terminated and truncated is compared. Prints each env's steps/s (steps only,
and with resets: a reset builds a new track), the ratio, and the identity result; exits 1 on any
difference. --profile N: instead, times the parts of N steps of FastCarRacing (seed 1, after the
first 60 steps: the zoom-in of the first second is over) and prints ms per step for each.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels.envs import fast_carracing  # noqa: E402


def profile(steps):
    import pygame
    from gymnasium.envs.box2d import car_dynamics
    from pygame import gfxdraw
    spent = {}

    def timed(owner, name, key):
        fn = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - t0
        setattr(owner, name, wrapper)
    cls = fast_carracing.FastCarRacing
    for owner, name, key in [(gfxdraw, "filled_polygon", "fill"), (gfxdraw, "aapolygon", "aa"),
                             (pygame.transform, "smoothscale", "smooth"), (cls, "_fill_if_covered", "bg"),
                             (cls, "_render_road", "road"), (cls, "_narrow_frame", "narrow"),
                             (cls, "_create_image_array", "image"),
                             (car_dynamics.Car, "draw", "car"), (cls, "_render", "render"), (cls, "step", "step")]:
        timed(owner, name, key)
    env = cls(continuous=True)
    actions = fast_carracing.probe_actions(1, 60 + steps)
    env.reset(seed=1)
    for a in actions[:60]:
        env.step(a)
    spent.clear()
    for a in actions[60:]:
        if any(env.step(a)[2:4]):
            raise SystemExit("the episode ended early; use fewer steps")
    ms = {k: v / steps * 1e3 for k, v in spent.items()}
    rows = [("gfxdraw.filled_polygon (grass, road)", ms["fill"]),
            ("gfxdraw.aapolygon (grass, road)", ms["aa"]),
            ("background: cover test + fill", ms["bg"]),
            ("road: numpy transform, cull, call loop", ms["road"] - ms["fill"] - ms["aa"] - ms["bg"]),
            ("smoothscale (columns, then rows)", ms["smooth"]),
            ("96-column flip, bar rows, array out", ms["narrow"] + ms["image"] - ms["smooth"]),
            ("car.draw (stock)", ms["car"]),
            ("indicators (stock), score text, rest", ms["render"] - ms["road"] - ms["narrow"] - ms["image"]
             - ms["car"]),
            ("physics + the rest of step (stock)", ms["step"] - ms["render"])]
    print(f"# FastCarRacing, {steps} steps (seed 1, from step 61); load average {os.getloadavg()[0]:.2f}")
    for name, v in rows:
        print(f"{name:42s} {v:6.3f} ms  {v / ms['step']:4.0%}")
    print(f"{'step':42s} {ms['step']:6.3f} ms  ({1e3 / ms['step']:.0f} steps/s)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=6)
    p.add_argument("--steps", type=int, default=1000, help="steps per episode at most")
    p.add_argument("--seed", type=int, default=1, help="episode i plays seed + i")
    p.add_argument("--profile", type=int, metavar="N", help="time the parts of N FastCarRacing steps instead")
    args = p.parse_args()
    if args.profile:
        return profile(args.profile)
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
