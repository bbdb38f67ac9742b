"""The CMA-ES search loop: settings, seeds, checkpoints and outputs, resumable (see the package docstring)."""
import os
import pickle
import time
from dataclasses import asdict, dataclass

import numpy as np

from worldmodels.storage import fileio
from worldmodels.config import STEP_SIZES  # the config schema's words for CMA-ES's step-size adaptation
from worldmodels.es.mpi import evaluate


CKPT_VERSION = 1
# Settings a checkpoint must share with the command that resumes it (generations, eval_every
# and eval_episodes may change, e.g. to extend a run; chunk only batches the same work).
IDENTITY = ("population", "trials", "sigma0", "weight_decay", "seed", "step_size", "common_seeds", "group")
# What an IDENTITY key meant in runs recorded before it existed.
IDENTITY_DEFAULTS = {"common_seeds": False, "group": 1}


@dataclass
class Settings:
    population: int = 64       # paper A.4
    trials: int = 16           # paper A.4: rollouts per candidate, averaged
    sigma0: float = 0.1        # orig train.py sigma_init
    weight_decay: float = 0.01  # orig es.py
    generations: int = 2000
    eval_every: int = 25       # orig train.py eval_steps
    eval_episodes: int = 1024  # orig train.py: the mean is scored over population * trials runs
    seed: int = 0
    chunk: int = 0             # candidates per task; 0: population / workers (one batched task each)
    step_size: str = "csa"     # orig README: cma 2.2, whose step-size adaptation is CSA; or "tpa"
    task_timeout: float = 0.0  # seconds an MPI task may run on its worker before the run is ended; 0 = none
    common_seeds: bool = False  # all candidates of a generation play the same seeds (common random numbers)
    group: int = 1             # dream: candidates that share each matmul (dream.dream_rollouts); real game: 1

    def __post_init__(self):
        if self.step_size not in STEP_SIZES:
            raise ValueError(f"step_size must be one of {STEP_SIZES}, got {self.step_size!r}")

    @classmethod
    def from_config(cls, c, seed):
        return cls(population=c.population, trials=c.trials, sigma0=c.sigma0, weight_decay=c.weight_decay,
                   generations=c.generations, eval_every=c.eval_every, eval_episodes=c.eval_episodes,
                   seed=seed, chunk=c.chunk, step_size=c.step_size, task_timeout=c.task_timeout,
                   common_seeds=c.common_seeds, group=c.group if c.mode == "dream" else 1)


def cma_options(s):
    """The cma options for settings s (popsize, step-size adaptation; seed and verbosity are the caller's)."""
    import cma.sigma_adaptation as sa
    adapt = {"csa": sa.CMAAdaptSigmaCSA, "tpa": sa.CMAAdaptSigmaTPA}[s.step_size]
    return {"popsize": s.population, "AdaptSigma": adapt, "verbose": -9, "verb_disp": 0, "verb_log": 0}


def seeds_for(seed, kind, generation, count):
    """Per-candidate seeds in [0, 2**31): a function of (seed, kind, generation, index) only."""
    return np.array([np.random.SeedSequence([seed, kind, generation, i]).generate_state(1)[0] & 0x7FFFFFFF
                     for i in range(count)], dtype=np.int64)


TRAIN, EVAL = 0, 1


def train_seeds(s, generation, count):
    """The seeds of a generation's candidates: each its own (the paper's), or with s.common_seeds
    one seed for all (common random numbers: every candidate plays the same tracks or dreams, so
    that the ranking compares controllers rather than draws), a new one each generation."""
    if s.common_seeds:
        return np.repeat(seeds_for(s.seed, TRAIN, generation, 1), count)
    return seeds_for(s.seed, TRAIN, generation, count)


# ----------------------------------------------------------------------------- files
def save_json(path, data):
    fileio.write_json(path, data)


def save_params(path, params, **meta):
    """params (n,) float64 -> npz with `params` and scalar metadata (no pickles)."""
    arrays = {"params": np.asarray(params, dtype=np.float64)}
    arrays.update({k: np.asarray(v) for k, v in meta.items() if v is not None})
    fileio.atomic_write(path, lambda f: np.savez(f, **arrays))


