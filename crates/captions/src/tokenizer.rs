//! # The prompt tokenizer
//!
//! A WordPiece tokenizer from Hugging Face's `tokenizers` crate, its vocabulary *trained here*
//! on the captions of the training digits (`digitlab train text-ddpm` does it before the first
//! step). It is the tokenizer family of BERT and of the CLIP-like text encoders that Stable
//! Diffusion conditions on, at the size of this problem: lower-casing, a split on white space and
//! punctuation ("right-slanted" is `right`, `-`, `slanted`), whole words where the captions have
//! them and `##`-pieces for the rest, `[UNK]` for what cannot be spelled at all.
//!
//! Every encoding starts with `[CLS]` (so the empty prompt is one real token, the
//! unconditional prompt of classifier-free guidance) and is padded with `[PAD]` to a fixed
//! length, with a mask that tells the attention layers which tokens to ignore. A prompt longer
//! than that is refused with an error rather than cut: a silently truncated prompt would
//! generate something the user did not ask for.
//!
//! The trained tokenizer is serialised as `tokenizers`' own JSON and travels inside the text
//! model's weights card, so the page tokenises exactly as the trainer did.

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::normalizers::utils::Lowercase;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, ModelWrapper, Tokenizer};

/// Padding: id 0, ignored by every attention layer.
pub const PAD: &str = "[PAD]";
/// A word the vocabulary cannot spell.
pub const UNK: &str = "[UNK]";
/// First token of every prompt; alone, it is the empty (unconditional) prompt.
pub const CLS: &str = "[CLS]";

/// A prompt as the text encoder reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// `max_len` token ids, `[CLS]` first, `[PAD]` (0) after the prompt.
    pub ids: Vec<u32>,
    /// `true` where the token is padding.
    pub pad: Vec<bool>,
    /// The tokens as strings (without padding), for the page's attention map chooser.
    pub tokens: Vec<String>,
}

/// The trained tokenizer and the fixed length every prompt is padded to.
#[derive(Clone)]
pub struct PromptTokenizer {
    inner: Tokenizer,
    max_len: usize,
}

impl std::fmt::Debug for PromptTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("max_len", &self.max_len)
            .finish()
    }
}

fn error(e: impl std::fmt::Display) -> String {
    format!("tokenizer: {e}")
}

