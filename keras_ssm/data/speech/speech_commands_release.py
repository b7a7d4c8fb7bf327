"""Spoken Speech Commands words from espeak-ng, written in the released v0.02 layout.

``write_release(folder, seed)`` speaks the 35 words of ``speech.CLASSES_35`` with
espeak-ng and writes what ``speech_commands_v0.02.tar.gz`` holds, so that
``keras_ssm.data.speech.load`` and ``python -m examples.speech_commands`` read it
unchanged (command line: ``python tools/generate_speech_commands.py``, ``make data-speech``)::

    folder/
      backward/ bed/ ... zero/        one-second 16 kHz mono int16 WAVs,
                                      <speaker>_nohash_<k>.wav
      _background_noise_/             60 s noise files (white, pink, brown, hum, babble)
      validation_list.txt  testing_list.txt
      README.md  generated.json       what was generated, with which settings

A *speaker* is one espeak-ng language voice (English voices and other languages reading
the English spelling), one voice variant (``+m3``, ``+f2``, ``+klatt``, ``+whisper``, ...)
and one pitch range. ``speakers`` distinct speakers are drawn from the chosen voice set;
80% of them speak the train clips, 10% validation and 10% test, so no speaker is in two
splits. Every speaker says every word ``repeats`` times, each time with its own speaking
rate, pitch (inside the speaker's range), position in the one-second window, background
noise (a random stretch of one of the noise files, at a random SNR) and gain.

Everything is drawn from numpy generators seeded by (seed, speaker, word, repeat), so the
same settings give the same bytes on the same espeak-ng and sox, with any number of
workers. This data stands in for the real recordings in tests and for users without the
2.3 GB download; accuracies on it are not accuracies on Speech Commands.

Needs the ``espeak-ng`` and ``sox`` programs (Debian: ``apt-get install espeak-ng sox``).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from keras_ssm.data._shared import map_in_workers
from keras_ssm.data.speech.speech_commands import CLASSES_35
from keras_ssm.data.speech.speech_commands import read_wav_int16

SAMPLE_RATE = 16000
FORMAT_VERSION = 1
MARKER_FILE = "generated.json"
NOISE_FOLDER = "_background_noise_"
NOISE_KINDS = ("white_noise", "pink_noise", "brown_noise", "hum", "babble")

ENGLISH = tuple(
    "en-us en-gb en-gb-x-rp en-029 en-gb-scotland en-gb-x-gbclan en-gb-x-gbcwmd en-us-nyc".split()
)
_VARIANTS = tuple(
    """
    Alex Alicia Andrea Andy Annie AnxiousAndy Denis Diogo Gene Gene2 Henrique Hugo Jacky Lee
    Marco Mario Michael Mike Nguyen RicishayMax RicishayMax2 RicishayMax3 Storm Tweaky adam
    anika antonio aunty belinda benjamin boris caleb croak david ed edward edward2 f1 f2 f3 f4
    f5 grandma grandpa gustave iven iven2 iven3 iven4 john kaukovalta klatt klatt2 klatt3
    klatt4 klatt5 klatt6 linda m1 m2 m3 m4 m5 m6 m7 m8 marcelo max michel miguel norbert pablo
    paul pedro quincy rob robert sandro shelby steph steph2 steph3 travis victor whisper
    whisperf zac
    """.split()
)
VOICE_SETS = {
    "a": dict(voices=ENGLISH[:4] + ("de", "nl", "sv", "es", "it", "pl"), variants=_VARIANTS[0::2]),
    "b": dict(voices=ENGLISH[4:] + ("da", "nb", "af", "fr", "pt", "cs"), variants=_VARIANTS[1::2]),
}
"""Two disjoint speaker populations (language voices and variants of espeak-ng 1.51); a
second data set drawn from "b" has no voice or variant in common with one from "a"."""

PITCH_RANGES = ((15, 40), (40, 65), (65, 90))
"""espeak-ng pitch (-p, 0-99) ranges; a speaker has one, each clip a pitch inside it."""

DEFAULTS = dict(
    voice_set="a",
    speakers=800,
    repeats=1,
    words=CLASSES_35,
    rate=(130, 260),
    snr_db=(5.0, 40.0),
    peak_dbfs=(-30.0, -1.0),
    noise_seconds=60,
    split_fractions=(0.8, 0.1, 0.1),
)
"""Default settings of `write_release` (about 22,400 / 2,800 / 2,800 clips)."""

SPLIT_LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}


def tool_versions():
    """The versions of the two programs the generator runs (recorded in `generated.json`).

    Returns:
        {"espeak-ng": version line, "sox": version line}.

    Raises:
        FileNotFoundError: naming the program that is not installed and how to install it.

    Example:

    ```python
    # Not run by the tests (needs espeak-ng and sox).
    tool_versions()  # {'espeak-ng': 'eSpeak NG text-to-speech: 1.51', 'sox': 'sox: SoX v14.4.2'}
    ```
    """
    versions = {}
    for tool, flag in (("espeak-ng", "--version"), ("sox", "--version")):
        if shutil.which(tool) is None:
            raise FileNotFoundError(
                f"`{tool}` is not installed; it is needed to speak the words. "
                "Debian/Ubuntu: apt-get install -y espeak-ng sox."
            )
        out = subprocess.run([tool, flag], capture_output=True, text=True, check=True).stdout
        versions[tool] = out.strip().splitlines()[0].split("  Data at")[0].strip()
    return versions


def release_settings(seed=0, **overrides):
    """The full settings dict of a release (what `generated.json` records).

    Args:
        seed: int, the generation seed.
        **overrides: keys of `DEFAULTS` to change (`words` a sequence of words from
            `CLASSES_35`; `rate`, `snr_db`, `peak_dbfs` (low, high) pairs).

    Returns:
        dict with JSON-friendly values (tuples as lists).

    Example:

    ```python
    release_settings(1, voice_set="b", speakers=40, words=("yes", "no"))
    ```
    """
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"Unknown settings {sorted(unknown)}; use keys of DEFAULTS.")
    settings = {**DEFAULTS, **overrides}
    if settings["voice_set"] not in VOICE_SETS:
        raise ValueError(
            f"`voice_set` must be one of {sorted(VOICE_SETS)}, got {settings['voice_set']!r}."
        )
    bad = [w for w in settings["words"] if w not in CLASSES_35]
    if bad or not settings["words"]:
        raise ValueError(f"`words` must be words of CLASSES_35, got {bad or 'none'}.")
    pool = _pool_size(settings["voice_set"])
    if not 3 <= int(settings["speakers"]) <= pool:
        raise ValueError(
            f"`speakers` must be in [3, {pool}] (voices x variants x pitch "
            f"ranges of set {settings['voice_set']!r}), got {settings['speakers']}."
        )
    if int(settings["repeats"]) < 1:
        raise ValueError(f"`repeats` must be >= 1, got {settings['repeats']}.")
    for key in ("rate", "snr_db", "peak_dbfs"):
        low, high = settings[key]
        if not low <= high:
            raise ValueError(f"`{key}` must be (low, high) with low <= high, got {settings[key]}.")
    return dict(
        format_version=FORMAT_VERSION,
        seed=int(seed),
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
    )


def _pool_size(voice_set):
    spec = VOICE_SETS[voice_set]
    return len(spec["voices"]) * len(spec["variants"]) * len(PITCH_RANGES)


def draw_speakers(settings):
    """The speakers of a release: a list of dicts, ordered, each with its split.

    Speakers are distinct (voice, variant, pitch range) triples drawn from the voice set
    with the seed; the first 80% (`split_fractions`) of the draw are train, the next 10%
    validation, the rest test (at least one speaker each).

    Args:
        settings: a dict of `release_settings`.

    Returns:
        list of dict(id, voice, variant, pitch, split): `id` 8 hex digits, `pitch` (low, high).

    Example:

    ```python
    speakers = draw_speakers(release_settings(0, speakers=10))
    [s["split"] for s in speakers].count("train")  # 8
    ```
    """
    spec = VOICE_SETS[settings["voice_set"]]
    rng = np.random.default_rng([settings["seed"], 7919])
    triples = [
        (v, w, p)
        for v in spec["voices"]
        for w in spec["variants"]
        for p in range(len(PITCH_RANGES))
    ]
    chosen = rng.choice(len(triples), size=int(settings["speakers"]), replace=False)
    count = len(chosen)
    n_val = max(1, int(round(settings["split_fractions"][1] * count)))
    n_test = max(1, int(round(settings["split_fractions"][2] * count)))
    n_train = count - n_val - n_test
    speakers = []
    for index, choice in enumerate(chosen):
        voice, variant, pitch = triples[int(choice)]
        split = "train" if index < n_train else "val" if index < n_train + n_val else "test"
        name = f"{settings['seed']}:{voice}+{variant}:{PITCH_RANGES[pitch]}"
        speakers.append(
            dict(
                id=hashlib.sha1(name.encode()).hexdigest()[:8],
                voice=voice,
                variant=variant,
                pitch=list(PITCH_RANGES[pitch]),
                split=split,
            )
        )
    return speakers


def _speak(word, voice, variant, rate, pitch):
    """espeak-ng's `word` resampled by sox to 16 kHz: float32 (n,) in [-1, 1]."""
    spoken = subprocess.run(
        [
            "espeak-ng",
            "-v",
            f"{voice}+{variant}",
            "-s",
            str(int(rate)),
            "-p",
            str(int(pitch)),
            "-z",
            "--stdout",
            word,
        ],
        capture_output=True,
        check=True,
    ).stdout
    raw = subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-t",
            "raw",
            "-e",
            "floating-point",
            "-b",
            "32",
            "-L",
            "-c",
            "1",
            "-r",
            str(SAMPLE_RATE),
            "-",
            "rate",
            "-h",
        ],
        input=spoken,
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, "<f4").astype(np.float64)


