//! Per-class appearance: how a voxel (or a vehicle) becomes Gaussians.
//!
//! Static cells: only *surface* cells emit, and only on their open faces (neighbour empty or dynamic): a face
//! gets `n × n` flat discs (n = `face_subdivisions`) with seeded jitter of position and colour. Buildings get a
//! colour per connected footprint and a window grid (every 3 m; glass has an SH degree-1 term so it is
//! darker head-on and lighter at grazing angles); lane markings add a thin white stripe along the road;
//! vegetation is volumetric (a few round blobs per surface cell), trunks are one thin spindle per cell. Vehicles come from a template in their body
//! frame (body, cabin with glass, wheels, lights; paint from the body's appearance key).
//!
//! Invariants: every value is a pure function of (cell index or body template index, seed) through hashes —
//! independent of iteration order; rotations are unit quaternions; scales > 0; opacities in (0, 1]; colours
//! are stored as SH (DC + 3 band-1 coefficients, band-1 zero where there is no view dependence).

use glam::{IVec3, Mat3, Quat, UVec3, Vec2, Vec3};
use worldflow_base::rng::{hash_keys, signed_f32, unit_f32};
use worldflow_protocol::rgb_to_sh_dc;

use crate::grid::{SemanticClass, SemanticGrid};

/// One Gaussian before it gets an id (SH always stored at degree 1: DC + 3 band-1 coefficients).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Splat {
    pub mean: Vec3,
    pub scale: Vec3,
    pub rotation: Quat,
    pub opacity: f32,
    pub sh: [[f32; 3]; 4],
}

/// Band-1 coefficients whose colour change along the view direction `d` (camera → point) is `C1·(g_c · d)`
/// per channel: coefficient order follows the renderer (−C1·y·sh1 + C1·z·sh2 − C1·x·sh3).
pub fn sh1_from_gradient(g: [Vec3; 3]) -> [[f32; 3]; 3] {
    let mut out = [[0.0; 3]; 3];
    for (c, gc) in g.iter().enumerate() {
        out[0][c] = -gc.y;
        out[1][c] = gc.z;
        out[2][c] = -gc.x;
    }
    out
}

/// Inverse of [`sh1_from_gradient`].
pub fn gradient_from_sh1(sh1: &[[f32; 3]]) -> [Vec3; 3] {
    std::array::from_fn(|c| Vec3::new(-sh1[2][c], -sh1[0][c], sh1[1][c]))
}

/// Rotates the band-1 SH of `sh` (a degree-1 set) by `r`.
pub fn rotate_sh1(sh: &mut [[f32; 3]; 4], r: Quat) {
    let g = gradient_from_sh1(&sh[1..4]);
    let rotated = sh1_from_gradient(g.map(|gc| r * gc));
    sh[1..4].copy_from_slice(&rotated);
}

pub(crate) fn splat(mean: Vec3, scale: Vec3, rotation: Quat, opacity: f32, rgb: Vec3, view_gradient: Vec3) -> Splat {
    let rgb = rgb.clamp(Vec3::splat(0.0), Vec3::splat(1.0));
    let sh1 = sh1_from_gradient([view_gradient; 3]);
    Splat { mean, scale, rotation, opacity, sh: [rgb_to_sh_dc(rgb.to_array()), sh1[0], sh1[1], sh1[2]] }
}

/// Unit quaternion whose local z is `normal` (local x = `t1`).
fn face_frame(normal: Vec3) -> (Vec3, Vec3, Quat) {
    let t1 = if normal.x.abs() > 0.5 { Vec3::Y } else { Vec3::X };
    let t2 = normal.cross(t1);
    (t1, t2, Quat::from_mat3(&Mat3::from_cols(t1, t2, normal)).normalize())
}

const FACES: [IVec3; 6] = [IVec3::X, IVec3::NEG_X, IVec3::Y, IVec3::NEG_Y, IVec3::Z, IVec3::NEG_Z];

