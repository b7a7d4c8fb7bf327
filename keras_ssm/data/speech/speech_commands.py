"""Speech Commands v0.02 reader: the released WAV folders to numpy arrays.

``load(data_dir, split)`` returns one-second waveforms ``(n, sample_rate)``
float32 and int32 labels, in the S4/S5 "SC35" setting: the 35 word folders
(label = index in ``CLASSES_35``, the order of S5's loader), the official
``validation_list.txt`` / ``testing_list.txt`` for val/test and every other
clip of those folders for train; ``_background_noise_`` is ignored.

Each clip: int16 / 32768, zero-padded (or truncated) to 16,000 samples. The
8 kHz set keeps every second sample of those 16 kHz clips (S5's zero-shot
resolution test).

Normalization (``normalize=True``) subtracts ONE scalar mean and divides by
ONE scalar standard deviation, both computed over every sample and time step
of the 16 kHz train split (zero padding included, float64, population std),
and applies them to every split and to the 8 kHz set. This differs on purpose
from S5's ``normalize_all_data``: S5 normalizes each of the 16,000 time
positions separately with ``(x - mean_t) / (std_t + 1e-5)`` on clips already
divided by 2^15 twice, where the 1e-5 dominates the tiny std, so its inputs
are not unit variance. Ours are: train has mean 0 and std 1 exactly.

``classes=10`` keeps only the 10 words of ``CLASSES_10`` with the official
lists (labels = index in ``CLASSES_10``). This is NOT the "SC10" split of
NeuralCDE/CKConv (clips shorter than one second dropped, random stratified
70/15/15), which S5 also reports.

Arrays are cached as ``.npy`` under ``cache_dir`` (default
``data_dir/.keras_ssm_cache``): int16 clips per split (the first read, with a
progress bar), the train statistics, and one float32 file per (split, rate,
normalize) variant; every load returns read-only memory-mapped arrays.
"""

import fractions
import math
import struct
import wave
from pathlib import Path

import numpy as np

from keras_ssm.data import _shared

CLASSES_35 = (
    "bed",
    "cat",
    "down",
    "five",
    "forward",
    "go",
    "house",
    "left",
    "marvin",
    "no",
    "on",
    "right",
    "sheila",
    "tree",
    "up",
    "visual",
    "yes",
    "backward",
    "bird",
    "dog",
    "eight",
    "follow",
    "four",
    "happy",
    "learn",
    "nine",
    "off",
    "one",
    "seven",
    "six",
    "stop",
    "three",
    "two",
    "wow",
    "zero",
)
CLASSES_10 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

SPLITS = ("train", "val", "test")
SAMPLE_RATES = (16000, 8000)
CLIP_SAMPLES = 16000
CACHE_VERSION = "v1"

_HINT = (
    "Download http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz, "
    "extract it into a new folder (mkdir speech_commands_v0.02 && tar xzf "
    "speech_commands_v0.02.tar.gz -C speech_commands_v0.02) and pass data_dir= "
    "that folder (see docs/data.md)."
)


def class_names(classes):
    """Returns ``CLASSES_35`` or ``CLASSES_10`` for ``classes`` = 35 or 10.

    Args:
        classes: int, 35 or 10.

    Returns:
        tuple of words; a word's label is its index.

    Example:
        >>> class_names(10)[:3]
        ('yes', 'no', 'up')
    """
    if classes == 35:
        return CLASSES_35
    if classes == 10:
        return CLASSES_10
    raise ValueError(f"classes={classes!r} is not supported; use 35 or 10.")


