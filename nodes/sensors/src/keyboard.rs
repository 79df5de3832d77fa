//! Interactive keyboard input from the controlling terminal (`/dev/tty`, raw mode), so it works even though
//! dora captures the node's stdin/stdout. Keys held since the previous tick are merged into that tick's action.
//! w/a/s/d translate, arrow keys rotate, `q` (or Ctrl-C) ends the stream.
//!
//! The dora daemon starts nodes in their own process group, so the node is in the terminal's background and
//! the kernel would stop it (SIGTTIN / SIGTTOU) at its first read. It therefore takes the terminal: with
//! SIGTTOU ignored it makes its own group the foreground one (`tcsetpgrp`), switches to raw mode (no echo,
//! no line buffering, Ctrl-C arrives as a key), and on drop restores both the mode and the previous
//! foreground group.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};

use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use nix::unistd::{self, Pid};

use worldflow_protocol::Keys;

/// What the reader thread reports.
pub enum KeyEvent {
    Key(Keys),
    Quit,
}

pub struct Keyboard {
    rx: Receiver<KeyEvent>,
    /// The terminal, its mode and its foreground group before the node took it, restored on drop.
    saved: Option<Saved>,
}

/// Why the keyboard source cannot start.
#[derive(Debug, thiserror::Error)]
pub enum KeyboardError {
    #[error("SOURCE=keyboard needs a terminal: cannot open /dev/tty")]
    NoTty(#[source] std::io::Error),
    #[error("SOURCE=keyboard: /dev/tty is not a terminal")]
    NotATerminal(#[source] nix::Error),
    /// Raw mode and reads need the terminal's foreground process group; taking it failed (e.g. the node
    /// runs in another session than the terminal's).
    #[error("SOURCE=keyboard: cannot make this node the terminal's foreground process group (start the graph with `worldflow run` from that terminal)")]
    Background(#[source] nix::Error),
    #[error("SOURCE=keyboard: cannot ignore SIGTTOU to take the terminal")]
    Signal(#[source] nix::Error),
    #[error("SOURCE=keyboard: cannot switch /dev/tty to raw mode")]
    RawMode(#[source] nix::Error),
    #[error("SOURCE=keyboard: cannot duplicate the /dev/tty handle")]
    Dup(#[source] std::io::Error),
    #[error("SOURCE=keyboard: cannot start the reader thread")]
    Thread(#[source] std::io::Error),
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
    pub fn open() -> Result<Self, KeyboardError> {
        let mut tty = OpenOptions::new().read(true).open("/dev/tty").map_err(KeyboardError::NoTty)?;
        let termios_before = termios::tcgetattr(&tty).map_err(KeyboardError::NotATerminal)?;
        let foreground_before = unistd::tcgetpgrp(&tty).map_err(KeyboardError::NotATerminal)?;
        let own_group = unistd::getpgrp();
        if foreground_before != own_group {
            // SAFETY: installs the "ignore" disposition (no handler code runs); nothing in the node relies on
            // SIGTTOU, whose default action would stop the whole process at `tcsetpgrp` below.
            unsafe { signal::signal(Signal::SIGTTOU, SigHandler::SigIgn) }.map_err(KeyboardError::Signal)?;
        }
        // From here on `restore` gives the terminal back on every path, including the errors below.
        let mut restore = Restore(Some(Saved {
            tty: tty.try_clone().map_err(KeyboardError::Dup)?,
            termios: termios_before.clone(),
            foreground: foreground_before,
        }));
        if foreground_before != own_group {
            unistd::tcsetpgrp(&tty, own_group).map_err(KeyboardError::Background)?;
        }
        let mut raw = termios_before;
        raw.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
        raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        termios::tcsetattr(&tty, SetArg::TCSANOW, &raw).map_err(KeyboardError::RawMode)?;
        let (tx, rx) = sync_channel(256);
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
            .map_err(KeyboardError::Thread)?;
        eprintln!("keyboard: w/a/s/d move, arrows turn, q quits");
        Ok(Self { rx, saved: restore.take() })
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
        Restore(self.saved.take()).restore();
    }
}

/// What the node changed on the terminal: its mode and its foreground process group before.
struct Saved {
    tty: File,
    termios: Termios,
    foreground: Pid,
}

/// Restores a terminal's saved mode and foreground group when dropped (unless taken).
struct Restore(Option<Saved>);

impl Restore {
    fn take(&mut self) -> Option<Saved> {
        self.0.take()
    }

    fn restore(&mut self) {
        if let Some(saved) = self.0.take() {
            if let Err(e) = termios::tcsetattr(&saved.tty, SetArg::TCSANOW, &saved.termios) {
                eprintln!("keyboard: WARNING: cannot restore the terminal mode ({e}); run `stty sane`");
            }
            if unistd::tcgetpgrp(&saved.tty).ok() != Some(saved.foreground) {
                if let Err(e) = unistd::tcsetpgrp(&saved.tty, saved.foreground) {
                    eprintln!(
                        "keyboard: WARNING: cannot give the terminal back to process group {} ({e})",
                        saved.foreground
                    );
                }
            }
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        self.restore();
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
