"""Realism decoding of learned image streams (``ncodec decode --realism R``).

A realism weight file (``.ncw``) holds a ``models.realism.RealismGenerator`` and the sha256 of the
MSE codec weights it was trained on; it decodes any stream written with those weights, including
streams written before it existed, because the bitstream is the MSE codec's. R = 0 returns the MSE
decoder's pixels without running the generator. The generator's noise is drawn from a seed derived
from the stream itself (sha256 of its sections), so the same file and R give the same pixels on
every run; the generator is floating point, so across thread counts pixels agree to the tolerance
documented in ``tests/test_realism.py`` (like the MSE synthesis, DESIGN.md determinism rule 5).
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path
from typing import Any

import torch

from ncodec.errors import MissingWeightsError, ModelMismatchError, UsageError

STATE_KIND = "realism"


def check_realism(value: float) -> float:
    """R as a float in [0, 1]; anything else is a usage error (one line, exit 2)."""
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"--realism must be a number in [0, 1], got {value!r}") from None
    if math.isnan(r) or not 0.0 <= r <= 1.0:
        raise UsageError(f"--realism must lie in [0, 1], got {value}")
    return r


def stream_seed(sections: list[bytes]) -> int:
    """63-bit noise seed of a stream: sha256 over its sections (length-prefixed)."""
    h = hashlib.sha256()
    for s in sections:
        h.update(len(s).to_bytes(8, "little"))
        h.update(s)
    return int.from_bytes(h.digest()[:8], "little") >> 1


class RealismDecoder:
    """A loaded realism generator bound to the sha256 of its base codec's weights."""

    def __init__(self, state: dict[str, Any], sha256: str) -> None:
        from ncodec.models.realism import RealismGenerator

        if not isinstance(state, dict) or state.get("kind") != STATE_KIND:
            raise ModelMismatchError("not a realism weight file")
        try:
            self.generator = RealismGenerator.from_config(state["config"])
            self.generator.load_state_dict(state["state_dict"])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise ModelMismatchError(f"malformed realism weight file ({type(exc).__name__})") from None
        self.generator.eval()
        self.base_codec = str(state["base_codec"])
        self.base_sha256 = str(state["base_sha256"])
        self.meta = dict(state.get("meta", {}))
        self.sha256 = sha256

    @classmethod
    def from_file(cls, path: str | Path) -> "RealismDecoder":
        from ncodec.codecs.image import read_weight_file

        return cls(*read_weight_file(path, "realism weight file"))

    def check_base(self, codec_name: str, weights_sha256: str) -> None:
        """The stream's codec and weights must be the ones this generator was trained on."""
        if codec_name != self.base_codec or not self.base_sha256.startswith(weights_sha256):
            raise ModelMismatchError(
                f"the realism weights are for {self.base_codec} weights {self.base_sha256[:16]}…, "
                f"the stream is {codec_name} weights {weights_sha256[:16]}…")

    def tile_noise(self, generator: torch.Generator, latent: torch.Tensor) -> torch.Tensor:
        """Noise for one tile, drawn on the CPU in float32 (the same numbers on every machine)."""
        shape = self.generator.noise_shape(latent)
        return torch.randn(shape, generator=generator, dtype=torch.float32)

    @torch.inference_mode()
    def apply(self, latent: torch.Tensor, x_mse: torch.Tensor, realism: float,
              generator: torch.Generator) -> torch.Tensor:
        """x_R for one tile: ``latent`` is the base synthesis input, ``x_mse`` its output in [0, 1]."""
        gen = self.generator.to(x_mse.device)
        noise = self.tile_noise(generator, latent).to(x_mse.device)
        r = torch.full((x_mse.shape[0],), float(realism), dtype=x_mse.dtype, device=x_mse.device)
        return gen(latent.to(x_mse.dtype), x_mse, r, noise)


def save_realism_weights(generator: torch.nn.Module, path: str | Path, base_codec: str, base_sha256: str,
                         meta: dict[str, Any] | None = None) -> str:
    """Write a realism ``.ncw`` (atomic); returns its sha256."""
    from ncodec.codecs.imageio import atomic_write_bytes

    state = {"kind": STATE_KIND, "config": generator.config(),
             "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
             "base_codec": base_codec, "base_sha256": base_sha256, "meta": dict(meta or {})}
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def find_realism_weights(codec_name: str, weights_sha256: str) -> Path:
    """The shipped realism weights for a stream's base weights (manifest ``realism_models``)."""
    from ncodec.models.zoo import WEIGHTS_DIR, realism_entries

    for entry in realism_entries():
        if entry["base_codec"] == codec_name and entry["base_sha256"].startswith(weights_sha256):
            path = WEIGHTS_DIR / entry["file"]
            if path.exists():
                return path
    raise MissingWeightsError(
        f"no realism weights for {codec_name} weights {weights_sha256[:16]}…: pass --realism-weights FILE "
        f"(train one with scripts/train_realism.py)")


def realism_decoder_for(codec: Any, realism: float, weights: str | Path | None = None) -> RealismDecoder:
    """The realism decoder for a loaded codec at R (checked): ``weights`` or the shipped generator
    of the codec's weights; refuses codecs that are not learned image codecs (usage error)."""
    from ncodec.codecs.image import LearnedImageCodec

    check_realism(realism)
    if not isinstance(codec, LearnedImageCodec):
        raise UsageError(f"--realism applies to learned image codecs, not {getattr(codec, 'name', codec)}")
    # LearnedImageCodec.decompress checks that the generator belongs to these weights
    return RealismDecoder.from_file(weights if weights is not None else find_realism_weights(codec.name, codec.sha256))
