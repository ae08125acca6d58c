//! # The page's end of its workers
//!
//! Spawns a worker (Trunk builds each from `bin/`, with its loader shim) and routes its replies:
//! those about the worker as a whole (the model worker's backend and download progress) to the
//! handler given when it starts, those about a job to the job's caller, an `async` call that
//! resolves with the reply that ends the job and sees every reply before it (a run's frames).
//! The model worker starts with the page ([`start`], [`call`], [`send`]); the toys' worker the
//! first time a view trains a toy ([`toy`], [`send_toy`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;
use gloo_worker::{HandlerId, Spawnable, Worker, WorkerBridge, WorkerScope};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::protocol::{Reply, Request, Routed, ToyReply, ToyRequest};

/// The model worker as the page names it. `gloo-worker` types a bridge by the worker behind
/// it, but the real one (`digitlab_web_worker::model::ModelWorker`, with Burn) is another wasm
/// that the page must not link; this type has its messages and no value (nothing in the page
/// ever creates a worker: the browser runs the worker's own wasm).
pub enum ModelWorker {}

/// The toys' worker as the page names it (see [`ModelWorker`]).
pub enum ToysWorker {}

/// The two names above, as `gloo-worker` needs them: their messages, and methods that no
/// value can reach.
macro_rules! remote_worker {
    ($name:ident, $input:ty, $output:ty) => {
        impl Worker for $name {
            type Message = ();
            type Input = $input;
            type Output = $output;

            fn create(_scope: &WorkerScope<Self>) -> Self {
                unreachable!(concat!(
                    stringify!($name),
                    " runs in its own wasm, not the page's"
                ))
            }

            fn update(&mut self, _scope: &WorkerScope<Self>, _msg: ()) {
                match *self {}
            }

            fn received(&mut self, _scope: &WorkerScope<Self>, _msg: $input, _id: HandlerId) {
                match *self {}
            }
        }
    };
}
remote_worker!(ModelWorker, Request, Reply);
remote_worker!(ToysWorker, ToyRequest, ToyReply);

/// The callers waiting on a worker's jobs, by job number.
type Handlers<O> = Rc<RefCell<HashMap<u64, Box<dyn FnMut(O)>>>>;

/// One spawned worker and the callers waiting on its jobs.
struct Bridge<W: Worker> {
    bridge: WorkerBridge<W>,
    handlers: Handlers<W::Output>,
    next: Cell<u64>,
}

impl<W> Bridge<W>
where
    W: Worker + 'static,
    W::Input: Serialize + DeserializeOwned,
    W::Output: Routed + Serialize + DeserializeOwned + 'static,
{
    fn spawn(loader: &str, general: impl Fn(W::Output) + 'static) -> Self {
        let handlers: Handlers<W::Output> = Rc::default();
        let routes = handlers.clone();
        let bridge = W::spawner()
            .callback(move |reply: W::Output| {
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
            .spawn_with_loader(loader);
        Self {
            bridge,
            handlers,
            next: Cell::new(1),
        }
    }

    /// Registers the job's handler and sends its request; the receiver gets the ending reply.
    fn start(
        &self,
        make: impl FnOnce(u64) -> W::Input,
        mut on_frame: impl FnMut(W::Output) + 'static,
    ) -> oneshot::Receiver<W::Output> {
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let job = self.next.get();
        self.next.set(job + 1);
        self.handlers.borrow_mut().insert(
            job,
            Box::new(move |reply: W::Output| {
                if !reply.ends() {
                    on_frame(reply);
                } else if let Some(tx) = tx.take() {
                    let _ = tx.send(reply);
                }
            }),
        );
        self.bridge.send(make(job));
        rx
    }
}

thread_local! {
    static MODEL: RefCell<Option<Bridge<ModelWorker>>> = const { RefCell::new(None) };
    static TOYS: RefCell<Option<Bridge<ToysWorker>>> = const { RefCell::new(None) };
}

/// Starts the model worker; `general` gets the replies that are about no job.
pub fn start(general: impl Fn(Reply) + 'static) {
    let bridge = Bridge::spawn("./digitlab-worker_loader.js", general);
    MODEL.with(|m| *m.borrow_mut() = Some(bridge));
}

/// Sends the model worker a request that is answered by no reply (Stop, the x₀ switch).
pub fn send(request: Request) {
    MODEL.with(|m| {
        if let Some(m) = m.borrow().as_ref() {
            m.bridge.send(request);
        }
    });
}

/// An ending reply a caller did not expect (a protocol mismatch), as an error message.
pub fn unexpected<R: Routed>(reply: R) -> String {
    format!("{} answered {reply:?}", R::WORKER)
}

/// Sends the model worker `make(job)` under a new job number and resolves with the reply that
/// ends the job, or the error of a failed one; `on_frame` gets the replies before it (a run's
/// frames).
pub async fn call(
    make: impl FnOnce(u64) -> Request,
    on_frame: impl FnMut(Reply) + 'static,
) -> Result<Reply, String> {
    let rx = MODEL
        .with(|m| m.borrow().as_ref().map(|m| m.start(make, on_frame)))
        .ok_or("the model worker has not started")?;
    rx.await
        .map_err(|_| "the model worker stopped answering".to_string())?
        .into_result()
}

/// The toys' worker, spawned the first time it is needed.
fn with_toys<T>(f: impl FnOnce(&Bridge<ToysWorker>) -> T) -> T {
    TOYS.with(|t| {
        let mut t = t.borrow_mut();
        let bridge =
            t.get_or_insert_with(|| Bridge::spawn("./digitlab-toys_loader.js", |_: ToyReply| {}));
        f(bridge)
    })
}

/// Sends the toys' worker a request answered by no reply (Stop).
pub fn send_toy(request: ToyRequest) {
    with_toys(|t| t.bridge.send(request));
}

/// Like [`call`], to the toys' worker.
pub async fn toy(
    make: impl FnOnce(u64) -> ToyRequest,
    on_progress: impl FnMut(ToyReply) + 'static,
) -> Result<ToyReply, String> {
    let rx = with_toys(|t| t.start(make, on_progress));
    rx.await
        .map_err(|_| "the toys' worker stopped answering".to_string())?
        .into_result()
}
