"""Classification: top-1 accuracy of a classifier on compressed images.

Two sources:
- ``fashion-mnist[:SPLIT[:COUNT]]``: Fashion-MNIST (Debian ``dataset-fashion-mnist``) with ncodec's own
  CNN from the zoo (``scripts/train_fmnist.py``). At 28x28 a file's header would dominate its size, so
  by default the images are coded as tiles of 32 x 32 mosaics (896 x 896 pixels, one bitstream each;
  ``mode="mosaic"``); ``mode="single"`` codes every image as its own file. The output states which.
- an ImageFolder (one sub-folder per class, sorted names = class indices) with a user-given
  torchvision architecture (``model="resnet18"``) or timm one (``model="timm:NAME"``) and its weights
  file; inputs are resized to 256, centre-cropped to 224 and ImageNet-normalised.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncodec.codecs.imageio import read_image
from ncodec.datasets.images import list_images
from ncodec.errors import MissingDependencyError, MissingWeightsError, UnsupportedInputError
from ncodec.evaluation.tasks.base import Item, Task
from ncodec.fileutil import sha256_file

MOSAIC_SIDE = 32  # tiles per mosaic row and column
TILE = 28


def _fmnist_model() -> tuple[torch.nn.Module, str]:
    from ncodec.models.classifier import SmallCNN
    from ncodec.models.zoo import WEIGHTS_DIR, task_model_entry

    entry = task_model_entry("fmnist-cnn")
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        raise MissingWeightsError(f"Fashion-MNIST CNN weights missing: {path} (train with scripts/train_fmnist.py)")
    model = SmallCNN()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval(), sha256_file(path)


def _user_model(name: str, weights: str | None, classes: int) -> tuple[torch.nn.Module, str | None]:
    if name.startswith("timm:"):
        try:
            import timm
        except ImportError:
            raise MissingDependencyError("timm models need the Python package timm") from None
        model = timm.create_model(name[5:], pretrained=False, num_classes=classes)
    else:
        import torchvision.models as tvm

        if not hasattr(tvm, name):
            raise UnsupportedInputError(f"torchvision has no model {name!r}")
        model = getattr(tvm, name)(weights=None, num_classes=classes)
    if weights is None:
        raise MissingWeightsError(f"give the weights of {name} with --model-weights FILE (nothing is downloaded)")
    if not Path(weights).is_file():
        raise MissingWeightsError(f"model weights not found: {weights}")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise UnsupportedInputError(f"{Path(weights).name} does not fit {name}: {str(exc).splitlines()[0][:120]}") from None
    return model.eval(), sha256_file(weights)


class ClassifyTask(Task):
    name = "classify"
    metric = "top1"
    higher_is_better = True

    def __init__(self, mode: str = "mosaic", model: str | None = None, weights: str | None = None) -> None:
        if mode not in ("mosaic", "single"):
            raise UnsupportedInputError(f"unknown classification mode {mode!r}")
        self.mode, self.model_name, self.model_weights = mode, model, weights
        self.model: torch.nn.Module | None = None
        self.model_sha: str | None = None
        self.fmnist = False

    # ------------------------------------------------------------------ items
    def items(self, data: str) -> list[Item]:
        if data.split(":")[0] == "fashion-mnist":
            return self._fmnist_items(data)
        return self._folder_items(data)

    def _fmnist_items(self, data: str) -> list[Item]:
        from ncodec.datasets.fashion_mnist import load_fashion_mnist

        parts = data.split(":")
        split = parts[1] if len(parts) > 1 and parts[1] else "test"
        images, labels = load_fashion_mnist(split)
        if len(parts) > 2:
            try:
                images, labels = images[:int(parts[2])], labels[:int(parts[2])]
            except ValueError:
                raise UnsupportedInputError(f"bad image count in {data!r}") from None
        self.fmnist = True
        self.model, self.model_sha = _fmnist_model()
        if self.mode == "single":
            return [Item(f"{split}-{i:05d}", images[i], [int(labels[i])]) for i in range(len(images))]
        per = MOSAIC_SIDE * MOSAIC_SIDE
        items = []
        for start in range(0, len(images), per):
            chunk = images[start:start + per]
            rows = math.ceil(len(chunk) / MOSAIC_SIDE)
            mosaic = np.zeros((rows * MOSAIC_SIDE, TILE, TILE), dtype=np.uint8)
            mosaic[:len(chunk)] = chunk
            sheet = mosaic.reshape(rows, MOSAIC_SIDE, TILE, TILE).transpose(0, 2, 1, 3).reshape(rows * TILE, MOSAIC_SIDE * TILE)
            items.append(Item(f"{split}-mosaic-{start // per:02d}", np.ascontiguousarray(sheet),
                              [int(v) for v in labels[start:start + per]], {"images": len(chunk)}))
        return items

    def _folder_items(self, data: str) -> list[Item]:
        folder = Path(data)
        if not folder.is_dir():
            raise UnsupportedInputError(f"classification data must be fashion-mnist[:SPLIT[:COUNT]] or an ImageFolder: {data}")
        classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if not classes:
            raise UnsupportedInputError(f"{data} has no class sub-folders")
        if self.model_name is None:
            raise UnsupportedInputError("an ImageFolder needs --model (torchvision name or timm:NAME) and --model-weights")
        self.model, self.model_sha = _user_model(self.model_name, self.model_weights, len(classes))
        items = [Item(f"{c}/{p.name}", read_image(p), [i]) for i, c in enumerate(classes) for p in list_images(folder / c)]
        if not items:
            raise UnsupportedInputError(f"no images under {data}")
        return items

    # ------------------------------------------------------------------ model
    @torch.no_grad()
    def predict(self, image: np.ndarray) -> list[int]:
        assert self.model is not None, "items() loads the model"
        if self.fmnist:
            grey = image if image.ndim == 2 else np.round(image.astype(np.float32).mean(axis=2)).astype(np.uint8)
            h, w = grey.shape
            tiles = grey.reshape(h // TILE, TILE, w // TILE, TILE).transpose(0, 2, 1, 3).reshape(-1, 1, TILE, TILE)
            logits = self.model(torch.from_numpy(np.array(tiles)).float() / 255.0)
            return [int(v) for v in logits.argmax(1)]
        from PIL import Image

        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
        pil = Image.fromarray(rgb)
        scale = 256 / min(pil.size)
        pil = pil.resize((max(224, round(pil.width * scale)), max(224, round(pil.height * scale))), Image.BILINEAR)
        left, top = (pil.width - 224) // 2, (pil.height - 224) // 2
        x = torch.from_numpy(np.asarray(pil.crop((left, top, left + 224, top + 224)))).permute(2, 0, 1).float() / 255.0
        mean, std = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        return [int(self.model(((x - mean) / std)[None]).argmax(1))]

    def score(self, prediction: list[int], target: list[int]) -> dict[str, float]:
        correct = sum(int(p == t) for p, t in zip(prediction, target))
        return {"correct": float(correct), "images": float(len(target)), "top1": correct / max(1, len(target))}

    def aggregate(self, scores: list[dict[str, float]]) -> float:
        return sum(s["correct"] for s in scores) / max(1.0, sum(s["images"] for s in scores))

    def describe(self) -> dict[str, Any]:
        coding = (f"tiles of {MOSAIC_SIDE}x{MOSAIC_SIDE} mosaics ({MOSAIC_SIDE * TILE}x{MOSAIC_SIDE * TILE} px), "
                  "one bitstream per mosaic" if self.fmnist and self.mode == "mosaic" else "one bitstream per image")
        self.note = f"images coded as {coding}; top-1 accuracy over all images"
        return super().describe() | {"model": "fmnist-cnn" if self.fmnist else self.model_name,
                                     "model_sha256": self.model_sha, "coding": coding}
