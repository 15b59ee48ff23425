"""Supervised compression for classification (Entropic Student, Matsubara et al. 2022): a small
encoder, an entropy bottleneck and the student classifier head, trained jointly for rate + task loss.

Only what the classifier needs is coded: the encoder maps a 28x28 greyscale image to a (C, 1, 1)
latent, the factorized density of ``entropy/factorized.py`` codes its rounded values, and the head
turns the decoded latent into class logits (no pixels are reconstructed). Variable rate from one model
by per-level channel gains, as the learned image codecs do: the latent is scaled by the level's gain
before rounding and by its inverse gain before the head. The module is pure: ``codecs/task.py`` codes
its symbols into bitstreams.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ncodec.entropy.factorized import FactorizedDensity
from ncodec.models.layers import GDN

TASK_LAMBDAS = (0.008, 0.004, 0.002, 0.001, 0.0005)  # rate weight (nats of task loss per bit), level 1 first
TILE = 28


ENCODERS = ("plain", "smallcnn")


class SupervisedTaskCodec(nn.Module):
    """Encoder (5 convolutions, two 2x reductions, global pooling) -> latent vector (C, 1, 1) -> head
    (two-layer MLP) -> class logits; ``levels`` gain vectors give the rate points. The bottleneck sits
    after the features, so only what the class needs is coded (tens of bits per image).

    ``encoder="smallcnn"`` is the Entropic Student layout: the encoder is the zoo classifier's feature
    stack (``models/classifier.py``, Conv-BN-ReLU with max pooling) and the head ends in its linear
    layer, so both can start from the teacher's weights (``init_from_teacher``); only the bottleneck
    (a 1x1 convolution to C channels and the linear layer back to 128 features) starts from scratch.
    ``"plain"`` is the first shipped layout (strided convolutions without normalisation)."""

    def __init__(self, channels: int = 12, width: int = 32, classes: int = 10,
                 lambdas: tuple[float, ...] = TASK_LAMBDAS, encoder: str = "plain") -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, not {encoder!r}")
        self.channels, self.width, self.classes, self.encoder_kind = channels, width, classes, encoder
        self.lambdas = tuple(float(v) for v in lambdas)
        w2 = 2 * width
        if encoder == "plain":
            self.encoder = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
                                         nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
                                         nn.Conv2d(width, w2, 3, padding=1), nn.ReLU(),
                                         nn.Conv2d(w2, w2, 3, stride=2, padding=1), nn.ReLU(),
                                         nn.Conv2d(w2, 4 * width, 3, padding=1), nn.ReLU(),
                                         nn.AdaptiveAvgPool2d(1), nn.Conv2d(4 * width, channels, 1))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels, 128), nn.ReLU(), nn.Linear(128, classes))
        else:
            from ncodec.models.classifier import SmallCNN

            if width != 32:
                raise ValueError("the smallcnn encoder has the zoo classifier's widths (width 32)")
            self.encoder = nn.Sequential(*SmallCNN(classes).features, nn.Conv2d(4 * width, channels, 1))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels, 4 * width), nn.ReLU(),
                                      nn.Dropout(0.2), nn.Linear(4 * width, classes))
        self.log_gain = nn.Parameter(torch.zeros(len(lambdas), channels))
        self.density = FactorizedDensity(channels, init_scale=2.0)  # latents start small: a narrow prior

    @property
    def levels(self) -> int:
        return len(self.lambdas)

    def config(self) -> dict[str, Any]:
        return {"family": "task-classifier", "channels": self.channels, "width": self.width,
                "classes": self.classes, "lambdas": list(self.lambdas), "tile": TILE, "encoder": self.encoder_kind}

    def init_from_teacher(self, teacher: nn.Module) -> None:
        """Copy a ``SmallCNN`` teacher's feature stack and final linear layer (``encoder="smallcnn"``)."""
        if self.encoder_kind != "smallcnn":
            raise ValueError("only the smallcnn encoder has the teacher's layout")
        for mine, theirs in zip(self.encoder, teacher.features):
            mine.load_state_dict(theirs.state_dict())
        self.head[-1].load_state_dict(teacher.head[-1].state_dict())

    def gains(self, level: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain, inverse gain) of 0-based level index(es), each (B or 1, C, 1, 1)."""
        idx = torch.as_tensor(level).view(-1)
        g = torch.exp(self.log_gain[idx])[:, :, None, None]
        return g, 1.0 / g

    def analysis(self, x: torch.Tensor, level: int | torch.Tensor) -> torch.Tensor:
        """Tiles (B, 1, 28, 28) in [0, 1] -> gain-scaled latent (B, C, 1, 1), before rounding."""
        if self.encoder_kind == "smallcnn":
            from ncodec.models.classifier import normalise

            x = normalise(x)  # the teacher's input
        else:
            x = x - 0.5
        return self.encoder(x) * self.gains(level)[0]

    def classify(self, y_hat: torch.Tensor, level: int | torch.Tensor) -> torch.Tensor:
        """Decoded (integer) latent -> class logits."""
        return self.head(y_hat * self.gains(level)[1])

    def forward(self, x: torch.Tensor, levels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training forward: logits from the straight-through rounded latent, and its likelihoods under
        additive uniform noise (training) or rounding (eval)."""
        y = self.analysis(x, levels)
        y_hat = y + (torch.round(y) - y).detach()
        y_read = y + torch.empty_like(y).uniform_(-0.5, 0.5) if self.training else torch.round(y)
        return {"logits": self.classify(y_hat, levels), "likelihoods": self.density.likelihood(y_read)}

    def aux_loss(self) -> torch.Tensor:
        return self.density.aux_loss()


def task_loss(model: SupervisedTaskCodec, out: dict[str, torch.Tensor], labels: torch.Tensor, levels: torch.Tensor,
              teacher_logits: torch.Tensor | None = None, temperature: float = 4.0,
              distill_weight: float = 0.5) -> dict[str, torch.Tensor]:
    """Cross-entropy (plus knowledge distillation from a teacher's logits) + lambda * bits per image."""
    bits = torch.log(out["likelihoods"]).flatten(1).sum(1) / -math.log(2)
    ce = F.cross_entropy(out["logits"], labels, reduction="none")
    task = ce
    if teacher_logits is not None:
        t = temperature
        kd = F.kl_div(F.log_softmax(out["logits"] / t, 1), F.softmax(teacher_logits / t, 1), reduction="none").sum(1)
        task = (1 - distill_weight) * ce + distill_weight * kd * t * t
    lambdas = torch.tensor(model.lambdas)[levels]
    loss = (task + lambdas * bits).mean()
    return {"loss": loss, "bits": bits.mean(), "ce": ce.mean()}
