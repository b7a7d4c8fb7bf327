"""Renders PathfinderSegmentation images into ``shard_00000.npz``, ... and ``meta.json``.

    python tools/build_pathfinder_segmentation.py --out DIR \\
        --resolution 128 --num-images 100000 --workers 8

The work is `keras_ssm.data.synthetic.pathfinder_segmentation_build.build_shards`; read
the shards with `keras_ssm.data.synthetic.pathfinder_segmentation.load_shards`.
"""

import argparse
import os

from keras_ssm.data.synthetic import pathfinder_segmentation
from keras_ssm.data.synthetic import pathfinder_segmentation_build


def main(argv=None):
    """Command line: render the shards."""
    parser = argparse.ArgumentParser(
        prog="python tools/build_pathfinder_segmentation.py",
        description="Render PathfinderSegmentation images into .npz shards.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--resolution", type=int, default=128, choices=pathfinder_segmentation.RESOLUTIONS
    )
    parser.add_argument("--num-images", type=int, default=100000)
    parser.add_argument("--shard-size", type=int, default=2500)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    paths = pathfinder_segmentation_build.build_shards(
        args.out,
        args.resolution,
        args.num_images,
        args.shard_size,
        args.workers,
        args.seed,
        verbose=not args.quiet,
    )
    print(f"wrote {len(paths)} shards of {args.resolution}x{args.resolution} images to {args.out}")


if __name__ == "__main__":
    main()
