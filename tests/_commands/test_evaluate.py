"""Tests of `discrepancy evaluate`: inputs, features, metric values and exit codes."""

import json

import numpy as np
import pytest
import tensorflow as tf

from discrepancy import cli, datasets
from discrepancy.metrics import (
    DigitsClassifier,
    FeatureStatistics,
    InceptionFeatures,
    c2st,
    classifier_score,
    density_coverage,
    fid,
    kid,
    mode_coverage,
    precision_recall,
)


def run_json(capsys, arguments):
    """Runs the command with --json and returns the exit code and the parsed object."""
    code = cli.main(["evaluate", *arguments, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)


@pytest.fixture(scope="module")
def ring_files(tmp_path_factory):
    """A ring of 8 modes (real) against samples from only 6 of them (fake), as .npy files."""
    folder = tmp_path_factory.mktemp("ring")
    real = datasets.ring(300, seed=0).samples
    fake_draw = datasets.ring(300, seed=1)
    fake = fake_draw.samples[fake_draw.labels < 6][:200]
    np.save(folder / "real.npy", real)
    np.save(folder / "fake.npy", fake)
    return folder, real, fake


def write_png_folder(folder, images):
    """Writes uint8 images [n, h, w, c] as PNG files named in index order."""
    folder.mkdir()
    for index, image in enumerate(images):
        tf.io.write_file(str(folder / f"{index:04d}.png"), tf.io.encode_png(image))


def to_uint8(images):
    return np.round(images * 255).astype(np.uint8)


def test_vectors_match_direct_calls(capsys, ring_files):
    folder, real, fake = ring_files
    code, result = run_json(
        capsys,
        [str(folder / "real.npy"), str(folder / "fake.npy"), "--modes", "ring", "--seed", "3",
         "--metrics", "fid,kid,precision-recall,density-coverage,mode-coverage,c2st"],
    )
    assert code == 0

    expected_fid = fid(real, fake)
    with pytest.warns(UserWarning, match="subset_size"):
        expected_kid = kid(real, fake, seed=3)
    expected_pr = precision_recall(real=real, fake=fake)
    expected_dc = density_coverage(real=real, fake=fake)
    ring = datasets.ring(1, seed=0, dtype="float64")
    expected_modes = mode_coverage(fake, ring.means, ring.stds, threshold=3.0)
    expected_c2st = c2st(real, fake, seed=3)

    assert result["num_real"] == 300
    assert result["num_fake"] == 200
    assert result["features"] == "identity"
    assert result["fid"] == expected_fid.value
    assert result["kid"] == expected_kid.mean
    assert result["kid_std"] == expected_kid.std
    assert result["precision"] == expected_pr.precision
    assert result["recall"] == expected_pr.recall
    assert result["density"] == expected_dc.density
    assert result["coverage"] == expected_dc.coverage
    assert result["modes_captured"] == 6
    assert result["modes_captured"] == expected_modes.modes_captured
    assert result["num_modes"] == 8
    assert result["high_quality_fraction"] == expected_modes.high_quality_fraction
    assert result["mode_kl"] == expected_modes.kl
    assert result["mode_js"] == expected_modes.js
    assert result["c2st_accuracy"] == expected_c2st.accuracy
    assert result["c2st_p_value"] == expected_c2st.p_value


def test_text_output_lines(capsys, ring_files):
    folder, real, fake = ring_files
    code = cli.main(["evaluate", str(folder / "real.npy"), str(folder / "fake.npy")])
    captured = capsys.readouterr()
    assert code == 0

    lines = dict(line.split(": ", 1) for line in captured.out.strip().splitlines())
    assert list(lines) == [
        "num_real", "num_fake", "features", "fid", "kid", "kid_std", "precision", "recall", "density", "coverage",
    ]
    expected = precision_recall(real=real, fake=fake)
    # Text output prints 6 significant digits.
    assert float(lines["fid"]) == pytest.approx(fid(real, fake).value, rel=1e-5)
    assert float(lines["precision"]) == pytest.approx(expected.precision, rel=1e-5)
    assert float(lines["recall"]) == pytest.approx(expected.recall, rel=1e-5)
    assert "computing precision-recall" in captured.err
    assert "computing" not in captured.out


def test_default_metrics_with_modes(capsys, ring_files):
    folder, _, _ = ring_files
    code, result = run_json(capsys, [str(folder / "real.npy"), str(folder / "fake.npy"), "--modes", "ring"])
    assert code == 0
    assert result["modes_captured"] == 6
    assert "c2st_accuracy" not in result


def test_csv_and_npz_inputs(capsys, tmp_path, ring_files):
    _, real, fake = ring_files
    np.savetxt(tmp_path / "real.csv", real, delimiter=",", header="a,b", comments="")
    np.savez(tmp_path / "both.npz", fake=fake, other=real[:5])
    code, result = run_json(
        capsys, [str(tmp_path / "real.csv"), f"{tmp_path / 'both.npz'}:fake", "--metrics", "density-coverage"]
    )
    assert code == 0
    # savetxt writes 18 significant digits, so the CSV round trip is exact in float64.
    expected = density_coverage(real=real.astype(np.float64), fake=fake)
    assert result["density"] == expected.density
    assert result["coverage"] == expected.coverage


def test_statistics_file_for_fid(capsys, tmp_path, ring_files):
    folder, real, fake = ring_files
    FeatureStatistics.from_features(real).save(tmp_path / "real_statistics.npz")
    code, result = run_json(capsys, [str(tmp_path / "real_statistics.npz"), str(folder / "fake.npy")])
    assert code == 0
    assert list(result) == ["num_real", "num_fake", "features", "fid"]
    assert result["num_real"] == 300
    # Saved float64 statistics reproduce the in-memory ones to rounding.
    assert result["fid"] == pytest.approx(fid(real, fake).value, rel=1e-12, abs=1e-15)


def test_statistics_file_other_metric(capsys, tmp_path, ring_files):
    folder, real, _ = ring_files
    FeatureStatistics.from_features(real).save(tmp_path / "real_statistics.npz")
    code = cli.main(["evaluate", str(tmp_path / "real_statistics.npz"), str(folder / "fake.npy"),
                     "--metrics", "fid,kid"])
    captured = capsys.readouterr()
    assert code == cli.EXIT_INVALID_INPUT
    assert "only fid" in captured.err


def test_mu_sigma_file_rejected(capsys, tmp_path, ring_files):
    folder, _, _ = ring_files
    np.savez(tmp_path / "other_tool.npz", mu=np.zeros(2), sigma=np.eye(2))
    code = cli.main(["evaluate", str(tmp_path / "other_tool.npz"), str(folder / "fake.npy")])
    captured = capsys.readouterr()
    assert code == cli.EXIT_INVALID_INPUT
    assert "from_moments" in captured.err


def test_modes_file_and_threshold(capsys, tmp_path):
    means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    stds = np.array([1.0, 1.0, 2.0])
    np.savez(tmp_path / "modes.npz", means=means, stds=stds)
    rng = np.random.default_rng(0)
    real = means[rng.integers(0, 3, 90)] + rng.normal(size=(90, 2))
    # Fake samples sit 1.5 std from modes 0 and 2 and none near mode 1.
    fake = np.concatenate([np.tile([[1.5, 0.0]], (20, 1)), np.tile([[0.0, 13.0]], (10, 1))])
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "fake.npy", fake)

    arguments = [str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), "--modes", str(tmp_path / "modes.npz"),
                 "--metrics", "mode-coverage"]
    code, result = run_json(capsys, arguments)
    assert code == 0
    assert result["modes_captured"] == 2
    assert result["high_quality_fraction"] == 1.0

    with pytest.warns(RuntimeWarning, match="No sample is high quality"):
        code, strict = run_json(capsys, arguments + ["--threshold", "1.0"])
    assert code == 0
    assert strict["modes_captured"] == 0
    assert strict["high_quality_fraction"] == 0.0
    # No high-quality sample: KL is infinite, written as the string "inf" in JSON.
    assert strict["mode_kl"] == "inf"