/// Emits the Gaussians of every static surface cell of `grid` (dynamic classes count as empty), in
/// ascending cell order. `face_subdivisions` ≥ 1.
pub fn static_splats(grid: &SemanticGrid, seed: u64, face_subdivisions: u32, mut emit: impl FnMut(Splat)) {
    let spec = *grid.spec();
    let cs = spec.cell_size_m;
    let labels = building_labels(grid);
    let open = |c: IVec3, dir: IVec3| -> bool {
        let class = grid.get_or(c + dir, if dir.z > 0 { SemanticClass::Empty } else { SemanticClass::Road });
        class.is_empty() || class.is_dynamic()
    };
    let n = face_subdivisions.max(1);
    for index in 0..spec.cell_count() as u32 {
        let class = grid.get_index(index);
        if class.is_empty() || class.is_dynamic() {
            continue;
        }
        let c = spec.coords(index);
        let ci = c.as_ivec3();
        if !FACES.iter().any(|&d| d.z >= 0 && open(ci, d)) {
            continue;
        }
        let centre = spec.centre_of(c);
        let key = |k: u64| hash_keys(&[seed, 100, index as u64, k]);
        match class {
            SemanticClass::Vegetation => {
                // Volumetric foliage: 3 blobs per surface cell.
                let base = Vec3::new(0.16, 0.36, 0.12) * (0.8 + 0.4 * unit_f32(key(0)));
                for b in 0..3u64 {
                    let offset = Vec3::new(signed_f32(key(10 + b)), signed_f32(key(20 + b)), signed_f32(key(30 + b)));
                    let tint = Vec3::new(signed_f32(key(40 + b)), signed_f32(key(50 + b)), 0.0) * 0.05;
                    let rot = Quat::from_euler(
                        glam::EulerRot::ZYX,
                        6.3 * unit_f32(key(60 + b)),
                        1.0 * signed_f32(key(70 + b)),
                        0.0,
                    );
                    let s = cs * (0.28 + 0.12 * unit_f32(key(80 + b)));
                    emit(splat(
                        centre + offset * 0.3 * cs,
                        Vec3::new(s, 0.8 * s, 0.65 * s),
                        rot,
                        0.85,
                        base + tint,
                        Vec3::ZERO,
                    ));
                }
            }
            SemanticClass::TreeTrunk => {
                // A trunk is thinner than a cell: one vertical spindle per cell, at the centre.
                let rgb = class_colour(class, unit_f32(key(0)), 0);
                let r = (0.15f32).min(0.3 * cs);
                emit(splat(centre, Vec3::new(r, r, 0.6 * cs), Quat::IDENTITY, 0.98, rgb, Vec3::ZERO));
            }
            _ => {
                for (f, &dir) in FACES.iter().enumerate() {
                    if dir.z < 0 || !open(ci, dir) {
                        continue;
                    }
                    face_splats(
                        &FaceCtx {
                            class,
                            cell: c,
                            centre,
                            cs,
                            dir,
                            n,
                            label: labels_at(&labels, spec.dims, c),
                            seed,
                            index,
                            face: f as u64,
                        },
                        grid,
                        &mut emit,
                    );
                }
            }
        }
    }
}

fn labels_at(labels: &[u32], dims: UVec3, c: UVec3) -> u32 {
    labels[(c.x + dims.x * c.y) as usize]
}

struct FaceCtx {
    class: SemanticClass,
    cell: UVec3,
    centre: Vec3,
    cs: f32,
    dir: IVec3,
    n: u32,
    label: u32,
    seed: u64,
    index: u32,
    face: u64,
}

fn class_colour(class: SemanticClass, cell_noise: f32, label_key: u64) -> Vec3 {
    match class {
        SemanticClass::Road | SemanticClass::LaneMarking => Vec3::new(0.21, 0.21, 0.23) * (0.92 + 0.16 * cell_noise),
        SemanticClass::Sidewalk => Vec3::new(0.60, 0.58, 0.54) * (0.9 + 0.15 * cell_noise),
        SemanticClass::Grass => Vec3::new(0.28, 0.48, 0.18) * (0.85 + 0.3 * cell_noise),
        SemanticClass::TreeTrunk => Vec3::new(0.33, 0.24, 0.15) * (0.9 + 0.2 * cell_noise),
        SemanticClass::Building => {
            const FACADES: [[f32; 3]; 6] = [
                [0.78, 0.74, 0.66],
                [0.62, 0.40, 0.32],
                [0.70, 0.70, 0.72],
                [0.85, 0.80, 0.62],
                [0.50, 0.52, 0.55],
                [0.74, 0.60, 0.48],
            ];
            let f = FACADES[(label_key % FACADES.len() as u64) as usize];
            Vec3::from(f) * (0.95 + 0.08 * cell_noise)
        }
        SemanticClass::Roof => {
            Vec3::new(0.42, 0.40, 0.38) * (0.85 + 0.25 * unit_f32(label_key)) * (0.95 + 0.1 * cell_noise)
        }
        _ => Vec3::splat(0.5),
    }
}

