"""The inr-video codec: real fits on a small real clip, exact weights through the real coders, resume,
the CLI, and malformed bitstreams."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ASSETS
from ncodec import api
from ncodec.codecs import container
from ncodec.codecs.video_inr import INRVideoCodec
from ncodec.codecs.videoio import read_video
from ncodec.entropy.laplace import LAPLACE_THETAS, best_table, laplace_tables
from ncodec.errors import NcodecError, UnsupportedInputError, UsageError

CLIP = ASSETS / "cockatoo_96x64_8f.mkv"
EFFORT = 0.04  # 320 fitting steps for the first group, 160 for later ones: enough to see the fit work


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255 ** 2 / mse)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    # 12 frames with an odd size: two groups (8 + 4) and padding to the 8-pixel patch grid
    frames = read_video(CLIP)
    return np.concatenate([frames, frames[::-1][:4]])[:, :60, :90]


@pytest.fixture(scope="module")
def coded(clip):
    codec = INRVideoCodec()
    result = codec.compress(clip, quality=1, steps_scale=EFFORT, group_frames=8)
    return codec, result, container.pack(result.header, result.sections)


def test_round_trip_renders_the_clip(clip, coded):
    codec, result, data = coded
    header, sections = container.unpack(data)
    assert header.modality == "video" and header.shape == (12, 60, 90, 3)
    assert len(sections) == 1 + 2  # parameters + two groups
    out = codec.decompress(header, sections)
    assert out.shape == clip.shape and out.dtype == np.uint8
    flat = np.broadcast_to(clip.reshape(-1, 3).mean(0).round(), clip.shape)
    assert _psnr(out, clip) > _psnr(flat, clip) + 3  # the fit learned the picture, not its mean colour
    assert np.array_equal(codec.decompress(header, sections), out)


def test_decoded_weights_equal_the_encoders_quantised_weights(coded):
    codec, result, data = coded
    header, sections = container.unpack(data)
    decoded = codec.decode_weights(header, sections)
    assert len(decoded) == len(result.weights) == 2
    for enc, dec in zip(result.weights, decoded):
        assert all(np.array_equal(a, b) for a, b in zip(enc, dec))
    # the float parameters are the integers times the float32 steps, bit for bit
    for (_, net), ints in zip(codec.networks(header, sections), decoded):
        steps = np.frombuffer(sections[0][-4 * len(ints):], dtype="<f4")
        for p, q, s in zip(net.parameters(), ints, steps):
            expect = (q.astype(np.float32) * np.float32(s)).reshape(p.shape)
            assert np.array_equal(p.detach().numpy(), expect)


@pytest.mark.parametrize("backend", ["compressai", "rans-interleaved"])
def test_other_coder_backends_carry_the_same_weights(clip, coded, backend):
    codec, result, _ = coded
    other = codec.compress(clip[:8], quality=1, steps_scale=0.01, backend=backend)
    data = container.pack(other.header, other.sections)
    header, sections = container.unpack(data)
    assert all(np.array_equal(a, b) for a, b in zip(other.weights[0], codec.decode_weights(header, sections)[0]))


def test_interrupted_fit_resumes_to_the_same_bitstream(tmp_path, clip):
    codec = INRVideoCodec()
    whole = codec.compress(clip, quality=1, group_frames=8, steps_scale=0.01)
    checkpoint = tmp_path / "fit.ckpt"

    def stop_after_first(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        codec.compress(clip, quality=1, group_frames=8, steps_scale=0.01, checkpoint=checkpoint,
                       on_group=stop_after_first)
    assert checkpoint.is_file()
    groups_fitted = []
    resumed = codec.compress(clip, quality=1, group_frames=8, steps_scale=0.01, checkpoint=checkpoint,
                             on_group=lambda done, total: groups_fitted.append(done))
    assert groups_fitted == [2]  # only the second group was fitted again
    assert resumed.sections == whole.sections


def test_laplace_tables_are_fixed_integers():
    tables = laplace_tables()
    tables.validate()
    assert tables.counts.shape[0] == len(LAPLACE_THETAS)
    digest = hashlib.sha256(tables.counts.astype("<i8").tobytes() + tables.lengths.astype("<i8").tobytes()).hexdigest()
    assert digest == LAPLACE_DIGEST
    rng = np.random.default_rng(0)
    small, large = rng.laplace(0, 0.3, 5000).round(), rng.laplace(0, 20, 5000).round()
    assert best_table(small) < best_table(large)


LAPLACE_DIGEST = "717b61e95bf1d05f7f8163fdb71c1ff1d1a6d0537b762209685dcdc9ee2dfc8b"


def test_corrupt_and_truncated_streams_end_in_ncodec_errors(coded):
    codec, result, data = coded
    header, sections = container.unpack(data)
    rng = np.random.default_rng(1)
    outcomes = {"error": 0, "decoded": 0}
    cases = [(i, "truncate") for i in range(len(sections))] + [(i, "flip") for i in range(len(sections))] * 15
    for index, kind in cases:
        broken = list(sections)
        raw = bytearray(broken[index])
        if kind == "truncate":
            raw = raw[: int(rng.integers(0, len(raw)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                raw[int(rng.integers(0, len(raw)))] ^= 1 << int(rng.integers(0, 8))
        broken[index] = bytes(raw)
        try:
            out = codec.decompress(header, broken)
            assert out.shape == (12, 60, 90, 3)
            outcomes["decoded"] += 1
        except NcodecError:
            outcomes["error"] += 1
    assert outcomes["error"] >= len(sections)  # every truncation at least
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(NcodecError):
            api.decode(data[:cut])
    with pytest.raises(NcodecError):
        codec.decompress(header, sections[:-1])
    for modality in ("image", "pointcloud", "mesh"):  # a header naming another modality is refused up front
        relabelled = container.pack(container.Header(**{**header.__dict__, "modality": modality}), sections)
        with pytest.raises(NcodecError, match="codes video"):
            api.decode(relabelled)
    with pytest.raises(NcodecError):
        codec.decompress(container.Header(**{**header.__dict__, "shape": (12, 60, 90)}), sections)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ncodec", *args], capture_output=True, text=True)


def test_cli_encodes_and_decodes_video(tmp_path):
    out = tmp_path / "clip.ncd"
    r = _cli("encode", str(CLIP), str(out), "--codec", "inr-video", "--quality", "1", "--frames", "4",
             "--size", "64x48", "--fit-effort", "0.02", "--group-frames", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "bpp" in r.stdout and out.is_file() and not (tmp_path / "clip.ncd.fit").exists()
    info = api.info(out)
    assert info["modality"] == "video" and info["shape"] == [4, 48, 64, 3] and info["frames"] == 4
    assert info["metadata"]["groups"] == 2 and len(info["sections"]) == 3
    assert info["bpp"] == pytest.approx(8 * out.stat().st_size / (4 * 48 * 64))
    for target in ("back.mkv", "back.y4m", "frames"):
        r = _cli("decode", str(out), str(tmp_path / target))
        assert r.returncode == 0, r.stderr
        assert read_video(tmp_path / target).shape == (4, 48, 64, 3)
    frames = read_video(tmp_path / "back.mkv")
    assert np.array_equal(frames, api.decode(out))


@pytest.mark.parametrize("args, message", [
    (["raw.yuv", "o.ncd"], "needs its size"),
    (["CLIP", "o.ncd", "--codec", "inr-video", "--quality", "9"], "quality"),
    (["CLIP", "o.ncd", "--codec", "inr-video", "--size", "64by48"], "WIDTHxHEIGHT"),
    (["CLIP", "o.ncd", "--codec", "inr-video", "--fit-effort", "0"], "effort"),
])
def test_cli_rejects_bad_video_input_in_one_line(tmp_path, args, message):
    (tmp_path / "raw.yuv").write_bytes(b"\0" * 100)
    args = [str(CLIP) if a == "CLIP" else str(tmp_path / a) if a.endswith((".yuv", ".ncd")) else a for a in args]
    r = _cli("encode", *args)
    assert r.returncode != 0 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.ncd").exists()


def test_decoding_video_to_an_image_suffix_is_refused(tmp_path, coded):
    _, _, data = coded
    (tmp_path / "v.ncd").write_bytes(data)
    r = _cli("decode", str(tmp_path / "v.ncd"), str(tmp_path / "v.png"))
    assert r.returncode != 0 and "decodes to" in r.stderr and not (tmp_path / "v.png").exists()



def test_eval_reports_rate_quality_and_speed_of_inr_video(tmp_path):
    from ncodec.evaluation.video_eval import run_video_eval

    doc = run_video_eval(CLIP, "inr-video", [1, 2], tmp_path / "inr.json", frames=4, fit_effort=0.02)
    rows = doc["per_clip"][0]["rows"]
    assert [r["quality"] for r in rows] == [1, 2]
    assert rows[1]["params_per_group"] > rows[0]["params_per_group"] and rows[1]["bytes"] > rows[0]["bytes"]
    assert all(len(r["psnr-y-per-frame"]) == 4 and r["fit_s"] > 0 and r["decode_fps"] > 0 for r in rows)
    assert np.isclose(doc["results"]["bpp"][0], 8 * rows[0]["bytes"] / (4 * 64 * 96))


def test_rendering_in_patch_chunks_gives_the_same_frame(coded):
    codec, _, data = coded
    header, sections = container.unpack(data)
    _, net = next(codec.networks(header, sections))
    with torch.inference_mode():
        assert torch.allclose(net.render(3, chunk=7), net.render(3), atol=1e-6)  # float: BLAS may block differently


@pytest.mark.parametrize("stop_at", [30, 70])  # before and after the fit turns quantisation-aware (step 56)
def test_fit_stopped_inside_a_group_resumes_exactly(tmp_path, clip, monkeypatch, stop_at):
    import ncodec.codecs.video_inr as inr

    codec = INRVideoCodec()
    whole = codec.compress(clip[:8], quality=1, group_frames=8, steps_scale=0.01)  # one group of 80 steps
    checkpoint = tmp_path / "fit.ckpt"
    real_save = inr._save_checkpoint
    saves = []

    def save_then_stop(path, state):
        real_save(path, state)
        saves.append(state["partial"]["step"] if state.get("partial") else None)
        if saves[-1] is not None and saves[-1] >= stop_at:
            raise KeyboardInterrupt

    monkeypatch.setattr(inr, "SNAPSHOT_SECONDS", 0.0)  # a snapshot at every step
    monkeypatch.setattr(inr, "_save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        codec.compress(clip[:8], quality=1, group_frames=8, steps_scale=0.01, checkpoint=checkpoint)
    monkeypatch.setattr(inr, "_save_checkpoint", real_save)
    assert torch.load(checkpoint, weights_only=True)["partial"]["step"] >= stop_at  # tensors and plain values only
    real_fit, resumed_from = INRVideoCodec._fit_group, []

    def fit_recording(self, *args):
        resumed_from.append(args[7]["step"] if args[7] is not None else None)
        return real_fit(self, *args)

    monkeypatch.setattr(INRVideoCodec, "_fit_group", fit_recording)
    resumed = codec.compress(clip[:8], quality=1, group_frames=8, steps_scale=0.01, checkpoint=checkpoint)
    assert resumed_from[0] is not None and resumed_from[0] >= stop_at  # it continued, it did not start over
    assert resumed.sections == whole.sections


def test_limits_are_checked_before_any_work():
    from ncodec.codecs.video_inr import _pack_params
    from ncodec.models.inr_video import PatchINR, PatchINRConfig, parameter_shapes

    codec = INRVideoCodec()
    config = PatchINRConfig(hidden=40, channels=3)
    assert parameter_shapes(config, 5, 7) == [tuple(p.shape) for p in PatchINR(config, 5, 7, 4).parameters()]
    # encoder: inputs the container could never hold are refused before fitting (a view, no memory)
    huge = np.broadcast_to(np.zeros((1, 1, 1, 3), np.uint8), (4096, 300, 300, 3))
    with pytest.raises(UnsupportedInputError, match="bitstream limit"):
        codec.compress(huge, quality=1)
    many = np.broadcast_to(np.zeros((1, 1, 1, 3), np.uint8), (4096, 8, 8, 3))
    with pytest.raises(UnsupportedInputError, match="groups"):
        codec.compress(many, quality=1, group_frames=1)
    for bad in (float("nan"), float("inf"), 2.5, 0):
        with pytest.raises(UsageError):
            codec.compress(many[:1], quality=bad)
    with pytest.raises(UnsupportedInputError, match="effort"):
        codec.compress(many[:1], quality=1, steps_scale=float("nan"))
    # decoder: a tiny stream claiming a huge network or absurd rendering work is refused up front
    header = container.Header(codec="inr-video", modality="video", weights_sha256="0" * 16, backend=1,
                              backend_version="x", quality=1.0, shape=(1, 16384, 16384, 3))
    claims = [PatchINRConfig(patch=8, hidden=64, channels=64),  # 268M embedding values
              PatchINRConfig(patch=4, hidden=1024, layers=8, channels=0)]  # ~500k multiply-adds per pixel
    for claim in claims:
        count = len(parameter_shapes(claim, 1, 1))
        params = _pack_params(claim, 1, 0.0, np.ones(count, np.float32))
        with pytest.raises(NcodecError):
            codec.decompress(header, [params, b"\0" * 64])
    steps = np.full(len(parameter_shapes(PatchINRConfig(), 1, 1)), 1e9, np.float32)
    with pytest.raises(NcodecError, match="steps"):
        codec.decompress(header, [_pack_params(PatchINRConfig(), 1, 0.0, steps), b""])


def test_stopped_encode_says_where_the_fit_is_saved_and_the_same_call_resumes(tmp_path, clip, monkeypatch):
    import ncodec.codecs.video_inr as inr

    out = tmp_path / "o.ncd"
    fit = tmp_path / "o.ncd.fit"
    real_save = inr._save_checkpoint

    def save_then_stop(path, state):
        real_save(path, state)
        if state["partial"]["step"] >= 5:
            raise KeyboardInterrupt  # Ctrl-C right after a snapshot inside the fit

    monkeypatch.setattr(inr, "SNAPSHOT_SECONDS", 0.0)
    monkeypatch.setattr(inr, "_save_checkpoint", save_then_stop)
    kwargs = dict(codec="inr-video", quality=1, fit_effort=0.01, group_frames=8)
    with pytest.raises(KeyboardInterrupt) as stopped:
        api.encode(clip[:8], out, **kwargs)
    message = str(stopped.value)
    assert fit.is_file() and str(fit) in message and "run the same command again to resume" in message
    assert len(message.splitlines()) == 1 and not out.exists()
    monkeypatch.setattr(inr, "_save_checkpoint", real_save)
    resumed_from = []
    real_fit = INRVideoCodec._fit_group

    def fit_recording(self, *args):
        resumed_from.append(args[7]["step"] if args[7] is not None else None)
        return real_fit(self, *args)

    monkeypatch.setattr(INRVideoCodec, "_fit_group", fit_recording)
    api.encode(clip[:8], out, **kwargs)  # the same call resumes from the snapshot and finishes
    assert resumed_from == [5] and out.is_file() and not fit.exists()


def test_encode_stopped_before_any_snapshot_says_nothing_is_saved(tmp_path, monkeypatch):
    def stop(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(INRVideoCodec, "_fit_group", stop)
    frames = read_video(CLIP, frames=2)
    with pytest.raises(KeyboardInterrupt, match="nothing saved yet"):
        api.encode(frames, tmp_path / "o.ncd", codec="inr-video", quality=1, fit_effort=0.01)
    assert not (tmp_path / "o.ncd.fit").exists()
    with pytest.raises(KeyboardInterrupt) as bare:  # no output file, no checkpoint: the interrupt as it was
        api.encode(frames, None, codec="inr-video", quality=1, fit_effort=0.01)
    assert str(bare.value) == ""
