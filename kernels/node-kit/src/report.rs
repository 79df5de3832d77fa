//! A node's account of its run: `<out>/<section>.json`, which `worldflow run` adds to report.json under
//! `section`. Written whole or not at all (a temporary file renamed into place), so a full disk or a stopped run
//! never leaves a truncated account behind.

use std::path::Path;

use anyhow::Context as _;

/// Writes `value` as pretty JSON to `<out_dir>/<section>.json` (creating `out_dir`), atomically.
pub fn write_report_section(out_dir: &Path, section: &str, value: &impl serde::Serialize) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let path = out_dir.join(format!("{section}.json"));
    let tmp = out_dir.join(format!(".{section}.json.partial"));
    let text = serde_json::to_string_pretty(value).with_context(|| format!("{section} report"))? + "\n";
    if let Err(e) = std::fs::write(&tmp, text) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_written_whole() {
        let dir = std::env::temp_dir().join(format!("wf-node-kit-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_report_section(&dir, "director", &serde_json::json!({"drops": 2})).unwrap();
        let text = std::fs::read_to_string(dir.join("director.json")).unwrap();
        assert_eq!(text, "{\n  \"drops\": 2\n}\n");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
