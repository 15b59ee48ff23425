"""Multi-codebook VQ (``mcq``, issue 16 item 3): training forward, dead-code re-assignment and the
integer coding path (exact indices through every backend, truncation, garbage, thread counts)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from ncodec.codecs import container
from ncodec.codecs.image import LearnedImageCodec, export_state
from ncodec.codecs.latent_mcq import UNITS_KEY, McqLatentCodec
from ncodec.errors import BitstreamError, ModelMismatchError
from ncodec.models.image import build_model
from ncodec.models.mcq import MultiCodebookVQ
from ncodec.training.loop import rd_loss

BACKENDS = ("constriction", "compressai", "rans-interleaved")
LAMBDAS = [0.002, 0.004, 0.008, 0.016, 0.032]


def small_mcq(seed: int = 0, prior: str = "flat") -> MultiCodebookVQ:
    torch.manual_seed(seed)
    model = build_model({"kind": "mcq", "N": 16, "M": 16, "lambdas": LAMBDAS, "groups": 4,
                         "codewords": [16, 16, 8], "scales": 3, "prior": prior})
    with torch.no_grad():  # a non-uniform prior, as after training
        for stage in model.stages:
            stage.prior_logits.normal_(0.0, 1.5)
    return model.eval()


def image(h: int = 70, w: int = 90, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    base = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
    return np.clip(base + rng.randn(h, w, 3) * 40, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module", params=["flat", "parent"])
def codec(request: pytest.FixtureRequest) -> LearnedImageCodec:
    return LearnedImageCodec.from_model(small_mcq(prior=request.param))


def test_training_forward_shapes_and_finite_rate() -> None:
    model = small_mcq().train()
    x = torch.rand(2, 3, 64, 64)
    levels = torch.tensor([0, 4])
    out = model(x, levels)
    assert out["x_hat"].shape == x.shape
    assert {k: tuple(v.shape) for k, v in out["likelihoods"].items()} == {
        "s0": (2, 4, 2, 2), "s1": (2, 4, 4, 4), "s2": (2, 4, 8, 8)}
    # level 0 codes none of the finest stage: its likelihoods are 1 (zero bits)
    assert torch.all(out["likelihoods"]["s2"][0] == 1.0)
    assert torch.all(out["likelihoods"]["s2"][1] < 1.0)
    terms = rd_loss(model, out, x, levels)
    assert torch.isfinite(terms["loss"]) and float(terms["bpp"].detach()) > 0
    terms["loss"].backward()
    assert model.stages[0].codebook.grad is not None and model.g_a[0].weight.grad is not None
    assert model.config() == build_model(model.config()).config()
    assert model.aux_loss().item() == 0.0


def test_parent_prior_picks_the_table_of_the_coarser_index() -> None:
    """Parent prior: a child's mixture weights (training) and integer table (coding) are those of the
    co-located coarser index of its group; the flat-prior config (old weight files) stays flat."""
    flat, model = small_mcq(), small_mcq(prior="parent")
    assert "prior" not in flat.config() and flat.stages[1].parents == 0
    assert model.config()["prior"] == "parent" and build_model(model.config()).stages[2].parents == 16
    stage = model.stages[1]
    assert tuple(stage.prior_logits.shape) == (4, 16, 16)
    parent = torch.randint(0, 16, (1, 4, 2, 2))
    w = stage.weights_at(parent, (1, 16, 4, 4))  # (P=16, groups, codewords), positions row-major
    prior = stage.prior()
    for pos, (i, j) in enumerate((i, j) for i in range(4) for j in range(4)):
        for g in range(4):
            torch.testing.assert_close(w[pos, g], prior[g, parent[0, g, i // 2, j // 2]])
    latent = LearnedImageCodec.from_model(model).latent
    table = latent._table_index(1, 0, 4, (4, 4), parent[0].numpy())
    expected = latent.table_base[1] + np.arange(4)[:, None, None] * 16 \
        + parent[0].numpy().repeat(2, 1).repeat(2, 2)
    np.testing.assert_array_equal(table, expected.reshape(-1))
    with pytest.raises(BitstreamError):
        latent._table_index(1, 0, 4, (4, 4), None)
    # exported rows are the prior's rows, in (group, parent) order
    counts = latent.tables.counts[int(latent.table_base[1]) + 2 * 16 + 5, :16]
    p = (prior[2, 5].detach().double() / prior[2, 5].detach().double().sum()).numpy()
    np.testing.assert_allclose(counts / counts.sum(), p, atol=2e-3)


@pytest.mark.parametrize("prior", ["flat", "parent"])
def test_rate_distortion_assignment_trades_distortion_for_rate(prior: str) -> None:
    """rd_weights make the encoder pick cheaper codewords: fewer bytes, the same exact decoding, and
    weight 0 is the nearest-codeword encoder; the decoder needs nothing new."""
    model = small_mcq(prior=prior)
    plain = LearnedImageCodec.from_model(model)
    tuned_model = build_model({**model.config(), "rd_weights": [0.0, 0.0, 0.0, 0.0, 50.0]})
    tuned_model.load_state_dict(model.state_dict())
    tuned = LearnedImageCodec.from_model(tuned_model.eval())
    img = image()
    for q in (1, 5):
        a, b = plain.compress(img, quality=q), tuned.compress(img, quality=q)
        if q == 1:  # weight 0 at this level: the same stream
            assert a.sections == b.sections
        else:
            assert sum(map(len, b.sections)) < sum(map(len, a.sections))
            latents, _, _ = tuned.decompress_latents(b.header, b.sections)
            for k in b.latents[0]:
                np.testing.assert_array_equal(b.latents[0][k], latents[0][k])
    assert tuned_model.config()["rd_weights"][-1] == 50.0 and "rd_weights" not in model.config()
    # relative weights (units of each group's mean nearest distance): also cheaper, still exact
    rel_model = build_model({**model.config(), "rd_weights": [0.0, 0.0, 0.0, 0.0, 2.0], "rd_relative": True})
    rel_model.load_state_dict(model.state_dict())
    rel = LearnedImageCodec.from_model(rel_model.eval())
    a, c = plain.compress(img, quality=5), rel.compress(img, quality=5)
    assert sum(map(len, c.sections)) < sum(map(len, a.sections))
    assert rel_model.config()["rd_weights_relative"][-1] == 2.0 and "rd_weights" not in rel_model.config()
    assert build_model(rel_model.config()).rd_relative
    latents, _, _ = rel.decompress_latents(c.header, c.sections)
    for k in c.latents[0]:
        np.testing.assert_array_equal(c.latents[0][k], latents[0][k])
    with pytest.raises(ValueError):
        build_model({**model.config(), "rd_weights": [1.0, 2.0]})


def test_straight_through_quantizer_trains_encoder_and_moves_codebooks_by_ema() -> None:
    """quantizer="ste": the forward value is the nearest codeword, the distortion gradient reaches the
    analysis transform unchanged, codewords get no gradient but follow their assigned vectors (EMA),
    a commitment term joins the loss, and eval/coding behave as with the softmax relaxation."""
    torch.manual_seed(3)
    model = build_model({"kind": "mcq", "N": 16, "M": 16, "lambdas": LAMBDAS, "groups": 4,
                         "codewords": [16, 16, 8], "scales": 3, "prior": "parent", "quantizer": "ste"})
    assert model.config()["quantizer"] == "ste" and "quantizer" not in small_mcq().config()
    assert build_model(model.config()).stages[0].quantizer == "ste"
    with pytest.raises(ValueError):
        build_model({**model.config(), "quantizer": "gumbel"})
    model.train()
    x = torch.rand(2, 3, 64, 64)
    levels = torch.tensor([1, 4])
    stage = model.stages[0]
    cb = stage.codebook.detach().clone()
    r = model.pyramid(model.g_a(x))[0].detach()
    idx = stage.indices(r)
    out = model(x, levels)
    assert "extra_loss" in out and float(out["extra_loss"].detach()) > 0
    # the EMA step moved exactly the used codewords of the coarsest stage toward their vectors
    used = torch.zeros(4, 16, dtype=torch.bool)
    used[torch.arange(4)[:, None], idx.permute(1, 0, 2, 3).reshape(4, -1)] = True
    shift = (stage.codebook.detach() - cb).norm(dim=-1)
    assert shift[used].min() > 1e-4 and shift[~used].max() < 1e-5  # unused: only the count smoothing
    vec = stage._vectors(r)
    g, k = 0, int(idx[0, 0, 0, 0])
    members = vec[:, g][(idx.permute(0, 2, 3, 1).reshape(-1, 4)[:, g] == k)]
    before = (cb[g, k] - members.mean(0)).norm()
    assert (stage.codebook.detach()[g, k] - members.mean(0)).norm() < before
    terms = rd_loss(model, out, x, levels)
    terms["loss"].backward()
    assert stage.codebook.grad is None and model.g_a[0].weight.grad.abs().sum() > 0
    assert stage.prior_logits.grad is not None
    # identity straight-through: d(x_hat)/d(latent) is the synthesis gradient, not a softmax's
    y = model.g_a(x).detach().requires_grad_(True)
    q, _, _ = model.stages[0].relaxed(y)
    q.sum().backward()
    torch.testing.assert_close(y.grad, torch.ones_like(y))
    model.eval()
    codec = LearnedImageCodec.from_model(model)
    img = image()
    enc = codec.compress(img, quality=3)
    assert codec.decompress(enc.header, enc.sections).shape == img.shape
    # a weight file carries no k-means statistics: they restart from its codebooks (not from random ones)
    for st in codec.model.stages:
        torch.testing.assert_close(st.ema_sum, st.codebook.detach())
        assert torch.all(st.ema_count == 1.0) and float(st.usage.sum()) == 0.0


def test_ecvq_training_assignment_trades_distance_for_code_length() -> None:
    """quantizer="ecvq": in training, codewords are chosen by distance + w * code length, so the chosen
    indices are cheaper under the prior than the nearest ones; eval and coding use the nearest."""
    torch.manual_seed(5)
    cfg = {"kind": "mcq", "N": 16, "M": 16, "lambdas": LAMBDAS, "groups": 4, "codewords": [16, 16, 8],
           "scales": 3, "quantizer": "ecvq"}
    model = build_model(cfg)
    stage = model.stages[0]
    with torch.no_grad():
        stage.prior_logits.normal_(0.0, 0.5)
    r = torch.randn(2, 16, 4, 4)
    bits = -torch.log2(stage.prior().detach())  # (groups, codewords)
    model.train()
    _, _, idx_train = stage.relaxed(r)
    model.eval()
    _, _, idx_eval = stage.relaxed(r)
    torch.testing.assert_close(idx_eval, stage.indices(r))
    g = torch.arange(4).view(1, 4, 1, 1)
    assert float(bits[g, idx_train].mean()) < float(bits[g, idx_eval].mean())
    assert build_model(model.config()).quantizer == "ecvq"


def test_weight_files_leave_out_training_only_tensors() -> None:
    """Prior logits, usage and k-means statistics stay in checkpoints, not weight files; the loader
    restores logits equal to the integer tables, and any other missing tensor is refused."""
    model = small_mcq(prior="parent")
    state = export_state(model)
    assert not any(k.endswith(("prior_logits", "usage")) for k in state["state_dict"])
    codec = LearnedImageCodec(state, "0" * 64)
    latent = codec.latent
    for stage, base in zip(codec.model.stages, latent.table_base):
        rows = codec.model.groups * max(stage.parents, 1)
        counts = latent.tables.counts[int(base):int(base) + rows, :stage.codewords].astype(np.float64)
        np.testing.assert_allclose(stage.prior().detach().double().reshape(rows, -1).numpy(),
                                   counts / counts.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-7)
    img = image()
    assert codec.compress(img, quality=5).sections == LearnedImageCodec.from_model(model).compress(img, quality=5).sections
    broken = dict(state, state_dict={k: v for k, v in state["state_dict"].items() if not k.startswith("g_s.0")})
    with pytest.raises(ModelMismatchError):
        LearnedImageCodec(broken, "0" * 64)


def test_dead_codewords_are_reassigned() -> None:
    model = small_mcq()
    stage = model.stages[1]
    stage.usage.zero_()
    stage.usage[:, :3] = 50.0  # every other codeword of every group is dead
    before = stage.codebook.detach().clone()
    r = torch.randn(2, 16, 4, 4) * 3.0
    moved = stage.reassign_dead(r)
    assert moved == 4 * (16 - 3)
    changed = (stage.codebook.detach() - before).abs().sum(-1) > 0
    assert not changed[:, :3].any() and changed[:, 3:].all()
    assert float(stage.usage.sum()) == 0.0
    # the training forward triggers it every `reassign_every` steps
    model.train()
    model.reassign_every = 2
    cb = model.stages[2].codebook.detach().clone()
    for _ in range(2):
        model(torch.rand(1, 3, 32, 32), torch.tensor([4]))
    assert not torch.equal(cb, model.stages[2].codebook.detach())


def test_export_loads_weights_only_and_checks_consistency() -> None:
    model = small_mcq()
    buf = io.BytesIO()
    torch.save(export_state(model), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    McqLatentCodec(model, state)  # consistent
    other = build_model({**model.config(), "codewords": [16, 16, 16]})
    with pytest.raises(ValueError):
        McqLatentCodec(other, state)
    bad = dict(state, mcq_units=state["mcq_units"][:-1])
    with pytest.raises(ModelMismatchError):
        LearnedImageCodec(dict(bad), "0" * 64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trip_exact_indices_every_rate_point(codec: LearnedImageCodec, backend: str) -> None:
    img = image()
    sizes = []
    for q in range(1, codec.levels + 1):
        enc = codec.compress(img, quality=q, backend=backend)
        data = container.pack(enc.header, enc.sections)
        header, sections = container.unpack(data)
        latents, _, _ = codec.decompress_latents(header, sections)
        for a, b in zip(enc.latents, latents):
            assert a.keys() == b.keys()
            for k in a:
                np.testing.assert_array_equal(a[k], b[k])
        if q == codec.levels:
            rec = codec.decompress(header, sections)
            assert rec.shape == img.shape and rec.dtype == np.uint8
        sizes.append(sum(len(s) for s in sections))
    assert sizes == sorted(sizes) and len(set(sizes)) == codec.levels  # >= 4 distinct rate points


def test_truncated_stream_decodes_coarser(codec: LearnedImageCodec) -> None:
    img = image()
    full = codec.compress(img, quality=codec.levels)
    coarse = codec.compress(img, quality=1)
    n = full.header.metadata[UNITS_KEY]
    for keep in range(1, n):
        header = full.header
        header.metadata = {**full.header.metadata, UNITS_KEY: keep}
        rec = codec.decompress(header, full.sections[:keep])
        assert rec.shape == img.shape
        if keep == coarse.header.metadata[UNITS_KEY]:  # the cut stream equals the q=1 stream
            assert full.sections[:keep] == coarse.sections
            np.testing.assert_array_equal(rec, codec.decompress(coarse.header, coarse.sections))
        header.metadata = {**header.metadata, UNITS_KEY: n}
    # a header promising more sections than there are is an error, not a crash
    with pytest.raises(BitstreamError):
        codec.decompress(full.header, full.sections[:-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_garbage_sections_raise_bitstream_error(codec: LearnedImageCodec, backend: str) -> None:
    img = image(64, 64)
    enc = codec.compress(img, quality=codec.levels, backend=backend)
    rng = np.random.RandomState(1)
    failures = 0
    for case in range(40):
        sections = list(enc.sections)
        i = case % len(sections)
        s = bytearray(sections[i])
        kind = case % 4
        if kind == 0:
            s = bytearray(rng.bytes(rng.randint(0, 40)))
        elif kind == 1:
            s = s[: rng.randint(0, len(s))]
        elif kind == 2 and len(s):
            for _ in range(3):
                s[rng.randint(len(s))] ^= 1 << rng.randint(8)
        else:
            s += rng.bytes(rng.randint(1, 8))
        sections[i] = bytes(s)
        try:
            codec.decompress_latents(enc.header, sections)
        except BitstreamError:
            failures += 1
    assert failures > 0
    for meta in ({}, {UNITS_KEY: 0}, {UNITS_KEY: 99}, {UNITS_KEY: True}, {UNITS_KEY: "3"}):
        with pytest.raises(BitstreamError):
            codec.latent.sections_per_tile(5, meta)


def test_decoded_indices_are_range_checked(codec: LearnedImageCodec) -> None:
    latent = codec.latent
    coder = codec.coder("constriction")
    # an escape-coded value beyond the codebook: decodable by the coder, rejected by the codec
    s, a, b = latent.units[0]
    idx = latent._table_index(s, a, b, (2, 2), None)
    sym = np.zeros(idx.size, dtype=np.int64)
    sym[3] = 999
    section = coder.encode(sym, idx, latent.tables)
    shape = codec.model.latent_shape(32, 32)
    with pytest.raises(BitstreamError):
        latent.decode([section], shape, 1.0, {UNITS_KEY: 1}, coder)
    with pytest.raises(BitstreamError):
        latent.decode([section], (1, 16, 3, 4), 1.0, {UNITS_KEY: 1}, coder)


def test_one_and_two_threads_give_identical_bytes(codec: LearnedImageCodec) -> None:
    img = image(96, 128, seed=3)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = codec.compress(img, quality=codec.levels).sections
        torch.set_num_threads(2)
        two = codec.compress(img, quality=codec.levels).sections
    finally:
        torch.set_num_threads(old)
    assert one == two


def test_training_loop_trains_resumes_and_validates_mcq(tmp_path) -> None:
    """The generic loop copes with a model without auxiliary parameters; validation is real bitstreams."""
    import argparse

    from ncodec.codecs.image import validate_with_bitstreams
    from ncodec.training.loop import add_train_arguments, run_training

    from conftest import ASSETS

    def args(steps: int, resume: bool = False) -> argparse.Namespace:
        p = argparse.ArgumentParser()
        add_train_arguments(p)
        argv = ["--codec", "mcq", "--out", str(tmp_path), "--data", str(ASSETS), "--val-count", "1",
                "--steps", str(steps), "--N", "8", "--M", "8", "--batch-size", "2", "--patch-size", "64",
                "--lambdas", "0.01,0.05", "--threads", "1", "--checkpoint-every", "2", "--log-every", "1",
                "--no-progress", "--val-every", "3", "--lr-drop", "1.0"]
        return p.parse_args(argv + (["--resume"] if resume else []))

    run_training(args(2), validate=validate_with_bitstreams)
    ck = run_training(args(3, resume=True), validate=validate_with_bitstreams)
    state = torch.load(ck, weights_only=False)
    assert state["step"] == 3 and state["config"]["kind"] == "mcq"
    val = (tmp_path / "val.csv").read_text()
    assert "q1_bpp" in val and "q2_psnr" in val


def test_fuzzed_streams_end_in_an_error_or_an_image(codec: LearnedImageCodec) -> None:
    """>= 500 mutants of real mcq streams (every rate point): an NcodecError or an image of the declared
    shape, never another exception."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fuzzlib import run_campaign

    from ncodec.codecs import container

    seeds = [container.pack(e.header, e.sections)
             for e in (codec.compress(image(), quality=q) for q in range(1, codec.levels + 1))]

    def decode(data: bytes) -> np.ndarray:
        header, sections = container.unpack(data)
        return codec.decompress(header, sections)

    stats = run_campaign(decode, seeds, cases=600, seed=17)
    assert stats["cases"] == 600 and not stats["failures"], stats["failures"][:5]
    assert stats["errors"] > 50 and stats["images"] > 10


