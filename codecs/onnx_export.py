"""``ncodec export --onnx DIR``: the default codec's transforms as ONNX graphs, the integer tables beside
them (issue 20 item 3; docs/onnx-export.md).

* ``decoder.onnx`` is the integer synthesis (models/intsynth.py): float32 Conv nodes on integer-valued
  tensors whose sums stay below 2**24, Mul by powers of two, Round (half to even), Clip, Sqrt and a
  phase shuffle (Reshape/Transpose). Any runtime that computes float32 convolutions without Winograd
  or FFT transforms (onnxruntime's CPU kernels do) gives the integer decoder's pixels exactly.
* ``encoder.onnx`` is the float analysis and hyper-analysis (g_a with its gain, h_a): the encoder need
  not be exact, as the integers it yields are what is coded.
* ``tables.npz`` holds what the entropy path needs (z and y integer tables, scale thresholds, the
  fixed-point h_s, the gain tables, the synthesis's input multipliers) and ``codec.json`` the config.

The graphs are written with ``onnx.helper`` from the weight file's tensors (no tracing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncodec.errors import UsageError

OPSET = 17


class _Graph:
    """A small builder of ONNX nodes and initializers with unique names."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def const(self, value: np.ndarray, name: str = "c") -> str:
        self.count += 1
        key = f"{name}_{self.count}"
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(value), key))
        return key

    def op(self, kind: str, inputs: list[str], **attrs: Any) -> str:
        self.count += 1
        out = f"{kind.lower()}_{self.count}"
        self.nodes.append(self.helper.make_node(kind, inputs, [out], **attrs))
        return out

    def conv(self, x: str, weight: np.ndarray, bias: np.ndarray | None, stride: int, pad: int, groups: int = 1) -> str:
        inputs = [x, self.const(weight.astype(np.float32), "w")]
        if bias is not None:
            inputs.append(self.const(bias.astype(np.float32), "b"))
        return self.op("Conv", inputs, strides=[stride, stride], pads=[pad] * 4, group=groups)

    def channel(self, values: np.ndarray) -> str:
        return self.const(np.asarray(values, dtype=np.float32).reshape(1, -1, 1, 1), "v")

    def shuffle(self, x: str, channels: int) -> str:
        """(1, 4C, h, w) phase-major -> (1, C, 2h, 2w); h, w from the tensor's shape at run time."""
        shape = self.op("Shape", [x])
        hw = self.op("Slice", [shape, self.const(np.array([2], np.int64)), self.const(np.array([4], np.int64))])
        six = self.op("Concat", [self.const(np.array([1, 2, 2, channels], np.int64)), hw], axis=0)
        t = self.op("Transpose", [self.op("Reshape", [x, six])], perm=[0, 3, 4, 1, 5, 2])
        out_hw = self.op("Mul", [hw, self.const(np.array([2, 2], np.int64))])
        return self.op("Reshape", [t, self.op("Concat", [self.const(np.array([1, channels], np.int64)), out_hw], axis=0)])

    def model(self, inputs: list[Any], outputs: list[Any], name: str) -> Any:
        from onnx import checker

        graph = self.helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", OPSET)],
                                       producer_name="ncodec")
        checker.check_model(model)
        return model


def decoder_graph(program: dict[str, Any]) -> Any:
    """The integer synthesis as ONNX: inputs ``latent`` (1, M, h, w) float32 = 256*symbol + mean and
    ``input_mult`` float32, (1, M, 1, 1) for the stream's quality or (1, M, h, w) per latent cell of a
    quality map (the program's rows for those qualities); output ``pixels``
    (1, 3, 2**L*h, 2**L*w) uint8. The same operations in the same order as ``run_reference``."""
    from onnx import TensorProto

    g = _Graph()
    f32 = lambda v: np.asarray(v, dtype=np.float32)  # noqa: E731
    a = g.op("Clip", [g.op("Round", [g.op("Mul", ["latent", "input_mult"])]), g.const(f32(-128)), g.const(f32(127))])
    layers = int(program["layers"])
    for i in range(layers):
        w = program[f"conv{i}.weight"].numpy().astype(np.float32)
        acc = g.conv(a, w, program[f"conv{i}.bias"].numpy().astype(np.float32), 1, 1)
        v = g.op("Mul", [acc, g.channel(np.ldexp(1.0, -program[f"conv{i}.exp"].numpy().astype(np.int32)))])
        c = w.shape[0] // 4
        if i == layers - 1:
            pix = g.op("Clip", [g.op("Round", [g.op("Mul", [g.shuffle(v, c), g.const(f32(255.0))])]),
                                g.const(f32(0)), g.const(f32(255))])
            g.op("Cast", [pix], to=TensorProto.UINT8)
            break
        sq = g.op("Clip", [g.op("Round", [g.op("Mul", [g.op("Mul", [v, v]),
                                                           g.channel(np.tile(program[f"gdn{i}.sq_mult"].numpy(), 4))])]),
                           g.const(f32(0)), g.const(f32(255))])
        gw = program[f"gdn{i}.weight"].numpy().astype(np.float32).reshape(c, c, 1, 1)
        nacc = g.conv(sq, np.tile(gw, (4, 1, 1, 1)), np.tile(program[f"gdn{i}.bias"].numpy(), 4), 1, 0, groups=4)
        n = g.op("Mul", [nacc, g.channel(np.tile(np.ldexp(1.0, -program[f"gdn{i}.exp"].numpy().astype(np.int32)), 4))])
        t = g.op("Mul", [g.op("Mul", [v, g.op("Sqrt", [n])]), g.channel(np.tile(program[f"gdn{i}.out_mult"].numpy(), 4))])
        a = g.shuffle(g.op("Clip", [g.op("Round", [t]), g.const(f32(-128)), g.const(f32(127))]), c)
    g.nodes[-1].output[0] = "pixels"
    m = int(program["conv0.weight"].shape[1])
    h = g.helper
    return g.model([h.make_tensor_value_info("latent", TensorProto.FLOAT, [1, m, "h", "w"]),
                    h.make_tensor_value_info("input_mult", TensorProto.FLOAT, [1, m, "mh", "mw"])],
                   [h.make_tensor_value_info("pixels", TensorProto.UINT8, [1, 3, "H", "W"])], "ncodec_integer_synthesis")


