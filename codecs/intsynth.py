"""Integer synthesis weight files and executors (issue 20; the program is defined in models/intsynth.py).

An integer-synthesis file (``*.intsyn.ncw``) holds the program built from a base codec's g_s after
quantisation-aware fine-tuning, keyed by the base weight file's sha256: the base file, and with it every
existing bitstream, is unchanged. Decoding picks the fast executor (oneDNN int8 convolutions with fused
element-wise C++ passes) where it is available and the reference executor elsewhere; both compute the
same exact integers, so the pixels are identical (tests/test_intsynth.py).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncodec.errors import ModelMismatchError

INTSYNTH_FORMAT = 1
INTSYNTH_KIND = "integer-synthesis"


def integer_latent(latents: dict[str, np.ndarray]) -> torch.Tensor:
    """A scalar family's decoded tile -> the exact integer latent 256*symbol + mean (int64)."""
    y = torch.from_numpy(np.asarray(latents["y"])).long() * 256
    means = latents.get("means")
    return y + torch.from_numpy(np.asarray(means)).long() if means is not None else y


DERIVED_KEYS = frozenset({"file", "program_sha256", "quality", "channel_order"})


def _write_state(state: dict[str, Any], path: str | Path) -> str:
    """torch.save ``state`` to ``path`` atomically; returns the file's sha256."""
    import hashlib

    from ncodec.codecs.imageio import atomic_write_bytes

    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    atomic_write_bytes(Path(path), data)
    return hashlib.sha256(data).hexdigest()


def save_program(program: dict[str, Any], base_codec: str, base_sha256: str, path: str | Path,
                 meta: dict[str, Any] | None = None, analysis: dict[str, Any] | None = None) -> str:
    """Write an integer-synthesis file atomically (with the encoder's int8 analysis program, if given);
    returns its sha256."""
    return _write_state({"format": INTSYNTH_FORMAT, "kind": INTSYNTH_KIND, "base_codec": base_codec,
                         "base_sha256": base_sha256, "program": program, "meta": dict(meta or {}),
                         **({"analysis": analysis} if analysis is not None else {})}, path)


