"""Renders Pathfinder images into the LRA release layout (``pathfinder32/curv_contour_length_14``).

    python tools/generate_pathfinder.py --out runs/pathfinder_generated --num-images 100000
    python -m examples.lra --task pathfinder --data-dir runs/pathfinder_generated ...

The work is `keras_ssm.data.synthetic.pathfinder_release.write_release` (images from
`keras_ssm.data.synthetic.pathfinder_segmentation`'s renderer);
`keras_ssm.data.lra.load("pathfinder", ...)` reads the folder. Generated data: never report
accuracies on it as LRA results.
"""

import argparse

from keras_ssm.data.synthetic import pathfinder_release


def main(argv=None):
    """Command line: render and write the images; prints the label counts."""
    parser = argparse.ArgumentParser(
        prog="python tools/generate_pathfinder.py",
        description="Render Pathfinder images in the LRA release layout.",
    )
    parser.add_argument("--out", required=True, help="output folder (new or empty)")
    parser.add_argument("--num-images", type=int, default=100000)
    parser.add_argument(
        "--resolution",
        type=int,
        choices=sorted(pathfinder_release.FOLDERS),
        default=32,
        help="32: task pathfinder; 128: task pathx",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    record = pathfinder_release.write_release(
        args.out,
        args.num_images,
        seed=args.seed,
        resolution=args.resolution,
        workers=args.workers,
        verbose=0 if args.quiet else 1,
    )
    print(f"wrote {record['num_images']} images (labels {record['labels']}) to {args.out}")


if __name__ == "__main__":
    main()
