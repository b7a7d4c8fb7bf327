"""Tests for the spoken-words generator (keras_ssm.data.speech.speech_commands_release and
tools/generate_speech_commands.py) on tiny releases: layout, WAV format, determinism,
disjoint speakers and the reader (which `examples.speech_commands` trains from:
tests/test_examples_speech_commands.py).

The WAV files are checked with the standard-library `wave` module and the noise spectra
with a least-squares slope fitted here; nothing is compared with the generator's own
arithmetic. Skipped (with the reason) where espeak-ng or sox is not installed.
"""

import hashlib
import importlib.util
import json
import pathlib
import shutil
import wave

import numpy as np
import pytest

from keras_ssm.data.speech import speech_commands
from keras_ssm.data.speech import speech_commands_release as synth

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are not installed (Debian: apt-get install -y espeak-ng sox)",
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORDS = ("yes", "no", "up")
TINY = dict(speakers=6, words=WORDS, noise_seconds=2)


def file_digests(folder):
    """{relative path: sha1} of every file under `folder` except the reader's caches."""
    folder = pathlib.Path(folder)
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".keras_ssm_cache" not in p.parts
    }


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sc") / "speech_commands_v0.02"
    record = synth.write_release(folder, seed=3, verbose=0, **TINY)
    return folder, record


def split_entries(folder):
    """{"train"/"val"/"test": ["word/file.wav", ...]} from the folder and its lists."""
    lists = {
        split: (folder / name).read_text().split() for split, name in synth.SPLIT_LISTS.items()
    }
    held_out = set(lists["val"]) | set(lists["test"])
    train = sorted(
        f"{p.parent.name}/{p.name}"
        for p in folder.glob("*/*.wav")
        if p.parent.name in speech_commands.CLASSES_35
        and f"{p.parent.name}/{p.name}" not in held_out
    )
    return {"train": train, **lists}


def test_layout(release):
    folder, record = release
    for word in speech_commands.CLASSES_35:
        assert (folder / word).is_dir(), word
    spoken = {
        p.parent.name for p in folder.glob("*/*.wav") if p.parent.name != "_background_noise_"
    }
    assert spoken == set(WORDS)
    noise = sorted(p.name for p in (folder / "_background_noise_").glob("*.wav"))
    assert noise == sorted(f"{kind}.wav" for kind in synth.NOISE_KINDS)
    entries = split_entries(folder)
    for split in ("val", "test"):
        assert entries[split], split
        for line in entries[split]:
            word, name = line.split("/")
            assert word in WORDS and (folder / line).is_file()
            assert name.endswith("_nohash_0.wav") and len(name.split("_")[0]) == 8
    total = sum(len(v) for v in entries.values())
    assert total == len(WORDS) * TINY["speakers"]
    assert {k: len(v) for k, v in entries.items()} == record["clips"]
    marker = json.loads((folder / "generated.json").read_text())
    assert marker["complete"] and marker["seed"] == 3 and marker["words"] == list(WORDS)
    assert "not the Speech Commands recordings" in (folder / "README.md").read_text()


def test_wav_format(release):
    folder, _ = release
    paths = sorted(folder.glob("*/*.wav"))
    for path in paths:
        with wave.open(str(path), "rb") as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
            frames = wav.getnframes()
            samples = np.frombuffer(wav.readframes(frames), "<i2").astype(np.int64)
        if path.parent.name == "_background_noise_":
            assert frames == 2 * 16000
        else:
            assert frames == 16000
            peak = np.abs(samples).max()
            low, high = (10 ** (db / 20) * 32767 for db in synth.DEFAULTS["peak_dbfs"])
            assert 0.95 * low <= peak <= high + 1, (path, peak)
            # speech stands above the noise: the loudest 10 ms window beats the quietest
            energy = np.convolve(samples.astype(float) ** 2, np.ones(160), "valid")
            assert energy.max() > 3 * energy.min(), path


