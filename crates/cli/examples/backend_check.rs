//! Compares the ContextUnet's gradients on flex and wgpu (debugging aid).
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use digitlab_models::ContextUnetConfig;
use digitlab_weights::{load_record, record_bytes};

struct Norms<'a> {
    grads: &'a GradientsParams,
    out: Vec<(Vec<usize>, Vec<f32>)>,
}
impl ModuleVisitor for Norms<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = self.grads.get::<D>(param.id);
        let shape = param.val().dims().to_vec();
        let v = g
            .map(|g| g.into_data().try_to_vec::<f32>().unwrap())
            .unwrap_or_default();
        self.out.push((shape, v));
    }
}

/// Each parameter's shape and gradient.
type Grads = Vec<(Vec<usize>, Vec<f32>)>;

fn run(device: &Device, bytes: &[u8], x: &[f32], n: usize) -> (f32, Grads) {
    let device = device.clone().autodiff();
    let model = load_record(ContextUnetConfig::new().with_n_feat(8).init(&device), bytes).unwrap();
    let xt = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [n, 1, 28, 28]), &device);
    let t = Tensor::<1>::from_floats(vec![0.3f32; n].as_slice(), &device);
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new((0..n as i64).map(|i| i % 11).collect::<Vec<_>>(), [n]),
        &device,
    );
    let out = model.forward(xt.clone(), t, labels);
    let loss = (out - xt).square().mean();
    let l: f32 = loss.clone().into_scalar::<f32>();
    let gp = GradientsParams::from_grads(loss.backward(), &model);
    let mut v = Norms {
        grads: &gp,
        out: vec![],
    };
    model.visit(&mut v);
    (l, v.out)
}

fn main() {
    let cpu = Device::flex();
    cpu.seed(1);
    let model = ContextUnetConfig::new().with_n_feat(8).init(&cpu);
    let bytes = record_bytes(model);
    let n = 4;
    let x: Vec<f32> = (0..n * 784)
        .map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0)
        .collect();
    let gpu = Device::wgpu_options().init().unwrap();
    let (la, a) = run(&cpu, &bytes, &x, n);
    let (lb, b) = run(&gpu, &bytes, &x, n);
    println!("loss flex {la} wgpu {lb}");
    for (i, ((sa, ga), (_, gb))) in a.iter().zip(&b).enumerate() {
        let na = ga.iter().map(|v| v * v).sum::<f32>().sqrt();
        let nb = gb.iter().map(|v| v * v).sum::<f32>().sqrt();
        let d = ga
            .iter()
            .zip(gb)
            .map(|(p, q)| (p - q) * (p - q))
            .sum::<f32>()
            .sqrt();
        let flag = if d > 1e-2 * na + 1e-5 {
            "  <-- DIFF"
        } else {
            ""
        };
        println!("{i:3} {sa:?} |g| flex {na:.5} wgpu {nb:.5} |diff| {d:.5}{flag}");
    }
}
