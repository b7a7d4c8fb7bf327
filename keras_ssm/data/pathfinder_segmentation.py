"""PathfinderSegmentation: which pixels lie on the path joining two markers.

A numpy renderer of Pathfinder-style images (spec C.13). Each image holds
two long "snakes" made of dashes ("paddles"), short distractor snakes, and
two circle markers on snake tips: one on the start of a long snake and one
on the end of the same snake (label 1) or of the other long snake (label 0).
Distractors carry a marker on their start too (`mark_distractors`), so the
markers alone do not tell which snakes are long.

Per-pixel target (3 classes): 0 background, distractors and markers;
1 a long snake that does not join the markers; 2 the snake that joins both
markers (label 1 only). Where both long snakes cover a pixel the larger
class wins.

Rendering (own design, following the reference's parameters):
- A snake is a chain of straight dashes of `paddle_length` pixels separated
  by gaps of `margin` pixels. Each dash turns by an angle delta from the
  previous one, |delta| < pi / (2 continuity), drawn with weight
  cos(continuity * delta)^2 among the candidate angles that stay inside the
  image and keep `thickness + margin` pixels between its centre line and
  any other dash (a snake's previous dash excepted). When no candidate
  fits, the snake (or the pair of long snakes) is drawn again.
- The two long snakes start `seed_distance` pixels apart, near the image
  centre, and grow one dash each in turn. Distractors start anywhere free.
- Dashes are flat-ended rectangles `thickness` wide and markers discs of
  `marker_radius`, rasterised on a grid `antialias` times finer than the
  image and averaged down (antialiasing by supersampling). Dashes get
  intensity `snake_contrast`, markers 1.
- A pixel is on a long snake (target class 1 or 2) when at least half of it
  is covered by that snake's dashes; a marker on top does not change it.

Cost: about 4, 7, 23, 28 and 66 ms of CPU per image at 32, 64, 128, 256
and 512 (a busy 2-core machine), so 100000 images at 128 take roughly 40
CPU-minutes; `build_shards` spreads them over processes.

Choices where the spec is silent: the turn-angle candidates and their
weights, the clearance rule, the retry counts, the 50% coverage threshold
for targets, and the settings for the small resolutions 32 and 64 (for
tests and demos). Shards are seeded per piece of `PIECE_SIZE` images,
(seed, shard, piece), so the data do not depend on the number of workers
(the reference seeds per worker).

Command line (writes ``shard_00000.npz``, ... and ``meta.json``)::

    python -m keras_ssm.data.pathfinder_segmentation --out DIR \\
        --resolution 128 --num-images 100000 --workers 8
"""

import argparse
import dataclasses
import glob
import json
import math
import multiprocessing
import os
import sys
import time

import numpy as np

NUM_CLASSES = 3
BACKGROUND, OTHER_SNAKE, CONNECTING_SNAKE = 0, 1, 2
PIECE_SIZE = 8
_COVERAGE_THRESHOLD = 0.5
_MAX_PAIR_TRIES = 200
_MAX_SEED_TRIES = 100
_MAX_DISTRACTOR_TRIES = 4


@dataclasses.dataclass(frozen=True)
class PathfinderSetting:
    """Generator parameters for one resolution (spec C.13 table).

    Args:
        resolution: R, the image side in pixels.
        contour_length: dashes per long snake.
        paddle_length: dash length in pixels.
        paddle_thickness: dash width in pixels.
        paddle_margins: gap(s) between dashes in pixels; one is drawn per
            image. Also the clearance kept between snakes.
        seed_distance: distance between the start tips of the long snakes.
        marker_radius: circle marker radius in pixels.
        continuity: turns are limited to |delta| < pi / (2 continuity).
        antialias: supersampling factor.
        num_distractors: distractor snakes per image.
        distractor_length: dashes per distractor.
        snake_contrast: dash intensity (markers are 1).
        mark_distractors: draw a marker on each distractor's start.
        padding: pixels kept free along the border.

    Example:

    >>> SETTINGS[128].distractor_length
    4
    """

    resolution: int
    contour_length: int
    paddle_length: float
    paddle_thickness: float
    paddle_margins: tuple
    seed_distance: float
    marker_radius: float
    continuity: float
    antialias: int
    num_distractors: int
    distractor_length: int
    snake_contrast: float
    mark_distractors: bool = True
    padding: int = 1


