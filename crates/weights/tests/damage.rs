//! Random damage to a card and its weights: truncation, flipped bits, numbers in the card's
//! config made huge. Loading must answer with an error or a model, never a panic, an abort or
//! an allocation beyond a bound: the bytes a person drops on the page, or a file cut short on
//! disk, are checked before anything is built from them.
//!
//! A counting allocator (this test binary's own) measures the peak memory of each load.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use digitlab_diffusion::ScheduleConfig;
use digitlab_models::{ContextUnetConfig, VaeConfig};
use digitlab_weights::{Card, DataInfo, ModelSpec, TrainingInfo, record_bytes, sha256_hex};
use proptest::prelude::*;

struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most a load of these small models may allocate: the models are a few hundred kB, so
/// anything near this bound means a config was believed before it was checked.
const BOUND: usize = 256 << 20;

fn card_for(model: ModelSpec, bytes: &[u8]) -> Card {
    let mut card = Card::new(
        model,
        DataInfo {
            name: "test".into(),
            train_images: 1,
            held_out_images: 1,
        },
        TrainingInfo {
            steps: 1,
            epochs: 1.0,
            batch_size: 1,
            learning_rate: "1e-3".into(),
            ema_decay: None,
            seed: 0,
            seconds: 0.0,
            backend: "flex".into(),
            machine: "test".into(),
            final_loss: 0.0,
            continued_from: None,
        },
        serde_json::Value::Null,
    );
    card.weights = "w.bpk".into();
    card.sha256 = sha256_hex(bytes);
    card
}

/// A small DDPM and a small VAE with their cards (JSON) and weights.
fn originals() -> Vec<(String, Vec<u8>)> {
    let device = Device::flex();
    device.seed(1);
    let unet = ContextUnetConfig::new().with_n_feat(8);
    let ddpm = record_bytes(unet.init(&device));
    let vae = VaeConfig::new().with_latent(2).with_width(4).with_hidden(8);
    let vae_bytes = record_bytes(vae.init(&device));
    vec![
        (
            card_for(
                ModelSpec::DdpmCfg {
                    unet,
                    schedule: ScheduleConfig::default(),
                    distilled: None,
                },
                &ddpm,
            )
            .to_json(),
            ddpm,
        ),
        (
            card_for(ModelSpec::Vae { vae }, &vae_bytes).to_json(),
            vae_bytes,
        ),
    ]
}

/// Loads `card` and `weights` as the CLI and the page do (the card vouches for the weights'
/// sha256 when `vouch`, so the damage reaches the record's own checks), and returns the peak
/// of the bytes allocated meanwhile.
fn load_peak(card: &str, weights: &[u8], vouch: bool) -> usize {
    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let device = Device::flex();
    if let Ok(mut card) = Card::from_json(card) {
        if vouch {
            card.sha256 = sha256_hex(weights);
        }
        let _ = card.load(weights, &device);
    }
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// Replaces the `k`-th number in `json` by `value`.
fn replace_number(json: &str, k: usize, value: &str) -> String {
    let mut out = String::new();
    let mut seen = 0;
    let mut chars = json.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let starts = c.is_ascii_digit()
            && !json[..i].ends_with(|p: char| p.is_ascii_alphanumeric() || p == '.');
        if starts {
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() || d == '.' || d == 'e' || d == '-' {
                    end = j + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            if seen == k {
                out.push_str(value);
            } else {
                out.push_str(&json[i..end]);
            }
            seen += 1;
        } else {
            out.push(c);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn truncated_weights_are_refused_without_a_panic(which in 0usize..2, cut in 0.0f64..1.0) {
        let (card, weights) = &originals()[which];
        let len = (weights.len() as f64 * cut) as usize;
        prop_assert!(load_peak(card, &weights[..len], true) < BOUND);
    }

    #[test]
    fn flipped_bits_in_the_weights_are_refused_or_load(which in 0usize..2, at in 0.0f64..1.0, bit in 0u8..8) {
        let (card, weights) = &originals()[which];
        let mut w = weights.clone();
        let i = ((w.len() - 1) as f64 * at) as usize;
        w[i] ^= 1 << bit;
        prop_assert!(load_peak(card, &w, true) < BOUND);
        // Without the card's vouching, the checksum refuses them outright.
        prop_assert!(load_peak(card, &w, false) < BOUND);
    }

    #[test]
    fn huge_numbers_in_the_card_are_refused_without_allocating(which in 0usize..2, k in 0usize..40, big in prop::sample::select(vec!["100000", "4294967296", "1e300", "0", "123456789012"])) {
        let (card, weights) = &originals()[which];
        let damaged = replace_number(card, k, big);
        prop_assert!(load_peak(&damaged, weights, false) < BOUND);
    }
}

#[test]
fn the_undamaged_originals_load() {
    let device = Device::flex();
    for (card, weights) in originals() {
        Card::from_json(&card)
            .unwrap()
            .load(&weights, &device)
            .unwrap();
    }
}
