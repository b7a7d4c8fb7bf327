"""Renders PathfinderSegmentation examples with their targets to PNG files.

Writes docs/images/pathfinder_segmentation_{R}.png: for each example the
image (markers included) beside its 3-class target (black 0, grey 1 = long
snake not joining the markers, orange 2 = the snake joining them).

Usage (needs matplotlib, e.g. the `examples` extra):

    python docs/render_examples.py                 # 128 (4 examples), 256 (1)
    python docs/render_examples.py --resolution 64 --count 4
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from keras_ssm.data.synthetic import pathfinder_segmentation  # noqa: E402

TARGET_COLORS = ListedColormap(["black", "0.55", "tab:orange"])


def draw(resolution, count, seed, path):
    """Renders `count` examples at `resolution` into the PNG at `path`."""
    rng = np.random.default_rng(seed)
    infos = [pathfinder_segmentation.render_with_info(rng, resolution) for _ in range(count)]
    size = 3.2 if resolution <= 128 else 5.0
    fig, axes = plt.subplots(count, 2, figsize=(2 * size, count * size), squeeze=False)
    for row, info in zip(axes, infos):
        row[0].imshow(info["image"], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        row[0].set_title(f"image, label {info['label']}")
        row[1].imshow(info["target"], cmap=TARGET_COLORS, vmin=0, vmax=2, interpolation="nearest")
        row[1].set_title("target (grey 1, orange 2)")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"PathfinderSegmentation {resolution}x{resolution}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "images"))
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    jobs = [(args.resolution, args.count)] if args.resolution else [(128, 4), (256, 1)]
    for resolution, count in jobs:
        path = os.path.join(args.out_dir, f"pathfinder_segmentation_{resolution}.png")
        draw(resolution, count, args.seed, path)


if __name__ == "__main__":
    main()
