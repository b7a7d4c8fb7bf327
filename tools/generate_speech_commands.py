"""Speaks the 35 Speech Commands words with espeak-ng into the released v0.02 layout.

    python tools/generate_speech_commands.py --out runs/speech_commands_generated
    python tools/generate_speech_commands.py --out runs/sc_voices_b --voice-set b --seed 1
    python tools/generate_speech_commands.py --out /tmp/sc_tiny --speakers 6 \\
        --words yes no --noise-seconds 2

The work is `keras_ssm.data.speech.speech_commands_release.write_release`; read the folder
with `keras_ssm.data.speech.load` or train on it with `python -m examples.speech_commands
--data-dir FOLDER`. Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox).
Generated data: never report accuracies on it as Speech Commands results.
"""

import argparse

from keras_ssm.data.speech import speech_commands_release as synth


def main(argv=None):
    """Command line: generate the folder; prints the clip counts."""
    defaults = synth.DEFAULTS
    parser = argparse.ArgumentParser(
        prog="python tools/generate_speech_commands.py",
        description="Generate Speech Commands-style spoken words with espeak-ng.",
    )
    parser.add_argument("--out", required=True, help="output folder (new or empty)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--voice-set",
        choices=sorted(synth.VOICE_SETS),
        default=defaults["voice_set"],
        help="disjoint populations of espeak-ng voices and variants",
    )
    parser.add_argument(
        "--speakers",
        type=int,
        default=defaults["speakers"],
        help="speakers (voice x variant x pitch range), 80/10/10 "
        "train/val/test (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=defaults["repeats"],
        help="clips per speaker and word (default: %(default)s)",
    )
    parser.add_argument(
        "--words", nargs="+", default=None, help="a subset of the 35 words (default: all)"
    )
    parser.add_argument("--noise-seconds", type=int, default=defaults["noise_seconds"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    overrides = dict(
        voice_set=args.voice_set,
        speakers=args.speakers,
        repeats=args.repeats,
        noise_seconds=args.noise_seconds,
    )
    if args.words:
        overrides["words"] = tuple(args.words)
    record = synth.write_release(
        args.out, seed=args.seed, workers=args.workers, verbose=0 if args.quiet else 1, **overrides
    )
    print(f"wrote {record['clips']} clips (speakers {record['speakers_per_split']}) to {args.out}")


if __name__ == "__main__":
    main()
