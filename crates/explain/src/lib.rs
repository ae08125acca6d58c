//! # The page's explanations, typeset
//!
//! Each view's explanations are one Markdown file per language (`content/en/sampling.md`),
//! written by hand with their formulas in LaTeX (`$…$` inline, `$$…$$` displayed). Every
//! `## heading` opens a fold (`<details>` on the page); `{.open}` after a heading shows it
//! unfolded. [`render`] turns a file into those folds with every formula as MathML, and
//! [`write_module`] writes all of them as a Rust module of `&'static str` that the page's build
//! script (`web/build.rs`) includes.
//!
//! Why at build time: the page then ships finished markup, and no TeX parser or Markdown
//! parser in its wasm (its size is a target of its own). Why MathML: Chrome, Firefox and Safari
//! render MathML Core natively, with no JavaScript math library; pulldown-latex writes it from
//! LaTeX, which stays readable in review, so no MathML is written by hand.

use std::fmt::{self, Write as _};
use std::path::Path;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use pulldown_latex::config::DisplayMode;
use pulldown_latex::{RenderConfig, Storage};

/// The views that have explanations, each a file `content/<language>/<view>.md`.
pub const VIEWS: &[&str] = &[
    "sampling",
    "forward",
    "divergence",
    "duel",
    "score",
    "vae",
    "gan",
    "text",
    "edit",
];

/// The languages, each a folder of `content/`. English has every view; a view another language
/// has not been translated into yet is shown in English (and `translated` says so).
pub const LANGUAGES: &[&str] = &["en", "fa"];

/// One fold of a view's explanations: its title and body as HTML (formulas as `<math>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Fold {
    pub title: String,
    pub body: String,
    /// Shown unfolded when the view opens (`{.open}` after the heading).
    pub open: bool,
}

/// Why a file of explanations could not be rendered: the page is not built with it.
#[derive(Debug)]
pub enum ExplainError {
    /// A formula pulldown-latex cannot read (an unknown command, an unbalanced brace).
    Tex {
        formula: String,
        message: String,
    },
    /// Text before the first `##` heading: it would belong to no fold.
    OutsideFold(String),
    /// A file with no fold at all.
    Empty,
    /// A line of `formulas.tex` that is not `NAME = LaTeX` with an upper-case name.
    FormulaLine(String),
    /// TeX left in the text outside the formulas (`x_t` written without `$`).
    LeftoverTex {
        fold: String,
        text: String,
    },
    Io {
        path: String,
        message: String,
    },
}

impl fmt::Display for ExplainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExplainError::Tex { formula, message } => {
                write!(f, "cannot typeset ${formula}$: {message}")
            }
            ExplainError::OutsideFold(text) => {
                write!(f, "text before the first ## heading: {text:?}")
            }
            ExplainError::Empty => write!(f, "no ## heading, so no fold"),
            ExplainError::FormulaLine(line) => {
                write!(f, "formulas.tex: not NAME = LaTeX: {line:?}")
            }
            ExplainError::LeftoverTex { fold, text } => {
                write!(f, "TeX outside $…$ in “{fold}”: {text:?}")
            }
            ExplainError::Io { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl std::error::Error for ExplainError {}

/// Renders one file of explanations into its folds. Every formula becomes MathML; a formula
/// that does not parse, text outside a fold, or TeX written outside `$…$` is an error (the
/// page would otherwise show it raw).
pub fn render(markdown: &str) -> Result<Vec<Fold>, ExplainError> {
    let options =
        Options::ENABLE_MATH | Options::ENABLE_HEADING_ATTRIBUTES | Options::ENABLE_TABLES;
    let mut folds: Vec<(Vec<Event>, Vec<Event>, bool)> = Vec::new();
    let mut in_title = false;
    for event in Parser::new_ext(markdown, options) {
        let event = match event {
            Event::InlineMath(tex) => Event::InlineHtml(typeset(&tex, DisplayMode::Inline)?.into()),
            Event::DisplayMath(tex) => Event::InlineHtml(typeset(&tex, DisplayMode::Block)?.into()),
            other => other,
        };
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                classes,
                ..
            }) => {
                let open = classes.iter().any(|c| c.as_ref() == "open");
                folds.push((Vec::new(), Vec::new(), open));
                in_title = true;
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => in_title = false,
            event => match folds.last_mut() {
                Some((title, _, _)) if in_title => title.push(event),
                Some((_, body, _)) => body.push(event),
                None => return Err(ExplainError::OutsideFold(format!("{event:?}"))),
            },
        }
    }
    if folds.is_empty() {
        return Err(ExplainError::Empty);
    }
    folds
        .into_iter()
        .map(|(title, body, open)| {
            let mut fold = Fold {
                title: String::new(),
                body: String::new(),
                open,
            };
            pulldown_cmark::html::push_html(&mut fold.title, title.into_iter());
            pulldown_cmark::html::push_html(&mut fold.body, body.into_iter());
            let text = visible_text(&fold.title) + " " + &visible_text(&fold.body);
            if let Some(tex) = leftover_tex(&text) {
                return Err(ExplainError::LeftoverTex {
                    fold: visible_text(&fold.title),
                    text: tex,
                });
            }
            Ok(fold)
        })
        .collect()
}

