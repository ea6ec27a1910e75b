//! Concurrent searches coalesced into one FAISS call. On a memory-bound exact index, eight
//! queries searched together cost little more than one (the vectors are read once), so under
//! load every waiting query joins the next batch instead of queueing behind the others. A query
//! whose [`Ticket`] was overtaken while it waited (live typing) is answered
//! [`EngineError::Superseded`] instead of being searched.

use std::{
    sync::{mpsc, Arc, Mutex},
    thread,
};

use super::queue::{next_batch, without_superseded, BatchSizes, Tally, Ticket};
use crate::{store::{faiss_store, VectorSearch}, EngineError, Result};

/// Most queries in one FAISS call.
const MAX_BATCH: usize = 64;

type Reply = mpsc::SyncSender<Result<Vec<(i64, f32)>>>;

struct Request {
    query: Vec<f32>,
    k: usize,
    ticket: Option<Ticket>,
    reply: Reply,
}

pub struct Batcher {
    requests: Mutex<mpsc::Sender<Request>>,
    sizes: Tally,
}

impl Batcher {
    /// Starts the search thread for `vectors`.
    pub fn new(vectors: Arc<dyn VectorSearch>) -> Batcher {
        // Matrix products from 4 queries on (FAISS's default is 20): at 100k vectors one call
        // took 14 / 15 / 30 / 62 ms for 1 / 2 / 4 / 8 queries scanned one at a time, and
        // 14 / 21 / 27 / 28 ms as products (`--bench vectors`).
        faiss_store::set_batched_scan(4, 1024);
        let (tx, rx) = mpsc::channel::<Request>();
        let sizes = Tally::new(MAX_BATCH);
        let counted = sizes.clone();
        thread::Builder::new()
            .name("clipfind-search".into())
            .spawn(move || {
                while let Some(batch) = next_batch(&rx, MAX_BATCH) {
                    counted.count(batch.len());
                    run(vectors.as_ref(), batch);
                }
            })
            .expect("the search thread starts");
        Batcher { requests: Mutex::new(tx), sizes }
    }

    /// The sizes of the batches searched so far.
    pub fn batch_sizes(&self) -> BatchSizes {
        self.sizes.sizes()
    }

    /// The `k` best (id, similarity) pairs for `query`; blocks until its batch is done.
    pub fn search(&self, query: Vec<f32>, k: usize) -> Result<Vec<(i64, f32)>> {
        self.search_unless_superseded(query, k, None)
    }

    /// As [`Batcher::search`], or [`EngineError::Superseded`] when `ticket` was overtaken
    /// before the search ran.
    pub fn search_unless_superseded(&self, query: Vec<f32>, k: usize, ticket: Option<Ticket>) -> Result<Vec<(i64, f32)>> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Request { query, k, ticket, reply })
            .map_err(|_| EngineError::Faiss("the search thread stopped".into()))?;
        answer.recv().map_err(|_| EngineError::Faiss("the search thread stopped".into()))?
    }
}

fn run(vectors: &dyn VectorSearch, batch: Vec<Request>) {
    let batch = without_superseded(batch, |r| r.ticket.as_ref(), |r| drop(r.reply.send(Err(EngineError::Superseded))));
    if batch.is_empty() {
        return;
    }
    let k = batch.iter().map(|r| r.k).max().unwrap_or(1);
    let queries: Vec<f32> = batch.iter().flat_map(|r| r.query.iter().copied()).collect();
    match vectors.search(&queries, k) {
        Ok(results) => {
            for (request, mut hits) in batch.into_iter().zip(results) {
                hits.truncate(request.k);
                let _ = request.reply.send(Ok(hits));
            }
        }
        Err(e) => {
            for request in batch {
                let _ = request.reply.send(Err(same_error(&e)));
            }
        }
    }
}

/// `e` again for another request of the batch: the kinds a caller tells apart (a store that is
/// down answers 503) keep their kind; the others their message.
fn same_error(e: &EngineError) -> EngineError {
    match e {
        EngineError::StoreUnavailable(m) => EngineError::StoreUnavailable(m.clone()),
        EngineError::Store(m) => EngineError::Store(m.clone()),
        EngineError::ModelMismatch(m) => EngineError::ModelMismatch(m.clone()),
        e => EngineError::Faiss(e.to_string()),
    }
}
