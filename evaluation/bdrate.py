"""Bjøntegaard delta rate and delta quality (VCEG-M33 cubic fit, and piecewise-cubic Hermite (PCHIP)
interpolation as in the JVET common-test-conditions sheet).

Sign convention: BD-rate is the average rate difference of the *test* curve against the *anchor* at
equal quality, in percent; negative means the test needs less rate. For metrics where lower is better
(error rates, LPIPS), pass ``higher_is_better=False``: the metric is negated internally so the same
convention holds (negative BD-rate = fewer bits for the same error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

METHODS = ("cubic", "pchip")


@dataclass(frozen=True)
class Curve:
    """An RD curve: rates (bpp or kbps, > 0) and one quality value per rate."""

    rate: tuple[float, ...]
    quality: tuple[float, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.rate) != len(self.quality):
            raise ValueError(f"curve {self.name!r}: {len(self.rate)} rates but {len(self.quality)} quality values")
        if len(self.rate) < 4:
            raise ValueError(f"curve {self.name!r}: BD metrics need at least 4 points, got {len(self.rate)}")
        if not all(math.isfinite(r) and r > 0 for r in self.rate):
            raise ValueError(f"curve {self.name!r}: rates must be finite and positive")
        if not all(math.isfinite(q) for q in self.quality):
            raise ValueError(f"curve {self.name!r}: quality values must be finite")


def _sorted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError("curve has repeated abscissa values; BD metrics need a strictly monotone curve")
    return x, y


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Average of the interpolant of y(x) over [lo, hi]."""
    x, y = _sorted(x, y)
    if method == "cubic":
        poly = np.polyint(np.polyfit(x, y, 3))
        return float((np.polyval(poly, hi) - np.polyval(poly, lo)) / (hi - lo))
    if method == "pchip":
        return float(PchipInterpolator(x, y).integrate(lo, hi) / (hi - lo))
    raise ValueError(f"unknown BD method {method!r}; choose from {', '.join(METHODS)}")


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if hi <= lo:
        raise ValueError("the two curves do not overlap; BD metrics are undefined")
    return float(lo), float(hi)


def bd_rate(anchor: Curve, test: Curve, method: str = "cubic", higher_is_better: bool = True) -> float:
    """Average rate difference (percent) of ``test`` vs ``anchor`` over their common quality range."""
    sign = 1.0 if higher_is_better else -1.0
    qa, qt = sign * np.asarray(anchor.quality, float), sign * np.asarray(test.quality, float)
    ra, rt = np.log(np.asarray(anchor.rate, float)), np.log(np.asarray(test.rate, float))
    lo, hi = _overlap(qa, qt)
    diff = _mean_over(qt, rt, lo, hi, method) - _mean_over(qa, ra, lo, hi, method)
    return float((math.exp(diff) - 1.0) * 100.0)


def bd_quality(anchor: Curve, test: Curve, method: str = "cubic", higher_is_better: bool = True) -> float:
    """Average quality difference of ``test`` vs ``anchor`` over their common log-rate range
    (e.g. BD-PSNR in dB; positive = better for higher-is-better metrics)."""
    sign = 1.0 if higher_is_better else -1.0
    qa, qt = sign * np.asarray(anchor.quality, float), sign * np.asarray(test.quality, float)
    ra, rt = np.log(np.asarray(anchor.rate, float)), np.log(np.asarray(test.rate, float))
    lo, hi = _overlap(ra, rt)
    return float(sign * (_mean_over(rt, qt, lo, hi, method) - _mean_over(ra, qa, lo, hi, method)))
