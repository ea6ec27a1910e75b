//! The second pass: once the embeddings are committed (search works at once), the words in the
//! files the text-presence test picked are read by Tesseract, and committed
//! every few files, so a killed run keeps what it read and the next one goes on from there.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{mpsc, Mutex},
    time::{Duration, Instant},
};

use image::DynamicImage;

use super::options::IndexOptions;
use super::summary::Summary;
use crate::{
    catalog::{Catalog, Unread},
    clip::preprocess,
    ingest::{original, roots::Roots, run_status::StatusFile, thumbs},
    media::ocr::{self, OcrOptions, Reader},
    Result,
};

/// Files read between commits, and the longest a read stays uncommitted.
const COMMIT_EVERY: usize = 16;
const COMMIT_AFTER: Duration = Duration::from_secs(5);
/// Reading threads. Debian's Tesseract spreads one page over the cores itself (OpenMP), and one
/// page decoded at a time keeps a big photo's reading inside the decode budget.
const READERS: usize = 1;
/// Unread files taken from the catalog at a time.
const CHUNK: usize = 512;

/// What the text-presence test said of the images and video frames decoded in this run, by
/// thumbnail key (a photo's content hash, or a frame's key): the files it passed over are not
/// decoded again.
#[derive(Default)]
pub(super) struct TextSeen(Mutex<HashMap<String, bool>>);

impl TextSeen {
    pub(super) fn record(&self, key: &str, image: &DynamicImage) {
        let likely = ocr::likely_text(image);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string(), likely);
    }

    fn get(&self, key: &str) -> Option<bool> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }
}

/// Reads the words of every file not looked at yet; a file that cannot be read again counts as
/// one without words (its row stays searchable by its picture).
pub(super) fn read_words(catalog: &mut Catalog, roots: &Roots, options: &IndexOptions, seen: &TextSeen, status: &StatusFile, summary: &mut Summary) -> Result<()> {
    let Some(ocr) = &options.ocr else { return Ok(()) };
    if let Err(reason) = ocr.check() {
        summary.words_not_read = Some(reason.clone());
        tracing::warn!("the words in images are not read: {reason}");
        return Ok(());
    }
    let waiting = catalog.words_progress()?.waiting;
    if waiting == 0 {
        return Ok(());
    }
    let started = Instant::now();
    status.phase("reading words", waiting);
    options.progress.begin("reading words", Some(waiting), 0);
    let links = original::followed_links(catalog)?;
    let engine = ocr.engine();
    let readers = READERS;
    loop {
        let unread = catalog.unread(CHUNK)?;
        if unread.is_empty() {
            break;
        }
        let queue = Mutex::new(unread.iter());
        let (done, results) = mpsc::sync_channel::<(i64, String, String)>(COMMIT_EVERY * 2);
        let committed = std::thread::scope(|scope| -> Result<()> {
            for _ in 0..readers {
                let (queue, done) = (&queue, done.clone());
                let job = Job { catalog_dir: &options.index_dir, roots, links: &links, seen };
                scope.spawn(move || job.run(ocr, queue, done));
            }
            drop(done);
            commit_as_read(catalog, results, &engine, options, status, summary)
        });
        committed?;
    }
    options.progress.finish();
    tracing::debug!("looked for the words of {waiting} files in {:?}", started.elapsed());
    Ok(())
}

/// Writes what the readers send, a few files per transaction.
fn commit_as_read(catalog: &mut Catalog, results: mpsc::Receiver<(i64, String, String)>, engine: &str, options: &IndexOptions, status: &StatusFile, summary: &mut Summary) -> Result<()> {
    let mut batch: Vec<(i64, String)> = Vec::new();
    let mut since = Instant::now();
    let write = |batch: &mut Vec<(i64, String)>, catalog: &mut Catalog| -> Result<()> {
        let taken = std::mem::take(batch);
        catalog.write(|w| taken.iter().try_for_each(|(id, text)| w.set_words(*id, text, engine)))
    };
    for (id, path, text) in results {
        options.progress.advance(1);
        status.advance(&path, None);
        summary.words_read += 1;
        summary.with_words += usize::from(!text.is_empty());
        batch.push((id, text));
        if batch.len() >= COMMIT_EVERY || since.elapsed() >= COMMIT_AFTER {
            write(&mut batch, catalog)?;
            since = Instant::now();
        }
    }
    write(&mut batch, catalog)
}

