"""ncodec perception: real bitstreams into real task models; lossless coding must not move the metric."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
from PIL import Image

from ncodec.cli import main
from ncodec.evaluation.tasks.ocr import edit_distance

from conftest import ASSETS


def _reference_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[:], i
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
    return row[-1]


def test_edit_distance_matches_the_textbook_recurrence():
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("ab cé") for _ in range(rng.randint(0, 14)))
        b = "".join(rng.choice("abc é") for _ in range(rng.randint(0, 14)))
        assert edit_distance(a, b) == _reference_distance(a, b), (a, b)


def _fashion_mnist_or_skip():
    from ncodec.datasets.fashion_mnist import fashion_mnist_dir

    if not (fashion_mnist_dir() / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")


def test_fashion_mnist_mosaics_hold_the_images_in_order():
    _fashion_mnist_or_skip()
    from ncodec.datasets.fashion_mnist import load_fashion_mnist
    from ncodec.evaluation.tasks.classify import ClassifyTask

    images, labels = load_fashion_mnist("test")
    items = ClassifyTask().items("fashion-mnist:test:1100")
    assert [it.image.shape for it in items] == [(896, 896), (84, 896)]  # 76 images: 3 rows of 32
    assert items[1].target == labels[1024:1100].tolist()
    assert np.array_equal(items[0].image[28:56, 56:84], images[32 + 2])


def test_classification_through_png_equals_original_and_jpeg_costs_accuracy(tmp_path):
    _fashion_mnist_or_skip()
    out_png, out_jpeg = tmp_path / "png.json", tmp_path / "jpeg.json"
    assert main(["perception", "fashion-mnist:test:1024", "--task", "classify", "--codec", "png", "-o", str(out_png),
                 "--no-progress"]) == 0
    doc = json.loads(out_png.read_text())
    assert doc["original"]["top1"] >= 0.88  # the shipped CNN
    assert doc["results"]["top1"] == [doc["original"]["top1"]]  # lossless: the very same predictions
    assert doc["task"]["coding"].startswith("tiles of 32x32 mosaics")
    assert main(["perception", "fashion-mnist:test:1024", "--task", "classify", "--codec", "jpeg", "--qualities", "3,60",
                 "-o", str(out_jpeg), "--no-progress"]) == 0
    jdoc = json.loads(out_jpeg.read_text())
    low, high = jdoc["results"]["top1"]
    assert jdoc["results"]["bpp"][0] < jdoc["results"]["bpp"][1]
    assert low < high <= doc["original"]["top1"] + 0.01
    assert len(jdoc["per_item"]) == 2 and jdoc["per_item"][0]["images"] == 1024


def test_single_image_mode_codes_each_image(tmp_path):
    _fashion_mnist_or_skip()
    out = tmp_path / "single.json"
    assert main(["perception", "fashion-mnist:test:20", "--task", "classify", "--mode", "single", "--codec", "webp",
                 "--qualities", "50", "-o", str(out), "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert len(doc["per_item"]) == 20 and doc["task"]["coding"] == "one bitstream per image"
    assert doc["results"]["bpp"][0] > 1.0  # per-file headers dominate at 28x28, as the issue warns


def _ocr_engine_or_skip() -> str:
    try:
        import rapidocr_onnxruntime  # noqa: F401

        return "rapidocr"
    except ImportError:
        if shutil.which("tesseract"):
            return "tesseract"
    pytest.skip("no OCR engine installed (rapidocr-onnxruntime==1.4.4 or Debian tesseract-ocr)")


@pytest.fixture(scope="module")
def small_page(tmp_path_factory):
    from ncodec.datasets.textpages import available_fonts, render_page

    if not available_fonts():
        pytest.skip("no page fonts (Debian fonts-dejavu-core / fonts-liberation2)")
    folder = tmp_path_factory.mktemp("pages")
    image, text = render_page(3, width=640, height=384, chars=250)
    Image.fromarray(image).save(folder / "p.png")
    (folder / "p.txt").write_text(text, encoding="utf-8")
    return folder


def test_ocr_lossless_equals_original_and_heavy_jpeg_hurts(tmp_path, small_page):
    engine = _ocr_engine_or_skip()
    out = tmp_path / "ocr-png.json"
    assert main(["perception", str(small_page), "--task", "ocr", "--engine", engine, "--codec", "png", "-o", str(out),
                 "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert doc["original"]["cer"] < 0.1
    assert doc["results"]["cer"] == [doc["original"]["cer"]]
    out_j = tmp_path / "ocr-jpeg.json"
    assert main(["perception", str(small_page), "--task", "ocr", "--engine", engine, "--codec", "jpeg",
                 "--qualities", "2", "-o", str(out_j), "--no-progress"]) == 0
    assert json.loads(out_j.read_text())["results"]["cer"][0] > doc["original"]["cer"]


def test_face_detection_scores_against_its_own_original_detections(tmp_path):
    pytest.importorskip("cv2")
    folder = tmp_path / "faces"
    folder.mkdir()
    Image.open(ASSETS / "kodim15_grey_160x120.png").resize((480, 360), Image.BICUBIC).save(folder / "face.png")
    out = tmp_path / "faces.json"
    assert main(["perception", str(folder), "--task", "faces", "--codec", "png", "-o", str(out), "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert doc["original_per_item"][0]["tp"] >= 1  # the detector finds the face in the original
    assert doc["results"]["f1"] == [1.0] and doc["results"]["recall"] == [1.0]
    assert "pseudo ground truth" in doc["note"]


def test_bdrate_on_a_lower_is_better_task_metric_states_the_convention(tmp_path, capsys):
    """CER curves: the sign convention is printed, and BD-rate is measured at equal CER."""
    base = {"name": "a", "results": {"bpp": [0.2, 0.4, 0.8, 1.6], "cer": [0.30, 0.12, 0.05, 0.02]}}
    test = {"name": "b", "results": {"bpp": [0.1, 0.2, 0.4, 0.8], "cer": [0.30, 0.12, 0.05, 0.02]}}
    (tmp_path / "a.json").write_text(json.dumps(base))
    (tmp_path / "b.json").write_text(json.dumps(test))
    assert main(["bdrate", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--metric", "cer"]) == 0
    line = capsys.readouterr().out
    assert "lower cer is better" in line and "BD-rate -50.00 %" in line


def test_progress_reports_every_item_while_the_work_runs(tmp_path):
    from ncodec.codecs.imageio import read_image
    from ncodec.evaluation.perception import run_perception
    from ncodec.evaluation.tasks.base import Item, Task

    class MeanGrey(Task):  # a trivial "model": the mean grey level, scored as its absolute error
        name, metric, higher_is_better = "mean-grey", "error", False

        def items(self, data):
            return [Item(p.name, read_image(p)) for p in sorted(ASSETS.glob("kodim0*"))]

        def predict(self, image):
            return float(image.mean())

        def target(self, item, original_prediction):
            return original_prediction

        def score(self, prediction, target):
            return {"error": abs(prediction - target)}

        def aggregate(self, scores):
            return float(np.mean([s["error"] for s in scores]))

    out = tmp_path / "p.json"
    lines = []

    def report(line: str) -> None:
        assert not out.exists()  # during the run, not once it is over
        lines.append(line)

    doc = run_perception(MeanGrey(), "jpeg", "assets", out, qualities=[30, 60], progress=report)
    n = doc["items"]
    assert n == 2 and len(lines) == n + 2 * n
    assert lines[0].startswith(f"original [1/{n}]") and f"[{2 * n}/{2 * n}]" in lines[-1]
    assert all("bpp" in line for line in lines[n:])
