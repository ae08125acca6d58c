//! # The frames of a run, kept to scrub
//!
//! Every step a run draws is kept as the grid's grey bytes (what the canvas showed, a quarter
//! of the floats' size), so that after the run a slider can show any step again. A byte
//! budget bounds a long run (1000 DDPM steps of 64 digits would be 50 MB): past it, frames are
//! no longer kept and [`Frames::dropped`] says from which step.

/// One kept frame: a grid of `width x height` grey bytes and what it shows (`step 3/20`).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub label: String,
    pub width: usize,
    pub height: usize,
    pub grey: Vec<u8>,
}

/// The frames of the last run, oldest first.
#[derive(Debug, Clone)]
pub struct Frames {
    frames: Vec<Frame>,
    bytes: usize,
    budget: usize,
    dropped: Option<String>,
}

/// What a page keeps per run by default: 32 MB of frames (about 2,500 steps of 16 digits).
pub const BUDGET: usize = 32 << 20;

impl Frames {
    pub fn new(budget: usize) -> Self {
        Self {
            frames: Vec::new(),
            bytes: 0,
            budget,
            dropped: None,
        }
    }

    /// Forgets the last run (a new one starts).
    pub fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
        self.dropped = None;
    }

    /// Keeps a frame, unless the budget is spent; returns whether it was kept.
    pub fn push(&mut self, frame: Frame) -> bool {
        if self.dropped.is_some() || self.bytes + frame.grey.len() > self.budget {
            self.dropped.get_or_insert(frame.label);
            return false;
        }
        self.bytes += frame.grey.len();
        self.frames.push(frame);
        true
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Frame `k`, counted from 1 as the slider does.
    pub fn get(&self, k: usize) -> Option<&Frame> {
        k.checked_sub(1).and_then(|i| self.frames.get(i))
    }

    /// The label of the first frame that was not kept, if the budget ran out.
    pub fn dropped(&self) -> Option<&str> {
        self.dropped.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(k: usize, bytes: usize) -> Frame {
        Frame {
            label: format!("step {k}"),
            width: bytes,
            height: 1,
            grey: vec![k as u8; bytes],
        }
    }

    #[test]
    fn frames_are_kept_in_order_and_counted_from_one() {
        let mut f = Frames::new(1000);
        for k in 1..=3 {
            assert!(f.push(frame(k, 10)));
        }
        assert_eq!(f.len(), 3);
        assert_eq!(f.get(1).unwrap().grey[0], 1);
        assert_eq!(f.get(3).unwrap().label, "step 3");
        assert!(f.get(0).is_none() && f.get(4).is_none());
        f.clear();
        assert!(f.is_empty());
    }

    #[test]
    fn past_the_budget_frames_are_dropped_and_the_first_dropped_is_named() {
        let mut f = Frames::new(25);
        assert!(f.push(frame(1, 10)));
        assert!(f.push(frame(2, 10)));
        assert!(!f.push(frame(3, 10)));
        // Once dropping, later (smaller) frames are not kept either: the kept ones stay a prefix.
        assert!(!f.push(frame(4, 1)));
        assert_eq!(f.len(), 2);
        assert_eq!(f.dropped(), Some("step 3"));
        f.clear();
        assert_eq!(f.dropped(), None);
        assert!(f.push(frame(1, 10)));
    }
}
