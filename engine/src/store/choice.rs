//! Which vector store a library uses: the embedded FAISS store in the index folder (the
//! default), or a Milvus collection (`milvus://[USER:PASSWORD@]HOST[:PORT]/COLLECTION`). The
//! catalog records the choice, without the password, so later runs need only the index folder.

use std::{fmt, path::Path};

/// The catalog meta key holding the store (absent: the embedded store).
pub const STORE_KEY: &str = "store";

/// The catalog meta key holding the marker of the last complete sync to a remote store (see
/// `store::milvus::sync`).
pub const REMOTE_MARKER_KEY: &str = "milvus_synced";

/// The environment variable that may hold the Milvus password.
pub const PASSWORD_VAR: &str = "CLIPFIND_MILVUS_PASSWORD";

/// Milvus' default gRPC port.
pub const MILVUS_PORT: u16 = 19530;

/// Where a library's vectors live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreChoice {
    /// FAISS in the index folder (exact or approximate, see [`super::policy`]).
    #[default]
    Local,
    /// A Milvus collection.
    Milvus(MilvusUrl),
}

/// A Milvus collection and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct MilvusUrl {
    /// Host name or address.
    pub host: String,
    /// gRPC port.
    pub port: u16,
    /// The collection (letters, digits and `_`, not starting with a digit).
    pub collection: String,
    /// User name, with authentication on.
    pub user: Option<String>,
    /// Password, with authentication on (never recorded in the catalog).
    pub password: Option<String>,
    /// The vector index Milvus builds.
    pub index: RemoteIndex,
    /// Connect over TLS (`?tls=true`), checking the server's certificate against the system's roots.
    pub tls: bool,
}

/// The vector index a Milvus collection is searched through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteIndex {
    /// Exact search (Milvus' FLAT): results equal to FAISS's exact search.
    Flat,
    /// HNSW graph: `m` links per node, `ef` candidates per search.
    Hnsw {
        /// Links per node.
        m: u32,
        /// Candidate list size while building.
        ef_construction: u32,
        /// Candidate list size while searching (at least k).
        ef: u32,
    },
    /// Inverted lists of exact vectors: `nlist` lists, `nprobe` visited per search.
    IvfFlat {
        /// Lists.
        nlist: u32,
        /// Lists visited per search.
        nprobe: u32,
    },
}

impl RemoteIndex {
    /// Whether searches through it are exact (results equal FAISS's exact search).
    pub fn is_exact(&self) -> bool {
        *self == RemoteIndex::Flat
    }

    /// Milvus' name of the index type.
    pub fn name(&self) -> &'static str {
        match self {
            RemoteIndex::Flat => "FLAT",
            RemoteIndex::Hnsw { .. } => "HNSW",
            RemoteIndex::IvfFlat { .. } => "IVF_FLAT",
        }
    }
}

impl StoreChoice {
    /// The store as the catalog records it (no password).
    pub fn recorded(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for StoreChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreChoice::Local => f.write_str("local"),
            StoreChoice::Milvus(url) => write!(f, "{url}"),
        }
    }
}

/// The URL without its password.
impl fmt::Display for MilvusUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("milvus://")?;
        if let Some(user) = &self.user {
            write!(f, "{}@", percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC))?;
        }
        write!(f, "{}:{}/{}", self.host, self.port, self.collection)?;
        let index = match self.index {
            RemoteIndex::Flat => String::new(),
            RemoteIndex::Hnsw { m, ef_construction, ef } => format!("index=hnsw&m={m}&ef_construction={ef_construction}&ef={ef}"),
            RemoteIndex::IvfFlat { nlist, nprobe } => format!("index=ivf_flat&nlist={nlist}&nprobe={nprobe}"),
        };
        let tls = if self.tls { "tls=true" } else { "" };
        let query = [index.as_str(), tls].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("&");
        match query.is_empty() {
            true => Ok(()),
            false => write!(f, "?{query}"),
        }
    }
}

