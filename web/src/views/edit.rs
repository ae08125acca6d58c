//! # The Edit view: draw a digit and let the model finish it
//!
//! A 28x28 drawing pad (pointer events: mouse, pen or touch) with a pen, an eraser, a brush
//! size, undo and clear; it starts blank, from a held-out digit or from the last sampled one.
//! **SDEdit** noises the drawing to the strength's level and denoises it as the chosen class;
//! **Inpaint** redraws the pixels painted into the mask (RePaint, with resampling) and keeps the
//! others exactly. Both run `digitlab_diffusion`'s one sampling run with an `Edit` on it (the
//! same code as `digitlab edit` / `digitlab inpaint`), step by step like the Sample view: the
//! same seed gives the CLI's pixels.

use digitlab_spec::edit::{Edit, MAX_RESAMPLE, Resample};
use digitlab_ui::command as cli;
use digitlab_ui::inputs::SampleParams;
use leptos::html::{Canvas, Div};
use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast};

use crate::i18n::*;
use crate::protocol::Slot;
use crate::state::Ui;
use crate::views::sampling::{
    Drawn, MAX_COUNT, Params, digit_select, guidance_slider, start_run, train_steps, whole_number,
};
use crate::widgets::canvas;
use crate::widgets::command::{command_line, say};
use crate::widgets::explain;
use crate::widgets::timeline::{Timeline, timeline_controls};
use digitlab_ui::grid::alt_text;

/// The pad's side in pixels (the model's digits).
const SIDE: usize = 28;
/// How many strokes and actions Undo can take back.
const UNDO_DEPTH: usize = 100;
/// The names Save drawing and Save mask give their files, and the command under the result
/// reads.
const DRAWING: &str = "drawing.png";
const MASK: &str = "mask.png";

/// What a stroke on the pad does.
#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Pen,
    Eraser,
    Mask,
    Unmask,
}

/// The drawing and the mask (`true`: the model fills that pixel), one snapshot of the pad.
#[derive(Clone, PartialEq)]
struct Pad {
    ink: Vec<u8>,
    fill: Vec<bool>,
}

impl Pad {
    fn blank() -> Self {
        Self {
            ink: vec![0; SIDE * SIDE],
            fill: vec![false; SIDE * SIDE],
        }
    }

    /// A round brush of `radius` pixels at `(x, y)` (pad pixels, fractional): the pen inks the
    /// disc fully and its rim half, like a pen stroke's soft edge.
    fn stroke(&mut self, tool: Tool, x: f64, y: f64, radius: f64) {
        for py in 0..SIDE {
            for px in 0..SIDE {
                let d = ((px as f64 + 0.5 - x).powi(2) + (py as f64 + 0.5 - y).powi(2)).sqrt();
                let i = py * SIDE + px;
                match tool {
                    Tool::Pen if d <= radius => self.ink[i] = 255,
                    Tool::Pen if d <= radius + 0.7 => self.ink[i] = self.ink[i].max(128),
                    Tool::Eraser if d <= radius + 0.5 => self.ink[i] = 0,
                    Tool::Mask if d <= radius + 0.5 => self.fill[i] = true,
                    Tool::Unmask if d <= radius + 0.5 => self.fill[i] = false,
                    _ => {}
                }
            }
        }
    }
}

/// Paints the mask as a translucent red overlay.
fn paint_mask(c: &web_sys::HtmlCanvasElement, fill: &[bool]) {
    let rgba: Vec<u8> = fill
        .iter()
        .flat_map(|&f| if f { [230, 40, 40, 110] } else { [0, 0, 0, 0] })
        .collect();
    let ctx = c
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok());
    if let (Some(ctx), Ok(img)) = (
        ctx,
        web_sys::ImageData::new_with_u8_clamped_array_and_sh(
            Clamped(&rgba),
            SIDE as u32,
            SIDE as u32,
        ),
    ) {
        let _ = ctx.put_image_data(&img, 0.0, 0.0);
    }
}

