use meltr::aux_task::{info_nce, task_rng, AuxTask, Capability, TaskRegistration};
use meltr::backbone::{Batch, Dev, Free, Loss, Net, Taped};
use meltr::dfdx::prelude::*;
use meltr::pretrain::{pretrain, PretrainRun};
use meltr::Result;
use rand::Rng;
/// Two noisy views of an image or clip should embed closer to each other than to the others.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoisyViews {
    noise: f32,
}
impl NoisyViews {
    fn loss<T: Tape<f32, Dev>>(&self, net: &dyn Net<T>, b: &Batch, seed: u64) -> Result<Loss<T>> {
        let mut rng = task_rng(seed); // every random choice comes from the seed
        let clean = b.visual()?;
        let noise = |x: &f32| x + rng.gen_range(-self.noise..self.noise);
        let noisy = clean.with_pixels(clean.pixels.iter().map(noise).collect());
        let a = net.visual_features(clean)?;
        Ok(info_nce(a.matmul(net.visual_features(&noisy)?.permute())))
    }
}
#[typetag::serde(name = "noisy_views")]
impl AuxTask for NoisyViews {
    fn name(&self) -> &str {
        "noisy_views"
    }
    fn needs(&self) -> Vec<Capability> {
        vec![Capability::VisualEncoder]
    }
    fn loss_taped(&self, net: &dyn Net<Taped>, b: &Batch, seed: u64) -> Result<Loss<Taped>> {
        self.loss(net, b, seed)
    }
    fn loss_free(&self, net: &dyn Net<Free>, b: &Batch, seed: u64) -> Result<Loss<Free>> {
        self.loss(net, b, seed)
    }
}
const SUMMARY: &str = "match two noisy views of each image or clip";
inventory::submit!(TaskRegistration::of::<NoisyViews>("noisy_views", SUMMARY));

#[test]
fn pretrain_with_a_new_task_named_in_a_run_file() {
    for preset in ["tiny", "digits-tiny"] {
        let run = format!("preset = {preset:?}\n[[tasks]]\ntype = \"noisy_views\"\nnoise = 0.3\n");
        let run = PretrainRun::from_toml(&run, "run.toml".as_ref()).unwrap();
        let r = pretrain(&run.config, &run.tasks, |_| {}).unwrap().1;
        assert!(r.eval_after[0] < r.eval_before[0], "{preset}: {r:?}");
    }
}