def load_params(path, n_params=None):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: controller params not found")
    try:
        params = np.asarray(fileio.load_npz(path, ["params"], what="controller .npz")["params"], dtype=np.float64)
    except fileio.DataError as e:  # corrupt, or no `params` array: named, as callers expect, as ValueError
        raise ValueError(str(e)) from None
    if params.ndim != 1:
        raise ValueError(f"{path}: params of shape {params.shape}; a controller's are one vector")
    if n_params is not None and params.size != n_params:
        raise ValueError(f"{path}: {params.size} params, but this controller has {n_params}")
    if not np.all(np.isfinite(params)):
        raise ValueError(f"{path}: params contain NaN or inf")
    return params


def load_checkpoint(path):
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except Exception as e:  # noqa: BLE001
        raise SystemExit(f"{path}: unreadable checkpoint ({type(e).__name__}: {e}); "
                         "delete it or use --redo to start again") from None
    if not isinstance(state, dict) or state.get("version") != CKPT_VERSION:
        raise SystemExit(f"{path}: not a version-{CKPT_VERSION} controller checkpoint; use --redo")
    return state


# ----------------------------------------------------------------------------- the loop
def new_state(n_params, s, x0=None):
    """A fresh CMA-ES at x0 (the orig's zeros unless given: a warm start) with step size sigma0."""
    import cma
    np.random.seed(s.seed % 2**32)
    # cma treats seed 0 as "seed from the clock", hence the +1.
    opts = dict(cma_options(s), seed=s.seed % (2**31 - 2) + 1)
    x0 = np.zeros(n_params) if x0 is None else np.asarray(x0, dtype=np.float64)
    cmaes = cma.CMAEvolutionStrategy(x0, s.sigma0, opts)
    return {"version": CKPT_VERSION, "settings": asdict(s), "n_params": n_params, "generation": 0,
            "es": cmaes, "np_random": np.random.get_state(), "history": [], "evaluations": [],
            "best_candidate": None, "best_eval": None, "meta": {}}


def _differences(old_settings, old_n_params, old_identity, n_params, s, identity):
    """(ES settings that differ, other differences: n_params and identity), each as "key old->new"."""
    old = old_settings
    settings = [f"{k} {old.get(k, IDENTITY_DEFAULTS.get(k))!r}->{getattr(s, k)!r}" for k in IDENTITY
                if old.get(k, IDENTITY_DEFAULTS.get(k)) != getattr(s, k)]
    other = [f"n_params {old_n_params}->{n_params}"] if old_n_params != n_params else []
    other += [f"{k} {old_identity.get(k)!r}->{v!r}" for k, v in identity.items() if old_identity.get(k) != v]
    return settings, other


REFUSE = "--redo to train it again over them, or another controller.dir to keep them"


def _check_resumable(state, n_params, s, path, identity):
    """SystemExit naming what differs where the checkpoint was made with other ES settings, for
    another world model, temperature, form of C, ... (identity) or parameter count."""
    settings, other = _differences(state["settings"], state["n_params"], state.get("identity") or {},
                                   n_params, s, identity)
    if settings or other:
        raise SystemExit(f"{path}: checkpoint was made with other settings ({', '.join(settings + other)}); "
                         f"use {REFUSE}")


def write_outputs(state, out_dir):
    """history.json, mean.npz and best.npz from the checkpoint state (the single source of truth)."""
    gen = state["generation"]
    mean = np.asarray(state["es"].mean, dtype=np.float64)
    extra = state.get("params_meta") or {}
    save_params(os.path.join(out_dir, "mean.npz"), mean, generation=gen, **extra)
    best = state["best_eval"]
    if best is not None:
        save_params(os.path.join(out_dir, "best.npz"), best["params"], generation=best["generation"],
                    eval_mean=best["mean"], eval_std=best["std"], **extra)
    summary = None
    if best is not None:
        summary = {k: v for k, v in best.items() if k != "params"}
    save_json(os.path.join(out_dir, "history.json"), {
        "settings": state["settings"], "n_params": state["n_params"], "generation": gen,
        "finished": gen >= state["settings"]["generations"], "meta": state["meta"],
        "identity": state.get("identity", {}), "restarts": state.get("restarts", []),
        "best_eval": summary,
        "best_candidate": None if state["best_candidate"] is None else
        {k: v for k, v in state["best_candidate"].items() if k != "params"},
        "generations": state["history"], "evaluations": state["evaluations"]})


