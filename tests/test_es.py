"""worldmodels.es: CMA-ES on a toy quadratic, in-process and under mpiexec (real subprocesses, real kills).

The toy objective -||x - target||^2 (+ small seeded noise per rollout) has its optimum at a
known point. MPICH's mpiexec (hydra) needs no extra flags here, also as root in a container
(unlike Open MPI's --allow-run-as-root / --oversubscribe).
"""
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from worldmodels import es

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
N = 10
TARGET = np.linspace(-1.0, 1.0, N)

TOY = f"""
import os, sys, time
sys.path.insert(0, {ROOT!r})
import numpy as np
from worldmodels import es

TARGET = np.linspace(-1.0, 1.0, {N})
FAIL, SLEEP = os.environ.get("TOY_FAIL", ""), float(os.environ.get("TOY_SLEEP", "0"))
HANG = os.environ.get("TOY_HANG", "")  # "rank:generation": that worker hangs in that generation's training tasks


def rollouts(params, seeds, trials):
    if FAIL and es.mpi_size() > 1 and set(seeds) & set(es.seeds_for(3, es.TRAIN, 2, 8)):  # the 3rd generation
        from mpi4py import MPI
        if MPI.COMM_WORLD.Get_rank() != 0:  # only ever on a worker
            if FAIL == "raise":
                raise ValueError("toy failure in a worker")
            os._exit(3)  # FAIL == "die": the worker process disappears
    if HANG:
        from mpi4py import MPI
        rank, generation = map(int, HANG.split(":"))
        if MPI.COMM_WORLD.Get_rank() == rank and set(seeds) & set(es.seeds_for(3, es.TRAIN, generation, 8)):
            time.sleep(3600)  # hangs (alive, silent) instead of dying
    time.sleep(SLEEP)
    out = np.empty((len(params), trials))
    for i, (p, s) in enumerate(zip(params, seeds)):
        out[i] = -np.sum((p - TARGET) ** 2) + np.random.default_rng(int(s)).normal(0, 0.01, trials)
    return out


def main(executor):
    out, generations = sys.argv[1], int(sys.argv[2])
    s = es.Settings(population=8, trials=2, sigma0=0.5, weight_decay=0.01, generations=generations,
                    eval_every=5, eval_episodes=4, seed=3, chunk=2,
                    task_timeout=float(os.environ.get("TOY_TIMEOUT", "0")))
    es.train(rollouts, {N}, s, os.path.join(out, "ckpt.pkl"), out, executor, progress=False)


es.run_main(main)
"""


def toy_quadratic(params, seeds, trials):
    return np.stack([-np.sum((p - TARGET) ** 2) + np.random.default_rng(int(s)).normal(0, 0.01, trials)
                     for p, s in zip(params, seeds)])


def settings(**kw):
    base = dict(population=8, trials=2, sigma0=0.5, weight_decay=0.01, generations=40, eval_every=10,
                eval_episodes=4, seed=1, chunk=3)
    return es.Settings(**{**base, **kw})


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    path = tmp_path_factory.mktemp("toy") / "toy.py"
    path.write_text(TOY)
    return str(path)


