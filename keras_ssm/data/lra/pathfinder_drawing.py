"""The drawing of PathfinderSegmentation images: snakes of dashes and their rasterisation.

Geometry on (y, x) points, dashes and discs rasterised on a supersampled grid, and
the growth of the long snakes and the distractors under the clearance rule (see
`keras_ssm.data.synthetic.pathfinder_segmentation` for the design).
"""

import math

import numpy as np

_MAX_SEED_TRIES = 100


# ------------------------------------------------------------- geometry


def _unit(angle):
    return np.array([math.sin(angle), math.cos(angle)])  # (y, x)


def _segment_distance(points, a, b):
    """Distance from points (..., 2) to the segment a-b (a capsule)."""
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
    closest = a + t[..., None] * ab
    return np.linalg.norm(points - closest, axis=-1)


def _box(center_lo, center_hi, reach, resolution):
    lo = np.maximum(np.floor(np.minimum(center_lo, center_hi) - reach), 0)
    hi = np.minimum(np.ceil(np.maximum(center_lo, center_hi) + reach) + 1, resolution)
    return int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1])


def _fine_grid(y0, y1, x0, x1, aa):
    offsets = (np.arange(aa) + 0.5) / aa
    ys = (np.arange(y0, y1)[:, None] + offsets).ravel()
    xs = (np.arange(x0, x1)[:, None] + offsets).ravel()
    return ys, xs


def add_dash(layer, a, b, thickness, aa):
    """Max-composites the coverage of a flat-ended dash a->b into layer."""
    resolution = layer.shape[0]
    y0, y1, x0, x1 = _box(a, b, thickness + 1, resolution)
    if y1 <= y0 or x1 <= x0:
        return
    ys, xs = _fine_grid(y0, y1, x0, x1, aa)
    length = float(np.linalg.norm(b - a))
    u = (b - a) / max(length, 1e-12)
    dy = ys[:, None] - a[0]
    dx = xs[None, :] - a[1]
    along = dy * u[0] + dx * u[1]
    across = np.abs(dy * u[1] - dx * u[0])
    inside = (along >= 0) & (along <= length) & (across <= thickness / 2)
    coverage = inside.reshape(y1 - y0, aa, x1 - x0, aa).mean(axis=(1, 3))
    np.maximum(layer[y0:y1, x0:x1], coverage, out=layer[y0:y1, x0:x1])


def add_disc(layer, center, radius, aa):
    """Max-composites the coverage of a disc into layer."""
    resolution = layer.shape[0]
    y0, y1, x0, x1 = _box(center, center, radius + 1, resolution)
    ys, xs = _fine_grid(y0, y1, x0, x1, aa)
    inside = (ys[:, None] - center[0]) ** 2 + (xs[None, :] - center[1]) ** 2 <= radius**2
    coverage = inside.reshape(y1 - y0, aa, x1 - x0, aa).mean(axis=(1, 3))
    np.maximum(layer[y0:y1, x0:x1], coverage, out=layer[y0:y1, x0:x1])


def stamp_segment(mask, a, b, radius):
    """Marks pixels whose centres lie within `radius` of segment a-b."""
    y0, y1, x0, x1 = _box(a, b, radius + 1, mask.shape[0])
    if y1 <= y0 or x1 <= x0:
        return
    ab = b - a
    length2 = max(float(ab @ ab), 1e-12)
    dy = (np.arange(y0, y1) + 0.5 - a[0])[:, None]
    dx = (np.arange(x0, x1) + 0.5 - a[1])[None, :]
    t = np.clip((dy * ab[0] + dx * ab[1]) / length2, 0.0, 1.0)
    distance2 = (dy - t * ab[0]) ** 2 + (dx - t * ab[1]) ** 2
    mask[y0:y1, x0:x1] |= distance2 <= radius**2


# ---------------------------------------------------------- snake growth


class _Snake:
    """A growing snake: its dashes as (start, end) points (y, x)."""

    def __init__(self, start, end):
        self.dashes = [(start, end)]

    @property
    def direction(self):
        a, b = self.dashes[-1]
        return math.atan2(b[0] - a[0], b[1] - a[1])

    @property
    def start_tip(self):
        return self.dashes[0][0]

    @property
    def end_tip(self):
        return self.dashes[-1][1]


