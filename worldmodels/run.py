"""Where a run's files live: the one place that spells out a run's layout.

    run = Run(cfg)                       # cfg: a loaded config (config.load / config.from_args)
    run.results, run.data, run.rollouts  # results/<name>/, data/<name>/, stage 01's episodes
    run.world_model, run.initial_z       # stage 04's V + M in numpy, stage 03's dream start states
    run.controller()                     # results/<name>/<controller.dir>/ (or run.controller("tau1.15"))
    Run.agent_world_model("results/doom/tau1.15/best.npz")   # the V + M a controller was trained on

results/<name>/  config.yaml; 02: vae.weights.h5 (+ discriminator.weights.h5), vae_history.json, vae.done.json; 03: initial_z.npz;
                 04: rnn.weights.h5, rnn_history.json, world_model.npz, rnn.done.json; 06: results.md,
                 metrics.json, figures/; 05: <controller.dir>/ with history.json, best.npz, mean.npz,
                 config.yaml, eval_*.json
data/<name>/     rollouts/ (01; or data.rollouts_dir, shared by several runs), series/ (03),
                 ckpt/vae/, ckpt/rnn/, ckpt/<controller.dir>.pkl (training checkpoints)
"""
import os

from worldmodels import config


class Run:
    def __init__(self, cfg, name=None):
        """The run cfg.name, or the run `name` under the same roots (e.g. another round's)."""
        self.cfg = cfg
        self.results = config.run_dir(cfg, name)
        self.data = config.data_dir(cfg, name)
        self.rollouts = config.rollouts_dir(cfg, name)
        self.series = os.path.join(self.data, "series")
        self.vae_weights = os.path.join(self.results, "vae.weights.h5")
        self.vae_history = os.path.join(self.results, "vae_history.json")
        self.vae_done = os.path.join(self.results, "vae.done.json")
        self.discriminator_weights = os.path.join(self.results, "discriminator.weights.h5")  # VAE-GAN
        self.initial_z = os.path.join(self.results, "initial_z.npz")
        self.rnn_weights = os.path.join(self.results, "rnn.weights.h5")
        self.rnn_history = os.path.join(self.results, "rnn_history.json")
        self.rnn_done = os.path.join(self.results, "rnn.done.json")
        self.world_model = os.path.join(self.results, "world_model.npz")

    @property
    def widths(self):
        """{key: width} the run's episodes must have (storage.episodes checks them): the game's
        action size, V's z size for mu and logvar."""
        return {"action": config.ACTION_SIZE[self.cfg.experiment], "mu": self.cfg.vae.z_size,
                "logvar": self.cfg.vae.z_size}

    def checkpoint(self, part):
        """A training checkpoint's folder ("vae", "rnn") under data/<name>/ckpt/."""
        return os.path.join(self.data, "ckpt", part)

    def controller(self, name=None):
        """A controller's folder: results/<name>/<controller.dir> (or the folder `name`)."""
        return os.path.join(self.results, name or self.cfg.controller.dir)

    def controller_checkpoint(self, name=None):
        """Stage 05's CMA-ES checkpoint of a controller: data/<name>/ckpt/<controller.dir>.pkl."""
        return self.checkpoint((name or self.cfg.controller.dir) + ".pkl")

    @staticmethod
    def agent_world_model(params_path):
        """The world model a controller's params were trained on: results/<run>/world_model.npz
        for results/<run>/<controller.dir>/<params>.npz."""
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(params_path))), "world_model.npz")
