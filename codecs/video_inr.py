"""``inr-video``: a video codec whose bitstream is the quantised weights of one small network per group
of frames (NIRVANA-style patch-wise implicit neural representation, models/inr_video.py).

Encoding fits the networks group by group: each group's network starts from the previous group's
quantised weights, is fitted to its frames (MSE on RGB, Adam), and is made quantisation-aware for the
last part of the fit (straight-through rounding on a fixed per-tensor step). From the second group on, an
L1 rate term on the change of every weight (in quantisation steps) against the previous group keeps most
integers unchanged, so a static scene costs little after its first group. The integers are coded through
``entropy/`` with integer discrete-Laplace tables (entropy/laplace.py): the first group's values, then
each group's differences to the previous one, one table choice per tensor.

Sections::

    0      parameters: format byte, the network config, frames per group, λ, tensor count, the float32 step
           of every tensor
    1..G   one per group: a table index per tensor (u8), then the coded integers of all tensors

Decoding rebuilds each network from integers × steps (identical on every machine: the integers are
exact and a float32 product is correctly rounded) and renders its frames; rendering is floating point
(DESIGN.md allows that for synthesis). Groups decode in order, each needs the previous one.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ncodec.codecs.container import MAX_DIM, MAX_ELEMENTS, MAX_SECTIONS, Header
from ncodec.entropy.coders import BACKEND_IDS, get_coder
from ncodec.entropy.laplace import LAPLACE_THETAS, best_table, laplace_tables
from ncodec.errors import BitstreamError, UnsupportedInputError, UsageError
from ncodec.models.inr_video import PatchINR, PatchINRConfig, frames_to_patches, macs_per_patch, parameter_shapes

NO_WEIGHTS = "0" * 16
FORMAT = 1
MAX_FRAMES = 4096
MAX_HIDDEN = 1024
MAX_PARAMS = 1 << 24
MAX_MACS_PER_PIXEL = 1 << 14  # rendering work a stream may ask per output pixel (quality 5: about 1,700)
MAX_STEP = 1e3  # quantisation steps above this cannot come from a fit


@dataclass(frozen=True)
class RatePoint:
    """What a ``--quality`` level means: network size, weight precision and fitting effort."""

    hidden: int
    channels: int
    weight_bits: int  # the step is std(tensor) · 2^(4 - bits): about `bits` bits per raw weight
    rate_weight: float  # λ of the L1 change term for groups after the first
    steps_first: int  # fitting steps of the first group
    steps_next: int  # fitting steps of each later group (they start from the previous group)


QUALITY_LEVELS: dict[int, RatePoint] = {
    1: RatePoint(hidden=48, channels=4, weight_bits=6, rate_weight=4e-4, steps_first=8000, steps_next=4000),
    2: RatePoint(hidden=64, channels=6, weight_bits=6, rate_weight=2e-4, steps_first=8000, steps_next=4000),
    3: RatePoint(hidden=96, channels=8, weight_bits=7, rate_weight=1e-4, steps_first=8000, steps_next=4000),
    4: RatePoint(hidden=128, channels=12, weight_bits=7, rate_weight=5e-5, steps_first=8000, steps_next=4000),
    5: RatePoint(hidden=160, channels=16, weight_bits=8, rate_weight=2.5e-5, steps_first=8000, steps_next=4000),
}
DEFAULT_QUALITY = 3
GROUP_FRAMES = 16
MAX_GROUP_FRAMES = 256
PATCH = 8
BATCH_PATCHES = 2048
QAT_FRACTION = 0.3
SNAPSHOT_SECONDS = 30.0  # how often a long group fit records where it is (with a checkpoint file)
LEARNING_RATE = 3e-3


@dataclass
class VideoEncodeResult:
    header: Header
    sections: list[bytes]
    stats: dict[str, float]
    weights: list[list[np.ndarray]]  # each group's quantised integer tensors (what the decoder rebuilds)


def _params_layout(net: PatchINR) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(p.shape)) for name, p in net.named_parameters()]


_PARAMS_FMT = "<BBHBBBBHfB"


def _pack_params(config: PatchINRConfig, group: int, rate_weight: float, steps: np.ndarray) -> bytes:
    c = config
    return (struct.pack(_PARAMS_FMT, FORMAT, c.patch, c.hidden, c.layers, c.channels, c.freqs_xy, c.freqs_t,
                        group, rate_weight, steps.size) + steps.astype("<f4").tobytes())


def _unpack_params(data: bytes) -> tuple[PatchINRConfig, int, np.ndarray]:
    head = struct.calcsize(_PARAMS_FMT)
    if len(data) < head:
        raise BitstreamError("inr-video parameter section truncated")
    fmt, patch, hidden, layers, channels, fxy, ft, group, _, count = struct.unpack_from(_PARAMS_FMT, data)
    if fmt != FORMAT:
        raise BitstreamError(f"unknown inr-video section format {fmt}")
    if not (4 <= patch <= 32 and 1 <= hidden <= MAX_HIDDEN and 1 <= layers <= 8 and channels <= 64
            and fxy <= 12 and ft <= 12 and 1 <= group <= MAX_GROUP_FRAMES):
        raise BitstreamError("inr-video network parameters out of range")
    if len(data) != head + 4 * count:
        raise BitstreamError("inr-video parameter section has the wrong size")
    steps = np.frombuffer(data, dtype="<f4", count=count, offset=head).astype(np.float32)
    if not (np.isfinite(steps).all() and (steps > 0).all() and (steps <= MAX_STEP).all()):
        raise BitstreamError("inr-video quantisation steps are invalid")
    return PatchINRConfig(patch, hidden, layers, channels, fxy, ft), group, steps


def _dequantise(net: PatchINR, ints: list[torch.Tensor], steps: np.ndarray) -> None:
    """Set the network's parameters to integers × float32 steps (exact and machine independent)."""
    with torch.no_grad():
        for p, q, s in zip(net.parameters(), ints, steps):
            p.copy_(q.to(torch.float32) * torch.tensor(s, dtype=torch.float32))


