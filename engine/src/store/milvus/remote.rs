//! One Milvus collection, through the official Rust SDK: its schema (the catalog id as primary
//! key, the vector, and the fields filters look at), the model it holds, and the calls clipfind
//! makes. The SDK is async; every call runs on this store's own small runtime and the caller
//! waits, so the engine stays synchronous and a call is safe from any thread (a server's async
//! threads included). The connection is made on first use and made again after a failure: a
//! Milvus that was down answers again as soon as it is back.

use std::{collections::HashMap, future::Future, sync::Mutex, time::Duration};

use milvus::{
    client::{Client, ClientBuilder},
    data::FieldColumn,
    error::Error as MilvusError,
    index::{IndexParams, IndexType, MetricType},
    mutate::{DeleteOptions, InsertOptions},
    options::CreateCollectionOptions,
    proto::common::ConsistencyLevel,
    query::{QueryOptions, SearchOptions},
    schema::{CollectionSchema, CollectionSchemaBuilder, FieldSchema},
    value::{Value, ValueVec},
};
use serde::{Deserialize, Serialize};
use tonic::Code;

use crate::{store::choice::{MilvusUrl, RemoteIndex}, EngineError, Result};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any other call may take (a flush of a large upload included).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Milvus' largest top-k and query window.
pub const MAX_LIMIT: usize = 16_384;
/// The collection property holding the marker of the last complete sync (see sync.rs).
const MARKER: &str = "clipfind.synced";
/// Longest stored path, in bytes (Milvus' VARCHAR needs a bound).
pub const MAX_PATH: usize = 4096;

const VECTOR: &str = "vector";

/// A row's searchable fields (its vector travels beside it).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteRow {
    /// The catalog's vector id.
    pub id: i64,
    /// The file's stored path (for folder filters), at most [`MAX_PATH`] bytes.
    pub path: String,
    /// Lower-case extension.
    pub ext: String,
    /// Capture time, wall-clock seconds; [`NO_TIME`] when unknown.
    pub taken: i64,
    /// 0 image, 1 video.
    pub kind: i64,
    /// 0 landscape, 1 portrait, 2 square.
    pub orient: i64,
    /// Whether the file has a GPS position.
    pub located: bool,
    /// Signature of the fields above and the vector's version (see sync.rs).
    pub sig: i64,
}

/// `taken` of a file without a capture time (Milvus 2.3 has no NULL): below every real time.
/// (Not i64::MIN: Milvus parses `-9223372036854775808` as the negation of a number too large.)
pub const NO_TIME: i64 = -(1 << 62);

/// What clipfind writes in a collection's description: which model's vectors it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Description {
    clipfind: u32,
    model_identity: String,
    model: String,
    dim: usize,
}

/// A Milvus collection and a connection to it.
pub struct Remote {
    url: MilvusUrl,
    runtime: tokio::runtime::Runtime,
    client: Mutex<Option<Client>>,
}