def test_digit_image_folders(capsys, tmp_path):
    real = to_uint8(datasets.stacked_digits(60, seed=0).samples)
    fake = to_uint8(datasets.stacked_digits(40, seed=1).samples)
    write_png_folder(tmp_path / "real", real)
    write_png_folder(tmp_path / "fake", fake)

    code, result = run_json(
        capsys,
        [str(tmp_path / "real"), str(tmp_path / "fake"), "--features", "digits",
         "--metrics", "precision-recall,mode-coverage,classifier-score"],
    )
    assert code == 0

    classifier = DigitsClassifier()
    real_features = classifier.features(real, value_range=(0, 255))
    fake_features = classifier.features(fake, value_range=(0, 255))
    expected_pr = precision_recall(real=real_features, fake=fake_features)
    labels = classifier.predict(fake, value_range=(0, 255))
    expected_modes = mode_coverage(labels=labels, num_modes=1000)
    expected_score = classifier_score(classifier.probabilities(fake, value_range=(0, 255)))

    assert result["num_real"] == 60
    assert result["num_fake"] == 40
    assert result["precision"] == expected_pr.precision
    assert result["recall"] == expected_pr.recall
    assert result["num_modes"] == 1000
    assert result["modes_captured"] == expected_modes.modes_captured
    assert result["mode_kl"] == expected_modes.kl
    assert result["classifier_score"] == expected_score.mean
    assert result["classifier_score_std"] == expected_score.std


