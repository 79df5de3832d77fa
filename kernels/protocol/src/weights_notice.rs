//! Where a neural node's weights came from, said plainly: a log line at start, a JSON file in the output
//! directory (`<OUT>/weights/<node id>.json`) and a `weights` field carried with every latent and frame.

use std::path::{Path, PathBuf};

/// The origin of a component's weights.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightsSource {
    /// Seeded random weights: the output is structured noise, not a trained world model.
    Random { seed: u64 },
    /// A checkpoint file.
    Checkpoint { path: PathBuf },
}

impl WeightsSource {
    pub fn is_random(&self) -> bool {
        matches!(self, WeightsSource::Random { .. })
    }

    /// Short tag carried in message metadata: `random(seed=7)` or `checkpoint(/path/model.safetensors)`.
    pub fn tag(&self) -> String {
        match self {
            WeightsSource::Random { seed } => format!("random(seed={seed})"),
            WeightsSource::Checkpoint { path } => format!("checkpoint({})", path.display()),
        }
    }

    /// The log line announcing the weights.
    pub fn log_line(&self, node: &str, component: &str) -> String {
        match self {
            WeightsSource::Random { seed } => format!(
                "{node}: NOTICE: WEIGHTS is not set, so the {component} runs with SEEDED RANDOM WEIGHTS (seed {seed}): \
                 its output is structured noise, not a trained world model. Set WEIGHTS=/path/to/checkpoint.safetensors to load real weights."
            ),
            WeightsSource::Checkpoint { path } => format!("{node}: {component} weights loaded from {}", path.display()),
        }
    }
}

/// Prints the log line and writes `<out>/weights/<node_id>.json`; returns the file written.
pub fn announce(
    out: &Path,
    node_id: &str,
    component: &str,
    source: &WeightsSource,
    details: serde_json::Value,
) -> std::io::Result<PathBuf> {
    let err =
        |what: &Path, e: std::io::Error| std::io::Error::new(e.kind(), format!("writing {}: {e}", what.display()));
    eprintln!("{}", source.log_line(node_id, component));
    let dir = out.join("weights");
    std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
    let file = dir.join(format!("{node_id}.json"));
    let mut doc = serde_json::json!({
        "node": node_id,
        "component": component,
        "weights": if source.is_random() { "random" } else { "checkpoint" },
        "source": source.tag(),
        "notice": source.log_line(node_id, component),
        "details": details,
    });
    if let WeightsSource::Random { seed } = source {
        doc["seed"] = (*seed).into();
    }
    let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)? + "\n";
    // Written whole then renamed: the file is complete at every moment.
    let tmp = dir.join(format!(".{node_id}.json.tmp"));
    std::fs::write(&tmp, text).map_err(|e| err(&tmp, e))?;
    std::fs::rename(&tmp, &file).map_err(|e| err(&file, e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_weights_are_announced_in_a_file() {
        let dir = std::env::temp_dir().join(format!("worldflow-notice-{}", std::process::id()));
        let f =
            announce(&dir, "dit", "DiT", &WeightsSource::Random { seed: 7 }, serde_json::json!({"config": "small"}))
                .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(doc["weights"], "random");
        assert_eq!(doc["seed"], 7);
        assert!(doc["notice"].as_str().unwrap().contains("SEEDED RANDOM WEIGHTS"));
        let c = WeightsSource::Checkpoint { path: "/m.safetensors".into() };
        assert_eq!(c.tag(), "checkpoint(/m.safetensors)");
        assert!(!c.log_line("dit", "DiT").contains("RANDOM"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
