"""README's perception table (with the task and OCR codec comparisons) is generated from
results/perception/*.json, and the OCR comparison's front, interpolation and BD-rate are right."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "perception_results.py"


@pytest.fixture(scope="module")
def results():
    spec = importlib.util.spec_from_file_location("perception_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_matches_results(results):
    assert results.main(["--check"]) == 0


def test_front_keeps_only_points_better_than_every_cheaper_one(results):
    points = [(0.3, 0.004), (0.1, 0.05), (0.2, 0.01), (0.25, 0.012), (0.4, 0.004), (0.5, 0.002)]
    assert results.pareto(points) == [(0.1, 0.05), (0.2, 0.01), (0.3, 0.004), (0.5, 0.002)]


def test_rate_at_interpolates_log_log_and_refuses_outside_the_range(results):
    front = [(0.1, 0.04), (0.4, 0.01)]
    assert math.isclose(results.rate_at(front, 0.02), 0.2, rel_tol=1e-9)  # one octave of CER = one of bpp
    assert results.rate_at(front, 0.005) is None and results.rate_at(front, 0.08) is None


def test_bd_rate_at_equal_cer_of_a_curve_at_half_the_rate_is_minus_fifty(results):
    anchor = [(0.1, 0.05), (0.2, 0.02), (0.4, 0.008), (0.8, 0.004)]
    test = [(b / 2, c) for b, c in anchor]
    assert math.isclose(results.bd_rate_cer(anchor, test), -50.0, abs_tol=1e-6)
    assert results.bd_rate_cer(anchor, [(0.1, 0.5), (0.2, 0.3)]) is None  # no common CER range