def program_sha256(program: dict[str, Any]) -> str:
    """A hash of a synthesis program's content (names, dtypes, shapes and values), independent of the
    file that holds it and of any analysis program beside it."""
    import hashlib

    h = hashlib.sha256()
    for key in sorted(program):
        value = program[key]
        h.update(key.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def save_derived_program(derived_from: dict[str, Any], base_codec: str, base_sha256: str, path: str | Path,
                         meta: dict[str, Any] | None = None) -> str:
    """Write an integer-synthesis file that holds no program of its own but how to derive it from another
    integer-synthesis file in the same folder (``derive_program``): ``derived_from`` = {"file" (a file
    name), "program_sha256" (``program_sha256`` of that file's synthesis program), "quality",
    "channel_order"}. For weights whose g_s is another codec's g_s with one quality's inverse gains
    folded in and its input channels permuted (mcq seeded from the mean-scale default)."""
    if set(derived_from) != DERIVED_KEYS:
        raise ValueError(f"derived_from needs exactly {sorted(DERIVED_KEYS)}")
    return _write_state({"format": INTSYNTH_FORMAT, "kind": INTSYNTH_KIND, "base_codec": base_codec,
                         "base_sha256": base_sha256, "derived_from": dict(derived_from),
                         "meta": dict(meta or {})}, path)


def derive_program(base_program: dict[str, Any], order: torch.Tensor, quality: float) -> dict[str, Any]:
    """``base_program`` run on a latent whose channel i is the base latent's channel ``order[i]`` at the
    fixed ``quality``: the first layer's input channels permuted and a single-row input-multiplier table
    (its quality 1), the same integers as the base program at ``quality`` on the un-permuted latent."""
    from ncodec.models.intsynth import check_bounds, quality_index

    order = torch.as_tensor(order)
    m = base_program["conv0.weight"].shape[1]
    if order.dtype not in (torch.int32, torch.int64) or order.shape != (m,) or \
            not torch.equal(torch.sort(order.long()).values, torch.arange(m)):
        raise ModelMismatchError("a derived integer synthesis needs a permutation of the latent channels")
    order = order.long()
    try:
        row = base_program["input_mult"][quality_index(float(quality), int(base_program["levels"]))]
    except (TypeError, ValueError, OverflowError):
        raise ModelMismatchError(f"a derived integer synthesis has no input multipliers for quality {quality!r}") from None
    program = dict(base_program)
    program["input_mult"] = row[order].reshape(1, -1).clone()
    program["levels"] = 1
    program["conv0.weight"] = base_program["conv0.weight"][:, order].contiguous()
    check_bounds(program)
    return program


def _derived(path: Path, source: Any, part: str) -> dict[str, Any] | None:
    """The program of a derived integer-synthesis file (``save_derived_program``), from the file it names
    in the same folder, checked by its program's hash."""
    if part == "analysis":
        return None
    if not isinstance(source, dict) or set(source) != DERIVED_KEYS or not isinstance(source["file"], str):
        raise ModelMismatchError(f"{path}: malformed derived_from")
    name = source["file"]
    base_path = path.parent / name
    if Path(name).name != name or not name.endswith(".intsyn.ncw") or not base_path.is_file():
        raise ModelMismatchError(f"{path} derives from {name!r}, which is not an integer-synthesis file beside it")
    base = load_program(base_path, derived=False)
    if base is None or program_sha256(base) != source["program_sha256"]:
        raise ModelMismatchError(f"{path} derives from a program in {name} that differs "
                                 f"(program sha256 {str(source['program_sha256'])[:16]}…)")
    try:
        order = torch.as_tensor(source["channel_order"])
    except (TypeError, ValueError, RuntimeError):
        raise ModelMismatchError(f"{path}: malformed channel_order") from None
    return derive_program(base, order, source["quality"])


def load_program(path: str | Path, base_sha256: str | None = None, part: str = "program", *,
                 derived: bool = True) -> dict[str, Any] | None:
    """The synthesis program (``part="program"``) or the encoder's analysis program (``"analysis"``,
    None if the file has none) of an integer-synthesis file, derived ones included unless ``derived``
    is False (a derived file's base must hold its program); one-line ncodec errors for a missing,
    foreign or mismatched file."""
    from ncodec.codecs.image import read_weight_file
    from ncodec.models.intsynth import PROGRAM_VERSION, check_bounds

    state, _ = read_weight_file(path, "integer-synthesis file")
    if not isinstance(state, dict) or state.get("kind") != INTSYNTH_KIND or state.get("format") != INTSYNTH_FORMAT:
        raise ModelMismatchError(f"{path} is not an ncodec integer-synthesis file")
    if base_sha256 is not None and state["base_sha256"] != base_sha256:
        raise ModelMismatchError(f"{path} was built for weights {state['base_sha256'][:16]}…, "
                                 f"the codec has {base_sha256[:16]}…")
    if "derived_from" in state and "program" not in state:
        if not derived:
            raise ModelMismatchError(f"{path} is itself derived: a derived integer synthesis needs a program file")
        return _derived(Path(path), state["derived_from"], part)
    program = state.get(part)
    if program is None and part == "analysis":
        return None
    if not isinstance(program, dict) or int(program.get("version", -1)) != PROGRAM_VERSION:
        raise ModelMismatchError(f"{path}: unknown integer-synthesis program version")
    if part == "program":
        check_bounds(program)
    return program


def load_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` of an integer-synthesis file (training record; ``analysis_default``: whether the
    encoder uses the file's int8 analysis by default, set at shipping from its measured Kodak cost)."""
    from ncodec.codecs.image import read_weight_file

    state, _ = read_weight_file(path, "integer-synthesis file")
    meta = state.get("meta") if isinstance(state, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}


def find_integer_synthesis(codec_name: str, weights_sha256: str) -> Path | None:
    """The shipped integer-synthesis file of a codec's weights, or None."""
    from ncodec.models.zoo import WEIGHTS_DIR, integer_synthesis_entries

    for entry in integer_synthesis_entries():
        if entry["base_codec"] == codec_name and entry["base_sha256"] == weights_sha256:
            path = WEIGHTS_DIR / entry["file"]
            if path.exists():
                return path
    return None


def int8_pairs_exact() -> bool:
    """Whether this CPU's int8 dot products add u8 x s8 products without an int16 pair sum (VNNI or AMX):
    without them oneDNN pairs products with ``vpmaddubsw``, which saturates for weights above
    ``W_MAX_PORTABLE``. Unknown (no /proc/cpuinfo) counts as no."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def program_is_portable(program: dict[str, Any]) -> bool:
    """Whether every weight of a program is within ``W_MAX_PORTABLE`` (exact on any int8 kernel)."""
    from ncodec.models.intsynth import W_MAX_PORTABLE

    return all(int(v.abs().max()) <= W_MAX_PORTABLE for k, v in program.items() if k.endswith(".weight"))


def int8_kernels_fit(program: dict[str, Any]) -> bool:
    """oneDNN int8 may run ``program``: available, and its weights cannot saturate here. A self-test on
    random inputs is not enough on its own: real activations reach the range where pairs saturate."""
    return onednn_available() and (program_is_portable(program) or int8_pairs_exact())


def build_executor(program: dict[str, Any], prefer_fast: bool = True) -> Any:
    """The first executor that passes a self-test against the reference on random integer latents:
    oneDNN int8 (where its kernels do not saturate), float32-exact convolutions, else the reference."""
    if prefer_fast:
        kinds = ([FastIntegerSynthesis] if int8_kernels_fit(program) else []) + [FloatExactIntegerSynthesis]
        for kind in kinds:
            try:
                fast = kind(program)
                if fast.self_test():
                    return fast
            except (RuntimeError, ImportError, ValueError):  # a oneDNN or kernel refusal: try the next
                pass
    return ReferenceIntegerSynthesis(program)


class ReferenceIntegerSynthesis:
    """``models.intsynth.run_reference`` as an executor (any machine, any device; slower)."""

    name = "reference"

    def __init__(self, program: dict[str, Any]) -> None:
        self.program = program

    def __call__(self, latent_int: torch.Tensor, quality: Any) -> np.ndarray:
        from ncodec.models.intsynth import run_reference

        return np.ascontiguousarray(run_reference(self.program, latent_int, quality)[0].permute(1, 2, 0).numpy())


def onednn_available() -> bool:
    """Whether this torch has oneDNN's int8 convolution with float32 output (x86 builds)."""
    ops = getattr(torch.ops, "onednn", None)
    try:
        return ops is not None and hasattr(ops, "qconv_pointwise") and hasattr(ops, "qconv_prepack") \
            and torch.backends.mkldnn.is_available()
    except RuntimeError:
        return False


def _matches_reference(executor: Any, seed: int) -> bool:
    """Whether a synthesis executor gives the reference's pixels on a random 4x6 integer latent at the
    extremes of the activation range (clamped inputs included), with 1 and 2 threads."""
    from ncodec.models.intsynth import run_reference

    m = executor.program["conv0.weight"].shape[1]
    gen = torch.Generator().manual_seed(seed)
    latent = torch.randint(-64 * 256, 64 * 256, (1, m, 4, 6), generator=gen)
    q = 1.0 + (int(executor.program["levels"]) - 1) / 2
    want = run_reference(executor.program, latent, q)[0].permute(1, 2, 0).numpy()
    threads = torch.get_num_threads()
    try:
        results = []
        for n in sorted({1, threads}):
            torch.set_num_threads(n)
            results.append(executor(latent, q))
    finally:
        torch.set_num_threads(threads)
    return all(np.array_equal(r, want) for r in results)


class FastIntegerSynthesis:
    """The integer program on oneDNN int8 convolutions (int32 sums, exact float32 outputs thanks to the
    power-of-two scales) and the fused element-wise passes of ``ncodec.models._intsynth``. Computes the
    same integers as ``models.intsynth.run_reference``, a few times faster than the float g_s."""

    name = "onednn-int8"

    def __init__(self, program: dict[str, Any]) -> None:
        from ncodec.models import _intsynth

        self.kernels = _intsynth
        self.program = program
        self.layers = int(program["layers"])
        self.convs = []
        for i in range(self.layers):
            self.convs.append(self._prepare(program[f"conv{i}.weight"], program[f"conv{i}.exp"],
                                            program[f"conv{i}.bias"], zero_point=128, groups=1, padding=1))
        self.gdns = []
        for i in range(self.layers - 1):
            c = program[f"gdn{i}.weight"].shape[0]
            weight = program[f"gdn{i}.weight"].view(c, c, 1, 1)
            self.gdns.append((self._prepare(weight, program[f"gdn{i}.exp"], program[f"gdn{i}.bias"],
                                            zero_point=0, groups=1, padding=0),
                              program[f"gdn{i}.sq_mult"].contiguous().numpy(),
                              program[f"gdn{i}.out_mult"].contiguous().numpy()))

    def self_test(self, seed: int = 0) -> bool:
        """Compare with the reference executor on a random 4x6 integer latent at the extremes of the
        activation range (clamped inputs included), with 1 and 2 threads."""
        return _matches_reference(self, seed)

    @staticmethod
    def _prepare(weight: torch.Tensor, exp: torch.Tensor, bias: torch.Tensor, zero_point: int, groups: int,
                 padding: int, stride: int = 1) -> dict[str, Any]:
        scales = torch.pow(2.0, -exp.double())
        packed = torch.ops.onednn.qconv_prepack(weight.contiguous(), scales, 1.0, zero_point, [stride, stride],
                                                [padding, padding], [1, 1], groups, None)
        return {"packed": packed, "scales": scales, "zero_points": torch.zeros(weight.shape[0], dtype=torch.long),
                "bias": (bias.double() * scales).float(), "zero_point": zero_point, "groups": groups,
                "padding": padding}

    @staticmethod
    def _conv(qx: torch.Tensor, layer: dict[str, Any]) -> torch.Tensor:
        p = layer["padding"]
        return torch.ops.onednn.qconv_pointwise(qx, 1.0, layer["zero_point"], layer["packed"], layer["scales"],
                                                layer["zero_points"], layer["bias"], [1, 1], [p, p], [1, 1],
                                                layer["groups"], 1.0, 0, torch.float32, "none", [], "")

    @torch.inference_mode()
    def __call__(self, latent_int: torch.Tensor, quality: Any) -> np.ndarray:
        """Integer latent (1, M, h, w) -> uint8 pixels (2**L*h, 2**L*w, 3); ``quality``: the header
        quality or a quality map's (h, w) cell qualities."""
        from ncodec.models.intsynth import input_activations

        threads = torch.get_num_threads()
        a = (input_activations(latent_int, self.program, quality) + 128).to(torch.uint8)
        qx = a.contiguous(memory_format=torch.channels_last)
        for i in range(self.layers):
            acc = self._conv(qx, self.convs[i])  # (1, 4C, h, w) float32, channels-last
            v = acc.permute(0, 2, 3, 1)[0].numpy()  # (h, w, 4C) view
            h, w, c4 = v.shape
            if i == self.layers - 1:
                pixels = np.empty((2 * h, 2 * w, c4 // 4), dtype=np.uint8)
                self.kernels.pixels_u8(v, pixels, threads)
                return pixels
            gdn, sq_mult, out_mult = self.gdns[i]
            sq = torch.empty((1, h, w, c4), dtype=torch.uint8)
            self.kernels.square_u8(v, sq_mult, sq[0].numpy(), threads)
            # the phase-major (h, w, 4C) memory read as an image of h x 4w pixels with C channels: the
            # gamma sum is then one 1x1 convolution, per pixel and phase
            n = self._conv(sq.view(1, h, 4 * w, c4 // 4).permute(0, 3, 1, 2), gdn)
            n = n.permute(0, 2, 3, 1)[0].reshape(h, w, c4).numpy()
            nxt = torch.empty((1, 2 * h, 2 * w, c4 // 4), dtype=torch.uint8)
            self.kernels.gdn_u8(v, n, out_mult, nxt[0].numpy(), True, threads)
            qx = nxt.permute(0, 3, 1, 2)
        raise AssertionError("unreachable")


class FloatExactIntegerSynthesis(FastIntegerSynthesis):
    """The same program and fused passes on float32 convolutions: weights ``q * 2**-e`` and activations
    (integer - zero point) are exact in float32, and every partial sum is an integer below 2**24 times
    that power of two (``check_bounds``), so the float convolution computes the exact sums in any order.
    For CPUs whose oneDNN int8 kernels saturate (AVX2 without VNNI pairs u8 x s8 products in int16)."""

    name = "float32-exact"

    def self_test(self, seed: int = 0) -> bool:
        """As ``FastIntegerSynthesis.self_test`` (a BLAS or convolution that used a non-exact algorithm,
        such as Winograd, would fail it)."""
        return _matches_reference(self, seed)

    @staticmethod
    def _prepare(weight: torch.Tensor, exp: torch.Tensor, bias: torch.Tensor, zero_point: int, groups: int,
                 padding: int, stride: int = 1) -> dict[str, Any]:
        scales = torch.pow(2.0, -exp.double())
        shape = (-1,) + (1,) * (weight.dim() - 1)
        w = (weight.double() * scales.view(shape)).float().contiguous(memory_format=torch.channels_last)
        return {"weight": w, "bias": (bias.double() * scales).float(), "zero_point": zero_point,
                "groups": groups, "padding": padding, "stride": stride}

    @staticmethod
    def _conv(qx: torch.Tensor, layer: dict[str, Any], stride: int | None = None) -> torch.Tensor:
        x = qx.float()
        if layer["zero_point"]:
            x -= float(layer["zero_point"])
        out = torch.nn.functional.conv2d(x.contiguous(memory_format=torch.channels_last), layer["weight"],
                                         layer["bias"], stride or layer["stride"], layer["padding"], 1, layer["groups"])
        return out.contiguous(memory_format=torch.channels_last)



class FastIntegerAnalysis:
    """The encoder's int8 g_a (``models.intsynth.build_analysis_program``) on oneDNN: pixels -> the
    float latent before the gain. Not bit-exact across machines, and it need not be: the decoder only
    sees the integers the encoder chose."""

    name = "onednn-int8-analysis"

    def __init__(self, program: dict[str, Any]) -> None:
        from ncodec.models import _intsynth

        self.kernels = _intsynth
        self.program = program
        self.layers = int(program["layers"])
        self.convs = [FastIntegerSynthesis._prepare(program[f"conv{i}.weight"], program[f"conv{i}.exp"],
                                                    program[f"conv{i}.bias"], zero_point=0 if i == 0 else 128,
                                                    groups=1, padding=2, stride=2) for i in range(self.layers)]
        self.gdns = []
        for i in range(self.layers - 1):
            c = program[f"gdn{i}.weight"].shape[0]
            self.gdns.append((FastIntegerSynthesis._prepare(program[f"gdn{i}.weight"].view(c, c, 1, 1),
                                                            program[f"gdn{i}.exp"], program[f"gdn{i}.bias"],
                                                            zero_point=0, groups=1, padding=0),
                              program[f"gdn{i}.sq_mult"].contiguous().numpy(),
                              program[f"gdn{i}.out_mult"].contiguous().numpy()))

    def self_test(self, seed: int = 0) -> bool:
        """Whether this CPU's int8 kernels compute the program exactly (``run_analysis_reference``) on
        random pixels at the extremes of the range, with 1 and 2 threads: an AVX2 CPU without VNNI
        saturates u8 x s8 pair sums in int16 for weights above ``W_MAX_PORTABLE``."""
        from ncodec.models.intsynth import run_analysis_reference

        gen = torch.Generator().manual_seed(seed)
        pixels = torch.randint(0, 256, (1, 3, 64, 48), generator=gen, dtype=torch.uint8)
        pixels[:, :, :16] = 255 * (pixels[:, :, :16] > 127)
        want = run_analysis_reference(self.program, pixels)
        threads = torch.get_num_threads()
        try:
            results = []
            for n in sorted({1, threads}):
                torch.set_num_threads(n)
                results.append(self(pixels))
        finally:
            torch.set_num_threads(threads)
        return all(torch.equal(r, want) for r in results)

    @staticmethod
    def _conv(qx: torch.Tensor, layer: dict[str, Any], stride: int = 2) -> torch.Tensor:
        p = layer["padding"]
        return torch.ops.onednn.qconv_pointwise(qx, 1.0, layer["zero_point"], layer["packed"], layer["scales"],
                                                layer["zero_points"], layer["bias"], [stride, stride], [p, p],
                                                [1, 1], layer["groups"], 1.0, 0, torch.float32, "none", [], "")

    @torch.inference_mode()
    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 pixels (1, 3, H, W), H and W multiples of 16 -> latent (1, M, H/16, W/16) float32."""
        threads = torch.get_num_threads()
        qx = pixels.contiguous(memory_format=torch.channels_last)
        for i in range(self.layers):
            v = self._conv(qx, self.convs[i])
            if i == self.layers - 1:
                return v.contiguous()
            gdn, sq_mult, out_mult = self.gdns[i]
            flat = v.permute(0, 2, 3, 1)[0].numpy()
            h, w, c = flat.shape
            sq = torch.empty((1, h, w, c), dtype=torch.uint8)
            self.kernels.square_u8(flat, sq_mult, sq[0].numpy(), threads)
            n = self._conv(sq.permute(0, 3, 1, 2), gdn, stride=1).permute(0, 2, 3, 1)[0].numpy()
            nxt = torch.empty((1, h, w, c), dtype=torch.uint8)
            self.kernels.gdn_flat_u8(flat, n, out_mult, nxt[0].numpy(), False, threads)
            qx = nxt.permute(0, 3, 1, 2)
        raise AssertionError("unreachable")
