//! Interactive keyboard input from the controlling terminal (`/dev/tty`, raw mode), so it works even though
//! dora captures the node's stdin/stdout. Keys held since the previous tick are merged into that tick's action.
//! w/a/s/d translate, arrow keys rotate, `q` ends the stream. The terminal mode is restored on drop.

use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};

use worldflow_protocol::Keys;

/// What the reader thread reports.
pub enum KeyEvent {
    Key(Keys),
    Quit,
}

pub struct Keyboard {
    rx: Receiver<KeyEvent>,
    saved: Option<(i32, libc::termios)>,
}

/// Maps a byte sequence read from a terminal to key events (arrow keys are `ESC [ A..D`).
pub fn decode(bytes: &[u8]) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x1b if i + 2 < bytes.len() && bytes[i + 1] == b'[' => {
                let k = match bytes[i + 2] {
                    b'A' => Some(Keys::UP),
                    b'B' => Some(Keys::DOWN),
                    b'C' => Some(Keys::RIGHT),
                    b'D' => Some(Keys::LEFT),
                    _ => None,
                };
                out.extend(k.map(KeyEvent::Key));
                i += 3;
                continue;
            }
            b'q' | 3 => out.push(KeyEvent::Quit),
            b => {
                if let Some(k) = Keys::from_name(&(b as char).to_ascii_lowercase().to_string()) {
                    out.push(KeyEvent::Key(k));
                }
            }
        }
        i += 1;
    }
    out
}

impl Keyboard {
    pub fn open() -> Result<Self, String> {
        let mut tty = std::fs::OpenOptions::new()
            .read(true)
            .open("/dev/tty")
            .map_err(|e| format!("SOURCE=keyboard needs a terminal: cannot open /dev/tty: {e}"))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&tty);
        // SAFETY: plain termios calls on a file descriptor we own; `saved` restores it on drop.
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return Err("SOURCE=keyboard: /dev/tty is not a terminal".into());
            }
            let saved = t;
            t.c_lflag &= !(libc::ICANON | libc::ECHO);
            t.c_cc[libc::VMIN] = 1;
            t.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            saved
        };
        let (tx, rx) = sync_channel(256);
        let dup = unsafe { libc::dup(fd) };
        std::thread::Builder::new()
            .name("keyboard".into())
            .spawn(move || {
                let mut buf = [0u8; 16];
                while let Ok(n) = tty.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    for ev in decode(&buf[..n]) {
                        let quit = matches!(ev, KeyEvent::Quit);
                        if tx.send(ev).is_err() || quit {
                            return;
                        }
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        eprintln!("keyboard: w/a/s/d move, arrows turn, q quits");
        Ok(Self { rx, saved: Some((dup, saved)) })
    }

    /// Keys pressed since the last call; `None` once the user quit.
    pub fn drain(&mut self) -> Option<Keys> {
        let mut keys = Keys::NONE;
        loop {
            match self.rx.try_recv() {
                Ok(KeyEvent::Key(k)) => keys = keys.union(k),
                Ok(KeyEvent::Quit) | Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => return Some(keys),
            }
        }
    }
}

impl Drop for Keyboard {
    fn drop(&mut self) {
        if let Some((fd, t)) = self.saved.take() {
            // SAFETY: restoring the attributes read in `open` on a duplicate of the same tty.
            unsafe {
                libc::tcsetattr(fd, libc::TCSANOW, &t);
                libc::close(fd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_letters_arrows_and_quit() {
        let evs = decode(b"wD\x1b[C\x1b[Aq");
        let keys: Vec<Option<Keys>> =
            evs.iter().map(|e| if let KeyEvent::Key(k) = e { Some(*k) } else { None }).collect();
        assert_eq!(keys, vec![Some(Keys::W), Some(Keys::D), Some(Keys::RIGHT), Some(Keys::UP), None]);
    }
}
