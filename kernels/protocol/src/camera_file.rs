//! `camera.json`: one pinhole camera as users write it.
//!
//! ```json
//! {"width": 648, "height": 420, "fx": 480.6, "fy": 481.5, "cx": 324.0, "cy": 210.0,
//!  "camera_from_world": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}
//! ```
//! `camera_from_world` is 4×4 row-major, OpenCV camera axes (see [`crate::geometry`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::geometry::{mat4_from_rows, mat4_to_rows, Camera, Intrinsics};

#[derive(Debug, thiserror::Error)]
pub enum CameraFileError {
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: String, line: usize, column: usize, message: String },
    #[error("{path}: {source}")]
    Invalid { path: String, source: crate::geometry::GeometryError },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraFile {
    pub width: u32,
    pub height: u32,
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
    pub camera_from_world: [[f32; 4]; 4],
}

impl From<&Camera> for CameraFile {
    fn from(c: &Camera) -> Self {
        Self {
            width: c.width,
            height: c.height,
            fx: c.intrinsics.fx,
            fy: c.intrinsics.fy,
            cx: c.intrinsics.cx,
            cy: c.intrinsics.cy,
            camera_from_world: mat4_to_rows(&c.camera_from_world),
        }
    }
}

impl CameraFile {
    pub fn to_camera(&self) -> Camera {
        Camera {
            width: self.width,
            height: self.height,
            intrinsics: Intrinsics { fx: self.fx, fy: self.fy, cx: self.cx, cy: self.cy },
            camera_from_world: mat4_from_rows(&self.camera_from_world),
        }
    }
}

/// Parses and validates a camera from JSON text; `path` names the source in errors.
pub fn parse_camera_json(text: &str, path: &str) -> Result<Camera, CameraFileError> {
    let file: CameraFile = serde_json::from_str(text).map_err(|e| CameraFileError::Parse {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let camera = file.to_camera();
    camera.validate().map_err(|source| CameraFileError::Invalid { path: path.to_owned(), source })?;
    Ok(camera)
}

/// Reads, parses and validates a `camera.json` file.
pub fn read_camera_json(path: &Path) -> Result<Camera, CameraFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CameraFileError::Io { path: shown.clone(), source })?;
    parse_camera_json(&text, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_camera() {
        let text = r#"{"width": 4, "height": 2, "fx": 2, "fy": 2, "cx": 2, "cy": 1,
            "camera_from_world": [[1,0,0,0],[0,1,0,0],[0,0,1,3],[0,0,0,1]]}"#;
        let cam = parse_camera_json(text, "cam.json").unwrap();
        assert_eq!(cam.width, 4);
        assert_eq!(cam.centre_in_world(), glam::Vec3::new(0.0, 0.0, -3.0));
    }

    #[test]
    fn unknown_field_names_line_and_column() {
        let text = "{\"width\": 4,\n \"hieght\": 2}";
        let err = parse_camera_json(text, "cam.json").unwrap_err().to_string();
        assert!(err.starts_with("cam.json:2:"), "{err}");
        assert!(err.contains("hieght"), "{err}");
    }

    #[test]
    fn non_rigid_pose_is_rejected() {
        let text = r#"{"width": 4, "height": 2, "fx": 2, "fy": 2, "cx": 2, "cy": 1,
            "camera_from_world": [[2,0,0,0],[0,1,0,0],[0,0,1,3],[0,0,0,1]]}"#;
        let err = parse_camera_json(text, "cam.json").unwrap_err().to_string();
        assert!(err.contains("camera_from_world"), "{err}");
    }
}