def load(
    data_dir,
    split="train",
    classes=35,
    sample_rate=16000,
    normalize=True,
    cache_dir=None,
    verbose=1,
):
    """Loads one split of Speech Commands v0.02 as one-second waveforms.

    Args:
        data_dir: the extracted ``speech_commands_v0.02`` folder (word folders,
            ``validation_list.txt``, ``testing_list.txt``); a parent holding
            ``speech_commands_v0.02/`` or ``SpeechCommands/speech_commands_v0.02/``
            is accepted too.
        split: "train", "val" or "test" (val/test from the official lists).
        classes: 35 (``CLASSES_35``) or 10 (``CLASSES_10``).
        sample_rate: 16000, or 8000 (every second sample).
        normalize: True subtracts the train-set scalar mean and divides by the
            train-set scalar std (see the module docstring); False returns
            int16 / 32768.
        cache_dir: folder for the ``.npy`` caches; default
            ``data_dir/.keras_ssm_cache``.
        verbose: 0 silent, 1 progress bar while reading the WAV files.

    Returns:
        ``(waveforms, labels)``: read-only memory-mapped float32
        ``(n, sample_rate)`` and int32 ``(n,)``.

    Example:
        >>> x, y = load("/data/speech_commands_v0.02", "val", sample_rate=8000)  # doctest: +SKIP
        >>> x.shape, x.dtype  # doctest: +SKIP
        ((9981, 8000), dtype('float32'))
    """
    class_names(classes)
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not valid; use one of {SPLITS}.")
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(f"sample_rate={sample_rate!r} is not supported; use 16000 or 8000.")
    root = find_root(data_dir)
    cache_dir = _shared.resolve_cache_dir(root, cache_dir)
    variant = "normalized" if normalize else "raw"
    key = f"speech_commands-sc{classes}-{split}-{sample_rate}hz-{variant}-{CACHE_VERSION}"

    def build(allocate):
        clips, clip_labels = _load_clips(root, split, classes, cache_dir, verbose)
        if normalize:
            mean, std = normalization_stats(root, classes, cache_dir, verbose)
        step = CLIP_SAMPLES // sample_rate
        waveforms = allocate("waveforms", (len(clips), sample_rate), np.float32)
        labels = allocate("labels", (len(clips),), np.int32)
        for start in range(0, len(clips), 1024):
            chunk = clips[start : start + 1024, ::step].astype(np.float64) / 32768.0
            if normalize:
                chunk = (chunk - mean) / std
            waveforms[start : start + len(chunk)] = chunk
        labels[:] = clip_labels

    return _shared.load_or_build(cache_dir, key, ("waveforms", "labels"), build)


def normalization_stats(data_dir, classes=35, cache_dir=None, verbose=1):
    """Scalar mean and std of the 16 kHz train waveforms (int16 / 32768).

    Over all train clips and all 16,000 time steps (zero padding included),
    computed exactly from integer sums; the std is the population std.

    Args:
        data_dir: the Speech Commands folder (as for ``load``).
        classes: 35 or 10.
        cache_dir: as for ``load``.
        verbose: as for ``load``.

    Returns:
        (mean, std) Python floats.

    Example:
        >>> mean, std = normalization_stats("/data/speech_commands_v0.02")  # doctest: +SKIP
    """
    class_names(classes)
    root = find_root(data_dir)
    cache_dir = _shared.resolve_cache_dir(root, cache_dir)

    def build(allocate):
        clips, _ = _load_clips(root, "train", classes, cache_dir, verbose)
        total, square_total = 0, 0
        for start in range(0, len(clips), 1024):
            chunk = clips[start : start + 1024].astype(np.int64)
            total += int(chunk.sum())
            square_total += int((chunk * chunk).sum())
        count = clips.size
        if count == 0:
            raise ValueError(f"The train split under {root} is empty.")
        mean = fractions.Fraction(total, count * 32768)
        variance = fractions.Fraction(square_total, count * 32768**2) - mean * mean
        if variance == 0:
            raise ValueError("The train clips are constant; use normalize=False.")
        allocate("stats", (2,), np.float64)[:] = [float(mean), math.sqrt(variance)]

    key = f"speech_commands-sc{classes}-train-stats-{CACHE_VERSION}"
    (stats,) = _shared.load_or_build(cache_dir, key, ("stats",), build)
    return float(stats[0]), float(stats[1])