def test_grayscale_folder_identity(capsys, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(30, 8, 8, 1), dtype=np.uint8)
    write_png_folder(tmp_path / "real", images[:18])
    write_png_folder(tmp_path / "fake", images[18:])
    code, result = run_json(capsys, [str(tmp_path / "real"), str(tmp_path / "fake"), "--metrics", "density-coverage"])
    assert code == 0

    # Identity features of 8-bit images: flattened and divided by 255.
    flat = images.reshape(30, 64).astype(np.float64) / 255.0
    expected = density_coverage(real=flat[:18], fake=flat[18:])
    assert result["density"] == expected.density
    assert result["coverage"] == expected.coverage


def test_jpeg_folder(capsys, tmp_path):
    images = np.random.default_rng(1).integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)
    (tmp_path / "real").mkdir()
    decoded = []
    for index, image in enumerate(images):
        encoded = tf.io.encode_jpeg(image)
        tf.io.write_file(str(tmp_path / "real" / f"{index:02d}.JPG"), encoded)
        decoded.append(tf.io.decode_jpeg(encoded).numpy())
    np.save(tmp_path / "fake.npy", images[:10].astype(np.float64) / 255.0)

    code, result = run_json(capsys, [str(tmp_path / "real"), str(tmp_path / "fake.npy"), "--metrics", "density-coverage"])
    assert code == 0
    assert result["num_real"] == 20
    # JPEG is lossy, so the reference uses the decoded pixels, not the originals.
    real = np.stack(decoded).reshape(20, -1).astype(np.float64) / 255.0
    expected = density_coverage(real=real, fake=images[:10].reshape(10, -1).astype(np.float64) / 255.0)
    assert result["density"] == expected.density


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """Random Inception-v3 weights saved at the smallest input size, 75 x 75, so runs stay cheap."""
    import keras

    keras.utils.set_random_seed(0)
    network = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg", input_shape=(75, 75, 3))
    path = tmp_path_factory.mktemp("inception") / "random.weights.h5"
    network.save_weights(str(path))
    return path


def test_inception_features(capsys, tmp_path, inception_weights):
    rng = np.random.default_rng(2)
    real = rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, size=(10, 16, 16, 3), dtype=np.uint8)
    write_png_folder(tmp_path / "real", real)
    write_png_folder(tmp_path / "fake", fake)

    code, result = run_json(
        capsys,
        [str(tmp_path / "real"), str(tmp_path / "fake"), "--features", "inception", "--weights",
         str(inception_weights), "--image-size", "75", "--metrics", "density-coverage"],
    )
    assert code == 0

    extractor = InceptionFeatures(inception_weights, image_size=75)
    expected = density_coverage(
        real=extractor.features(real, value_range=(0, 255)), fake=extractor.features(fake, value_range=(0, 255))
    )
    assert result["features"] == "inception"
    assert result["density"] == expected.density
    assert result["coverage"] == expected.coverage


def test_inception_weights_missing(capsys, monkeypatch, ring_files, tmp_path):
    monkeypatch.delenv("DISCREPANCY_INCEPTION_WEIGHTS", raising=False)
    images = np.zeros((4, 8, 8, 3), np.uint8)
    write_png_folder(tmp_path / "images", images)
    for extra in ([], ["--weights", str(tmp_path / "absent.h5")]):
        code = cli.main(["evaluate", str(tmp_path / "images"), str(tmp_path / "images"), "--features", "inception",
                         "--metrics", "density-coverage", *extra])
        captured = capsys.readouterr()
        assert code == cli.EXIT_INVALID_INPUT
        assert "DISCREPANCY_INCEPTION_WEIGHTS" in captured.err


def test_image_array_value_range(capsys, tmp_path):
    real = datasets.stacked_digits(50, seed=0).samples
    fake = datasets.stacked_digits(30, seed=1).samples
    np.save(tmp_path / "real.npy", real * 2.0 - 1.0)
    np.save(tmp_path / "fake.npy", fake * 2.0 - 1.0)
    code, result = run_json(
        capsys,
        [str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), "--features", "digits",
         "--value-range=-1,1", "--metrics", "density-coverage"],
    )
    assert code == 0
    classifier = DigitsClassifier()
    expected = density_coverage(
        real=classifier.features(real * 2.0 - 1.0, value_range=(-1, 1)),
        fake=classifier.features(fake * 2.0 - 1.0, value_range=(-1, 1)),
    )
    assert result["density"] == expected.density


