//! Concurrent text queries coalesced into one text-encoder call. A single query is bound by
//! reading the encoder's weights, so several queries encoded together cost little more than
//! one: under load (many users, live typing) every query waiting when the encoder frees up
//! joins the next batch instead of queueing behind the others. Batch sizes are counted.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        mpsc, Arc, Mutex,
    },
    thread,
};

use super::{clip::Clip, EngineError, Result};

/// Most queries in one encoder call.
const MAX_BATCH: usize = 16;

type Reply = mpsc::SyncSender<Result<Vec<f32>>>;

struct Request {
    text: String,
    reply: Reply,
}

/// How the batches formed so far were sized: `counts[n - 1]` batches of n queries.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BatchSizes {
    /// Batches formed, by size (index 0: batches of one query).
    pub counts: Vec<u64>,
}

/// The text encoder behind a queue: callers block until their batch is encoded.
pub struct TextBatcher {
    requests: Mutex<mpsc::Sender<Request>>,
    sizes: Arc<Vec<AtomicU64>>,
}

impl TextBatcher {
    /// Starts the text-encoding thread for `clip`.
    pub fn new(clip: Arc<Clip>) -> TextBatcher {
        let (tx, rx) = mpsc::channel::<Request>();
        let sizes: Arc<Vec<AtomicU64>> = Arc::new((0..MAX_BATCH).map(|_| AtomicU64::new(0)).collect());
        let counted = sizes.clone();
        thread::Builder::new()
            .name("clipfind-text".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    counted[batch.len() - 1].fetch_add(1, Relaxed);
                    encode(&clip, batch);
                }
            })
            .expect("the text-encoding thread starts");
        TextBatcher { requests: Mutex::new(tx), sizes }
    }

    /// The embedding of `text`; blocks until its batch is encoded.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let (reply, answer) = mpsc::sync_channel(1);
        let stopped = || EngineError::Inference { stage: "text encoding", reason: "the text-encoding thread stopped".into() };
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Request { text: text.to_string(), reply })
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }

    /// The sizes of the batches encoded so far.
    pub fn batch_sizes(&self) -> BatchSizes {
        BatchSizes { counts: self.sizes.iter().map(|c| c.load(Relaxed)).collect() }
    }
}

/// Encodes a batch; a text that cannot be encoded gets its own error, the others their vectors.
fn encode(clip: &Clip, batch: Vec<Request>) {
    let texts: Vec<&str> = batch.iter().map(|r| r.text.as_str()).collect();
    match clip.embed_texts(&texts) {
        Ok(vectors) => {
            for (request, vector) in batch.into_iter().zip(vectors) {
                let _ = request.reply.send(Ok(vector));
            }
        }
        // One bad text (say, one the tokenizer refuses) must not fail its neighbours.
        Err(_) => {
            for request in batch {
                let _ = request.reply.send(clip.embed_text(&request.text));
            }
        }
    }
}
