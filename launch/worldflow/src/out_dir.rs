//! The run's output folder (`--out`): created, and emptied of what an earlier run wrote there, so that its
//! records never sit beside stale frames of another run. Only worldflow's own products are removed (the
//! folders `frames/`, `video/`, `timings/`, `rosbag2/`, the `*.jsonl` records, `report.json`, the nodes'
//! report sections, and recorder subfolders holding a `report.json`); anything else in the folder stays.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

const PRODUCT_DIRS: &[&str] = &["frames", "video", "timings", "rosbag2"];

/// Creates `out` if needed, removes an earlier run's products from it, and returns its absolute path and
/// the names removed.
pub fn prepare(out: &Path) -> anyhow::Result<(PathBuf, Vec<String>)> {
    std::fs::create_dir_all(out).with_context(|| format!("creating output directory {}", out.display()))?;
    let out = out.canonicalize().with_context(|| format!("output directory {}", out.display()))?;
    let mut removed = Vec::new();
    let entries = std::fs::read_dir(&out).with_context(|| format!("reading {}", out.display()))?;
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let path = entry.path();
        let is_dir = path.is_dir();
        let product = if is_dir {
            PRODUCT_DIRS.contains(&name.as_str()) || path.join("report.json").is_file()
        } else {
            name.ends_with(".jsonl")
                || name == "report.json"
                || crate::report_sections::SECTIONS.iter().any(|s| name == format!("{s}.json"))
        };
        if !product {
            continue;
        }
        let result = if is_dir { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        result.with_context(|| format!("removing the earlier run's {}", path.display()))?;
        removed.push(if is_dir { format!("{name}/") } else { name });
    }
    Ok((out, removed))
}

/// [`prepare`], saying on stderr what of an earlier run it removed; returns the folder's absolute path.
pub fn prepare_announced(out: &Path) -> anyhow::Result<PathBuf> {
    let (out, removed) = prepare(out)?;
    if !removed.is_empty() {
        eprintln!("{}: removed the earlier run's {}", out.display(), removed.join(", "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_runs_products_go_and_everything_else_stays() {
        let dir = std::env::temp_dir().join(format!("wf-out-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["frames/agent0_front", "timings", "robot1", "notes"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        for f in ["frames/agent0_front/000001.png", "frames.jsonl", "poses.jsonl", "report.json", "director.json"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        for f in ["robot1/report.json", "notes/todo.txt", "config.yaml"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let (abs, removed) = prepare(&dir).unwrap();
        assert_eq!(
            removed,
            ["director.json", "frames/", "frames.jsonl", "poses.jsonl", "report.json", "robot1/", "timings/"]
        );
        assert!(abs.join("notes/todo.txt").is_file() && abs.join("config.yaml").is_file());
        assert_eq!(prepare(&dir).unwrap().1, Vec::<String>::new());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
