//! The recorder's disk side on its own thread: PNG encoding, the video streams and `frames.jsonl`.
//!
//! The node's event loop only copies a frame out of its (shared-memory) sample, timestamps it and hands it
//! over, so a frame's arrival is never held up by the encoding of the frames before it (six 800×450 PNGs of
//! one tick take ≈ 10 ms), and the sample goes back to the sender's pool at once. The queue is bounded
//! ([`FrameWriter::QUEUE_FRAMES`]): a disk slower than the stream makes the loop wait, it never buffers without
//! end. Each frame's record is written after its PNG, so a stopped run lists only complete files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use anyhow::Context as _;

use crate::report::FrameRecord;
use crate::video::{VideoFormat, Y4mWriter};
use crate::writer::{self, JsonLines};
use crate::VideoSettings;

/// One frame to write: 8-bit RGB pixels, where, and its record.
pub struct FrameJob {
    pub png: PathBuf,
    pub width: u32,
    pub height: u32,
    pub rgb8: Vec<u8>,
    pub record: FrameRecord,
}

pub struct FrameWriter {
    jobs: Option<SyncSender<FrameJob>>,
    /// Pixel buffers handed back by the thread, for the next frames.
    free: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

struct Disk {
    out: PathBuf,
    frames: JsonLines,
    video: VideoSettings,
    /// One stream per (agent, camera) when `VIDEO=y4m`.
    videos: BTreeMap<(u32, String), Y4mWriter>,
}

impl FrameWriter {
    /// Frames that may wait for the disk: four ticks of a six-camera rig.
    pub const QUEUE_FRAMES: usize = 24;

    pub fn start(out: PathBuf, frames: JsonLines, video: VideoSettings) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel::<FrameJob>(Self::QUEUE_FRAMES);
        let (give_back, free) = mpsc::sync_channel(Self::QUEUE_FRAMES + 1);
        let mut disk = Disk { out, frames, video, videos: BTreeMap::new() };
        let thread = std::thread::Builder::new()
            .name("recorder-disk".into())
            .spawn(move || {
                for job in queue {
                    disk.write(&job)?;
                    // A full return queue only means enough spare buffers already.
                    let _ = give_back.try_send(job.rgb8);
                }
                Ok(())
            })
            .context("starting the recorder's disk thread")?;
        Ok(Self { jobs: Some(jobs), free, thread: Some(thread) })
    }

    /// A pixel buffer of `len` bytes for the next frame (recycled when one came back).
    pub fn buffer(&self, len: usize) -> Vec<u8> {
        let mut buf = self.free.try_recv().unwrap_or_default();
        buf.clear();
        buf.reserve(len);
        buf
    }

    /// Queues `job`; waits while the queue is full. Fails with the disk thread's error once it has stopped.
    pub fn submit(&mut self, job: FrameJob) -> anyhow::Result<()> {
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(job).is_ok());
        if sent == Some(true) {
            return Ok(());
        }
        self.finish()?;
        anyhow::bail!("the recorder's disk thread has stopped")
    }

    /// Writes every queued frame and stops the thread; its first error, if any.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        drop(self.jobs.take());
        match self.thread.take().map(|t| t.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => anyhow::bail!("the recorder's disk thread panicked"),
        }
    }
}

impl Drop for FrameWriter {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            eprintln!("recorder: {e:#}");
        }
    }
}

impl Disk {
    fn write(&mut self, job: &FrameJob) -> anyhow::Result<()> {
        let (w, h) = (job.width, job.height);
        if let Some(dir) = job.png.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        writer::write_png_rgb8(&job.png, w, h, &job.rgb8)?;
        if self.video.format == VideoFormat::Y4m {
            let key = (job.record.agent_id, job.record.camera.clone());
            if !self.videos.contains_key(&key) {
                let dir = self.out.join("video");
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let path = dir.join(format!("agent{}_{}.y4m", key.0, key.1));
                self.videos.insert(key.clone(), Y4mWriter::create(&path, w, h, self.video.fps)?);
            }
            let stream = self.videos.get_mut(&key).expect("inserted above");
            stream
                .write_rgb8(w, h, &job.rgb8)
                .with_context(|| format!("frame {} of camera {}", job.record.tick, job.record.camera))?;
        }
        self.frames.write(&job.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("worldflow-recorder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn job(out: &std::path::Path, tick: u64, writer: &FrameWriter) -> FrameJob {
        let (width, height) = (8u32, 4u32);
        let mut rgb8 = writer.buffer((width * height * 3) as usize);
        rgb8.extend((0..width * height * 3).map(|i| (i as u64 * 7 + tick) as u8));
        let png = out.join("frames").join("agent0_front").join(format!("{tick:06}.png"));
        let record = FrameRecord {
            agent_id: 0,
            camera: "front".into(),
            tick,
            action_tick: None,
            sim_time_ns: tick * 100,
            file: format!("frames/agent0_front/{tick:06}.png"),
            latency_ms: Some(1.0),
            zero_copy: false,
        };
        FrameJob { png, width, height, rgb8, record }
    }

    #[test]
    fn every_queued_frame_is_written_with_its_record_after_it() {
        let out = temp_dir("writes");
        let video = VideoSettings { format: VideoFormat::Y4m, fps: 10 };
        let mut w =
            FrameWriter::start(out.clone(), JsonLines::create(&out.join("frames.jsonl")).unwrap(), video).unwrap();
        for tick in 0..(FrameWriter::QUEUE_FRAMES as u64 + 5) {
            let j = job(&out, tick, &w);
            w.submit(j).unwrap();
        }
        w.finish().unwrap();
        let lines = std::fs::read_to_string(out.join("frames.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), FrameWriter::QUEUE_FRAMES + 5);
        for line in lines.lines() {
            let r: FrameRecord = serde_json::from_str(line).unwrap();
            let png = std::fs::read(out.join(&r.file)).unwrap();
            assert_eq!(&png[1..4], b"PNG", "{}", r.file);
        }
        let y4m = std::fs::read(out.join("video/agent0_front.y4m")).unwrap();
        let frames = y4m.windows(6).filter(|w| w == b"FRAME\n").count();
        assert_eq!(frames, FrameWriter::QUEUE_FRAMES + 5);
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn a_disk_error_is_returned_naming_the_file() {
        let out = temp_dir("error");
        // A file where the camera's folder should be.
        std::fs::create_dir_all(out.join("frames")).unwrap();
        std::fs::write(out.join("frames/agent0_front"), b"not a folder").unwrap();
        let video = VideoSettings { format: VideoFormat::None, fps: 10 };
        let mut w =
            FrameWriter::start(out.clone(), JsonLines::create(&out.join("frames.jsonl")).unwrap(), video).unwrap();
        let mut result = Ok(());
        for tick in 0..3 {
            let j = job(&out, tick, &w);
            result = result.and_then(|()| w.submit(j));
        }
        let err = result.and_then(|()| w.finish()).expect_err("the folder cannot be created");
        assert!(format!("{err:#}").contains("agent0_front"), "{err:#}");
        assert_eq!(std::fs::read_to_string(out.join("frames.jsonl")).unwrap(), "", "no record without its PNG");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