impl fmt::Debug for MilvusUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl MilvusUrl {
    /// The gRPC endpoint the client connects to.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// Takes the password from `CLIPFIND_MILVUS_PASSWORD`, else from the file `password_file`
    /// (its first line), over one in the URL: a URL given on the command line is visible to
    /// every user of the machine.
    pub fn with_password_from_env(mut self, password_file: Option<&Path>) -> std::io::Result<MilvusUrl> {
        if let Some(password) = std::env::var(PASSWORD_VAR).ok().filter(|p| !p.is_empty()) {
            self.password = Some(password);
        } else if let Some(file) = password_file {
            let text = std::fs::read_to_string(file)?;
            self.password = Some(text.lines().next().unwrap_or_default().to_string());
        }
        Ok(self)
    }

    /// The index searched, in words: `Milvus FLAT (HOST:PORT/COLLECTION)`.
    pub fn describe(&self) -> String {
        format!("Milvus {} ({}:{}/{})", self.index.name(), self.host, self.port, self.collection)
    }

    /// Whether `other` names the same collection on the same server (credentials aside).
    pub fn same_collection(&self, other: &MilvusUrl) -> bool {
        (&self.host, self.port, &self.collection) == (&other.host, other.port, &other.collection)
    }
}

impl std::str::FromStr for StoreChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" | "local" | "faiss" => Ok(StoreChoice::Local),
            s if s.starts_with("milvus://") => parse_milvus(s).map(StoreChoice::Milvus),
            s => Err(format!("'{s}' is not a vector store: use local (FAISS in the index folder) or milvus://HOST:PORT/COLLECTION")),
        }
    }
}

fn parse_milvus(text: &str) -> Result<MilvusUrl, String> {
    let bad = |why: &str| format!("'{}' is not a Milvus store: {why} (milvus://[USER:PASSWORD@]HOST[:PORT]/COLLECTION)", redact(text));
    let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?.to_string();
    let collection = url.path().trim_matches('/').to_string();
    if collection.is_empty() {
        return Err(bad("no collection"));
    }
    let valid = collection.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !collection.starts_with(|c: char| c.is_ascii_digit()) && collection.len() <= 255;
    if !valid {
        return Err(bad(&format!("the collection name '{collection}' may only hold letters, digits and _, and not start with a digit")));
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let user = Some(url.username()).filter(|u| !u.is_empty()).map(decode);
    let password = url.password().map(decode);
    let index = remote_index(&url).map_err(|why| bad(&why))?;
    let tls = match url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(other) => return Err(bad(&format!("tls={other}: use true or false"))),
    };
    Ok(MilvusUrl { host, port: url.port().unwrap_or(MILVUS_PORT), collection, user, password, index, tls })
}

/// The file in the index folder holding the password of the recorded Milvus store (readable by
/// its owner only), so that later runs need only the index folder.
pub const PASSWORD_FILE: &str = "store-password";

impl StoreChoice {
    /// The store as recorded in `index_dir`'s catalog (`recorded`), with the password saved
    /// beside it, if any.
    pub fn from_recorded(recorded: &str, index_dir: &Path) -> Result<StoreChoice, String> {
        let mut store: StoreChoice = recorded.parse()?;
        if let StoreChoice::Milvus(url) = &mut store {
            if url.user.is_some() {
                url.password = std::fs::read_to_string(index_dir.join(PASSWORD_FILE)).ok().map(|p| p.trim_end_matches('\n').to_string());
            }
        }
        Ok(store)
    }

    /// Saves a given Milvus password for later runs (owner-only), or removes a stale one.
    pub fn save_password(&self, index_dir: &Path) -> std::io::Result<()> {
        let file = index_dir.join(PASSWORD_FILE);
        match self {
            StoreChoice::Milvus(MilvusUrl { password: Some(password), .. }) => {
                use std::{io::Write, os::unix::fs::OpenOptionsExt};
                let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&file)?;
                f.write_all(password.as_bytes())
            }
            _ => match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }
}

/// The error of a build without the `milvus` feature asked for a Milvus store.
pub fn without_milvus(url: &MilvusUrl) -> crate::EngineError {
    crate::EngineError::Usage(format!("this clipfind was built without Milvus support (cargo feature `milvus`), so it cannot use {url}"))
}

