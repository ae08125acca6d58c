//! # The page's end of the model worker
//!
//! Spawns the model worker (Trunk builds it from `bin/worker.rs` with its loader shim) and
//! routes its replies: those about the worker as a whole (its backend, download progress) to
//! the handler given to [`start`], those about a job to the job's caller ([`call`]), which
//! resolves with the reply that ends the job and sees every frame before it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;
use gloo_worker::{Spawnable, WorkerBridge};

use crate::protocol::{Reply, Request};
use crate::worker::ModelWorker;

type Handler = Box<dyn FnMut(Reply)>;

struct Client {
    bridge: WorkerBridge<ModelWorker>,
    handlers: Rc<RefCell<HashMap<u64, Handler>>>,
    next: Cell<u64>,
}

thread_local! {
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

/// Starts the model worker; `general` gets the replies that are about no job.
pub fn start(general: impl Fn(Reply) + 'static) {
    let handlers: Rc<RefCell<HashMap<u64, Handler>>> = Rc::default();
    let routes = handlers.clone();
    let bridge = ModelWorker::spawner()
        .callback(move |reply: Reply| {
            let Some(job) = reply.job() else {
                return general(reply);
            };
            let ends = reply.ends();
            // Out of the map while it runs: a handler may start another job.
            let handler = routes.borrow_mut().remove(&job);
            if let Some(mut handler) = handler {
                handler(reply);
                if !ends {
                    routes.borrow_mut().insert(job, handler);
                }
            }
        })
        .spawn_with_loader("./digitlab-worker_loader.js");
    CLIENT.with(|c| {
        *c.borrow_mut() = Some(Client {
            bridge,
            handlers,
            next: Cell::new(1),
        })
    });
}

/// Sends a request that is answered by no reply (Stop, the x₀ switch).
pub fn send(request: Request) {
    CLIENT.with(|c| {
        if let Some(c) = c.borrow().as_ref() {
            c.bridge.send(request);
        }
    });
}

/// Sends `make(job)` under a new job number and resolves with the reply that ends the job;
/// `on_frame` gets the replies before it (a run's frames).
pub async fn call(
    make: impl FnOnce(u64) -> Request,
    mut on_frame: impl FnMut(Reply) + 'static,
) -> Result<Reply, String> {
    let (tx, rx) = oneshot::channel();
    let mut tx = Some(tx);
    let sent = CLIENT.with(|c| {
        let c = c.borrow();
        let c = c.as_ref()?;
        let job = c.next.get();
        c.next.set(job + 1);
        c.handlers.borrow_mut().insert(
            job,
            Box::new(move |reply: Reply| {
                if !reply.ends() {
                    on_frame(reply);
                } else if let Some(tx) = tx.take() {
                    let _ = tx.send(reply);
                }
            }),
        );
        c.bridge.send(make(job));
        Some(())
    });
    sent.ok_or("the model worker has not started")?;
    rx.await
        .map_err(|_| "the model worker stopped answering".to_string())
}
