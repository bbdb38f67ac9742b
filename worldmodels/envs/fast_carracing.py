"""A faster gymnasium CarRacing-v3 whose frames, rewards and episode ends are bit-identical to stock.

    env = fast_carracing.FastCarRacing(continuous=True)   # as gymnasium.make("CarRacing-v3", continuous=True).unwrapped
    obs, info = env.reset(seed=1)

The stock gymnasium CarRacing-v3 (gymnasium 1.4.0, pygame-ce 2.5.8) is the judge of every score we
report: this class only renders the same picture with less Python. tests/test_fast_carracing.py plays
both side by side and requires every observation, reward, terminated and truncated to be equal;
bench/fast_carracing.py measures the speed-up and checks identity over full episodes. envs.CarRacing
uses it when cfg.env.fast_render is true.

Where the stock env spends a step (profiled with cProfile, random actions): ~70 % in
`_render_road`, which sends ~730 polygons one vertex at a time through `Vector2.rotate_rad` and a
bounding-box test, then draws the ~55 that the test keeps (about 15 of them reach the frame); then a
new 1000x800 surface, a new font and its text every step, a full-size flip, smoothscale to 96x96.
What is changed, and why it stays exact:
  * `_render_road`: the vertices of the background, the 400 grass squares and the road are
    rotated, zoomed and translated with numpy, with the same float64 operations in the same order
    (x*cos - y*sin, x*sin + y*cos, then *zoom + translation). cos and sin are taken from
    `Vector2(1, 0).rotate_rad(angle)`, so pygame's own angle reduction and its exact 0/90/180/270
    degree cases are used. The same bounding-box cull is applied vectorised, then the same
    `gfxdraw.aapolygon` + `gfxdraw.filled_polygon` calls are issued for the kept polygons, in the
    same order, with the same float coordinates. Tile colours are read live every frame (a tile
    turns road-coloured when the car first touches it).
  * `_render` for "state_pixels" (the observation): the surfaces are allocated once; the 42 pt
    score font is opened once; the rendered score text is cached by its string (it changes only
    when a tile is reached). The car, the indicators and the final smoothscale are stock code.
  * Work whose pixels never reach the observation is skipped: the canvas rows that the black
    indicator bar paints over after the flip (they are neither cleared nor filled), polygons that
    stock draws only because its cull keeps anything within ~380 px of the window, and the
    full-size flip: the canvas is shrunk to 96 columns first, then that is flipped and shrunk to 96
    rows, which are the same two smoothscale filters on the same rows. The background square is one
    fill where it covers the whole window with room to spare (its stock drawing then sets every pixel
    to its colour and nothing else). If an indicator ever reached above the bar (a wheel spinning
    over ~350 rad/s; not seen in 3000 test frames), the frame is flipped at full size as stock does.
Other render modes ("rgb_array", "human") use the stock `_render` with the fast `_render_road`.
After a state_pixels frame, self.surf is not the whole 1000x800 picture (stock leaves it there).
"""
import numpy as np
import pygame
from gymnasium.envs.box2d import car_racing
from pygame import gfxdraw

W, H = car_racing.WINDOW_W, car_racing.WINDOW_H
MARGIN = car_racing.MAX_SHAPE_DIM  # the stock cull: keep a polygon if any vertex is this close to the window
BAR = int(H - 5 * H / 40.0)  # after the flip, rows BAR.. are painted over by the stock black indicator bar
SHOWN = pygame.Rect(0, H - BAR, W, BAR)  # so only these canvas rows (before the flip) reach the frame
SLACK = 4.0  # pixels: a polygon's pixels lie within this of its vertices' bounding box
REACH = float(np.hypot(W / 2, BAR / 2)) + 4 * SLACK  # pixels: the shown area's half-diagonal, and slack
COVER_MARGIN = 8.0  # pixels: the background quad must clear the window by this much to be drawn as a fill
TEXT_CACHE_MAX = 4096  # distinct score strings kept (an episode sees a few hundred at most)


