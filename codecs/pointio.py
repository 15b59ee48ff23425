"""Point clouds in and out: open3d readers, voxelisation inside a recorded bounding cube, PLY writer.

Inputs: .ply .pcd .xyz .xyzn .xyzrgb .pts (point clouds) and .off .obj .stl (meshes, whose vertices
become the cloud); non-finite points (organised PCD scans mark holes with NaN) are dropped.
Voxelisation maps the cloud into [0, 2^bits - 1]^3 inside its bounding cube: the cube's corner and
side length travel in the bitstream so the decoder restores coordinates, and the peak used by the
PSNR metrics is that side length, the same at every bit depth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ncodec.errors import MissingDependencyError, UnsupportedInputError

MESH_SUFFIXES = {".off", ".obj", ".stl"}
CLOUD_SUFFIXES = {".ply", ".pcd", ".xyz", ".xyzn", ".xyzrgb", ".pts"}
POINT_SUFFIXES = MESH_SUFFIXES | CLOUD_SUFFIXES
MAX_BITS = 20  # 3 * 20 bits of Morton code fit in an int64
MAX_POINTS = 50_000_000


@dataclass
class PointCloud:
    """Float64 positions (N, 3), optional uint8 colours (N, 3) and float normals (N, 3)."""

    points: np.ndarray
    colors: np.ndarray | None = None
    normals: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass
class Voxelized:
    """Unique integer voxel coordinates (M, 3) in [0, 2^bits), the cube that maps them back, and the
    mean colour of the input points that fell into each voxel (when the input had colours)."""

    coords: np.ndarray
    bits: int
    origin: np.ndarray  # (3,) float64, the cube's minimum corner
    side: float  # the cube's side length (the PSNR peak)
    colors: np.ndarray | None = None

    def positions(self) -> np.ndarray:
        """Voxel coordinates back in the input's units."""
        return self.coords.astype(np.float64) * (self.side / ((1 << self.bits) - 1)) + self.origin


def _open3d():
    try:
        import open3d
    except ImportError as exc:
        raise MissingDependencyError(
            f"3D input needs open3d ({exc}); install it with `pip install open3d` "
            "(on Debian it also needs the system package libusb-1.0-0)") from None
    return open3d


def read_points(path: str | os.PathLike) -> PointCloud:
    """Read a point cloud or a mesh's vertices with open3d; one-line errors for bad input."""
    p = Path(path)
    if not p.is_file():
        raise UnsupportedInputError(f"input file not found: {p}")
    suffix = p.suffix.lower()
    if suffix not in POINT_SUFFIXES:
        raise UnsupportedInputError(f"unsupported 3D file type {suffix!r}; use one of {sorted(POINT_SUFFIXES)}")
    if p.stat().st_size == 0:
        raise UnsupportedInputError(f"input file is empty: {p}")
    o3d = _open3d()
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    if suffix in MESH_SUFFIXES:
        mesh = o3d.io.read_triangle_mesh(str(p))
        points = np.asarray(mesh.vertices, dtype=np.float64)
        colors = np.asarray(mesh.vertex_colors) if mesh.has_vertex_colors() else None
        normals = np.asarray(mesh.vertex_normals) if mesh.has_vertex_normals() else None
    else:
        cloud = o3d.io.read_point_cloud(str(p), remove_nan_points=False, remove_infinite_points=False)
        points = np.asarray(cloud.points, dtype=np.float64)
        colors = np.asarray(cloud.colors) if cloud.has_colors() else None
        normals = np.asarray(cloud.normals) if cloud.has_normals() else None
    if points.size == 0:
        raise UnsupportedInputError(f"no points could be read from {p.name}")
    keep = np.isfinite(points).all(axis=1)
    if not keep.any():
        raise UnsupportedInputError(f"{p.name} has no finite points")
    if len(points) > MAX_POINTS:
        raise UnsupportedInputError(f"{p.name} has {len(points)} points (limit {MAX_POINTS})")
    rgb = None if colors is None or len(colors) != len(points) else np.clip(np.round(colors[keep] * 255), 0, 255).astype(np.uint8)
    nrm = None if normals is None or len(normals) != len(points) else normals[keep]
    return PointCloud(points[keep], rgb, nrm)


