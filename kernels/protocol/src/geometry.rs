//! Pure geometry: rigid transforms, pinhole intrinsics, cameras.
//!
//! # The pose convention (the one for all of worldflow)
//!
//! * **World frame**: right-handed, metres, **z up** (x east / forward of the town grid, y north / left,
//!   z up — REP-103 style).
//! * **Camera frame**: OpenCV optical axes: **x right, y down, z forward**.
//! * A transform is named `a_from_b`: it maps coordinates in frame `b` to frame `a`, so names chain when
//!   composed: `world_from_camera * camera_from_point`. `camera_from_world` is the view matrix (w2c),
//!   `world_from_camera` the camera pose (c2w).
//! * In memory transforms are [`glam::Mat4`] (column vectors, `p_a = a_from_b * p_b`). In files and on the
//!   wire they are **4×4 row-major** nested arrays / 16 floats, last row `0 0 0 1`.
//! * Pixels: pixel `(u, v)` covers `[u, u+1) × [v, v+1)`; its centre is `(u + 0.5, v + 0.5)` in the
//!   coordinates where `K` applies, so a centred principal point is `cx = W/2`.

use glam::{Mat3, Mat4, Vec3, Vec4};
use serde::{Deserialize, Serialize};

/// Tolerance for "is this a rigid transform" checks on f32 data read from files.
pub const RIGID_TOLERANCE: f32 = 1e-3;

/// Errors of geometric validation. The message says what was expected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GeometryError {
    #[error("{field}: expected finite numbers, found {value}")]
    NonFinite { field: String, value: f32 },
    #[error("{field}: expected last row [0, 0, 0, 1], found {row:?}")]
    NotAffine { field: String, row: [f32; 4] },
    #[error("{field}: rotation part is not orthonormal with det +1 (|RᵀR − I| = {error}, det = {det})")]
    NotRigid { field: String, error: f32, det: f32 },
    #[error("{field}: expected {expected}, found {found}")]
    OutOfRange { field: String, expected: String, found: String },
}

/// Converts a row-major nested array (as written in files) to a [`Mat4`].
pub fn mat4_from_rows(rows: &[[f32; 4]; 4]) -> Mat4 {
    Mat4::from_cols_array_2d(rows).transpose()
}

/// Converts a [`Mat4`] to a row-major nested array (as written in files).
pub fn mat4_to_rows(m: &Mat4) -> [[f32; 4]; 4] {
    m.transpose().to_cols_array_2d()
}

/// Checks that `m` is a finite rigid transform (rotation + translation). `field` names it in errors.
pub fn validate_rigid(m: &Mat4, field: &str) -> Result<(), GeometryError> {
    for v in m.to_cols_array() {
        if !v.is_finite() {
            return Err(GeometryError::NonFinite { field: field.to_owned(), value: v });
        }
    }
    let row = m.row(3).to_array();
    if row != [0.0, 0.0, 0.0, 1.0] {
        return Err(GeometryError::NotAffine { field: field.to_owned(), row });
    }
    let r = Mat3::from_mat4(*m);
    let rtr = r.transpose() * r;
    let error = (rtr - Mat3::IDENTITY).to_cols_array().iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let det = r.determinant();
    if error > RIGID_TOLERANCE || (det - 1.0).abs() > RIGID_TOLERANCE {
        return Err(GeometryError::NotRigid { field: field.to_owned(), error, det });
    }
    Ok(())
}

/// Inverse of a rigid transform (exact transpose of the rotation, no general 4×4 inverse).
pub fn rigid_inverse(m: &Mat4) -> Mat4 {
    let r_t = Mat3::from_mat4(*m).transpose();
    let t = m.w_axis.truncate();
    let t_inv = -(r_t * t);
    Mat4::from_cols(
        r_t.x_axis.extend(0.0),
        r_t.y_axis.extend(0.0),
        r_t.z_axis.extend(0.0),
        Vec4::new(t_inv.x, t_inv.y, t_inv.z, 1.0),
    )
}

/// The focal lengths a camera may have (pixels): from a fish-eye-wide view of a huge image to a telescope.
pub const MIN_FOCAL_PX: f32 = 1e-2;
pub const MAX_FOCAL_PX: f32 = 1e7;
/// How far (in image sizes) the principal point may lie outside the image.
pub const PRINCIPAL_POINT_SPAN: f32 = 4.0;

/// Pinhole intrinsics in pixels (see the pixel convention in the module header).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
}

impl Intrinsics {
    /// Intrinsics of a centred pinhole with horizontal field of view `fov_x_rad` and square pixels.
    pub fn from_fov_x(width: u32, height: u32, fov_x_rad: f32) -> Self {
        let fx = 0.5 * width as f32 / (0.5 * fov_x_rad).tan();
        Self { fx, fy: fx, cx: 0.5 * width as f32, cy: 0.5 * height as f32 }
    }

    /// The 3×3 matrix K (column-major glam).
    pub fn matrix(&self) -> Mat3 {
        Mat3::from_cols(Vec3::new(self.fx, 0.0, 0.0), Vec3::new(0.0, self.fy, 0.0), Vec3::new(self.cx, self.cy, 1.0))
    }

