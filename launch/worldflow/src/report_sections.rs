//! `report.json` gathers the accounts of a run: the recorder writes it (frames, frames/s, latency), and nodes
//! with an account of their own write `<out>/<section>.json` beside it; after the run, `worldflow run` adds
//! each of those as a `section` key of report.json (creating report.json when no recorder wrote one). Recorders
//! that write into a subfolder (`SUBDIR`, one per robot of a fleet) are gathered under `recorders`, by folder.

use std::path::Path;

use anyhow::Context as _;

/// The sections nodes write: `ros2_bridge` (commands, lock-step timeouts per agent, rejected commands),
/// `director` (agents dropped from and re-admitted to the barrier, with their ticks; drones' collisions and
/// egos clamped at the town's boundary) and `zenoh_bridge`
/// (frames, poses and world states published, actions received and refused, agents' joins and leaves).
pub const SECTIONS: &[&str] = &["ros2_bridge", "director", "zenoh_bridge"];

/// Adds every section file present in `out` to `out/report.json`. Returns the sections added.
pub fn merge(out: &Path) -> anyhow::Result<Vec<&'static str>> {
    let report_path = out.join("report.json");
    let mut added = Vec::new();
    let mut report: serde_json::Map<String, serde_json::Value> = match std::fs::read_to_string(&report_path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("{}: not a JSON object", report_path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", report_path.display())),
    };
    for section in SECTIONS {
        let path = out.join(format!("{section}.json"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        report.insert((*section).to_owned(), value);
        added.push(*section);
    }
    let recorders = subfolder_reports(out)?;
    if !recorders.is_empty() {
        report.insert("recorders".to_owned(), serde_json::Value::Object(recorders));
        added.push("recorders");
    }
    if !added.is_empty() {
        let text = serde_json::to_string_pretty(&report).context("report.json")? + "\n";
        std::fs::write(&report_path, text).with_context(|| format!("writing {}", report_path.display()))?;
    }
    Ok(added)
}

/// The report.json of every immediate subfolder of `out` that has one, by folder name.
fn subfolder_reports(out: &Path) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut reports = serde_json::Map::new();
    let entries = std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?;
    for entry in entries.flatten() {
        let path = entry.path().join("report.json");
        let (Ok(text), Some(name)) = (std::fs::read_to_string(&path), entry.file_name().to_str().map(str::to_owned))
        else {
            continue;
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        reports.insert(name, value);
    }
    reports.sort_keys();
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_added_to_the_recorders_report_or_make_one() {
        let dir = std::env::temp_dir().join(format!("wf-report-sections-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(merge(&dir).unwrap().is_empty());
        assert!(!dir.join("report.json").exists(), "nothing to add, nothing written");
        std::fs::write(dir.join("ros2_bridge.json"), r#"{"ticks": 3}"#).unwrap();
        assert_eq!(merge(&dir).unwrap(), ["ros2_bridge"]);
        std::fs::write(dir.join("report.json"), r#"{"frames": 7}"#).unwrap();
        merge(&dir).unwrap();
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!((r["frames"].as_u64(), r["ros2_bridge"]["ticks"].as_u64()), (Some(7), Some(3)));
        std::fs::create_dir_all(dir.join("robot1")).unwrap();
        std::fs::write(dir.join("robot1/report.json"), r#"{"frames": 5}"#).unwrap();
        assert_eq!(merge(&dir).unwrap(), ["ros2_bridge", "recorders"]);
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(r["recorders"]["robot1"]["frames"].as_u64(), Some(5));
        std::fs::write(dir.join("ros2_bridge.json"), "{oops").unwrap();
        assert!(merge(&dir).unwrap_err().to_string().contains("ros2_bridge.json: not JSON"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
