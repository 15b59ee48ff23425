"""Face detection: recall and precision at IoU >= 0.5 of OpenCV's Haar-cascade frontal-face detector on
compressed images, against the detector's own detections on the uncompressed images (pseudo ground truth,
as machine-perception studies do). The original therefore scores 1.0 by construction; what is measured
is how far compression moves the detector from its uncompressed behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ncodec.codecs.imageio import read_image
from ncodec.datasets.images import list_images
from ncodec.errors import MissingDependencyError, UnsupportedInputError
from ncodec.evaluation.tasks.base import Item, Task

CASCADE = "haarcascade_frontalface_default.xml"
IOU_THRESHOLD = 0.5


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) boxes given as x, y, w, h."""
    ax0, ay0, ax1, ay1 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return inter / np.maximum(union, 1e-9)


def match(pred: np.ndarray, truth: np.ndarray, threshold: float = IOU_THRESHOLD) -> int:
    """True positives: greedy one-to-one matching by decreasing IoU, pairs at or above ``threshold``."""
    if len(pred) == 0 or len(truth) == 0:
        return 0
    overlaps = iou(pred.astype(np.float64), truth.astype(np.float64))
    tp = 0
    while True:
        i, j = np.unravel_index(int(np.argmax(overlaps)), overlaps.shape)
        if overlaps[i, j] < threshold:
            return tp
        tp += 1
        overlaps[i, :] = -1.0
        overlaps[:, j] = -1.0


class FaceTask(Task):
    name = "faces"
    metric = "f1"
    higher_is_better = True

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 24) -> None:
        try:
            import cv2
        except ImportError:
            raise MissingDependencyError("face detection needs the Python package opencv-python (< 5)") from None
        if not hasattr(cv2, "CascadeClassifier"):
            raise MissingDependencyError("this OpenCV has no CascadeClassifier: install opencv-python < 5")
        path = Path(cv2.data.haarcascades) / CASCADE if hasattr(cv2, "data") else Path("/usr/share/opencv4/haarcascades") / CASCADE
        if not path.is_file():
            raise MissingDependencyError(f"face cascade {CASCADE} not found (opencv-python ships it; or Debian's opencv-data)")
        self._cv2 = cv2
        self.detector = cv2.CascadeClassifier(str(path))
        self.params = {"scaleFactor": scale_factor, "minNeighbors": min_neighbors, "minSize": (min_size, min_size)}
        self.version = cv2.__version__
        self.note = ("pseudo ground truth: the detector's own detections on the uncompressed images "
                     f"(the original scores 1 by construction); matches at IoU >= {IOU_THRESHOLD}")

    def items(self, data: str) -> list[Item]:
        folder = Path(data)
        if not folder.is_dir():
            raise UnsupportedInputError(f"face data must be an image folder: {data}")
        items = [Item(p.name, read_image(p)) for p in list_images(folder)]
        if not items:
            raise UnsupportedInputError(f"no images in {data}")
        return items

    def predict(self, image: np.ndarray) -> np.ndarray:
        grey = image if image.ndim == 2 else self._cv2.cvtColor(image, self._cv2.COLOR_RGB2GRAY)
        boxes = self.detector.detectMultiScale(grey, **self.params)
        return np.asarray(boxes, dtype=np.int64).reshape(-1, 4)

    def target(self, item: Item, original_prediction: np.ndarray) -> np.ndarray:
        return original_prediction

    def score(self, prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
        tp = match(prediction, target)
        return {"tp": float(tp), "fp": float(len(prediction) - tp), "fn": float(len(target) - tp)}

    def aggregates(self, scores: list[dict[str, float]]) -> dict[str, float]:
        tp, fp, fn = (sum(s[k] for s in scores) for k in ("tp", "fp", "fn"))
        recall = tp / (tp + fn) if tp + fn else 1.0
        precision = tp / (tp + fp) if tp + fp else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"f1": f1, "recall": recall, "precision": precision}

    def aggregate(self, scores: list[dict[str, float]]) -> float:
        return self.aggregates(scores)["f1"]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"model": f"OpenCV {self.version} {CASCADE}",
                                     "detector": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}}
