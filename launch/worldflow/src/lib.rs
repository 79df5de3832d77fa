//! The worldflow launcher as a library: graph validation, mermaid printing and running graphs on the
//! embedded dora runtime. The `worldflow` binary is a thin CLI over it; the end-to-end tests use it directly.

pub mod bench;
pub mod catalog;
pub mod eval;
pub mod fleet;
pub mod graph;
pub mod graph_checks;
pub mod mermaid;
pub mod out_dir;
pub mod report_sections;
pub mod run;
pub mod run_stop;
pub mod timings;
pub mod validate;
pub mod yaml_tree;
