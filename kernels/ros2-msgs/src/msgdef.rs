//! The `ros2msg` schema text of a message type ([`crate::Message::DEFINITION`]), assembled at compile time.
//!
//! The format is the one rosbag2 writes into MCAP `Schema` records (encoding `ros2msg`) and that readers
//! (Foxglove, `ros2 bag play`, `rosbags`) parse: the type's own `.msg` fields, then for every message type its
//! fields use — depth-first in field order, each type once — a line of 80 `=`, a line `MSG: pkg/Type` and
//! that type's fields. Comments and blank lines are left out, as `rosbags`' `generate_msgdef(typename,
//! ros_version=2)` does (rosbag2 copies the `.msg` files with their comments; both parse to the same fields).
//!
//! Each type declares its own fields and the message types they use in one [`MsgText`] beside its struct;
//! [`ros2msg_definition!`] walks that graph in a `const` and concatenates the text, so a nested type's text
//! is written once in the crate however many definitions include it.

/// One message type's own `.msg` text and the message types its fields use.
pub(crate) struct MsgText {
    /// `pkg/Type`, as after `MSG: ` and in field declarations (no `/msg/`).
    pub(crate) name: &'static str,
    /// The fields, one `type name` line each, every line ending in `\n`, in `.msg` order.
    pub(crate) fields: &'static str,
    /// The message types of the fields, in field order (each once).
    pub(crate) uses: &'static [&'static MsgText],
}

/// The line between two types' texts, up to the type name.
const SEPARATOR: &str = "================================================================================\nMSG: ";

/// The most types one definition may include (the root included); `Odometry`, the deepest here, has 10.
const MAX_TYPES: usize = 24;

/// The types of one definition, the root first, then the nested types in the order their texts follow.
#[derive(Clone, Copy)]
pub(crate) struct Closure {
    types: [Option<&'static MsgText>; MAX_TYPES],
    len: usize,
}

impl Closure {
    /// The root type and every type it uses, depth-first in field order, each once.
    pub(crate) const fn of(root: &'static MsgText) -> Self {
        let mut closure = Self { types: [None; MAX_TYPES], len: 0 };
        closure = closure.push(root);
        closure.visit(root)
    }

    const fn push(mut self, t: &'static MsgText) -> Self {
        assert!(self.len < MAX_TYPES, "a message definition includes more types than MAX_TYPES");
        self.types[self.len] = Some(t);
        self.len += 1;
        self
    }

    const fn visit(mut self, t: &'static MsgText) -> Self {
        let mut i = 0;
        while i < t.uses.len() {
            let used = t.uses[i];
            if !self.contains(used.name) {
                self = self.push(used);
                self = self.visit(used);
            }
            i += 1;
        }
        self
    }

    const fn contains(&self, name: &str) -> bool {
        let mut i = 0;
        while i < self.len {
            if let Some(t) = self.types[i] {
                if str_eq(t.name, name) {
                    return true;
                }
            }
            i += 1;
        }
        false
    }

    /// The byte length of the definition text.
    pub(crate) const fn text_len(&self) -> usize {
        let mut len = 0;
        let mut i = 0;
        while i < self.len {
            if let Some(t) = self.types[i] {
                if i > 0 {
                    len += SEPARATOR.len() + t.name.len() + 1;
                }
                len += t.fields.len();
            }
            i += 1;
        }
        len
    }

    /// The definition text; `N` must be [`Closure::text_len`].
    pub(crate) const fn text<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        let mut at = 0;
        let mut i = 0;
        while i < self.len {
            if let Some(t) = self.types[i] {
                if i > 0 {
                    at = copy(&mut out, at, SEPARATOR);
                    at = copy(&mut out, at, t.name);
                    at = copy(&mut out, at, "\n");
                }
                at = copy(&mut out, at, t.fields);
            }
            i += 1;
        }
        assert!(at == N, "definition length differs from text_len");
        out
    }
}

/// Copies `s` into `out` at byte `at`; returns the end.
const fn copy<const N: usize>(out: &mut [u8; N], at: usize, s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        out[at + i] = bytes[i];
        i += 1;
    }
    at + bytes.len()
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The text of concatenated `&str`s (always UTF-8; checked at compile time).
pub(crate) const fn as_str(bytes: &'static [u8]) -> &'static str {
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => panic!("a message definition is not UTF-8"),
    }
}

/// The full `ros2msg` definition of the [`MsgText`] constant `$root`, as a `&'static str` built at compile
/// time.
macro_rules! ros2msg_definition {
    ($root:path) => {{
        const CLOSURE: $crate::msgdef::Closure = $crate::msgdef::Closure::of(&$root);
        const LEN: usize = CLOSURE.text_len();
        const BYTES: &[u8; LEN] = &CLOSURE.text::<LEN>();
        $crate::msgdef::as_str(BYTES)
    }};
}
pub(crate) use ros2msg_definition;

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: MsgText = MsgText { name: "p/Leaf", fields: "int32 a\n", uses: &[] };
    const MID: MsgText = MsgText { name: "p/Mid", fields: "p/Leaf x\np/Leaf y\n", uses: &[&LEAF] };
    const TOP: MsgText = MsgText { name: "q/Top", fields: "p/Mid m\np/Leaf[] l\nstring s\n", uses: &[&MID, &LEAF] };

    #[test]
    fn nested_types_follow_depth_first_each_once() {
        let sep = "=".repeat(80);
        let want = format!(
            "p/Mid m\np/Leaf[] l\nstring s\n{sep}\nMSG: p/Mid\np/Leaf x\np/Leaf y\n{sep}\nMSG: p/Leaf\nint32 a\n"
        );
        assert_eq!(ros2msg_definition!(TOP), want);
        assert_eq!(ros2msg_definition!(LEAF), "int32 a\n");
    }
}
