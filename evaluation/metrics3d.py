"""Point-cloud geometry distortion: D1 (point-to-point) and D2 (point-to-plane) PSNR, Chamfer distance.

As in MPEG's pc_error: each direction's mean squared error is computed (original to decoded and back)
and the larger one is kept; PSNR = 10·log10(3·peak² / MSE), with a fixed peak per object (its
bounding-cube side, the same at every bit depth). D2 projects each error onto the normal at the
reference point (the input's normals, or normals estimated from 12 neighbours with open3d when the
input has none). Chamfer distance is the sum of both directions' mean Euclidean distances.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree


def _one_way(ref: np.ndarray, test: np.ndarray, ref_normals: np.ndarray | None) -> tuple[float, float, float]:
    """For each test point, its nearest reference point: (mean sq. distance, mean sq. normal-projected
    distance, mean distance)."""
    dist, nearest = cKDTree(ref).query(test, k=1, workers=-1)
    point_to_point = float(np.mean(dist ** 2))
    point_to_plane = math.nan
    if ref_normals is not None:
        err = test - ref[nearest]
        point_to_plane = float(np.mean(np.einsum("ij,ij->i", err, ref_normals[nearest]) ** 2))
    return point_to_point, point_to_plane, float(np.mean(dist))


def estimate_normals(points: np.ndarray, neighbours: int = 12) -> np.ndarray:
    """Unit normals from open3d's PCA over ``neighbours`` nearest points."""
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(neighbours))
    return np.asarray(cloud.normals)


def _psnr(mse: float, peak: float) -> float:
    if math.isnan(mse):
        return math.nan
    return math.inf if mse == 0 else 10 * math.log10(3 * peak * peak / mse)


def geometry_metrics(original: np.ndarray, decoded: np.ndarray, peak: float,
                     original_normals: np.ndarray | None = None, decoded_normals: np.ndarray | None = None) -> dict:
    """D1/D2 PSNR (symmetric, max of both directions), their MSEs and the Chamfer distance."""
    if original_normals is None:
        original_normals = estimate_normals(original)
    if decoded_normals is None:
        decoded_normals = estimate_normals(decoded) if len(decoded) >= 3 else None
    a = _one_way(original, decoded, original_normals)  # decoded points against the original surface
    b = _one_way(decoded, original, decoded_normals)
    d1 = max(a[0], b[0])
    d2 = max(a[1], b[1]) if decoded_normals is not None else a[1]
    return {"d1_mse": d1, "d1_psnr": _psnr(d1, peak), "d2_mse": d2, "d2_psnr": _psnr(d2, peak),
            "chamfer": a[2] + b[2], "peak": peak}