/// One reading thread's view of the library.
struct Job<'a> {
    catalog_dir: &'a std::path::Path,
    roots: &'a Roots,
    links: &'a [PathBuf],
    seen: &'a TextSeen,
}

impl Job<'_> {
    /// Reads files from `queue` until it is empty, sending (id, path, text) for each. A
    /// Tesseract that does not open after its check passed (a broken installation) is logged,
    /// and this thread stops, leaving the file unread.
    fn run<'q>(&self, options: &OcrOptions, queue: &Mutex<impl Iterator<Item = &'q Unread>>, done: mpsc::SyncSender<(i64, String, String)>) {
        let catalog = match Catalog::open_read_only(self.catalog_dir) {
            Ok(catalog) => catalog,
            Err(reason) => return tracing::warn!("the words in images are not read: {reason}"),
        };
        let mut reader = LazyReader { options, reader: None, broken: None };
        while let Some(file) = { let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next(); next } {
            let text = match file.video {
                true => self.video_words(&catalog, file, &mut reader),
                false => self.photo_words(&catalog, file, &mut reader),
            };
            if let Some(reason) = &reader.broken {
                return tracing::warn!("the words in images are not read: {reason}");
            }
            if done.send((file.id, file.path.clone(), text)).is_err() {
                return; // the committer stopped on an error: it is reported from there
            }
        }
    }

    /// The words of a photo the presence test picks (asked now when this run did not decode it):
    /// a photo it passed over in this run is not opened again.
    fn photo_words(&self, catalog: &Catalog, file: &Unread, reader: &mut LazyReader) -> String {
        let seen = self.seen.get(&file.hash);
        if seen == Some(false) {
            return String::new();
        }
        let mut checked = || -> Result<String> {
            let Some(row) = catalog.image(file.id)? else { return Ok(String::new()) };
            let opened = original::open(&row, self.roots, self.links)?;
            preprocess::with_decoded_file_at_least(&opened.fd_path(), ocr::DECODE_SHORT_SIDE, |image| match seen.unwrap_or_else(|| ocr::likely_text(image)) {
                true => reader.read(image, &file.path),
                false => String::new(),
            })
        };
        checked().unwrap_or_else(|e| {
            tracing::debug!("words of {}: {e}", file.path);
            String::new()
        })
    }

    /// The words in a video's kept frames that the presence test picked, from their thumbnails
    /// (no second run of ffmpeg), each frame's lines once.
    fn video_words(&self, catalog: &Catalog, file: &Unread, reader: &mut LazyReader) -> String {
        let Ok(Some(row)) = catalog.image(file.id) else { return String::new() };
        let mut moments: Vec<i64> = row.video.map(|v| v.frame_ms).into_iter().collect();
        moments.extend(catalog.frames_of(file.id).unwrap_or_default().into_iter().map(|f| f.ms));
        let mut lines: Vec<String> = Vec::new();
        for ms in moments {
            let key = thumbs::frame_key(&file.hash, ms);
            if self.seen.get(&key) == Some(false) {
                continue;
            }
            let Some(image) = thumbs::open(self.catalog_dir, &key).and_then(|f| image::load(std::io::BufReader::new(f), image::ImageFormat::Jpeg).ok()) else { continue };
            if self.seen.get(&key).unwrap_or_else(|| ocr::likely_text(&image)) {
                for line in reader.read(&image, &file.path).lines() {
                    if !lines.iter().any(|l| l == line) {
                        lines.push(line.to_string());
                    }
                }
            }
        }
        ocr::tidy(&lines.join("\n"))
    }
}

/// Tesseract, opened for the first page to read: loading its models takes a few hundred
/// milliseconds, and a run over photos without words never needs it.
struct LazyReader<'a> {
    options: &'a OcrOptions,
    reader: Option<Reader>,
    /// Why it did not open: the thread stops.
    broken: Option<String>,
}

impl LazyReader<'_> {
    fn read(&mut self, image: &DynamicImage, path: &str) -> String {
        if self.reader.is_none() && self.broken.is_none() {
            match Reader::open(self.options) {
                Ok(reader) => self.reader = Some(reader),
                Err(reason) => self.broken = Some(reason),
            }
        }
        let Some(reader) = self.reader.as_mut() else { return String::new() };
        let words = reader.read(image);
        if words.timed_out {
            tracing::warn!("reading the words of {path} took too long: kept what was read by then");
        }
        words.text
    }
}
