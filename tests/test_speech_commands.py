"""Tests for keras_ssm.data.speech.speech_commands on a fixture in the released layout.

The fixture writes 16-bit PCM mono 16 kHz WAVs with the stdlib ``wave`` module
into word folders, plus the official list files and a ``_background_noise_``
folder; expectations (padding, splits, labels, statistics) are recomputed here
from the int16 samples that were written.
"""

import shutil
import wave

import numpy as np
import pytest

from keras_ssm.data.speech import speech_commands as sc

WORDS_35 = (
    "bed cat down five forward go house left marvin no on right sheila tree up "
    "visual yes backward bird dog eight follow four happy learn nine off one "
    "seven six stop three two wow zero"
).split()
WORDS_10 = "yes no up down left right on off stop go".split()


def write_wav(path, samples, rate=16000, channels=1, width=2):
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(np.asarray(samples).astype("<i2").tobytes())


def make_speech_dir(root, seed=0):
    """Writes the fixture; returns {"word/file.wav": int16 samples} and the lists."""
    rng = np.random.default_rng(seed)
    clips = {}
    lengths = [16000, 11999, 16100, 4000]  # full, short, one too long, short
    for w, word in enumerate(WORDS_35):
        (root / word).mkdir(parents=True)
        for i in range(3 if w % 2 else 2):
            name = f"{w:02d}ab{i}_nohash_{i}.wav"
            n = lengths[(w + i) % len(lengths)]
            samples = rng.integers(-32768, 32768, size=n).astype(np.int16)
            samples[:50] = 32767 - w  # distinct, extreme values
            write_wav(root / word / name, samples)
            clips[f"{word}/{name}"] = samples
        (root / word / "notes.txt").write_text("not a wav")
    names = sorted(clips)
    val = names[0::7]
    test = names[3::7]
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_" / "white_noise.wav", rng.integers(-9, 9, size=48000))
    (root / "_background_noise_" / "README.md").write_text("noise")
    (root / "LICENSE").write_text("CC-BY-4.0")
    return clips, val, test


def expected_split(clips, val, test, split, words):
    if split == "val":
        names = val
    elif split == "test":
        names = test
    else:
        names = [n for n in clips if n not in set(val) | set(test)]
    names = [n for n in names if n.split("/")[0] in words]
    names.sort(key=lambda n: (words.index(n.split("/")[0]), n))
    waves = np.zeros((len(names), 16000), dtype=np.float64)
    for row, name in enumerate(names):
        samples = clips[name][:16000]
        waves[row, : len(samples)] = samples / 32768.0
    labels = np.array([words.index(n.split("/")[0]) for n in names])
    return waves, labels


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    root = tmp_path_factory.mktemp("sc") / "speech_commands_v0.02"
    root.mkdir()
    clips, val, test = make_speech_dir(root)
    return {"root": root, "clips": clips, "val": val, "test": test}


def test_class_constants():
    assert sc.CLASSES_35 == tuple(WORDS_35) and len(set(sc.CLASSES_35)) == 35
    assert sc.CLASSES_10 == tuple(WORDS_10)


@pytest.mark.parametrize("classes,words", [(35, WORDS_35), (10, WORDS_10)])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_raw_splits_labels_padding(speech, tmp_path, classes, words, split):
    x, y = sc.load(
        speech["root"], split, classes=classes, normalize=False, cache_dir=tmp_path, verbose=0
    )
    expected_x, expected_y = expected_split(
        speech["clips"], speech["val"], speech["test"], split, words
    )
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert x.shape == (len(expected_y), 16000) and len(expected_y) > 0
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(x, expected_x.astype(np.float32))


def test_split_sizes_and_disjointness(speech, tmp_path):
    total = 0
    for split in ("train", "val", "test"):
        _, y = sc.load(speech["root"], split, normalize=False, cache_dir=tmp_path, verbose=0)
        total += len(y)
    assert total == len(speech["clips"])  # every clip once; noise folder ignored


def test_short_clip_zero_padded_and_long_truncated(speech, tmp_path):
    x, y = sc.load(speech["root"], "train", normalize=False, cache_dir=tmp_path, verbose=0)
    expected_x, _ = expected_split(
        speech["clips"], speech["val"], speech["test"], "train", WORDS_35
    )
    lengths = {len(c) for c in speech["clips"].values()}
    assert lengths == {16000, 11999, 16100, 4000}
    short_rows = [r for r in range(len(x)) if np.all(expected_x[r, 4000:] == 0)]
    assert short_rows and all(np.all(x[r, 4000:] == 0) for r in short_rows)
    assert np.abs(x).max() <= 1.0


def test_8khz_is_every_second_sample(speech, tmp_path):
    x16, y16 = sc.load(speech["root"], "val", normalize=False, cache_dir=tmp_path, verbose=0)
    x8, y8 = sc.load(
        speech["root"], "val", sample_rate=8000, normalize=False, cache_dir=tmp_path, verbose=0
    )
    assert x8.shape == (len(x16), 8000)
    np.testing.assert_array_equal(x8, np.asarray(x16)[:, ::2])
    np.testing.assert_array_equal(y8, y16)