/// One formula as a `<math>` element. Parse errors are refused rather than drawn in red, as
/// pulldown-latex would: a typo must stop the build, not reach a reader.
fn typeset(tex: &str, mode: DisplayMode) -> Result<String, ExplainError> {
    let error = |message: String| ExplainError::Tex {
        formula: tex.to_string(),
        message,
    };
    let storage = Storage::new();
    let events: Vec<_> = pulldown_latex::Parser::new(tex, &storage).collect();
    if let Some(Err(e)) = events.iter().find(|e| e.is_err()) {
        return Err(error(e.to_string()));
    }
    let config = RenderConfig {
        display_mode: mode,
        ..RenderConfig::default()
    };
    let mut mathml = String::new();
    pulldown_latex::push_mathml(&mut mathml, events.into_iter(), config)
        .map_err(|e| error(e.to_string()))?;
    Ok(mathml)
}

/// The text a reader sees as prose: tags removed, and with them the content of `<math>`
/// (typeset) and `<code>` (commands and identifiers, where `_` belongs).
pub fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        rest = &rest[start..];
        let skipped = ["math", "code"].iter().find_map(|name| {
            let open = format!("<{name}");
            let close = format!("</{name}>");
            let after = rest.strip_prefix(open.as_str())?;
            after.starts_with([' ', '>']).then(|| {
                rest.find(close.as_str())
                    .map_or(rest.len(), |end| end + close.len())
            })
        });
        let end = skipped.unwrap_or_else(|| rest.find('>').map_or(rest.len(), |end| end + 1));
        text.push(' ');
        rest = &rest[end..];
    }
    text.push_str(rest);
    text
}

/// The first piece of `text` that is TeX rather than prose, if any: a backslash command, a
/// `$`, a `_{` or `^{`, or a one-letter name with a subscript such as `x_t`.
pub fn leftover_tex(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let around = |i: usize| -> String {
        chars[i.saturating_sub(12)..(i + 12).min(chars.len())]
            .iter()
            .collect()
    };
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let before = i.checked_sub(1).map(|j| chars[j]);
        let found = match c {
            '$' => true,
            '\\' => next.is_some_and(|n| n.is_alphabetic()),
            '_' | '^' => {
                next == Some('{')
                    || (before.is_some_and(char::is_alphabetic)
                        && next.is_some_and(char::is_alphanumeric)
                        && i.checked_sub(2).is_none_or(|j| !chars[j].is_alphanumeric()))
            }
            _ => false,
        };
        if found {
            return Some(around(i));
        }
    }
    None
}