def _trim(samples, threshold=0.02):
    """The span from the first to the last sample above `threshold` x the peak."""
    peak = np.max(np.abs(samples)) if samples.size else 0.0
    if peak == 0:
        return samples[:0]
    loud = np.flatnonzero(np.abs(samples) > threshold * peak)
    return samples[max(loud[0] - 80, 0) : loud[-1] + 80]


def _clip_for(word, speaker, rng, settings, noise_bank):
    """One clip: int16 (16000,) of `speaker` saying `word`, drawn with `rng`."""
    rate = rng.uniform(*settings["rate"])
    pitch = rng.uniform(*speaker["pitch"])
    for _ in range(6):
        speech = _trim(_speak(word, speaker["voice"], speaker["variant"], rate, pitch))
        if len(speech) <= SAMPLE_RATE:
            break
        rate *= 1.25  # too slow to fit one second: speak faster
    speech = speech[:SAMPLE_RATE]
    clip = np.zeros(SAMPLE_RATE)
    start = int(rng.integers(0, SAMPLE_RATE - len(speech) + 1))
    clip[start : start + len(speech)] = speech
    noise = noise_bank[int(rng.integers(len(noise_bank)))]
    offset = int(rng.integers(0, len(noise) - SAMPLE_RATE + 1))
    noise = noise[offset : offset + SAMPLE_RATE]
    speech_rms = np.sqrt(np.mean(speech**2)) if len(speech) else 1.0
    noise_rms = max(np.sqrt(np.mean(noise**2)), 1e-9)
    snr = rng.uniform(*settings["snr_db"])
    clip = clip + noise * (speech_rms / noise_rms) * 10 ** (-snr / 20)
    peak = 10 ** (rng.uniform(*settings["peak_dbfs"]) / 20)
    clip *= peak / max(np.max(np.abs(clip)), 1e-9)
    return np.clip(np.round(clip * 32767), -32768, 32767).astype(np.int16)


