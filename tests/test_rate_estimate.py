"""Estimated vs real rate (issue 18 item 4): the ledger's accounting, the model's eval-mode estimate,
and the columns and warning of ``ncodec eval``."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from ncodec.cli import main
from ncodec.codecs import container
from ncodec.codecs.imageio import read_image
from ncodec.codecs.registry import load_codec
from ncodec.entropy.coders import get_coder
from ncodec.entropy.escape import pack_escapes
from ncodec.entropy.ledger import RateLedger
from ncodec.entropy.tables import TableSet
from ncodec.evaluation.runner import code_image, rate_gap_summary

from conftest import ASSETS, SAMPLE


@pytest.mark.parametrize("backend", ["constriction", "compressai", "rans-interleaved"])
def test_ledger_counts_ideal_bits_escapes_and_coder_overhead(backend: str) -> None:
    rng = np.random.default_rng(0)
    rows = [torch.tensor([30000, 20000, 10000, 5536], dtype=torch.int64),  # 3 bins + escape
            torch.tensor([65000, 500, 36], dtype=torch.int64)]
    tables = TableSet.from_rows(rows, [-1, 0])
    idx = rng.integers(0, 2, 5000)
    symbols = np.where(idx == 0, rng.integers(-1, 2, 5000), rng.integers(0, 2, 5000))
    symbols[[3, 17, 400]] = [9, -7, 1000]  # out of range: escapes
    ledger = RateLedger()
    coder = ledger.wrap(get_coder(backend))
    data = coder.encode(symbols, idx, tables)
    np.testing.assert_array_equal(get_coder(backend).decode(data, idx, tables), symbols)
    lo, hi = tables.offsets[idx], tables.offsets[idx] + tables.lengths[idx] - 1
    escaped = (symbols < lo) | (symbols > hi)
    bins = np.where(escaped, tables.lengths[idx], symbols - lo)
    expected = float(np.sum(-np.log2(tables.counts[idx, bins] / 2.0 ** 16)))
    assert ledger.table_bits == pytest.approx(expected, rel=1e-12)
    assert ledger.escaped_symbols == 3
    assert ledger.escape_bytes == len(pack_escapes(symbols[escaped], lo[escaped], hi[escaped]))
    assert ledger.coded_bytes == len(data) and ledger.symbols == 5000 and ledger.tensors == 1
    # a real coder is within a few bytes of the ideal code length plus its fixed cost (lane states)
    assert 0 < ledger.coder_overhead_bytes < get_coder(backend).fixed_cost(5000) + 16


def test_estimate_is_close_to_the_real_size_and_the_parts_add_up() -> None:
    codec = load_codec("mean-scale-hyperprior")
    img = read_image(ASSETS / "kodim19_203x147.jpg")
    for quality in (1.0, 2.5):
        record, _ = code_image(codec, img, quality, "constriction")
        real_bits = 8 * record["bytes"]
        assert abs(record["rate_gap"]) < 0.25  # a small image: the container is a visible share
        assert record["rate_gap"] == pytest.approx(real_bits / record["estimated_bits"] - 1)
        parts = sum(record["gap_bytes"].values())
        assert parts == pytest.approx(record["bytes"] - record["estimated_bits"] / 8, abs=1e-6)
        header = container.pack(container.unpack(codec_stream(codec, img, quality))[0], [])
        assert record["gap_bytes"]["container"] >= len(header)
    # the estimate is deterministic (no training noise in eval mode) and grows with the quality
    assert codec.estimate_bits(img, 2.0) == codec.estimate_bits(img, 2.0)
    assert codec.estimate_bits(img, 1.0) < codec.estimate_bits(img, 1.5) < codec.estimate_bits(img, 2.0)


def codec_stream(codec, img, quality) -> bytes:
    r = codec.compress(img, quality=quality)
    return container.pack(r.header, r.sections)


def test_eval_reports_estimated_and_real_rate(tmp_path, capsys) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "sample.png")
    out = tmp_path / "msh.json"
    assert main(["eval", str(folder), "--codec", "mean-scale-hyperprior", "--qualities", "1,3",
                 "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr()
    assert "est. bpp" in text.out and "real vs estimated rate" in text.out
    doc = json.loads(out.read_text())
    assert len(doc["results"]["estimated_bpp"]) == 2
    total = doc["rate_estimate"]
    assert total["real_bits"] == sum(8 * r["bytes"] for r in doc["per_image"])
    assert math.isclose(total["gap"], total["real_bits"] / total["estimated_bits"] - 1)
    jpeg = tmp_path / "jpeg.json"
    assert main(["eval", str(folder), "--codec", "jpeg", "--qualities", "50", "-o", str(jpeg), "--no-progress"]) == 0
    doc = json.loads(jpeg.read_text())
    assert "estimated_bpp" not in doc["results"] and "rate_estimate" not in doc


def test_gap_above_the_threshold_is_listed() -> None:
    rows = [{"image": "a.png", "quality": 1.0, "bytes": 100, "estimated_bits": 800.0, "rate_gap": 0.0,
             "gap_bytes": {"tables": 0.0, "coder": 0.0}},
            {"image": "b.png", "quality": 2.0, "bytes": 120, "estimated_bits": 800.0, "rate_gap": 0.2,
             "gap_bytes": {"tables": 15.0, "coder": 5.0}}]
    summary = rate_gap_summary(rows)
    assert summary["over_threshold"] == ["b.png@2"]
    assert summary["gap_bytes"] == {"tables": 15.0, "coder": 5.0}
    assert summary["gap"] == pytest.approx(1760 / 1600 - 1)