SETTINGS = {
    32: PathfinderSetting(32, 5, 3, 1.25, (1.5,), 6, 1.3, 1.4, 4, 3, 2, 0.9),
    64: PathfinderSetting(64, 8, 4, 1.25, (2,), 10, 1.6, 1.5, 4, 8, 2, 0.9),
    128: PathfinderSetting(128, 14, 5, 1.5, (2, 3), 22, 2.1, 1.8, 2, 16, 14 // 3, 0.9),
    256: PathfinderSetting(256, 16, 8, 2.0, (4,), 27, 4.2, 2.2, 2, 16, 16 // 3, 1.0),
    512: PathfinderSetting(512, 12, 22, 6.0, (7,), 40, 9.0, 2.5, 3, 18, 12 // 3, 1.0),
}
RESOLUTIONS = tuple(sorted(SETTINGS))


def _setting(resolution):
    if resolution not in SETTINGS:
        raise ValueError(
            f"resolution must be one of {RESOLUTIONS}, got {resolution!r}."
        )
    return SETTINGS[resolution]


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
    hi = np.minimum(
        np.ceil(np.maximum(center_lo, center_hi) + reach) + 1, resolution
    )
    return int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1])


def _fine_grid(y0, y1, x0, x1, aa):
    offsets = (np.arange(aa) + 0.5) / aa
    ys = (np.arange(y0, y1)[:, None] + offsets).ravel()
    xs = (np.arange(x0, x1)[:, None] + offsets).ravel()
    return ys, xs


def _add_dash(layer, a, b, thickness, aa):
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


def _add_disc(layer, center, radius, aa):
    """Max-composites the coverage of a disc into layer."""
    resolution = layer.shape[0]
    y0, y1, x0, x1 = _box(center, center, radius + 1, resolution)
    ys, xs = _fine_grid(y0, y1, x0, x1, aa)
    inside = (ys[:, None] - center[0]) ** 2 + (
        xs[None, :] - center[1]
    ) ** 2 <= radius**2
    coverage = inside.reshape(y1 - y0, aa, x1 - x0, aa).mean(axis=(1, 3))
    np.maximum(layer[y0:y1, x0:x1], coverage, out=layer[y0:y1, x0:x1])


def _stamp_segment(mask, a, b, radius):
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
        _stamp_segment(self.forbidden, dash[0], dash[1], self.clearance)

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


def _long_snakes(rng, setting, margin, forbidden):
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


def _distractor(rng, setting, margin, forbidden):
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


def render_with_info(rng, resolution):
    """Renders one image with its target and the drawing's geometry.

    Args:
        rng: `numpy.random.Generator`.
        resolution: R, one of `RESOLUTIONS`.

    Returns:
        dict with "image" (uint8 (R, R)), "target" (int8 (R, R) in {0, 1,
        2}), "label" (int), "markers" (float (2, 2): the (y, x) centres of
        the two target markers, start tip first), "snakes" (list of two float
        arrays (contour_length, 2, 2): each dash's start and end, (y, x)),
        "marked_snake" (index of the snake whose start carries the first
        marker), "distractors" (list of such arrays) and "margin".

    Example:

    >>> info = render_with_info(np.random.default_rng(0), 32)
    >>> info["image"].shape, sorted(set(np.unique(info["target"])) - {0, 1, 2})
    ((32, 32), [])
    """
    setting = _setting(resolution)
    aa = setting.antialias
    label = int(rng.integers(2))
    margin = setting.paddle_margins[int(rng.integers(len(setting.paddle_margins)))]
    for _ in range(_MAX_PAIR_TRIES):
        forbidden = np.zeros((resolution, resolution), dtype=bool)
        snakes = _long_snakes(rng, setting, margin, forbidden)
        if snakes is not None:
            break
    else:
        raise RuntimeError(
            f"Could not fit two long snakes at resolution {resolution}; "
            "lower contour_length or seed_distance in its setting."
        )
    marked = int(rng.integers(2))
    terminal = marked if label == 1 else 1 - marked
    markers = np.stack([snakes[marked].start_tip, snakes[terminal].end_tip])
    marker_clearance = setting.marker_radius + margin
    for center in markers:
        _stamp_segment(forbidden, center, center, marker_clearance)
    distractors = []
    for _ in range(setting.num_distractors):
        for _ in range(_MAX_DISTRACTOR_TRIES):
            trial = forbidden.copy()
            snake = _distractor(rng, setting, margin, trial)
            if snake is not None:
                if setting.mark_distractors:
                    _stamp_segment(
                        trial, snake.start_tip, snake.start_tip, marker_clearance
                    )
                forbidden = trial
                distractors.append(snake)
                break

    coverage = np.zeros((2, resolution, resolution), dtype=np.float64)
    for layer, snake in zip(coverage, snakes):
        for a, b in snake.dashes:
            _add_dash(layer, a, b, setting.paddle_thickness, aa)
    strokes = coverage.max(axis=0)
    for snake in distractors:
        for a, b in snake.dashes:
            _add_dash(strokes, a, b, setting.paddle_thickness, aa)
    dots = np.zeros((resolution, resolution))
    for center in markers:
        _add_disc(dots, center, setting.marker_radius, aa)
    if setting.mark_distractors:
        for snake in distractors:
            _add_disc(dots, snake.start_tip, setting.marker_radius, aa)
    intensity = np.maximum(setting.snake_contrast * strokes, dots)
    image = np.round(255 * np.clip(intensity, 0, 1)).astype(np.uint8)

    target = np.zeros((resolution, resolution), dtype=np.int8)
    for i, layer in enumerate(coverage):
        cls = CONNECTING_SNAKE if (label == 1 and i == marked) else OTHER_SNAKE
        on = layer >= _COVERAGE_THRESHOLD
        target[on] = np.maximum(target[on], cls)

    def as_array(snake):
        return np.array([[a, b] for a, b in snake.dashes])

    return {
        "image": image,
        "target": target,
        "label": label,
        "markers": markers,
        "snakes": [as_array(s) for s in snakes],
        "marked_snake": marked,
        "distractors": [as_array(s) for s in distractors],
        "margin": margin,
    }


def render(rng, resolution):
    """Renders one PathfinderSegmentation image and its per-pixel target.

    Args:
        rng: `numpy.random.Generator`.
        resolution: R, one of `RESOLUTIONS` (32, 64, 128, 256, 512).

    Returns:
        (image, target, label): image uint8 (R, R); target int8 (R, R) with
        classes 0 (background, distractors, markers), 1 (a long snake not
        joining the markers), 2 (the snake joining them); label 1 when both
        markers sit on the same snake, else 0.

    Example:

    >>> image, target, label = render(np.random.default_rng(0), 64)
    >>> image.dtype.name, target.shape, bool((target == 2).any()) == (label == 1)
    ('uint8', (64, 64), True)
    """
    info = render_with_info(rng, resolution)
    return info["image"], info["target"], info["label"]


def resolution_for_length(seq_len):
    """R with R * R == seq_len, for a supported resolution.

    Args:
        seq_len: L, the flattened length.

    Returns:
        int R.

    Raises:
        ValueError: if L is not the square of one of `RESOLUTIONS`.

    Example:

    >>> resolution_for_length(16384)
    128
    """
    side = math.isqrt(int(seq_len)) if int(seq_len) >= 0 else -1
    if side * side != seq_len or side not in SETTINGS:
        raise ValueError(
            f"seq_len must be R*R for R in {RESOLUTIONS} (i.e. one of "
            f"{[r * r for r in RESOLUTIONS]}), got {seq_len!r}."
        )
    return side


def normalize(images):
    """uint8 pixels p to float32 (p / 255 - 0.5) / 0.5, in [-1, 1].

    Args:
        images: uint8 array, any shape.

    Returns:
        float32 array of the same shape.

    Example:

    >>> normalize(np.array([0, 255], np.uint8)).tolist()
    [-1.0, 1.0]
    """
    return ((np.asarray(images, np.float32) / 255.0 - 0.5) / 0.5).astype(
        np.float32
    )


def generate(num_samples, seq_len, seed=0):
    """Draws flattened PathfinderSegmentation samples.

    Args:
        num_samples: n (>= 1).
        seq_len: L = R * R for R in `RESOLUTIONS` (1024, 4096, 16384,
            65536, 262144).
        seed: int seed; equal arguments give equal arrays.

    Returns:
        (inputs, targets): inputs float32 (n, L, 1), pixels normalised as
        (p / 255 - 0.5) / 0.5 in row-major order; targets int32 (n, L) with
        classes 0, 1, 2.

    Example:

    >>> x, y = generate(2, 32 * 32, seed=0)
    >>> x.shape, y.shape, x.dtype.name, y.dtype.name
    ((2, 1024, 1), (2, 1024), 'float32', 'int32')
    """
    if isinstance(num_samples, bool) or not isinstance(
        num_samples, (int, np.integer)
    ) or num_samples < 1:
        raise ValueError(
            f"num_samples must be an int >= 1, got {num_samples!r}."
        )
    resolution = resolution_for_length(seq_len)
    rng = np.random.default_rng(seed)
    inputs = np.empty((num_samples, seq_len, 1), dtype=np.float32)
    targets = np.empty((num_samples, seq_len), dtype=np.int32)
    for i in range(num_samples):
        image, target, _ = render(rng, resolution)
        inputs[i, :, 0] = normalize(image).ravel()
        targets[i] = target.ravel()
    return inputs, targets


# ----------------------------------------------------------------- shards


def _render_piece(args):
    """Worker: images [start, stop) of one shard, seeded (seed, shard, piece)."""
    seed, resolution, shard, piece, count = args
    rng = np.random.default_rng([seed, shard, piece])
    images = np.empty((count, resolution, resolution), dtype=np.uint8)
    targets = np.empty((count, resolution, resolution), dtype=np.int8)
    labels = np.empty((count,), dtype=np.int8)
    for i in range(count):
        images[i], targets[i], labels[i] = render(rng, resolution)
    return shard, images, targets, labels


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total, label, width=30):
        self.total, self.label, self.width = total, label, width
        self.start = time.time()
        self._last = 0.0

    def update(self, count):
        now = time.time()
        if count < self.total and now - self._last < 0.2:
            return
        self._last = now
        done = int(self.width * count / max(self.total, 1))
        elapsed = now - self.start
        eta = elapsed / count * (self.total - count) if count else 0.0
        sys.stderr.write(
            f"\r{self.label} [{'=' * done}{'.' * (self.width - done)}] "
            f"{count}/{self.total} {elapsed:.0f}s eta {eta:.0f}s"
        )
        if count >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def shard_path(out_dir, shard):
    """Path of shard number `shard` in `out_dir`."""
    return os.path.join(out_dir, f"shard_{shard:05d}.npz")


