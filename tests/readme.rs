//! The README's "Write an auxiliary task" example is the top of
//! `tests/custom_task.rs` verbatim (the task; the tests that train with it
//! follow), so the example users read is the one the tests compile and
//! run; it is at most 20 lines of code and imports `meltr` alone.

#[test]
fn readme_example_is_the_tested_file_and_short() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let example = std::fs::read_to_string(format!("{root}/tests/custom_task.rs")).unwrap();
    let section = readme
        .split("## Write an auxiliary task")
        .nth(1)
        .expect("README has the section");
    let block = section
        .split("```rust\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the section has a rust block");
    assert!(
        example.starts_with(block),
        "README example is not the top of tests/custom_task.rs"
    );
    let code: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .collect();
    assert!(code.len() <= 20, "{} lines of code", code.len());
    for line in code.iter().filter(|l| l.starts_with("use ")) {
        assert!(line.starts_with("use meltr::"), "{line}");
    }
}

/// The README's annotated run file is a run file: it parses, every table
/// builds, and the values read are the ones it shows.
#[test]
fn readme_run_file_parses_as_written() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let block = readme
        .split("```toml\npreset = \"quick\"\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("README has the annotated run file");
    let text = format!("preset = \"quick\"\n{block}");
    let run = meltr::train::TrainConfig::from_toml(&text, "README.md".as_ref())
        .unwrap_or_else(|e| panic!("{e}"));
    run.build().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        run.task_names(),
        ["align", "cmlm", "cmfm", "mixup", "rotation"]
    );
    assert_eq!(run.tasks[1].settings["mask_prob"].as_float(), Some(0.15));
    assert!(run.tasks[0].settings.is_empty());
    assert_eq!(
        (run.primary.as_str(), run.epochs, run.batch_size),
        ("align", 8, 32)
    );
    assert_eq!(run.model, None);
}
