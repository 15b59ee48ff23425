"""Point-cloud geometry codecs behind one interface: the octree coder and the Draco baseline.

Quality is the bit depth per axis (1..20): the cloud is voxelised inside its bounding cube, duplicates
merge, and the codec codes that voxel set losslessly. Draco gets exactly the same voxel set, cube and
quantisation (its quantisation range is set to the voxel grid, so it is exact too) at compression
level 10: both codecs reach the same D1-PSNR at a given bit depth and differ only in bits.
"""

from __future__ import annotations

import math
import struct
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ncodec.codecs.container import Header
from ncodec.codecs.octree import decode_geometry, encode_geometry
from ncodec.codecs.pointio import MAX_BITS, MAX_POINTS, PointCloud, Voxelized, voxel_grid
from ncodec.entropy.coders import BACKEND_IDS, get_coder
from ncodec.errors import BitstreamError, MissingDependencyError, UnsupportedInputError, UsageError

DEFAULT_BITS = 10
NO_WEIGHTS = "0" * 16


@dataclass
class PointEncodeResult:
    header: Header
    sections: list[bytes]
    voxels: Voxelized  # what the decoder reproduces exactly


DEFAULT_COLOR_STEP = 8.0


def _add_colors(vox: Voxelized, sections: list[bytes], coder, color_step: float | None) -> dict:
    """Append the RAHT colour section when the cloud has colours (``color_step`` 0: geometry only);
    returns the header metadata that says so."""
    from ncodec.codecs.attributes import encode_colors
    from ncodec.codecs.pointio import morton_encode

    if vox.colors is None or color_step == 0:
        return {}
    step = DEFAULT_COLOR_STEP if color_step is None else float(color_step)
    keys = morton_encode(vox.coords)
    if (np.diff(keys) <= 0).any():  # voxelize() returns Morton order; the decoder relies on it
        raise ValueError("voxels must be in Morton order")
    try:
        sections.append(encode_colors(keys, vox.colors, vox.bits, step, coder))
    except ValueError as exc:
        raise UnsupportedInputError(str(exc)) from None
    return {"colors": "raht", "color_step": step}


def _split_colors(header: Header, sections: list[bytes]) -> tuple[list[bytes], bytes | None]:
    if header.metadata.get("colors") == "raht":
        if len(sections) < 2:
            raise BitstreamError("colour section missing")
        return sections[:-1], sections[-1]
    return sections, None


def _decode_colors(vox: Voxelized, section: bytes | None, coder) -> Voxelized:
    from ncodec.codecs.attributes import decode_colors
    from ncodec.codecs.pointio import morton_encode

    if section is not None:
        vox.colors = decode_colors(section, morton_encode(vox.coords), vox.bits, coder)
    return vox


def bit_depth(quality: float | None) -> int:
    """The bit depth a 3D quality stands for (points and mesh positions alike)."""
    if quality is not None and not math.isfinite(quality):
        raise UsageError(f"3D quality is the bit depth, an integer in 1..{MAX_BITS}, got {quality:g}")
    bits = DEFAULT_BITS if quality is None else int(round(quality))
    if quality is not None and abs(quality - bits) > 1e-9 or not 1 <= bits <= MAX_BITS:
        raise UsageError(f"3D quality is the bit depth, an integer in 1..{MAX_BITS}, got {quality:g}")
    return bits


