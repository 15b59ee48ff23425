"""Ship the integer synthesis of the ``mcq`` weights (issue 16 decode speed, issue 20's integer path).

The shipped mcq model keeps the mean-scale default's synthesis frozen, with the inverse gains of one
quality folded into its first layer and its 96 latent channels permuted into the VQ groups
(``scripts/mcq_init_from_msh.py``). Its g_s is therefore the default's g_s at that quality, and the
default's integer-synthesis program (3,000 QAT steps, ``scripts/train_intsynth.py``) runs it once its
first layer's input channels are permuted and its input-multiplier table is cut to that quality's row.
No training: this script recovers the fold (quality and channel order) from the two weight files,
checks that every other synthesis tensor is the default's, builds the derived program, checks on a
training photo that it computes exactly what the default's program computes at that quality, writes
``models/weights/<mcq weights>.intsyn.ncw`` (a few KB: the derivation and a hash of the base program, not a copy of it; reshipping the base
file's analysis program leaves it valid) and
records it in the manifest's ``integer_synthesis``.

    .venv/bin/python scripts/ship_mcq_intsynth.py [--quality 4]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "models" / "weights"


def recover_channel_order(folded: torch.Tensor, base: torch.Tensor, inverse_gain: torch.Tensor) -> torch.Tensor:
    """Input-channel permutation ``order`` with folded[i] == inverse_gain[order[i]] * base[order[i]]
    (first ConvTranspose2d weights, (M, N, k, k)); ValueError unless every row matches to 1e-5."""
    a = folded.detach().double().flatten(1)
    b = (base.detach().double() * inverse_gain.detach().double().view(-1, 1, 1, 1)).flatten(1)
    err = torch.cdist(a, b) / a.norm(dim=1, keepdim=True).clamp_min(1e-30)
    rel, order = err.min(dim=1)
    if bool((rel > 1e-5).any()) or torch.unique(order).numel() != order.numel():
        raise ValueError(f"the mcq synthesis is not the base synthesis with a folded gain (worst {float(rel.max()):.2e})")
    return order


def main() -> int:
    from ncodec.codecs.imageio import read_image
    from ncodec.codecs.intsynth import (ReferenceIntegerSynthesis, derive_program, find_integer_synthesis,
                                        load_program, program_sha256, save_derived_program)
    from ncodec.codecs.registry import load_codec
    from ncodec.datasets.images import data_root, list_images
    from ncodec.models.zoo import find_weights, integer_synthesis_entries, record_manifest_entry

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quality", type=float, default=4.0, help="the base quality whose gains mcq folded in")
    p.add_argument("--photo", default=None, help="training photo for the check (default: photos-train/001.png)")
    a = p.parse_args()
    base, mcq = load_codec("mean-scale-hyperprior"), load_codec("mcq")
    base_file = find_integer_synthesis(base.name, base.sha256)
    if base_file is None:
        raise SystemExit("the mean-scale default ships no integer synthesis")
    base_program = load_program(base_file, base.sha256)
    gs_base, gs_mcq = base.model.g_s, mcq.model.g_s
    _, inverse_gain = base.model.gains(a.quality)
    order = recover_channel_order(gs_mcq[0].weight.detach(), gs_base[0].weight.detach(), inverse_gain.view(-1))
    rest_base = {k: v for k, v in gs_base.state_dict().items() if k != "0.weight"}
    rest_mcq = {k: v for k, v in gs_mcq.state_dict().items() if k != "0.weight"}
    if rest_base.keys() != rest_mcq.keys() or any(not torch.allclose(rest_base[k].float(), rest_mcq[k].float(),
                                                                     rtol=1e-6, atol=1e-7) for k in rest_base):
        raise SystemExit("the mcq synthesis differs from the base synthesis beyond its first layer")
    program = derive_program(base_program, order, a.quality)

    # Check: the derived program on mcq's 256*ŷ equals the base program at the quality on the same latent
    # in the base's channel order, and stays close to mcq's float synthesis.
    photo = Path(a.photo) if a.photo else list_images(data_root() / "photos-train")[0]
    image = read_image(photo)[:256, :384]
    enc = mcq.compress(image, quality=float(mcq.levels))
    from ncodec.codecs import container

    header, sections = container.unpack(container.pack(enc.header, enc.sections))
    latents, _, _ = mcq.decompress_latents(header, sections)
    x = mcq.latent.integer_synthesis_input(latents[0])
    base_input = torch.empty_like(x)
    base_input[:, order] = x
    derived = ReferenceIntegerSynthesis(program)(x, 1.0)
    reference = ReferenceIntegerSynthesis(base_program)(base_input, a.quality)
    if not (derived == reference).all():
        raise SystemExit("the derived program does not reproduce the base program")
    float_pixels = mcq.decompress(header, sections, synthesis="float").astype(float)
    mse = float(((derived[: image.shape[0], : image.shape[1]].astype(float) - float_pixels) ** 2).mean())
    print(f"check on {photo.name}: derived == base program; integer vs float synthesis MSE {mse:.3f}")

    base_entry = next(e for e in integer_synthesis_entries() if e["file"] == base_file.name)
    name = find_weights("mcq").name.replace(".ncw", ".intsyn.ncw")
    target = WEIGHTS / name
    recipe = f".venv/bin/python scripts/ship_mcq_intsynth.py --quality {a.quality:g}"
    derived_from = {"file": base_file.name, "program_sha256": program_sha256(base_program), "quality": a.quality,
                    "channel_order": order.tolist()}
    sha = save_derived_program(derived_from, mcq.name, mcq.sha256, target,
                               {"steps": base_entry["steps"], "data": base_entry["data"]})
    if not all((ReferenceIntegerSynthesis(load_program(target, mcq.sha256))(x, 1.0) == derived).flat):
        raise SystemExit(f"{target} does not load to the derived program")
    data = target.read_bytes()
    entry = {"name": name.replace(".ncw", ""), "file": name, "sha256": sha, "base_codec": mcq.name,
             "base_sha256": mcq.sha256, "recipe": [*base_entry["recipe"][:1], recipe],
             "data": base_entry["data"], "steps": base_entry["steps"], "train_wall_s": base_entry["train_wall_s"],
             "machine": base_entry["machine"], "size_bytes": len(data), "w_max": base_entry.get("w_max", 127),
             "derived_from": {k: v for k, v in derived_from.items() if k != "channel_order"},
             "kodak_results": "results/intsynth-kodak-mcq.json",
             "notes": ("No program of its own and no training: the file says how to derive the program from the "
                       "mean-scale default's (its QAT is the first recipe line): the first layer's input channels "
                       "permuted by the channel order in the file and the input multipliers of the folded quality.")}
    record_manifest_entry("integer_synthesis", entry)
    print(f"shipped {target} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}…)")
    return 0


if __name__ == "__main__":
    from ncodec.cli import run_reporting_errors

    sys.exit(run_reporting_errors(main))
