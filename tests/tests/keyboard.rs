//! The README's "drive it yourself" path: `worldflow run graphs/drive.yml --set sensors.SOURCE=keyboard` in a
//! real pseudo-terminal (util-linux `script` gives the launcher one, as a user's terminal would). The dora
//! daemon starts the sensors node in its own process group, so the node must take the terminal's foreground
//! to read keys; `w` then drives the car forward, `d` turns it right, `q` ends the run with exit status 0.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use worldflow_tests::{out_dir, read_jsonl, workspace_root, worldflow_binary};

fn has_script() -> bool {
    Command::new("script").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

#[test]
fn keyboard_source_drives_the_car_from_a_terminal() {
    if !has_script() {
        assert!(std::env::var_os("CI").is_none(), "CI is set but util-linux `script` is missing");
        println!("SKIP: util-linux `script` not found (it provides the pseudo-terminal)");
        return;
    }
    let out = out_dir("keyboard");
    let run = format!(
        "{} run {} --set sensors.SOURCE=keyboard --out {} --stop-after 90s",
        worldflow_binary().display(),
        workspace_root().join("graphs/drive.yml").display(),
        out.display()
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &run, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting `script`");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = sync_channel::<Vec<u8>>(64);
    let reader = std::thread::Builder::new()
        .name("terminal-output".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        })
        .unwrap();

    // Wait (bounded) until the sensors node has taken the terminal: it opens the keyboard before its first
    // tick, so recorded actions mean it is reading keys.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let actions = out.join("actions.jsonl");
    while std::fs::read_to_string(&actions).map_or(0, |t| t.lines().count()) < 3 {
        while let Ok(bytes) = rx.try_recv() {
            seen.extend(bytes);
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("the keyboard source never started; terminal output:\n{}", String::from_utf8_lossy(&seen));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut press = |key: &[u8], times: usize| {
        for _ in 0..times {
            stdin.write_all(key).unwrap();
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    press(b"w", 20);
    press(b"d", 15);
    press(b"q", 1);

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`q` did not end the run within 60 s");
        }
        while let Ok(bytes) = rx.try_recv() {
            seen.extend(bytes);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(stdin);
    while let Ok(bytes) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.extend(bytes);
    }
    let _ = reader.join();
    let text = String::from_utf8_lossy(&seen);
    assert!(status.success(), "worldflow run exited with {status}; terminal output:\n{text}");

    let poses = read_jsonl(&out.join("poses.jsonl"));
    assert!(poses.len() > 30, "{} poses", poses.len());
    let world_from_base =
        |i: usize| -> Vec<Vec<f64>> { serde_json::from_value(poses[i]["world_from_frame"].clone()).unwrap() };
    let (first, last) = (world_from_base(0), world_from_base(poses.len() - 1));
    let forward = |m: &Vec<Vec<f64>>| (m[0][0], m[1][0]);
    let moved_m = ((last[0][3] - first[0][3]).powi(2) + (last[1][3] - first[1][3]).powi(2)).sqrt();
    assert!(moved_m > 2.0, "`w` drove the car {moved_m} m");
    // Heading turned clockwise (right) seen from above: the cross product of first and last forward is < 0.
    let (f0, f1) = (forward(&first), forward(&last));
    let turn = f0.0 * f1.1 - f0.1 * f1.0;
    assert!(turn < -0.05, "`d` turned the car right: sin(yaw change) = {turn}");
}