def build_shards(
    out_dir, resolution, num_images, shard_size=2500, workers=1, seed=0,
    verbose=True,
):
    """Renders `num_images` images into .npz shards with worker processes.

    Shard s holds images [s * shard_size, ...) rendered in pieces of
    `PIECE_SIZE`, piece p seeded with (seed, s, p); pieces are spread over
    `workers` processes and assembled in order, so the files do not depend
    on `workers`.

    Each ``shard_XXXXX.npz`` has "images" uint8 (n, R, R), "targets" int8
    (n, R, R) and "labels" int8 (n,); ``meta.json`` records the setting.

    Args:
        out_dir: output folder (created).
        resolution: R, one of `RESOLUTIONS`.
        num_images: total images (>= 1).
        shard_size: images per shard (>= 1).
        workers: processes (1 renders in this process).
        seed: base seed.
        verbose: progress bar on stderr.

    Returns:
        list of the shard paths written.

    Example:

    >>> import tempfile
    >>> paths = build_shards(tempfile.mkdtemp(), 32, 5, shard_size=4,
    ...                      verbose=False)
    >>> len(paths)
    2
    """
    setting = _setting(resolution)
    for name, value in (
        ("num_images", num_images), ("shard_size", shard_size),
        ("workers", workers),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or value < 1
        ):
            raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
    os.makedirs(out_dir, exist_ok=True)
    num_shards = -(-num_images // shard_size)
    tasks, pieces_per_shard = [], []
    for shard in range(num_shards):
        size = min(shard_size, num_images - shard * shard_size)
        starts = range(0, size, PIECE_SIZE)
        pieces_per_shard.append(len(starts))
        for piece, start in enumerate(starts):
            count = min(PIECE_SIZE, size - start)
            tasks.append((seed, resolution, shard, piece, count))
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(
            {"setting": dataclasses.asdict(setting), "seed": seed,
             "num_images": num_images, "shard_size": shard_size},
            f, indent=1,
        )
    progress = _Progress(num_images, f"pathfinder{resolution}") if verbose else None
    pool = None
    paths, pending, done = [], [], 0
    try:
        if workers > 1:
            pool = multiprocessing.get_context().Pool(workers)
            pieces = pool.imap(_render_piece, tasks)
        else:
            pieces = map(_render_piece, tasks)
        for shard, images, targets, labels in pieces:
            pending.append((images, targets, labels))
            done += len(labels)
            if progress:
                progress.update(done)
            if len(pending) == pieces_per_shard[shard]:
                path = shard_path(out_dir, shard)
                np.savez(
                    path,
                    images=np.concatenate([p[0] for p in pending]),
                    targets=np.concatenate([p[1] for p in pending]),
                    labels=np.concatenate([p[2] for p in pending]),
                )
                paths.append(path)
                pending = []
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return paths


def load_shards(directory):
    """Reads and concatenates the shards written by `build_shards`.

    Args:
        directory: folder holding ``shard_*.npz``.

    Returns:
        (images uint8 (n, R, R), targets int8 (n, R, R), labels int8 (n,)),
        in shard order. Use `normalize` and reshape to (n, R*R, 1) for
        model inputs.

    Example:

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = build_shards(d, 32, 3, shard_size=2, verbose=False)
    >>> [a.shape for a in load_shards(d)]
    [(3, 32, 32), (3, 32, 32), (3,)]
    """
    paths = sorted(glob.glob(os.path.join(directory, "shard_*.npz")))
    if not paths:
        raise ValueError(
            f"No shard_*.npz files in {directory!r}; write them with "
            "build_shards first."
        )
    parts = []
    for path in paths:
        with np.load(path) as data:
            parts.append((data["images"], data["targets"], data["labels"]))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def main(argv=None):
    """Command line: render shards. See the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m keras_ssm.data.pathfinder_segmentation",
        description="Render PathfinderSegmentation images into .npz shards.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--resolution", type=int, default=128, choices=RESOLUTIONS
    )
    parser.add_argument("--num-images", type=int, default=100000)
    parser.add_argument("--shard-size", type=int, default=2500)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    paths = build_shards(
        args.out, args.resolution, args.num_images, args.shard_size,
        args.workers, args.seed, verbose=not args.quiet,
    )
    print(f"wrote {len(paths)} shards of {args.resolution}x{args.resolution} "
          f"images to {args.out}")


if __name__ == "__main__":
    main()
