"""Stage 05: train C, the linear controller, with CMA-ES (paper 2.3, A.3, A.4; orig train.py).

    python 05_train_controller.py --config doom small            # Doom: C evolves in M's dream
    python 05_train_controller.py --config carracing small       # CarRacing: C evolves in the real game
    python 05_train_controller.py --config carracing small rnn.predict_reward=true controller.mode=dream
    mpiexec -n 3 python 05_train_controller.py --config doom small          # rank 0 + 2 workers
    mpiexec -n 3 python 05_train_controller.py --config doom small --eval   # real game, shipped C
    python 05_train_controller.py --config doom small --eval --random       # random-policy baseline
    python 05_train_controller.py --config doom small --eval --params results/doom/controller/best.npz

Training: controller.mode=dream runs dream.dream_rollouts (Doom: +1 per step until M predicts
death; CarRacing: M's predicted rewards, which needs an M trained with rnn.predict_reward; at
controller.temperature), a whole task (controller.chunk candidates x trials) batched;
mode=real plays the real game (envs.make_env + npmodels.Agents: V + M + C each frame), episodes
capped at controller.max_steps; a candidate's trials play in lock-step, one game each, V, M and C
batched over them (Fitness). CMA-ES, checkpoints and resuming: worldmodels/es; re-run the same command
to continue after a kill; a finished run is skipped unless --redo. controller.ensemble (ours, not
the paper's): other world models with the same V; each candidate's trials are split evenly over
M's dream and theirs (dream.ensemble_rollouts); the real game and the --eval dream score use M alone.
controller.init_from (ours): a controller's params (best.npz or mean.npz of another run of the same
world model and controller.inputs, e.g. one trained in the dream) where CMA-ES's mean starts instead
of zeros: a warm start. A z controller also starts a zh run: the same policy, zeros on M's state.
In the real game each generation's history records its real steps.

--eval: controller.real_eval_episodes real episodes (capped by the env at env.max_steps) with
fixed seeds EVAL_SEED + cfg.seed * 10_000 + j, distinct from the data-collection seeds
(cfg.seed * 1_000_000 + i, stage 01), played in lock-step blocks of EVAL_BLOCK episodes by
index. CarRacing's --eval always plays gymnasium's own CarRacing-v3 (env.fast_render and
env.no_progress_steps only shape training). Where M can score a controller in its dream (Doom;
CarRacing with a reward head) the same controller's dream score over as many dream rollouts is
written too (the paper's "virtual score" beside the "actual score").

MPI (MPICH from PyPI, no extra flags needed, also as root): `mpiexec -n N` makes rank 0 the
orchestrator and N-1 ranks workers (on 2 cores: -n 3). Every process uses one BLAS thread (set
OPENBLAS_NUM_THREADS to override); workers keep the world model, initial z and games between
tasks. The same seed gives the same results for any N and any controller.chunk (worldmodels/dream.py's
docstring states the guarantee exactly; the real game builds it the same way: one batch per
candidate, its running trials, see Fitness; --eval: blocks of episodes fixed by index).
controller.task_timeout: a task that runs longer on its worker (a hung worker) ends the run,
naming the worker; re-run the command to resume.

Evaluation files are named by what differs from the controller's own config ({out}/config.yaml,
written by training; for older runs without one, the run's config.yaml for the seed and env keys):
eval_real.json (eval_dream.json, eval_random.json) with the same seed, env.* (but those two) and
controller.{real_eval_episodes, temperature, max_steps}; otherwise each differing key is appended,
e.g. `--eval seed=4242` writes eval_real-seed4242.json beside the shipped record. An existing file of
the same settings, controller and world model is kept (done already); --redo evaluates it again.
--check plays it again without touching the record: it writes eval_real-check.json beside it and says
whether the scores are the recorded ones, episode for episode. The real-game agent computes in
controller.arithmetic (float64 rounded to float32 where values leave a step: the same episodes on any
x86-64 CPU); a record of the same controller played in another arithmetic (older records: float32) is
kept beside the new one as eval_real-float32.json.

Reads  {run_dir}/world_model.npz (stage 04), {run_dir}/initial_z.npz (stage 03; dream mode, dream score)
Writes {out}/history.json, best.npz (the shipped C: best-evaluated mean), mean.npz, config.yaml (the
       resolved config of the training run), eval_real.json, eval_random.json, eval_dream.json;
       checkpoint {data_dir}/ckpt/controller.pkl. {out} is {run_dir}/controller, "controller" being
       controller.dir: give each temperature its own, e.g. controller.dir=tau0.50
"""
import atexit
import hashlib
import json
import os
import time

