//! Combinators and strategies from TOML through typetag: known types build,
//! unknown types and fields are named in the error.

use meltr::meta_loss::MetaLoss;

fn parse(text: &str) -> Result<Box<dyn MetaLoss>, String> {
    toml::from_str::<Box<dyn MetaLoss>>(text).map_err(|e| e.to_string())
}

#[test]
fn every_combinator_builds_from_toml() {
    assert_eq!(
        parse("type = \"sum\"")
            .unwrap()
            .eval(&[1.0, 2.0])
            .unwrap()
            .value,
        3.0
    );
    let w = parse("type = \"weighted\"\nweights = [2.0, 0.5]").unwrap();
    assert_eq!(w.eval(&[1.0, 2.0]).unwrap().value, 3.0);
    let l = parse("type = \"learned_linear\"\ntasks = 3").unwrap();
    let e = l.eval(&[1.0, 1.0, 1.0]).unwrap();
    assert!(
        e.weights.iter().all(|w| (w - 1.0).abs() < 1e-6),
        "{:?}",
        e.weights
    );
    let m = parse("type = \"meltr\"\npreset = \"allinone\"\ntasks = 4\nseed = 3").unwrap();
    assert_eq!(m.num_tasks(), Some(4));
    assert_eq!(m.num_params(), 116_992);
}

#[test]
fn the_same_toml_gives_the_same_head() {
    let text = "type = \"meltr\"\npreset = \"allinone\"\ntasks = 2\nseed = 11";
    assert_eq!(
        parse(text).unwrap().params().to_vec(),
        parse(text).unwrap().params().to_vec()
    );
}

#[test]
fn unknown_type_is_named() {
    let e = parse("type = \"softmax_weights\"").unwrap_err();
    assert!(e.contains("softmax_weights"), "{e}");
}

#[test]
fn unknown_field_is_named() {
    let e = parse("type = \"meltr\"\npreset = \"univl\"\ntasks = 2\nheads = 4").unwrap_err();
    assert!(e.contains("heads"), "{e}");
    let e = parse("type = \"weighted\"\nweights = [1.0]\nbias = 2").unwrap_err();
    assert!(e.contains("bias"), "{e}");
}

#[test]
fn invalid_values_are_named() {
    let e = parse("type = \"meltr\"\npreset = \"huge\"\ntasks = 2").unwrap_err();
    assert!(e.contains("huge"), "{e}");
    let e = parse("type = \"meltr\"\npreset = \"univl\"\ntasks = 40").unwrap_err();
    assert!(e.contains("tasks = 40"), "{e}");
    let e = parse("type = \"learned_linear\"\ntasks = 2\nweights = [1.0, -1.0]").unwrap_err();
    assert!(e.contains("-1"), "{e}");
}

#[test]
fn a_head_serialises_back_to_its_spec() {
    let m = parse("type = \"meltr\"\npreset = \"allinone\"\ntasks = 2\nseed = 5").unwrap();
    let text = toml::to_string(&m).unwrap();
    assert!(
        text.contains("type = \"meltr\"") && text.contains("seed = 5"),
        "{text}"
    );
    assert_eq!(parse(&text).unwrap().params().to_vec(), m.params().to_vec());
}

fn strategy(text: &str) -> Result<Box<dyn meltr::hypergrad::HypergradStrategy>, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

#[test]
fn every_strategy_builds_from_toml_with_its_settings() {
    for text in [
        "type = \"none\"",
        "type = \"identity\"",
        "type = \"neumann\"\nterms = 5\nalpha = 0.25",
        "type = \"neumann\"\nterms = 5\nalpha = 0.25\nleading_alpha = true",
        "type = \"conjugate_gradient\"\niters = 4\ndamping = 0.125",
        "type = \"unrolled\"\nlr = 0.5",
    ] {
        let s = strategy(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        // Serialising gives back the same settings (values exact in f32).
        let again = toml::to_string(&s).unwrap();
        for line in text.lines() {
            assert!(again.contains(line), "{line} missing from {again}");
        }
    }
}

#[test]
fn strategy_errors_name_the_type_field_or_value() {
    assert!(strategy("type = \"implicit\"")
        .unwrap_err()
        .contains("implicit"));
    assert!(strategy("type = \"neumann\"\nsteps = 3")
        .unwrap_err()
        .contains("steps"));
    assert!(strategy("type = \"unrolled\"\nlr = -1.0")
        .unwrap_err()
        .contains("lr = -1"));
    assert!(strategy("type = \"conjugate_gradient\"\ndamping = -0.5")
        .unwrap_err()
        .contains("damping"));
}