def restart_from_outputs(n_params, s, out_dir, identity):
    """A state rebuilt from what write_outputs left in out_dir (history.json, mean.npz, best.npz),
    or None if there are none (or only a generation-0 start). Outputs are never overwritten by a
    run that would not continue them: SystemExit names the file where they are damaged or disagree
    with each other, and what differs where they were made for another world model, temperature,
    form of C, ... (identity), or, unless finished, with other ES settings.

    For a fresh machine where the pickled checkpoint (in data/, not committed: ~20 MB for Doom's
    1,088 params) is gone but the committed outputs are there. CMA-ES restarts from the saved mean
    and step size with C = I and fresh evolution paths. For n = 1,088 and population 64, CMA-ES
    moves C by c1 + c_mu ~ 3e-5 per generation (Hansen's defaults), so C is still close to I after
    hundreds of generations and little is lost. The restart generation is recorded in `restarts`.
    """
    import cma
    history_path = os.path.join(out_dir, "history.json")
    if not os.path.exists(history_path):
        if os.path.exists(os.path.join(out_dir, "best.npz")):
            raise SystemExit(f"{history_path}: missing beside {out_dir}/best.npz (a controller's record); "
                             f"restore it, or use {REFUSE}")
        return None

    def damaged(what):
        return SystemExit(f"{what}; restore it, or use {REFUSE}")
    try:
        h = fileio.read_json(history_path)
        gen = int(h.get("generation", 0))
    except (fileio.DataError, AttributeError, TypeError, ValueError) as e:
        raise damaged(f"{history_path}: damaged controller record ({e})") from None
    if gen == 0:
        return None
    settings, other = _differences(h.get("settings", {}), h.get("n_params"), h.get("identity") or {},
                                   n_params, s, identity)
    if other:
        raise SystemExit(f"{out_dir}: holds {gen} generations made for another setup ({', '.join(other)}); "
                         f"use {REFUSE}")
    # ES settings only steer further training: a finished run counts as finished whatever they are
    if settings and gen < s.generations:
        raise SystemExit(f"{out_dir}: holds {gen} generations made with other settings "
                         f"({', '.join(settings)}); use {REFUSE}")
    try:
        mean = load_params(os.path.join(out_dir, "mean.npz"), n_params)
        mean_gen = int(fileio.load_npz(os.path.join(out_dir, "mean.npz"), ["generation"])["generation"])
    except (OSError, ValueError, fileio.DataError) as e:
        raise damaged(str(e)) from None
    if mean_gen != gen or len(h.get("generations", [])) != gen:
        raise damaged(f"{history_path}: records {gen} generations ({len(h.get('generations', []))} listed), "
                      f"mean.npz generation {mean_gen}: a damaged record")
    best_eval = None
    if h.get("best_eval"):
        try:
            best_eval = dict(h["best_eval"], params=load_params(os.path.join(out_dir, "best.npz"), n_params))
        except (OSError, ValueError) as e:
            raise damaged(str(e)) from None
    np.random.seed(np.random.SeedSequence([s.seed, gen]).generate_state(1)[0])
    opts = dict(cma_options(s), seed=int(np.random.randint(1, 2**31 - 2)))
    cmaes = cma.CMAEvolutionStrategy(mean, float(h["generations"][-1]["sigma"]), opts)
    best_candidate = h.get("best_candidate")
    return {"version": CKPT_VERSION, "settings": asdict(s), "n_params": n_params, "generation": gen,
            "es": cmaes, "np_random": np.random.get_state(), "history": h["generations"],
            "evaluations": h.get("evaluations", []), "best_eval": best_eval,
            "best_candidate": best_candidate and dict(best_candidate, params=None),
            "meta": h.get("meta", {}), "identity": identity, "restarts": h.get("restarts", []) + [gen]}


