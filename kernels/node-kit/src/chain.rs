//! The error adapter: context on errors that `anyhow::Context` does not take, keeping the cause chain.

use std::fmt::Display;

use crate::BoxError;

/// `.chain_context(…)` for results whose error is not a `std::error::Error` value but converts into one
/// (dora's `eyre::Report`, `String`, `&str`) — and for ordinary errors too. The error keeps its sources:
/// `{:#}` / `{:?}` of the result print the whole chain, where `map_err(|e| anyhow!("…{e}"))` flattens it.
pub trait ErrorChain<T> {
    /// Wraps the error with `context`.
    fn chain_context<C>(self, context: C) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static;

    /// Wraps the error with the context `f` makes (only on error).
    fn with_chain_context<C, F>(self, f: F) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static,
        F: FnOnce() -> C;
}

impl<T, E: Into<BoxError>> ErrorChain<T> for Result<T, E> {
    fn chain_context<C>(self, context: C) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static,
    {
        self.map_err(|e| anyhow::Error::from_boxed(e.into()).context(context))
    }

    fn with_chain_context<C, F>(self, f: F) -> anyhow::Result<T>
    where
        C: Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        self.map_err(|e| anyhow::Error::from_boxed(e.into()).context(f()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn keeps_the_cause_chain() {
        let r: Result<(), Outer> = Err(Outer(std::io::Error::other("inner")));
        let e = r.chain_context("sending").unwrap_err();
        let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
        assert_eq!(chain, ["sending", "outer", "inner"]);
        assert_eq!(format!("{e:#}"), "sending: outer: inner");
    }

    #[test]
    fn takes_string_errors() {
        let r: Result<(), String> = Err("bad tick".into());
        let e = r.with_chain_context(|| format!("input `{}`", "action")).unwrap_err();
        assert_eq!(format!("{e:#}"), "input `action`: bad tick");
    }
}