fn face_splats(f: &FaceCtx, grid: &SemanticGrid, emit: &mut impl FnMut(Splat)) {
    let normal = f.dir.as_vec3();
    let (t1, t2, rot) = face_frame(normal);
    let step = f.cs / f.n as f32;
    let sigma = 0.6 * step;
    let thin = 0.03 * f.cs;
    let key = |k: u64| hash_keys(&[f.seed, 200, f.index as u64, f.face, k]);
    let label_key = hash_keys(&[f.seed, 300, f.label as u64]);
    let face_centre = f.centre + normal * (0.5 * f.cs);
    let base = class_colour(f.class, unit_f32(key(0)), label_key);
    for a in 0..f.n {
        for b in 0..f.n {
            let k = (a * f.n + b) as u64;
            let u = ((a as f32 + 0.5) / f.n as f32 - 0.5) * f.cs + 0.15 * step * signed_f32(key(10 + k));
            let v = ((b as f32 + 0.5) / f.n as f32 - 0.5) * f.cs + 0.15 * step * signed_f32(key(20 + k));
            let mean = face_centre + t1 * u + t2 * v;
            let mut rgb = base * (0.96 + 0.08 * unit_f32(key(30 + k)));
            let mut grad = Vec3::ZERO;
            if f.class == SemanticClass::Building && f.dir.z == 0 {
                let along = if f.dir.x != 0 { mean.y } else { mean.x };
                let (a3, z3) = (along.rem_euclid(3.0), mean.z.rem_euclid(3.0));
                if (0.6..2.4).contains(&a3) && (1.0..2.4).contains(&z3) {
                    // Glass: blue-grey, darker head-on (view d ≈ −normal) and lighter at grazing angles.
                    rgb = Vec3::new(0.22, 0.28, 0.36) * (0.9 + 0.2 * unit_f32(key(40 + k)));
                    grad = normal * 0.25;
                }
            }
            emit(splat(mean, Vec3::new(sigma, sigma, thin), rot, 0.95, rgb, grad));
        }
    }
    if f.class == SemanticClass::LaneMarking && f.dir == IVec3::Z {
        // Stripe along the road: the axis along which neighbouring cells are markings too.
        let c = f.cell.as_ivec3();
        let count = |d: IVec3| {
            (-2..=2)
                .filter(|&s| s != 0 && grid.get_or(c + d * s, SemanticClass::Empty) == SemanticClass::LaneMarking)
                .count()
        };
        let along_x = count(IVec3::X) >= count(IVec3::Y);
        let (q, len) = if along_x {
            (Quat::IDENTITY, Vec2::X)
        } else {
            (Quat::from_rotation_z(std::f32::consts::FRAC_PI_2), Vec2::Y)
        };
        let _ = len;
        for s in 0..f.n {
            let off = ((s as f32 + 0.5) / f.n as f32 - 0.5) * f.cs;
            let along = if along_x { Vec3::X } else { Vec3::Y };
            let mean = face_centre + along * off + Vec3::Z * 0.01;
            emit(splat(mean, Vec3::new(0.6 * step, 0.06, thin), q, 0.95, Vec3::new(0.92, 0.92, 0.86), Vec3::ZERO));
        }
    }
}

