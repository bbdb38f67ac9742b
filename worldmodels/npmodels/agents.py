"""The agent of the real games: V + M + C acting in n games at once (numpy)."""
import numpy as np

from worldmodels.config import ARITHMETICS  # the config schema's words for the agent's arithmetic
from worldmodels.npmodels.controller import Controller
from worldmodels.npmodels.world_model import WorldModel


# ----------------------------------------------------------------------------- agent for the real game
class Agents:
    """V + M + C acting in n real games at once, one frame of each per step (the paper's rollout
    loop, batched over the games): the one definition of the agent; `Agent` is one game.

    act(frames, rows): for each acting row, z = mu + exp(logvar / 2) * eps from the encoder (as the
    original sampled it), the action from C's features (inputs "zh": [z, h], Doom [z, c, h]), then M
    advances with (z, action, restart), restart being 1 on a row's first step after reset. A C that
    reads no M state (inputs "z", "z_hidden") never runs M: h and c stay zero. params=None gives
    zero actions (for timing). act(frames, rows, override) plays the actions given instead of C's
    and M advances with them.

    rngs: one numpy Generator per row; a row draws its encoder noise (standard_normal((1, Z)) per
    step) from its own, so its stream does not depend on the other rows. rows: the acting rows in
    ascending order (default: all), e.g. the games still running. Every matmul (V's convolutions,
    C, M) is one call over the acting rows: a row's result depends only on which rows act with it.
    Where a batch is one candidate's trials, the calls depend on that candidate alone (the
    determinism of 05_train_controller.py's real game, built as worldmodels/dream.py's). The results of n rows
    match n one-row agents to float tolerance, not bit for bit (BLAS sums in another order when a
    call has more rows).

    arithmetic "float32" computes as above. "float64" (the default): V, M and C compute in float64
    from the float32 weights, and every value that leaves a step is rounded to float32: z, the
    action, M's state (h, c). A sum taken in another order (another CPU's BLAS or SIMD kernels,
    another batch of rows) differs in float64's last bits, far below float32's, so the rounded
    values, and so the episodes, are the same on any x86-64 CPU except in the rare case where a
    value lies within that difference of a float32 rounding boundary (tests/test_arithmetic.py
    changes the arithmetic path and requires identical episodes).
    """

    def __init__(self, world_model, params, rngs, inputs="zh", arithmetic="float64"):
        if arithmetic not in ARITHMETICS:
            raise ValueError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
        self.wm = world_model if isinstance(world_model, WorldModel) else WorldModel.load(world_model)
        self.calc = self.wm.as_dtype(arithmetic)  # the world model computing in the agent's arithmetic
        self.rngs = list(rngs)
        self.n = len(self.rngs)
        self.controller = Controller(self.wm.experiment, self.wm.z_size, self.wm.hidden, inputs)
        self.layers = None if params is None else self.controller.unpack(np.asarray(params).reshape(-1),
                                                                          self.calc.dtype)
        self.reset()

    def reset(self):
        """Every row starts an episode: zero LSTM state (float32), restart = 1 on its next step."""
        self.h, self.c = self.wm.as_dtype(np.float32).initial_state(self.n)
        self.restart = np.ones(self.n, np.float32)

    def act(self, frames, rows=None, override=None):
        """uint8 frames (len(rows), 64, 64, 3) of the acting rows -> actions (len(rows), A) float32."""
        rows = np.arange(self.n) if rows is None else np.asarray(rows, np.intp).reshape(-1)
        dt = self.calc.dtype
        mu, logvar = self.calc.encode(np.asarray(frames, np.uint8))
        if len(mu) != len(rows):
            raise ValueError(f"{len(mu)} frames for {len(rows)} acting rows")
        eps = np.concatenate([self.rngs[i].standard_normal((1, self.wm.z_size)) for i in rows]).astype(dt)
        z = (mu + np.exp(logvar / 2.0) * eps).astype(np.float32)  # rounded where it leaves V
        if override is not None:  # C is not asked: the actions played are given
            action = np.asarray(override, np.float32).reshape(len(rows), self.wm.action_size)
        elif self.layers is None:
            action = np.zeros((len(rows), self.wm.action_size), np.float32)
        else:
            features = self.controller.features(z, self.h[rows], self.c[rows], dt)
            action = self.controller.act(self.layers, features).astype(np.float32)  # rounded: leaves C
        if self.controller.needs_m:  # M's state is kept in float32 (rounded as it is stored)
            self.h[rows], self.c[rows] = self.calc.step(z, action, self.restart[rows], self.h[rows], self.c[rows])
        self.restart[rows] = 0.0
        return action


class Agent(Agents):
    """V + M + C acting in one real game, one frame at a time: `Agents` with one row.

    act(frame) -> action (A,); act(frame, action) plays `action` instead of C's (exploration when
    collecting data) and M advances with it. h, c: M's state, (1, hidden).
    """

    def __init__(self, world_model, params, rng=None, inputs="zh", arithmetic="float64"):
        super().__init__(world_model, params, [rng if rng is not None else np.random.default_rng()], inputs,
                         arithmetic)

    @property
    def rng(self):
        return self.rngs[0]

    def act(self, frame, override=None):
        return super().act(np.asarray(frame, np.uint8)[None], override=override)[0]
