"""OCR: character error rate of RapidOCR (PP-OCRv4 ONNX models shipped in ``rapidocr-onnxruntime``) or
Tesseract on text pages, against their ground-truth text files.

CER = edit distance / ground-truth characters over the non-whitespace characters of both texts; the
aggregate is total edits over total characters (micro average). Whitespace is left out because RapidOCR's
recogniser drops the spaces of whole lines on slightly altered images (measured: JPEG quality 80 at
36 dB turned a page's CER from 0.3 % to 8 % with spaces counted, nearly all of it missing spaces), which
would measure the engine's word splitting, not what compression does to the characters.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ncodec.codecs.imageio import read_image
from ncodec.datasets.images import list_images
from ncodec.errors import MissingDependencyError, UnsupportedInputError
from ncodec.evaluation.tasks.base import Item, Task

ENGINES = ("rapidocr", "tesseract")


def normalise_text(text: str) -> str:
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one numpy pass per character of ``a`` (the row's insertion chain is a
    running minimum of d[j] - j)."""
    if not a or not b:
        return len(a) + len(b)
    target = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    steps = np.arange(len(b) + 1)
    prev = steps.copy()
    for i, ch in enumerate(np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32), start=1):
        best = np.empty_like(prev)
        best[0] = i
        best[1:] = np.minimum(prev[1:] + 1, prev[:-1] + (target != ch))
        prev = np.minimum.accumulate(best - steps) + steps
    return int(prev[-1])


class OcrTask(Task):
    name = "ocr"
    metric = "cer"
    higher_is_better = False

    def __init__(self, engine: str = "rapidocr") -> None:
        if engine not in ENGINES:
            raise UnsupportedInputError(f"unknown OCR engine {engine!r}; known: {', '.join(ENGINES)}")
        self.engine = engine
        self._rapid: Any = None
        if engine == "rapidocr":
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise MissingDependencyError("OCR engine rapidocr needs the Python package rapidocr-onnxruntime==1.4.4 "
                                             "(its models ship inside the wheel)") from None
            # the angle classifier is off: it misreads clean horizontal text
            self._rapid = RapidOCR(use_cls=False)
        elif shutil.which("tesseract") is None:
            raise MissingDependencyError("OCR engine tesseract needs Debian's tesseract-ocr and tesseract-ocr-eng")
        self.note = f"OCR engine {engine}; CER over non-whitespace characters, total edits / total characters"

    def items(self, data: str) -> list[Item]:
        folder = Path(data)
        if not folder.is_dir():
            raise UnsupportedInputError(f"OCR data must be a folder of images with .txt ground truth: {data}")
        items = []
        for path in list_images(folder):
            truth = path.with_suffix(".txt")
            if truth.is_file():
                items.append(Item(path.name, read_image(path), normalise_text(truth.read_text(encoding="utf-8"))))
        if not items:
            raise UnsupportedInputError(f"no image with a ground-truth .txt file in {data} "
                                        "(generate pages with scripts/make_perception_data.py)")
        return items

    def predict(self, image: np.ndarray) -> str:
        if self.engine == "rapidocr":
            bgr = image[..., ::-1] if image.ndim == 3 else image  # RapidOCR follows OpenCV's BGR order
            result, _ = self._rapid(np.ascontiguousarray(bgr), use_cls=False)
            return normalise_text(" ".join(r[1] for r in (result or [])))
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        proc = subprocess.run(["tesseract", "stdin", "stdout", "-l", "eng", "--psm", "3"], input=buf.getvalue(),
                              capture_output=True, check=False)
        if proc.returncode != 0:
            raise MissingDependencyError(f"tesseract failed: {proc.stderr.decode(errors='replace').strip()[:200]}")
        return normalise_text(proc.stdout.decode("utf-8", errors="replace"))

    def score(self, prediction: str, target: str) -> dict[str, float]:
        pred, truth = "".join(prediction.split()), "".join(target.split())
        edits = edit_distance(pred, truth)
        return {"edits": float(edits), "chars": float(len(truth)), "cer": edits / max(1, len(truth))}

    def record(self, prediction: str) -> dict[str, Any]:
        return {"text": prediction}

    def aggregate(self, scores: list[dict[str, float]]) -> float:
        return sum(s["edits"] for s in scores) / max(1.0, sum(s["chars"] for s in scores))

    def describe(self) -> dict[str, Any]:
        info = super().describe() | {"engine": self.engine}
        if self.engine == "rapidocr":
            from importlib.metadata import version

            info["engine_version"] = f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}"
        else:
            out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False)
            info["engine_version"] = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "tesseract"
        return info
