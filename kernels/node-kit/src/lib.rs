//! What every worldflow node shares: **one settings reader**, the parsers of the settings several nodes take,
//! and an error adapter that keeps cause chains.
//!
//! # The settings rule (one rule for every node)
//!
//! A node's settings are the `env:` entries of its graph node, read from the process environment by name
//! through an [`Env`], and by nothing else:
//!
//! - a value is **trimmed** of surrounding whitespace;
//! - an **empty** (or all-whitespace) value counts as **unset**: the setting takes its default;
//! - a value that is not valid Unicode is an error ([`SettingError::NotUnicode`]);
//! - a value that does not parse, or parses to something out of range, is an error that **names the setting,
//!   the value and what was expected** (`setting FOV_X_DEG=`200`: expected 1..179 degrees`), keeping the
//!   parser's own error as its source ([`SettingError::Invalid`]);
//! - a node declares the names it reads (its `SETTINGS` list, which the launcher's catalogue must match);
//!   reading an undeclared name is an error ([`SettingError::Undeclared`]), and [`Env::names_read`] tells a
//!   test which declared names were read, so the list cannot drift from the code.
//!
//! The one variable read that is not a setting is the launcher's run directory `WORLDFLOW_OUT_DIR`, the
//! fallback of `OUT_DIR` ([`Env::out_dir`]).
//!
//! Shared parsers ([`Env::seed`], [`Env::fov_x_deg`], [`Env::weights`], [`Env::config`], [`Env::out_dir`]) give
//! `SEED`, `FOV_X_DEG`, `WEIGHTS`, `CONFIG` and `OUT_DIR` one meaning, default and message in every node.
//!
//! [`write_report_section`] writes a node's account (`<out>/<section>.json`) whole or not at all.
//!
//! [`ErrorChain`] turns errors that are not `std::error::Error` values — dora's `eyre` reports, `String`s —
//! into `anyhow` errors with context, keeping their cause chain (`map_err(|e| anyhow!("{e}"))` loses it).

mod chain;
mod env;
mod error;
mod report;
mod shared;

pub use chain::ErrorChain;
pub use env::Env;
pub use error::{BoxError, SettingError};
pub use report::write_report_section;
pub use shared::{ConfigChoice, LAUNCHER_OUT_DIR};
