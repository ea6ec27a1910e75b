//! The catalog's tables, its format number and the meta keys every catalog has.

/// File name of the catalog database inside the index folder.
pub const CATALOG_FILE: &str = "catalog.sqlite";

pub(super) const UPSERT_META: &str =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value";

/// Bumped when the schema changes; older formats are upgraded in place when opened for writing.
pub(super) const FORMAT: &str = "6";

/// The older formats [`upgrade`](super::upgrade) takes to [`FORMAT`].
pub(super) const OLDER_FORMATS: [&str; 5] = ["1", "2", "3", "4", "5"];

/// Vector ids of video frames beyond a video's first are this plus their `frames` row id: one id
/// space for the vector store, and never an image id (SQLite would need 2^40 inserts to get here).
pub const FRAME_IDS: i64 = 1 << 40;

pub(super) const META: &str = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);";

pub(super) const SCHEMA: &str = "
-- AUTOINCREMENT: ids are never reused, so a stale id (in a URL, a FAISS file) never names another image.
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    indexed_at INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    -- Photo metadata (format 3, see photo_meta.rs). taken_source NULL: not read yet (an
    -- upgraded catalog's rows until the next indexing run reads their files).
    taken INTEGER,
    taken_offset INTEGER,
    taken_source TEXT,
    camera_make TEXT,
    camera_model TEXT,
    lat REAL,
    lon REAL,
    -- Videos (format 4): the length, and the moment of the frame whose vector the row holds
    -- (the first kept one); NULL for photos. The video's other frames are in `frames`.
    -- duration_ms alone (frame_ms NULL): a motion photo, a still whose file holds a clip that
    -- long (media/motion_photo.rs); the clip's kept frames are in `frames` as a video's are.
    duration_ms INTEGER,
    frame_ms INTEGER
);
CREATE INDEX IF NOT EXISTS images_by_hash ON images (hash);
CREATE INDEX IF NOT EXISTS images_by_taken ON images (taken);
-- Rows an upgrade left without metadata: every indexing run asks, so that must not scan the table.
CREATE INDEX IF NOT EXISTS images_without_meta ON images (id) WHERE taken_source IS NULL;
-- (slot, id) pairs without reading the rows: what a search process loads at start.
CREATE INDEX IF NOT EXISTS images_by_slot ON images (slot);
-- A video's kept frames after its first, or a motion photo's clip's (video.rs samples them): each its own vector, with id
-- FRAME_IDS + id in the vector store. Removed with their video.
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video INTEGER NOT NULL,
    ms INTEGER NOT NULL,
    slot INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS frames_by_video ON frames (video);
-- Folder modification times at the last complete scan (see scan.rs).
CREATE TABLE IF NOT EXISTS folders (path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL);
-- Ids whose vector was added, replaced or removed, in commit order.
CREATE TABLE IF NOT EXISTS vector_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL);
-- What a remote vector store (Milvus) was last confirmed to hold: each vector id and the
-- signature of its row's searchable fields (see store/milvus/sync.rs).
CREATE TABLE IF NOT EXISTS remote_rows (id INTEGER PRIMARY KEY, sig INTEGER NOT NULL);
-- Files that could not be read, so an unchanged broken file is not retried on every run.
CREATE TABLE IF NOT EXISTS skipped (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
);
-- Words printed in images (format 5, see catalog/words.rs and media/ocr): one `ocr` row per file
-- whose words were looked for (found: how many characters were read, 0 for none, or for a file
-- the text-presence test passed over), and its text in `words`, whose rowid is the image's id.
-- Both go with the image's content: removed with the row, and when its content changes.
CREATE TABLE IF NOT EXISTS ocr (
    image INTEGER PRIMARY KEY,
    found INTEGER NOT NULL,
    engine TEXT NOT NULL
);
-- Trigram: any substring of three characters or more is found, in any script (Chinese has no
-- spaces between words); shorter ones are found with LIKE, which the same table answers.
CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5(text, tokenize = 'trigram');
CREATE TRIGGER IF NOT EXISTS words_go_with_their_image AFTER DELETE ON images BEGIN
    DELETE FROM ocr WHERE image = old.id;
    DELETE FROM words WHERE rowid = old.id;
END;
CREATE TRIGGER IF NOT EXISTS words_go_with_their_content AFTER UPDATE OF hash ON images WHEN old.hash <> new.hash BEGIN
    DELETE FROM ocr WHERE image = old.id;
    DELETE FROM words WHERE rowid = old.id;
END;
";

/// The files' paths, searchable by any substring of three characters or more (format 6, see
/// catalog/words.rs): a query's words are looked up in the names without reading every path.
/// The index alone is stored (the text is `images.path`); triggers keep it in step with every
/// insert, rename and delete, whichever writer makes it.
pub(super) const NAMES: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS names USING fts5(path, content = 'images', content_rowid = 'id', tokenize = 'trigram');
CREATE TRIGGER IF NOT EXISTS names_follow_new_images AFTER INSERT ON images BEGIN
    INSERT INTO names (rowid, path) VALUES (new.id, new.path);
END;
CREATE TRIGGER IF NOT EXISTS names_follow_removed_images AFTER DELETE ON images BEGIN
    INSERT INTO names (names, rowid, path) VALUES ('delete', old.id, old.path);
END;
CREATE TRIGGER IF NOT EXISTS names_follow_renamed_images AFTER UPDATE OF path ON images BEGIN
    INSERT INTO names (names, rowid, path) VALUES ('delete', old.id, old.path);
    INSERT INTO names (rowid, path) VALUES (new.id, new.path);
END;
";
