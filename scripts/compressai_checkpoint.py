"""Train a real CompressAI checkpoint here (with CompressAI's own model, loss and aux loss),
to measure what importing a trained CompressAI model into ncodec costs in rate.

``--arch elic2022-official`` trains CompressAI's ELIC (N=64, M=96, slices 4/4/8/16/64) from scratch
instead (its transforms have no ncodec counterpart to start from), with the same loss and data.

No pretrained CompressAI weights can be downloaded, so the checkpoint is built here: CompressAI's
``MeanScaleHyperprior`` (N=64, M=96) starts from ncodec's shipped transforms at one rate level (the gain
folded into g_a's last and g_s's first layer), then trains ``--steps`` steps on the training photos
with CompressAI's ``RateDistortionLoss`` so its LeakyReLU hyper-synthesis and entropy bottleneck fit.
The result is saved as CompressAI's training script saves it ({"state_dict": ...}); then

    ncodec import-compressai runs/compressai-mbt/checkpoint.pth.tar --arch mbt2018-mean -o mbt.ncw \\
        --compare ../shared/data/kodak --compare-count 24
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ncodec.codecs.registry import load_codec
from ncodec.datasets.catalog import dataset_files
from ncodec.datasets.images import PatchSampler
from ncodec.models.context import default_slices


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="mbt2018-mean", choices=["mbt2018-mean", "elic2022-official"])
    p.add_argument("--out", default=None, help="default runs/compressai-{mbt,elic}/checkpoint.pth.tar")
    p.add_argument("--level", type=int, default=3, help="rate level of the shipped model to start from")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=None, help="default 5e-5 (mbt, from shipped weights), 1e-4 (elic)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    from compressai.losses import RateDistortionLoss
    from compressai.models import Elic2022Official, MeanScaleHyperprior

    torch.manual_seed(a.seed)
    ours = load_codec("mean-scale-hyperprior").model
    lmbda = ours.lambdas[a.level - 1]
    elic = a.arch == "elic2022-official"
    lr = a.lr if a.lr is not None else (1e-4 if elic else 5e-5)
    out_path = Path(a.out or f"runs/compressai-{'elic' if elic else 'mbt'}/checkpoint.pth.tar")
    ref = (Elic2022Official(N=ours.N, M=ours.M, groups=list(default_slices(ours.M))) if elic
           else MeanScaleHyperprior(N=ours.N, M=ours.M))
    state = {k: v.clone() for k, v in ours.state_dict().items() if k.startswith(("g_a.", "g_s.", "h_a."))}
    state.update({k.replace("h_s.net.", "h_s."): v.clone() for k, v in ours.state_dict().items() if k.startswith("h_s.net.")})
    gain, inv_gain = (torch.exp(t[a.level - 1]) for t in (ours.log_gain.detach(), ours.log_inv_gain.detach()))
    state["g_a.6.weight"] = state["g_a.6.weight"] * gain.view(-1, 1, 1, 1)
    state["g_a.6.bias"] = state["g_a.6.bias"] * gain
    state["g_s.0.weight"] = state["g_s.0.weight"] * inv_gain.view(-1, 1, 1, 1)  # ConvTranspose: (in, out, k, k)
    if not elic:
        ref.load_state_dict(state, strict=False)
    sampler = PatchSampler(dataset_files("photos-train")[:-2], 128, seed=a.seed + 1)
    criterion = RateDistortionLoss(lmbda=lmbda)
    params = [p for n, p in ref.named_parameters() if not n.endswith(".quantiles")]
    # the entropy bottleneck starts from scratch (CompressAI's density is wider than ncodec's): faster lr
    fresh = [p for n, p in ref.named_parameters() if "entropy_bottleneck." in n and not n.endswith(".quantiles")]
    rest = [p for n, p in ref.named_parameters() if "entropy_bottleneck." not in n]
    aux_params = [p for n, p in ref.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam([{"params": rest, "lr": lr}, {"params": fresh, "lr": 1e-3}])
    aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
    ref.train()
    for step in range(1, a.steps + 1):
        x = sampler.sample(8)
        out = criterion(ref(x), x)
        opt.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        aux = ref.aux_loss()
        aux_opt.zero_grad()
        aux.backward()
        aux_opt.step()
        if step % 50 == 0 or step == a.steps:
            print(f"step {step}: loss {out['loss'].item():.4f} bpp {out['bpp_loss'].item():.4f} "
                  f"mse {out['mse_loss'].item():.6f} aux {aux.item():.1f}", flush=True)
    path = out_path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 0, "state_dict": ref.state_dict(), "lmbda": lmbda, "steps": a.steps}, path)
    print(f"wrote {path} (CompressAI {a.arch}, N={ours.N}, M={ours.M}, lambda {lmbda})")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
