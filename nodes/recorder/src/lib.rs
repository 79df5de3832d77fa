//! **recorder** node: writes what a run produced, complete up to the last frame.
//!
//! Inputs are typed by their Arrow data: `UInt8` / `Float32` payloads with a frame header are image frames,
//! one-row structs with `keys` are actions, with `frame_id` poses. Output directory: `OUT_DIR`, else the
//! launcher's `WORLDFLOW_OUT_DIR`, else `out/`; with `SUBDIR` (a relative folder such as `robot0`), that
//! folder of it, so several recorders of one graph (one per robot host of a fleet graph) keep their files
//! apart — under `fleet local` every machine shares one output directory.
//!
//! ```text
//! OUT/frames/agent<A>_<camera>/<tick>.png   one PNG per frame
//! OUT/frames.jsonl    per frame: agent, camera, tick, file, action-to-frame latency, zero-copy flag
//! OUT/poses.jsonl     StampedPose records       OUT/actions.jsonl   Action records
//! OUT/report.json     counts, frames/s, latency p50/p99, zero-copy count (written at the end)
//! OUT/video/agent<A>_<camera>.y4m   with VIDEO=y4m: every recorded frame as a video stream (VIDEO_FPS, default 10)
//! ```

pub mod frame_writer;
pub mod mapping;
pub mod report;
pub mod video;
pub mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use dora_node_api::arrow_v59::array::{Array, AsArray};
use dora_node_api::arrow_v59::datatypes::{DataType, Float32Type};
use dora_node_api::{DoraNode, Event, EventStream, Parameter};
use worldflow_node_kit::Env;
use worldflow_protocol::arrow_io::{action as action_io, frame as frame_io, pose as pose_io};
use worldflow_protocol::Encoding;

use frame_writer::{FrameJob, FrameWriter};
use report::{FrameRecord, Report};
use video::VideoFormat;
use writer::JsonLines;

pub struct Recorder {
    out: PathBuf,
    poses: JsonLines,
    actions: JsonLines,
    /// PNGs, videos and `frames.jsonl`, written on their own thread.
    disk: FrameWriter,
    /// Send time of the first action seen for (agent, tick): the start of action-to-frame latency.
    action_sent: BTreeMap<(u32, u64), SystemTime>,
    report: Report,
}

/// The `VIDEO` (`y4m` or `none`) and `VIDEO_FPS` (frame rate in the stream header) settings.
#[derive(Debug, Clone, Copy)]
pub struct VideoSettings {
    pub format: VideoFormat,
    pub fps: u32,
}

/// The settings this node reads (the launcher's catalogue lists exactly these).
pub const SETTINGS: &[&str] = &["OUT_DIR", "SUBDIR", "VIDEO", "VIDEO_FPS"];

/// Where this recorder writes: the output directory, or its `SUBDIR` folder (relative, no `..`).
pub fn recording_dir(env: &Env) -> anyhow::Result<PathBuf> {
    let out = env.out_dir()?;
    let Some(sub) = env.get("SUBDIR")? else { return Ok(out) };
    let path = std::path::Path::new(&sub);
    let plain = path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(worldflow_node_kit::SettingError::invalid(
            "SUBDIR",
            sub,
            "a relative folder under the output directory, like robot0 (no `..`, not absolute)",
        )
        .into());
    }
    Ok(out.join(path))
}

impl VideoSettings {
    /// The video settings of the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Env::from_process(SETTINGS))
    }

    /// The video settings of `env`.
    pub fn from_settings(env: &Env) -> anyhow::Result<Self> {
        let format =
            env.choice("VIDEO", VideoFormat::None, &[("y4m", VideoFormat::Y4m), ("none", VideoFormat::None)])?;
        let fps =
            env.parse_valid("VIDEO_FPS", 10, "whole frames per second in 1..=1000", |f| (1..=1000).contains(f))?;
        Ok(Self { format, fps })
    }
}

impl Recorder {
    pub fn create(out: PathBuf, video: VideoSettings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(out.join("frames")).with_context(|| format!("creating {}", out.display()))?;
        Ok(Self {
            poses: JsonLines::create(&out.join("poses.jsonl"))?,
            actions: JsonLines::create(&out.join("actions.jsonl"))?,
            disk: FrameWriter::start(out.clone(), JsonLines::create(&out.join("frames.jsonl"))?, video)?,
            out,
            action_sent: BTreeMap::new(),
            report: Report::default(),
        })
    }