/// Connected building footprints (4-connected columns whose first storey is building or roof); each column
/// gets the index of the first column of its component in scan order, others `u32::MAX`.
pub fn building_labels(grid: &SemanticGrid) -> Vec<u32> {
    let dims = grid.spec().dims;
    let n = (dims.x * dims.y) as usize;
    let is_building = |i: u32, j: u32| {
        dims.z > 1 && matches!(grid.get(UVec3::new(i, j, 1)), SemanticClass::Building | SemanticClass::Roof)
    };
    let mut labels = vec![u32::MAX; n];
    let mut stack = Vec::new();
    for j in 0..dims.y {
        for i in 0..dims.x {
            let idx = (i + dims.x * j) as usize;
            if labels[idx] != u32::MAX || !is_building(i, j) {
                continue;
            }
            labels[idx] = idx as u32;
            stack.push((i, j));
            while let Some((x, y)) = stack.pop() {
                for (dx, dy) in [(1i64, 0i64), (-1, 0), (0, 1), (0, -1)] {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= dims.x as i64 || ny >= dims.y as i64 {
                        continue;
                    }
                    let (nx, ny) = (nx as u32, ny as u32);
                    let nidx = (nx + dims.x * ny) as usize;
                    if labels[nidx] == u32::MAX && is_building(nx, ny) {
                        labels[nidx] = idx as u32;
                        stack.push((nx, ny));
                    }
                }
            }
        }
    }
    labels
}

/// Gaussians of a cell of a dynamic class with no rigid body (e.g. from a learned Director): a few blobs.
pub fn dynamic_cell_splats(class: SemanticClass, centre: Vec3, cs: f32, seed: u64, index: u32) -> Vec<Splat> {
    let key = |k: u64| hash_keys(&[seed, 400, index as u64, k]);
    let rgb = match class {
        SemanticClass::Pedestrian => Vec3::new(0.55, 0.35, 0.30),
        _ => Vec3::new(0.55, 0.12, 0.12),
    };
    (0..2u64)
        .map(|b| {
            let offset = Vec3::new(signed_f32(key(b)), signed_f32(key(10 + b)), signed_f32(key(20 + b))) * 0.2 * cs;
            splat(centre + offset, Vec3::splat(0.4 * cs), Quat::IDENTITY, 0.9, rgb, Vec3::ZERO)
        })
        .collect()
}

const PAINTS: [[f32; 3]; 8] = [
    [0.92, 0.92, 0.92],
    [0.06, 0.06, 0.07],
    [0.62, 0.64, 0.66],
    [0.70, 0.08, 0.08],
    [0.10, 0.22, 0.55],
    [0.10, 0.30, 0.18],
    [0.90, 0.72, 0.10],
    [0.35, 0.36, 0.38],
];

/// Samples the visible faces of a box `[lo, hi]` (body frame) at spacing about `step_m`, calling
/// `colour(point, normal) -> (rgb, view_gradient)`.
fn box_surface(
    lo: Vec3,
    hi: Vec3,
    step_m: f32,
    skip_bottom: bool,
    out: &mut Vec<Splat>,
    colour: &dyn Fn(Vec3, Vec3) -> (Vec3, Vec3),
) {
    for &dir in &FACES {
        if skip_bottom && dir == IVec3::NEG_Z {
            continue;
        }
        let normal = dir.as_vec3();
        let (t1, t2, rot) = face_frame(normal);
        let centre = 0.5 * (lo + hi) + normal * (0.5 * (hi - lo)).dot(normal.abs());
        let size = hi - lo;
        let (e1, e2) = (size.dot(t1.abs()), size.dot(t2.abs()));
        let (n1, n2) = (((e1 / step_m).round() as u32).max(1), ((e2 / step_m).round() as u32).max(1));
        let (s1, s2) = (e1 / n1 as f32, e2 / n2 as f32);
        for a in 0..n1 {
            for b in 0..n2 {
                let p = centre + t1 * ((a as f32 + 0.5) * s1 - 0.5 * e1) + t2 * ((b as f32 + 0.5) * s2 - 0.5 * e2);
                let (rgb, grad) = colour(p, normal);
                out.push(splat(p, Vec3::new(0.6 * s1, 0.6 * s2, 0.02), rot, 0.97, rgb, grad));
            }
        }
    }
}