def test_hyperprior_transforms_code_exact_indices() -> None:
    """``transforms="hyperprior"``: stride-16 transforms, stages at strides 16/32/64, same stream format."""
    torch.manual_seed(3)
    model = build_model({"kind": "mcq", "N": 16, "M": 16, "lambdas": LAMBDAS, "groups": 4, "codewords": [16, 16, 8],
                         "scales": 3, "prior": "parent", "transforms": "hyperprior", "quantizer": "ecvq",
                         "ecvq_weight": 0.2}).eval()
    assert model.downsample == 64 and model.latent_shape(128, 192) == (1, 16, 8, 12)
    assert build_model(model.config()).config() == model.config()
    assert model.stages[0].ecvq_weight == 0.2
    codec = LearnedImageCodec.from_model(model)
    img = image(70, 90)
    sizes = []
    for q in (1, 3, 5):
        enc = codec.compress(img, quality=q, backend="constriction")
        header, sections = container.unpack(container.pack(enc.header, enc.sections))
        latents, _, _ = codec.decompress_latents(header, sections)
        for a, b in zip(enc.latents, latents):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        assert [latents[0][f"s{s}"].shape[2:] for s in range(3)] == [(2, 2), (4, 4), (8, 8)]  # 128x128 tile
        assert codec.decompress(header, sections).shape == img.shape
        sizes.append(sum(len(s) for s in sections))
    assert sizes == sorted(sizes) and len(set(sizes)) == 3


