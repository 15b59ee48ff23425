"""The registry is plain data (so quick CLI paths need no torch); it must agree with the codecs."""

from __future__ import annotations

from ncodec.codecs.classical import CLASSICAL
from ncodec.codecs.pointcloud import POINTCLOUD_CODECS
from ncodec.codecs.registry import REGISTRY
from ncodec.codecs.task import TaskClassifierCodec
from ncodec.codecs.video_inr import INRVideoCodec


def test_registry_descriptions_and_modalities_match_the_implementations():
    implementations = {name: make() for name, make in CLASSICAL.items()}
    implementations.update({name: cls for name, cls in POINTCLOUD_CODECS.items()})
    implementations[INRVideoCodec.name] = INRVideoCodec
    implementations[TaskClassifierCodec.name] = TaskClassifierCodec
    for name, impl in implementations.items():
        spec = REGISTRY[name]
        assert spec.description == impl.description, name
        assert spec.modality == impl.modality, name
    learned = {n for n, s in REGISTRY.items() if s.family == "learned-image"}
    assert learned == {"factorized", "hyperprior", "mean-scale-hyperprior", "checkerboard-channel",
                       "checkerboard-channel-gmm", "mcq", "ocr-text", "walloc"}
    assert set(REGISTRY) == set(implementations) | learned
