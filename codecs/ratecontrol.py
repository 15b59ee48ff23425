"""Rate control: encode an image to a target file size by searching the codec's quality grid.

Every image codec with a rate knob lists its distinct qualities from the lowest rate to the highest
(``quality_grid``). The search runs real encodes and measures the packed ``.ncd`` file, so the size it
promises is the size written: the result is the largest trial at or under the target, never above it.
The next trial is interpolated on log(bytes) between the two closest trials on each side of the target
(sizes grow roughly exponentially with the quality of learned and classical codecs alike), with a
bisection step whenever interpolation shrinks the bracket too slowly, so it ends in about 4-8 encodes on
a 301-point grid where plain bisection needs 9-10. Sizes that are not monotone in the quality (JPEG's
tables at a few qualities) cannot make it exceed the target: only measured sizes are compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ncodec.codecs import container
from ncodec.codecs.container import EncodeResult
from ncodec.errors import UsageError


class RateControlledCodec(Protocol):
    name: str

    def quality_grid(self) -> list[float]: ...

    def compress(self, image: np.ndarray, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu", effort: str = "default") -> EncodeResult: ...


@dataclass
class TargetOutcome:
    """The chosen encode and how the search got there."""

    result: EncodeResult
    data: bytes  # the packed .ncd file
    quality: float
    trials: int  # real encodes run
    target_bytes: int
    next_quality: float | None  # the next finer quality of the grid (None at the top) ...
    next_bytes: int | None  # ... and its size, above the target: why the gap cannot shrink

    @property
    def shortfall(self) -> float:
        """How far under the target the file is, as a fraction of the target (0 = exactly on it)."""
        return 1.0 - len(self.data) / self.target_bytes

    def explain(self) -> str:
        """One line: the landing and, when the grid is too coarse for the goal, why."""
        text = (f"quality {self.quality:g}, {len(self.data)} bytes for a target of {self.target_bytes} "
                f"({-100 * self.shortfall:+.1f} %), {self.trials} trial encodes")
        if self.next_bytes is not None and self.next_bytes <= self.target_bytes and self.shortfall > 0.05:
            text += (f"; the next quality {self.next_quality:g} gives only {self.next_bytes} bytes (the sizes are "
                     "not monotone in the quality here)")
        elif self.next_bytes is not None and self.shortfall > 0.05:
            text += (f"; the next quality {self.next_quality:g} gives {self.next_bytes} bytes, over the target"
                     " (the codec's rate steps are coarser than 5 % here)")
        elif self.next_bytes is None and self.shortfall > 0.05:
            text += "; this is the codec's highest quality"
        return text


def target_bytes_for(target_size: int | None, target_bpp: float | None, pixels: int) -> int:
    """The byte budget of ``--target-size`` or ``--target-bpp`` (exactly one given) for an image."""
    if (target_size is None) == (target_bpp is None):
        raise UsageError("give exactly one of --target-size and --target-bpp")
    if target_size is not None:
        if isinstance(target_size, bool) or int(target_size) != target_size or target_size <= 0:
            raise UsageError(f"--target-size must be a positive number of bytes, got {target_size}")
        return int(target_size)
    assert target_bpp is not None
    if not math.isfinite(target_bpp) or target_bpp <= 0:
        raise UsageError(f"--target-bpp must be a positive number, got {target_bpp}")
    budget = int(math.floor(target_bpp * pixels / 8.0))
    if budget <= 0:
        raise UsageError(f"--target-bpp {target_bpp:g} allows no byte for {pixels} pixels")
    return budget


def encode_to_size(codec: RateControlledCodec, image: np.ndarray, target_bytes: int,
                   backend: str = "constriction", device: str = "cpu", effort: str = "default",
                   analysis: str = "auto") -> TargetOutcome:
    """The largest encode of ``image`` at or under ``target_bytes`` (the packed file) over the codec's
    quality grid; a one-line UsageError if even the lowest quality is over the target."""
    grid = codec.quality_grid()
    trials: dict[int, tuple[int, EncodeResult, bytes]] = {}

    def size(i: int) -> int:
        if i not in trials:
            extra = {} if analysis == "auto" else {"analysis": analysis}  # learned image codecs only
            result = codec.compress(image, quality=grid[i], backend=backend, device=device, effort=effort, **extra)
            data = container.pack(result.header, result.sections)
            trials[i] = (len(data), result, data)
        return trials[i][0]

    top = len(grid) - 1
    if size(0) > target_bytes:
        raise UsageError(f"target {target_bytes} bytes is below {codec.name}'s range: its lowest quality "
                         f"{grid[0]:g} gives {size(0)} bytes")
    if top > 0 and size(top) > target_bytes:
        lo, hi = 0, top  # size(lo) <= target < size(hi)
        bisect_next = False
        while hi - lo > 1:
            if bisect_next:
                mid = (lo + hi) // 2
            else:  # interpolate the target's position on log(bytes)
                a, b = math.log(max(size(lo), 1)), math.log(size(hi))
                frac = (math.log(target_bytes) - a) / (b - a) if b > a else 0.5
                mid = min(max(lo + int(round(frac * (hi - lo))), lo + 1), hi - 1)
            width = hi - lo
            if size(mid) <= target_bytes:
                lo = mid
            else:
                hi = mid
            bisect_next = (hi - lo) > width // 2  # interpolation shrank the bracket less than half
    while True:
        best = max((i for i, (n, _, _) in trials.items() if n <= target_bytes), key=lambda i: (trials[i][0], i))
        nxt = best + 1 if best < top else None
        if nxt is None or nxt in trials:
            break
        size(nxt)  # a non-monotone landing: measure the finer neighbour (it may fit, and be larger)
    _, result, data = trials[best]
    return TargetOutcome(result=result, data=data, quality=grid[best], trials=len(trials),
                         target_bytes=target_bytes, next_quality=None if nxt is None else grid[nxt],
                         next_bytes=None if nxt is None else trials[nxt][0])


def describe(outcome: TargetOutcome) -> dict[str, Any]:
    """JSON-ready summary of a target-size encode."""
    return {"target_bytes": outcome.target_bytes, "bytes": len(outcome.data), "quality": outcome.quality,
            "trials": outcome.trials, "shortfall": outcome.shortfall, "next_quality": outcome.next_quality,
            "next_bytes": outcome.next_bytes}
