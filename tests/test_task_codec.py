"""The Fashion-MNIST task codec (issue 21): streams that decode to class labels through the real coders,
the weight file, one-line errors, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ncodec.codecs import container
from ncodec.codecs.task import TaskClassifierCodec, save_task_codec
from ncodec.errors import BitstreamError, ModelMismatchError, UnsupportedInputError
from ncodec.models.taskcodec import SupervisedTaskCodec, task_loss

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = SupervisedTaskCodec(channels=4, width=8)
    with torch.no_grad():
        model.log_gain.copy_(torch.linspace(0.0, 5.0, model.levels)[:, None].repeat(1, 4))
    path = tmp_path_factory.mktemp("task") / "task.ncw"
    save_task_codec(model.eval(), path, {"note": "untrained test model"})
    return path


@pytest.fixture()
def tiles(asset_images) -> np.ndarray:
    """A real photo cut to 3 x 4 tiles of 28 x 28, greyscale."""
    img = asset_images["kodim19_203x147.jpg"]
    return np.ascontiguousarray(img[:84, :112].mean(axis=2).round().astype(np.uint8))


@pytest.mark.parametrize("backend", ["constriction", "compressai", "rans-interleaved"])
def test_round_trip_gives_the_head_s_labels_on_the_coded_integers(weights, tiles, backend):
    codec = TaskClassifierCodec(weights)
    for quality in (1, codec.levels):
        enc = codec.compress(tiles, quality=quality, backend=backend)
        header, sections = container.unpack(container.pack(enc.header, enc.sections))
        y, level, grid = codec.decompress_latents(header, sections)
        assert grid == (3, 4) and level == quality - 1
        assert np.array_equal(y, enc.latents[0]["y"])
        labels = codec.decompress(header, sections)
        with torch.no_grad():
            x = torch.from_numpy(tiles.reshape(3, 28, 4, 28).transpose(0, 2, 1, 3).reshape(-1, 1, 28, 28)).float() / 255
            want = codec.model.classify(torch.round(codec.model.analysis(x, level)), level).argmax(1)
        assert labels.shape == (3, 4) and np.array_equal(labels.reshape(-1), want.numpy())
    small = codec.compress(tiles, quality=1, backend=backend).sections[0]
    large = codec.compress(tiles, quality=codec.levels, backend=backend).sections[0]
    assert len(small) < len(large)  # the gains order the rate points


def test_training_loss_trades_rate_for_the_task():
    torch.manual_seed(0)
    model = SupervisedTaskCodec(channels=4, width=8)
    x = torch.rand(6, 1, 28, 28)
    levels = torch.tensor([0, 1, 2, 3, 4, 0])
    out = model(x, levels)
    res = task_loss(model, out, torch.arange(6) % 10, levels, teacher_logits=torch.randn(6, 10))
    res["loss"].backward()
    assert res["bits"] > 0 and model.encoder[0].weight.grad is not None and model.log_gain.grad is not None


def test_errors_are_one_line(weights, tiles, tmp_path):
    codec = TaskClassifierCodec(weights)
    with pytest.raises(UnsupportedInputError, match="multiple of 28"):
        codec.compress(tiles[:30], quality=1)
    with pytest.raises(UnsupportedInputError, match="integer 1-5"):
        codec.compress(tiles, quality=2.5)
    enc = codec.compress(tiles, quality=2)
    with pytest.raises(BitstreamError):
        codec.decompress(enc.header, [enc.sections[0][:3]])
    bad = tmp_path / "bad.ncw"
    torch.save({"kind": "something-else"}, bad)
    with pytest.raises(ModelMismatchError, match="not an ncodec task-codec"):
        TaskClassifierCodec(bad)


def test_cli_encodes_an_image_and_decodes_labels_to_json(weights, tiles, tmp_path):
    from PIL import Image

    src = tmp_path / "tiles.png"
    Image.fromarray(tiles).save(src)
    ncd, out = tmp_path / "t.ncd", tmp_path / "labels.json"
    cli = [sys.executable, "-m", "ncodec"]
    subprocess.run(cli + ["encode", str(src), str(ncd), "--codec", "task-fmnist", "--quality", "3",
                          "--weights", str(weights)], check=True, capture_output=True, cwd=REPO)
    subprocess.run(cli + ["decode", str(ncd), str(out), "--weights", str(weights)], check=True,
                   capture_output=True, cwd=REPO)
    doc = json.loads(out.read_text())
    codec = TaskClassifierCodec(weights)
    header, sections = container.unpack(ncd.read_bytes())
    assert doc["tiles"] == [3, 4] and doc["labels"] == codec.decompress(header, sections).tolist()
    assert len(doc["names"][0]) == 4
    wrong = subprocess.run(cli + ["decode", str(ncd), str(tmp_path / "x.png"), "--weights", str(weights)],
                           capture_output=True, text=True, cwd=REPO)
    assert wrong.returncode != 0 and len(wrong.stderr.strip().splitlines()) == 1 and ".json" in wrong.stderr


def test_perception_scores_the_decoded_labels(weights, tmp_path):
    """``ncodec perception --codec task-fmnist`` scores the labels its streams decode to, per mosaic."""
    from ncodec.datasets.fashion_mnist import fashion_mnist_dir
    from ncodec.evaluation.perception import run_perception
    from ncodec.evaluation.tasks.classify import ClassifyTask

    if not (fashion_mnist_dir() / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
    doc = run_perception(ClassifyTask(), "task-fmnist", "fashion-mnist:test:40", tmp_path / "r.json",
                         qualities=[1, 5], weights=str(weights))
    codec = TaskClassifierCodec(weights)
    from ncodec.datasets.fashion_mnist import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    sheet = np.zeros((2 * 28, 32 * 28), dtype=np.uint8)  # 40 images: two mosaic rows of 32 tiles
    tiles = np.zeros((64, 28, 28), dtype=np.uint8)
    tiles[:40] = images[:40]
    sheet[:] = tiles.reshape(2, 32, 28, 28).transpose(0, 2, 1, 3).reshape(56, 896)
    enc = codec.compress(sheet, quality=5)
    predicted = codec.decompress(enc.header, enc.sections).reshape(-1)[:40]
    assert doc["results"]["top1"][1] == pytest.approx(float((predicted == labels[:40]).mean()))
    assert "psnr-rgb" not in doc["results"] and doc["results"]["bpp"][0] <= doc["results"]["bpp"][1]
    with pytest.raises(Exception, match="classify task on fashion-mnist"):
        from ncodec.evaluation.tasks.ocr import OcrTask

        run_perception(OcrTask(), "task-fmnist", str(tmp_path), tmp_path / "o.json", weights=str(weights))


def test_streams_check_their_weights_and_options(weights, tiles, tmp_path):
    codec = TaskClassifierCodec(weights)
    enc = codec.compress(tiles, quality=2)
    torch.manual_seed(1)
    other = tmp_path / "other.ncw"
    save_task_codec(SupervisedTaskCodec(channels=4, width=8).eval(), other)
    with pytest.raises(ModelMismatchError, match="needs weights"):
        TaskClassifierCodec(other).decompress(enc.header, enc.sections)
    from ncodec import api
    from ncodec.errors import UsageError

    with pytest.raises(UsageError, match="one rate per level"):
        api.encode(tiles, codec="task-fmnist", weights=weights, target_bpp=0.05)
    with pytest.raises(UsageError, match="one rate per level"):
        api.encode(tiles, codec="task-fmnist", weights=weights, quality=2, effort="best")


def test_the_student_starts_from_the_teacher_and_old_files_keep_the_plain_layout(tmp_path):
    """``encoder="smallcnn"`` copies the zoo CNN's features and last layer (Entropic Student); a weight
    file without an ``encoder`` entry (the first shipped layout) loads as ``plain``."""
    from ncodec.models.classifier import SmallCNN

    torch.manual_seed(0)
    teacher = SmallCNN().eval()
    student = SupervisedTaskCodec(channels=16, encoder="smallcnn")
    student.init_from_teacher(teacher)
    x = torch.rand(4, 1, 28, 28)
    student.eval()
    from ncodec.models.classifier import normalise

    features = student.encoder[:-1](normalise(x))
    assert torch.equal(features, teacher.features(normalise(x)))
    assert torch.equal(student.head[-1].weight, teacher.head[-1].weight)
    with pytest.raises(ValueError):
        SupervisedTaskCodec(encoder="resnet")
    with pytest.raises(ValueError):
        SupervisedTaskCodec(channels=12).init_from_teacher(teacher)
    plain = SupervisedTaskCodec(channels=4)
    path = tmp_path / "plain.ncw"
    save_task_codec(plain, path, {})
    state = torch.load(path, weights_only=False)
    del state["config"]["encoder"]
    torch.save(state, path)
    assert TaskClassifierCodec(path).model.encoder_kind == "plain"
    state["config"]["encoder"] = "resnet"
    torch.save(state, path)
    with pytest.raises(ModelMismatchError):
        TaskClassifierCodec(path)