def bounding_cube(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The axis-aligned cube (minimum corner, side) that holds every point."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    side = float((hi - lo).max())
    return lo.astype(np.float64), side if side > 0 else 1.0


def voxelize(cloud: PointCloud, bits: int, origin: np.ndarray | None = None, side: float | None = None) -> Voxelized:
    """Quantise to ``bits`` per axis inside the bounding cube (or a given one) and merge duplicates."""
    if not 1 <= bits <= MAX_BITS:
        raise UnsupportedInputError(f"bit depth must be in 1..{MAX_BITS}")
    if origin is None or side is None:
        origin, side = bounding_cube(cloud.points)
    top = (1 << bits) - 1
    q = np.clip(np.round((cloud.points - origin) * (top / side)), 0, top).astype(np.int64)
    keys = morton_encode(q)
    colors = None
    if cloud.colors is None:  # the inverse map is only needed to average colours (and costs a sort's time)
        unique = np.unique(keys)
    else:
        unique, inverse = np.unique(keys, return_inverse=True)
        sums = np.zeros((unique.size, 3), dtype=np.float64)
        np.add.at(sums, inverse, cloud.colors.astype(np.float64))
        counts = np.bincount(inverse, minlength=unique.size)[:, None]
        colors = np.clip(np.round(sums / counts), 0, 255).astype(np.uint8)
    return Voxelized(morton_decode(unique), bits, np.asarray(origin, dtype=np.float64), float(side), colors)


VOXEL_GRIDS = ("cube", "identity")


def voxel_grid(cloud: PointCloud, bits: int, grid: str = "cube") -> Voxelized:
    """The voxel set a point codec codes. ``grid="cube"`` quantises inside the cloud's bounding cube
    (``voxelize``); ``"identity"`` takes the points as voxel indices at ``bits`` (a dense cloud of
    MPEG's kind, a PLY of integer coordinates): they must be integers in [0, 2**bits), and the grid
    maps them to themselves (origin 0, side 2**bits - 1), so the decoded cloud has the same coordinates."""
    if grid not in VOXEL_GRIDS:
        raise UnsupportedInputError(f"voxel grid must be one of {', '.join(VOXEL_GRIDS)}, got {grid!r}")
    if grid == "cube":
        return voxelize(cloud, bits)
    if not 1 <= bits <= MAX_BITS:
        raise UnsupportedInputError(f"bit depth must be in 1..{MAX_BITS}")
    top = (1 << bits) - 1
    pts = cloud.points
    if not (np.floor(pts) == pts).all() or pts.min() < 0 or pts.max() > top:
        raise UnsupportedInputError(f"--voxel-grid identity needs integer coordinates in [0, {top}] "
                                    f"(bit depth {bits}); this cloud spans {pts.min():g}..{pts.max():g}")
    return voxelize(cloud, bits, origin=np.zeros(3), side=float(top))


def surface_voxels(mesh: "Mesh", bits: int) -> np.ndarray:
    """Every voxel a triangle mesh's surface passes through, at ``bits`` per axis: the dense content of
    MPEG's point-cloud tests made from a mesh, as ``../shared/tools/dense_voxels.py`` makes it (same
    voxels, same sha256: ``voxel_sha256``). The grid is the vertices' bounding cube with voxel =
    floor((p - min) * (2**bits - 1e-6) / side); each triangle is sampled on a barycentric grid whose
    steps along its longest edge are at most half a voxel. Returns unique (N, 3) int64 voxels sorted
    lexicographically."""
    if not 1 <= bits <= MAX_BITS:
        raise UnsupportedInputError(f"bit depth must be in 1..{MAX_BITS}")
    v = mesh.vertices
    lo = v.min(axis=0)
    side = float((v.max(axis=0) - lo).max())
    if side <= 0:
        raise UnsupportedInputError("the mesh has no extent")
    p = (v - lo) * (((1 << bits) - 1e-6) / side)  # vertices in voxel units
    a, b, c = p[mesh.faces[:, 0]], p[mesh.faces[:, 1]], p[mesh.faces[:, 2]]
    longest = np.maximum.reduce([np.linalg.norm(b - a, axis=1), np.linalg.norm(c - a, axis=1),
                                 np.linalg.norm(c - b, axis=1)])
    steps = np.maximum(1, np.ceil(longest / 0.5)).astype(np.int64)
    top = (1 << bits) - 1
    parts = []
    for n in np.unique(steps):
        pick = steps == n
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        inside = (i + j) <= n
        u = (i[inside] / n)[None, :, None]
        w = (j[inside] / n)[None, :, None]
        ta, tb, tc = a[pick][:, None], b[pick][:, None], c[pick][:, None]
        per = max(1, int(2e7 // max(1, u.shape[1])))  # triangles per batch: bounded memory
        for k in range(0, ta.shape[0], per):
            sa, sb, sc = ta[k:k + per], tb[k:k + per], tc[k:k + per]
            pts = sa + (sb - sa) * u + (sc - sa) * w
            parts.append(np.unique(np.clip(np.floor(pts.reshape(-1, 3)).astype(np.int64), 0, top), axis=0))
    return np.unique(np.concatenate(parts), axis=0)


def voxel_sha256(voxels: np.ndarray) -> str:
    """sha256 of unique voxels sorted lexicographically, int64 little endian, C order (the identity of a
    dense test cloud in ``../shared/data/anchors/3d/gpcc-dense.json``)."""
    import hashlib

    ordered = np.unique(np.asarray(voxels, dtype=np.int64), axis=0)
    return hashlib.sha256(np.ascontiguousarray(ordered.astype("<i8")).tobytes()).hexdigest()


def _spread(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits between the low 21 bits of each value (for Morton codes)."""
    v = v.astype(np.uint64) & np.uint64(0x1FFFFF)
    for shift, mask in ((32, 0x1F00000000FFFF), (16, 0x1F0000FF0000FF), (8, 0x100F00F00F00F00F),
                        (4, 0x10C30C30C30C30C3), (2, 0x1249249249249249)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def _compact(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64) & np.uint64(0x1249249249249249)
    for shift, mask in ((2, 0x10C30C30C30C30C3), (4, 0x100F00F00F00F00F), (8, 0x1F0000FF0000FF),
                        (16, 0x1F00000000FFFF), (32, 0x1FFFFF)):
        v = (v | (v >> np.uint64(shift))) & np.uint64(mask)
    return v


def morton_encode(coords: np.ndarray) -> np.ndarray:
    """int64 Morton keys of (N, 3) non-negative coordinates: bit 3k+2 from x, 3k+1 from y, 3k from z."""
    c = np.asarray(coords)
    key = (_spread(c[:, 0]) << np.uint64(2)) | (_spread(c[:, 1]) << np.uint64(1)) | _spread(c[:, 2])
    return key.astype(np.int64)


def morton_decode(keys: np.ndarray) -> np.ndarray:
    k = np.asarray(keys).astype(np.uint64)
    return np.stack([_compact(k >> np.uint64(2)), _compact(k >> np.uint64(1)), _compact(k)], axis=1).astype(np.int64)


@dataclass
class Mesh:
    """Float64 vertices (V, 3) and int64 triangles (F, 3)."""

    vertices: np.ndarray
    faces: np.ndarray


def read_mesh(path: str | os.PathLike) -> Mesh:
    """A triangle mesh (off, obj, stl, ply) through open3d; one-line errors for bad input."""
    p = Path(path)
    if not p.is_file():
        raise UnsupportedInputError(f"input file not found: {p}")
    if p.suffix.lower() not in MESH_SUFFIXES | {".ply"}:
        raise UnsupportedInputError(f"unsupported mesh file type {p.suffix!r}; use .off, .obj, .stl or .ply")
    if p.stat().st_size == 0:
        raise UnsupportedInputError(f"input file is empty: {p}")
    o3d = _open3d()
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    mesh = o3d.io.read_triangle_mesh(str(p))
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.triangles, dtype=np.int64)
    if vertices.size == 0 or faces.size == 0:
        raise UnsupportedInputError(f"{p.name} has no triangles")
    if not np.isfinite(vertices).all():
        raise UnsupportedInputError(f"{p.name} has non-finite vertices")
    return Mesh(vertices, faces)


def write_mesh(path: str | os.PathLike, mesh: Mesh) -> None:
    """Write a mesh in the format of ``path``'s suffix (ply, obj, off, stl) to a temporary file, then rename."""
    import tempfile

    p = Path(path)
    o3d = _open3d()
    out = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(mesh.vertices), o3d.utility.Vector3iVector(mesh.faces))
    if p.suffix.lower() == ".stl":
        out.compute_triangle_normals()
    # open3d writes the file's own name into some formats (OBJ's object name): write the final name
    # inside a private temporary folder beside the target, then rename it into place
    folder = tempfile.mkdtemp(prefix=f".{p.name}.", dir=p.parent if str(p.parent) else ".")
    tmp = os.path.join(folder, p.name)
    try:
        if not o3d.io.write_triangle_mesh(tmp, out):
            raise UnsupportedInputError(f"cannot write a mesh as {p.suffix!r}")
        from ncodec.codecs.imageio import publish_tmp

        publish_tmp(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        os.rmdir(folder)


def write_ply(path: str | os.PathLike, points: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Binary little-endian PLY (float64 x y z, optional uchar red green blue), written atomically."""
    from ncodec.codecs.imageio import atomic_write_bytes

    n = len(points)
    props = ["property double x", "property double y", "property double z"]
    fields = [("x", "<f8"), ("y", "<f8"), ("z", "<f8")]
    if colors is not None:
        props += ["property uchar red", "property uchar green", "property uchar blue"]
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    header = "\n".join(["ply", "format binary_little_endian 1.0", f"element vertex {n}", *props, "end_header"]) + "\n"
    rows = np.empty(n, dtype=fields)
    rows["x"], rows["y"], rows["z"] = points[:, 0], points[:, 1], points[:, 2]
    if colors is not None:
        rows["red"], rows["green"], rows["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]
    atomic_write_bytes(path, header.encode("ascii") + rows.tobytes())