def evaluate_mean(fn, state, s, executor):
    """Score the current mean over eval_episodes rollouts: ceil(eval_episodes / trials) rows of `trials`.
    Returns (mean, rewards, steps or None)."""
    mean = np.asarray(state["es"].mean, dtype=np.float64)
    rows = max(1, -(-s.eval_episodes // s.trials))
    seeds = seeds_for(s.seed, EVAL, state["generation"], rows)
    rewards, steps = evaluate(fn, np.tile(mean, (rows, 1)), seeds, s.trials, executor, s.chunk, s.task_timeout,
                              counted=True)
    return mean, rewards.reshape(-1), steps


def train(fn, n_params, s, ckpt_path, out_dir, executor=None, redo=False, meta=None, identity=None, log=print,
          progress=True, params_meta=None, x0=None):
    """Run (or resume) CMA-ES up to s.generations; returns the final state dict.

    x0: where a fresh run's mean starts (zeros by default); put what identifies it in `identity`.

    meta: recorded in history.json. identity: values that must match to resume a checkpoint
    (e.g. a hash of the world model the rollouts use). params_meta: scalars written into
    best.npz and mean.npz beside the params (e.g. the controller's inputs mode).
    """
    identity = dict(identity or {})
    from worldmodels import config
    if redo and os.path.exists(ckpt_path):
        os.remove(ckpt_path)
    if os.path.exists(ckpt_path):
        state = load_checkpoint(ckpt_path)
        _check_resumable(state, n_params, s, ckpt_path, identity)
        state["settings"] = asdict(s)
        state["meta"] = dict(meta or {})
        state["params_meta"] = dict(params_meta or {})
        if state["generation"] >= s.generations:
            write_outputs(state, out_dir)
            log(f"[es] finished already: generation {state['generation']} of {s.generations} in {ckpt_path} "
                "(use --redo to train again)")
            return state
        log(f"[es] resuming from generation {state['generation']} ({ckpt_path})")
    elif not redo and (state := restart_from_outputs(n_params, s, out_dir, identity)) is not None:
        if state["generation"] >= s.generations:
            log(f"[es] finished already: generation {state['generation']} of {s.generations} in {out_dir} "
                "(use --redo to train again)")
            return state
        log(f"[es] no checkpoint at {ckpt_path}: restarting CMA-ES from the mean and step size of generation "
            f"{state['generation']} in {out_dir} (covariance reset to identity)")
    else:
        state = new_state(n_params, s, x0)
        state["identity"] = identity
    state["meta"] = dict(meta or {})
    state["params_meta"] = dict(params_meta or {})
    write_outputs(state, out_dir)
    cmaes = state["es"]
    bar = config.progress(total=s.generations, initial=state["generation"], desc="CMA-ES", unit="gen",
               disable=not progress, dynamic_ncols=True)
    while state["generation"] < s.generations:
        t0 = time.time()
        gen = state["generation"]
        # cma samples from np.random.randn: numpy's global RNG in the process that created it (a
        # pickled copy of it after a resume). Keep it apart from draws the evaluation makes in-process.
        np.random.set_state(state["np_random"])
        solutions = cmaes.ask()
        rng_after_ask = np.random.get_state()
        params = np.array(solutions, dtype=np.float64)
        rewards, steps = evaluate(fn, params, train_seeds(s, gen, len(params)), s.trials, executor,
                                  s.chunk, s.task_timeout, counted=True)
        fitness = rewards.mean(axis=1) - s.weight_decay * np.mean(params ** 2, axis=1)
        np.random.set_state(rng_after_ask)
        cmaes.tell(solutions, (-fitness).tolist())
        state["np_random"] = np.random.get_state()
        state["generation"] = gen = gen + 1
        i = int(np.argmax(fitness))
        if state["best_candidate"] is None or fitness[i] > state["best_candidate"]["fitness"]:
            state["best_candidate"] = {"generation": gen, "fitness": float(fitness[i]),
                                       "reward_mean": float(rewards[i].mean()), "params": params[i].copy()}
        record = {"generation": gen, "mean": float(fitness.mean()), "best": float(fitness.max()),
                  "worst": float(fitness.min()), "reward_mean": float(rewards.mean()),
                  "sigma": float(cmaes.sigma), "seconds": time.time() - t0}
        if steps is not None:
            record["steps"] = steps
        state["history"].append(record)
        if gen % s.eval_every == 0 or gen == s.generations:
            t1 = time.time()
            mean, scores, steps = evaluate_mean(fn, state, s, executor)
            ev = {"generation": gen, "mean": float(scores.mean()), "std": float(scores.std()),
                  "episodes": int(scores.size), "seconds": time.time() - t1}
            if steps is not None:
                ev["steps"] = steps
            best = state["best_eval"]
            ev["improved"] = best is None or ev["mean"] > best["mean"]
            if ev["improved"]:
                state["best_eval"] = dict(ev, params=mean)
            state["evaluations"].append(ev)
            bar.write(f"[es] gen {gen}: mean solution scores {ev['mean']:.2f} +- {ev['std']:.2f} "
                      f"over {ev['episodes']} rollouts" + (" (new best)" if ev["improved"] else ""))
        fileio.atomic_write(ckpt_path, lambda f: pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL))
        write_outputs(state, out_dir)
        bar.set_postfix(mean=f"{record['mean']:.2f}", best=f"{record['best']:.2f}",
                        sigma=f"{record['sigma']:.3f}", refresh=False)
        bar.update(1)
    bar.close()
    return state
