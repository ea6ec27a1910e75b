//! One Tesseract engine (its C API through `tesseract-sys`): a page in, its words out, within a
//! deadline. An engine is used by one thread at a time; each reading thread opens its own.

use std::{
    ffi::{CStr, CString},
    path::Path,
    ptr::NonNull,
    time::Duration,
};

use image::GrayImage;
use tesseract_sys as sys;

/// Words Tesseract is less sure of than this (0 to 100) are left out: on a photo that only
/// looked like it had text, what Tesseract "reads" is noise of low confidence.
const MIN_WORD_CONFIDENCE: f32 = 55.0;

/// A loaded Tesseract: its languages' models are read once, when it opens.
pub(super) struct Tesseract {
    api: NonNull<sys::TessBaseAPI>,
}

// The engine is owned, not shared: moving it to the thread that uses it is sound.
unsafe impl Send for Tesseract {}

/// What Tesseract read on one page.
pub(super) struct Page {
    /// The words it is sure enough of, a line per text line.
    pub text: String,
    /// Whether the deadline stopped it (the text is what it had read by then).
    pub timed_out: bool,
}

impl Tesseract {
    /// Opens Tesseract with the `languages` (`eng+chi_sim`) whose `.traineddata` files are in
    /// `data`.
    pub(super) fn open(data: &Path, languages: &str) -> Result<Tesseract, String> {
        let data_c = CString::new(data.as_os_str().as_encoded_bytes()).map_err(|_| "the OCR data folder's name holds a NUL byte".to_string())?;
        let languages_c = CString::new(languages).map_err(|_| "the OCR languages hold a NUL byte".to_string())?;
        // SAFETY: Create has no preconditions; a null result is checked.
        let api = NonNull::new(unsafe { sys::TessBaseAPICreate() }).ok_or("Tesseract could not be created")?;
        let engine = Tesseract { api };
        // SAFETY: the handle is live and both strings are NUL-terminated for the call.
        let failed = unsafe { sys::TessBaseAPIInit3(engine.api.as_ptr(), data_c.as_ptr(), languages_c.as_ptr()) } != 0;
        if failed {
            return Err(format!("Tesseract cannot load the languages {languages} from {} (are their .traineddata files there?)", data.display()));
        }
        // Its diagnostics ("Estimating resolution as ...") are not the log's business.
        engine.set("debug_file", "/dev/null");
        // SAFETY: the handle is live.
        unsafe { sys::TessBaseAPISetPageSegMode(engine.api.as_ptr(), sys::TessPageSegMode_PSM_AUTO) };
        Ok(engine)
    }

    fn set(&self, name: &str, value: &str) {
        let (name, value) = (CString::new(name).expect("a constant name"), CString::new(value).expect("a constant value"));
        // SAFETY: the handle is live and both strings are NUL-terminated for the call.
        unsafe { sys::TessBaseAPISetVariable(self.api.as_ptr(), name.as_ptr(), value.as_ptr()) };
    }

    /// Reads `page`, giving up at `deadline` (keeping what was read by then).
    pub(super) fn read(&mut self, page: &GrayImage, deadline: Duration) -> Page {
        let api = self.api.as_ptr();
        let (width, height) = (page.width() as i32, page.height() as i32);
        // SAFETY: the buffer is width*height bytes, one byte a pixel, rows `width` bytes apart,
        // and outlives the recognition (Clear at the end drops Tesseract's reference to it).
        unsafe { sys::TessBaseAPISetImage(api, page.as_raw().as_ptr(), width, height, 1, width) };
        // SAFETY: the handle has an image; 300 ppi is what screenshots and scans are read as.
        unsafe { sys::TessBaseAPISetSourceResolution(api, 300) };
        let monitor = Monitor::new(deadline);
        let started = std::time::Instant::now();
        // SAFETY: the handle has an image and the monitor lives past the call.
        let status = unsafe { sys::TessBaseAPIRecognize(api, monitor.0.as_ptr()) };
        // A page cut short by the deadline still has the words read by then.
        let timed_out = started.elapsed() >= deadline;
        let text = if status == 0 || timed_out { self.sure_words() } else { String::new() };
        // SAFETY: the handle is live; this forgets the image and the results.
        unsafe { sys::TessBaseAPIClear(api) };
        Page { text, timed_out }
    }

    /// The recognised words Tesseract is sure of, in reading order, a line per text line.
    fn sure_words(&self) -> String {
        let mut text = String::new();
        // SAFETY: recognition ran; a null iterator (nothing found) is checked.
        let Some(words) = NonNull::new(unsafe { sys::TessBaseAPIGetIterator(self.api.as_ptr()) }) else { return text };
        let level = sys::TessPageIteratorLevel_RIL_WORD;
        loop {
            // SAFETY: the iterator is live and points at a word.
            let page = unsafe { sys::TessResultIteratorGetPageIteratorConst(words.as_ptr()) };
            let line_starts = unsafe { sys::TessPageIteratorIsAtBeginningOf(page, sys::TessPageIteratorLevel_RIL_TEXTLINE) } != 0;
            let confidence = unsafe { sys::TessResultIteratorConfidence(words.as_ptr(), level) };
            let word = unsafe { sys::TessResultIteratorGetUTF8Text(words.as_ptr(), level) };
            if !word.is_null() {
                // SAFETY: a NUL-terminated string Tesseract made, deleted right after.
                let read = unsafe { CStr::from_ptr(word) }.to_string_lossy().into_owned();
                unsafe { sys::TessDeleteText(word) };
                if confidence >= MIN_WORD_CONFIDENCE && !read.trim().is_empty() {
                    if !text.is_empty() {
                        text.push(if line_starts { '\n' } else { ' ' });
                    }
                    text.push_str(read.trim());
                }
            }
            // SAFETY: the iterator is live.
            if unsafe { sys::TessResultIteratorNext(words.as_ptr(), level) } == 0 {
                break;
            }
        }
        // SAFETY: the iterator came from GetIterator and is not used after.
        unsafe { sys::TessResultIteratorDelete(words.as_ptr()) };
        text
    }
}

impl Drop for Tesseract {
    fn drop(&mut self) {
        // SAFETY: the handle is live and not used after.
        unsafe {
            sys::TessBaseAPIEnd(self.api.as_ptr());
            sys::TessBaseAPIDelete(self.api.as_ptr());
        }
    }
}

/// The library's version string.
pub(super) fn version() -> String {
    // SAFETY: a static NUL-terminated string owned by the library.
    unsafe { CStr::from_ptr(sys::TessVersion()) }.to_string_lossy().into_owned()
}

/// Tesseract's progress monitor, here for its deadline.
struct Monitor(NonNull<sys::ETEXT_DESC>);

impl Monitor {
    fn new(deadline: Duration) -> Monitor {
        // SAFETY: Create has no preconditions; a null result would be a failed allocation.
        let monitor = NonNull::new(unsafe { sys::TessMonitorCreate() }).expect("Tesseract's monitor is allocated");
        let ms = deadline.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: the monitor is live.
        unsafe { sys::TessMonitorSetDeadlineMSecs(monitor.as_ptr(), ms) };
        Monitor(monitor)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // SAFETY: the monitor is live and not used after.
        unsafe { sys::TessMonitorDelete(self.0.as_ptr()) };
    }
}
