//! The latency report of a run: frames, frames/s over the run, action-to-frame latency percentiles, and how
//! many frames arrived through shared memory (zero-copy).

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameRecord {
    pub agent_id: u32,
    pub camera: String,
    pub tick: u64,
    /// The action tick the frame answers, when it differs from `tick` (a generated video has more frames
    /// than actions; the producer sends it as the `action_tick` parameter). Latency is measured from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_tick: Option<u64>,
    pub sim_time_ns: u64,
    pub file: String,
    pub latency_ms: Option<f64>,
    pub zero_copy: bool,
}

#[derive(Debug, Default)]
pub struct Report {
    pub frames: u64,
    pub zero_copy_frames: u64,
    latencies_ms: Vec<f64>,
    first: Option<SystemTime>,
    last: Option<SystemTime>,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

#[derive(Serialize)]
struct Summary {
    frames: u64,
    zero_copy_frames: u64,
    wall_secs: f64,
    frames_per_sec: Option<f64>,
    latency_ms_p50: Option<f64>,
    latency_ms_p99: Option<f64>,
    latency_ms_max: Option<f64>,
}

impl Report {
    pub fn add(&mut self, r: &FrameRecord, now: SystemTime) {
        self.frames += 1;
        self.zero_copy_frames += r.zero_copy as u64;
        if let Some(l) = r.latency_ms {
            self.latencies_ms.push(l);
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let wall_secs = match (self.first, self.last) {
            (Some(a), Some(b)) => b.duration_since(a).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            _ => 0.0,
        };
        let s = Summary {
            frames: self.frames,
            zero_copy_frames: self.zero_copy_frames,
            wall_secs,
            frames_per_sec: (self.frames > 1 && wall_secs > 0.0).then(|| (self.frames - 1) as f64 / wall_secs),
            latency_ms_p50: percentile(&sorted, 50.0),
            latency_ms_p99: percentile(&sorted, 99.0),
            latency_ms_max: sorted.last().copied(),
        };
        let tmp = path.with_extension("json.partial");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&s)?).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    }
}