    pub fn on_input(
        &mut self,
        input: &str,
        params: &dora_node_api::MetadataParameters,
        sent: SystemTime,
        array: &dyn Array,
    ) -> anyhow::Result<()> {
        let now = SystemTime::now();
        match array.data_type() {
            DataType::Struct(fields) if fields.iter().any(|f| f.name() == "keys") => {
                let a = action_io::decode(array).with_context(|| format!("input `{input}`"))?;
                self.action_sent.entry((a.meta.agent_id, a.meta.tick)).or_insert(sent);
                self.actions.write(&a)?;
            }
            DataType::Struct(fields) if fields.iter().any(|f| f.name() == "frame_id") => {
                let p = pose_io::decode(array).with_context(|| format!("input `{input}`"))?;
                self.poses.write(&p)?;
            }
            DataType::UInt8 | DataType::Float32 => {
                let bytes_len = array.len() * if *array.data_type() == DataType::Float32 { 4 } else { 1 };
                let h = frame_io::decode(params, bytes_len).with_context(|| format!("input `{input}`"))?;
                let mut rgb8 = self.disk.buffer(h.width as usize * h.height as usize * 3);
                let ptr = match h.encoding {
                    Encoding::Rgb8 => {
                        let bytes = frame_io::payload_bytes(array)?;
                        rgb8.extend_from_slice(bytes);
                        bytes.as_ptr() as usize
                    }
                    Encoding::Rgb32F => {
                        let values =
                            array.as_primitive_opt::<Float32Type>().context("rgb32f frame must be a Float32 array")?;
                        writer::float_to_rgb8(values.values(), &mut rgb8);
                        values.values().as_ptr() as usize
                    }
                };
                let zero_copy = mapping::is_shared_memory(ptr);
                let dir = self.out.join("frames").join(format!("agent{}_{}", h.meta.agent_id, h.camera));
                let file = dir.join(format!("{:06}.png", h.meta.tick));
                let action_tick = match params.get("action_tick") {
                    Some(Parameter::Integer(t)) if *t >= 0 => Some(*t as u64),
                    Some(other) => {
                        anyhow::bail!("input `{input}`: parameter `action_tick` must be a tick ≥ 0, found {other:?}")
                    }
                    None => None,
                };
                let latency_tick = action_tick.unwrap_or(h.meta.tick);
                let latency_ms = self
                    .action_sent
                    .get(&(h.meta.agent_id, latency_tick))
                    .and_then(|t| now.duration_since(*t).ok())
                    .map(|d| d.as_secs_f64() * 1e3);
                let record = FrameRecord {
                    agent_id: h.meta.agent_id,
                    camera: h.camera.clone(),
                    tick: h.meta.tick,
                    action_tick,
                    sim_time_ns: h.meta.sim_time_ns,
                    file: file.strip_prefix(&self.out).unwrap_or(&file).display().to_string(),
                    latency_ms,
                    zero_copy,
                };
                self.report.add(&record, now);
                self.disk.submit(FrameJob { png: file, width: h.width, height: h.height, rgb8, record })?;
                // Keep the latency map bounded: ticks older than the frame just written are done.
                let key = (h.meta.agent_id, latency_tick.saturating_sub(64));
                self.action_sent = self.action_sent.split_off(&key);
            }
            other => {
                anyhow::bail!("input `{input}`: cannot record Arrow type {other} (expected a frame, pose or action)")
            }
        }
        Ok(())
    }

    /// Writes report.json as it stands (the run goes on).
    pub fn write_report(&self) -> anyhow::Result<()> {
        self.report.write(&self.out.join("report.json"))
    }

    /// Writes every queued frame, then report.json (also when the disk thread failed: its error is returned).
    pub fn finish(&mut self) -> anyhow::Result<()> {
        let disk = self.disk.finish();
        self.write_report()?;
        disk
    }
}

pub fn run(_node: DoraNode, mut events: EventStream) -> anyhow::Result<()> {
    let env = Env::from_process(SETTINGS);
    let mut rec = Recorder::create(recording_dir(&env)?, VideoSettings::from_settings(&env)?)?;
    let result = (|| {
        while let Some(event) = events.recv() {
            match event {
                Event::Input { id, metadata, data } => {
                    let sent = metadata.timestamp().get_time().to_system_time();
                    let _span = tracing::info_span!("record_input").entered();
                    rec.on_input(id.as_str(), &metadata.parameters, sent, data.as_array().as_ref())?;
                    if rec.report.frames % 50 == 1 {
                        rec.write_report()?;
                    }
                }
                // Only a manual stop (Ctrl-C, --stop-after) ends early; when all inputs close, drain what is queued.
                Event::Stop(dora_node_api::StopCause::Manual) => break,
                _ => {}
            }
        }
        Ok::<_, anyhow::Error>(())
    })();
    // The report is written whatever happened, so a failed run still says how far it got.
    rec.finish()?;
    result
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn the_settings_are_checked_and_every_declared_setting_is_read() {
        let video = |pairs: &[(&str, &str)]| VideoSettings::from_settings(&Env::from_pairs(SETTINGS, pairs));
        let v = video(&[]).unwrap();
        assert_eq!((v.format, v.fps), (VideoFormat::None, 10));
        let v = video(&[("VIDEO", " y4m "), ("VIDEO_FPS", "25")]).unwrap();
        assert_eq!((v.format, v.fps), (VideoFormat::Y4m, 25));
        assert_eq!(video(&[("VIDEO", "none")]).unwrap().format, VideoFormat::None);
        let e = video(&[("VIDEO", "mp4")]).unwrap_err().to_string();
        assert!(e.contains("VIDEO=`mp4`: expected y4m or none"), "{e}");
        let e = video(&[("VIDEO_FPS", "0")]).unwrap_err().to_string();
        assert!(e.contains("VIDEO_FPS=`0`: expected whole frames per second in 1..=1000"), "{e}");
        let env = Env::from_pairs(SETTINGS, &[("OUT_DIR", "/tmp/x")]);
        VideoSettings::from_settings(&env).unwrap();
        assert_eq!(recording_dir(&env).unwrap(), PathBuf::from("/tmp/x"));
        let sub = |s: &str| recording_dir(&Env::from_pairs(SETTINGS, &[("OUT_DIR", "/tmp/x"), ("SUBDIR", s)]));
        assert_eq!(sub(" robot0 ").unwrap(), PathBuf::from("/tmp/x/robot0"));
        assert_eq!(sub("fleet/robot1").unwrap(), PathBuf::from("/tmp/x/fleet/robot1"));
        for bad in ["../elsewhere", "/abs", "a/../../b", "./a"] {
            let e = sub(bad).unwrap_err().to_string();
            let expected = format!("setting SUBDIR=`{bad}`: expected a relative folder under the output directory");
            assert!(e.starts_with(&expected), "{e}");
        }
        assert_eq!(env.declared_not_read(&[]), Vec::<&str>::new(), "SETTINGS lists exactly what the node reads");
    }
}
