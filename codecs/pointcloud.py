"""Point-cloud geometry codecs behind one interface: the octree coder and the Draco baseline.

Quality is the bit depth per axis (1..20): the cloud is voxelised inside its bounding cube, duplicates
merge, and the codec codes that voxel set losslessly. Draco gets exactly the same voxel set, cube and
quantisation (its quantisation range is set to the voxel grid, so it is exact too) at compression
level 10: both codecs reach the same D1-PSNR at a given bit depth and differ only in bits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ncodec.codecs.container import Header
from ncodec.codecs.octree import decode_geometry, encode_geometry
from ncodec.codecs.pointio import MAX_BITS, MAX_POINTS, PointCloud, Voxelized, voxelize
from ncodec.entropy.coders import BACKEND_IDS, get_coder
from ncodec.errors import BitstreamError, MissingDependencyError, UnsupportedInputError

DEFAULT_BITS = 10
NO_WEIGHTS = "0" * 16


@dataclass
class PointEncodeResult:
    header: Header
    sections: list[bytes]
    voxels: Voxelized  # what the decoder reproduces exactly


def _bits(quality: float | None) -> int:
    bits = DEFAULT_BITS if quality is None else int(round(quality))
    if quality is not None and abs(quality - bits) > 1e-9 or not 1 <= bits <= MAX_BITS:
        raise UnsupportedInputError(f"point-cloud quality is the bit depth, an integer in 1..{MAX_BITS}")
    return bits


class OctreeAdaptiveCodec:
    """Octree occupancy with the hand-built adaptive context model (codecs/octree.py)."""

    name = "octree-adaptive"
    modality = "pointcloud"
    description = ("octree occupancy, context-conditioned adaptive frequency model (G-PCC style "
                   "neighbour contexts), lossless at the bit depth")
    sha256 = NO_WEIGHTS

    def compress(self, cloud: PointCloud, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu") -> PointEncodeResult:
        vox = voxelize(cloud, _bits(quality))
        coder = get_coder(backend, device)
        sections = encode_geometry(vox, coder)
        header = Header(codec=self.name, modality=self.modality, weights_sha256=NO_WEIGHTS,
                        backend=coder.backend_id, backend_version=coder.version, quality=float(vox.bits),
                        shape=(3,))
        return PointEncodeResult(header, sections, vox)

    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu") -> Voxelized:
        if header.codec != self.name:
            raise BitstreamError(f"bitstream is for codec {header.codec!r}, not {self.name!r}")
        if header.backend not in BACKEND_IDS:
            raise BitstreamError(f"unknown coder backend id {header.backend}")
        return decode_geometry(sections, get_coder(BACKEND_IDS[header.backend], device))


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
                 device: str = "cpu") -> PointEncodeResult:
        draco = self._draco()
        vox = voxelize(cloud, _bits(quality))
        data = draco.encode(vox.coords.astype(np.float32), quantization_bits=vox.bits, compression_level=10,
                            quantization_range=float((1 << vox.bits) - 1), quantization_origin=[0.0, 0.0, 0.0])
        params = struct.pack(self.PARAMS, *vox.origin.tolist(), vox.side, vox.bits)
        header = Header(codec=self.name, modality=self.modality, weights_sha256=NO_WEIGHTS, backend=0,
                        backend_version=_draco_version(), quality=float(vox.bits), shape=(3,))
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
        except Exception as exc:  # DracoPy raises its own exception types on garbage
            raise BitstreamError(f"draco payload is corrupt ({type(exc).__name__})") from None
        if len(points) > MAX_POINTS or not np.isfinite(points).all():
            raise BitstreamError("draco payload decodes to an invalid cloud")
        coords = np.clip(np.round(points), 0, (1 << bits) - 1).astype(np.int64)
        return Voxelized(coords, int(bits), np.array([ox, oy, oz]), float(side))


def _draco_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("DracoPy")
    except PackageNotFoundError:
        return "unknown"


class OctreeLearnedCodec:
    """Octree occupancy with the learned, fixed-point context model in two checkerboard passes per level
    (codecs/octree_learned.py); weights from the zoo (``octree-pc``) or an explicit file."""

    name = "octree-pc"
    modality = "pointcloud"
    description = ("octree occupancy, learned fixed-point context model (26-neighbour, sibling and "
                   "decoded-neighbour features, 2 passes per level), lossless at the bit depth")

    def __init__(self, weights: str | None = None, sha_prefix: str | None = None) -> None:
        from ncodec.codecs.octree_learned import OctreeContextModel
        from ncodec.models.zoo import find_weights

        path = weights if weights is not None else find_weights(self.name, sha_prefix)
        self.model = OctreeContextModel.from_file(path)
        self.sha256 = self.model.sha256

    def compress(self, cloud: PointCloud, quality: float | None = None, backend: str = "constriction",
                 device: str = "cpu") -> PointEncodeResult:
        from ncodec.codecs.octree_learned import encode_geometry_learned

        vox = voxelize(cloud, _bits(quality))
        coder = get_coder(backend, device)
        sections = encode_geometry_learned(vox, coder, self.model)
        header = Header(codec=self.name, modality=self.modality, weights_sha256=self.sha256[:16],
                        backend=coder.backend_id, backend_version=coder.version, quality=float(vox.bits),
                        shape=(3,))
        return PointEncodeResult(header, sections, vox)

    def decompress(self, header: Header, sections: list[bytes], device: str = "cpu") -> Voxelized:
        from ncodec.codecs.octree_learned import decode_geometry_learned
        from ncodec.errors import ModelMismatchError

        if header.codec != self.name:
            raise BitstreamError(f"bitstream is for codec {header.codec!r}, not {self.name!r}")
        if header.weights_sha256 != self.sha256[:16]:
            raise ModelMismatchError(f"bitstream needs weights {header.weights_sha256}…, loaded {self.sha256[:16]}…")
        if header.backend not in BACKEND_IDS:
            raise BitstreamError(f"unknown coder backend id {header.backend}")
        return decode_geometry_learned(sections, get_coder(BACKEND_IDS[header.backend], device), self.model)


POINTCLOUD_CODECS = {c.name: c for c in (OctreeAdaptiveCodec, DracoCodec, OctreeLearnedCodec)}