    pub fn validate(&self, field: &str) -> Result<(), GeometryError> {
        for (name, v) in [("fx", self.fx), ("fy", self.fy), ("cx", self.cx), ("cy", self.cy)] {
            if !v.is_finite() {
                return Err(GeometryError::NonFinite { field: format!("{field}.{name}"), value: v });
            }
        }
        for (name, v) in [("fx", self.fx), ("fy", self.fy)] {
            if !(MIN_FOCAL_PX..=MAX_FOCAL_PX).contains(&v) {
                return Err(GeometryError::OutOfRange {
                    field: format!("{field}.{name}"),
                    expected: format!("a positive focal length in pixels ({MIN_FOCAL_PX}..={MAX_FOCAL_PX:e})"),
                    found: v.to_string(),
                });
            }
        }
        Ok(())
    }

    /// [`Intrinsics::validate`], and the principal point within a few image sizes of the image (a camera
    /// of `width × height` pixels): projection stays finite and ordered for every such camera.
    pub fn validate_for_image(&self, width: u32, height: u32, field: &str) -> Result<(), GeometryError> {
        self.validate(field)?;
        for (name, c, size) in [("cx", self.cx, width), ("cy", self.cy, height)] {
            let size = size as f32;
            let (lo, hi) = (-PRINCIPAL_POINT_SPAN * size, (PRINCIPAL_POINT_SPAN + 1.0) * size);
            if !(lo..=hi).contains(&c) {
                return Err(GeometryError::OutOfRange {
                    field: format!("{field}.{name}"),
                    expected: format!(
                        "a principal point within {PRINCIPAL_POINT_SPAN} image sizes of the image ({lo}..={hi} pixels)"
                    ),
                    found: c.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// A pinhole camera: image size, intrinsics and its view transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    pub width: u32,
    pub height: u32,
    pub intrinsics: Intrinsics,
    pub camera_from_world: Mat4,
}

impl Camera {
    pub fn world_from_camera(&self) -> Mat4 {
        rigid_inverse(&self.camera_from_world)
    }

    /// Camera centre in world coordinates.
    pub fn centre_in_world(&self) -> Vec3 {
        self.world_from_camera().w_axis.truncate()
    }

    pub fn validate(&self) -> Result<(), GeometryError> {
        if self.width == 0 || self.height == 0 || self.width > 16384 || self.height > 16384 {
            return Err(GeometryError::OutOfRange {
                field: "width/height".into(),
                expected: "an image size between 1 and 16384 pixels".into(),
                found: format!("{}×{}", self.width, self.height),
            });
        }
        self.intrinsics.validate_for_image(self.width, self.height, "intrinsics")?;
        validate_rigid(&self.camera_from_world, "camera_from_world")
    }
}

/// Builds a `world_from_camera` pose (OpenCV camera axes) for a camera at `eye` looking at `target`
/// with the world's `up` direction pointing up in the image.
pub fn world_from_camera_look_at(eye: Vec3, target: Vec3, up: Vec3) -> Mat4 {
    let z = (target - eye).normalize();
    let x = z.cross(up).normalize(); // right = forward × up (image y is down)
    let y = z.cross(x); // down
    Mat4::from_cols(x.extend(0.0), y.extend(0.0), z.extend(0.0), eye.extend(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_translation_is_last_column() {
        let rows = [[1.0, 0.0, 0.0, 5.0], [0.0, 1.0, 0.0, 6.0], [0.0, 0.0, 1.0, 7.0], [0.0, 0.0, 0.0, 1.0]];
        let m = mat4_from_rows(&rows);
        assert_eq!(m.transform_point3(Vec3::ZERO), Vec3::new(5.0, 6.0, 7.0));
        assert_eq!(mat4_to_rows(&m), rows);
    }

    #[test]
    fn rigid_inverse_matches_general_inverse() {
        let m = Mat4::from_rotation_translation(
            glam::Quat::from_euler(glam::EulerRot::XYZ, 0.3, -0.7, 1.1),
            Vec3::new(1.0, -2.0, 3.0),
        );
        let diff = (rigid_inverse(&m) - m.inverse()).to_cols_array().iter().fold(0.0f32, |a, v| a.max(v.abs()));
        assert!(diff < 1e-6, "{diff}");
        validate_rigid(&m, "m").unwrap();
    }

    #[test]
    fn rejects_non_rigid_and_non_finite() {
        let scaled = Mat4::from_scale(Vec3::splat(2.0));
        assert!(matches!(validate_rigid(&scaled, "pose"), Err(GeometryError::NotRigid { .. })));
        let mut nan = Mat4::IDENTITY;
        nan.w_axis.x = f32::NAN;
        assert!(matches!(validate_rigid(&nan, "pose"), Err(GeometryError::NonFinite { .. })));
    }

    #[test]
    fn look_at_is_opencv() {
        // Camera at origin looking along world +x with z up: camera z = +x, camera y (down) = −z.
        let c2w = world_from_camera_look_at(Vec3::ZERO, Vec3::X, Vec3::Z);
        validate_rigid(&c2w, "c2w").unwrap();
        assert!((c2w.z_axis.truncate() - Vec3::X).length() < 1e-6);
        assert!((c2w.y_axis.truncate() + Vec3::Z).length() < 1e-6);
        assert!((c2w.x_axis.truncate() + Vec3::Y).length() < 1e-6); // right = −y (east-facing, north is left)
    }
}
