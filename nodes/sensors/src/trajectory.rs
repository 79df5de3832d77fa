//! Trajectory files: one camera-to-world 4×4 (OpenCV camera axes, row-major) per step.
//!
//! * `.txt` / `.csv`: 16 numbers per line (spaces or commas), `#` comments and blank lines skipped.
//! * `.json`: an array of 4×4 nested arrays.
//!
//! Every pose must be finite and rigid; errors name `file:line` (or `file: pose N` for JSON).

use std::path::Path;

use worldflow_protocol::{mat4_from_rows, validate_rigid};

pub type Rows = [[f32; 4]; 4];

pub fn parse_trajectory(text: &str, file: &str, json: bool) -> Result<Vec<Rows>, String> {
    let poses: Vec<(String, Rows)> = if json {
        let v: Vec<Rows> = serde_json::from_str(text)
            .map_err(|e| format!("{file}:{}:{}: expected a JSON array of 4×4 arrays: {e}", e.line(), e.column()))?;
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
            let nums =
                nums.map_err(|e| format!("{place}: not a number ({e}); expected 16 numbers (a row-major 4×4)"))?;
            if nums.len() != 16 {
                return Err(format!("{place}: expected 16 numbers (a row-major 4×4), found {}", nums.len()));
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
        return Err(format!("{file}: no poses (expected one 4×4 per step)"));
    }
    poses
        .into_iter()
        .map(|(place, m)| {
            validate_rigid(&mat4_from_rows(&m), "world_from_camera").map(|_| m).map_err(|e| format!("{place}: {e}"))
        })
        .collect()
}

pub fn read_trajectory(path: &Path) -> Result<Vec<Rows>, String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
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
        let e = parse_trajectory(&format!("{ID}\n1 0 0\n"), "t.txt", false).unwrap_err();
        assert!(e.starts_with("t.txt:2:") && e.contains("found 3"), "{e}");
        let e = parse_trajectory(&format!("{ID}\nnan 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1\n"), "t.txt", false).unwrap_err();
        assert!(e.starts_with("t.txt:2:") && e.contains("finite"), "{e}");
        let e = parse_trajectory("2 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1", "t.txt", false).unwrap_err();
        assert!(e.contains("orthonormal"), "{e}");
        let e = parse_trajectory("[[[1,0,0,0]]]", "t.json", true).unwrap_err();
        assert!(e.starts_with("t.json:1:"), "{e}");
    }
}
