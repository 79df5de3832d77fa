#!/usr/bin/env python3
"""Independent NumPy reference of the 3DGS forward pass, used to generate worldflow-splat's golden cases.

Straightforward per-pixel math in float64 (inputs are stored as float32 and read back before rendering),
written from the published algorithm (see shared/design/reference/splatting.md), not from the Rust code:

  view transform -> near cull -> Sigma = R S S^T R^T -> tangent clamp -> J W Sigma W^T J^T + 0.3 I
  -> conic, extent, tile rectangle -> SH colour (+0.5, clamp >= 0) -> stable depth order ->
  per pixel front to back: power, alpha = min(alpha_max, o * exp(power)), skip alpha < 1/255,
  stop when T (1 - alpha) < 1e-4 (Inria) / <= 1e-4 (gsplat) without adding, C + T * background.

Pixel convention: pixel (u, v) has its centre at (u + 0.5, v + 0.5) where K applies. A Gaussian contributes
to a pixel only if the pixel's 16x16 tile lies in the Gaussian's tile rectangle (Inria getRect on
mean - 0.5 with the 3-sigma radius, or gsplat's opacity-aware per-axis radius).

Usage: python3 render_ref.py OUT_DIR   (writes one uncompressed .npz per case)
"""
import math
import sys
from pathlib import Path

import numpy as np

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = [1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396]
C3 = [-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
      -0.4570457994644658, 1.445305721320277, -0.5900435899266435]
TILE = 16
ALPHA_MIN = 1.0 / 255.0


def sh_colour(deg, sh, d):
    x, y, z = d
    basis = [C0]
    if deg >= 1:
        basis += [-C1 * y, C1 * z, -C1 * x]
    if deg >= 2:
        xx, yy, zz = x * x, y * y, z * z
        basis += [C2[0] * x * y, C2[1] * y * z, C2[2] * (2 * zz - xx - yy), C2[3] * x * z, C2[4] * (xx - yy)]
    if deg >= 3:
        basis += [C3[0] * y * (3 * xx - yy), C3[1] * x * y * z, C3[2] * y * (4 * zz - xx - yy),
                  C3[3] * z * (2 * zz - 3 * xx - 3 * yy), C3[4] * x * (4 * zz - xx - yy),
                  C3[5] * z * (xx - yy), C3[6] * x * (xx - 3 * yy)]
    c = np.zeros(3)
    for k, b in enumerate(basis):
        c += b * sh[k]
    return np.maximum(c + 0.5, 0.0)