/// `?index=flat|hnsw|ivf_flat` and its parameters (defaults: HNSW m 16, ef_construction 200,
/// ef 64; IVF nlist 1024, nprobe 16).
fn remote_index(url: &url::Url) -> Result<RemoteIndex, String> {
    let params: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let number = |key: &str, default: u32| -> Result<u32, String> {
        params.get(key).map_or(Ok(default), |v| v.parse().ok().filter(|n| *n > 0).ok_or(format!("{key}={v} is not a positive whole number")))
    };
    for key in params.keys() {
        if !["index", "m", "ef_construction", "ef", "nlist", "nprobe", "tls"].contains(&key.as_str()) {
            return Err(format!("unknown parameter {key}"));
        }
    }
    match params.get("index").map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("flat") => Ok(RemoteIndex::Flat),
        Some("hnsw") => Ok(RemoteIndex::Hnsw { m: number("m", 16)?, ef_construction: number("ef_construction", 200)?, ef: number("ef", 64)? }),
        Some("ivf_flat") | Some("ivf") => Ok(RemoteIndex::IvfFlat { nlist: number("nlist", 1024)?, nprobe: number("nprobe", 16)? }),
        Some(other) => Err(format!("index={other}: use flat, hnsw or ivf_flat")),
    }
}

/// `text` with any password replaced, for messages.
fn redact(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milvus_urls_parse_with_defaults_and_record_no_password() {
        let StoreChoice::Milvus(url) = "milvus://root:Se%40cret@db.example:19999/photos?index=hnsw&ef=128".parse().unwrap() else { panic!() };
        assert_eq!((url.host.as_str(), url.port, url.collection.as_str()), ("db.example", 19999, "photos"));
        assert_eq!((url.user.as_deref(), url.password.as_deref()), (Some("root"), Some("Se@cret")));
        assert_eq!(url.index, RemoteIndex::Hnsw { m: 16, ef_construction: 200, ef: 128 });
        let recorded = StoreChoice::Milvus(url.clone()).recorded();
        assert_eq!(recorded, "milvus://root@db.example:19999/photos?index=hnsw&m=16&ef_construction=200&ef=128");
        let StoreChoice::Milvus(again) = recorded.parse().unwrap() else { panic!() };
        assert!(again.same_collection(&url) && again.password.is_none() && again.index == url.index);
        let StoreChoice::Milvus(plain) = "milvus://localhost/c1".parse().unwrap() else { panic!() };
        assert_eq!((plain.port, plain.index, plain.endpoint()), (MILVUS_PORT, RemoteIndex::Flat, "http://localhost:19530".to_string()));
        assert_eq!("local".parse::<StoreChoice>().unwrap(), StoreChoice::Local);
        let StoreChoice::Milvus(tls) = "milvus://db.example/c1?index=ivf_flat&tls=true".parse().unwrap() else { panic!() };
        assert_eq!(tls.endpoint(), "https://db.example:19530");
        assert_eq!(tls.to_string(), "milvus://db.example:19530/c1?index=ivf_flat&nlist=1024&nprobe=16&tls=true");
        assert!("milvus://db.example/c1?tls=maybe".parse::<StoreChoice>().unwrap_err().contains("tls=maybe"));
    }

    #[test]
    fn the_password_comes_from_a_file_rather_than_the_url() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "from-file\n").unwrap();
        let StoreChoice::Milvus(url) = "milvus://root@db.example/c1".parse().unwrap() else { panic!() };
        std::env::remove_var(PASSWORD_VAR);
        let url = url.with_password_from_env(Some(file.path())).unwrap();
        assert_eq!(url.password.as_deref(), Some("from-file"));
        assert!(!url.to_string().contains("from-file"));
    }

    #[test]
    fn bad_stores_say_why_and_hide_the_password() {
        for (text, says) in [
            ("milvus://h:1/", "no collection"),
            ("milvus://h/9lives", "may only hold"),
            ("milvus://h/a-b", "may only hold"),
            ("milvus://h/c?index=diskann", "index=diskann"),
            ("milvus://h/c?index=ivf_flat&nprobe=0", "nprobe=0"),
            ("milvus://h/c?colour=red", "unknown parameter colour"),
            ("postgres://h/c", "not a vector store"),
        ] {
            let err = text.parse::<StoreChoice>().unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        let err = "milvus://u:hunter2@h/".parse::<StoreChoice>().unwrap_err();
        assert!(!err.contains("hunter2") && err.contains("***"), "{err}");
    }
}
