"""Tests for keras_ssm.data.synthetic.pathfinder_segmentation (spec C.13).

The image and the target are re-rasterised here from the returned geometry
(a plain supersampling loop), the geometry is checked against the growth
rules, and the target's class-2 pixels are flood-filled.
"""

import math
import os
import runpy
import sys
from collections import deque

import numpy as np
import pytest

from keras_ssm.data.synthetic import pathfinder_segmentation as pf
from keras_ssm.data.synthetic import pathfinder_segmentation_build as pfb


def rendered(resolution, count, seed):
    rng = np.random.default_rng(seed)
    return [pf.render_with_info(rng, resolution) for _ in range(count)]


SAMPLES = {32: rendered(32, 8, 0), 64: rendered(64, 6, 1)}
CASES = [(r, i) for r, infos in SAMPLES.items() for i in range(len(infos))]


# ------------------------------------------------------------- references


def fine_points(resolution, aa):
    offsets = (np.arange(aa) + 0.5) / aa
    axis = (np.arange(resolution)[:, None] + offsets).ravel()
    return np.meshgrid(axis, axis, indexing="ij")


def downsample(inside, resolution, aa):
    return inside.reshape(resolution, aa, resolution, aa).mean(axis=(1, 3))


def dash_coverage(dashes, setting):
    """Coverage of flat-ended rectangles, by supersampling the whole image."""
    r, aa = setting.resolution, setting.antialias
    fy, fx = fine_points(r, aa)
    layer = np.zeros((r, r))
    for (ay, ax), (by, bx) in dashes:
        length = math.hypot(by - ay, bx - ax)
        uy, ux = (by - ay) / length, (bx - ax) / length
        along = (fy - ay) * uy + (fx - ax) * ux
        across = np.abs((fy - ay) * ux - (fx - ax) * uy)
        half_width = setting.paddle_thickness / 2
        inside = (along >= 0) & (along <= length) & (across <= half_width)
        layer = np.maximum(layer, downsample(inside, r, aa))
    return layer


def disc_coverage(centers, setting):
    r, aa = setting.resolution, setting.antialias
    fy, fx = fine_points(r, aa)
    layer = np.zeros((r, r))
    for cy, cx in centers:
        inside = (fy - cy) ** 2 + (fx - cx) ** 2 <= setting.marker_radius**2
        layer = np.maximum(layer, downsample(inside, r, aa))
    return layer


def point_segment_distance(p, a, b):
    ab = b - a
    t = np.clip(np.dot(p - a, ab) / np.dot(ab, ab), 0, 1)
    return float(np.linalg.norm(p - (a + t * ab)))


