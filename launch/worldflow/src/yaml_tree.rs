//! A YAML document as a tree whose every node knows its line and column, so that graph errors can name
//! `file:line:column`. Only what dataflow files use: maps, sequences, scalars (anchors are rejected).

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// 1-based position in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a map, with the key node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The deepest nesting of lists and maps accepted: far beyond any graph, far below what overflows the stack
/// (building, walking or dropping a tree of tens of thousands of levels).
pub const MAX_DEPTH: usize = 64;

fn pos(m: Marker) -> Pos {
    Pos { line: m.line(), column: m.col() + 1 }
}

enum Frame {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    error: Option<ParseError>,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(s, _, anchor, _) => {
                if anchor != 0 {
                    self.error = Some(ParseError {
                        line: pos(mark).line,
                        column: pos(mark).column,
                        message: "YAML anchors are not supported in dataflow files".into(),
                    });
                    return;
                }
                self.push_value(Node { pos: pos(mark), value: Value::Scalar(s) })
            }
            Event::Alias(_) => {
                self.error = Some(ParseError {
                    line: pos(mark).line,
                    column: pos(mark).column,
                    message: "YAML aliases are not supported in dataflow files".into(),
                })
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.error = Some(ParseError {
                    line: pos(mark).line,
                    column: pos(mark).column,
                    message: format!("nested deeper than {MAX_DEPTH} levels (a dataflow file needs fewer than 10)"),
                })
            }
            Event::SequenceStart(_, _) => self.stack.push(Frame::Seq(pos(mark), Vec::new())),
            Event::MappingStart(_, _) => self.stack.push(Frame::Map(pos(mark), Vec::new(), None)),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(p, items)) = self.stack.pop() {
                    self.push_value(Node { pos: p, value: Value::Seq(items) });
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(p, entries, _)) = self.stack.pop() {
                    self.push_value(Node { pos: p, value: Value::Map(entries) });
                }
            }
            _ => {}
        }
    }
}

/// Parses one YAML document. An empty document is an error.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Event by event (the parser's own `load` recurses once per nesting level), stopping at the end of the
    // first document or at the first error.
    loop {
        let (event, mark) = parser.next_token().map_err(|e| ParseError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_owned(),
        })?;
        let end = matches!(event, Event::DocumentEnd | Event::StreamEnd);
        builder.on_event(event, mark);
        if end || builder.error.is_some() {
            break;
        }
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    builder.root.ok_or(ParseError {
        line: 1,
        column: 1,
        message: "empty document: expected a map with `nodes:`".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let n = parse("nodes:\n  - id: a\n    path: x\n").unwrap();
        let nodes = n.get("nodes").unwrap().as_seq().unwrap();
        let id = nodes[0].get("id").unwrap();
        assert_eq!(id.as_str(), Some("a"));
        assert_eq!(id.pos, Pos { line: 2, column: 9 });
    }

    #[test]
    fn deep_nesting_is_an_error_at_its_line_not_a_stack_overflow() {
        // Block style, 35,000 levels (flow style is capped by the scanner); overflowed the stack before.
        let text = "- ".repeat(35_000) + "x\n";
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("nested deeper than 64 levels") && e.line == 1, "{e}");
        let mut text = String::from("nodes:\n");
        for depth in 1..80 {
            text += &format!("{}k{depth}:\n", "  ".repeat(depth));
        }
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.message.contains("deeper than 64")), (65, true), "{e}");
        parse(&"- ".repeat(60)).unwrap();
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse("nodes:\n  - id: [a\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
    }
}