# One BLAS thread per process (parallelism comes from MPI ranks): OpenBLAS's threads slow these
# small matmuls down (bench/dream_throughput.py --threads measures it).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from worldmodels import config  # noqa: E402
from worldmodels.run import Run  # noqa: E402
from worldmodels import es  # noqa: E402
from worldmodels.storage import fileio  # noqa: E402
from worldmodels.storage.fileio import file_sha1  # noqa: E402
from worldmodels.npmodels import record_arithmetic  # noqa: E402

STAGE = "05_train_controller"
EVAL_SEED = 1_500_000_000  # real/dream evaluation episodes: far from the data seeds (< 1e6 * seed + 1e4)
EVAL_BLOCK = 10  # --eval: real episodes played in lock-step by one worker (blocks by episode index)
_CACHE = {}  # per process (rank 0 in-process, or each MPI worker): world model, initial z, game


# ----------------------------------------------------------------------------- inputs
def paths(cfg):
    run = Run(cfg)
    return {"wm": run.world_model, "init": run.initial_z, "out": run.controller(), "ckpt": run.controller_checkpoint()}


def require(path, stage):
    if not os.path.exists(path):
        raise fileio.DataError(f"{path}: not found; run {stage} first")


def cached(key, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def world_model(path, sha1=None):
    """The world model in `path` (loaded once per process while the file is unchanged); with `sha1`,
    a DataError unless the file still has that hash: a run trains and scores on one world model."""
    from worldmodels import npmodels

    def load():
        if sha1 is not None and (now := file_sha1(path)) != sha1:
            raise fileio.DataError(f"{path} changed during the run (sha1 {sha1[:12]} at its start, {now[:12]} "
                                     "now): stopped, so that its record names the one world model it used; "
                                     "restore the file, or start a run of the new one (--redo or another "
                                     "controller.dir)")
        return npmodels.WorldModel.load(path)
    return cached(("wm", path, os.path.getmtime(path), sha1), load)


def initial_z(path, z_size):
    from worldmodels import dream
    return cached(("init", path, os.path.getmtime(path)), lambda: dream.load_initial_z(path, z_size))


def games(cfg, training, n):
    """n real games, made once per process (more are added when more are asked for) and closed at
    exit; training=True lets env.no_progress_steps end episodes early (never in --eval). Doom: each
    is its own ViZDoom engine."""
    from worldmodels import envs
    made = cached(("envs", cfg.experiment, training, json.dumps(cfg.env, sort_keys=True)), list)
    while len(made) < n:
        env = envs.make_env(cfg, training=training)
        atexit.register(env.close)
        made.append(env)
    return made[:n]


# ----------------------------------------------------------------------------- rollouts
def real_episodes(envs_, policy, seeds, max_steps):
    """One episode per env, with its seed, played in lock-step: each step policy(frames, rows) gets
    the frames of the rows still running (ascending) and returns their actions. Each episode ends
    as it would alone (terminated, truncated, or after max_steps). Returns the total rewards and
    the steps each episode took."""
    obs = [env.reset(seed=int(seed))[0] for env, seed in zip(envs_, seeds)]
    totals = [0.0] * len(obs)
    lengths = [0] * len(obs)
    running = list(range(len(obs)))
    for _ in range(max_steps):
        if not running:
            break
        actions = policy(np.stack([obs[i] for i in running]), running)
        still = []
        for i, action in zip(running, actions):
            obs[i], reward, terminated, truncated, _ = envs_[i].step(action)
            totals[i] += reward
            lengths[i] += 1
            if not (terminated or truncated):
                still.append(i)
        running = still
    return np.array(totals), np.array(lengths)


class Fitness:
    """The evaluation worldmodels.es calls: (params (k, n), seeds (k,), trials) -> rewards (k, trials), and
    in the real game also the steps each episode took (worldmodels.es records a generation's real steps).

    Small and picklable (the config as a dict): it is sent with every task; what is heavy is
    loaded once per process (see `cached`). mode "dream": dream.dream_rollouts with one seed per
    candidate. mode "real": trial t of a candidate with seed s is the game with seed s + t, its
    encoder noise from numpy.random.default_rng([s, t]); a candidate's trials play in lock-step
    (real_episodes), one game each, with npmodels.Agents: one batch per candidate, its running
    trials, so that a candidate's rewards depend on its (params, seed) alone, for any number of
    workers and chunk (as in the dream). policy "controller" (V + M + C) or "random" (a uniformly
    random action each step, as the paper's random-policy baseline; params ignored).
    training=True (CMA-ES's fitness, not --eval) lets env.no_progress_steps end real episodes early.
    blocks=True (--eval): a row of seed s is a block of `trials` consecutive episodes, seeds s + t,
    each with the noise default_rng([s + t, 0]) that a one-trial row of seed s + t would use.
    group (dream): candidates that share each matmul (dream.dream_rollouts; es.evaluate keeps them
    in one task); --eval's dream score keeps 1, a matmul per rollout.
    """

    def __init__(self, cfg, mode, policy="controller", max_steps=None, ensemble=False, training=False, blocks=False,
                 group=1):
        self.cfg, self.mode, self.policy, self.ensemble = cfg.to_dict(), mode, policy, ensemble
        self.training, self.blocks, self.group = training, blocks, group
        self.max_steps = max_steps or cfg.controller.max_steps
        # the world model this run plays with: every process checks that it still is (world_model)
        wm = paths(cfg)["wm"]
        self.wm_sha1 = file_sha1(wm) if (mode == "dream" or policy == "controller") and os.path.exists(wm) else None

    def __call__(self, params, seeds, trials):
        cfg = config.Config(self.cfg)
        p = paths(cfg)
        if self.mode == "dream":
            from worldmodels import dream
            wm = world_model(p["wm"], self.wm_sha1)
            mu, logvar = initial_z(p["init"], wm.z_size)
            if self.ensemble and cfg.controller.ensemble:  # trials split over M and the other dreams
                wms = [wm] + [world_model(path) for path in cfg.controller.ensemble]
                return dream.ensemble_rollouts(wms, mu, logvar, params, trials, cfg.controller.temperature,
                                               self.max_steps, seed=[int(s) for s in seeds],
                                               inputs=cfg.controller.inputs, group=self.group)
            return dream.dream_rollouts(wm, mu, logvar, params, trials, cfg.controller.temperature,
                                        self.max_steps, seed=[int(s) for s in seeds], inputs=cfg.controller.inputs,
                                        group=self.group)
        from worldmodels import npmodels
        envs_ = games(cfg, self.training, trials)
        wm = world_model(p["wm"], self.wm_sha1) if self.policy == "controller" else None
        low, high = envs_[0].action_space.low, envs_[0].action_space.high
        out = np.zeros((len(params), trials))
        steps = np.zeros((len(params), trials), dtype=np.int64)
        for i, (theta, seed) in enumerate(zip(params, seeds)):
            seed = int(seed)
            rngs = [np.random.default_rng([seed + t, 0] if self.blocks else [seed, t]) for t in range(trials)]
            if self.policy == "random":  # uniform each step: the paper's random-policy row
                def policy(frames, rows, rngs=rngs):
                    return [rngs[r].uniform(low, high).astype(np.float32) for r in rows]
            else:
                agents = npmodels.Agents(wm, theta, rngs, cfg.controller.inputs, cfg.controller.arithmetic)
                policy = agents.act
            out[i], steps[i] = real_episodes(envs_, policy, [(seed + t) % 2**31 for t in range(trials)],
                                             self.max_steps)
        return out, steps


# ----------------------------------------------------------------------------- train / eval
def check_world_model(cfg, p, need_init):
    from worldmodels import npmodels
    require(p["wm"], "04_train_rnn.py")
    wm = world_model(p["wm"])
    if wm.experiment != cfg.experiment or wm.z_size != cfg.vae.z_size or wm.hidden != cfg.rnn.hidden:
        raise fileio.DataError(f"{p['wm']}: a {wm.experiment} world model with z={wm.z_size}, hidden={wm.hidden}; "
                                 f"the config wants {cfg.experiment}, z={cfg.vae.z_size}, hidden={cfg.rnn.hidden}")
    if need_init:
        require(p["init"], "03_generate_rnn_data.py")
        initial_z(p["init"], wm.z_size)
    return wm, npmodels.Controller(cfg.experiment, wm.z_size, wm.hidden, cfg.controller.inputs)


def check_ensemble(cfg, wm_path):
    """controller.ensemble: other world models whose dreams share each candidate's trials (ours).

    Each must exist and match the run's world model in game, sizes and V (the encoder's weights,
    so that z means the same in every dream); the trials must split evenly. Returns their sha1s.
    """
    paths_ = list(cfg.controller.ensemble)
    if not paths_:
        return []
    if cfg.controller.mode != "dream" or cfg.controller.trials % (len(paths_) + 1):
        raise fileio.DataError(f"controller.ensemble needs controller.mode=dream and controller.trials "
                                 f"({cfg.controller.trials}) a multiple of {len(paths_) + 1} (M + the ensemble)")
    from worldmodels import npmodels

    def encoder(path):
        return {k: v for k, v in npmodels.read_world_model(path)[1].items() if k.startswith("enc_")}
    enc = encoder(wm_path)
    own = world_model(wm_path)
    for path in paths_:
        require(path, "04_train_rnn.py")
        other = world_model(path)
        if (other.experiment, other.z_size, other.hidden, other.predict_done, other.predict_reward) != \
                (own.experiment, own.z_size, own.hidden, own.predict_done, own.predict_reward):
            raise fileio.DataError(f"{path}: a {other.experiment} world model with z={other.z_size}, "
                                     f"hidden={other.hidden}; {wm_path} has {own.experiment}, z={own.z_size}, "
                                     f"hidden={own.hidden}")
        other_enc = encoder(path)
        if sorted(other_enc) != sorted(enc) or any(not np.array_equal(other_enc[k], v) for k, v in enc.items()):
            raise fileio.DataError(f"{path}: its V (encoder) differs from {wm_path}'s; an ensemble "
                                     "needs one V so that z means the same in every dream")
    return [file_sha1(path) for path in paths_]


def train(cfg, args, executor):
    p = paths(cfg)
    c = cfg.controller
    if c.mode not in ("dream", "real"):
        raise SystemExit(f"[{STAGE}] controller.mode must be dream or real, got {c.mode!r}")
    wm, controller = check_world_model(cfg, p, need_init=False)
    n_params = controller.size
    from worldmodels import dream
    if c.mode == "dream" and dream.reward_source(wm) is None:
        head = "reward" if cfg.experiment == "carracing" else "done"
        raise SystemExit(f"[{STAGE}] {p['wm']} has no {head} head (rnn.predict_{head}=false), so the dream pays "
                         f"no reward; train M with rnn.predict_{head}=true (stage 04), or C with controller.mode=real")
    if c.mode == "dream":
        check_world_model(cfg, p, need_init=True)
    ensemble = check_ensemble(cfg, p["wm"])
    fileio.check_writable(p["out"], os.path.dirname(p["ckpt"]))
    fileio.RunLock(p["out"], STAGE).acquire()  # one writer per controller folder
    fileio.remove_stale_tmp(p["out"])  # what a killed write left
    fileio.remove_stale_tmp(os.path.dirname(p["ckpt"]), prefix=os.path.basename(p["ckpt"]))
    settings = es.Settings.from_config(c, cfg.seed)
    where = f"in the dream (tau={c.temperature})" if c.mode == "dream" else "in the real game"
    workers = f"{es.mpi_size() - 1} MPI workers" if executor is not None else "1 process"
    form = "" if c.inputs == "zh" else f" (inputs={c.inputs})"
    print(f"[{STAGE}] {cfg.name}: {n_params:,} controller params{form}, {where}, population {c.population} x "
          f"{c.trials} trials, {c.generations} generations, {workers}", flush=True)
    meta = {"experiment": cfg.experiment, "mode": c.mode, "temperature": c.temperature, "max_steps": c.max_steps,
            "z_size": wm.z_size, "hidden": wm.hidden, "config": cfg.config_names}
    identity = {"world_model_sha1": file_sha1(p["wm"]), "mode": c.mode, "temperature": c.temperature,
                "max_steps": c.max_steps}
    if c.inputs != "zh":  # only then, so that runs made before this key resume as they were
        meta["inputs"] = identity["inputs"] = c.inputs
    if c.mode == "real" and c.arithmetic != "float32":  # as above: older real-game runs computed in float32
        meta["arithmetic"] = identity["arithmetic"] = c.arithmetic
    x0 = None
    if c.init_from:  # only then, so that runs made before this key resume as they were
        try:
            x0 = controller.load(c.init_from, widen=True)  # checks its form (controller.inputs) and size
        except (FileNotFoundError, ValueError, fileio.DataError) as e:
            raise SystemExit(f"[{STAGE}] controller.init_from: {e}") from None
        meta["init_from"], identity["init_sha1"] = c.init_from, file_sha1(c.init_from)
        from worldmodels.npmodels import saved_inputs
        form = " (a z controller: zeros on M's state)" if saved_inputs(c.init_from) != c.inputs else ""
        print(f"[{STAGE}] CMA-ES starts from {c.init_from}{form} (a warm start)", flush=True)
    if ensemble:  # only then, so that runs made before this key resume as they were
        meta["ensemble"] = list(c.ensemble)
        identity["ensemble_sha1"] = ensemble
        print(f"[{STAGE}] each candidate's {c.trials} trials split over {len(ensemble) + 1} dreams: "
              f"{p['wm']}, {', '.join(c.ensemble)}", flush=True)
    state = es.train(Fitness(cfg, c.mode, ensemble=True, training=True, group=settings.group), n_params, settings, p["ckpt"], p["out"],
                     executor, redo=args.redo, meta=meta, identity=identity, params_meta={"inputs": c.inputs}, x0=x0)
    config.save(cfg, p["out"], STAGE)  # this controller's config, beside its outputs (once they are written)
    best = state["best_eval"]
    if best is None:  # controller.generations=0: the start alone (e.g. a warm start's mean.npz)
        print(f"[{STAGE}] generation 0: no controller scored yet -> {os.path.join(p['out'], 'mean.npz')}")
        return
    print(f"[{STAGE}] generation {state['generation']}: shipped controller = mean at generation "
          f"{best['generation']}, scored {best['mean']:.1f} +- {best['std']:.1f} over {best['episodes']} "
          f"{c.mode} rollouts -> {os.path.join(p['out'], 'best.npz')}")


def score(scores, **info):
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    return dict(info, episodes=int(scores.size), mean=float(scores.mean()), std=float(scores.std()),
                min=float(scores.min()), max=float(scores.max()), scores=scores.tolist())


EVAL_KEYS = ("seed", "controller.real_eval_episodes", "controller.temperature", "controller.max_steps")


def eval_suffix(cfg, p):
    """"" when the evaluation settings (seed, env.*, EVAL_KEYS) are the controller's own (its
    config.yaml; for runs made before it was written, the run's config.yaml for seed and env.*),
    else the differing keys and values, e.g. "-seed4242-env_max_steps500"."""
    own = os.path.join(p["out"], "config.yaml")
    ref = own if os.path.exists(own) else os.path.join(Run(cfg).results, "config.yaml")
    if not os.path.exists(ref):
        return ""
    keys = EVAL_KEYS if ref == own else ("seed",)
    diff = config.differences(ref, cfg)
    return "".join(f"-{k.replace('controller.', '').replace('.', '_')}{new}" for k, (_, new) in diff.items()
                   if k in keys or (k.startswith("env.") and k not in EVAL_IGNORES))


# env keys that cannot change a --eval score: it always plays whole episodes of the stock game
EVAL_IGNORES = ("env.fast_render", "env.no_progress_steps")


def judge(cfg):
    """The config --eval plays: CarRacing on gymnasium's own CarRacing-v3 (env.fast_render=false),
    the judge of every reported score; the fast env, bit-identical to it, only trains."""
    cfg = config.Config(cfg.to_dict())
    cfg.env["fast_render"] = False
    return cfg


def evaluate(cfg, args, executor):
    from worldmodels import dream
    p = paths(cfg)
    c = cfg.controller
    n = c.real_eval_episodes
    seeds = EVAL_SEED + cfg.seed * 10_000 + np.arange(n)
    if args.random:
        fn, params_path, params = Fitness(judge(cfg), "real", "random", cfg.env.max_steps, blocks=True), None, np.zeros(1)
        out_name = "eval_random"
    else:
        wm, controller = check_world_model(cfg, p, need_init=False)
        if dream.reward_source(wm):  # the dream score is written too
            check_world_model(cfg, p, need_init=True)
        default = os.path.join(p["out"], "best.npz")
        params_path = args.params or default
        if not os.path.exists(params_path):
            raise fileio.DataError(f"{params_path}: controller not found; run 05_train_controller.py "
                                     "(without --eval) first, or give --params PATH")
        try:
            params = controller.load(params_path)
        except (ValueError, fileio.DataError) as e:
            raise fileio.DataError(str(e)) from None
        fn = Fitness(judge(cfg), "real", "controller", cfg.env.max_steps, blocks=True)
        same = os.path.abspath(params_path) == os.path.abspath(default)
        out_name = "eval_real" if same else f"eval_real_{os.path.splitext(os.path.basename(params_path))[0]}"
    out_name += eval_suffix(cfg, p)
    record = os.path.join(p["out"], out_name + ".json")
    out_name += ("-check" if args.check else "") + ".json"  # a re-check is written beside the record
    out_path = os.path.join(p["out"], out_name)
    fileio.check_writable(p["out"])  # before playing any episode
    fileio.RunLock(p["out"], STAGE + " --eval").acquire()  # one writer per controller folder
    sha = hashlib.sha1(np.asarray(params, np.float64).tobytes()).hexdigest()
    info = dict(policy="random" if args.random else "controller", params=params_path, params_sha1=sha,
                world_model_sha1=None if args.random else file_sha1(p["wm"]), seeds=seeds.tolist(),
                max_steps=cfg.env.max_steps, config=cfg.name,
                env="gymnasium CarRacing-v3" if cfg.experiment == "carracing" else "ViZDoom take_cover")
    if not args.random:
        info["arithmetic"] = c.arithmetic
    old = fileio.read_json(out_path, required=False) if not args.redo else None  # DataError if damaged
    if old is not None and set_aside(out_path, old, info):
        old = None
    if old is not None and not args.check:
        if same_evaluation(old, info):
            print(f"[{STAGE}] done already: {out_path} ({old['mean']:.1f} +- {old['std']:.1f}; --redo to redo)")
            return
        print(f"[{STAGE}] {out_path} holds an evaluation of another controller or world model: evaluating again")
    print(f"[{STAGE}] {cfg.name}: {n} real episodes of the {info['policy']} policy"
          + (f" ({params_path})" if params_path else ""), flush=True)
    t0 = time.time()
    rewards = real_eval(fn, params, seeds, executor, c.task_timeout)
    result = score(rewards, seconds=time.time() - t0, **info)
    es.save_json(out_path, result)
    print(f"[{STAGE}] real game: {result['mean']:.1f} +- {result['std']:.1f} over {n} episodes -> {out_path}")
    if args.check:
        compare_with_record(result, record)
    if not args.random and dream.reward_source(wm):  # the "virtual score" of the same controller
        dream_path = os.path.join(p["out"], out_name.replace("eval_real", "eval_dream"))
        dream_info = {k: v for k, v in info.items() if k != "arithmetic"}  # the dream computes in float32
        if os.path.exists(dream_path) and not (args.redo or args.check):
            old = fileio.read_json(dream_path)  # DataError naming a damaged record
            if same_evaluation(old, dream_info) and old.get("temperature") == c.temperature:
                print(f"[{STAGE}] dream: done already: {dream_path} ({old['mean']:.1f} +- {old['std']:.1f})")
                return
        t0 = time.time()
        dream_fn = Fitness(cfg, "dream", max_steps=c.max_steps)
        rewards = es.evaluate(dream_fn, np.tile(params, (n, 1)), seeds, 1, executor, chunk=0, timeout=c.task_timeout)
        result = score(rewards, seconds=time.time() - t0, temperature=c.temperature, **dream_info)
        es.save_json(dream_path, result)
        print(f"[{STAGE}] dream (tau={c.temperature}): {result['mean']:.1f} +- {result['std']:.1f} "
              f"over {n} rollouts -> {dream_path}")
        if args.check:
            compare_with_record(result, record.replace("eval_real", "eval_dream"))


def same_evaluation(old, info):
    """Whether a record holds this evaluation: the same controller, world model, episodes and cap."""
    return all(old.get(k) == info[k] for k in ("params_sha1", "world_model_sha1", "seeds", "max_steps"))


def set_aside(path, old, info):
    """A record `old` at `path` of the same controller played in another arithmetic is a result of its
    own: it moves to NAME-<its arithmetic>.json (never over a file), and the new one will take its
    place. Returns whether it moved."""
    mine, theirs = info.get("arithmetic"), record_arithmetic(old)
    if mine is None or theirs == mine or old.get("params_sha1") != info["params_sha1"]:
        return False
    aside = f"{os.path.splitext(path)[0]}-{theirs}.json"
    if os.path.exists(aside):
        raise fileio.DataError(f"{path} holds a {theirs} record and {aside} exists too: move one of them "
                                 f"away, or --redo to replace {path}")
    os.replace(path, aside)
    print(f"[{STAGE}] {path} was played in {theirs}: kept as {aside}")
    return True


def real_eval(fn, params, seeds, executor, timeout):
    """Rewards of one controller over the episodes of `seeds` (consecutive), played in blocks of
    EVAL_BLOCK episodes by index (the last one shorter): one task per block, whose episodes play in
    lock-step (Fitness(blocks=True)); the blocks are the same for any number of workers."""
    n, parts = len(seeds), []
    full = n // EVAL_BLOCK
    if full:
        parts.append(es.evaluate(fn, np.tile(params, (full, 1)), seeds[:full * EVAL_BLOCK:EVAL_BLOCK], EVAL_BLOCK,
                                 executor, chunk=1, timeout=timeout))
    if n % EVAL_BLOCK:
        parts.append(es.evaluate(fn, np.tile(params, (1, 1)), seeds[full * EVAL_BLOCK:][:1], n % EVAL_BLOCK,
                                 executor, chunk=1, timeout=timeout))
    return np.concatenate([part.reshape(-1) for part in parts])


def compare_with_record(result, record):
    """--check: say whether a fresh evaluation gave the recorded scores, episode for episode."""
    old = fileio.read_json(record, required=False)
    if old is None:
        print(f"[{STAGE}] no record to compare with: {record} does not exist")
    elif old.get("params_sha1") != result["params_sha1"] or old.get("seeds") != result["seeds"]:
        print(f"[{STAGE}] {record} records another controller or other episodes: not compared")
    elif record_arithmetic(old) != record_arithmetic(result):
        print(f"[{STAGE}] {record} was played in {record_arithmetic(old)}, this check in {record_arithmetic(result)}: "
              "not compared (controller.arithmetic)")
    elif old["scores"] == result["scores"]:
        print(f"[{STAGE}] the same {len(old['scores'])} scores as the record {record}: {old['mean']:.1f} +- {old['std']:.1f}")
    else:
        same = sum(a == b for a, b in zip(old["scores"], result["scores"]))
        print(f"[{STAGE}] differs from the record {record} ({old['mean']:.1f} +- {old['std']:.1f}): {same} of "
              f"{len(old['scores'])} episodes equal" + ("" if record_arithmetic(old) == "float64" else
                  " (in float32 another CPU or BLAS build gives another, equally valid, draw)"))


def main(executor):
    parser = config.parser(__doc__)
    parser.add_argument("--eval", action="store_true", help="score a controller in the real game")
    parser.add_argument("--random", action="store_true", help="with --eval: the random policy instead")
    parser.add_argument("--params", metavar="PATH", help="with --eval: this params .npz instead of best.npz")
    parser.add_argument("--check", action="store_true",
                        help="with --eval: play again, write eval_*-check.json beside the record and compare")
    args = parser.parse_args()
    if (args.random or args.params or args.check) and not args.eval:
        parser.error("--random, --params and --check go with --eval")
    cfg = config.from_args(args)
    try:
        (evaluate if args.eval else train)(cfg, args, executor)
    except (fileio.DataError, es.EvaluationError) as e:
        raise SystemExit(f"[{STAGE}] error: {e}")


def cli():
    """The command line: `python 05_train_controller.py --help`."""
    es.run_main(main)