def launch(toy, out, generations, n=1, env=None, popen=False, hosts=None):
    """The toy run; n > 1 under mpiexec, with `hosts` as MPICH's hostfile (-f) as on a cluster."""
    cmd = [sys.executable, toy, str(out), str(generations)]
    if n > 1:
        cmd = [MPIEXEC] + (["-f", hosts] if hosts else []) + ["-n", str(n)] + cmd
    env = dict(os.environ, PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1", **(env or {}))
    if popen:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def history(out):
    """history.json without wall times (the only part that may differ between equal runs)."""
    h = json.load(open(os.path.join(out, "history.json")))
    for rec in h["generations"] + h["evaluations"]:
        rec.pop("seconds")
    h["best_eval"].pop("seconds")
    return h


def test_improves_on_a_quadratic_and_ships_the_best_evaluated_mean(tmp_path):
    s = settings()
    state = es.train(toy_quadratic, N, s, str(tmp_path / "ckpt.pkl"), str(tmp_path / "out"), progress=False)
    gens = state["history"]
    assert len(gens) == 40 and [g["generation"] for g in gens] == list(range(1, 41))
    assert gens[0]["best"] < -2.0 and gens[-1]["best"] > -0.3  # optimum: 0 - weight decay
    assert gens[-1]["mean"] > gens[0]["mean"] + 2.0
    h = json.load(open(tmp_path / "out" / "history.json"))
    assert h["finished"] and [e["generation"] for e in h["evaluations"]] == [10, 20, 30, 40]
    assert all(e["episodes"] == 4 for e in h["evaluations"])
    best = max(h["evaluations"], key=lambda e: e["mean"])
    shipped = np.load(tmp_path / "out" / "best.npz")
    assert int(shipped["generation"]) == best["generation"] == h["best_eval"]["generation"]
    assert np.sum((shipped["params"] - TARGET) ** 2) < 0.3
    np.testing.assert_allclose(np.load(tmp_path / "out" / "mean.npz")["params"], state["es"].mean)
    # a finished run is skipped; --redo starts again
    msgs = []
    again = es.train(toy_quadratic, N, s, str(tmp_path / "ckpt.pkl"), str(tmp_path / "out"), log=msgs.append,
                     progress=False)
    assert again["generation"] == 40 and "finished already" in msgs[0]
    redo = es.train(toy_quadratic, N, settings(generations=2), str(tmp_path / "ckpt.pkl"), str(tmp_path / "out"),
                    redo=True, progress=False)
    assert redo["generation"] == 2 and len(redo["history"]) == 2
    # resuming with other settings is refused with a message naming the setting
    with pytest.raises(SystemExit, match="population 8->6"):
        es.train(toy_quadratic, N, settings(population=6, generations=4), str(tmp_path / "ckpt.pkl"),
                 str(tmp_path / "out"), progress=False)


def test_weight_decay_enters_the_fitness(tmp_path):
    zero = lambda p, s, t: np.zeros((len(p), t))  # noqa: E731 (in-process only: need not pickle)
    state = es.train(zero, N, settings(generations=1, weight_decay=2.0), str(tmp_path / "c.pkl"),
                     str(tmp_path / "o"), progress=False)
    rec = state["history"][0]
    assert rec["reward_mean"] == 0.0 and rec["best"] < 0 and rec["worst"] < rec["best"]


def test_draws_from_numpys_global_rng_during_evaluation_do_not_change_the_search(tmp_path):
    def noisy(params, seeds, trials):  # an evaluation that also uses np.random (in-process)
        np.random.rand(7)
        return toy_quadratic(params, seeds, trials)
    a = es.train(toy_quadratic, N, settings(generations=5), str(tmp_path / "a.pkl"), str(tmp_path / "a"),
                 progress=False)
    b = es.train(noisy, N, settings(generations=5), str(tmp_path / "b.pkl"), str(tmp_path / "b"), progress=False)
    np.testing.assert_array_equal(a["es"].mean, b["es"].mean)


@pytest.mark.slow  # real mpiexec
def test_same_seed_same_history_for_any_number_of_processes(toy, tmp_path):
    outs = {}
    for n in (1, 2, 3):
        outs[n] = str(tmp_path / f"n{n}")
        proc = launch(toy, outs[n], 12, n=n)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    ref = history(outs[1])
    assert len(ref["generations"]) == 12
    for n in (2, 3):
        assert history(outs[n]) == ref, f"history differs with {n} processes"
        np.testing.assert_array_equal(np.load(f"{outs[n]}/best.npz")["params"], np.load(f"{outs[1]}/best.npz")["params"])


@pytest.mark.slow  # real mpiexec
@pytest.mark.parametrize("n", [1, 2])
def test_resume_after_sigkill_gives_the_uninterrupted_result(toy, tmp_path, n):
    gens = 25
    ref = str(tmp_path / "ref")
    assert launch(toy, ref, gens, n=n).returncode == 0
    out = str(tmp_path / "killed")
    ckpt = os.path.join(out, "ckpt.pkl")
    proc = launch(toy, out, gens, n=n, env={"TOY_SLEEP": "0.03"}, popen=True)
    deadline = time.time() + 60
    generation = 0
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(ckpt):
            with open(ckpt, "rb") as f:
                generation = pickle.load(f)["generation"]
            if generation >= 2:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job: mpiexec and every rank
    proc.wait(timeout=30)
    proc.stdout.close()
    with open(ckpt, "rb") as f:
        stopped_at = pickle.load(f)["generation"]
    assert 2 <= stopped_at < gens
    again = launch(toy, out, gens, n=n)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"resuming from generation {stopped_at}" in again.stdout + again.stderr
    assert history(out) == history(ref)
    np.testing.assert_array_equal(np.load(f"{out}/best.npz")["params"], np.load(f"{ref}/best.npz")["params"])
    np.testing.assert_array_equal(np.load(f"{out}/mean.npz")["params"], np.load(f"{ref}/mean.npz")["params"])


@pytest.mark.slow  # real mpiexec
@pytest.mark.parametrize("fail", ["raise", "die"])
def test_a_failing_worker_ends_the_run_non_zero(toy, tmp_path, fail):
    t0 = time.time()
    hosts = cluster_hostfile(tmp_path, 3)
    proc = launch(toy, str(tmp_path / "out"), 20, n=3, env={"TOY_FAIL": fail}, hosts=hosts)  # timeout=120 inside
    assert proc.returncode != 0
    assert time.time() - t0 < 60
    out = proc.stdout + proc.stderr
    if fail == "raise":
        assert "evaluation failed" in out and "ValueError: toy failure in a worker" in out, out[-3000:]
    # the two generations before the failing one were finished and stay: the same command resumes there
    assert json.load(open(tmp_path / "out" / "history.json"))["generation"] == 2, out[-3000:]
    again = launch(toy, str(tmp_path / "out"), 4, n=3, hosts=hosts)
    assert again.returncode == 0 and "resuming from generation" in again.stdout + again.stderr, again.stdout[-3000:]


def cluster_hostfile(tmp_path, slots):
    """An MPICH hostfile as on a cluster (README: mpiexec -f hosts -n N), here naming this machine."""
    path = tmp_path / "hosts"
    path.write_text(f"{socket.gethostname()}:{slots}\n")
    return str(path)


@pytest.mark.slow  # real mpiexec
def test_a_hung_worker_ends_the_run_by_the_deadline_then_it_resumes(toy, tmp_path):
    """A worker that hangs (alive, silent) in generation 3: the run ends non-zero once the task has run
    for task_timeout seconds, naming the worker and the task; the same command then resumes from
    the last finished generation and ends as an uninterrupted run does."""
    ref, out = str(tmp_path / "ref"), str(tmp_path / "out")
    assert launch(toy, ref, 4, n=3, env={"TOY_TIMEOUT": "2"}).returncode == 0
    t0 = time.time()
    proc = launch(toy, out, 4, n=3, env={"TOY_HANG": "2:2", "TOY_TIMEOUT": "2"}, hosts=cluster_hostfile(tmp_path, 3))
    elapsed = time.time() - t0
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and elapsed < 30, (elapsed, text[-3000:])
    seeds = es.seeds_for(3, es.TRAIN, 2, 8)
    assert "has run for more than 2 s (task_timeout) on MPI rank 2, host " in text and "pid " in text, text[-3000:]
    named = text.split("candidates with seeds [")[1].split("]")[0]
    assert {int(v) for v in named.split(",")} <= set(seeds.tolist())
    assert json.load(open(os.path.join(out, "history.json")))["generation"] == 2
    again = launch(toy, out, 4, n=3, env={"TOY_TIMEOUT": "2"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming from generation 2" in again.stdout + again.stderr
    assert history(out) == history(ref)


def test_without_the_checkpoint_it_restarts_from_the_written_outputs(tmp_path):
    """A fresh machine has the committed outputs (history.json, mean.npz, best.npz) but not the pickled
    checkpoint: the run goes on from the saved mean and step size instead of starting over."""
    ckpt, out = str(tmp_path / "ckpt.pkl"), str(tmp_path / "out")
    es.train(toy_quadratic, N, settings(generations=20), ckpt, out, progress=False)
    h20 = json.load(open(os.path.join(out, "history.json")))
    os.remove(ckpt)
    msgs = []
    state = es.train(toy_quadratic, N, settings(generations=20), ckpt, out, log=msgs.append, progress=False)
    assert "finished already" in msgs[0] and state["generation"] == 20
    assert not os.path.exists(ckpt)
    msgs = []
    state = es.train(toy_quadratic, N, settings(generations=30), ckpt, out, log=msgs.append, progress=False)
    assert "restarting CMA-ES from the mean and step size of generation 20" in msgs[0]
    h = json.load(open(os.path.join(out, "history.json")))
    assert h["generations"][:20] == h20["generations"] and len(h["generations"]) == 30
    assert h["restarts"] == [20] and [e["generation"] for e in h["evaluations"]] == [10, 20, 30]
    # it continued the search (not from zero): better than where the first run started, and the
    # shipped controller is at least as good as the one before the restart
    assert h["generations"][20]["mean"] > h20["generations"][0]["mean"] + 2.0
    assert h["best_eval"]["mean"] >= h20["best_eval"]["mean"]
    assert np.sum((state["es"].mean - TARGET) ** 2) < 0.1 * np.sum(TARGET ** 2)  # x0 = 0
    # other ES settings: those outputs are kept (an error names what differs); --redo starts afresh
    os.remove(ckpt)
    before = open(os.path.join(out, "history.json")).read()
    with pytest.raises(SystemExit, match="trials 2->3"):
        es.train(toy_quadratic, N, settings(generations=40, trials=3), ckpt, out, progress=False)
    assert open(os.path.join(out, "history.json")).read() == before and not os.path.exists(ckpt)
    msgs = []
    state = es.train(toy_quadratic, N, settings(generations=1, trials=3), ckpt, out, redo=True, log=msgs.append,
                     progress=False)
    assert state["generation"] == 1 and not any("restarting" in m for m in msgs)
    # outputs made for another world model (identity) are kept too: the error names what differs
    os.remove(ckpt)
    before = open(os.path.join(out, "history.json")).read()
    with pytest.raises(SystemExit, match=r"another setup \(world_model_sha1 None->'abc'\); use --redo"):
        es.train(toy_quadratic, N, settings(generations=2, trials=3), ckpt, out,
                 identity={"world_model_sha1": "abc"}, progress=False)
    assert open(os.path.join(out, "history.json")).read() == before and not os.path.exists(ckpt)
    msgs = []
    state = es.train(toy_quadratic, N, settings(generations=2, trials=3), ckpt, out,
                     identity={"world_model_sha1": "abc"}, redo=True, log=msgs.append, progress=False)
    assert state["generation"] == 2 and len(state["history"]) == 2 and not any("restarting" in m for m in msgs)


def counted_quadratic(params, seeds, trials):
    """toy_quadratic that also says how many steps each rollout took (here: 10 + its trial index)."""
    return toy_quadratic(params, seeds, trials), np.tile(10 + np.arange(trials), (len(params), 1))


def test_a_warm_start_begins_at_x0_and_generations_record_the_steps_their_rollouts_took(tmp_path):
    s = settings(generations=10, eval_every=5)
    assert np.array_equal(es.new_state(N, s)["es"].mean, np.zeros(N))  # the orig's x0
    assert np.array_equal(es.new_state(N, s, TARGET)["es"].mean, TARGET)
    cold = es.train(counted_quadratic, N, s, str(tmp_path / "a.pkl"), str(tmp_path / "a"), progress=False)
    warm = es.train(counted_quadratic, N, s, str(tmp_path / "b.pkl"), str(tmp_path / "b"), progress=False,
                    x0=TARGET + 0.05)
    assert warm["history"][0]["mean"] > cold["history"][0]["mean"] + 2.0  # starts near the optimum
    assert all(g["steps"] == 8 * (10 + 11) for g in cold["history"])  # population 8 x trials (10 + 11)
    assert [e["steps"] for e in cold["evaluations"]] == [2 * (10 + 11)] * 2  # 4 episodes: 2 rows of 2
    h = json.load(open(tmp_path / "a" / "history.json"))
    assert h["generations"][0]["steps"] == 168
    # rollouts that do not count steps leave them out of the history
    plain = es.train(toy_quadratic, N, settings(generations=2), str(tmp_path / "c.pkl"), str(tmp_path / "c"),
                     progress=False)
    assert "steps" not in plain["history"][0]
    with pytest.raises(es.EvaluationError, match="steps of shape"):
        es.evaluate(lambda p, sd, t: (toy_quadratic(p, sd, t), np.ones(3)), np.zeros((2, N)), [1, 2], 2)


def test_step_size_adaptation_is_the_authors_csa_unless_asked(tmp_path):
    """cma 4.5 switches to TPA by itself from 300 params; the authors' cma 2.2 used CSA."""
    assert es.Settings().step_size == "csa"
    with pytest.raises(ValueError, match="step_size"):
        es.Settings(step_size="fast")
    kinds = {k: type(es.new_state(400, es.Settings(step_size=k))["es"].adapt_sigma).__name__ for k in es.STEP_SIZES}
    assert kinds == {"csa": "CMAAdaptSigmaCSA", "tpa": "CMAAdaptSigmaTPA"}
    ckpt, out = str(tmp_path / "ckpt.pkl"), str(tmp_path / "out")
    es.train(toy_quadratic, N, settings(generations=4), ckpt, out, progress=False)
    os.remove(ckpt)
    msgs = []
    state = es.train(toy_quadratic, N, settings(generations=6), ckpt, out, log=msgs.append, progress=False)
    assert "restarting" in msgs[0] and type(state["es"].adapt_sigma).__name__ == "CMAAdaptSigmaCSA"
    os.remove(ckpt)
    with pytest.raises(SystemExit, match="step_size 'csa'->'tpa'"):
        es.train(toy_quadratic, N, settings(generations=8, step_size="tpa"), ckpt, out, progress=False)
    # a finished run is finished whatever the ES settings (nothing is trained or rewritten)
    before = open(os.path.join(out, "history.json")).read()
    msgs = []
    state = es.train(toy_quadratic, N, settings(generations=6, step_size="tpa"), ckpt, out, log=msgs.append,
                     progress=False)
    assert "finished already" in msgs[0] and state["generation"] == 6
    assert open(os.path.join(out, "history.json")).read() == before


def test_a_checkpoint_or_outputs_of_another_world_model_are_never_trained_over(tmp_path):
    """A checkpoint or outputs made for another world model (or temperature, form of C: identity) or
    with other ES settings stop the run with one line naming what differs; --redo starts afresh."""
    ckpt, out = str(tmp_path / "ckpt.pkl"), str(tmp_path / "out")
    es.train(toy_quadratic, N, settings(generations=3), ckpt, out, identity={"world_model_sha1": "old"},
             progress=False)
    before = open(os.path.join(out, "history.json")).read()
    with pytest.raises(SystemExit, match="trials 2->3"):
        es.train(toy_quadratic, N, settings(generations=5, trials=3), ckpt, out,
                 identity={"world_model_sha1": "old"}, progress=False)
    for gens in (2, 5):  # finished or not
        with pytest.raises(SystemExit, match=r"ckpt.pkl: checkpoint was made with other settings "
                                             r"\(world_model_sha1 'old'->'new'\); use --redo"):
            es.train(toy_quadratic, N, settings(generations=gens), ckpt, out, identity={"world_model_sha1": "new"},
                     progress=False)
    os.remove(ckpt)  # a fresh machine: the outputs alone
    with pytest.raises(SystemExit, match=r"holds 3 generations made for another setup "
                                         r"\(world_model_sha1 'old'->'new'\)"):
        es.train(toy_quadratic, N, settings(generations=2), ckpt, out, identity={"world_model_sha1": "new"},
                 progress=False)
    assert open(os.path.join(out, "history.json")).read() == before
    state = es.train(toy_quadratic, N, settings(generations=2), ckpt, out, identity={"world_model_sha1": "new"},
                     redo=True, progress=False)
    assert state["generation"] == 2 and [g["generation"] for g in state["history"]] == [1, 2]
    h = json.load(open(os.path.join(out, "history.json")))
    assert h["identity"] == {"world_model_sha1": "new"} and h["generation"] == 2
    assert es.load_checkpoint(ckpt)["identity"] == {"world_model_sha1": "new"}


@pytest.mark.parametrize("damage", ["truncated", "not json", "missing", "mean.npz truncated", "generations"])
def test_a_damaged_record_without_a_checkpoint_is_an_error_not_a_fresh_start(tmp_path, damage):
    ckpt, out = str(tmp_path / "ckpt.pkl"), str(tmp_path / "out")
    es.train(toy_quadratic, N, settings(generations=10, eval_every=5), ckpt, out, progress=False)
    os.remove(ckpt)
    hist, mean = os.path.join(out, "history.json"), os.path.join(out, "mean.npz")
    best = open(os.path.join(out, "best.npz"), "rb").read()
    if damage == "truncated":
        text = open(hist).read()
        open(hist, "w").write(text[:len(text) // 2])
    elif damage == "not json":
        open(hist, "w").write("[]")
    elif damage == "missing":
        os.remove(hist)
    elif damage == "mean.npz truncated":
        data = open(mean, "rb").read()
        open(mean, "wb").write(data[:len(data) // 2])
    else:
        h = json.load(open(hist))
        h["generations"] = h["generations"][:4]
        json.dump(h, open(hist, "w"))
    words = {"missing": "history.json: missing beside", "mean.npz truncated": "mean.npz: unreadable or corrupt"}
    with pytest.raises(SystemExit, match=words.get(damage, "history.json: ") + ".*use --redo"):
        es.train(toy_quadratic, N, settings(generations=20, eval_every=5), ckpt, out, progress=False)
    assert open(os.path.join(out, "best.npz"), "rb").read() == best and not os.path.exists(ckpt)


def test_common_seeds_give_every_candidate_of_a_generation_the_same_seed(tmp_path):
    seen = []

    def record(params, seeds, trials):
        seen.append(np.asarray(seeds).copy())
        return toy_quadratic(params, seeds, trials)

    es.train(record, N, settings(common_seeds=True, generations=3, eval_every=100), str(tmp_path / "c.pkl"),
             str(tmp_path / "out"), progress=False)
    per_gen = [np.concatenate(seen[i:i + 3]) for i in range(0, 9, 3)]  # chunk 3: tasks of 3, 3, 2 candidates
    assert all(len(set(g.tolist())) == 1 and len(g) == 8 for g in per_gen)
    assert len({int(g[0]) for g in per_gen}) == 3  # a new seed each generation
    assert not np.array_equal(es.train_seeds(settings(), 0, 8), es.train_seeds(settings(common_seeds=True), 0, 8))


def test_common_seeds_rank_candidates_by_their_own_merit_under_seed_noise():
    # a fitness whose noise is a function of the seed alone: with one seed per generation every
    # candidate shifts by the same amount, so the ranking is the noiseless one; with a seed each it is not
    rng = np.random.default_rng(0)
    params = rng.normal(0, 1, (32, N))
    noiseless = -np.sum((params - TARGET) ** 2, axis=1)

    def noisy(p, seeds):
        return -np.sum((p - TARGET) ** 2, axis=1) + 20 * np.array([np.random.default_rng(int(s)).normal()
                                                                   for s in seeds])

    crn = noisy(params, es.train_seeds(settings(common_seeds=True), 5, 32))
    own = noisy(params, es.train_seeds(settings(), 5, 32))
    assert np.array_equal(np.argsort(crn), np.argsort(noiseless))
    assert not np.array_equal(np.argsort(own), np.argsort(noiseless))


def test_a_run_recorded_before_common_seeds_existed_resumes_as_without_them(tmp_path):
    s = settings(generations=2, eval_every=1)
    es.train(toy_quadratic, N, s, str(tmp_path / "c.pkl"), str(tmp_path / "out"), progress=False)
    h = json.load(open(tmp_path / "out" / "history.json"))
    del h["settings"]["common_seeds"]  # as written before the key existed
    json.dump(h, open(tmp_path / "out" / "history.json", "w"))
    os.remove(tmp_path / "c.pkl")
    state = es.train(toy_quadratic, N, settings(generations=3, eval_every=1), str(tmp_path / "c.pkl"),
                     str(tmp_path / "out"), progress=False)
    assert state["generation"] == 3 and state.get("restarts") == [2]
    with pytest.raises(SystemExit, match="common_seeds False->True"):
        es.train(toy_quadratic, N, settings(generations=4, eval_every=1, common_seeds=True),
                 str(tmp_path / "c2.pkl"), str(tmp_path / "out"), progress=False)


def test_tasks_never_split_a_group_of_candidates_computed_together():
    """es.evaluate cuts tasks at multiples of fn.group, whatever chunk and workers ask."""
    assert es.task_size(3, 10, group=4) == 4 and es.task_size(0, 16, group=8) == 16
    assert es.task_size(5, 10) == 5 and es.task_size(9, 10, group=4) == 12

    class Grouped:
        group = 4
        seen = []

        def __call__(self, params, seeds, trials):
            self.seen.append(len(params))
            return np.repeat(params[:, :1], trials, axis=1)
    fn = Grouped()
    out = es.evaluate(fn, np.arange(10.0)[:, None], np.arange(10), 2, chunk=3)
    np.testing.assert_array_equal(out[:, 0], np.arange(10.0))
    assert fn.seen == [4, 4, 2]


def test_a_dream_run_recorded_before_groups_existed_resumes_with_a_matmul_per_candidate(tmp_path):
    """group is part of a run's identity: a run recorded before it existed meant group 1; the real game has none."""
    from types import SimpleNamespace
    c = SimpleNamespace(population=8, trials=2, sigma0=0.1, weight_decay=0.0, generations=3, eval_every=1,
                        eval_episodes=4, chunk=0, step_size="csa", task_timeout=0.0, common_seeds=False, group=8)
    assert es.Settings.from_config(SimpleNamespace(**vars(c), mode="dream"), 0).group == 8
    assert es.Settings.from_config(SimpleNamespace(**vars(c), mode="real"), 0).group == 1
    es.train(toy_quadratic, N, settings(generations=2), str(tmp_path / "c.pkl"), str(tmp_path / "out"), progress=False)
    h = json.load(open(tmp_path / "out" / "history.json"))
    del h["settings"]["group"]  # as written before the key existed
    json.dump(h, open(tmp_path / "out" / "history.json", "w"))
    os.remove(tmp_path / "c.pkl")
    state = es.train(toy_quadratic, N, settings(generations=3), str(tmp_path / "c.pkl"), str(tmp_path / "out"),
                     progress=False)
    assert state["generation"] == 3 and state.get("restarts") == [2]
    with pytest.raises(SystemExit, match="group 1->8"):
        es.train(toy_quadratic, N, settings(generations=4, group=8), str(tmp_path / "c2.pkl"), str(tmp_path / "out"),
                 progress=False)