impl Remote {
    /// A handle on `url`'s collection; nothing is connected until the first call.
    pub fn new(url: MilvusUrl) -> Result<Remote> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("clipfind-milvus")
            .enable_all()
            .build()
            .map_err(|e| EngineError::Store(format!("cannot start the Milvus client's runtime: {e}")))?;
        Ok(Remote { url, runtime, client: Mutex::new(None) })
    }

    /// The collection's URL (without password).
    pub fn url(&self) -> &MilvusUrl {
        &self.url
    }

    /// Creates the collection for `dim`-d vectors of the model `identity` (named `model`) when
    /// it is missing, and loads it. A collection of another model or size is refused, unless
    /// `replace`, which drops it and starts again (a rebuild with a new model).
    pub fn ensure_collection(&self, dim: usize, identity: &str, model: &str, replace: bool) -> Result<()> {
        let wanted = Description { clipfind: 1, model_identity: identity.to_string(), model: model.to_string(), dim };
        match self.description()? {
            Some(found) if found == wanted => {}
            Some(found) if replace => {
                tracing::info!("dropping the Milvus collection {} (it held {}'s vectors)", self.url.collection, found.model);
                let name = self.url.collection.clone();
                self.call("drop the collection", move |c| async move { c.drop_collection(name).await })?;
                self.create(&wanted)?;
            }
            Some(found) => return Err(self.mismatch(&found, &wanted)),
            None => self.create(&wanted)?,
        }
        self.load()
    }

    /// Refuses a collection that is missing or holds another model's vectors (searching).
    pub fn check_collection(&self, dim: usize, identity: &str, model: &str) -> Result<()> {
        let wanted = Description { clipfind: 1, model_identity: identity.to_string(), model: model.to_string(), dim };
        match self.description()? {
            Some(found) if found == wanted => self.load(),
            Some(found) => Err(self.mismatch(&found, &wanted)),
            None => Err(EngineError::Store(format!(
                "the Milvus collection {} does not exist on {}:{}: run `clipfind index` to fill it",
                self.url.collection, self.url.host, self.url.port
            ))),
        }
    }

    fn mismatch(&self, found: &Description, wanted: &Description) -> EngineError {
        let what = match found.dim == wanted.dim {
            true => format!("the model `{}`", found.model),
            false => format!("{}-d vectors of the model `{}` (this model's are {}-d)", found.dim, found.model, wanted.dim),
        };
        EngineError::ModelMismatch(format!(
            "the Milvus collection {} holds {what}, not `{}`: index with that model, use another collection, or rebuild with `clipfind index --rebuild`",
            self.url.collection, wanted.model
        ))
    }

    /// The collection's clipfind description; None when there is no such collection. A
    /// collection clipfind did not make is refused rather than written into.
    fn description(&self) -> Result<Option<Description>> {
        let name = self.url.collection.clone();
        let exists = self.call("look for the collection", move |c| async move { c.has_collection(name).await })?;
        if !exists {
            return Ok(None);
        }
        let name = self.url.collection.clone();
        let described = self.call("describe the collection", move |c| async move { c.describe_collection(name).await })?;
        let text = described.schema.description;
        match serde_json::from_str::<Description>(&text) {
            Ok(d) => Ok(Some(d)),
            Err(_) => Err(EngineError::Store(format!(
                "the Milvus collection {} was not made by clipfind (its description is {text:?}): choose another collection name",
                self.url.collection
            ))),
        }
    }

    fn create(&self, description: &Description) -> Result<()> {
        let schema = schema(&self.url.collection, description.dim, &serde_json::to_string(description).expect("a description serializes"))?;
        let name = self.url.collection.clone();
        // Bounded consistency by default: searches do not wait for the newest writes (the
        // indexer makes its writes visible before it returns, see `flush`).
        let options = CreateCollectionOptions::with_consistency_level(ConsistencyLevel::Bounded);
        self.call("create the collection", move |c| async move { c.create_collection(schema, Some(options)).await })?;
        let (index_type, params) = match self.url.index {
            RemoteIndex::Flat => (IndexType::Flat, HashMap::new()),
            RemoteIndex::Hnsw { m, ef_construction, .. } => {
                (IndexType::HNSW, HashMap::from([("M".to_string(), m.to_string()), ("efConstruction".to_string(), ef_construction.to_string())]))
            }
            RemoteIndex::IvfFlat { nlist, .. } => (IndexType::IvfFlat, HashMap::from([("nlist".to_string(), nlist.to_string())])),
        };
        let index = IndexParams::new("vector_index".into(), index_type, MetricType::IP, params);
        let name2 = name.clone();
        self.call("create the vector index", move |c| async move { c.create_index(name2, VECTOR, index).await })?;
        tracing::info!("created the Milvus collection {} ({} index)", name, self.url.index.name());
        Ok(())
    }

    /// Loads the collection into the query nodes (a restarted Milvus may not have it loaded).
    pub fn load(&self) -> Result<()> {
        let name = self.url.collection.clone();
        self.call("load the collection", move |c| async move { c.load_collection(name, None).await })
    }

    /// The marker of the last complete sync, when the collection has one.
    pub fn marker(&self) -> Result<Option<String>> {
        let name = self.url.collection.clone();
        let described = self.call("describe the collection", move |c| async move { c.describe_collection(name).await })?;
        Ok(described.properties.into_iter().find(|p| p.key == MARKER).map(|p| p.value))
    }

    /// Records the marker of a complete sync in the collection.
    pub fn set_marker(&self, marker: &str) -> Result<()> {
        let (name, properties) = (self.url.collection.clone(), HashMap::from([(MARKER.to_string(), marker.to_string())]));
        self.call("record the sync", move |c| async move { c.alter_collection_properties(name, properties).await })
    }

    /// The (id, signature) of every row with `lo <= id < hi` (at most [`MAX_LIMIT`] of them),
    /// as of now (strong consistency).
    pub fn rows_between(&self, lo: i64, hi: i64) -> Result<Vec<(i64, i64)>> {
        let name = self.url.collection.clone();
        let expr = format!("id >= {lo} && id < {hi}");
        let columns = self.call("list the rows", move |c| async move {
            let options = QueryOptions::new().output_fields(vec!["id".into(), "sig".into()]).limit(MAX_LIMIT as i64).consistency_level(ConsistencyLevel::Strong as i32);
            c.query(name, &expr, &options).await
        })?;
        let ids = int_column(&columns, "id")?;
        let sigs = int_column(&columns, "sig")?;
        Ok(ids.into_iter().zip(sigs).collect())
    }

    /// Writes these rows (new or replacing), `vectors` holding their vectors back to back.
    pub fn upsert(&self, rows: &[RemoteRow], vectors: Vec<f32>, dim: usize) -> Result<()> {
        let schema = schema(&self.url.collection, dim, "")?;
        let field = |name: &str| schema.get_field(name).ok_or_else(|| EngineError::Store(format!("no field {name} in the schema")));
        let column = |name: &str, values: ValueVec| -> Result<FieldColumn> { Ok(FieldColumn::new(field(name)?, values)) };
        let columns = vec![
            column("id", rows.iter().map(|r| r.id).collect::<Vec<i64>>().into())?,
            column(VECTOR, vectors.into())?,
            column("path", rows.iter().map(|r| r.path.clone()).collect::<Vec<String>>().into())?,
            column("ext", rows.iter().map(|r| r.ext.clone()).collect::<Vec<String>>().into())?,
            column("taken", rows.iter().map(|r| r.taken).collect::<Vec<i64>>().into())?,
            column("kind", rows.iter().map(|r| r.kind).collect::<Vec<i64>>().into())?,
            column("orient", rows.iter().map(|r| r.orient).collect::<Vec<i64>>().into())?,
            column("located", rows.iter().map(|r| r.located).collect::<Vec<bool>>().into())?,
            column("sig", rows.iter().map(|r| r.sig).collect::<Vec<i64>>().into())?,
        ];
        let name = self.url.collection.clone();
        self.call("upload vectors", move |c| async move { c.upsert(name, columns, None::<InsertOptions>).await.map(drop) })
    }

    /// Removes the rows with these ids.
    pub fn delete(&self, ids: &[i64]) -> Result<()> {
        let (name, ids) = (self.url.collection.clone(), ids.to_vec());
        self.call("delete vectors", move |c| async move { c.delete(name, &DeleteOptions::with_ids(ids.into())).await.map(drop) })
    }

    /// Seals what was written and waits until searches see it; returns the rows the
    /// collection holds.
    pub fn flush(&self) -> Result<u64> {
        let name = self.url.collection.clone();
        self.call("flush", move |c| async move { c.flush(name).await.map(drop) })?;
        // A strong read waits until the query nodes have applied every write; after it, the
        // bounded reads of every other client see them too (checked against Milvus 2.3.5).
        let name = self.url.collection.clone();
        let columns = self.call("count the rows", move |c| async move {
            let options = QueryOptions::new().output_fields(vec!["count(*)".into()]).consistency_level(ConsistencyLevel::Strong as i32);
            c.query(name, "", &options).await
        })?;
        Ok(int_column(&columns, "count(*)")?.first().copied().unwrap_or(0) as u64)
    }

    /// Waits until Milvus has built the vector index over every sealed segment (searches work
    /// meanwhile, over unindexed segments by brute force); false when `timeout` passed first.
    pub fn wait_for_index(&self, timeout: Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let name = self.url.collection.clone();
            let state = self.call("describe the vector index", move |c| async move {
                let indexes = c.describe_index(name, VECTOR.to_string()).await?;
                Ok(indexes.first().map(|i| i.state()))
            })?;
            if state == Some(milvus::proto::common::IndexState::Finished) {
                return Ok(true);
            }
            if std::time::Instant::now() > deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `k` best (id, inner product) pairs for each query (`queries` back to back, `dim`
    /// floats each) among the rows `filter` keeps (a Milvus boolean expression).
    pub fn search(&self, queries: &[f32], dim: usize, k: usize, filter: Option<String>) -> Result<Vec<Vec<(i64, f32)>>> {
        let data: Vec<Value<'static>> = queries.chunks_exact(dim).map(|q| Value::from(q.to_vec())).collect();
        let mut options = SearchOptions::new().limit(k.min(MAX_LIMIT)).add_param("anns_field", VECTOR).add_param("metric_type", "IP");
        options = match self.url.index {
            RemoteIndex::Flat => options,
            RemoteIndex::Hnsw { ef, .. } => options.add_param("ef", ef.max(k as u32).to_string()),
            RemoteIndex::IvfFlat { nprobe, .. } => options.add_param("nprobe", nprobe.to_string()),
        };
        if let Some(filter) = filter {
            options = options.filter(filter);
        }
        let name = self.url.collection.clone();
        let nq = data.len();
        let results = self.call("search", move |c| async move {
            let found = match c.search(name, data, Some(options)).await {
                // The SDK's answer when nothing matched (an empty collection, a filter keeping nothing).
                Err(MilvusError::Unexpected(m)) if m.contains("no IDs in search result") => return Ok(vec![Vec::new(); nq]),
                found => found?,
            };
            Ok(found
                .into_iter()
                .map(|r| r.id.iter().zip(&r.score).filter_map(|(id, score)| match id {
                    Value::Long(id) => Some((*id, *score)),
                    _ => None,
                }).collect::<Vec<_>>())
                .collect::<Vec<_>>())
        })?;
        Ok(results)
    }

    /// Runs `call` with a connected client on this store's runtime and waits for it. A failure
    /// to reach Milvus drops the connection (the next call connects again) and is
    /// [`EngineError::StoreUnavailable`].
    fn call<T, F>(&self, what: &str, call: impl FnOnce(Client) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = std::result::Result<T, MilvusError>> + Send + 'static,
    {
        let pending = call(self.client()?);
        let answer = self.block(async move { tokio::time::timeout(CALL_TIMEOUT, pending).await });
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                let e = self.error(what, &e);
                if matches!(e, EngineError::StoreUnavailable(_)) {
                    self.forget_client();
                }
                Err(e)
            }
            Err(_) => {
                self.forget_client();
                Err(self.unavailable(what, &format!("no answer in {} s", CALL_TIMEOUT.as_secs())))
            }
        }
    }

    fn client(&self) -> Result<Client> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let mut endpoint = tonic::transport::Endpoint::from_shared(self.url.endpoint()).map_err(|e| self.unavailable("connect", &e.to_string()))?;
        if self.url.tls {
            // The server's certificate is checked against the system's roots.
            let tls = tonic::transport::ClientTlsConfig::new().with_native_roots().domain_name(self.url.host.clone());
            endpoint = endpoint.tls_config(tls).map_err(|e| self.unavailable("connect", &format!("TLS: {e}")))?;
        }
        let mut builder = ClientBuilder::new(endpoint).timeout(CALL_TIMEOUT);
        if let Some(user) = &self.url.user {
            builder = builder.username(user).password(self.url.password.as_deref().unwrap_or(""));
        }
        let connected = self.block(async move { tokio::time::timeout(CONNECT_TIMEOUT, builder.build()).await });
        let client = match connected {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(self.unavailable("connect", &describe(&e))),
            Err(_) => return Err(self.unavailable("connect", &format!("no answer in {} s", CONNECT_TIMEOUT.as_secs()))),
        };
        *slot = Some(client.clone());
        Ok(client)
    }

    fn forget_client(&self) {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Runs `future` to completion on the store's runtime from any thread (an async one too:
    /// it is spawned there and waited for on a channel, never nested in the caller's runtime).
    fn block<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().expect("the Milvus runtime finishes what it is given")
    }

    fn unavailable(&self, what: &str, why: &str) -> EngineError {
        EngineError::StoreUnavailable(format!("Milvus at {}:{} cannot be reached ({what}: {why}); is it running?", self.url.host, self.url.port))
    }

    /// clipfind's error for the SDK's: unreachable and refused credentials are the store being
    /// unavailable; anything else is Milvus refusing the request.
    fn error(&self, what: &str, e: &MilvusError) -> EngineError {
        let text = describe(e);
        let lower = text.to_lowercase();
        if lower.contains("auth") || lower.contains("unauthenticated") || lower.contains("credential") || lower.contains("permission") {
            return EngineError::StoreUnavailable(format!(
                "Milvus at {}:{} refused the user name or password ({what}: {text}): give them as milvus://USER:PASSWORD@{}:{}/{}",
                self.url.host, self.url.port, self.url.host, self.url.port, self.url.collection
            ));
        }
        let unreachable = match e {
            MilvusError::Communication(_) => true,
            MilvusError::Grpc(status) => {
                matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown)
            }
            _ => false,
        };
        match unreachable {
            true => self.unavailable(what, &text),
            false => EngineError::Store(format!("Milvus could not {what} in the collection {}: {text}", self.url.collection)),
        }
    }
}

