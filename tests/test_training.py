"""Training loop: RD loss decreases, checkpoints are atomic and resuming is bit-exact."""

from __future__ import annotations

import argparse

import torch

from ncodec.training.loop import add_train_arguments, run_training

from conftest import ASSETS


def _args(out, steps, resume=False, **kw):
    p = argparse.ArgumentParser()
    add_train_arguments(p)
    argv = ["--out", str(out), "--data", str(ASSETS), "--val-count", "1", "--steps", str(steps), "--N", "8",
            "--M", "8", "--batch-size", "2", "--patch-size", "64", "--lambdas", "0.01,0.05", "--threads", "1",
            "--checkpoint-every", "2", "--log-every", "1", "--no-progress", "--seed", "3"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)])
    if resume:
        argv.append("--resume")
    return p.parse_args(argv)


def test_resume_is_bit_exact(tmp_path):
    # lr_drop=1: the learning-rate schedule of a 4-step run equals the first 4 steps of a 6-step run
    straight = run_training(_args(tmp_path / "a", 6, lr_drop=1.0))
    run_training(_args(tmp_path / "b", 4, lr_drop=1.0))
    resumed = run_training(_args(tmp_path / "b", 6, resume=True, lr_drop=1.0))
    a = torch.load(straight, weights_only=False)
    b = torch.load(resumed, weights_only=False)
    assert a["step"] == b["step"] == 6
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert not list((tmp_path / "a").glob("*.tmp*"))


def test_loss_decreases_and_validation_uses_bitstreams(tmp_path):
    from ncodec.codecs.image import validate_with_bitstreams

    ck = run_training(_args(tmp_path / "c", 30, lr=2e-3, val_every=30), validate=validate_with_bitstreams)
    rows = (tmp_path / "c" / "log.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[1]) for r in rows]
    assert sum(losses[-5:]) < sum(losses[:5])
    val = (tmp_path / "c" / "val.csv").read_text()
    assert "q1_bpp" in val and "q2_psnr" in val
    assert torch.load(ck, weights_only=False)["step"] == 30


def test_freeze_keeps_the_named_modules_fixed(tmp_path):
    import pytest

    from ncodec.errors import UsageError

    base = torch.load(run_training(_args(tmp_path / "f", 2)), weights_only=False)["model"]
    tuned = torch.load(run_training(_args(tmp_path / "g", 3, init=tmp_path / "f" / "checkpoint.pt", freeze="g_a",
                                          lr=1e-2)), weights_only=False)["model"]
    frozen = [k for k in base if k.startswith("g_a.")]
    assert frozen and all(torch.equal(base[k], tuned[k]) for k in frozen)
    assert not torch.equal(base["g_s.0.weight"], tuned["g_s.0.weight"])  # the rest still trains
    with pytest.raises(UsageError, match="no module 'g_x'"):
        run_training(_args(tmp_path / "h", 1, freeze="g_x"))
    with pytest.raises(UsageError, match="same --freeze"):  # its optimiser state holds the unfrozen tensors only
        run_training(_args(tmp_path / "g", 4, resume=True))
    resumed = torch.load(run_training(_args(tmp_path / "g", 4, resume=True, freeze="g_a", lr=1e-2)),
                         weights_only=False)
    assert resumed["step"] == 4 and all(torch.equal(base[k], resumed["model"][k]) for k in frozen)


def test_qat_fine_tune_runs(tmp_path):
    base = run_training(_args(tmp_path / "d", 2))
    ck = run_training(_args(tmp_path / "e", 2, init=base, qat=True))
    assert torch.load(ck, weights_only=False)["qat"] is True


def _torchrun(out, steps, *extra):
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "ncodec", "train", "--out", str(out), "--data", str(ASSETS), "--val-count", "1", "--steps", str(steps),
           "--N", "8", "--M", "8", "--batch-size", "2", "--patch-size", "64", "--lambdas", "0.01,0.05",
           "--threads", "1", "--checkpoint-every", "2", "--log-every", "1", "--val-every", "100", "--no-progress",
           "--seed", "3", "--lr-drop", "1.0", *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    if proc.returncode != 0 and "Signal 6 (SIGABRT)" in proc.stderr:
        # A gloo rank aborted in its transport (seen once in ~30 runs on a loaded 2-core machine, never
        # reproduced alone): rerun once from the same checkpoint; a real failure fails twice.
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return torch.load(out / "checkpoint.pt", weights_only=False)


def test_ddp_two_cpu_processes_and_resume(tmp_path):
    """torchrun with 2 gloo processes trains, writes one checkpoint with both ranks' RNG states, and
    resumes bit-exactly."""
    straight = _torchrun(tmp_path / "a", 4)
    assert straight["world_size"] == 2 and len(straight["rank_states"]) == 2
    ranks = straight["rank_states"]
    assert not torch.equal(ranks[0]["sampler_rng"], ranks[1]["sampler_rng"])  # each rank its own patches
    lines = (tmp_path / "a" / "log.csv").read_text().splitlines()
    assert len(lines) == 5 and (tmp_path / "a" / "model.ncw").exists()
    _torchrun(tmp_path / "b", 2)
    resumed = _torchrun(tmp_path / "b", 4, "--resume")
    for k in straight["model"]:
        assert torch.equal(straight["model"][k], resumed["model"][k]), k


def test_ms_ssim_training_runs(tmp_path):
    """--distortion ms-ssim trains (5-scale MS-SSIM on 192-pixel patches) and refuses smaller patches."""
    import shutil

    import pytest

    from ncodec.errors import UnsupportedInputError

    data = tmp_path / "data"
    data.mkdir()
    sample = ASSETS.parent.parent / "ncodec" / "data" / "sample.png"  # 384x256
    for i in range(2):
        shutil.copy(sample, data / f"s{i}.png")
    args = _args(tmp_path / "run", 2, distortion="ms-ssim", lambdas="3.0,12.0")
    args.data, args.patch_size, args.val_count = str(data), 192, 1
    ckpt = torch.load(run_training(args), weights_only=False)
    assert ckpt["step"] == 2 and ckpt["args"]["distortion"] == "ms-ssim"
    args = _args(tmp_path / "run2", 2, distortion="ms-ssim")
    with pytest.raises(UnsupportedInputError, match="patch-size >= 192"):
        run_training(args)


def test_torch_free_train_options_match_the_models():
    """``ncodec --help`` builds the train parser without torch; its lists must equal the models'."""
    from ncodec.models.image import DEFAULT_LAMBDAS
    from ncodec.training import loop, options

    assert sorted(options.TRAINABLE_KINDS) == sorted(loop.TRAINABLE_KINDS)
    assert options.DEFAULT_LAMBDAS == DEFAULT_LAMBDAS
