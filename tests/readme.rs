//! The README's "Write an auxiliary task" example is `tests/custom_task.rs`
//! verbatim, so the example users read is the one the tests compile and run.

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
    assert_eq!(
        block, example,
        "README example differs from tests/custom_task.rs"
    );
    assert!(
        example.lines().count() < 50,
        "{} lines",
        example.lines().count()
    );
}
