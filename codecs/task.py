"""The Fashion-MNIST task codec (issue 21): bitstreams that decode to class labels, not pixels.

``models/taskcodec.py`` holds the network. This module owns its weight file (config, state, and the
factorized density's integer tables, built once at export) and its container sections: a greyscale
image whose sides are multiples of 28 is cut into 28x28 tiles (one Fashion-MNIST image each; a
single image is one tile), every tile's rounded latent is coded with the per-channel integer tables
through any ``entropy/`` coder, and decoding runs the head on the decoded integers. Everything that
chooses a distribution is an integer table, so the symbols decode identically everywhere; the class
is the argmax of the float head on those integers.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncodec.codecs.container import EncodeResult, Header
from ncodec.datasets.fashion_mnist import CLASSES
from ncodec.entropy.tables import TableSet
from ncodec.errors import BitstreamError, ModelMismatchError, UnsupportedInputError

TASK_KIND = "task-codec"
TASK_FORMAT = 1
TILE = 28
MAX_TILES = 1 << 20  # about 820 M pixels of 28x28 tiles: a decode bound, not a format limit


def save_task_codec(model: Any, path: str | Path, meta: dict[str, Any] | None = None) -> str:
    """Write a task-codec weight file atomically (tables built from the trained density); returns sha256."""
    import hashlib

    from ncodec.codecs.imageio import atomic_write_bytes

    tables = model.density.build_tables()
    state = {"format": TASK_FORMAT, "kind": TASK_KIND, "config": model.config(),
             "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
             "tables": {"counts": torch.from_numpy(tables.counts), "lengths": torch.from_numpy(tables.lengths),
                        "offsets": torch.from_numpy(tables.offsets), "precision": int(tables.precision)},
             "meta": dict(meta or {})}
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    atomic_write_bytes(Path(path), data)
    return hashlib.sha256(data).hexdigest()


class TaskClassifierCodec:
    """``task-fmnist``: greyscale 28x28 tiles -> bitstream -> one class per tile."""

    name = "task-fmnist"
    modality = "task"
    description = ("supervised compression for Fashion-MNIST classification (Entropic Student): encoder, entropy "
                   "bottleneck and student head trained jointly; decodes 28x28 greyscale tiles to class labels")
    class_names = CLASSES

    def __init__(self, path: str | Path) -> None:
        from ncodec.codecs.image import read_weight_file
        from ncodec.models.taskcodec import SupervisedTaskCodec

        state, sha = read_weight_file(path, "task-codec weight file")
        if not isinstance(state, dict) or state.get("kind") != TASK_KIND or state.get("format") != TASK_FORMAT:
            raise ModelMismatchError(f"{path} is not an ncodec task-codec weight file")
        cfg = state["config"]
        try:
            self.model = SupervisedTaskCodec(channels=int(cfg["channels"]), width=int(cfg["width"]),
                                             classes=int(cfg["classes"]), lambdas=tuple(cfg["lambdas"]),
                                             encoder=str(cfg.get("encoder", "plain")))
        except ValueError as exc:  # an unknown encoder layout or widths
            raise ModelMismatchError(f"{path}: {exc}") from None
        self.model.load_state_dict(state["state_dict"])
        self.model.eval()
        t = state["tables"]
        self.tables = TableSet(counts=t["counts"].numpy(), lengths=t["lengths"].numpy(),
                               offsets=t["offsets"].numpy(), precision=int(t["precision"]))
        self.tables.validate()
        self.sha256 = sha
        self.meta = state.get("meta", {})
        self.levels = self.model.levels

    # ------------------------------------------------------------------ helpers
    def _level(self, quality: float | None) -> int:
        q = float(self.levels if quality is None else quality)
        if not (1 <= q <= self.levels) or q != int(q):
            raise UnsupportedInputError(f"{self.name}: quality must be an integer 1-{self.levels}, got {quality}")
        return int(q) - 1

    @staticmethod
    def _tiles(image: np.ndarray) -> tuple[np.ndarray, int, int]:
        grey = image if image.ndim == 2 else np.round(image.astype(np.float32).mean(axis=2)).astype(np.uint8)
        h, w = grey.shape
        if h % TILE or w % TILE:
            raise UnsupportedInputError(f"{TaskClassifierCodec.name} codes 28x28 greyscale tiles: the image is "
                                        f"{w}x{h}, not a multiple of 28 on both sides")
        rows, cols = h // TILE, w // TILE
        tiles = grey.reshape(rows, TILE, cols, TILE).transpose(0, 2, 1, 3).reshape(-1, 1, TILE, TILE)
        return np.ascontiguousarray(tiles), rows, cols

    def _indexes(self, tiles: int) -> np.ndarray:
        c = self.model.channels
        return np.broadcast_to(np.arange(c).reshape(1, c, 1, 1), (tiles, c, 1, 1)).reshape(-1).copy()

    # ------------------------------------------------------------------ coding
    @torch.no_grad()
    def compress(self, image: np.ndarray, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu", effort: str = "default", **_: Any) -> EncodeResult:
        """uint8 (H, W) or (H, W, 3) image of 28x28 tiles -> header + one section of coded latents."""
        from ncodec.entropy.coders import get_coder

        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise UnsupportedInputError("expected a uint8 image of shape (H, W) or (H, W, 3)")
        level = self._level(quality)
        tiles, rows, cols = self._tiles(image)
        x = torch.from_numpy(tiles).float() / 255.0
        y = torch.round(self.model.analysis(x, level)).long().numpy()
        coder = get_coder(backend)
        payload = coder.encode(y.reshape(-1), self._indexes(len(tiles)), self.tables)
        header = Header(codec=self.name, modality=self.modality, weights_sha256=self.sha256[:16],
                        backend=coder.backend_id, backend_version=coder.version, quality=float(level + 1),
                        shape=(rows * TILE, cols * TILE))
        return EncodeResult(header=header, sections=[struct.pack("<HH", rows, cols) + payload],
                            latents=[{"y": y}])

    def decompress_latents(self, header: Header, sections: list[bytes]) -> tuple[np.ndarray, int, tuple[int, int]]:
        """The coded integer latents (tiles, C, 1, 1) and the tile grid."""
        from ncodec.entropy.coders import BACKEND_IDS, get_coder

        if header.modality != self.modality or header.codec != self.name:
            raise ModelMismatchError(f"bitstream is for codec {header.codec!r}, not {self.name!r}")
        if header.weights_sha256 != self.sha256[:16]:
            raise ModelMismatchError(f"bitstream needs weights {header.weights_sha256}…, loaded {self.sha256[:16]}…")
        if len(sections) != 1 or len(sections[0]) < 4:
            raise BitstreamError("a task-codec stream has one section")
        rows, cols = struct.unpack_from("<HH", sections[0])
        if len(header.shape) != 2 or rows * TILE != header.shape[0] or cols * TILE != header.shape[1] \
                or rows * cols == 0:
            raise BitstreamError("task-codec tile grid disagrees with the header")
        if rows * cols > MAX_TILES:
            raise BitstreamError(f"task-codec stream of {rows * cols} tiles (limit {MAX_TILES})")
        if header.quality != int(header.quality) or not 1 <= header.quality <= self.levels:
            raise BitstreamError(f"task-codec level {header.quality} outside 1-{self.levels}")
        level = int(header.quality) - 1
        if header.backend not in BACKEND_IDS:
            raise BitstreamError(f"unknown coder backend id {header.backend}")
        coder = get_coder(BACKEND_IDS[header.backend])
        y = coder.decode(bytes(sections[0][4:]), self._indexes(rows * cols), self.tables)
        return y.reshape(rows * cols, self.model.channels, 1, 1), level, (rows, cols)

    @torch.no_grad()
    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu") -> np.ndarray:
        """Header + sections -> int64 class labels (rows, cols), one per 28x28 tile."""
        y, level, grid = self.decompress_latents(header, sections)
        logits = self.model.classify(torch.from_numpy(y).float(), level)
        return logits.argmax(1).numpy().astype(np.int64).reshape(grid)