impl PromptTokenizer {
    /// Trains a WordPiece vocabulary of at most `vocab_size` tokens on `corpus`.
    pub fn train<I, S>(corpus: I, vocab_size: usize, max_len: usize) -> Result<Self, String>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        if max_len < 2 {
            return Err(error(format!(
                "max_len must leave room for [CLS] and a word, got {max_len}"
            )));
        }
        let mut inner = Tokenizer::new(ModelWrapper::WordPiece(
            WordPiece::builder()
                .unk_token(UNK.into())
                .build()
                .map_err(error)?,
        ));
        inner.with_normalizer(Some(Lowercase));
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner.with_decoder(Some(WordPieceDecoder::default()));
        let mut trainer = TrainerWrapper::WordPieceTrainer(
            WordPieceTrainer::builder()
                .vocab_size(vocab_size)
                .min_frequency(1)
                .show_progress(false)
                .special_tokens(
                    [PAD, UNK, CLS]
                        .iter()
                        .map(|t| AddedToken::from(*t, true))
                        .collect(),
                )
                .build(),
        );
        inner.train(&mut trainer, corpus).map_err(error)?;
        let cls = inner
            .token_to_id(CLS)
            .ok_or_else(|| error("[CLS] missing after training"))?;
        inner.with_post_processor(Some(
            TemplateProcessing::builder()
                .try_single(format!("{CLS} $A"))
                .map_err(error)?
                .special_tokens(vec![(CLS, cls)])
                .build()
                .map_err(error)?,
        ));
        Self::checked(inner, max_len)
    }

    /// The tokenizer saved by [`PromptTokenizer::to_json`].
    pub fn from_json(json: &str, max_len: usize) -> Result<Self, String> {
        let inner: Tokenizer = json.parse().map_err(error)?;
        Self::checked(inner, max_len)
    }

    fn checked(inner: Tokenizer, max_len: usize) -> Result<Self, String> {
        if inner.token_to_id(PAD) != Some(0) {
            return Err(error("[PAD] must be token 0"));
        }
        let tokenizer = Self { inner, max_len };
        let empty = tokenizer.encode("")?;
        if empty.tokens != [CLS] {
            return Err(error(format!(
                "the empty prompt must encode as [CLS] alone, got {:?}",
                empty.tokens
            )));
        }
        Ok(tokenizer)
    }

    /// `tokenizers`' JSON of this tokenizer.
    pub fn to_json(&self) -> String {
        self.inner
            .to_string(false)
            .expect("a trained tokenizer serialises")
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The length every prompt is padded to, `[CLS]` included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Tokenises one prompt, padded to [`PromptTokenizer::max_len`]; too long a prompt is an
    /// error that says how long it was.
    pub fn encode(&self, prompt: &str) -> Result<Tokens, String> {
        // `encode` rather than `encode_batch`: the batch version hands work to rayon, and the
        // page runs in a single wasm thread.
        let encoding = self.inner.encode(prompt, true).map_err(error)?;
        let mut ids = encoding.get_ids().to_vec();
        let tokens = encoding.get_tokens().to_vec();
        if ids.len() > self.max_len {
            return Err(format!(
                "the prompt is {} tokens long ({}); at most {} fit, [CLS] included",
                ids.len(),
                tokens.join(" "),
                self.max_len
            ));
        }
        let mut pad = vec![false; ids.len()];
        pad.resize(self.max_len, true);
        ids.resize(self.max_len, 0);
        Ok(Tokens { ids, pad, tokens })
    }

    /// The text of `ids` (padding and `[CLS]` left out).
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.inner.decode(ids, true).map_err(error)
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        let mut out = Vec::new();
        for digit in crate::grammar::ENGLISH
            .iter()
            .chain(crate::grammar::PERSIAN.iter())
        {
            for adjective in ["", "thick ", "thin ", "large, right-slanted "] {
                out.push(format!("a {adjective}{digit}"));
            }
        }
        out.push("an 8".into());
        out
    }

    fn trained() -> PromptTokenizer {
        PromptTokenizer::train(corpus().into_iter(), 200, 12).unwrap()
    }

    #[test]
    fn round_trips_captions_and_pads_to_a_fixed_length() {
        let t = trained();
        for caption in corpus() {
            let tokens = t.encode(&caption).unwrap();
            assert_eq!(tokens.ids.len(), 12);
            assert_eq!(tokens.tokens[0], CLS);
            assert!(!tokens.ids.contains(&t.token_id(UNK).unwrap()), "{caption}");
            // The decoded text re-encodes to the same ids.
            let text = t.decode(&tokens.ids).unwrap();
            assert_eq!(
                t.encode(&text).unwrap().ids,
                tokens.ids,
                "{caption} -> {text}"
            );
            let real = tokens.pad.iter().filter(|p| !**p).count();
            assert_eq!(real, tokens.tokens.len());
            assert!(tokens.ids[real..].iter().all(|&id| id == 0));
        }
        let seven = t.encode("A Thick, right-slanted SEVEN").unwrap();
        assert_eq!(
            seven.tokens,
            [CLS, "a", "thick", ",", "right", "-", "slanted", "seven"]
        );
        assert_eq!(t.encode("a هفت").unwrap().tokens, [CLS, "a", "هفت"]);
    }

    #[test]
    fn the_empty_prompt_is_cls_alone_and_unknown_words_are_unk() {
        let t = trained();
        let empty = t.encode("").unwrap();
        assert_eq!(empty.tokens, [CLS]);
        assert_eq!(empty.pad.iter().filter(|p| !**p).count(), 1);
        let odd = t.encode("a ☃ seven").unwrap();
        assert_eq!(odd.tokens, [CLS, "a", UNK, "seven"]);
        let err = t
            .encode("a thick thick thick thick thick thick thick thick thick thick seven")
            .unwrap_err();
        assert!(err.contains("at most 12"), "{err}");
    }

    #[test]
    fn survives_its_json() {
        let t = trained();
        let back = PromptTokenizer::from_json(&t.to_json(), 12).unwrap();
        assert_eq!(back.vocab_size(), t.vocab_size());
        assert_eq!(
            back.encode("a thin nine").unwrap(),
            t.encode("a thin nine").unwrap()
        );
        assert!(PromptTokenizer::from_json("{\"not\": 1}", 12).is_err());
    }
}