def encoder_graph(model: torch.nn.Module) -> Any:
    """Float g_a (times the gain) and h_a of a mean-scale model: inputs ``image`` (1, 3, H, W) in [0, 1]
    (H, W multiples of 64) and ``gain`` (1, M, 1, 1); outputs ``y`` and ``z`` (before rounding)."""
    from onnx import TensorProto

    from ncodec.models.layers import GDN

    g = _Graph()
    x = "image"
    for layer in model.g_a:
        if isinstance(layer, GDN):
            beta = (torch.clamp(layer.beta, min=layer._beta_bound) ** 2 - layer._pedestal).detach().numpy()
            gamma = (torch.clamp(layer.gamma, min=layer._gamma_bound) ** 2 - layer._pedestal).detach().numpy()
            norm = g.op("Sqrt", [g.conv(g.op("Mul", [x, x]), gamma.reshape(*gamma.shape, 1, 1), beta, 1, 0)])
            x = g.op("Div", [x, norm])
        else:
            x = g.conv(x, layer.weight.detach().numpy(), layer.bias.detach().numpy(), layer.stride[0], layer.padding[0])
    g.op("Mul", [x, "gain"])
    g.nodes[-1].output[0] = "y"
    z = "y"
    for layer in model.h_a:
        if isinstance(layer, torch.nn.LeakyReLU):
            z = g.op("LeakyRelu", [z], alpha=float(layer.negative_slope))
        elif isinstance(layer, torch.nn.ReLU):
            z = g.op("Relu", [z])
        else:
            z = g.conv(z, layer.weight.detach().numpy(), layer.bias.detach().numpy(), layer.stride[0], layer.padding[0])
    g.nodes[-1].output[0] = "z"
    h = g.helper
    return g.model([h.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"]),
                    h.make_tensor_value_info("gain", TensorProto.FLOAT, [1, model.M, 1, 1])],
                   [h.make_tensor_value_info("y", TensorProto.FLOAT, [1, model.M, "h", "w"]),
                    h.make_tensor_value_info("z", TensorProto.FLOAT, [1, model.N, "hz", "wz"])], "ncodec_analysis")


def export_onnx(codec: Any, out_dir: str | Path) -> list[Path]:
    """Write decoder.onnx, encoder.onnx, tables.npz and codec.json for a loaded mean-scale codec with an
    integer synthesis; returns the paths written."""
    import onnx

    from ncodec.codecs.imageio import atomic_write_bytes

    if getattr(codec.model, "kind", None) != "mean-scale-hyperprior":
        raise UsageError("ncodec export --onnx covers the mean-scale hyperprior codecs (the default)")
    executor = codec.integer_synthesis()
    if executor is None:
        raise UsageError(f"{codec.name} weights {codec.sha256[:16]}… have no integer synthesis to export")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    program = executor.program
    model = codec.model.eval()
    latent = codec.latent
    tables = {"input_mult": program["input_mult"].numpy(),
              "log_gain": model.log_gain.detach().numpy(), "log_inv_gain": model.log_inv_gain.detach().numpy(),
              "scale_thresholds": latent.gaussian.thresholds.numpy()}
    for name, ts in (("z", latent.hyper.z_tables), ("y", latent.gaussian.y_tables)):
        tables.update({f"{name}_counts": ts.counts, f"{name}_lengths": ts.lengths, f"{name}_offsets": ts.offsets,
                       f"{name}_precision": np.array(ts.precision)})
    offset = getattr(model, "z_offset", None)
    if offset is not None:  # hyper-latents coded around per-channel offsets (units 2**-8)
        tables["z_offset"] = offset.numpy()
    for key, value in latent.fixed.items():
        tables[f"h_s.{key}"] = value.numpy()
    written = []
    for name, graph in (("decoder.onnx", decoder_graph(program)), ("encoder.onnx", encoder_graph(model))):
        atomic_write_bytes(out / name, graph.SerializeToString())
        written.append(out / name)
    import io

    buf = io.BytesIO()
    np.savez(buf, **tables)
    atomic_write_bytes(out / "tables.npz", buf.getvalue())
    info = {"codec": codec.name, "weights_sha256": codec.sha256, "config": model.config(), "opset": OPSET,
            "onnx": onnx.__version__, "quality_grid": "input_mult row = round((quality - 1) * 100)",
            "docs": "docs/onnx-export.md"}
    atomic_write_bytes(out / "codec.json", (json.dumps(info, indent=2) + "\n").encode())
    return written + [out / "tables.npz", out / "codec.json"]
