"""Seed an ``mcq`` model (``--transforms hyperprior``) from a trained mean-scale hyperprior.

The mean-scale model's analysis/synthesis transforms already map photos to a compact latent; vector
quantisation trained from scratch on this CPU did not get there (benchmarks/RESULTS.md, mcq runs 1-4).
This script writes a ``--init`` file for ``ncodec train --codec mcq --init FILE --init-partial``:

- g_a / g_s are the mean-scale model's, with the gains of one quality level folded into the last
  analysis conv and the first synthesis deconv (exact: per-channel scales), so the latent is the one
  that level quantises with step 1;
- latent channels are dealt to the channel groups by energy on the training photos in snake order
  (ranks 0..G-1 to groups 0..G-1, ranks G..2G-1 to groups G-1..0, ...), so every sub-codebook of the
  same size gets a similar share of the energy (sorting channels into groups by energy put 1.49 per
  dimension of squared error in the first group and 0.0006 in the last), and the groups are ordered
  by decreasing energy, so the ones tail drop removes first (the last) carry the least;
- the up-sampling predictors start at zero (each finer stage first codes its whole latent), and
  every stage's codebook starts from k-means of its vectors on the training photos (coarse to fine
  through the cascade), with the prior weights set from the k-means usage.

Only training photos are read (the folder's last ``--val-count`` files are held out, as in training).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ncodec.codecs.image import LearnedImageCodec
from ncodec.datasets.catalog import dataset_files, resolve_data
from ncodec.datasets.images import load_rgb
from ncodec.models.mcq import PRIOR_GAIN, MultiCodebookVQ


def crops(files: list[Path], size: int) -> list[torch.Tensor]:
    """Non-overlapping ``size`` crops of every image, (1, 3, size, size) in [0, 1]."""
    out = []
    for path in files:
        x = load_rgb(path)[None].float() / 255.0
        for i in range(0, x.shape[2] - size + 1, size):
            for j in range(0, x.shape[3] - size + 1, size):
                out.append(x[..., i:i + size, j:j + size])
    return out


def kmeans(vec: torch.Tensor, k: int, iterations: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group k-means: vectors (groups, P, dim) -> (codebook (groups, k, dim), counts (groups, k)).
    Empty cells move to the vectors farthest from their codeword (with fewer vectors than codewords,
    some codewords repeat)."""
    g, p, d = vec.shape
    pick = torch.randperm(p, generator=generator)[:k] if p >= k else torch.randint(p, (k,), generator=generator)
    cb = vec[:, pick].clone()
    for _ in range(iterations):
        dist = torch.cdist(vec, cb)
        idx = dist.argmin(-1)
        for gi in range(g):
            n = torch.bincount(idx[gi], minlength=k).to(vec.dtype)
            s = torch.zeros(k, d, dtype=vec.dtype).index_add_(0, idx[gi], vec[gi])
            live = n > 0
            cb[gi, live] = s[live] / n[live, None]
            dead = min(int((~live).sum()), p)
            if dead:
                far = dist[gi].min(-1).values.topk(dead).indices
                cb[gi, torch.nonzero(~live).view(-1)[:dead]] = vec[gi, far]
    idx = torch.cdist(vec, cb).argmin(-1)
    counts = torch.stack([torch.bincount(idx[gi], minlength=k) for gi in range(g)]).to(vec.dtype)
    return cb, counts


def snake_order(energy: torch.Tensor, groups: int) -> torch.Tensor:
    """Channel permutation: channels dealt to groups by decreasing energy in snake order, groups
    sorted by decreasing total energy (see the module docstring)."""
    ranked = torch.argsort(energy, descending=True).tolist()
    members: list[list[int]] = [[] for _ in range(groups)]
    for i, c in enumerate(ranked):
        r, k = divmod(i, groups)
        members[k if r % 2 == 0 else groups - 1 - k].append(c)
    members.sort(key=lambda m: -float(energy[m].sum()))
    return torch.tensor([c for m in members for c in m])