@pytest.mark.parametrize("classes,words", [(35, WORDS_35), (10, WORDS_10)])
def test_normalization_uses_scalar_train_statistics(speech, tmp_path, classes, words):
    train, _ = expected_split(speech["clips"], speech["val"], speech["test"], "train", words)
    mean, std = train.mean(), train.std()
    got_mean, got_std = sc.normalization_stats(
        speech["root"], classes, cache_dir=tmp_path, verbose=0
    )
    np.testing.assert_allclose([got_mean, got_std], [mean, std], rtol=1e-12)
    for split in ("train", "test"):
        raw, _ = expected_split(speech["clips"], speech["val"], speech["test"], split, words)
        for rate in (16000, 8000):
            x, _ = sc.load(
                speech["root"],
                split,
                classes=classes,
                sample_rate=rate,
                cache_dir=tmp_path,
                verbose=0,
            )
            expected = ((raw - mean) / std)[:, :: 16000 // rate]
            np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-6)
    x_train, _ = sc.load(speech["root"], "train", classes=classes, cache_dir=tmp_path, verbose=0)
    assert abs(np.asarray(x_train, np.float64).mean()) < 1e-6
    assert abs(np.asarray(x_train, np.float64).std() - 1.0) < 1e-6


def test_cache_memory_mapped_and_equal(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    make_speech_dir(root, seed=1)
    first = sc.load(root, "test", verbose=0)
    cache = root / ".keras_ssm_cache"
    assert (cache / "speech_commands-sc35-test-16000hz-normalized-v1.waveforms.npy").is_file()
    assert (cache / "speech_commands-sc35-test-int16-v1.clips.npy").is_file()
    assert (cache / "speech_commands-sc35-train-stats-v1.stats.npy").is_file()
    shutil.rmtree(root / "bed")  # the second load must not read WAVs
    second = sc.load(root, "test", verbose=0)
    assert isinstance(second[0], np.memmap) and not second[0].flags.writeable
    assert isinstance(second[1], np.memmap)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_parent_folder_accepted(speech, tmp_path):
    x, _ = sc.load(speech["root"].parent, "val", normalize=False, cache_dir=tmp_path, verbose=0)
    y, _ = sc.load(speech["root"], "val", normalize=False, cache_dir=tmp_path / "b", verbose=0)
    np.testing.assert_array_equal(x, y)


def test_progress_bar_on_first_read(speech, tmp_path, capsys):
    sc.load(speech["root"], "val", normalize=False, cache_dir=tmp_path, verbose=1)
    n = len(speech["val"])
    assert f"{n}/{n}" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# Errors


def test_missing_folder_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.*speech_commands_v0.02.tar.gz"):
        sc.load(tmp_path / "nowhere", verbose=0)


def test_missing_word_folder_and_list(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    make_speech_dir(root)
    shutil.rmtree(root / "wow")
    with pytest.raises(FileNotFoundError, match=str(root / "wow")):
        sc.load(root, "train", normalize=False, cache_dir=tmp_path / "c", verbose=0)
    (root / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="testing_list.txt"):
        sc.load(root, "val", normalize=False, cache_dir=tmp_path / "c", verbose=0)


def test_listed_file_missing_or_malformed_list(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    _, val, _ = make_speech_dir(root)
    (root / val[1]).unlink()
    with pytest.raises(FileNotFoundError, match=r"validation_list.txt, line 2\)"):
        sc.load(root, "val", normalize=False, cache_dir=tmp_path / "c", verbose=0)
    (root / "validation_list.txt").write_text("yes/a.wav\nno_slash.wav\n")
    with pytest.raises(ValueError, match="validation_list.txt, line 2"):
        sc.load(root, "val", normalize=False, cache_dir=tmp_path / "c", verbose=0)


@pytest.mark.parametrize(
    "writer,problem",
    [
        (lambda p: p.write_bytes(b"not a riff file at all"), "Cannot read WAV file"),
        (lambda p: p.write_bytes(b""), "Cannot read WAV file"),
        (lambda p: write_wav(p, np.zeros(800), rate=8000), "8000 Hz"),
        (lambda p: write_wav(p, np.zeros(1600), channels=2), "2-channel"),
    ],
)
def test_bad_wav_names_file(tmp_path, writer, problem):
    root = tmp_path / "data"
    root.mkdir()
    make_speech_dir(root)
    bad = root / "zero" / "bad_nohash_0.wav"
    writer(bad)
    with pytest.raises(ValueError, match=problem) as info:
        sc.load(root, "train", normalize=False, cache_dir=tmp_path / "c", verbose=0)
    assert str(bad) in str(info.value) and problem in str(info.value)
    assert not list((tmp_path / "c").glob("*.npy"))  # no half-written cache


def test_argument_errors(speech):
    with pytest.raises(ValueError, match="classes=12"):
        sc.load(speech["root"], classes=12)
    with pytest.raises(ValueError, match="sample_rate=22050"):
        sc.load(speech["root"], sample_rate=22050)
    with pytest.raises(ValueError, match="split='dev'"):
        sc.load(speech["root"], split="dev")