def grass_polygons():
    """The 400 grass squares of the stock `_render_road`, in its order: (400, 4, 2) float64."""
    d = car_racing.GRASS_DIM
    corners = np.array([(d, 0), (0, 0), (0, d), (d, d)], dtype=np.float64)
    origins = np.array([(d * x, d * y) for x in range(-20, 20, 2) for y in range(-20, 20, 2)], dtype=np.float64)
    return origins[:, None, :] + corners[None, :, :]


def field_polygon():
    b = car_racing.PLAYFIELD
    return np.array([(b, b), (b, -b), (-b, -b), (-b, b)], dtype=np.float64)


class FastCarRacing(car_racing.CarRacing):
    """gymnasium's CarRacing with a vectorised road renderer and cached text; same bits (module doc)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._grass = grass_polygons()
        self._road_src = None     # the road_poly list _world was built from
        self._world = None
        self._canvas = None
        self._font = None
        self._texts = {}

    # ------------------------------------------------------------------ road
    def _world_polygons(self):
        """(1 + 400 + n, 4, 2) float64: the background, the grass squares and the road polygons
        (tiles and kerbs), in the stock drawing order; rebuilt when reset() makes a new track."""
        if self._road_src is not self.road_poly or len(self._world) != 401 + len(self.road_poly):
            polys = [poly for poly, _ in self.road_poly]
            if any(len(p) != 4 for p in polys):  # never seen (tiles and kerbs are quads); stay correct
                return None
            road = np.array(polys, dtype=np.float64).reshape(len(polys), 4, 2)
            self._world = np.concatenate([field_polygon()[None], self._grass, road])
            self._centre = self._world.mean(axis=1)
            self._radius = np.sqrt(((self._world - self._centre[:, None]) ** 2).sum(-1)).max(axis=1)
            self._road_src = self.road_poly
        return self._world

    def _render_road(self, zoom, translation, angle):
        world = self._world_polygons()
        if world is None:
            return super()._render_road(zoom, translation, angle)
        cos, sin = pygame.math.Vector2(1.0, 0.0).rotate_rad(angle)  # exactly pygame's (cos, sin)
        tx, ty = translation
        # Candidates: polygons near the shown part of the window (a loose test in world coordinates
        # on their centres; it only saves work, the exact tests below decide).
        du, dv = (W / 2 - tx) / zoom, ((H - BAR + H) / 2 - ty) / zoom
        cx, cy = cos * du + sin * dv, cos * dv - sin * du  # the shown area's centre, in the world
        reach = REACH / zoom + np.sqrt(2.0) * self._radius  # bounding-box corners reach r * sqrt(2)
        near = (self._centre[:, 0] - cx) ** 2 + (self._centre[:, 1] - cy) ** 2 <= reach * reach
        near[0] = True  # the background (its transformed corners are needed below)
        cand = np.flatnonzero(near)
        x, y = world[cand, :, 0], world[cand, :, 1]  # the stock per-vertex arithmetic, vectorised:
        px = (cos * x - sin * y) * zoom + tx
        py = (sin * x + cos * y) * zoom + ty
        inside = (px >= -MARGIN) & (px <= W + MARGIN) & (py >= -MARGIN) & (py <= H + MARGIN)
        kept = inside.any(axis=1)  # the stock cull; the background is never culled (below)
        # Of what stock keeps, these draw nothing that reaches the frame: all their pixels (within
        # a pixel or two of the vertices' bounding box) are off the canvas or in the rows the bar
        # hides. Skipping them changes no pixel that is used.
        off = ((px.max(axis=1) < -SLACK) | (px.min(axis=1) > W + SLACK)
               | (py.max(axis=1) < H - BAR - SLACK) | (py.min(axis=1) > H + SLACK))
        keep = np.flatnonzero(kept[1:] & ~off[1:]) + 1
        shown = cand[keep]
        polys = np.stack([px[keep], py[keep]], axis=-1).tolist()

        if not self._fill_if_covered(zoom, tx, ty, cos, sin):
            self.surf.fill((0, 0, 0), SHOWN)  # as a fresh pygame.Surface: all zero
            self._poly(np.stack([px[0], py[0]], axis=-1).tolist(), self.bg_color)
        grass, road = self.grass_color, self.road_poly
        for i, pts in zip(shown.tolist(), polys):
            # colours read live: a tile changes colour when the car first touches it
            self._poly(pts, grass if i <= 400 else [int(c) for c in road[i - 401][1]])

    def _poly(self, pts, color):
        """The stock pair of calls; the fill is clipped to the rows that survive the bottom bar."""
        gfxdraw.aapolygon(self.surf, pts, color)
        self.surf.set_clip(SHOWN)
        gfxdraw.filled_polygon(self.surf, pts, color)
        self.surf.set_clip(None)

    def _fill_if_covered(self, zoom, tx, ty, cos, sin):
        """If the background square covers the whole window with COVER_MARGIN pixels to spare, its
        stock drawing (aapolygon: edges all off-screen, so nothing; filled_polygon: every pixel,
        opaque) is one fill with its colour: do that and return True."""
        color = self.bg_color
        if not all(float(c).is_integer() for c in color):
            return False
        limit = car_racing.PLAYFIELD - COVER_MARGIN / zoom
        for u, v in ((0.0, 0.0), (W, 0.0), (W, H), (0.0, H)):  # window corners back to world coordinates
            du, dv = (u - tx) / zoom, (v - ty) / zoom
            if abs(cos * du + sin * dv) >= limit or abs(cos * dv - sin * du) >= limit:
                return False
        self.surf.fill(tuple(int(c) for c in color), SHOWN)
        return True

    # ------------------------------------------------------------------ frame
    def _score_text(self):
        s = f"{self.reward:04.0f}"
        hit = self._texts.get(s)
        if hit is None:
            if self._font is None:
                self._font = pygame.font.Font(pygame.font.get_default_font(), 42)
            text = self._font.render(s, True, (255, 255, 255), (0, 0, 0))
            rect = text.get_rect()
            rect.center = (60, H - H * 2.5 / 40.0)
            if len(self._texts) >= TEXT_CACHE_MAX:
                self._texts.clear()
            hit = self._texts[s] = (text, rect)
        return hit

    def _render(self, mode):
        if mode != "state_pixels":
            return super()._render(mode)
        pygame.font.init()
        if "t" not in self.__dict__:
            return None  # reset() not called yet (as stock)
        if self._canvas is None:
            self._alloc()
        self.surf = self._canvas

        angle = -self.car.hull.angle
        zoom = 0.1 * car_racing.SCALE * max(1 - self.t, 0) + car_racing.ZOOM * car_racing.SCALE * min(self.t, 1)
        scroll = pygame.math.Vector2((-self.car.hull.position[0] * zoom,
                                      -self.car.hull.position[1] * zoom)).rotate_rad(angle)
        trans = (W / 2 + scroll[0], H / 4 + scroll[1])

        self._render_road(zoom, trans, angle)
        self.car.draw(self.surf, zoom, trans, angle, False)
        # stock: flip the canvas, draw the bar over its bottom rows, smoothscale the whole to 96x96
        if not self._indicators_stay_in_bar():  # rare: an indicator reaches up into the picture
            self.surf = self._flip_shown()
            self._render_indicators(W, H)
            self.surf.blit(*self._score_text())
            return self._create_image_array(self.surf, (car_racing.STATE_W, car_racing.STATE_H))
        self.surf = self._frame  # only its rows BAR.. are used: the bar is drawn over them whole
        self._render_indicators(W, H)
        self.surf.blit(*self._score_text())
        return self._create_image_array(self._narrow_frame(), (car_racing.STATE_W, car_racing.STATE_H))

    def _alloc(self):
        sw = car_racing.STATE_W
        self._canvas, self._frame = pygame.Surface((W, H)), pygame.Surface((W, H))
        self._narrow_top = pygame.Surface((sw, BAR))
        self._narrow_bar = pygame.Surface((sw, H - BAR))
        self._narrow = pygame.Surface((sw, H))

    def _indicators_stay_in_bar(self):
        """Whether every stock indicator polygon stays in the rows the bar covers: a vertical one
        spans rows H - (h + h * val) .. H - h with val 0.02 * speed or 0.01 * wheel omega."""
        car = self.car
        v = car.hull.linearVelocity
        vals = [0.02 * float(np.sqrt(np.square(v[0]) + np.square(v[1])))]
        vals += [0.01 * w.omega for w in car.wheels]
        return max(vals) < 3.5  # row H - 4.5 h = 710 > BAR = 700

    def _narrow_frame(self):
        """The stock frame (canvas flipped, bar below) shrunk to 96 columns, without the flip of the
        full-size canvas. smoothscale to 96x96 shrinks columns (each row on its own), then rows: so
        shrinking the columns first, flipping the 96-wide result and then shrinking the rows gives
        the same bits (pygame-ce's scalesmooth runs the same two filters through a buffer)."""
        sw = car_racing.STATE_W
        top = pygame.transform.smoothscale(self._canvas.subsurface(SHOWN), (sw, BAR), self._narrow_top)
        bar = pygame.transform.smoothscale(self._frame.subsurface((0, BAR, W, H - BAR)), (sw, H - BAR),
                                           self._narrow_bar)
        dst = np.frombuffer(self._narrow.get_buffer(), np.uint8).reshape(H, -1)
        np.copyto(dst[:BAR], np.frombuffer(top.get_buffer(), np.uint8).reshape(BAR, -1)[::-1])
        np.copyto(dst[BAR:], np.frombuffer(bar.get_buffer(), np.uint8).reshape(H - BAR, -1))
        del dst  # unlock
        return self._narrow

    def _flip_shown(self):
        """pygame.transform.flip(canvas, False, True) into the reused frame surface, rows 0..BAR-1
        only: the rest is painted over by the indicator bar (_render_indicators) right after."""
        src = np.frombuffer(self._canvas.get_buffer(), np.uint8).reshape(H, -1)
        dst = np.frombuffer(self._frame.get_buffer(), np.uint8).reshape(H, -1)
        np.copyto(dst[:BAR], src[:H - BAR - 1:-1])
        del src, dst  # unlock both surfaces
        return self._frame


# ---------------------------------------------------------------------- identity check (test + bench)
def stock_env(**kwargs):
    """The judge: gymnasium's own CarRacing-v3, continuous, unwrapped (no step cap of its own)."""
    import gymnasium as gym
    return gym.make("CarRacing-v3", continuous=True, max_episode_steps=None, **kwargs).unwrapped


def probe_actions(seed, steps, hold_max=10):
    """(steps, 3) float32 random actions: each held for 1..hold_max steps (1: a new one every step),
    steer uniform in [-1, 1], gas in [0, 1], brake in [0, 1] 10 % of the time; then in the middle of
    the episode a spell that leaves the track: full steer with full gas, then full brake, steering."""
    rng = np.random.default_rng(seed)
    out, t = np.zeros((steps, 3), np.float32), 0
    while t < steps:
        hold = int(rng.integers(1, hold_max + 1))
        brake = rng.random() if rng.random() < 0.1 else 0.0
        out[t:t + hold] = (rng.uniform(-1, 1), rng.random(), brake)
        t += hold
    k = steps // 2
    out[k:k + 40] = (1.0, 1.0, 0.0)
    out[k + 40:k + 60] = (-1.0, 0.0, 1.0)
    return out


def lockstep(stock, fast, seed, actions, timer=None):
    """Play one episode in both envs side by side: reset(seed), then the actions until the episode
    ends. Returns (steps played, the first difference as a string, or None). timer: a dict that
    gets the seconds spent in each env's reset and step added ("stock reset", "fast step", ...)."""
    import time

    def timed(key, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        if timer is not None:
            timer[key] = timer.get(key, 0.0) + time.perf_counter() - t0
        return out

    a, _ = timed("stock reset", stock.reset, seed=seed)
    b, _ = timed("fast reset", fast.reset, seed=seed)
    if not np.array_equal(a, b):
        return 0, f"seed {seed}: reset observation differs"
    for t, action in enumerate(actions, 1):
        ra = timed("stock step", stock.step, action)
        rb = timed("fast step", fast.step, action)
        if not np.array_equal(ra[0], rb[0]):
            n = int(np.sum(np.any(ra[0] != rb[0], axis=-1)))
            return t, f"seed {seed} step {t}: observation differs in {n} pixels"
        if ra[1:4] != rb[1:4]:
            return t, f"seed {seed} step {t}: (reward, terminated, truncated) {ra[1:4]} vs {rb[1:4]}"
        if ra[2] or ra[3]:
            return t, None
    return len(actions), None
