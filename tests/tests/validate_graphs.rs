//! Every graph in graphs/ validates; every file of the invalid-graph corpus fails with exactly the errors
//! written beside it (`NAME.yml` ↔ `NAME.expected`, one error per line, file name without directory).

use worldflow::validate::validate_file;
use worldflow_tests::workspace_root;

#[test]
fn every_graph_in_graphs_validates() {
    let mut n = 0;
    for entry in std::fs::read_dir(workspace_root().join("graphs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            if let Err(errors) = validate_file(&path) {
                panic!("{} does not validate:\n{}", path.display(), errors.join("\n"));
            }
            n += 1;
        }
    }
    assert!(n >= 1, "graphs/ holds no graph");
}

#[test]
fn invalid_graph_corpus_gives_the_expected_errors() {
    let dir = workspace_root().join("tests").join("invalid-graphs");
    let mut cases = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "yml")) {
        let expected_path = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| panic!("{} has no .expected file", path.display()));
        let shown = path.display().to_string();
        let errors = match validate_file(path) {
            Ok(_) => vec!["<valid>".to_string()],
            Err(e) => e.into_iter().map(|l| l.replacen(&shown, path.file_name().unwrap().to_str().unwrap(), 1)).collect(),
        };
        let got = errors.join("\n");
        if got.trim() != expected.trim() {
            failures.push(format!("{}:\n  expected: {}\n  got:      {}", path.display(), expected.trim(), got));
        }
        cases += 1;
    }
    assert!(cases >= 10, "the corpus should cover every kind of error; found {cases} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