def find_root(data_dir):
    """Returns the folder holding the lists and word folders, given it or a parent.

    Args:
        data_dir: str or Path.

    Returns:
        Path.

    Example:
        >>> import os
        >>> os.makedirs("SpeechCommands/speech_commands_v0.02")
        >>> open("SpeechCommands/speech_commands_v0.02/validation_list.txt", "w").close()
        >>> find_root("SpeechCommands")
        PosixPath('SpeechCommands/speech_commands_v0.02')
    """
    root = _shared.require_path(Path(data_dir).expanduser(), "dir", _HINT)
    for candidate in (
        root,
        root / "speech_commands_v0.02",
        root / "SpeechCommands" / "speech_commands_v0.02",
    ):
        if (candidate / "validation_list.txt").is_file():
            return candidate
    return root


def _load_clips(root, split, classes, cache_dir, verbose):
    """int16 clips (n, 16000), zero-padded, and labels, cached per split."""

    def build(allocate):
        files, file_labels = _split_files(root, split, class_names(classes))
        clips = allocate("clips", (len(files), CLIP_SAMPLES), np.int16)
        labels = allocate("labels", (len(files),), np.int32)
        bar = _shared.progress_bar(len(files), verbose)
        for row, path in enumerate(files):
            samples = read_wav_int16(path)[:CLIP_SAMPLES]
            clips[row, : len(samples)] = samples
            clips[row, len(samples) :] = 0
            if (row + 1) % 256 == 0:
                bar.update(row + 1)
        labels[:] = file_labels
        bar.update(len(files), finalize=True)

    key = f"speech_commands-sc{classes}-{split}-int16-{CACHE_VERSION}"
    return _shared.load_or_build(cache_dir, key, ("clips", "labels"), build)


def _split_files(root, split, words):
    """WAV paths and labels of one split, ordered by label then file name."""
    held_out = {
        "val": _read_list(root / "validation_list.txt"),
        "test": _read_list(root / "testing_list.txt"),
    }
    label_of = {word: label for label, word in enumerate(words)}
    if split == "train":
        excluded = set(held_out["val"]) | set(held_out["test"])
        entries = []
        for word in words:
            folder = _shared.require_path(root / word, "dir", _HINT)
            for path in folder.glob("*.wav"):
                relative = f"{word}/{path.name}"
                if relative not in excluded:
                    entries.append(relative)
    else:
        listing = held_out[split]
        entries = [entry for entry in listing if entry.split("/")[0] in label_of]
        for entry in entries:
            if not (root / entry).is_file():
                list_path, line_number = listing[entry]
                raise FileNotFoundError(
                    f"{root / entry} (listed in {list_path}, line {line_number}) not found."
                )
    entries.sort(key=lambda entry: (label_of[entry.split("/")[0]], entry))
    files = [root / entry for entry in entries]
    labels = np.array([label_of[entry.split("/")[0]] for entry in entries], np.int32)
    return files, labels


def _read_list(path):
    """Reads an official list: ``{"word/file.wav": (list path, line number)}``."""
    _shared.require_path(path, "file", _HINT)
    entries = {}
    with open(path, encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            entry = line.strip()
            if not entry:
                continue
            if entry.count("/") != 1 or not entry.endswith(".wav"):
                raise _shared.malformed_line(
                    path, line_number, f"expected <word>/<file>.wav, got {entry!r}"
                )
            entries[entry] = (path, line_number)
    return entries


def read_wav_int16(path):
    """Reads a 16-bit PCM mono 16 kHz WAV file (stdlib ``wave``).

    Args:
        path: str or Path.

    Returns:
        int16 array (num_samples,).

    Example:
        >>> import wave
        >>> with wave.open("clip.wav", "wb") as f:   # one second of silence
        ...     f.setnchannels(1); f.setsampwidth(2); f.setframerate(16000)
        ...     f.writeframes(bytes(32000))
        >>> read_wav_int16("clip.wav").shape
        (16000,)
    """
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            if (channels, width, rate) != (1, 2, CLIP_SAMPLES):
                raise ValueError(
                    f"WAV file {path} is {channels}-channel, {8 * width}-bit, {rate} Hz; "
                    "expected mono 16-bit PCM at 16000 Hz."
                )
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, struct.error) as error:
        raise ValueError(f"Cannot read WAV file {path}: {error}") from error
    if len(frames) % 2:
        raise ValueError(f"WAV file {path} has a truncated last sample.")
    return np.frombuffer(frames, dtype="<i2").astype(np.int16)
