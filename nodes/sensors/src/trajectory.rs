//! Trajectory files: one camera-to-world 4×4 (OpenCV camera axes, row-major) per step.
//!
//! * `.txt` / `.csv`: 16 numbers per line (spaces or commas), `#` comments and blank lines skipped.
//! * `.json`: an array of 4×4 nested arrays.
//!
//! Every pose must be finite and rigid; errors name `file:line` (or `file: pose N` for JSON).

use std::path::Path;

use worldflow_protocol::{mat4_from_rows, validate_rigid};

pub type Rows = [[f32; 4]; 4];

/// A trajectory that cannot be read; names the file and line (or pose).
#[derive(Debug, thiserror::Error)]
pub enum TrajectoryError {
    #[error("{file}: cannot read")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: expected a JSON array of 4×4 arrays")]
    Json {
        file: String,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{place}: not a number; expected 16 numbers (a row-major 4×4)")]
    NotANumber {
        place: String,
        #[source]
        source: std::num::ParseFloatError,
    },
    #[error("{place}: expected 16 numbers (a row-major 4×4), found {found}")]
    WrongCount { place: String, found: usize },
    #[error("{file}: no poses (expected one 4×4 per step)")]
    Empty { file: String },
    /// The pose is not finite and rigid (the geometry error is the message, not a source).
    #[error("{place}: {error}")]
    NotRigid { place: String, error: worldflow_protocol::GeometryError },
}

pub fn parse_trajectory(text: &str, file: &str, json: bool) -> Result<Vec<Rows>, TrajectoryError> {
    let poses: Vec<(String, Rows)> = if json {
        let v: Vec<Rows> = serde_json::from_str(text).map_err(|e| TrajectoryError::Json {
            file: file.into(),
            line: e.line(),
            column: e.column(),
            source: e,
        })?;
        v.into_iter().enumerate().map(|(i, m)| (format!("{file}: pose {}", i + 1), m)).collect()
    } else {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let place = format!("{file}:{}", i + 1);
            let nums: Result<Vec<f32>, _> = line
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::parse::<f32>)
                .collect();
            let nums = match nums {
                Ok(nums) => nums,
                Err(source) => return Err(TrajectoryError::NotANumber { place, source }),
            };
            if nums.len() != 16 {
                return Err(TrajectoryError::WrongCount { place, found: nums.len() });
            }
            let mut m = [[0.0; 4]; 4];
            for (k, v) in nums.iter().enumerate() {
                m[k / 4][k % 4] = *v;
            }
            out.push((place, m));
        }
        out
    };
    if poses.is_empty() {
        return Err(TrajectoryError::Empty { file: file.into() });
    }
    poses
        .into_iter()
        .map(|(place, m)| {
            validate_rigid(&mat4_from_rows(&m), "world_from_camera")
                .map(|_| m)
                .map_err(|error| TrajectoryError::NotRigid { place, error })
        })
        .collect()
}

pub fn read_trajectory(path: &Path) -> Result<Vec<Rows>, TrajectoryError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TrajectoryError::Read { file: shown.clone(), source })?;
    let json = path.extension().is_some_and(|e| e == "json");
    parse_trajectory(&text, &shown, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1 0 0 0  0 1 0 0  0 0 1 0  0 0 0 1";

    #[test]
    fn text_trajectory_parses_with_comments() {
        let t = parse_trajectory(&format!("# poses\n{ID}\n\n1,0,0,0.5, 0,1,0,0, 0,0,1,0, 0,0,0,1\n"), "t.txt", false)
            .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1][0][3], 0.5);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_trajectory(&format!("{ID}\n1 0 0\n"), "t.txt", false).unwrap_err().to_string();
        assert!(e.starts_with("t.txt:2:") && e.contains("found 3"), "{e}");
        let e = parse_trajectory(&format!("{ID}\nnan 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1\n"), "t.txt", false)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.txt:2:") && e.contains("finite"), "{e}");
        let e = parse_trajectory("2 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1", "t.txt", false).unwrap_err().to_string();
        assert!(e.contains("orthonormal"), "{e}");
        let e = parse_trajectory("[[[1,0,0,0]]]", "t.json", true).unwrap_err().to_string();
        assert!(e.starts_with("t.json:1:"), "{e}");
    }
}
