//! # A run's timeline
//!
//! While a run draws its steps into a view's canvas, every frame is also kept
//! (`digitlab_ui::timeline::Frames`: the grid's grey bytes, within a budget). Once the run has
//! ended, a slider shows any kept step in the same canvas again, with step back / forward and
//! play / pause; a new run starts a new timeline.

use digitlab_ui::timeline::{BUDGET, Frame, Frames};
use leptos::html::Canvas;
use leptos::prelude::*;

use crate::i18n::*;
use crate::state::Ui;
use crate::widgets::canvas::{grid_bytes, paint_grey};

/// The frames of a view's last run and the step shown (counted from 1; 0 before any run).
#[derive(Clone, Copy)]
pub struct Timeline {
    frames: StoredValue<Frames>,
    len: RwSignal<usize>,
    at: RwSignal<usize>,
    playing: RwSignal<bool>,
    canvas: NodeRef<Canvas>,
}

impl Timeline {
    /// A timeline that shows its frames in `canvas`.
    pub fn new(canvas: NodeRef<Canvas>) -> Self {
        Self {
            frames: StoredValue::new(Frames::new(BUDGET)),
            len: RwSignal::new(0),
            at: RwSignal::new(0),
            playing: RwSignal::new(false),
            canvas,
        }
    }

    /// A new run starts: the last one's frames go.
    pub fn clear(&self) {
        self.playing.set(false);
        self.frames.update_value(Frames::clear);
        self.len.set(0);
        self.at.set(0);
    }

    /// Keeps the frame a run has just drawn (`n` digits of `side` pixels, values in `[-1, 1]`).
    pub fn push(&self, label: String, values: &[f32], n: usize, side: usize) {
        let (width, height, grey) = grid_bytes(values, n, side);
        let kept = self.frames.try_update_value(|f| {
            f.push(Frame {
                label,
                width,
                height,
                grey,
            })
        });
        if kept == Some(true) {
            let len = self.frames.with_value(Frames::len);
            self.len.set(len);
            self.at.set(len);
        }
    }

    /// Shows kept step `k` in the canvas.
    fn show(&self, k: usize) {
        let k = k.clamp(1, self.len.get_untracked().max(1));
        self.at.set(k);
        if let Some(canvas) = self.canvas.get_untracked() {
            self.frames.with_value(|f| {
                if let Some(frame) = f.get(k) {
                    paint_grey(&canvas, frame.width, frame.height, &frame.grey);
                }
            });
        }
    }

    fn label(&self) -> String {
        let at = self.at.get();
        let _ = self.len.get();
        self.frames.with_value(|f| {
            let shown = f.get(at).map_or(String::new(), |frame| frame.label.clone());
            match f.dropped() {
                Some(first) => format!("{shown} (kept up to the step before {first})"),
                None => shown,
            }
        })
    }
}

/// The timeline's controls (`data-testid` = `id` for the slider, `id-back`, `id-play`,
/// `id-forward`, `id-label`), shown once a run has kept two frames and usable when no run is
/// going on.
pub fn timeline_controls(ui: Ui, t: Timeline, id: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    let idle = move || !ui.busy.get() && t.len.get() > 1;
    // Play: one kept step every 120 ms from the one shown (from the first at the end).
    let ticker = StoredValue::new(None::<IntervalHandle>);
    let stop_playing = move || {
        t.playing.set(false);
        if let Some(handle) = ticker.try_update_value(Option::take).flatten() {
            handle.clear();
        }
    };
    let play = move |_| {
        if t.playing.get_untracked() {
            return stop_playing();
        }
        if t.at.get_untracked() >= t.len.get_untracked() {
            t.show(1);
        }
        t.playing.set(true);
        let handle = set_interval_with_handle(
            move || {
                let next = t.at.get_untracked() + 1;
                if next > t.len.get_untracked() || ui.busy.get_untracked() {
                    stop_playing();
                } else {
                    t.show(next);
                }
            },
            std::time::Duration::from_millis(120),
        );
        ticker.set_value(handle.ok());
    };
    // A new run stops the playing.
    Effect::new(move |_| {
        if ui.busy.get() {
            stop_playing();
        }
    });
    view! {
        <div class="timeline" class:hidden=move || t.len.get() < 2>
            <button data-testid=format!("{id}-back") aria-label=move || t_string!(i18n, timeline.back)
                disabled=move || { !idle() || t.at.get() <= 1 }
                on:click=move |_| { stop_playing(); t.show(t.at.get_untracked().saturating_sub(1)) }>"‹"</button>
            <button data-testid=format!("{id}-play") aria-label=move || if t.playing.get() { t_string!(i18n, timeline.pause) } else { t_string!(i18n, timeline.play) }
                disabled=move || !idle()
                on:click=play>{move || if t.playing.get() { "‖" } else { "▶" }}</button>
            <button data-testid=format!("{id}-forward") aria-label=move || t_string!(i18n, timeline.forward)
                disabled=move || { !idle() || t.at.get() >= t.len.get() }
                on:click=move |_| { stop_playing(); t.show(t.at.get_untracked() + 1) }>"›"</button>
            <input type="range" min="1" data-testid=id aria-label=move || t_string!(i18n, timeline.step)
                max=move || t.len.get().to_string()
                prop:value=move || t.at.get().to_string()
                disabled=move || !idle()
                on:input=move |ev| {
                    stop_playing();
                    if let Ok(k) = event_target_value(&ev).parse::<usize>() {
                        t.show(k);
                    }
                }/>
            <output class="meta" data-testid=format!("{id}-label")>{move || t.label()}</output>
        </div>
    }
}
