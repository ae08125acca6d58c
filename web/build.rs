//! Typesets the page's explanations at build time: `crates/explain/content` (Markdown with
//! LaTeX) becomes `$OUT_DIR/explain.rs`, HTML with MathML that `src/explain.rs` includes, so
//! the page's wasm carries no TeX or Markdown parser. A formula that does not parse stops the
//! build with its file and the reason.

use std::path::Path;

fn main() {
    // Read when the script runs, not when it is compiled: a compiled build script is reused by
    // any checkout that shares the target directory, and must not point at the one it came from.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let content = Path::new(&manifest).join("../crates/explain/content");
    println!("cargo:rerun-if-changed={}", content.display());
    let module = digitlab_explain::write_module(&content).unwrap_or_else(|e| panic!("{e}"));
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("explain.rs");
    std::fs::write(out, module).expect("OUT_DIR is writable");
}