#[component]
pub fn EditView(ui: Ui) -> impl IntoView {
    let i18n = use_i18n();
    let pad = RwSignal::new(Pad::blank());
    let history: StoredValue<Vec<Pad>> = StoredValue::new(Vec::new());
    let tool = RwSignal::new("pen".to_string());
    let brush = RwSignal::new("1.2".to_string());
    let drawing = RwSignal::new(false);
    let mode = RwSignal::new("sdedit".to_string());
    let from_index = RwSignal::new("4".to_string());
    let digit = RwSignal::new("4".to_string());
    let guidance = RwSignal::new(2.0f64);
    let strength = RwSignal::new(0.6f64);
    let sampler = RwSignal::new("ddim".to_string());
    let steps = RwSignal::new("20".to_string());
    let count = RwSignal::new("4".to_string());
    let seed = RwSignal::new("1".to_string());
    let resample = RwSignal::new("1".to_string());
    let jump = RwSignal::new("5".to_string());
    let counter = RwSignal::new("0/0".to_string());
    let predictions = RwSignal::new(String::new());
    let summary = RwSignal::new(String::new());
    let ink_canvas: NodeRef<Canvas> = NodeRef::new();
    let mask_canvas: NodeRef<Canvas> = NodeRef::new();
    let surface: NodeRef<Div> = NodeRef::new();
    let output: NodeRef<Canvas> = NodeRef::new();
    let show_x0 = RwSignal::new(false);
    let timeline = Timeline::new(output);
    // The command that redraws the result natively from the saved drawing (and mask).
    let command = RwSignal::new(String::new());

    // The pad redraws whenever it changes (and once its canvases exist).
    Effect::new(move |_| {
        let p = pad.get();
        if let Some(c) = ink_canvas.get() {
            canvas::paint_grey(&c, SIDE, SIDE, &p.ink);
        }
        if let Some(c) = mask_canvas.get() {
            paint_mask(&c, &p.fill);
        }
    });

    // Undo keeps the last UNDO_DEPTH states of the pad.
    let remember = move || {
        history.update_value(|h| {
            if h.len() == UNDO_DEPTH {
                h.remove(0);
            }
            h.push(pad.get_untracked());
        })
    };
    let tool_now = move || match tool.get_untracked().as_str() {
        "eraser" => Tool::Eraser,
        "mask" => Tool::Mask,
        "unmask" => Tool::Unmask,
        _ => Tool::Pen,
    };
    // Where a pointer event falls on the pad, in pad pixels.
    let at = move |ev: &web_sys::PointerEvent| -> Option<(f64, f64)> {
        let rect = surface.get_untracked()?.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return None;
        }
        Some((
            (ev.client_x() as f64 - rect.left()) / rect.width() * SIDE as f64,
            (ev.client_y() as f64 - rect.top()) / rect.height() * SIDE as f64,
        ))
    };
    let paint = move |ev: &web_sys::PointerEvent| {
        let radius = brush.get_untracked().parse::<f64>().unwrap_or(1.2);
        if let Some((x, y)) = at(ev) {
            pad.update(|p| p.stroke(tool_now(), x, y, radius));
        }
    };
    let down = move |ev: web_sys::PointerEvent| {
        ev.prevent_default();
        remember();
        drawing.set(true);
        paint(&ev);
    };
    let moved = move |ev: web_sys::PointerEvent| {
        if drawing.get_untracked() {
            ev.prevent_default();
            paint(&ev);
        }
    };
    let up = move |_| drawing.set(false);
    // The keyboard's way to draw: arrow keys move a cursor over the pad's pixels, Space (or
    // Enter) applies the tool there, Shift+arrow moves and applies, so every tool works without
    // a pointer.
    let cursor = RwSignal::new((SIDE / 2, SIDE / 2));
    let key = move |ev: web_sys::KeyboardEvent| {
        let (x, y) = cursor.get_untracked();
        let moved_to = match ev.key().as_str() {
            "ArrowLeft" => Some((x.saturating_sub(1), y)),
            "ArrowRight" => Some(((x + 1).min(SIDE - 1), y)),
            "ArrowUp" => Some((x, y.saturating_sub(1))),
            "ArrowDown" => Some((x, (y + 1).min(SIDE - 1))),
            _ => None,
        };
        let apply = match moved_to {
            Some(to) => {
                cursor.set(to);
                ev.shift_key()
            }
            None => matches!(ev.key().as_str(), " " | "Enter"),
        };
        if moved_to.is_some() || apply {
            ev.prevent_default();
        }
        if apply {
            let (x, y) = cursor.get_untracked();
            let radius = brush.get_untracked().parse::<f64>().unwrap_or(1.2);
            remember();
            pad.update(|p| p.stroke(tool_now(), x as f64 + 0.5, y as f64 + 0.5, radius));
        }
    };

    let undo = move |_| {
        if let Some(previous) = history.try_update_value(|h| h.pop()).flatten() {
            pad.set(previous);
        }
    };
    let clear = move |_| {
        remember();
        pad.set(Pad::blank());
    };
    let clear_mask = move |_| {
        remember();
        pad.update(|p| p.fill = vec![false; SIDE * SIDE]);
    };
    let mask_lower = move |_| {
        remember();
        pad.update(|p| p.fill = (0..SIDE * SIDE).map(|i| i / SIDE >= SIDE / 2).collect());
    };
    let from_held_out = move |_| {
        let Some(digits) = ui.checked(ui.held_out()) else {
            return;
        };
        let Some(i) = ui.checked(whole_number(
            "the held-out digit",
            &from_index.get_untracked(),
            0,
            digits.len() - 1,
        )) else {
            return;
        };
        if digits.side != SIDE {
            ui.status.set(format!(
                "error: the pad draws {SIDE}x{SIDE} digits, the held-out digits are {0}x{0}",
                digits.side
            ));
            return;
        }
        remember();
        let px = SIDE * SIDE;
        pad.update(|p| p.ink = digits.images[i * px..(i + 1) * px].to_vec());
        digit.set(digits.labels[i].to_string());
    };
    let from_sample = move |_| {
        let last = ui
            .last_digit
            .get_value()
            .ok_or("sample a digit in the Sample view first".to_string())
            .and_then(|d| match d.len() == SIDE * SIDE {
                true => Ok(d),
                false => Err(format!(
                    "the pad draws {SIDE}x{SIDE} digits, the last sample is not one"
                )),
            });
        let Some(last) = ui.checked(last) else {
            return;
        };
        remember();
        pad.update(|p| p.ink = last);
    };

    // The checked request: the Sample view's parser for the shared settings, then the edit's.
    let request = move || -> Result<(Params, Edit), String> {
        let p = SampleParams::parse(
            &digit.get_untracked(),
            guidance.get_untracked(),
            &sampler.get_untracked(),
            &steps.get_untracked(),
            &count.get_untracked(),
            &seed.get_untracked(),
            train_steps(ui),
        )?;
        let pixels = pad.get_untracked();
        let input = digitlab_data::pixels::bytes_to_unit(&pixels.ink);
        let edit = if mode.get_untracked() == "inpaint" {
            if !pixels.fill.iter().any(|&f| f) {
                return Err("paint the mask first: the model fills the red pixels".into());
            }
            let count = whole_number("resampling", &resample.get_untracked(), 1, MAX_RESAMPLE)?;
            // The jump length only matters when there is resampling.
            let jump = match count {
                1 => 1,
                _ => whole_number("the jump length", &jump.get_untracked(), 1, p.steps)?,
            };
            let resample = Resample { count, jump };
            Edit::inpaint(input, pixels.fill, resample)
        } else {
            Edit::sdedit(input, strength.get_untracked())
        };
        Ok((Params(p), edit))
    };

    let run = move |_| {
        let Some((p, edit)) = ui.checked(request()) else {
            return;
        };
        say(ui, &Slot::Teacher, command, |path| match edit.fill {
            None => cli::edit(path, &p, DRAWING, edit.strength),
            Some(_) => {
                let Resample { count, jump } = edit.resample;
                cli::inpaint(path, &p, DRAWING, MASK, cli::Resampling { count, jump })
            }
        });
        let drawn = Drawn {
            grid: output,
            counter,
            show_x0,
            predictions,
            summary,
            timeline,
        };
        start_run(
            ui,
            crate::views::sampling::Model::Teacher,
            p,
            Some(edit),
            drawn,
            "editing",
            |_, _, _| {},
        );
    };

    // Options are (value, label): the labels follow the page's language, the sampler names
    // stay as they are.
    let select = |id: &'static str,
                  sig: RwSignal<String>,
                  options: Vec<(&'static str, Signal<&'static str>)>| {
        view! {
            <select data-testid=id prop:value=move || sig.get() on:change=move |ev| sig.set(event_target_value(&ev))>
                {options.into_iter().map(|(v, l)| view! { <option value=v>{move || l.get()}</option> }).collect_view()}
            </select>
        }
    };
    let number = |id: &'static str, sig: RwSignal<String>| {
        view! {
            <input type="number" min="0" data-testid=id prop:value=move || sig.get()
                on:input=move |ev| sig.set(event_target_value(&ev))/>
        }
    };
    let inpainting = move || mode.get() == "inpaint";
    // The drawing and the mask as the files the command under the result reads.
    let save_drawing = move |_| {
        if let Some(c) = ink_canvas.get_untracked() {
            ui.checked(canvas::save_png(&c, DRAWING));
        }
    };
    let save_mask = move |_| {
        let white: Vec<u8> = pad
            .get_untracked()
            .fill
            .iter()
            .map(|&f| if f { 255 } else { 0 })
            .collect();
        ui.checked(canvas::save_grey(SIDE, SIDE, &white, MASK));
    };

    view! {
        <section class="view">
            <h2>{t!(i18n, edit.title)}</h2>
            <div class="columns">
                <div class="controls">
                    <label>{t!(i18n, edit.mode)} " " {select("edit-mode", mode, vec![
                        ("sdedit", Signal::derive(move || t_string!(i18n, edit.sdedit))),
                        ("inpaint", Signal::derive(move || t_string!(i18n, edit.inpaint))),
                    ])}</label>
                    <label>{t!(i18n, edit.tool)} " " {select("edit-tool", tool, vec![
                        ("pen", Signal::derive(move || t_string!(i18n, edit.pen))),
                        ("eraser", Signal::derive(move || t_string!(i18n, edit.eraser))),
                        ("mask", Signal::derive(move || t_string!(i18n, edit.mask))),
                        ("unmask", Signal::derive(move || t_string!(i18n, edit.unmask))),
                    ])}</label>
                    <label>{t!(i18n, edit.brush)} " " {select("edit-brush", brush, vec![
                        ("0.6", Signal::derive(move || t_string!(i18n, edit.thin))),
                        ("1.2", Signal::derive(move || t_string!(i18n, edit.medium))),
                        ("2", Signal::derive(move || t_string!(i18n, edit.thick))),
                    ])}</label>
                    <div class="buttons">
                        <button data-testid="edit-undo" on:click=undo>{t!(i18n, edit.undo)}</button>
                        <button data-testid="edit-clear" on:click=clear>{t!(i18n, edit.clear)}</button>
                        <button data-testid="edit-mask-lower" on:click=mask_lower>{t!(i18n, edit.mask_lower)}</button>
                        <button data-testid="edit-clear-mask" on:click=clear_mask>{t!(i18n, edit.clear_mask)}</button>
                    </div>
                    <label>{t!(i18n, edit.held_out)} " " {number("edit-from-index", from_index)}
                        <button data-testid="edit-from-held-out" on:click=from_held_out>{t!(i18n, edit.from_held_out)}</button>
                    </label>
                    <button data-testid="edit-from-sample" on:click=from_sample>{t!(i18n, edit.from_sample)}</button>
                    {digit_select("edit-class", digit)}
                    {guidance_slider("edit-guidance", "edit-guidance-value", guidance)}
                    <label class:hidden=inpainting>{t!(i18n, edit.strength)} " "
                        <input type="range" min="0" max="1" step="0.05" data-testid="edit-strength"
                            prop:value=move || strength.get().to_string()
                            on:input=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<f64>() { strength.set(v.clamp(0.0, 1.0)) } }/>
                        <output data-testid="edit-strength-value">{move || format!("{:.2}", strength.get())}</output>
                    </label>
                    <label>{t!(i18n, edit.sampler)} " " {select("edit-sampler", sampler, vec![
                        ("ddim", Signal::stored("DDIM")),
                        ("ddpm", Signal::stored("DDPM")),
                        ("dpm++", Signal::stored("DPM-Solver++")),
                    ])}</label>
                    <label>{t!(i18n, edit.steps)} " " {number("edit-steps", steps)}</label>
                    <label class:hidden=move || !inpainting()>{t!(i18n, edit.resample)} " " {number("edit-resample", resample)}</label>
                    <label class:hidden=move || !inpainting()>{t!(i18n, edit.jump)} " " {number("edit-jump", jump)}</label>
                    <label>{t!(i18n, edit.count)} " " <input type="number" min="1" max=MAX_COUNT.to_string() data-testid="edit-count"
                        prop:value=move || count.get() on:input=move |ev| count.set(event_target_value(&ev))/></label>
                    <label>{t!(i18n, edit.seed)} " " {number("edit-seed", seed)}</label>
                    <label class="inline">
                        <input type="checkbox" prop:checked=move || show_x0.get()
                            on:change=move |ev| {
                                // also the run in flight, from its next frame
                                let on = event_target_checked(&ev);
                                show_x0.set(on);
                                crate::client::send(crate::protocol::Request::ShowX0 { on });
                            }/>
                        " " {t!(i18n, edit.show_x0)}
                    </label>
                    <div class="buttons">
                        <button data-testid="edit-run" on:click=run disabled=move || !ui.ready.get() || ui.busy.get()>{t!(i18n, edit.run)}</button>
                        <button data-testid="edit-stop" on:click=move |_| ui.stop() disabled=move || !ui.busy.get()>{t!(i18n, edit.stop)}</button>
                    </div>
                    <p class="meta">{t!(i18n, edit.step)} " " <span data-testid="edit-counter">{move || counter.get()}</span></p>
                </div>
                <div class="output">
                    <div class="pad" node_ref=surface data-testid="edit-pad" tabindex="0" role="application"
                        aria-label=move || t_string!(i18n, edit.pad)
                        on:pointerdown=down on:pointermove=moved on:pointerup=up on:pointerleave=up on:keydown=key>
                        <div class="cursor" data-testid="edit-cursor" aria-hidden="true"
                            style=move || {
                                let (x, y) = cursor.get();
                                let cell = 100.0 / SIDE as f64;
                                format!("left: {}%; top: {}%; width: {cell}%; height: {cell}%", x as f64 * cell, y as f64 * cell)
                            }></div>
                        <canvas class="digits" node_ref=ink_canvas width="28" height="28" data-testid="edit-canvas"></canvas>
                        <canvas class="digits mask" node_ref=mask_canvas width="28" height="28" data-testid="edit-mask"></canvas>
                    </div>
                    <div class="buttons">
                        <button data-testid="edit-save-drawing" on:click=save_drawing>{t!(i18n, edit.save_drawing)}</button>
                        <button data-testid="edit-save-mask" on:click=save_mask disabled=move || !inpainting()>{t!(i18n, edit.save_mask)}</button>
                    </div>
                    <canvas class="digits" data-testid="edit-output" node_ref=output width="32" height="32"
                        role="img" aria-label=move || alt_text(t_string!(i18n, edit.output), &predictions.get())></canvas>
                    {timeline_controls(ui, timeline, "edit-timeline")}
                    <p class="meta" data-testid="edit-predictions">{move || predictions.get()}</p>
                    <p class="meta" data-testid="edit-summary">{move || summary.get()}</p>
                    {command_line("edit-command", command)}
                </div>
            </div>
            {explain::edit()}
        </section>
    }
}