def quat_to_rot(q):
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def project(case, i):
    """Returns ('visible', dict) | ('culled', None) | ('invalid', None)."""
    mean, scale, quat, opac = case["means"][i], case["scales"][i], case["quats"][i], case["opacities"][i]
    gsplat = case["compat"] == 1
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.isfinite(opac)):
        return "invalid", None
    if not np.all(scale > 0) or not (np.dot(quat, quat) > 0):
        return "invalid", None
    view = case["camera_from_world"]
    rot_w, trans = view[:3, :3], view[:3, 3]
    t = rot_w @ mean + trans
    if gsplat:
        if not (0.01 <= t[2] <= 1e10):
            return "culled", None
    elif not t[2] > 0.2:
        return "culled", None
    if not opac >= ALPHA_MIN:
        return "culled", None
    r = quat_to_rot(quat)
    m = r @ np.diag(scale)
    cov3 = m @ m.T
    fx, fy, cx, cy = case["intrinsics"]
    w_px, h_px = case["width"], case["height"]
    tan_x, tan_y = 0.5 * w_px / fx, 0.5 * h_px / fy
    txz = np.clip(t[0] / t[2], -(cx / fx + 0.3 * tan_x), (w_px - cx) / fx + 0.3 * tan_x)
    tyz = np.clip(t[1] / t[2], -(cy / fy + 0.3 * tan_y), (h_px - cy) / fy + 0.3 * tan_y)
    z = t[2]
    jac = np.array([[fx / z, 0, -fx * txz * z / (z * z)], [0, fy / z, -fy * tyz * z / (z * z)]])
    tm = jac @ rot_w
    cov2 = tm @ cov3 @ tm.T
    det_orig = cov2[0, 0] * cov2[1, 1] - cov2[0, 1] ** 2
    cov2 = cov2 + 0.3 * np.eye(2)
    det = cov2[0, 0] * cov2[1, 1] - cov2[0, 1] ** 2
    if not det > 0:
        return "invalid", None
    conic = np.array([cov2[1, 1], -cov2[0, 1], cov2[0, 0]]) / det
    if case["antialiased"]:
        opac = opac * math.sqrt(max(det_orig / det, 0.0))
        if not opac >= ALPHA_MIN:
            return "culled", None
    mx, my = fx * t[0] / t[2] + cx, fy * t[1] / t[2] + cy
    tiles_x, tiles_y = -(-w_px // TILE), -(-h_px // TILE)
    if gsplat:
        extend = min(3.33, math.sqrt(2 * math.log(opac / ALPHA_MIN)))
        rx, ry = math.ceil(extend * math.sqrt(cov2[0, 0])), math.ceil(extend * math.sqrt(cov2[1, 1]))
        if rx <= 0 and ry <= 0:
            return "culled", None
        if mx + rx <= 0 or mx - rx >= w_px or my + ry <= 0 or my - ry >= h_px:
            return "culled", None
        x0 = min(max(0, math.floor(mx / TILE - rx / TILE)), tiles_x)
        x1 = min(max(0, math.ceil(mx / TILE + rx / TILE)), tiles_x)
        y0 = min(max(0, math.floor(my / TILE - ry / TILE)), tiles_y)
        y1 = min(max(0, math.ceil(my / TILE + ry / TILE)), tiles_y)
    else:
        mid = 0.5 * (cov2[0, 0] + cov2[1, 1])
        lam = mid + math.sqrt(max(0.1, mid * mid - det))
        radius = math.ceil(3 * math.sqrt(lam))
        px, py = mx - 0.5, my - 0.5  # Inria's own pixel coordinates
        trunc = lambda v, n: min(n, max(0, int(v)))  # C float->int truncation, then clamp
        x0, y0 = trunc((px - radius) / TILE, tiles_x), trunc((py - radius) / TILE, tiles_y)
        x1, y1 = trunc((px + radius + TILE - 1) / TILE, tiles_x), trunc((py + radius + TILE - 1) / TILE, tiles_y)
    if x1 <= x0 or y1 <= y0:
        return "culled", None
    cam_centre = -rot_w.T @ trans
    d = mean - cam_centre
    deg = case["sh_degree_used"]
    colour = sh_colour(deg, case["sh"][i], d / np.linalg.norm(d))
    return "visible", dict(mean=(mx, my), conic=conic, opacity=opac, colour=colour, depth=t[2],
                           rect=(x0, y0, x1, y1))


def render(case):
    n = len(case["means"])
    stats = {"visible": 0, "culled": 0, "invalid": 0}
    splats, depths = [], []
    for i in range(n):
        kind, s = project(case, i)
        stats[kind] += 1
        if s is not None:
            splats.append(s)
            depths.append(s["depth"])
    # Depth order, ties by Gaussian index (a stable sort), as the reference's stable (tile, depth) sort.
    order = np.argsort(np.array(depths, dtype=np.float32), kind="stable")
    w_px, h_px = case["width"], case["height"]
    alpha_max, inclusive = (0.999, True) if case["compat"] == 1 else (0.99, False)
    u, v = np.meshgrid(np.arange(w_px), np.arange(h_px))
    pix_x, pix_y = u + 0.5, v + 0.5
    tile_x, tile_y = u // TILE, v // TILE
    trans = np.ones((h_px, w_px))
    colour = np.zeros((h_px, w_px, 3))
    done = np.zeros((h_px, w_px), dtype=bool)
    for j in order:
        s = splats[j]
        x0, y0, x1, y1 = s["rect"]
        in_rect = (tile_x >= x0) & (tile_x < x1) & (tile_y >= y0) & (tile_y < y1) & ~done
        dx, dy = s["mean"][0] - pix_x, s["mean"][1] - pix_y
        a, b, c = s["conic"]
        power = -0.5 * (a * dx * dx + c * dy * dy) - b * dx * dy
        alpha = np.minimum(alpha_max, s["opacity"] * np.exp(np.minimum(power, 0.0)))
        valid = in_rect & (power <= 0) & (alpha >= ALPHA_MIN)
        test_t = trans * (1 - alpha)
        stop = valid & ((test_t <= 1e-4) if inclusive else (test_t < 1e-4))
        add = valid & ~stop
        colour[add] += s["colour"][None, :] * (alpha[add] * trans[add])[:, None]
        trans = np.where(add, test_t, trans)
        done |= stop
    image = colour + trans[..., None] * np.asarray(case["background"], dtype=np.float64)[None, None, :]
    return image, stats


def random_unit_quats(rng, n):
    q = rng.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def make_scene(rng, n, sh_degree, width, height, fx, fy, cx, cy):
    k = (sh_degree + 1) ** 2
    # A rotated camera at (0.3, -0.2, -1) looking roughly along +z.
    yaw, pitch = 0.15, -0.1
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    world_from_cam_rot = ry @ rx
    eye = np.array([0.3, -0.2, -1.0])
    view = np.eye(4)
    view[:3, :3] = world_from_cam_rot.T
    view[:3, 3] = -world_from_cam_rot.T @ eye
    # Gaussians in camera space, then to world: mostly in view, some off-screen, some near the camera.
    z = rng.uniform(1.0, 6.0, size=n)
    x = rng.uniform(-0.9, 0.9, size=n) * z * (width / (2 * fx)) * 1.3
    y = rng.uniform(-0.9, 0.9, size=n) * z * (height / (2 * fy)) * 1.3
    n_near = max(2, n // 10)
    z[:n_near] = rng.uniform(0.05, 0.45, size=n_near)
    x[:n_near] *= 0.3
    y[:n_near] *= 0.3
    cam_pts = np.stack([x, y, z], axis=1)
    means = cam_pts @ world_from_cam_rot.T + eye
    scales = np.exp(rng.uniform(np.log(0.03), np.log(0.35), size=(n, 3)))
    scales[:n_near] *= 0.1
    scene = dict(
        means=means.astype(np.float32),
        scales=scales.astype(np.float32),
        quats=random_unit_quats(rng, n).astype(np.float32),
        opacities=rng.uniform(0.02, 1.0, size=n).astype(np.float32),
        sh=np.concatenate([rng.normal(0, 0.8, size=(n, 1, 3)), rng.normal(0, 0.25, size=(n, k - 1, 3))],
                          axis=1).astype(np.float32),
        sh_degree=sh_degree,
        width=width,
        height=height,
        intrinsics=np.array([fx, fy, cx, cy], dtype=np.float32),
        camera_from_world=view.astype(np.float32),
    )
    # A few nearly opaque Gaussians in the middle so that pixels terminate early (T < 1e-4).
    scene["opacities"][n_near:n_near + 6] = 0.995
    scene["scales"][n_near:n_near + 6] = 0.6
    return scene


def add_degenerates(scene):
    """Appends Gaussians that must be dropped as invalid: NaN mean, zero quaternion, negative scale,
    NaN opacity, infinite scale."""
    def push(mean, scale, quat, opacity):
        scene["means"] = np.vstack([scene["means"], np.float32(mean)[None]])
        scene["scales"] = np.vstack([scene["scales"], np.float32(scale)[None]])
        scene["quats"] = np.vstack([scene["quats"], np.float32(quat)[None]])
        scene["opacities"] = np.append(scene["opacities"], np.float32(opacity))
        scene["sh"] = np.concatenate([scene["sh"], np.zeros_like(scene["sh"][:1])])
    ok_mean = scene["means"][-1].copy()
    push([np.nan, 0, 3], [0.1] * 3, [1, 0, 0, 0], 0.5)
    push(ok_mean, [0.1] * 3, [0, 0, 0, 0], 0.5)
    push(ok_mean, [0.1, -0.1, 0.1], [1, 0, 0, 0], 0.5)
    push(ok_mean, [0.1] * 3, [1, 0, 0, 0], np.nan)
    push(ok_mean, [np.inf, 0.1, 0.1], [1, 0, 0, 0], 0.5)


CASES = [
    # name, seed, n, sh_degree, (W, H, fx, fy, cx, cy), compat, antialiased, sh option, background, degenerates
    ("inria_sh3_37x29", 1, 60, 3, (37, 29, 30.0, 31.0, 18.5, 14.5), 0, False, -1, (0.1, 0.2, 0.3), True),
    ("gsplat_sh3_37x29", 1, 60, 3, (37, 29, 30.0, 31.0, 18.5, 14.5), 1, False, -1, (0.1, 0.2, 0.3), True),
    ("inria_sh2cap1_offcentre_aa_41x23", 2, 50, 2, (41, 23, 25.0, 25.0, 17.25, 12.75), 0, True, 1, (0, 0, 0), False),
    ("gsplat_sh0_aa_33x47", 3, 70, 0, (33, 47, 40.0, 38.0, 16.5, 23.5), 1, True, -1, (1, 1, 1), False),
    ("inria_sh1_dense_50x34", 4, 150, 1, (50, 34, 35.0, 35.0, 25.0, 17.0), 0, False, -1, (0.5, 0.0, 1.0), False),
]


def main():
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests" / "goldens")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, seed, n, deg, (w, h, fx, fy, cx, cy), compat, aa, sh_opt, bg, degenerate in CASES:
        rng = np.random.default_rng(seed)
        scene = make_scene(rng, n, deg, w, h, fx, fy, cx, cy)
        if degenerate:
            add_degenerates(scene)
        case = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in scene.items()}
        case.update(compat=compat, antialiased=aa, background=bg,
                    sh_degree_used=deg if sh_opt < 0 else min(deg, sh_opt))
        image, stats = render(case)
        assert np.all(np.isfinite(image))
        np.savez(out_dir / f"{name}.npz", **{k: v for k, v in scene.items() if isinstance(v, np.ndarray)},
                 sh_degree=np.int64(deg), width=np.int64(w), height=np.int64(h), compat=np.int64(compat),
                 antialiased=np.int64(aa), sh_degree_option=np.int64(sh_opt),
                 background=np.array(bg, dtype=np.float32), image=image.astype(np.float32),
                 stats=np.array([stats["visible"], stats["culled"], stats["invalid"]], dtype=np.int64))
        print(f"{name}: {stats}, mean {image.mean():.4f}")


if __name__ == "__main__":
    main()