def _write_wav(path, samples):
    """Writes int16 `samples` as a 16 kHz mono 16-bit PCM WAV (via a temporary file)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with wave.open(str(temporary), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(np.asarray(samples, "<i2").tobytes())
    os.replace(temporary, path)


def noise_signal(kind, seconds, seed):
    """A background noise signal: float64 (seconds * 16000,), peak 1.

    Args:
        kind: one of `NOISE_KINDS`: "white_noise", "pink_noise" (1/f power),
            "brown_noise" (1/f^2), "hum" (50 Hz and harmonics over faint noise), "babble"
            (four espeak-ng voices saying random syllables at once).
        seconds: int.
        seed: int.

    Example:

    ```python
    noise = noise_signal("pink_noise", 1, seed=0)  # (16000,), max |noise| == 1
    ```
    """
    n = int(seconds) * SAMPLE_RATE
    rng = np.random.default_rng([seed, NOISE_KINDS.index(kind), 104729])
    if kind in ("white_noise", "pink_noise", "brown_noise"):
        spectrum = np.fft.rfft(rng.standard_normal(n))
        frequency = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
        power = {"white_noise": 0, "pink_noise": 1, "brown_noise": 2}[kind]
        signal = np.fft.irfft(spectrum / frequency ** (power / 2), n)
    elif kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        signal = sum(
            np.sin(2 * np.pi * 50 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 8)
        ) + 0.05 * rng.standard_normal(n)
    else:
        signal = np.zeros(n)
        syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
        spec = VOICE_SETS["a"]
        for _ in range(4):
            position = 0
            while position < n:
                text = " ".join(rng.choice(syllables, size=12))
                voice = str(rng.choice(spec["voices"]))
                variant = str(rng.choice(spec["variants"]))
                speech = _speak(text, voice, variant, rng.uniform(150, 220), rng.uniform(20, 80))
                piece = speech[: n - position]
                signal[position : position + len(piece)] += piece
                position += len(piece) + int(rng.integers(0, SAMPLE_RATE // 4))
    return signal / max(np.max(np.abs(signal)), 1e-9)


def _speaker_job(job):
    """Writes every clip of one speaker; returns their "word/file.wav" names."""
    folder, settings, index, speaker = job
    bank = _noise_bank(folder)
    names = []
    for word in settings["words"]:
        for repeat in range(int(settings["repeats"])):
            name = f"{word}/{speaker['id']}_nohash_{repeat}.wav"
            names.append(name)
            path = Path(folder) / name
            if path.exists():
                continue  # a resumed run: the same settings give the same file
            rng = np.random.default_rng([settings["seed"], index, CLASSES_35.index(word), repeat])
            _write_wav(path, _clip_for(word, speaker, rng, settings, bank))
    return names


_BANKS = {}


def _noise_bank(folder):
    """The noise files of `folder` as float64 arrays (read once per process)."""
    if folder not in _BANKS:
        _BANKS[folder] = [
            read_wav_int16(Path(folder) / NOISE_FOLDER / f"{kind}.wav") / 32768.0
            for kind in NOISE_KINDS
        ]
    return _BANKS[folder]


def write_release(folder, seed=0, workers=1, verbose=1, **overrides):
    """Generates a Speech Commands-style data set in `folder` (see the module docstring).

    A folder holding an unfinished release with the same settings is completed (files
    already written are kept); one with other settings, or any other non-empty folder
    without `generated.json`, is refused.

    Args:
        folder: output folder (created).
        seed: int, the generation seed.
        workers: processes that speak in parallel (the files do not depend on it).
        verbose: 0 silent, 1 progress lines on stderr.
        **overrides: settings, see `DEFAULTS` and `release_settings`.

    Returns:
        The settings dict written to `generated.json` (with "tools" and "clips").

    Example:

    ```python
    # Not run by the tests (needs espeak-ng and sox; tests/test_speech_commands_release.py).
    from keras_ssm.data import speech
    from keras_ssm.data.speech import speech_commands_release

    speech_commands_release.write_release(
        "sc_tiny", seed=0, speakers=6, words=("yes", "no"), noise_seconds=2
    )
    x, y = speech.load("sc_tiny", "test", classes=10)  # (2, 16000), labels 0, 1
    ```
    """
    settings = release_settings(seed, **overrides)
    folder = Path(folder)
    marker = folder / MARKER_FILE
    record = dict(
        settings, generator="keras_ssm.data.speech.speech_commands_release", tools=tool_versions()
    )
    if marker.exists():
        previous = json.loads(marker.read_text())
        if {k: previous.get(k) for k in record} != record:
            raise ValueError(
                f"{folder} holds a release generated with other settings "
                f"({marker}); choose another folder or delete it."
            )
    elif folder.exists() and any(folder.iterdir()):
        raise ValueError(
            f"{folder} is not empty and was not written by this generator "
            f"(no {MARKER_FILE}); choose an empty or new folder."
        )
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(dict(record, complete=False), indent=1) + "\n")
    (folder / NOISE_FOLDER).mkdir(exist_ok=True)
    for kind in NOISE_KINDS:
        path = folder / NOISE_FOLDER / f"{kind}.wav"
        if not path.exists():
            signal = noise_signal(kind, settings["noise_seconds"], seed) * 0.5
            _write_wav(path, np.round(signal * 32767).astype(np.int16))
    for word in CLASSES_35:  # all 35 folders, as released (empty for words not spoken)
        (folder / word).mkdir(exist_ok=True)
    speakers = draw_speakers(settings)
    jobs = [(str(folder), settings, i, s) for i, s in enumerate(speakers)]
    lists = {"train": [], "val": [], "test": []}
    with map_in_workers(_speaker_job, jobs, workers) as results:
        for done, (speaker, names) in enumerate(zip(speakers, results), start=1):
            lists[speaker["split"]] += names
            if verbose and (done % 20 == 0 or done == len(jobs)):
                print(f"speakers {done}/{len(jobs)}", file=sys.stderr, flush=True)
    for split, file_name in SPLIT_LISTS.items():
        (folder / file_name).write_text("".join(f"{n}\n" for n in sorted(lists[split])))
    record["clips"] = {split: len(names) for split, names in lists.items()}
    record["speakers_per_split"] = {
        split: sum(s["split"] == split for s in speakers) for split in lists
    }
    (folder / "README.md").write_text(_readme(record))
    marker.write_text(json.dumps(dict(record, complete=True), indent=1) + "\n")
    return record


def _readme(record):
    return (
        "# Generated spoken words (not the Speech Commands recordings)\n\n"
        "Written by keras_ssm.data.speech.speech_commands_release (espeak-ng + sox)\n"
        "in the layout of Speech Commands v0.02. Speakers are espeak-ng voices x variants\n"
        "x pitch ranges, disjoint across train / validation / test. Accuracies on these\n"
        "clips are not accuracies on the real benchmark. Settings: generated.json.\n\n"
        f"Clips: {record['clips']}; speakers: {record['speakers_per_split']}.\n"
    )
