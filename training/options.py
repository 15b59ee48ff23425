"""``ncodec train`` arguments, kept free of torch so that ``ncodec --help`` answers at once.

A test checks that ``TRAINABLE_KINDS`` and ``DEFAULT_LAMBDAS`` equal the model classes' own values,
so the two cannot drift apart.
"""

from __future__ import annotations

import argparse

# The image model kinds ``ncodec train`` builds (``models.image.MODEL_CLASSES`` + the context model
# + ``models.image.EXTRA_MODEL_KINDS``).
TRAINABLE_KINDS = ["factorized", "hyperprior", "mean-scale-hyperprior", "checkerboard-channel",
                   "checkerboard-channel-gmm", "mcq", "ocr-text", "walloc"]
# ``models.image.DEFAULT_LAMBDAS``: the default rate levels.
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--codec", default="mean-scale-hyperprior", choices=TRAINABLE_KINDS)
    p.add_argument("--N", type=int, default=64, help="transform channels")
    p.add_argument("--M", type=int, default=96, help="latent channels")
    p.add_argument("--lambdas", default=",".join(str(v) for v in DEFAULT_LAMBDAS),
                   help="comma-separated rate levels (MSE lambdas on 0..1 pixels x 255**2)")
    p.add_argument("--codewords", default=None,
                   help="mcq: comma-separated codebook sizes per stage, coarsest first (default 256,256,64)")
    p.add_argument("--prior", default=None, choices=["flat", "parent"],
                   help="mcq: code-index prior, one table per group (flat, default) or one per codeword of "
                        "the coarser stage's co-located index (parent)")
    p.add_argument("--quantizer", default=None, choices=["softmax", "ste", "ecvq"],
                   help="mcq training quantisation: straight-through softmax relaxation (softmax, default), "
                        "identity straight-through with EMA codebooks and a commitment term (ste), or ste with "
                        "entropy-constrained assignment (ecvq)")
    p.add_argument("--ecvq-weight", type=float, default=None,
                   help="mcq --quantizer ecvq: worth of one bit of code length in units of the batch's mean "
                        "nearest distance (default 0.5)")
    p.add_argument("--transforms", default=None, choices=["stride8", "hyperprior"],
                   help="mcq: 3-layer stride-8 transforms (default) or the hyperprior codecs' 4-layer stride-16 "
                        "ones (seed them from a trained mean-scale model with scripts/mcq_init_from_msh.py, then "
                        "--init FILE --init-partial)")
    p.add_argument("--groups", type=int, default=None, help="mcq: channel groups (sub-codebooks) per stage (default 8)")
    p.add_argument("--wavelet-levels", type=int, default=None,
                   help="walloc: levels of the wavelet packet transform (default 3: 192 bands at 1/8 size)")
    p.add_argument("--data", default=None,
                   help="training image folder or NAME:SPLIT, e.g. clic:train (default: $NCODEC_DATA/photos-train)")
    p.add_argument("--no-flips", action="store_true",
                   help="train without the random horizontal/vertical patch flips (text pages: glyphs keep "
                        "their orientation)")
    p.add_argument("--val-count", type=int, default=2, help="last N images of the folder are held out")
    p.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.csv)")
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--patch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lr-drop", type=float, default=0.9, help="fraction of --steps after which lr /= 10")
    p.add_argument("--aux-lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (0 disables)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--init", default=None,
                   help="start from the model weights of a checkpoint or .ncw weight file (fresh optimiser)")
    p.add_argument("--init-partial", action="store_true",
                   help="with --init: copy only the tensors whose names and shapes match (e.g. a mean-scale "
                        "hyperprior's transforms into checkerboard-channel) and report how many")
    p.add_argument("--freeze", default=None,
                   help="comma-separated modules kept fixed, e.g. g_a (fine-tuning around trained transforms)")
    p.add_argument("--qat", action="store_true",
                   help="fake-quantise the fixed-point entropy-parameter net (quantisation-aware fine-tuning)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--stop-after", type=int, default=0,
                   help="stop after this many steps, keeping the --steps schedule (short reproduction runs)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--val-every", type=int, default=2000,
                   help="validate on real bitstreams every N steps and at the end (0 disables)")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--distortion", default="mse", choices=["mse", "ms-ssim"],
                   help="ms-ssim: lambda * (1 - MS-SSIM) + bpp (use MS-SSIM lambdas, e.g. 2.4..60; patches >= 192)")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast of the forward pass (CUDA only)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log to OUT/tensorboard (needs the tensorboard package)")
