//! [`Env`]: the settings reader (the rule is in the crate header).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Mutex;

use crate::{BoxError, SettingError};

/// Where values come from.
#[derive(Debug)]
enum Source {
    Process,
    Pairs(BTreeMap<String, String>),
}

/// A node's settings reader: the declared names, where values come from, and which names were read.
#[derive(Debug)]
pub struct Env {
    declared: &'static [&'static str],
    source: Source,
    read: Mutex<BTreeSet<&'static str>>,
}

impl Env {
    /// Reads the process environment (a running node).
    pub fn from_process(declared: &'static [&'static str]) -> Self {
        Self { declared, source: Source::Process, read: Mutex::default() }
    }

    /// Reads the given `(name, value)` pairs instead of the environment (tests; no global state).
    pub fn from_pairs(declared: &'static [&'static str], pairs: &[(&str, &str)]) -> Self {
        let pairs = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self { declared, source: Source::Pairs(pairs), read: Mutex::default() }
    }

    /// The names the node declared.
    pub fn declared(&self) -> &'static [&'static str] {
        self.declared
    }

    /// The declared names read so far, sorted.
    pub fn names_read(&self) -> Vec<&'static str> {
        self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().copied().collect()
    }

    /// The declared names not read so far, sorted, leaving out `read_elsewhere` (names the node reads
    /// through another reader, e.g. `OUT_DIR` in its `main`). A node's test exercises every setting and
    /// asserts this is empty: with the reader refusing undeclared names, the node's `SETTINGS` (and so the
    /// launcher's catalogue, which a test compares with it) is then exactly what the node reads.
    pub fn declared_not_read(&self, read_elsewhere: &[&str]) -> Vec<&'static str> {
        let read = self.names_read();
        let mut missing: Vec<&'static str> =
            self.declared.iter().copied().filter(|n| !read.contains(n) && !read_elsewhere.contains(n)).collect();
        missing.sort_unstable();
        missing
    }

    /// The raw value of `name` in the source, without the declaration check (trimmed, empty = unset).
    pub(crate) fn lookup(&self, name: &str) -> Result<Option<String>, SettingError> {
        let raw = match &self.source {
            Source::Process => match std::env::var(name) {
                Ok(v) => Some(v),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => return Err(SettingError::NotUnicode { name: name.into() }),
            },
            Source::Pairs(pairs) => pairs.get(name).cloned(),
        };
        Ok(raw.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    /// The value of setting `name`: trimmed; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Result<Option<String>, SettingError> {
        let Some(&declared) = self.declared.iter().find(|d| **d == name) else {
            return Err(SettingError::Undeclared { name: name.into() });
        };
        self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(declared);
        self.lookup(name)
    }

    /// The value of `name`, or `default` when unset.
    pub fn get_or(&self, name: &str, default: &str) -> Result<String, SettingError> {
        Ok(self.get(name)?.unwrap_or_else(|| default.to_owned()))
    }

    /// The value of `name`, which must be set: `why` says what needs it.
    pub fn require(&self, name: &str, why: &str) -> Result<String, SettingError> {
        self.get(name)?.ok_or_else(|| SettingError::Missing { name: name.into(), why: why.into() })
    }

    /// `name` parsed with `parse`; a failure is [`SettingError::Invalid`] with `expected` and the parser's
    /// error as its source.
    pub fn parse_with<T, E: Into<BoxError>>(
        &self,
        name: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, SettingError> {
        let Some(value) = self.get(name)? else { return Ok(None) };
        match parse(&value) {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(SettingError::Invalid {
                name: name.into(),
                value,
                expected: expected.into(),
                source: Some(e.into()),
            }),
        }
    }

    /// `name` parsed with [`FromStr`]; `None` when unset.
    pub fn parse<T>(&self, name: &str, expected: &str) -> Result<Option<T>, SettingError>
    where
        T: FromStr,
        T::Err: Into<BoxError>,
    {
        self.parse_with(name, expected, str::parse::<T>)
    }

    /// `name` parsed with [`FromStr`], or `default` when unset.
    pub fn parse_or<T>(&self, name: &str, default: T, expected: &str) -> Result<T, SettingError>
    where
        T: FromStr,
        T::Err: Into<BoxError>,
    {
        Ok(self.parse(name, expected)?.unwrap_or(default))
    }

    /// `name` parsed with [`FromStr`] (or `default` when unset) and accepted by `valid`; a value that parses
    /// but fails `valid` is [`SettingError::Invalid`] with `expected` too.
    pub fn parse_valid<T>(
        &self,
        name: &str,
        default: T,
        expected: &str,
        valid: impl Fn(&T) -> bool,
    ) -> Result<T, SettingError>
    where
        T: FromStr,
        T::Err: Into<BoxError>,
    {
        let Some(value) = self.get(name)? else { return Ok(default) };
        match value.parse::<T>() {
            Ok(v) if valid(&v) => Ok(v),
            Ok(_) => Err(SettingError::invalid(name, value, expected)),
            Err(e) => Err(SettingError::Invalid {
                name: name.into(),
                value,
                expected: expected.into(),
                source: Some(e.into()),
            }),
        }
    }

    /// One of a fixed set of words (`options`: word → value), or `default` when unset. The error lists
    /// the words (`expected none or int8`).
    pub fn choice<T: Clone>(&self, name: &str, default: T, options: &[(&str, T)]) -> Result<T, SettingError> {
        let Some(value) = self.get(name)? else { return Ok(default) };
        match options.iter().find(|(word, _)| *word == value) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(SettingError::invalid(name, value, one_of(options.iter().map(|(w, _)| *w)))),
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn one_of<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let words: Vec<&str> = words.collect();
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["A", "B", "N", "MODE"];

    #[test]
    fn trims_and_treats_empty_as_unset() {
        let env = Env::from_pairs(NAMES, &[("A", "  x y \n"), ("B", "   ")]);
        assert_eq!(env.get("A").unwrap().as_deref(), Some("x y"));
        assert_eq!(env.get("B").unwrap(), None);
        assert_eq!(env.get_or("B", "dflt").unwrap(), "dflt");
        assert_eq!(env.get("N").unwrap(), None);
        assert_eq!(env.names_read(), ["A", "B", "N"]);
    }

    #[test]
    fn parse_errors_name_setting_value_and_expectation_and_keep_the_source() {
        let env = Env::from_pairs(NAMES, &[("N", " 12x ")]);
        let e = env.parse_or::<u32>("N", 3, "a count").unwrap_err();
        assert_eq!(e.to_string(), "setting N=`12x`: expected a count");
        assert!(std::error::Error::source(&e).unwrap().to_string().contains("invalid digit"));
        let env = Env::from_pairs(NAMES, &[("N", "12")]);
        assert_eq!(env.parse_or::<u32>("N", 3, "a count").unwrap(), 12);
        let e = env.parse_valid::<u32>("N", 3, "1..=10", |n| (1..=10).contains(n)).unwrap_err();
        assert_eq!(e.to_string(), "setting N=`12`: expected 1..=10");
        assert_eq!(Env::from_pairs(NAMES, &[]).parse_or::<u32>("N", 3, "a count").unwrap(), 3);
    }

    #[test]
    fn choices_list_their_words() {
        let env = Env::from_pairs(NAMES, &[("MODE", "int4")]);
        let e = env.choice("MODE", 0, &[("none", 0), ("int8", 8), ("f16", 16)]).unwrap_err();
        assert_eq!(e.to_string(), "setting MODE=`int4`: expected none, int8 or f16");
        assert_eq!(Env::from_pairs(NAMES, &[("MODE", "int8")]).choice("MODE", 0, &[("int8", 8)]).unwrap(), 8);
    }

    #[test]
    fn undeclared_names_are_an_error() {
        let env = Env::from_pairs(NAMES, &[("C", "1")]);
        let e = env.get("C").unwrap_err();
        assert!(matches!(e, SettingError::Undeclared { .. }), "{e}");
        assert!(e.to_string().contains("SETTINGS"));
        let e = env.require("A", "MODE=x needs it").unwrap_err();
        assert_eq!(e.to_string(), "setting A is unset: MODE=x needs it");
    }

    #[test]
    fn reads_the_process_environment() {
        // A name no other test or process uses.
        const OWN: &[&str] = &["WORLDFLOW_NODE_KIT_TEST_SETTING"];
        std::env::set_var(OWN[0], " 7 ");
        let v = Env::from_process(OWN).parse::<u8>(OWN[0], "a byte").unwrap();
        std::env::remove_var(OWN[0]);
        assert_eq!(v, Some(7));
    }
}