def test_plot_written(capsys, tmp_path, ring_files):
    folder, _, _ = ring_files
    plot = tmp_path / "plots" / "modes.png"
    plot.parent.mkdir()
    code = cli.main(["evaluate", str(folder / "real.npy"), str(folder / "fake.npy"), "--modes", "ring",
                     "--metrics", "mode-coverage", "--plot", str(plot)])
    capsys.readouterr()
    assert code == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The plot is written through a temporary file that is renamed, so none is left.
    assert [path.name for path in plot.parent.iterdir()] == ["modes.png"]


@pytest.mark.parametrize(("dimension", "num_modes"), [(1, 2), (3, 2), (3, 4)])
def test_plot_other_dimensions(capsys, tmp_path, dimension, num_modes):
    rng = np.random.default_rng(0)
    means = 5.0 * rng.normal(size=(num_modes, dimension))
    samples = means[rng.integers(0, num_modes, 40)] + 0.1 * rng.normal(size=(40, dimension))
    np.savez(tmp_path / "modes.npz", means=means, stds=np.full(num_modes, 0.1))
    np.save(tmp_path / "samples.npy", samples)
    plot = tmp_path / "modes.png"
    code = cli.main(["evaluate", str(tmp_path / "samples.npy"), str(tmp_path / "samples.npy"),
                     "--modes", str(tmp_path / "modes.npz"), "--metrics", "mode-coverage", "--plot", str(plot)])
    capsys.readouterr()
    assert code == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_c2st_seed_repeatable(capsys, ring_files):
    folder, _, _ = ring_files
    arguments = [str(folder / "real.npy"), str(folder / "fake.npy"), "--metrics", "c2st"]
    _, first = run_json(capsys, arguments + ["--seed", "5"])
    _, second = run_json(capsys, arguments + ["--seed", "5"])
    assert first == second


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "precision-recall,bogus"], "--metrics"),
        (["--metrics", ","], "no metric"),
        (["--metrics", "mode-coverage"], "needs known modes"),
        (["--plot", "out.png"], "--plot"),
        (["--modes", "circle"], "--modes"),
        (["--threshold", "2"], "--threshold"),
        (["--features", "digits"], "needs images"),
        (["--value-range", "1,0"], "--value-range"),
        (["--batch-size", "0"], "--batch-size"),
        (["--metrics", "classifier-score"], "class probabilities"),
        (["--features", "digits", "--weights", "inception.h5"], "--weights"),
    ],
)
def test_bad_options_exit_3(capsys, ring_files, extra, message):
    folder, _, _ = ring_files
    code = cli.main(["evaluate", str(folder / "real.npy"), str(folder / "fake.npy"), *extra])
    captured = capsys.readouterr()
    assert code == cli.EXIT_INVALID_INPUT
    assert message in captured.err
    assert captured.out == ""


def test_bad_inputs_exit_3(capsys, tmp_path, ring_files):
    folder, real, _ = ring_files
    np.save(tmp_path / "three.npy", np.zeros((20, 3)))
    np.save(tmp_path / "flat.npy", np.zeros(20))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    write_png_folder(tmp_path / "mixed", np.zeros((1, 8, 8, 1), np.uint8))
    tf.io.write_file(str(tmp_path / "mixed" / "z.png"), tf.io.encode_png(np.zeros((9, 8, 1), np.uint8)))
    np.save(tmp_path / "loud.npy", np.full((20, 8, 8), 2.0))
    np.savez(tmp_path / "modes.npz", centres=np.zeros((2, 2)))

    real_path = str(folder / "real.npy")
    cases = [
        ([real_path, str(tmp_path / "missing.npy")], "file not found"),
        ([real_path, str(tmp_path / "three.npy")], "features"),
        ([real_path, str(tmp_path / "flat.npy")], "[n, 1]"),
        ([str(tmp_path / "empty"), str(tmp_path / "empty")], "no .png"),
        ([str(tmp_path / "mixed"), str(tmp_path / "mixed")], "same"),
        ([str(tmp_path / "loud.npy"), str(tmp_path / "loud.npy"), "--features", "digits"], "outside value_range"),
        ([real_path, real_path, "--modes", str(tmp_path / "modes.npz")], "means"),
    ]
    for arguments, message in cases:
        code = cli.main(["evaluate", *arguments])
        captured = capsys.readouterr()
        assert code == cli.EXIT_INVALID_INPUT, arguments
        assert message in captured.err, (arguments, captured.err)