class _Grower:
    """Draws dashes that keep clear of everything already committed.

    `forbidden` marks pixels within `clearance` (thickness + margin) of the
    centre line of committed dashes. A snake's newest dash is committed only
    when the next one is placed, so consecutive dashes may be close.
    """

    def __init__(self, setting, margin, rng, forbidden):
        self.setting, self.margin, self.rng = setting, margin, rng
        self.forbidden = forbidden
        self.clearance = setting.paddle_thickness + margin
        self.step = setting.paddle_length + margin
        self.max_turn = math.pi / (2 * setting.continuity)
        # About one candidate per pixel of arc at the step's radius.
        count = max(3, int(2 * self.max_turn * self.step) | 1)
        self.turns = np.linspace(-self.max_turn, self.max_turn, count + 2)[1:-1]
        self.turn_weights = np.cos(setting.continuity * self.turns) ** 2
        resolution, pad = setting.resolution, setting.padding
        self.lo, self.hi = pad, resolution - pad
        samples = max(2, int(math.ceil(2 * self.step)) + 1)
        self.path_fraction = np.linspace(0.0, 1.0, samples)

    def fits(self, points, others=()):
        """points (..., n, 2) -> bool (...): inside, clear of committed
        dashes and at least `clearance` from each pending dash in others."""
        inside = np.all((points >= self.lo) & (points < self.hi), axis=(-1, -2))
        idx = np.clip(np.floor(points).astype(int), 0, self.setting.resolution - 1)
        clear = ~np.any(self.forbidden[idx[..., 0], idx[..., 1]], axis=-1)
        ok = inside & clear
        for a, b in others:
            ok &= np.all(_segment_distance(points, a, b) > self.clearance, axis=-1)
        return ok

    def commit(self, dash):
        stamp_segment(self.forbidden, dash[0], dash[1], self.clearance)

    def extend(self, snake, others=()):
        """Adds one dash to snake; False if no candidate fits."""
        tip = snake.end_tip
        angles = snake.direction + self.turns
        units = np.stack([np.sin(angles), np.cos(angles)], axis=-1)  # (c, 2)
        # Points from the tip across the gap to the dash end.
        reach = self.step * self.path_fraction  # (n,)
        points = tip + reach[None, :, None] * units[:, None, :]  # (c, n, 2)
        weights = self.turn_weights * self.fits(points, others)
        total = weights.sum()
        if total <= 0:
            return False
        cumulative = np.cumsum(weights)
        choice = int(np.searchsorted(cumulative, self.rng.random() * total, "right"))
        choice = min(choice, len(weights) - 1)
        start = tip + self.margin * units[choice]
        end = start + self.setting.paddle_length * units[choice]
        self.commit(snake.dashes[-1])
        snake.dashes.append((start, end))
        return True

    def first_dash(self, start, others=()):
        """A first dash from start in a random direction, or None."""
        angle = self.rng.uniform(-math.pi, math.pi)
        end = start + self.setting.paddle_length * _unit(angle)
        points = start + self.path_fraction[:, None] * (end - start)
        if not self.fits(points[None], others)[0]:
            return None
        return _Snake(start, end)


def draw_long_snakes(rng, setting, margin, forbidden):
    """The two long snakes, seed_distance apart; None if they do not fit."""
    grower = _Grower(setting, margin, rng, forbidden)
    resolution = setting.resolution
    lo = max(2 * setting.seed_distance, setting.padding + setting.paddle_length)
    hi = resolution - lo
    if hi <= lo:
        lo, hi = resolution * 0.3, resolution * 0.7
    for _ in range(_MAX_SEED_TRIES):
        first = grower.first_dash(rng.uniform(lo, hi, size=2))
        if first is None:
            continue
        second_start = first.start_tip + setting.seed_distance * _unit(
            rng.uniform(-math.pi, math.pi)
        )
        second = grower.first_dash(second_start, others=[first.dashes[-1]])
        if second is not None:
            break
    else:
        return None
    snakes = [first, second]
    for _ in range(setting.contour_length - 1):
        for i, snake in enumerate(snakes):
            other = snakes[1 - i]
            if not grower.extend(snake, others=[other.dashes[-1]]):
                return None
    for snake in snakes:
        grower.commit(snake.dashes[-1])
    return snakes


def draw_distractor(rng, setting, margin, forbidden):
    """One distractor snake on free space, or None."""
    grower = _Grower(setting, margin, rng, forbidden)
    free = np.flatnonzero(~forbidden)
    if free.size == 0:
        return None
    pixel = free[rng.integers(free.size)]
    start = np.array(divmod(pixel, setting.resolution), float) + rng.random(2)
    snake = grower.first_dash(start)
    if snake is None:
        return None
    for _ in range(setting.distractor_length - 1):
        if not grower.extend(snake):
            return None
    grower.commit(snake.dashes[-1])
    return snake