/// The SDK error's message, its sources included.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The collection's schema: the catalog id as primary key, the vector, and what filters read.
fn schema(name: &str, dim: usize, description: &str) -> Result<CollectionSchema> {
    CollectionSchemaBuilder::new(name, description)
        .add_field(FieldSchema::new_primary_int64("id", "the catalog's vector id", false))
        .add_field(FieldSchema::new_float_vector(VECTOR, "L2-normalised CLIP embedding", dim as i64))
        .add_field(FieldSchema::new_varchar("path", "stored path", MAX_PATH as i32))
        .add_field(FieldSchema::new_varchar("ext", "lower-case extension", 64))
        .add_field(FieldSchema::new_int64("taken", "capture time, wall-clock seconds"))
        .add_field(FieldSchema::new_int64("kind", "0 image, 1 video"))
        .add_field(FieldSchema::new_int64("orient", "0 landscape, 1 portrait, 2 square"))
        .add_field(FieldSchema::new_bool("located", "has a GPS position"))
        .add_field(FieldSchema::new_int64("sig", "signature of the row (clipfind's sync)"))
        .build()
        .map_err(|e| EngineError::Store(format!("the Milvus schema: {e}")))
}

fn int_column(columns: &[FieldColumn], name: &str) -> Result<Vec<i64>> {
    let column = columns.iter().find(|c| c.name == name).ok_or_else(|| EngineError::Store(format!("Milvus returned no {name} column")))?;
    column.value.clone().try_into().map_err(|_| EngineError::Store(format!("Milvus returned a {name} column that is not whole numbers")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::choice::StoreChoice;

    fn remote(port: u16) -> Remote {
        match format!("milvus://127.0.0.1:{port}/photos").parse::<StoreChoice>().unwrap() {
            StoreChoice::Milvus(url) => Remote::new(url).unwrap(),
            StoreChoice::Local => unreachable!(),
        }
    }

    fn description(model: &str, dim: usize) -> Description {
        Description { clipfind: 1, model_identity: format!("{model}-files"), model: model.into(), dim }
    }

    #[test]
    fn another_model_or_size_is_named_in_the_refusal() {
        let r = remote(1);
        let other_size = r.mismatch(&description("vit-l14", 768), &description("vit-b32", 512)).to_string();
        assert!(other_size.contains("holds 768-d vectors of the model `vit-l14` (this model's are 512-d), not `vit-b32`"), "{other_size}");
        let other_model = r.mismatch(&description("laion", 512), &description("vit-b32", 512)).to_string();
        assert!(other_model.contains("holds the model `laion`, not `vit-b32`"), "{other_model}");
    }

    #[test]
    fn nothing_listening_is_unavailable_at_once_and_says_where() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let r = remote(port);
        let started = std::time::Instant::now();
        let e = r.marker().unwrap_err();
        assert!(matches!(e, EngineError::StoreUnavailable(_)), "{e:?}");
        assert!(e.to_string().contains(&format!("Milvus at 127.0.0.1:{port} cannot be reached (connect: ")), "{e}");
        assert!(started.elapsed() < CONNECT_TIMEOUT, "refused, not timed out");
        // Still no server: the next call tries again (and fails the same way), nothing is cached.
        assert!(matches!(r.marker(), Err(EngineError::StoreUnavailable(_))));
    }
}