class _OctreeCodec(ABC):
    """Shared container handling of the octree codecs: voxelise, code the geometry (the subclass's
    entropy model), append the optional colour section, and the reverse with header checks."""

    modality = "pointcloud"
    sha256 = NO_WEIGHTS
    name = ""

    @abstractmethod
    def _encode_geometry(self, vox: Voxelized, coder) -> list[bytes]:
        """Geometry sections of the voxel set (the first one holds the cube and the voxel count)."""

    @abstractmethod
    def _decode_geometry(self, sections: list[bytes], coder) -> Voxelized:
        """Inverse of ``_encode_geometry``; malformed sections end in BitstreamError."""

    def compress(self, cloud: PointCloud, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu", color_step: float | None = None, grid: str = "cube") -> PointEncodeResult:
        """``grid``: "cube" voxelises inside the bounding cube, "identity" codes integer coordinates as
        they are (``pointio.voxel_grid``)."""
        vox = voxel_grid(cloud, bit_depth(quality), grid)
        coder = get_coder(backend, device)
        sections = self._encode_geometry(vox, coder)
        meta = _add_colors(vox, sections, coder, color_step)
        header = Header(codec=self.name, modality=self.modality, weights_sha256=self.sha256[:16],
                        backend=coder.backend_id, backend_version=coder.version, quality=float(vox.bits),
                        shape=(3,), metadata=meta)
        return PointEncodeResult(header, sections, vox)

    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu") -> Voxelized:
        from ncodec.errors import ModelMismatchError

        if header.codec != self.name:
            raise BitstreamError(f"bitstream is for codec {header.codec!r}, not {self.name!r}")
        if header.weights_sha256 != self.sha256[:16]:
            raise ModelMismatchError(f"bitstream needs weights {header.weights_sha256}…, loaded {self.sha256[:16]}…")
        if header.backend not in BACKEND_IDS:
            raise BitstreamError(f"unknown coder backend id {header.backend}")
        coder = get_coder(BACKEND_IDS[header.backend], device)
        geometry, colors = _split_colors(header, sections)
        return _decode_colors(self._decode_geometry(geometry, coder), colors, coder)


class OctreeAdaptiveCodec(_OctreeCodec):
    """Octree occupancy with the hand-built adaptive context model (codecs/octree.py)."""

    name = "octree-adaptive"
    description = ("octree occupancy, context-conditioned adaptive frequency model (G-PCC style "
                   "neighbour contexts), lossless at the bit depth")

    def _encode_geometry(self, vox: Voxelized, coder) -> list[bytes]:
        return encode_geometry(vox, coder)

    def _decode_geometry(self, sections: list[bytes], coder) -> Voxelized:
        return decode_geometry(sections, coder)


class DracoCodec:
    """Google Draco (DracoPy) on the same voxelised cloud, compression level 10."""

    name = "draco"
    modality = "pointcloud"
    description = "Draco point-cloud geometry (DracoPy, compression level 10) on the same voxel grid"
    sha256 = NO_WEIGHTS
    PARAMS = "<3ddB"

    def _draco(self):
        try:
            import DracoPy
        except ImportError:
            raise MissingDependencyError("the draco codec needs DracoPy (`pip install DracoPy`)") from None
        return DracoPy

    def compress(self, cloud: PointCloud, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu", color_step: float | None = None, grid: str = "cube") -> PointEncodeResult:
        """Colours, when present, are coded by Draco losslessly after dropping their low bits:
        ``color_step`` 2**k drops k bits (mid-point reconstruction), Draco's own colour quantisation.
        ``grid`` as for the octree codecs."""
        draco = self._draco()
        vox = voxel_grid(cloud, bit_depth(quality), grid)
        meta, colors = {}, None
        if vox.colors is not None and color_step != 0:
            drop = int(np.clip(round(np.log2(DEFAULT_COLOR_STEP if color_step is None else color_step)), 0, 7))
            c = vox.colors.astype(np.int64)
            colors = np.clip(((c >> drop) << drop) + ((1 << drop) >> 1), 0, 255).astype(np.uint8)
            meta = {"colors": "draco", "color_drop_bits": drop}
        data = draco.encode(vox.coords.astype(np.float32), quantization_bits=vox.bits, compression_level=10,
                            quantization_range=float((1 << vox.bits) - 1), quantization_origin=[0.0, 0.0, 0.0],
                            colors=colors)
        params = struct.pack(self.PARAMS, *vox.origin.tolist(), vox.side, vox.bits)
        header = Header(codec=self.name, modality=self.modality, weights_sha256=NO_WEIGHTS, backend=0,
                        backend_version=_draco_version(), quality=float(vox.bits), shape=(3,), metadata=meta)
        return PointEncodeResult(header, [params, bytes(data)], vox)

    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu") -> Voxelized:
        draco = self._draco()
        if len(sections) != 2 or len(sections[0]) != struct.calcsize(self.PARAMS):
            raise BitstreamError("draco bitstream sections are malformed")
        ox, oy, oz, side, bits = struct.unpack(self.PARAMS, sections[0])
        if not (1 <= bits <= MAX_BITS and np.isfinite([ox, oy, oz, side]).all() and side > 0):
            raise BitstreamError("draco parameters out of range")
        try:
            decoded = draco.decode(sections[1])
            points = np.asarray(decoded.points, dtype=np.float64).reshape(-1, 3)
            colors = getattr(decoded, "colors", None)
            colors = None if colors is None or header.metadata.get("colors") != "draco" else np.asarray(colors)
        except Exception as exc:  # DracoPy raises its own exception types on garbage
            raise BitstreamError(f"draco payload is corrupt ({type(exc).__name__})") from None
        if len(points) > MAX_POINTS or not np.isfinite(points).all():
            raise BitstreamError("draco payload decodes to an invalid cloud")
        if colors is not None and colors.shape != (len(points), 3):
            raise BitstreamError("draco colours do not match its points")
        coords = np.clip(np.round(points), 0, (1 << bits) - 1).astype(np.int64)
        rgb = None if colors is None else colors.astype(np.uint8)
        return Voxelized(coords, int(bits), np.array([ox, oy, oz]), float(side), rgb)


def _draco_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("DracoPy")
    except PackageNotFoundError:
        return "unknown"


class OctreeLearnedCodec(_OctreeCodec):
    """Octree occupancy with the learned, fixed-point context model in two checkerboard passes per level
    (codecs/octree_learned.py); weights from the zoo (``octree-pc``) or an explicit file."""

    name = "octree-pc"
    description = ("octree occupancy, learned fixed-point context model (26-neighbour, sibling and "
                   "decoded-neighbour features, 2 passes per level), lossless at the bit depth")

    def __init__(self, weights: str | None = None, sha_prefix: str | None = None) -> None:
        from ncodec.codecs.octree_learned import OctreeContextModel
        from ncodec.models.zoo import find_weights

        path = weights if weights is not None else find_weights(self.name, sha_prefix)
        self.model = OctreeContextModel.from_file(path)
        self.sha256 = self.model.sha256

    def _encode_geometry(self, vox: Voxelized, coder) -> list[bytes]:
        from ncodec.codecs.octree_learned import encode_geometry_learned

        return encode_geometry_learned(vox, coder, self.model)

    def _decode_geometry(self, sections: list[bytes], coder) -> Voxelized:
        from ncodec.codecs.octree_learned import decode_geometry_learned

        return decode_geometry_learned(sections, coder, self.model)


class OctreeDenseCodec(_OctreeCodec):
    """Dense surfaces: binary child occupancy in 8 octant passes per level with the learned integer MLP
    over parent- and child-level occupancy windows (codecs/octree_dense.py); weights from the zoo
    (``octree-dense``) or an explicit file."""

    name = "octree-dense"
    description = ("dense-surface octree: binary child occupancy in 8 passes per level, learned integer MLP "
                   "over 5x5x5 parent and decoded-child windows, lossless at the bit depth (up to 11 bits)")

    def __init__(self, weights: str | None = None, sha_prefix: str | None = None) -> None:
        from ncodec.codecs.octree_dense import DenseOccupancyNet
        from ncodec.models.zoo import find_weights

        path = weights if weights is not None else find_weights(self.name, sha_prefix)
        self.model = DenseOccupancyNet.from_file(path)
        self.sha256 = self.model.sha256

    def _encode_geometry(self, vox: Voxelized, coder) -> list[bytes]:
        from ncodec.codecs.octree_dense import encode_geometry_dense

        return encode_geometry_dense(vox, coder, self.model)

    def _decode_geometry(self, sections: list[bytes], coder) -> Voxelized:
        from ncodec.codecs.octree_dense import decode_geometry_dense

        return decode_geometry_dense(sections, coder, self.model)


class DracoMeshCodec:
    """Triangle meshes through Draco (edgebreaker connectivity, quantised positions, level 10).

    Quality is the position quantisation in bits per axis over the mesh's bounding cube. Meshes are
    coded by Draco only; learned mesh connectivity coding is out of scope for now."""

    name = "draco-mesh"
    modality = "mesh"
    description = "Draco triangle-mesh coding (DracoPy, level 10); quality = position bits"
    sha256 = NO_WEIGHTS

    def compress_mesh(self, mesh, quality: float | None = None) -> tuple[Header, list[bytes]]:
        from ncodec.codecs.pointio import bounding_cube

        draco = DracoCodec()._draco()
        bits = bit_depth(quality)
        origin, side = bounding_cube(mesh.vertices)
        data = draco.encode(mesh.vertices.astype(np.float32), faces=mesh.faces.astype(np.uint32),
                            quantization_bits=bits, compression_level=10, quantization_range=float(side),
                            quantization_origin=origin.tolist())
        header = Header(codec=self.name, modality=self.modality, weights_sha256=NO_WEIGHTS, backend=0,
                        backend_version=_draco_version(), quality=float(bits), shape=(3,))
        return header, [bytes(data)]

    def decompress_mesh(self, header: Header, sections: list[bytes]):
        from ncodec.codecs.pointio import Mesh

        draco = DracoCodec()._draco()
        if len(sections) != 1:
            raise BitstreamError("draco mesh bitstream has the wrong number of sections")
        try:
            decoded = draco.decode(sections[0])
            vertices = np.asarray(decoded.points, dtype=np.float64).reshape(-1, 3)
            faces = np.asarray(getattr(decoded, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
        except Exception as exc:
            raise BitstreamError(f"draco mesh payload is corrupt ({type(exc).__name__})") from None
        if (len(vertices) > MAX_POINTS or not np.isfinite(vertices).all() or faces.size == 0
                or faces.min() < 0 or faces.max() >= len(vertices)):
            raise BitstreamError("draco mesh payload decodes to an invalid mesh")
        return Mesh(vertices, faces)


POINTCLOUD_CODECS = {c.name: c for c in (OctreeAdaptiveCodec, DracoCodec, OctreeLearnedCodec, OctreeDenseCodec,
                                         DracoMeshCodec)}
