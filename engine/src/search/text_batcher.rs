//! Concurrent text queries coalesced into one text-encoder call. A single query is bound by
//! reading the encoder's weights, so several queries encoded together cost little more than
//! one: under load (many users, live typing) every query waiting when the encoder frees up
//! joins the next batch instead of queueing behind the others. Batch sizes are counted.
//!
//! A query may carry a [`Ticket`]: live typing sends every pause's prefix, and once a newer
//! query from the same client has arrived, an older one still waiting is answered
//! [`EngineError::Superseded`] instead of being encoded.

use std::{
    sync::{mpsc, Arc, Mutex},
    thread,
};

pub use super::queue::Ticket;
use super::queue::{next_batch, without_superseded, Tally};
use crate::{clip::Clip, EngineError, Result};

/// Most queries in one encoder call.
const MAX_BATCH: usize = 16;

type Reply = mpsc::SyncSender<Result<Vec<f32>>>;

struct Request {
    text: String,
    ticket: Option<Ticket>,
    reply: Reply,
}

pub use super::queue::BatchSizes;

/// The text encoder behind a queue: callers block until their batch is encoded.
pub struct TextBatcher {
    requests: Mutex<mpsc::Sender<Request>>,
    sizes: Tally,
}

impl TextBatcher {
    /// Starts the text-encoding thread for `clip`.
    pub fn new(clip: Arc<Clip>) -> TextBatcher {
        let (tx, rx) = mpsc::channel::<Request>();
        let sizes = Tally::new(MAX_BATCH);
        let counted = sizes.clone();
        thread::Builder::new()
            .name("clipfind-text".into())
            .spawn(move || {
                while let Some(batch) = next_batch(&rx, MAX_BATCH) {
                    counted.count(batch.len());
                    encode(&clip, batch);
                }
            })
            .expect("the text-encoding thread starts");
        TextBatcher { requests: Mutex::new(tx), sizes }
    }

    /// The embedding of `text`; blocks until its batch is encoded.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        self.embed_unless_superseded(text, None)
    }

    /// As [`TextBatcher::embed`], or [`EngineError::Superseded`] when `ticket` was overtaken by
    /// a newer query of its client before this one was encoded.
    pub fn embed_unless_superseded(&self, text: &str, ticket: Option<Ticket>) -> Result<Vec<f32>> {
        let (reply, answer) = mpsc::sync_channel(1);
        let stopped = || EngineError::Inference { stage: "text encoding", reason: "the text-encoding thread stopped".into() };
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Request { text: text.to_string(), ticket, reply })
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }

    /// The sizes of the batches encoded so far.
    pub fn batch_sizes(&self) -> BatchSizes {
        self.sizes.sizes()
    }
}

/// Encodes a batch, less its superseded queries; a text that cannot be encoded gets its own
/// error, the others their vectors.
fn encode(clip: &Clip, batch: Vec<Request>) {
    // Tests hold the encoder here to queue queries behind it deterministically.
    crate::support::killpoint::pause("text-encode");
    let batch = without_superseded(batch, |r| r.ticket.as_ref(), |r| drop(r.reply.send(Err(EngineError::Superseded))));
    if batch.is_empty() {
        return;
    }
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
