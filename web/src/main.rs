//! The page's entry point (the views); the model worker's is `bin/worker.rs`.

fn main() {
    digitlab_web::start_page();
}