/// The Gaussians of a vehicle in its body frame (origin at the box centre, x forward, z up).
pub fn vehicle_template(half_extent_m: Vec3, appearance_key: f32) -> Vec<Splat> {
    let e = half_extent_m;
    let paint = Vec3::from(PAINTS[((appearance_key * PAINTS.len() as f32) as usize).min(PAINTS.len() - 1)]);
    let sheen = 0.12;
    let glass = Vec3::new(0.10, 0.12, 0.15);
    let wheel_r = (0.42 * e.z).clamp(0.28, 0.40);
    let clearance = 0.45 * wheel_r;
    let is_van = e.z / e.x > 0.35;
    let belt = -e.z + clearance + if is_van { 0.45 } else { 0.55 } * (2.0 * e.z - clearance);
    let mut out = Vec::with_capacity(400);
    // Lower body.
    box_surface(Vec3::new(-e.x, -e.y, -e.z + clearance), Vec3::new(e.x, e.y, belt), 0.3, true, &mut out, &|_, n| {
        (paint, n * sheen)
    });
    // Cabin: glass on the sides/front/back with paint pillars, painted roof.
    let (c0, c1) = if is_van { (-e.x, 0.55 * e.x) } else { (-0.6 * e.x, 0.3 * e.x) };
    let cabin_lo = Vec3::new(c0, -0.9 * e.y, belt);
    let cabin_hi = Vec3::new(c1, 0.9 * e.y, e.z);
    box_surface(cabin_lo, cabin_hi, 0.3, true, &mut out, &|p, n| {
        let pillar = (p.x - c0) < 0.2 || (c1 - p.x) < 0.2 || (p.z - belt) < 0.08;
        if n.z > 0.5 || pillar {
            (paint, n * sheen)
        } else {
            (glass, n * 0.3)
        }
    });
    // Wheels: dark discs on both sides.
    for &x in &[-(e.x - 0.8), e.x - 0.8] {
        for &side in &[-1.0f32, 1.0] {
            let normal = Vec3::Y * side;
            let (_, _, rot) = face_frame(normal);
            let mean = Vec3::new(x, side * (e.y + 0.01), -e.z + wheel_r);
            out.push(splat(
                mean,
                Vec3::new(0.55 * wheel_r, 0.55 * wheel_r, 0.03),
                rot,
                0.99,
                Vec3::splat(0.05),
                Vec3::ZERO,
            ));
        }
    }
    // Lights: white in front, red at the back.
    let light_z = belt - 0.15;
    for &side in &[-1.0f32, 1.0] {
        let y = side * 0.65 * e.y;
        let (_, _, front) = face_frame(Vec3::X);
        let (_, _, back) = face_frame(Vec3::NEG_X);
        out.push(splat(
            Vec3::new(e.x + 0.02, y, light_z),
            Vec3::new(0.1, 0.12, 0.02),
            front,
            0.99,
            Vec3::new(1.0, 0.97, 0.85),
            Vec3::ZERO,
        ));
        out.push(splat(
            Vec3::new(-e.x - 0.02, y, light_z),
            Vec3::new(0.1, 0.12, 0.02),
            back,
            0.99,
            Vec3::new(0.85, 0.05, 0.05),
            Vec3::ZERO,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh1_gradient_round_trips_and_rotates_like_a_vector() {
        let g = [Vec3::new(0.1, -0.2, 0.3), Vec3::new(0.0, 0.5, -0.1), Vec3::new(0.2, 0.2, 0.2)];
        let sh1 = sh1_from_gradient(g);
        assert_eq!(gradient_from_sh1(&sh1), g);
        let r = Quat::from_rotation_z(0.7);
        let mut sh = [[0.0; 3], sh1[0], sh1[1], sh1[2]];
        rotate_sh1(&mut sh, r);
        let g2 = gradient_from_sh1(&sh[1..4]);
        for c in 0..3 {
            assert!((g2[c] - r * g[c]).length() < 1e-6);
        }
    }

    #[test]
    fn vehicle_template_stays_inside_its_box() {
        let e = Vec3::new(2.25, 0.9, 0.75);
        let t = vehicle_template(e, 0.4);
        assert!(t.len() > 100 && t.len() < 1000, "{}", t.len());
        for s in &t {
            assert!((s.mean.abs() - e).max_element() < 0.05, "{}", s.mean);
            assert!(s.scale.min_element() > 0.0 && s.rotation.is_normalized());
        }
    }
}