def _script(name: str):
    """A module of scripts/ by file name."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seeded_from_mean_scale(tmp_path) -> tuple[MultiCodebookVQ, torch.nn.Module, dict]:
    """scripts/mcq_init_from_msh.py on a small random mean-scale model (gains of quality 2 folded in):
    (the seeded mcq model, the mean-scale model as loaded from its weight file, the init checkpoint)."""
    from PIL import Image

    from ncodec.codecs.image import save_weights

    torch.manual_seed(0)
    base = build_model({"kind": "mean-scale-hyperprior", "N": 16, "M": 16, "lambdas": [0.002, 0.008]}).eval()
    with torch.no_grad():
        base.log_gain.normal_(0.0, 0.5)
        base.log_inv_gain.copy_(-base.log_gain + 0.1)
    save_weights(base, tmp_path / "msh.ncw")
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        Image.fromarray(image(128, 192, seed=i)).save(data / f"{i:03d}.png")
    out = tmp_path / "init.pt"
    assert _script("mcq_init_from_msh").main(
        ["--base", str(tmp_path / "msh.ncw"), "--out", str(out), "--data", str(data), "--groups", "4",
         "--codewords", "16,16,16", "--crop", "128", "--iterations", "3", "--quality", "2", "--threads", "1"]) == 0
    init = torch.load(out, weights_only=False)
    model = build_model(init["config"])
    model.load_state_dict(init["model"])
    loaded = LearnedImageCodec.from_file(tmp_path / "msh.ncw").model.float().eval()
    return model.eval(), loaded, init


def test_init_from_mean_scale_folds_gains_and_balances_groups(tmp_path) -> None:
    """scripts/mcq_init_from_msh.py: the seeded mcq transforms equal the mean-scale model's at the chosen
    quality (gains folded, channels permuted), and the channel groups get balanced energy."""
    script = _script("mcq_init_from_msh")
    energy = torch.tensor([9.0, 1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0])
    order = script.snake_order(energy, 2)
    assert sorted(order.tolist()) == list(range(8))
    groups = [energy[order[:4]].sum(), energy[order[4:]].sum()]
    assert order.tolist() == [0, 6, 7, 1, 2, 4, 5, 3]  # snake deal: {9, 6, 4, 1} and {8, 7, 3, 2}
    assert groups[0] == groups[1] == 20.0  # (sorted into groups: 30 and 10)

    model, loaded, init = _seeded_from_mean_scale(tmp_path)
    x = torch.from_numpy(image(64, 64, seed=5)).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        g, ig = loaded.gains(2.0)
        order = torch.tensor(init["source"]["channel_order"])
        assert torch.allclose(model.g_a(x), (loaded.g_a(x) * g)[:, order], atol=1e-5)
        y = model.g_a(x)
        assert torch.allclose(model.g_s(y), loaded.g_s((y * ig[:, order])[:, torch.argsort(order)]), atol=1e-5)
        assert all(float(up[-1].weight.abs().sum()) == 0.0 for up in model.up)  # predictions start at zero


def test_integer_synthesis_derived_from_the_mean_scale_program(tmp_path) -> None:
    """scripts/ship_mcq_intsynth.py: the seeded mcq's g_s is the mean-scale g_s at the folded quality, so
    the mean-scale integer program with its first layer's inputs permuted decodes mcq streams. Its pixels
    equal the base program's at that quality on the same latent, 1 and 2 threads give the same pixels,
    and they stay close to the float synthesis; a synthesis that is not a fold is refused."""
    from ncodec.codecs.intsynth import (ReferenceIntegerSynthesis, derive_program, load_program, program_sha256,
                                        save_derived_program, save_program)
    from ncodec.evaluation.metrics import psnr_rgb
    from ncodec.models.intsynth import build_program, float_trace, merge_traces

    ship = _script("ship_mcq_intsynth")
    model, base, init = _seeded_from_mean_scale(tmp_path)
    inverse_gain = lambda q: base.gains(q)[1].view(-1).double()  # noqa: E731
    with torch.no_grad():
        traces = []
        for seed, q in ((1, 1.0), (2, 2.0)):
            x = torch.from_numpy(image(64, 96, seed=seed)).permute(2, 0, 1)[None].float() / 255.0
            y_hat = torch.round(base.g_a(x) * base.gains(q)[0])
            traces.append(float_trace(base.g_s, base.synthesis_input(y_hat, q)))
    program = build_program(base.g_s, inverse_gain, base.levels, merge_traces(traces))
    order = ship.recover_channel_order(model.g_s[0].weight.detach(), base.g_s[0].weight.detach(), inverse_gain(2.0))
    assert order.tolist() == init["source"]["channel_order"]
    with pytest.raises(ValueError, match="folded gain"):
        ship.recover_channel_order(model.g_s[0].weight.detach() * 1.01, base.g_s[0].weight.detach(), inverse_gain(2.0))
    codec = LearnedImageCodec.from_model(model)
    save_program(program, "mean-scale-hyperprior", "0" * 64, tmp_path / "msh.intsyn.ncw")
    path = tmp_path / "mcq.intsyn.ncw"  # the derivation only, naming the base program beside it
    source = {"file": "msh.intsyn.ncw", "program_sha256": program_sha256(program), "quality": 2.0,
              "channel_order": order.tolist()}
    save_derived_program(source, codec.name, codec.sha256, path)
    derived = load_program(path, codec.sha256)
    assert all(torch.equal(derived[k], v) for k, v in derive_program(program, order, 2.0).items()
               if isinstance(v, torch.Tensor))
    # the base program re-saved beside another analysis program: the derivation still holds
    save_program(program, "mean-scale-hyperprior", "0" * 64, tmp_path / "msh.intsyn.ncw", analysis={"version": 1})
    assert program_sha256(load_program(path, codec.sha256)) == program_sha256(derived)
    bad = tmp_path / "bad.intsyn.ncw"
    for change, message in (({"program_sha256": "f" * 64}, "differs"), ({"file": ".."}, "not an integer-synthesis"),
                            ({"file": "../msh.intsyn.ncw"}, "not an integer-synthesis"),
                            ({"file": "bad.intsyn.ncw"}, "itself derived"),
                            ({"channel_order": [float(i) for i in order]}, "permutation"),
                            ({"channel_order": ["a"] * len(order)}, "channel_order"),
                            ({"quality": float("nan")}, "no input multipliers"), ({"quality": "x"}, "no input multipliers")):
        save_derived_program(source | change, codec.name, codec.sha256, bad)
        with pytest.raises(ModelMismatchError, match=message):
            load_program(bad, codec.sha256)
    codec.attach_integer_synthesis(path)
    img = image(128, 192, seed=7)
    for q in (2.0, float(codec.levels)):
        enc = codec.compress(img, quality=q)
        header, sections = container.unpack(container.pack(enc.header, enc.sections))
        assert codec.synthesis_path("auto", 0.0, None) == "integer"
        pixels = []
        for threads in (1, 2):
            old = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                pixels.append(codec.decompress(header, sections))
            finally:
                torch.set_num_threads(old)
        assert np.array_equal(pixels[0], pixels[1])
        latents, _, _ = codec.decompress_latents(header, sections)
        x = codec.latent.integer_synthesis_input(latents[0])
        base_input = torch.empty_like(x)
        base_input[:, order] = x
        assert np.array_equal(pixels[0], ReferenceIntegerSynthesis(program)(base_input, 2.0)[:128, :192])
        assert psnr_rgb(codec.decompress(header, sections, synthesis="float"), pixels[0]) > 35.0
