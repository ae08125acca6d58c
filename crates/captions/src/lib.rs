//! # Captions that describe their images
//!
//! Text-conditioned diffusion needs (image, caption) pairs. MNIST has only labels, so each
//! caption is built from the label and three attributes *measured* on the image itself, so that
//! it is true of that image:
//!
//! - [`measure`]: ink mass (thickness), slant from the image moments, bounding-box height (size);
//! - [`bins`]: the cut points that turn each measure into a word (tertiles of the training set);
//! - [`grammar`]: the words put together, in English and with the digit names in Persian;
//! - [`tokenizer`]: the WordPiece tokenizer trained on those captions, which the text encoder reads.

pub mod bins;
pub mod grammar;
pub mod measure;
pub mod tokenizer;

pub use bins::{Bins, Described, Size, Slant, Thickness};
pub use grammar::{Language, caption};
pub use measure::{Attributes, measure};
pub use tokenizer::{PromptTokenizer, Tokens};