def run_tool(argv):
    """tools/generate_speech_commands.py's main, in this process."""
    path = ROOT / "tools" / "generate_speech_commands.py"
    spec = importlib.util.spec_from_file_location("generate_speech_commands", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(argv)


def test_command_line_same_seed_same_bytes_any_workers(release, tmp_path):
    """The command line with two workers writes the fixture's bytes; another seed does not."""
    folder, record = release
    words = ["--words", *WORDS, "--speakers", "6", "--noise-seconds", "2", "--quiet"]
    run_tool(["--out", str(tmp_path / "again"), "--seed", "3", "--workers", "2", *words])
    assert file_digests(tmp_path / "again") == file_digests(folder)
    other = tmp_path / "other"
    synth.write_release(other, seed=4, verbose=0, speakers=3, words=("yes",), noise_seconds=1)
    first = file_digests(folder)
    assert not {v for k, v in first.items() if k.startswith("yes/")} & set(
        file_digests(other).values()
    )


def test_speakers_disjoint_across_splits(release):
    folder, _ = release
    speakers = {
        split: {line.split("/")[1].split("_nohash_")[0] for line in entries}
        for split, entries in split_entries(folder).items()
    }
    assert all(speakers.values())
    assert not speakers["train"] & speakers["val"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"]
    drawn = synth.draw_speakers(synth.release_settings(3, **TINY))
    triples = {(s["voice"], s["variant"], tuple(s["pitch"])) for s in drawn}
    assert len(triples) == len(drawn) == TINY["speakers"]
    by_id = {s["id"]: s["split"] for s in drawn}
    for split, ids in speakers.items():
        assert {by_id[i] for i in ids} == {split}
    # every speaker says every word
    for split, entries in split_entries(folder).items():
        for speaker in speakers[split]:
            assert {e.split("/")[0] for e in entries if speaker in e} == set(WORDS)


def test_voice_sets_disjoint():
    a, b = synth.VOICE_SETS["a"], synth.VOICE_SETS["b"]
    assert not set(a["voices"]) & set(b["voices"])
    assert not set(a["variants"]) & set(b["variants"])


def test_noise_spectra_slopes():
    """White, pink and brown noise: log power against log frequency has slope 0, -1, -2."""
    frequency = np.fft.rfftfreq(16000 * 4, 1 / 16000)
    band = (frequency > 50) & (frequency < 4000)
    for kind, slope in (("white_noise", 0.0), ("pink_noise", -1.0), ("brown_noise", -2.0)):
        power = np.abs(np.fft.rfft(synth.noise_signal(kind, 4, seed=0))) ** 2
        fitted = np.polyfit(np.log(frequency[band]), np.log(power[band]), 1)[0]
        assert abs(fitted - slope) < 0.15, (kind, fitted)


def test_reader_reads_it(release):
    folder, record = release
    x, y = speech_commands.load(folder, "train", classes=10, verbose=0)
    assert x.shape == (record["clips"]["train"], 16000) and x.dtype == np.float32
    assert abs(float(np.mean(x))) < 1e-4 and abs(float(np.std(x)) - 1) < 1e-3
    assert sorted(set(y.tolist())) == sorted(speech_commands.CLASSES_10.index(w) for w in WORDS)
    x8, y8 = speech_commands.load(folder, "test", classes=10, sample_rate=8000, verbose=0)
    assert x8.shape == (record["clips"]["test"], 8000)
    x35, y35 = speech_commands.load(folder, "val", classes=35, verbose=0)
    assert len(x35) == record["clips"]["val"]
    assert {speech_commands.CLASSES_35[i] for i in y35} == set(WORDS)


def test_refuses_foreign_or_changed_folders(release, tmp_path):
    folder, _ = release
    with pytest.raises(ValueError, match="other settings"):
        synth.write_release(folder, seed=9, verbose=0, **TINY)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "validation_list.txt").write_text("")
    with pytest.raises(ValueError, match="not empty"):
        synth.write_release(foreign, seed=0, verbose=0, **TINY)
    with pytest.raises(ValueError, match="words"):
        synth.release_settings(0, words=("hello",))
    with pytest.raises(ValueError, match="speakers"):
        synth.release_settings(0, speakers=10**6)
