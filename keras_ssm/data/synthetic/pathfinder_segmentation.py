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
CPU-minutes; `pathfinder_segmentation_build.build_shards` spreads them over
processes.

Choices where the spec is silent: the turn-angle candidates and their
weights, the clearance rule, the retry counts, the 50% coverage threshold
for targets, and the settings for the small resolutions 32 and 64 (for
tests and demos). Shards are seeded per piece of `PIECE_SIZE` images,
(seed, shard, piece), so the data do not depend on the number of workers
(the reference seeds per worker).

Shards on disk (``shard_00000.npz``, ... and ``meta.json``) are rendered in worker
processes by `keras_ssm.data.synthetic.pathfinder_segmentation_build` (command line:
``python tools/build_pathfinder_segmentation.py``) and read back with `load_shards`.
"""

import dataclasses
import glob
import math
import os

import numpy as np

from keras_ssm.data._shared import check_count
from keras_ssm.data.lra.pathfinder_drawing import add_dash
from keras_ssm.data.lra.pathfinder_drawing import add_disc
from keras_ssm.data.lra.pathfinder_drawing import draw_distractor
from keras_ssm.data.lra.pathfinder_drawing import draw_long_snakes
from keras_ssm.data.lra.pathfinder_drawing import stamp_segment

NUM_CLASSES = 3
BACKGROUND, OTHER_SNAKE, CONNECTING_SNAKE = 0, 1, 2
PIECE_SIZE = 8
_COVERAGE_THRESHOLD = 0.5
_MAX_PAIR_TRIES = 200
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
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}.")
    return SETTINGS[resolution]


# ---------------------------------------------------------- rendering


def render_with_info(rng, resolution, mark_distractors=None):
    """Renders one image with its target and the drawing's geometry.

    Args:
        rng: `numpy.random.Generator`.
        resolution: R, one of `RESOLUTIONS`.
        mark_distractors: None (the resolution's setting: True, as the DLR task draws
            them), or a bool: draw a marker on each distractor's start. LRA's Pathfinder
            images have only the two markers (False).

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
    if mark_distractors is not None:
        setting = dataclasses.replace(setting, mark_distractors=bool(mark_distractors))
    aa = setting.antialias
    label = int(rng.integers(2))
    margin = setting.paddle_margins[int(rng.integers(len(setting.paddle_margins)))]
    for _ in range(_MAX_PAIR_TRIES):
        forbidden = np.zeros((resolution, resolution), dtype=bool)
        snakes = draw_long_snakes(rng, setting, margin, forbidden)
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
        stamp_segment(forbidden, center, center, marker_clearance)
    distractors = []
    for _ in range(setting.num_distractors):
        for _ in range(_MAX_DISTRACTOR_TRIES):
            trial = forbidden.copy()
            snake = draw_distractor(rng, setting, margin, trial)
            if snake is not None:
                if setting.mark_distractors:
                    stamp_segment(trial, snake.start_tip, snake.start_tip, marker_clearance)
                forbidden = trial
                distractors.append(snake)
                break

    coverage = np.zeros((2, resolution, resolution), dtype=np.float64)
    for layer, snake in zip(coverage, snakes):
        for a, b in snake.dashes:
            add_dash(layer, a, b, setting.paddle_thickness, aa)
    strokes = coverage.max(axis=0)
    for snake in distractors:
        for a, b in snake.dashes:
            add_dash(strokes, a, b, setting.paddle_thickness, aa)
    dots = np.zeros((resolution, resolution))
    for center in markers:
        add_disc(dots, center, setting.marker_radius, aa)
    if setting.mark_distractors:
        for snake in distractors:
            add_disc(dots, snake.start_tip, setting.marker_radius, aa)
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


def render(rng, resolution, mark_distractors=None):
    """Renders one PathfinderSegmentation image and its per-pixel target.

    Args:
        rng: `numpy.random.Generator`.
        resolution: R, one of `RESOLUTIONS` (32, 64, 128, 256, 512).
        mark_distractors: None (the setting's) or a bool (see `render_with_info`).

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
    info = render_with_info(rng, resolution, mark_distractors)
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
    return ((np.asarray(images, np.float32) / 255.0 - 0.5) / 0.5).astype(np.float32)


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
    num_samples = check_count("num_samples", num_samples, 1)
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


def load_shards(directory):
    """Reads and concatenates the shards written by
    `keras_ssm.data.synthetic.pathfinder_segmentation_build.build_shards`.

    Args:
        directory: folder holding ``shard_*.npz``.

    Returns:
        (images uint8 (n, R, R), targets int8 (n, R, R), labels int8 (n,)),
        in shard order. Use `normalize` and reshape to (n, R*R, 1) for
        model inputs.

    Example:

    >>> import tempfile
    >>> from keras_ssm.data.synthetic.pathfinder_segmentation_build import build_shards
    >>> d = tempfile.mkdtemp()
    >>> _ = build_shards(d, 32, 3, shard_size=2, verbose=False)
    >>> [a.shape for a in load_shards(d)]
    [(3, 32, 32), (3, 32, 32), (3,)]
    """
    paths = sorted(glob.glob(os.path.join(directory, "shard_*.npz")))
    if not paths:
        raise ValueError(
            f"No shard_*.npz files in {directory!r}; write them with "
            "keras_ssm.data.synthetic.pathfinder_segmentation_build.build_shards (or "
            "tools/build_pathfinder_segmentation.py) first."
        )
    parts = []
    for path in paths:
        with np.load(path) as data:
            parts.append((data["images"], data["targets"], data["labels"]))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
