//! The toys' worker's entry point: a dedicated Web Worker started by the page
//! (`digitlab_web::client`) the first time a view trains a toy.

fn main() {
    digitlab_web_worker::toys::register();
}
