//! The model worker's entry point: a dedicated Web Worker started by the page
//! (`digitlab_web::client`), which owns the device and the diffusion models.

fn main() {
    digitlab_web_worker::model::register();
}
