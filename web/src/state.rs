//! # The page's shared state
//!
//! One small context struct ([`Ui`], all `Copy` handles), as in Leptos' examples: what the
//! model worker has loaded, the status line, whether a run is in flight and which; every view
//! gets it as a prop. No view reaches another view's state except through it.

use std::rc::Rc;

use leptos::prelude::*;

use crate::client;
use crate::protocol::{Loaded, Request};
use crate::views::forward::Digits;

/// Handles shared by the views (all `Copy`: signals and arena-stored values).
#[derive(Clone, Copy)]
pub struct Ui {
    /// What the model worker has loaded (from [`crate::loaders::load_model`] and the person's files).
    pub loaded: StoredValue<Vec<Loaded>, LocalStorage>,
    /// The score network's card (the NCSN view shows the evaluations stored in it).
    pub ncsn_card: RwSignal<Option<serde_json::Value>>,
    pub digits: StoredValue<Option<Rc<Digits>>, LocalStorage>,
    /// The first digit of the Sample view's last finished run (grey bytes), for the Edit view.
    pub last_digit: StoredValue<Option<Vec<u8>>, LocalStorage>,
    /// `loading ...`, `ready`, `sampling`, `done`, `stopped` or `error: ...`.
    pub status: RwSignal<String>,
    pub backend: RwSignal<String>,
    pub notice: RwSignal<String>,
    pub model_info: RwSignal<String>,
    /// The score network in use, or why there is none.
    pub ncsn_info: RwSignal<String>,
    /// The live mode's distilled student, or why there is none.
    pub student_info: RwSignal<String>,
    /// The model worker's diffusion model is loaded (the Sample view can run).
    pub ready: RwSignal<bool>,
    /// The diffusion model's T: the most steps a run can take.
    pub train_steps: RwSignal<usize>,
    /// The loaded student's DDIM step count (live mode).
    pub student_steps: RwSignal<Option<usize>>,
    pub busy: RwSignal<bool>,
    /// Bumped by every new run and by Stop; a run that sees another id ends.
    pub run_id: RwSignal<u64>,
    pub step_ms: RwSignal<f64>,
    /// Counts finished runs (done, stopped or failed), so a test can wait for the next one.
    pub finished: RwSignal<u64>,
}

impl Ui {
    /// The held-out digits (the Forward and Edit views start from them).
    pub fn held_out(self) -> Result<Rc<Digits>, String> {
        self.digits
            .get_value()
            .ok_or_else(|| "the held-out digits are not loaded".to_string())
    }

    pub fn begin(self) -> u64 {
        self.run_id.update(|id| *id += 1);
        self.busy.set(true);
        self.step_ms.set(0.0);
        self.run_id.get_untracked()
    }

    /// The value, or `None` after showing the error in the status line (for event handlers
    /// that refuse bad input before starting anything).
    pub fn checked<T>(self, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|e| self.status.set(format!("error: {e}")))
            .ok()
    }

    pub fn stop(self) {
        // The model worker's run (if one is in flight) ends before its next step.
        client::send(Request::Stop);
        self.run_id.update(|id| *id += 1);
        self.busy.set(false);
        self.status.set("stopped".into());
        self.finished.update(|n| *n += 1);
    }

    pub fn finish(self, id: u64, status: &str) {
        if self.run_id.get_untracked() == id {
            self.busy.set(false);
            self.status.set(status.into());
            self.finished.update(|n| *n += 1);
        }
    }
}

/// Runs `start` once, the first time `when` holds (reactively): how views fetch what only they
/// need, when they first open.
pub fn first_time(when: impl Fn() -> bool + 'static, start: impl Fn() + 'static) {
    let done = StoredValue::new(false);
    Effect::new(move |_| {
        if when() && !done.get_value() {
            done.set_value(true);
            start();
        }
    });
}
