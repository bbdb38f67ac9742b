"""The table that ends `make all`: what this machine just trained at the small scale, what the shipped
agents score when re-played here, and the paper's numbers, each with the command behind it.

    python tools/first_run.py                 # after `make pipeline` and `make shipped-check`
    python tools/first_run.py --results other_results_root --car-episodes 20

Reads the evaluation records the stages wrote (05 --eval): results/{doom,carracing}-small/controller/
eval_real.json and eval_random.json, results/doom/tau1.15/eval_real-check.json (the shipped Doom agent
played again here) and results/carracing/zh/eval_real-real_eval_episodes20-check.json (the first 20
episodes of the shipped CarRacing zh row). A re-play is compared episode for episode with the shipped
record. A row whose record is missing says which command makes it.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels.storage import fileio  # noqa: E402
from worldmodels.npmodels import record_arithmetic  # noqa: E402

NP = "mpiexec -n 3 python 05_train_controller.py"


def score(record):
    return f"{record['mean']:.0f} ± {record['std']:.0f} (n={record['episodes']})"


def cell(path):
    r = fileio.read_json(path)
    return score(r) if r else "not run"


def replay(results, folder, check_name, n=None):
    """The re-play's score and how it compares with the shipped record's same episodes."""
    check = fileio.read_json(os.path.join(results, folder, check_name))
    record = fileio.read_json(os.path.join(results, folder, "eval_real.json"))
    if not check:
        return "not run", ""
    if not record:
        return score(check), "no shipped record"
    old = record["scores"][:len(check["scores"])] if n else record["scores"]
    if record.get("params_sha1") != check.get("params_sha1") or record["seeds"][:len(old)] != check["seeds"]:
        return score(check), "another controller or other episodes than the record"
    played = [record_arithmetic(r) for r in (record, check)]
    if played[0] != played[1]:
        return score(check), f"the record was played in {played[0]}, this re-play in {played[1]}: not compared"
    same = sum(a == b for a, b in zip(old, check["scores"]))
    shipped = f"{sum(old) / len(old):.0f}"
    verdict = "every episode as recorded" if same == len(old) else \
        f"{same} of {len(old)} episodes as recorded" + (" (in float32 another CPU draws other episodes)"
                                                         if played[0] == "float32" else "")
    return score(check), f"shipped {shipped} on the same episodes: {verdict}"


def table(results, car_episodes):
    doom_s, car_s = os.path.join(results, "doom-small", "controller"), os.path.join(results, "carracing-small", "controller")
    doom_here, doom_note = replay(results, "doom/tau1.15", "eval_real-check.json")
    car_here, car_note = replay(results, "carracing/zh", f"eval_real-real_eval_episodes{car_episodes}-check.json",
                                n=car_episodes)
    rows = [
        ("DoomTakeCover, random policy", "210 ± 108", cell(os.path.join(doom_s, "eval_random.json")),
         f"{NP} --config doom small --eval --random"),
        ("DoomTakeCover, C trained in the dream, small scale (~15 min)", "1092 ± 556 (paper scale)",
         cell(os.path.join(doom_s, "eval_real.json")), "make pipeline GAMES=doom"),
        ("DoomTakeCover, the shipped agent re-played here", "1092 ± 556", doom_here + (f"; {doom_note}" if doom_note else ""),
         "make doom-eval"),
        ("CarRacing, random policy", "—", cell(os.path.join(car_s, "eval_random.json")),
         f"{NP} --config carracing small --eval --random"),
        ("CarRacing, full world model, small scale (~15 min)", "906 ± 21 (paper scale)",
         cell(os.path.join(car_s, "eval_real.json")), "make pipeline GAMES=carracing"),
        (f"CarRacing, the shipped zh row re-played here ({car_episodes} of its 100 episodes)", "906 ± 21",
         car_here + (f"; {car_note}" if car_note else ""), "make carracing-eval"),
    ]
    lines = ["| | paper | this machine | command |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | `{d}` |" for a, b, c, d in rows]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="the results root (default: results)")
    p.add_argument("--car-episodes", type=int, default=20,
                   help="how many of the shipped CarRacing row's episodes were re-played (make shipped-check)")
    args = p.parse_args()
    try:
        print(table(args.results, args.car_episodes))
    except fileio.DataError as e:
        raise SystemExit(f"[first_run] error: {e}")


if __name__ == "__main__":
    main()