def _pad_to(frames: np.ndarray, patch: int) -> np.ndarray:
    t, h, w, _ = frames.shape
    ph, pw = -h % patch, -w % patch
    return np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else frames


def _fingerprint(frames: np.ndarray, settings: tuple) -> str:
    h = hashlib.sha256(repr(settings).encode())
    h.update(np.ascontiguousarray(frames).tobytes())
    return h.hexdigest()


class INRVideoCodec:
    """Fits, quantises and codes one patch network per group of frames; decodes by rendering them."""

    name = "inr-video"
    modality = "video"
    sha256 = NO_WEIGHTS
    description = ("INR video (NIRVANA-style patch networks per group of 16 frames, initialised from the "
                   "previous group, quantisation-aware fitting, Laplace-coded weight changes); quality 1-5")

    def compress(self, frames: np.ndarray, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu", progress: bool = False, checkpoint: str | os.PathLike | None = None,
                 seed: int = 0, steps_scale: float = 1.0, group_frames: int = GROUP_FRAMES,
                 on_group: Callable[[int, int], None] | None = None) -> VideoEncodeResult:
        """Code uint8 RGB frames (T, H, W, 3). ``checkpoint``: a file that records finished groups, so a
        fit that is stopped resumes there (deleted by the caller once the bitstream is written).
        ``steps_scale`` scales the fitting steps (tests and quick previews); ``group_frames`` is the number
        of frames one network represents."""
        if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
            raise UnsupportedInputError("video input must be uint8 frames of shape (T, H, W, 3)")
        t_total, height, width, _ = frames.shape
        if not 1 <= t_total <= MAX_FRAMES:
            raise UnsupportedInputError(f"inr-video codes 1..{MAX_FRAMES} frames, got {t_total}")
        if height < PATCH or width < PATCH:
            raise UnsupportedInputError(f"frames must be at least {PATCH}x{PATCH}")
        if not 1 <= group_frames <= MAX_GROUP_FRAMES:
            raise UnsupportedInputError(f"frames per group must be in 1..{MAX_GROUP_FRAMES}")
        if not (math.isfinite(steps_scale) and 0 < steps_scale <= 100):
            raise UnsupportedInputError("fit effort must be a number in (0, 100]")
        # what the container will accept, checked before hours of fitting rather than after
        if t_total * height * width * 3 > MAX_ELEMENTS or max(height, width) > MAX_DIM:
            raise UnsupportedInputError(f"{t_total} frames of {width}x{height} exceed the bitstream limit of "
                                        f"{MAX_ELEMENTS} samples; code fewer frames (--frames) or a smaller size")
        if -(-t_total // group_frames) + 1 > MAX_SECTIONS:
            raise UnsupportedInputError(f"{t_total} frames in groups of {group_frames} need more than "
                                        f"{MAX_SECTIONS - 1} groups; use larger groups")
        level = quality_level(quality)
        point = QUALITY_LEVELS[level]
        config = PatchINRConfig(patch=PATCH, hidden=point.hidden, channels=point.channels)
        padded = _pad_to(frames, PATCH)
        rows, cols = padded.shape[1] // PATCH, padded.shape[2] // PATCH
        coder = get_coder(backend, device)
        settings = (config.as_dict(), frames.shape, group_frames, point, steps_scale, seed, backend, device)
        state = _load_checkpoint(checkpoint, _fingerprint(frames, settings))
        groups = [(a, min(a + group_frames, t_total)) for a in range(0, t_total, group_frames)]
        total_steps = sum(self._steps(point, g, steps_scale) for g in range(len(groups)))
        bar = None
        if progress:
            from tqdm import tqdm

            if state["next_group"] or state.get("partial") is not None:
                step = "" if state.get("partial") is None else f", step {state['partial']['step']} of the next"
                print(f"resuming from {checkpoint}: {state['next_group']} of {len(groups)} groups fitted{step}",
                      file=sys.stderr)

            done = sum(self._steps(point, g, steps_scale) for g in range(state["next_group"]))
            if state.get("partial") is not None:
                done += state["partial"]["step"]
            bar = tqdm(total=total_steps, initial=done, unit="step", file=sys.stderr, dynamic_ncols=True,
                       desc=f"fitting {len(groups)} group{'s' if len(groups) > 1 else ''}")
        params = sum(math.prod(shape) for shape in parameter_shapes(config, rows, cols))
        if params > MAX_PARAMS:
            raise UnsupportedInputError(f"frames of {width}x{height} need {params} parameters per group "
                                        f"(limit {MAX_PARAMS}); code a smaller size")
        try:
            for g in range(state["next_group"], len(groups)):
                a, b = groups[g]
                torch.manual_seed(seed + 7919 * g)  # per group, so a resumed fit equals an uninterrupted one
                net = PatchINR(config, rows, cols, b - a).to(device)
                if state["prev_ints"] is not None:
                    _dequantise(net, [q.to(device) for q in state["prev_ints"]], state["steps"])
                target = torch.from_numpy(padded[a:b]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
                partial = state.get("partial")
                resume = partial if partial is not None and partial["group"] == g else None

                def save_partial(snapshot: dict, group: int = g) -> None:
                    _save_checkpoint(checkpoint, {**state, "partial": {"group": group, **snapshot}})

                ints, steps = self._fit_group(net, target, point, state["prev_ints"], state["steps"],
                                              self._steps(point, g, steps_scale), bar, resume,
                                              save_partial if checkpoint is not None else None)
                state["partial"] = None
                state["steps"] = steps
                state["sections"].append(self._code_group(ints, state["prev_ints"], coder))
                state["prev_ints"] = [q.cpu() for q in ints]
                state["weights"].append([q.numpy().reshape(-1) for q in state["prev_ints"]])
                state["next_group"] = g + 1
                _save_checkpoint(checkpoint, state)
                if on_group is not None:
                    on_group(g + 1, len(groups))
        finally:
            if bar is not None:
                bar.close()  # also when interrupted, so the next message starts on its own line
        sections = [_pack_params(config, group_frames, point.rate_weight, state["steps"])] + state["sections"]
        header = Header(codec=self.name, modality=self.modality, weights_sha256=NO_WEIGHTS,
                        backend=coder.backend_id, backend_version=coder.version, quality=float(level),
                        shape=(t_total, height, width, 3), metadata={"groups": len(groups), "params": params})
        return VideoEncodeResult(header, sections, {"groups": len(groups), "params_per_group": params,
                                                    "fit_steps": total_steps}, state["weights"])

    @staticmethod
    def _steps(point: RatePoint, group: int, scale: float) -> int:
        return max(10, round((point.steps_first if group == 0 else point.steps_next) * scale))

    def _fit_group(self, net: PatchINR, target: torch.Tensor, point: RatePoint,
                   prev_ints: list[torch.Tensor] | None, steps: np.ndarray | None, n_steps: int,
                   bar, resume: dict | None = None,
                   save: Callable[[dict], None] | None = None) -> tuple[list[torch.Tensor], np.ndarray]:
        """Fit one group; returns its integer tensors and the per-tensor steps (fixed by the first group).
        ``save`` receives a snapshot of the fit (network, optimiser, sampler, steps) every
        SNAPSHOT_SECONDS; ``resume`` is such a snapshot to continue from, exactly."""
        patches = frames_to_patches(target, net.config.patch)
        coords = [c.to(target.device) for c in _all_coords(net, target.shape[0])]
        n = patches.shape[0]
        batch = min(n, BATCH_PATCHES)
        first = prev_ints is None
        lr = LEARNING_RATE if first else LEARNING_RATE / 3
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        qat_from = int(n_steps * (1 - QAT_FRACTION))
        step_t = None if steps is None else [torch.tensor(s, device=target.device) for s in steps]
        prev = None if first else [q.to(target.device, torch.float32) for q in prev_ints]
        samples = float(n * 3 * net.config.patch ** 2)
        gen = torch.Generator(device="cpu").manual_seed(int(n_steps) * 31 + n)
        start = 0
        if resume is not None:
            net.load_state_dict(resume["net"])
            opt.load_state_dict(resume["opt"])
            gen.set_state(resume["sampler"])
            if resume["quant_steps"] is not None:
                step_t = [torch.tensor(v, device=target.device) for v in resume["quant_steps"]]
            start = resume["step"]
        last_save = time.monotonic()
        for i in range(start, n_steps):
            if save is not None and time.monotonic() - last_save > SNAPSHOT_SECONDS:
                save({"step": i, "net": net.state_dict(), "opt": opt.state_dict(), "sampler": gen.get_state(),
                      "quant_steps": None if step_t is None else [float(v) for v in step_t]})
                last_save = time.monotonic()
            if i == qat_from and step_t is None:
                step_t = [_initial_step(p.detach(), point.weight_bits) for p in net.parameters()]
            frac = i / max(1, n_steps)
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * frac)) if i > n_steps // 20 or not first \
                    else lr * (i + 1) / (n_steps // 20 + 1)
            idx = torch.randint(0, n, (batch,), generator=gen).to(target.device)
            params = dict(net.named_parameters())
            if step_t is not None and i >= qat_from:
                params = {k: _fake_quant(p, s) for (k, p), s in zip(params.items(), step_t)}
            pred = torch.func.functional_call(net, params, (coords[0][idx], coords[1][idx], coords[2][idx]))
            loss = F.mse_loss(pred, patches[idx])
            if prev is not None:  # L1 of the change in steps (a Laplace rate proxy) per sample of the group
                change = sum((p / s - q).abs().sum() for p, s, q in zip(net.parameters(), step_t, prev))
                loss = loss + point.rate_weight * 1e3 * change / samples
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if bar is not None:
                bar.update(1)
        with torch.no_grad():
            ints = [torch.round(p / s).to(torch.int64) for p, s in zip(net.parameters(), step_t)]
        return ints, np.array([float(s) for s in step_t], dtype=np.float32)

    @staticmethod
    def _code_group(ints: list[torch.Tensor], prev_ints: list[torch.Tensor] | None, coder) -> bytes:
        values = [q.cpu().numpy().reshape(-1) for q in ints]
        if prev_ints is not None:
            values = [v - p.numpy().reshape(-1) for v, p in zip(values, prev_ints)]
        choice = np.array([best_table(v) for v in values], dtype=np.int64)
        symbols = np.concatenate(values)
        indexes = np.repeat(choice, [v.size for v in values])
        return choice.astype(np.uint8).tobytes() + coder.encode(symbols, indexes, laplace_tables())

    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu") -> np.ndarray:
        """Rebuild every group's network and render its frames: uint8 RGB (T, H, W, 3)."""
        self._check_header(header)
        t_total, height, width, _ = header.shape
        out = np.empty((t_total, height, width, 3), dtype=np.uint8)
        for a, net in self.networks(header, sections, device):
            with torch.inference_mode():
                for t in range(net.frames):
                    frame = net.render(t)[:, :height, :width].nan_to_num_(0.0)  # garbage weights: no NaN pixels
                    out[a + t] = frame.mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return out

    def networks(self, header: Header, sections: list[bytes], device: str = "cpu"):
        """Yield (first frame, network) per group, rebuilt from the bitstream in order."""
        for a, b, config, rows, cols, ints, steps in self._groups(header, sections, device):
            net = PatchINR(config, rows, cols, b - a).to(device)
            layout = _params_layout(net)
            _dequantise(net, [torch.from_numpy(v.reshape(shape)).to(device) for v, (_, shape) in zip(ints, layout)],
                        steps)
            yield a, net

    def decode_weights(self, header: Header, sections: list[bytes]) -> list[list[np.ndarray]]:
        """Each group's integer tensors as the decoder parses them (flattened, in parameter order)."""
        return [ints for *_, ints, _ in self._groups(header, sections, "cpu")]

    def _check_header(self, header: Header) -> None:
        if header.codec != self.name:
            raise BitstreamError(f"bitstream is for codec {header.codec!r}, not {self.name!r}")
        if header.backend not in BACKEND_IDS:
            raise BitstreamError(f"unknown coder backend id {header.backend}")
        if len(header.shape) != 4 or header.shape[3] != 3:
            raise BitstreamError("inr-video bitstream shape is not (T, H, W, 3)")

    def _groups(self, header: Header, sections: list[bytes], device: str):
        self._check_header(header)
        t_total, height, width, _ = header.shape
        if not sections:
            raise BitstreamError("inr-video bitstream has no sections")
        config, group, steps = _unpack_params(sections[0])
        if t_total > MAX_FRAMES or height < config.patch or width < config.patch:
            raise BitstreamError("inr-video frame count or size out of range")
        rows, cols = -(-height // config.patch), -(-width // config.patch)
        n_groups = -(-t_total // group)
        if len(sections) != 1 + n_groups:
            raise BitstreamError(f"inr-video bitstream has {len(sections) - 1} group sections, expected {n_groups}")
        sizes = [math.prod(shape) for shape in parameter_shapes(config, rows, cols)]
        if len(steps) != len(sizes) or sum(sizes) > MAX_PARAMS:
            raise BitstreamError("inr-video parameter layout does not match the network")
        if macs_per_patch(config) > MAX_MACS_PER_PIXEL * config.patch ** 2:
            raise BitstreamError("inr-video network is too large for its patch size")
        coder = get_coder(BACKEND_IDS[header.backend], device)
        prev: list[np.ndarray] | None = None
        for g in range(n_groups):
            ints = self._decode_group(sections[1 + g], sizes, prev, coder)
            yield g * group, min((g + 1) * group, t_total), config, rows, cols, ints, steps
            prev = ints

    @staticmethod
    def _decode_group(data: bytes, sizes: list[int], prev: list[np.ndarray] | None, coder) -> list[np.ndarray]:
        k = len(sizes)
        if len(data) < k:
            raise BitstreamError("inr-video group section truncated")
        choice = np.frombuffer(data, dtype=np.uint8, count=k).astype(np.int64)
        if (choice >= len(LAPLACE_THETAS)).any():
            raise BitstreamError("inr-video table index out of range")
        indexes = np.repeat(choice, sizes)
        symbols = coder.decode(data[k:], indexes, laplace_tables())
        if np.abs(symbols).max(initial=0) > 1 << 30:
            raise BitstreamError("inr-video weight out of range")
        values = np.split(symbols, np.cumsum(sizes)[:-1])
        if prev is not None:
            values = [v + p for v, p in zip(values, prev)]
            if any(np.abs(v).max(initial=0) > 1 << 30 for v in values):
                raise BitstreamError("inr-video weight out of range")
        return values


def _all_coords(net: PatchINR, frames: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    t, r, c = torch.meshgrid(torch.arange(frames), torch.arange(net.grid_rows), torch.arange(net.grid_cols),
                             indexing="ij")
    return t.reshape(-1), r.reshape(-1), c.reshape(-1)


def _initial_step(p: torch.Tensor, bits: int) -> torch.Tensor:
    std = float(p.float().std()) if p.numel() > 1 else float(p.abs().max())
    return torch.tensor(max(std, 1e-4) * 2.0 ** (4 - bits), dtype=torch.float32, device=p.device)


def _fake_quant(p: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """Round to the step in the forward pass, identity gradient (straight-through)."""
    return p + (torch.round(p / step) * step - p).detach()


def quality_level(quality: float | None) -> int:
    if quality is not None and not math.isfinite(quality):
        raise UsageError(f"inr-video quality is an integer in 1..{max(QUALITY_LEVELS)}, got {quality:g}")
    level = DEFAULT_QUALITY if quality is None else int(round(quality))
    if quality is not None and abs(quality - level) > 1e-9 or level not in QUALITY_LEVELS:
        raise UsageError(f"inr-video quality is an integer in 1..{max(QUALITY_LEVELS)}, got {quality:g}")
    return level


def _load_checkpoint(path: str | os.PathLike | None, fingerprint: str) -> dict:
    """The state of an earlier fit of the same input and settings, or a fresh one. The file is read with
    ``weights_only=True``: it holds tensors and plain values only, never pickled objects."""
    fresh = {"fingerprint": fingerprint, "next_group": 0, "sections": [], "prev_ints": None, "steps": None,
             "weights": [], "partial": None}
    if path is None or not Path(path).is_file():
        return fresh
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(saved, dict) or saved.get("fingerprint") != fingerprint:
            return fresh
        return {**saved, "sections": [t.numpy().tobytes() for t in saved["sections"]],
                "steps": None if saved["steps"] is None else saved["steps"].numpy(),
                "weights": [[t.numpy() for t in group] for group in saved["weights"]]}
    except Exception:  # an unreadable or foreign checkpoint is not fatal: start over
        return fresh


def _save_checkpoint(path: str | os.PathLike | None, state: dict) -> None:
    if path is None:
        return
    safe = {**state, "sections": [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in state["sections"]],
            "steps": None if state["steps"] is None else torch.from_numpy(np.asarray(state["steps"])),
            "weights": [[torch.from_numpy(np.asarray(a)) for a in group] for group in state["weights"]]}
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        torch.save(safe, tmp)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