def vectors(r: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, C, h, w) -> (groups, B*h*w, C/groups)."""
    b, c, h, w = r.shape
    return r.reshape(b, groups, c // groups, h, w).permute(1, 0, 3, 4, 2).reshape(groups, -1, c // groups)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default="models/weights/msh-vr-n64m96.ncw", help="mean-scale weight file")
    p.add_argument("--quality", type=float, default=4.0, help="the base model's quality whose gains are folded in")
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None, help="training folder (default: $NCODEC_DATA/photos-train)")
    p.add_argument("--val-count", type=int, default=2)
    # defaults: the shipped mcq-vr-n64m96-g24 (run 6)
    p.add_argument("--groups", type=int, default=24)
    p.add_argument("--codewords", default="64,64,256")
    p.add_argument("--prior", default="parent", choices=["flat", "parent"])
    p.add_argument("--quantizer", default="ecvq", choices=["softmax", "ste", "ecvq"])
    p.add_argument("--ecvq-weight", type=float, default=0.15)
    p.add_argument("--lambdas", default="0.0018,0.0035,0.0067,0.013,0.025")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--iterations", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the cascade nets' initial weights (the recipe check needs the same seed file)
    generator = torch.Generator().manual_seed(args.seed)

    base = LearnedImageCodec.from_file(args.base).model.float().eval()
    if base.kind != "mean-scale-hyperprior":
        print(f"error: {args.base} holds a {base.kind!r} model, not a mean-scale hyperprior", file=sys.stderr)
        return 2
    if args.crop <= 0 or args.crop % 64:
        print(f"error: --crop must be a positive multiple of 64 (the cascade's stride), got {args.crop}",
              file=sys.stderr)
        return 2
    files = resolve_data(args.data) if args.data else dataset_files("photos-train")
    train = files[: len(files) - args.val_count]
    model = MultiCodebookVQ(N=base.N, M=base.M, lambdas=tuple(float(v) for v in args.lambdas.split(",")),
                            groups=args.groups, codewords=tuple(int(v) for v in args.codewords.split(",")),
                            prior=args.prior, quantizer=args.quantizer, transforms="hyperprior",
                            ecvq_weight=args.ecvq_weight)
    with torch.no_grad():
        model.g_a.load_state_dict(base.g_a.state_dict())
        model.g_s.load_state_dict(base.g_s.state_dict())
        gain, inv_gain = (t.view(-1) for t in base.gains(args.quality))
        last, first = model.g_a[-1], model.g_s[0]  # conv (M, N, k, k); transposed conv (M, N, k, k)
        last.weight.mul_(gain.view(-1, 1, 1, 1))
        last.bias.mul_(gain)
        first.weight.mul_(inv_gain.view(-1, 1, 1, 1))
        images = crops(train, args.crop)
        energy = torch.zeros(base.M)
        for x in images:
            energy += (model.g_a(x) ** 2).mean(dim=(0, 2, 3))
        order = snake_order(energy, model.groups)
        last.weight.copy_(last.weight[order])
        last.bias.copy_(last.bias[order])
        first.weight.copy_(first.weight[order])
        for up in model.up:  # predictions start at zero: every stage first codes its whole latent
            up[-1].weight.zero_()
            up[-1].bias.zero_()
        pyramids = [model.pyramid(model.g_a(x)) for x in images]
        y_hat: list[torch.Tensor | None] = [None] * len(images)
        parents: list[torch.Tensor | None] = [None] * len(images)
        for s, stage in enumerate(model.stages):
            res = []
            for i, ys in enumerate(pyramids):
                pred = None if y_hat[i] is None else model.predict(s, y_hat[i])
                res.append(ys[s] if pred is None else ys[s] - pred)
            vec = torch.cat([vectors(r, model.groups) for r in res], dim=1)
            cb, counts = kmeans(vec, stage.codewords, args.iterations, generator)
            stage.codebook.data = cb.to(stage.codebook.dtype)
            idx_all = []
            for i, r in enumerate(res):
                idx = stage.indices(r)
                idx_all.append(idx)
                q = stage.lookup(idx)
                pred = None if y_hat[i] is None else model.predict(s, y_hat[i])
                y_hat[i] = q if pred is None else pred + q
            # prior weights from the usage (per parent codeword for a parent-conditioned stage)
            if stage.parents:
                table = torch.full((model.groups, stage.parents, stage.codewords), 0.5)
                for idx, par in zip(idx_all, parents):
                    assert par is not None
                    up_par = par.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
                    for gi in range(model.groups):
                        flat = up_par[0, gi].reshape(-1) * stage.codewords + idx[0, gi].reshape(-1)
                        table[gi].view(-1).index_add_(0, flat, torch.ones(flat.numel()))
            else:
                table = counts + 0.5
            probs = table / table.sum(-1, keepdim=True)
            stage.prior_logits.data = (probs.log() / PRIOR_GAIN).to(stage.prior_logits.dtype)
            stage.restart_statistics()
            parents = idx_all
            bits = -(counts / counts.sum(-1, keepdim=True)).clamp_min(1e-12).log2()
            mean_bits = float(((counts / counts.sum(-1, keepdim=True)) * bits).sum(-1).mean())
            print(f"stage {s}: {vec.shape[1]} vectors per group, k-means usage entropy {mean_bits:.2f} bits",
                  file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": model.config(), "model": model.state_dict(),
                "source": {"base": str(args.base), "quality": args.quality, "channel_order": order.tolist()}},
               args.out)
    print(f"wrote {args.out} (config {model.config()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
