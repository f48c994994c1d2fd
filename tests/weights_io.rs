//! Weights files: reference names, clear errors, atomic bit-exact round trips.

use meltr::head::{init_weights, HeadInfo, HeadWeights, Meltr, Preset};
use meltr::meta_loss::MetaLoss;
use safetensors::tensor::{Dtype, TensorView};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meltr-weights-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Writes `w`'s tensors, with `edit` applied to the (name, shape, data) list.
fn write_edited(
    w: &HeadWeights,
    path: &Path,
    edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<u8>)>),
) {
    let mut items: Vec<(String, Vec<usize>, Vec<u8>)> = w
        .named()
        .map(|(n, s, d)| {
            (
                n.to_string(),
                s,
                d.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    edit(&mut items);
    let views: Vec<(String, TensorView)> = items
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, &None).unwrap()).unwrap();
}

#[test]
fn save_load_round_trip_is_bit_exact_with_metadata() {
    let mut w = init_weights(Preset::Univl.dims(), 5, 42).unwrap();
    w.info = HeadInfo {
        task_names: ["align", "cmlm", "cmfm", "mixup", "rotation"]
            .map(String::from)
            .to_vec(),
        primary: Some(0),
        steps: 120,
        seed: Some(42),
    };
    let p = tmp("roundtrip.safetensors");
    w.save(&p).unwrap();
    let back = HeadWeights::load(&p).unwrap();
    assert_eq!(back, w);
    assert_eq!(back.preset(), Some(Preset::Univl));
    let a = Meltr::from_weights(w)
        .unwrap()
        .eval(&[1.0, 2.0, 3.0, 4.0, 5.0])
        .unwrap();
    let b = Meltr::from_weights(back)
        .unwrap()
        .eval(&[1.0, 2.0, 3.0, 4.0, 5.0])
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn missing_tensor_is_named_with_its_expected_shape() {
    let w = init_weights(Preset::Allinone.dims(), 2, 0).unwrap();
    let p = tmp("missing.safetensors");
    write_edited(&w, &p, |items| {
        items.retain(|(n, _, _)| n != "encoder.norm2.bias")
    });
    let e = HeadWeights::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("missing tensor `encoder.norm2.bias`") && e.contains("[128]"),
        "{e}"
    );
}

#[test]
fn extra_tensor_is_named() {
    let w = init_weights(Preset::Allinone.dims(), 2, 0).unwrap();
    let p = tmp("extra.safetensors");
    write_edited(&w, &p, |items| {
        items.push(("encoder.dropout.p".into(), vec![1], vec![0; 4]))
    });
    let e = HeadWeights::load(&p).unwrap_err().to_string();
    assert!(e.contains("unexpected tensor `encoder.dropout.p`"), "{e}");
}

#[test]
fn wrong_shape_names_tensor_expected_and_found() {
    let w = init_weights(Preset::Allinone.dims(), 2, 0).unwrap();
    let p = tmp("shape.safetensors");
    write_edited(&w, &p, |items| {
        let item = items
            .iter_mut()
            .find(|(n, _, _)| n == "encoder.linear2.weight")
            .unwrap();
        item.1 = vec![64, 256]; // same element count, wrong layout
    });
    let e = HeadWeights::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("`encoder.linear2.weight`")
            && e.contains("[64, 256]")
            && e.contains("expected [128, 128]"),
        "{e}"
    );
}

#[test]
fn garbage_and_truncated_files_are_refused_without_panic() {
    let p = tmp("garbage.safetensors");
    std::fs::write(&p, b"definitely not safetensors").unwrap();
    let e = HeadWeights::load(&p).unwrap_err().to_string();
    assert!(e.contains("not a valid weights file"), "{e}");
    let w = init_weights(Preset::Allinone.dims(), 2, 0).unwrap();
    let bytes = w.to_bytes().unwrap();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            HeadWeights::from_bytes(&bytes[..cut], Path::new("cut")).is_err(),
            "cut {cut}"
        );
    }
}

#[test]
fn non_preset_widths_are_refused_by_the_head() {
    let mut dims = Preset::Allinone.dims();
    dims.f = 64;
    let w = init_weights(dims, 2, 0).unwrap();
    let e = Meltr::from_weights(w).unwrap_err().to_string();
    assert!(e.contains("h1=128, d=128, f=64"), "{e}");
}