/// Reads `formulas.tex`: one `NAME = LaTeX` per line (`%` starts a comment), each typeset as
/// an inline `<math>`.
pub fn formulas(text: &str) -> Result<Vec<(String, String)>, ExplainError> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('%'))
        .map(|line| {
            let (name, tex) = line
                .split_once('=')
                .ok_or_else(|| ExplainError::FormulaLine(line.to_string()))?;
            let name = name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(ExplainError::FormulaLine(line.to_string()));
            }
            Ok((name.to_string(), typeset(tex.trim(), DisplayMode::Inline)?))
        })
        .collect()
}

fn read(path: &Path) -> Result<String, ExplainError> {
    std::fs::read_to_string(path).map_err(|e| ExplainError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Renders every view of every language from `content` (the folder holding `en/`, ...) into
/// the source of a Rust module: `pub fn folds(language, view) -> &'static [Fold]`, with
/// `Fold { title, body, open }` of `&'static str` (declared by the includer), and a module
/// `formula` of one `&str` constant per line of `formulas.tex`.
pub fn write_module(content: &Path) -> Result<String, ExplainError> {
    let mut out = String::from(
        "// Written by digitlab-explain (web/build.rs) from crates/explain/content.\n",
    );
    let _ = writeln!(
        out,
        "/// The labels' formulas (content/formulas.tex), as inline MathML.\npub mod formula {{"
    );
    for (name, mathml) in formulas(&read(&content.join("formulas.tex"))?)? {
        let _ = writeln!(out, "    pub const {name}: &str = {mathml:?};");
    }
    let _ = writeln!(out, "}}");
    let mut arms = String::new();
    let mut translated = String::new();
    for language in LANGUAGES {
        for view in VIEWS {
            let path = content.join(language).join(format!("{view}.md"));
            if *language != "en" && !path.exists() {
                continue;
            }
            let markdown = read(&path)?;
            let folds = render(&markdown).map_err(|e| ExplainError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let name = format!("{}_{}", language, view).to_uppercase();
            let _ = writeln!(out, "const {name}: &[Fold] = &[");
            for fold in folds {
                let _ = writeln!(
                    out,
                    "    Fold {{ title: {:?}, body: {:?}, open: {} }},",
                    fold.title, fold.body, fold.open
                );
            }
            let _ = writeln!(out, "];");
            let _ = writeln!(arms, "        ({language:?}, {view:?}) => {name},");
            let _ = writeln!(translated, "        ({language:?}, {view:?}) => true,");
        }
    }
    let _ = writeln!(
        out,
        "/// Whether `view` has been written in `language`.\n\
         pub fn translated(language: &str, view: &str) -> bool {{\n    matches!((language, view), {})\n}}",
        translated
            .lines()
            .map(|l| l.trim().trim_end_matches(" => true,").to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        out,
        "/// The folds of `view` in `language`, in English where it has not been translated yet\n\
         /// (none for an unknown view).\n\
         pub fn folds(language: &str, view: &str) -> &'static [Fold] {{\n    match (language, view) {{\n{arms}        (_, view) if !matches!(language, \"en\") => folds(\"en\", view),\n        _ => &[],\n    }}\n}}"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("content")
    }

    #[test]
    fn every_shipped_file_renders_with_its_formulas_as_mathml() {
        for language in LANGUAGES {
            for view in VIEWS {
                let path = content().join(language).join(format!("{view}.md"));
                if *language != "en" && !path.exists() {
                    continue;
                }
                let markdown = std::fs::read_to_string(&path).unwrap();
                let folds = render(&markdown).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!folds.is_empty(), "{view}");
                assert!(
                    folds.iter().any(|f| f.open),
                    "{view}: the first fold should be open"
                );
                let formulas = markdown.matches('$').count();
                let math: usize = folds
                    .iter()
                    .map(|f| f.title.matches("<math").count() + f.body.matches("<math").count())
                    .sum();
                assert!(formulas == 0 || math > 0, "{view}: formulas but no <math>");
            }
        }
    }

    #[test]
    fn a_formula_becomes_math_and_leaves_no_tex_behind() {
        let folds = render("## Title {.open}\n\nThe step $x_{t-1} = \\sqrt{\\alpha_t}$ and\n\n$$\\hat\\varepsilon = w$$\n").unwrap();
        assert_eq!(folds.len(), 1);
        assert!(folds[0].open);
        assert_eq!(folds[0].title, "Title");
        assert_eq!(folds[0].body.matches("<math").count(), 2);
        assert!(
            folds[0].body.contains("display=\"block\""),
            "{}",
            folds[0].body
        );
        assert!(!folds[0].body.contains('$') && !folds[0].body.contains("\\sqrt"));
        assert_eq!(leftover_tex(&visible_text(&folds[0].body)), None);
    }

    #[test]
    fn tex_outside_a_formula_is_refused() {
        for md in [
            "## T\n\nthe step x_t here",
            "## T\n\nthe step x_{t-1}",
            "## T\n\n\\alpha",
        ] {
            assert!(
                matches!(render(md), Err(ExplainError::LeftoverTex { .. })),
                "{md}: {:?}",
                render(md)
            );
        }
        // Identifiers in code keep their underscores; prose words with one are not TeX.
        assert!(render("## T\n\n`guided_noise` and `x_t` in code").is_ok());
    }

    #[test]
    fn broken_tex_and_text_outside_a_fold_are_refused() {
        assert!(matches!(
            render("## T\n\n$\\frac{1}$"),
            Err(ExplainError::Tex { .. })
        ));
        assert!(matches!(
            render("## T\n\n$\\nosuchcommand x$"),
            Err(ExplainError::Tex { .. })
        ));
        assert!(matches!(
            render("intro\n\n## T\n\nx"),
            Err(ExplainError::OutsideFold(_))
        ));
        assert!(matches!(
            render("no heading"),
            Err(ExplainError::OutsideFold(_))
        ));
        assert!(matches!(render(""), Err(ExplainError::Empty)));
    }

    #[test]
    fn a_translation_has_the_folds_of_the_english_text() {
        // The same folds in the same order, open alike, and the same formulas: a translation
        // says the same thing, and a fold added in English must be added to it too.
        let mut translated = 0;
        for language in LANGUAGES.iter().filter(|l| **l != "en") {
            for view in VIEWS {
                let path = content().join(language).join(format!("{view}.md"));
                let Ok(markdown) = std::fs::read_to_string(&path) else {
                    continue;
                };
                translated += 1;
                let english =
                    std::fs::read_to_string(content().join("en").join(format!("{view}.md")))
                        .unwrap();
                let (a, b) = (render(&english).unwrap(), render(&markdown).unwrap());
                assert_eq!(a.len(), b.len(), "{language}/{view}: folds");
                for (x, y) in a.iter().zip(&b) {
                    assert_eq!(x.open, y.open, "{language}/{view}: {}", y.title);
                    let math = |f: &Fold| {
                        f.title.matches("<math").count() + f.body.matches("<math").count()
                    };
                    assert_eq!(
                        math(x),
                        math(y),
                        "{language}/{view}: formulas in “{}”",
                        y.title
                    );
                }
            }
        }
        assert!(translated > 0, "no translated view at all");
    }

    #[test]
    fn the_module_names_every_view_of_every_language() {
        let module = write_module(&content()).unwrap();
        for view in VIEWS {
            assert!(module.contains(&format!("(\"en\", \"{view}\")")), "{view}");
        }
        assert!(module.contains("pub fn folds("));
        assert!(
            module.contains("(\"fa\", \"sampling\") => FA_SAMPLING"),
            "{module}"
        );
        assert!(module.contains("pub fn translated("));
        assert!(
            module.contains("pub const SIGMA_MAX: &str = \"<math"),
            "{module}"
        );
    }

    #[test]
    fn formulas_are_named_lines_of_tex() {
        let f = formulas("% comment\nXT = x_t\n\nA_2 = \\sqrt{2}\n").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].0, "XT");
        assert!(
            f[1].1.starts_with("<math") && f[1].1.contains("msqrt"),
            "{}",
            f[1].1
        );
        assert!(formulas("no equals sign").is_err());
        assert!(formulas("lower = x").is_err());
        assert!(formulas("X = \\frac{1}").is_err());
    }
}
