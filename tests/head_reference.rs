//! The MELTR head against JAX (float64, true double differentiation).
//!
//! `tests/reference/head/gen_head_vectors.py` builds heads whose weights come
//! from a splitmix64 formula (recreated here bit for bit), and writes the
//! value, `∇_l f`, the tangent `D_l f[c]` and the head term
//! `∂/∂φ D_l f[c]` for six cases over every preset. Rerun it with
//! `python3 tests/reference/head/gen_head_vectors.py`.

use crate::common;

use common::{f64s, formula_weights, u};
use meltr::head::{Dims, HeadWeights, Meltr, HEADS, PARAM_NAMES};
use meltr::meta_loss::MetaLoss;
use serde_json::Value;
use std::path::Path;

const TOL: f64 = 1e-4;

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn rel_l2(ours: &[f64], reference: &[f64], floor: f64) -> f64 {
    let num: f64 = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>();
    let den: f64 = reference.iter().map(|b| b * b).sum::<f64>();
    num.sqrt() / den.sqrt().max(floor)
}

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string("tests/reference/head/cases.json").unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

#[test]
fn head_matches_jax_value_weights_and_head_term() {
    let cases = cases();
    assert!(cases.len() >= 5);
    let mut worst = [0.0f64; 4];
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let dims = Dims {
            h1: case["h1"].as_u64().unwrap() as usize,
            d: case["d"].as_u64().unwrap() as usize,
            f: case["f"].as_u64().unwrap() as usize,
            heads: HEADS,
        };
        let k = case["k"].as_u64().unwrap() as usize;
        let w = formula_weights(dims, k, case["seed"].as_u64().unwrap());
        // The generator's own checksum of the weights: same formula here.
        let first = f64s(&case["params_check"]["task_embedding.weight"]["first"]);
        assert_eq!(
            w.tensors[0][..4],
            first.iter().map(|v| *v as f32).collect::<Vec<_>>()[..]
        );
        let head = Meltr::from_weights(w).unwrap();
        assert_eq!(head.preset().name(), case["preset"].as_str().unwrap());

        let losses = f32s(&case["losses"]);
        let c = f32s(&case["direction"]);
        let e = head.eval(&losses).unwrap();
        let value_ref = case["value"].as_f64().unwrap();
        let value_err = (e.value as f64 - value_ref).abs() / value_ref.abs().max(1e-3);
        let w_ref = f64s(&case["weights"]);
        let ours: Vec<f64> = e.weights.iter().map(|v| *v as f64).collect();
        let weights_err = rel_l2(&ours, &w_ref, 1e-6);

        let g = head.backward(&losses, Some(&c)).unwrap();
        let tangent_ref = case["tangent"].as_f64().unwrap();
        let tangent_err = (g.output as f64 - tangent_ref).abs() / tangent_ref.abs().max(1e-3);
        // ∇_c of the tangent is the task weights again.
        let dc: Vec<f64> = g.d_direction.iter().map(|v| *v as f64).collect();
        assert!(
            rel_l2(&dc, &w_ref, 1e-6) < TOL,
            "{name}: ∇_c D f[c] != ∇_l f"
        );

        let d_params = g
            .d_params
            .expect("a backward gives the parameter gradient")
            .to_vec();
        let mut term_err = 0.0f64;
        let mut offset = 0;
        for (t, shape) in w_shapes(&head).iter().enumerate() {
            let n: usize = shape.iter().product();
            let ours = &d_params[offset..offset + n];
            offset += n;
            let r = &case["head_term"][PARAM_NAMES[t]];
            assert_eq!(f64s(&r["shape"]).len(), shape.len());
            let stride = r["stride"].as_u64().unwrap() as usize;
            let norm_ref = r["norm"].as_f64().unwrap();
            let sampled: Vec<f64> = (0..n).step_by(stride).map(|i| ours[i] as f64).collect();
            // Blocks that are zero in exact arithmetic hold only round-off:
            // compare on the scale of the whole head term instead.
            let floor = 1e-3 * max_norm(case);
            let e1 = rel_l2(&sampled, &f64s(&r["values"]), floor);
            let norm: f64 = ours.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            let e2 = (norm - norm_ref).abs() / norm_ref.max(floor);
            let probe: f64 = ours
                .iter()
                .enumerate()
                .map(|(i, v)| *v as f64 * u(999, t as u64, i as u64))
                .sum();
            let probe_scale = norm_ref.max(floor) * (n as f64 / 3.0).sqrt() / (n as f64).sqrt();
            let e3 = (probe - r["probe"].as_f64().unwrap()).abs() / probe_scale;
            for (what, err) in [("elements", e1), ("norm", e2), ("probe", e3)] {
                assert!(
                    err < TOL,
                    "{name}: head term {} {what}: rel err {err:e}",
                    PARAM_NAMES[t]
                );
            }
            term_err = term_err.max(e1).max(e2);
        }
        assert_eq!(offset, d_params.len());
        println!(
            "{name:24} value {value_err:.1e}  weights {weights_err:.1e}  tangent {tangent_err:.1e}  head term {term_err:.1e}"
        );
        assert!(value_err < TOL, "{name}: value {} vs {value_ref}", e.value);
        assert!(
            weights_err < TOL,
            "{name}: weights {:?} vs {w_ref:?}",
            e.weights
        );
        assert!(
            tangent_err < TOL,
            "{name}: tangent {} vs {tangent_ref}",
            g.output
        );
        for (i, err) in [value_err, weights_err, tangent_err, term_err]
            .into_iter()
            .enumerate()
        {
            worst[i] = worst[i].max(err);
        }
    }
    println!(
        "worst relative error: value {:.1e}, weights {:.1e}, tangent {:.1e}, head term {:.1e}",
        worst[0], worst[1], worst[2], worst[3]
    );
}

fn w_shapes(head: &Meltr) -> Vec<Vec<usize>> {
    head.weights().shapes().to_vec()
}

fn max_norm(case: &Value) -> f64 {
    case["head_term"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["norm"].as_f64().unwrap())
        .fold(0.0, f64::max)
}

#[test]
fn a_pytorch_named_file_loads_unchanged() {
    let path = Path::new("tests/reference/head/case0_weights.safetensors");
    let loaded = HeadWeights::load(path).unwrap();
    let case = &cases()[0];
    let expected = formula_weights(
        loaded.dims,
        loaded.num_tasks,
        case["seed"].as_u64().unwrap(),
    );
    assert_eq!(loaded.tensors, expected.tensors);
    assert_eq!(loaded.num_tasks, case["k"].as_u64().unwrap() as usize);
    let head = Meltr::from_weights(loaded).unwrap();
    let e = head.eval(&f32s(&case["losses"])).unwrap();
    let r = case["value"].as_f64().unwrap();
    assert!((e.value as f64 - r).abs() / r.abs() < TOL);
}