def pairwise_dash_distances(dashes):
    """(D, D) distances between dashes (D, 2, 2), from 41 samples on each."""
    a, b = dashes[:, 0], dashes[:, 1]
    t = np.linspace(0, 1, 41)[None, :, None]
    points = a[:, None] + t * (b - a)[:, None]  # (D, S, 2)
    ab = b - a  # (D, 2)
    rel = points[:, :, None, :] - a[None, None]  # (D, S, D, 2)
    u = np.clip((rel * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    gap = np.linalg.norm(rel - u[..., None] * ab, axis=-1).min(axis=1)
    return np.minimum(gap, gap.T)


def components(mask, reach):
    """Connected components of mask's pixels; neighbours within Chebyshev
    distance `reach` (reach 1 is 8-connectivity; larger bridges gaps)."""
    label = -np.ones(mask.shape, int)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if label[start] >= 0:
            continue
        label[start] = count
        queue = deque([start])
        while queue:
            y, x = queue.popleft()
            for ny in range(max(y - reach, 0), min(y + reach + 1, mask.shape[0])):
                for nx in range(max(x - reach, 0), min(x + reach + 1, mask.shape[1])):
                    if mask[ny, nx] and label[ny, nx] < 0:
                        label[ny, nx] = count
                        queue.append((ny, nx))
        count += 1
    return label, count


def hop_distances(mask, start, reach):
    """Breadth-first hop counts over mask's pixels from start."""
    dist = -np.ones(mask.shape, int)
    dist[start] = 0
    queue = deque([start])
    while queue:
        y, x = queue.popleft()
        for ny in range(max(y - reach, 0), min(y + reach + 1, mask.shape[0])):
            for nx in range(max(x - reach, 0), min(x + reach + 1, mask.shape[1])):
                if mask[ny, nx] and dist[ny, nx] < 0:
                    dist[ny, nx] = dist[y, x] + 1
                    queue.append((ny, nx))
    return dist


def nearest_pixel(mask, point):
    ys, xs = np.nonzero(mask)
    d = (ys + 0.5 - point[0]) ** 2 + (xs + 0.5 - point[1]) ** 2
    i = int(np.argmin(d))
    return (ys[i], xs[i]), math.sqrt(d[i])


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("resolution, index", CASES)
def test_image_and_target_match_reference_raster(resolution, index):
    info = SAMPLES[resolution][index]
    setting = pf.SETTINGS[resolution]
    image, target, label = info["image"], info["target"], info["label"]
    assert image.shape == target.shape == (resolution, resolution)
    assert image.dtype == np.uint8 and target.dtype == np.int8
    assert label in (0, 1)
    long_cover = [dash_coverage(s, setting) for s in info["snakes"]]
    strokes = np.maximum.reduce(
        long_cover + [dash_coverage(d, setting) for d in info["distractors"]]
    )
    dots = disc_coverage(list(info["markers"]) + [d[0][0] for d in info["distractors"]], setting)
    intensity = np.maximum(setting.snake_contrast * strokes, dots)
    expected = np.round(255 * np.clip(intensity, 0, 1))
    diff = np.abs(image.astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    marked = info["marked_snake"]
    expected_target = np.zeros((resolution, resolution), int)
    for i, cover in enumerate(long_cover):
        cls = 2 if (label == 1 and i == marked) else 1
        on = cover >= 0.5
        expected_target[on] = np.maximum(expected_target[on], cls)
    np.testing.assert_array_equal(target, expected_target)


@pytest.mark.parametrize("resolution, index", CASES)
def test_geometry_follows_growth_rules(resolution, index):
    info = SAMPLES[resolution][index]
    s = pf.SETTINGS[resolution]
    margin = info["margin"]
    assert margin in s.paddle_margins
    snakes, distractors = info["snakes"], info["distractors"]
    assert [len(x) for x in snakes] == [s.contour_length] * 2
    assert 1 <= len(distractors) <= s.num_distractors
    assert all(len(d) == s.distractor_length for d in distractors)
    max_turn = math.pi / (2 * s.continuity)
    everything = list(snakes) + list(distractors)
    for snake in everything:
        assert np.all(snake >= s.padding) and np.all(snake <= resolution - s.padding)
        steps = snake[:, 1] - snake[:, 0]
        np.testing.assert_allclose(np.linalg.norm(steps, axis=1), s.paddle_length)
        angles = np.arctan2(steps[:, 0], steps[:, 1])
        turns = np.angle(np.exp(1j * np.diff(angles)))
        assert np.all(np.abs(turns) < max_turn)
        gaps = snake[1:, 0] - snake[:-1, 1]
        np.testing.assert_allclose(np.linalg.norm(gaps, axis=1), margin)
        np.testing.assert_allclose(gaps / margin, steps[1:] / s.paddle_length, atol=1e-9)
    start_gap = np.linalg.norm(snakes[0][0, 0] - snakes[1][0, 0])
    assert start_gap == pytest.approx(s.seed_distance)
    # Dashes keep clear of each other (consecutive dashes of a snake aside).
    # The check is done on pixels, so allow one pixel of slack.
    dashes = np.concatenate(everything)
    owner = np.concatenate([[k] * len(x) for k, x in enumerate(everything)])
    index = np.concatenate([np.arange(len(x)) for x in everything])
    gap = pairwise_dash_distances(dashes)
    neighbours = (owner[:, None] == owner[None]) & (np.abs(index[:, None] - index[None]) <= 1)
    assert gap[~neighbours].min() > s.paddle_thickness + margin - 1.0


@pytest.mark.parametrize("resolution, index", CASES)
def test_markers_on_snake_ends(resolution, index):
    info = SAMPLES[resolution][index]
    s = pf.SETTINGS[resolution]
    label, marked = info["label"], info["marked_snake"]
    terminal = marked if label == 1 else 1 - marked
    a, b = info["markers"]
    np.testing.assert_array_equal(a, info["snakes"][marked][0, 0])
    np.testing.assert_array_equal(b, info["snakes"][terminal][-1, 1])
    for center in (a, b):  # a marker's centre pixel is fully white
        assert info["image"][int(center[0]), int(center[1])] == 255
    target = info["target"]
    if label == 0:
        assert not (target == 2).any()
        for center in (a, b):
            _, distance = nearest_pixel(target == 1, center)
            assert distance < s.paddle_thickness + 1.5
        return
    on = target == 2
    reach = int(math.ceil(info["margin"])) + 1
    _, count = components(on, reach)
    assert count == 1  # one dashed curve
    assert on.sum() >= 0.8 * s.contour_length * s.paddle_length
    # The markers are the curve's two ends: walking along the curve from
    # the first marker, the second is (nearly) the farthest point.
    start, d_a = nearest_pixel(on, a)
    end, d_b = nearest_pixel(on, b)
    assert max(d_a, d_b) < s.paddle_thickness + 1.5
    hops = hop_distances(on, start, reach)
    assert hops[end] >= 0.8 * hops.max()


def test_label_one_has_class_two_and_both_labels_occur():
    labels = []
    for infos in SAMPLES.values():
        for info in infos:
            has_two = bool((info["target"] == 2).any())
            assert has_two == (info["label"] == 1)
            assert (info["target"] == 1).any()
            assert set(np.unique(info["target"])) <= {0, 1, 2}
            labels.append(info["label"])
    assert set(labels) == {0, 1}


def test_render_and_determinism():
    image, target, label = pf.render(np.random.default_rng(11), 32)
    info = pf.render_with_info(np.random.default_rng(11), 32)
    np.testing.assert_array_equal(image, info["image"])
    np.testing.assert_array_equal(target, info["target"])
    assert label == info["label"]
    other = pf.render(np.random.default_rng(12), 32)[0]
    assert not np.array_equal(image, other)


def test_generate():
    x, y = pf.generate(3, 32 * 32, seed=7)
    assert x.shape == (3, 1024, 1) and x.dtype == np.float32
    assert y.shape == (3, 1024) and y.dtype == np.int32
    rng = np.random.default_rng(7)
    for i in range(3):
        image, target, _ = pf.render(rng, 32)
        expected = (image.reshape(-1).astype(np.float64) / 255 - 0.5) / 0.5
        np.testing.assert_allclose(x[i, :, 0], expected, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(y[i], target.reshape(-1))
    assert x.min() >= -1 and x.max() <= 1
    x2, y2 = pf.generate(3, 1024, seed=7)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize("seq_len", [1000, 48 * 48, 128 * 128 + 1, 0])
def test_generate_rejects_bad_lengths(seq_len):
    with pytest.raises(ValueError, match="seq_len"):
        pf.generate(1, seq_len)


def test_paper_settings_table():
    expected = {  # spec C.13
        128: (14, 5, 1.5, (2, 3), 22, 2.1, 1.8, 2, 16, 4, 0.9),
        256: (16, 8, 2.0, (4,), 27, 4.2, 2.2, 2, 16, 5, 1.0),
        512: (12, 22, 6.0, (7,), 40, 9.0, 2.5, 3, 18, 4, 1.0),
    }
    for resolution, values in expected.items():
        s = pf.SETTINGS[resolution]
        got = (
            s.contour_length,
            s.paddle_length,
            s.paddle_thickness,
            tuple(s.paddle_margins),
            s.seed_distance,
            s.marker_radius,
            s.continuity,
            s.antialias,
            s.num_distractors,
            s.distractor_length,
            s.snake_contrast,
        )
        assert got == values
        assert s.mark_distractors


def test_shards_round_trip(tmp_path):
    paths = pfb.build_shards(tmp_path / "a", 32, 5, shard_size=3, workers=1, seed=4, verbose=False)
    names = [os.path.basename(p) for p in paths]
    assert names == ["shard_00000.npz", "shard_00001.npz"]
    images, targets, labels = pf.load_shards(tmp_path / "a")
    assert images.shape == targets.shape == (5, 32, 32)
    assert images.dtype == np.uint8 and targets.dtype == np.int8
    assert labels.shape == (5,)
    # Documented seeding: shard s, piece p uses default_rng([seed, s, p]).
    expected = []
    for shard, count in ((0, 3), (1, 2)):
        rng = np.random.default_rng([4, shard, 0])
        expected += [pf.render(rng, 32) for _ in range(count)]
    for i, (image, target, label) in enumerate(expected):
        np.testing.assert_array_equal(images[i], image)
        np.testing.assert_array_equal(targets[i], target)
        assert labels[i] == label
    pfb.build_shards(tmp_path / "b", 32, 5, shard_size=3, workers=2, seed=4, verbose=False)
    for got, want in zip(pf.load_shards(tmp_path / "b"), (images, targets, labels)):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="shard"):
        pf.load_shards(tmp_path / "empty")


def test_cli(tmp_path, monkeypatch):
    """The command line as `python tools/build_pathfinder_segmentation.py ...` runs it (in
    this process: a subprocess would import numpy and keras_ssm once more)."""
    out = tmp_path / "pf"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv = ["--out", str(out), "--resolution", "32", "--num-images", "3"]
    argv += ["--shard-size", "2", "--workers", "1"]
    monkeypatch.setattr(sys, "argv", ["tools/build_pathfinder_segmentation.py", *argv])
    runpy.run_path(
        os.path.join(root, "tools", "build_pathfinder_segmentation.py"), run_name="__main__"
    )
    images, targets, labels = pf.load_shards(out)
    assert images.shape == (3, 32, 32) and labels.shape == (3,)
    assert os.path.exists(out / "meta.json")


def test_builder_lives_in_the_build_module_only():
    # The deprecated aliases pathfinder_segmentation.build_shards / shard_path are gone
    # (0.x, CHANGELOG).
    assert not hasattr(pf, "build_shards") and not hasattr(pf, "shard_path")
    assert callable(pfb.build_shards)
