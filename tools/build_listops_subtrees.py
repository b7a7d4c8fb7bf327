"""Builds the fixed ListOpsSubTrees splits: ``{train,val,test}.npz`` and ``setting.json``.

    python tools/build_listops_subtrees.py --out DIR --train 96000 \\
        --val 2000 --test 2000 --setting paper --workers 8

The work is `keras_ssm.data.synthetic.listops_subtrees_build.build_fixed_splits`; read
the files with `keras_ssm.data.synthetic.listops_subtrees.load_split`.
"""

import argparse
import os

from keras_ssm.data.synthetic import listops_subtrees
from keras_ssm.data.synthetic import listops_subtrees_build


def main(argv=None):
    """Command line: build the fixed splits."""
    parser = argparse.ArgumentParser(
        prog="python tools/build_listops_subtrees.py",
        description="Build the ListOpsSubTrees train/val/test .npz files.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--train", type=int, default=96000)
    parser.add_argument("--val", type=int, default=2000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument(
        "--setting",
        default="paper",
        help="paper | lra | a custom 'max_depth,max_args,min_length,max_length,l_max'",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.setting in listops_subtrees.SETTINGS:
        setting = listops_subtrees.SETTINGS[args.setting]
    else:
        try:
            setting = listops_subtrees.ListOpsSetting(*(int(v) for v in args.setting.split(",")))
        except (TypeError, ValueError) as error:
            parser.error(f"--setting: {error}")
    stats = listops_subtrees_build.build_fixed_splits(
        args.out,
        args.train,
        args.val,
        args.test,
        setting,
        args.seed,
        args.workers,
        args.chunk_size,
        verbose=not args.quiet,
    )
    print(
        f"wrote {args.out}: train {stats['train']} val {stats['val']} "
        f"test {stats['test']} (dropped {stats['duplicates']} duplicates, "
        f"{stats['template_duplicates']} template duplicates)"
    )


if __name__ == "__main__":
    main()
