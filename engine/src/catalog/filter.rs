//! Narrowing a search to the photos a user means: a folder, a date range, a file type, an
//! orientation, a camera, whether it has a location. A filter is a SQL condition on the
//! catalog; the searcher turns it into the set of ids the vector search may return (see
//! [`crate::search::searcher`]), so a filter never returns fewer than `k` results when `k` match.
//!
//! Dates are wall-clock times where the photo was taken ([`crate::media::photo_meta::Taken::local`]):
//! `after` keeps photos taken at or after the start of its period, `before` those taken before
//! the start of its period, `taken` those inside its period (`2023`, `2023-06`, `2023-06-01`).

use std::fmt::Write as _;

use rusqlite::types::Value;

use crate::media::photo_meta::Period;

/// Which way round a photo is (from its upright width and height).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// Wider than tall.
    Landscape,
    /// Taller than wide.
    Portrait,
    /// As wide as tall.
    Square,
}

impl std::str::FromStr for Orientation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "landscape" => Ok(Orientation::Landscape),
            "portrait" => Ok(Orientation::Portrait),
            "square" => Ok(Orientation::Square),
            _ => Err(format!("'{s}' is not an orientation: use landscape, portrait or square")),
        }
    }
}

/// Extensions one filter may list: every format clipfind reads fits, and a longer list is a
/// SQL condition of that many terms evaluated for every search that uses it.
pub const MAX_EXTENSIONS: usize = 32;

/// Characters of a folder or camera filter (a path prefix or part of a model name).
pub const MAX_TEXT: usize = 512;

/// Video file extensions (the media type `video`); everything else indexed is an image.
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov", "m4v", "mkv", "webm", "avi"];

/// What a search is narrowed to; every part is optional and the parts combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// A folder, as stored paths start (`2023/holidays`; `NAME/...` in a library of several
    /// folders): the folder itself and everything under it.
    pub folder: Option<String>,
    /// Taken at or after this wall-clock second.
    pub after: Option<i64>,
    /// Taken before this wall-clock second.
    pub before: Option<i64>,
    /// File extensions, lower case without the dot (`jpg` also matches `jpeg`); any of them.
    pub extensions: Vec<String>,
    /// `image` or `video`.
    pub media: Option<Media>,
    /// Which way round.
    pub orientation: Option<Orientation>,
    /// Case-insensitive part of the camera's make and model (`canon`, `iphone 13`).
    pub camera: Option<String>,
    /// Whether the photo has a GPS position.
    pub has_location: Option<bool>,
}

/// Photos or videos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Media {
    /// Still images.
    Image,
    /// Video files.
    Video,
}

impl std::str::FromStr for Media {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "image" | "images" | "photo" | "photos" => Ok(Media::Image),
            "video" | "videos" => Ok(Media::Video),
            _ => Err(format!("'{s}' is not a media type: use image or video")),
        }
    }
}

/// A filter parameter that cannot be used: its name and why, as a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParameter {
    /// The parameter, as the API names it (`after`; the CLI option is `--after`).
    pub name: &'static str,
    /// What is wrong and what it takes.
    pub reason: String,
}

impl Filter {
    /// The filter that the text parameters name (`folder`, `after`, `before`, `taken`, `ext`,
    /// `media`, `orientation`, `camera`, `located`: what the API and the CLI take); `get`
    /// returns a parameter's value, and empty values count as absent.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Result<Filter, BadParameter> {
        let text = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        for name in ["folder", "camera"] {
            if text(name).is_some_and(|v| v.chars().count() > MAX_TEXT) {
                return Err(BadParameter { name, reason: format!("at most {MAX_TEXT} characters") });
            }
        }
        let period = |name: &'static str| text(name).map(|v| Period::parse(&v).map_err(|reason| BadParameter { name, reason })).transpose();
        let mut filter = Filter {
            folder: text("folder"),
            after: period("after")?.map(|p| p.start),
            before: period("before")?.map(|p| p.start),
            extensions: text("ext").map(|e| Filter::parse_extensions(&e).map_err(|reason| BadParameter { name: "ext", reason })).transpose()?.unwrap_or_default(),
            media: text("media").map(|m| m.parse().map_err(|reason| BadParameter { name: "media", reason })).transpose()?,
            orientation: text("orientation").map(|o| o.parse().map_err(|reason| BadParameter { name: "orientation", reason })).transpose()?,
            camera: text("camera"),
            has_location: text("located").map(|l| parse_flag(&l).map_err(|reason| BadParameter { name: "located", reason })).transpose()?,
        };
        if let Some(period) = period("taken")? {
            filter.taken_in(period);
        }
        Ok(filter)
    }

    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Narrows to photos taken inside `period` (on top of any after/before already set).
    pub fn taken_in(&mut self, period: Period) {
        self.after = Some(self.after.map_or(period.start, |a| a.max(period.start)));
        self.before = Some(self.before.map_or(period.end, |b| b.min(period.end)));
    }

    /// Parses a comma-separated list of extensions (`jpg,png`, `.HEIC`).
    pub fn parse_extensions(list: &str) -> Result<Vec<String>, String> {
        if list.split(',').filter(|e| !e.trim().is_empty()).nth(MAX_EXTENSIONS).is_some() {
            return Err(format!("at most {MAX_EXTENSIONS} extensions"));
        }
        list.split(',')
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .map(|e| match e.chars().all(|c| c.is_ascii_alphanumeric()) {
                true => Ok(e),
                false => Err(format!("'{e}' is not a file extension")),
            })
            .collect()
    }

    /// The SQL condition on the `images` table, and its parameters in order.
    pub(crate) fn sql(&self) -> (String, Vec<Value>) {
        let mut sql = String::from("1");
        let mut values = Vec::new();
        let mut and = |condition: &str, params: Vec<Value>| {
            let _ = write!(sql, " AND ({condition})");
            values.extend(params);
        };
        if let Some(folder) = self.folder.as_deref().map(|f| f.trim_matches('/')).filter(|f| !f.is_empty()) {
            let under = format!("{folder}/");
            and("path = ? OR substr(path, 1, length(?)) = ?", vec![folder.to_string().into(), under.clone().into(), under.into()]);
        }
        if let Some(after) = self.after {
            and("taken >= ?", vec![after.into()]);
        }
        if let Some(before) = self.before {
            and("taken < ?", vec![before.into()]);
        }
        if !self.extensions.is_empty() {
            let (condition, params) = any_extension(&self.extensions);
            and(&condition, params);
        }
        match self.media {
            Some(Media::Video) => {
                let (condition, params) = any_extension(VIDEO_EXTENSIONS);
                and(&condition, params);
            }
            Some(Media::Image) => {
                let (condition, params) = any_extension(VIDEO_EXTENSIONS);
                and(&format!("NOT ({condition})"), params);
            }
            None => {}
        }
        match self.orientation {
            Some(Orientation::Landscape) => and("width > height", vec![]),
            Some(Orientation::Portrait) => and("height > width", vec![]),
            Some(Orientation::Square) => and("width = height", vec![]),
            None => {}
        }
        if let Some(camera) = self.camera.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            let pattern = format!("%{}%", escape_like(&camera.to_lowercase()));
            and("lower(coalesce(camera_make, '') || ' ' || coalesce(camera_model, '')) LIKE ? ESCAPE '\\'", vec![pattern.into()]);
        }
        match self.has_location {
            Some(true) => and("lat IS NOT NULL", vec![]),
            Some(false) => and("lat IS NULL", vec![]),
            None => {}
        }
        (sql, values)
    }
}

/// `1`/`true`/`yes` or `0`/`false`/`no`.
fn parse_flag(text: &str) -> Result<bool, String> {
    match text {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!("'{text}' is not 1 or 0")),
    }
}

/// `extensions` with the spellings that stand for each other (`jpg` and `jpeg`, `tif` and
/// `tiff`), sorted, each once.
pub(crate) fn extension_names<S: AsRef<str>>(extensions: &[S]) -> Vec<String> {
    let mut names: Vec<String> = extensions.iter().map(|e| e.as_ref().to_string()).collect();
    for (a, b) in [("jpg", "jpeg"), ("tif", "tiff")] {
        if names.iter().any(|n| n == a || n == b) {
            names.extend([a.to_string(), b.to_string()]);
        }
    }
    names.sort();
    names.dedup();
    names
}

/// `lower(path)` ends in one of `extensions` (`jpg` and `jpeg` stand for each other).
fn any_extension<S: AsRef<str>>(extensions: &[S]) -> (String, Vec<Value>) {
    let names = extension_names(extensions);
    let condition = vec!["lower(path) LIKE ? ESCAPE '\\'"; names.len()].join(" OR ");
    (condition, names.iter().map(|n| Value::from(format!("%.{}", escape_like(n)))).collect())
}

/// `text` matched literally by LIKE (with `ESCAPE '\'`).
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use rusqlite::{params_from_iter, Connection};

    use super::*;

    /// A table like the catalog's: (id, path, width, height, taken, camera make/model, lat).
    fn images() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE images (id INTEGER PRIMARY KEY, path TEXT, width INT, height INT, taken INT, camera_make TEXT, camera_model TEXT, lat REAL);
             INSERT INTO images VALUES
               (1, '2023/holidays/a.jpg', 400, 300, 1685577600, 'Canon', 'EOS R5', 43.7),
               (2, '2023/holidays/b.JPEG', 300, 400, 1693526400, 'Apple', 'iPhone 13', NULL),
               (3, '2023/holidays-old/c.png', 300, 300, 1672531200, NULL, NULL, NULL),
               (4, '2024/d.heic', 400, 300, 1704067200, 'Apple', 'iPhone 15 Pro', 51.5),
               (5, 'clip.MP4', 1920, 1080, 1704067300, NULL, NULL, NULL),
               (6, '100%_real/e.tif', 10, 20, NULL, 'NIKON_', 'Z6', NULL);",
        )
        .unwrap();
        c
    }

    fn ids(filter: &Filter) -> Vec<i64> {
        let c = images();
        let (condition, values) = filter.sql();
        let mut stmt = c.prepare(&format!("SELECT id FROM images WHERE {condition} ORDER BY id")).unwrap();
        stmt.query_map(params_from_iter(values), |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn long_lists_and_texts_are_refused_before_they_reach_the_catalog() {
        let most = vec!["jpg"; MAX_EXTENSIONS].join(",");
        assert_eq!(Filter::parse_extensions(&most).unwrap().len(), MAX_EXTENSIONS);
        assert_eq!(Filter::parse_extensions(&format!("{most},png")).unwrap_err(), format!("at most {MAX_EXTENSIONS} extensions"));
        let long = "a".repeat(MAX_TEXT + 1);
        let bad = Filter::from_params(|name| (name == "camera").then(|| long.clone())).unwrap_err();
        assert_eq!(bad.name, "camera");
        assert!(Filter::from_params(|name| (name == "folder").then(|| "a".repeat(MAX_TEXT))).is_ok());
    }

    #[test]
    fn an_empty_filter_keeps_everything() {
        assert!(Filter::default().is_empty());
        assert_eq!(ids(&Filter::default()), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_folder_keeps_itself_and_below_but_not_siblings_sharing_a_prefix() {
        assert_eq!(ids(&Filter { folder: Some("2023/holidays".into()), ..Default::default() }), [1, 2]);
        assert_eq!(ids(&Filter { folder: Some("/2023/".into()), ..Default::default() }), [1, 2, 3]);
        assert_eq!(ids(&Filter { folder: Some("100%_real".into()), ..Default::default() }), [6]);
    }

    #[test]
    fn dates_are_half_open_and_photos_without_a_date_never_match_a_date_filter() {
        let june = Period::parse("2023-06").unwrap();
        let mut f = Filter::default();
        f.taken_in(june);
        assert_eq!(ids(&f), [1]);
        assert_eq!(ids(&Filter { after: Some(Period::parse("2024").unwrap().start), ..Default::default() }), [4, 5]);
        assert_eq!(ids(&Filter { before: Some(Period::parse("2023-06-01").unwrap().start), ..Default::default() }), [3]);
    }

    #[test]
    fn extensions_ignore_case_and_jpg_means_jpeg_too() {
        assert_eq!(ids(&Filter { extensions: Filter::parse_extensions("jpg").unwrap(), ..Default::default() }), [1, 2]);
        assert_eq!(ids(&Filter { extensions: Filter::parse_extensions(".PNG, tiff").unwrap(), ..Default::default() }), [3, 6]);
        assert!(Filter::parse_extensions("jp*g").is_err());
    }

    #[test]
    fn media_splits_videos_from_images() {
        assert_eq!(ids(&Filter { media: Some(Media::Video), ..Default::default() }), [5]);
        assert_eq!(ids(&Filter { media: Some("photos".parse().unwrap()), ..Default::default() }), [1, 2, 3, 4, 6]);
    }

    #[test]
    fn orientation_camera_and_location() {
        assert_eq!(ids(&Filter { orientation: Some("Portrait".parse().unwrap()), ..Default::default() }), [2, 6]);
        assert_eq!(ids(&Filter { orientation: Some(Orientation::Square), ..Default::default() }), [3]);
        assert_eq!(ids(&Filter { camera: Some("iphone".into()), ..Default::default() }), [2, 4]);
        assert_eq!(ids(&Filter { camera: Some("apple iphone 15".into()), ..Default::default() }), [4]);
        assert_eq!(ids(&Filter { camera: Some("nikon_".into()), ..Default::default() }), [6], "_ is literal");
        assert_eq!(ids(&Filter { has_location: Some(true), ..Default::default() }), [1, 4]);
        assert!("sideways".parse::<Orientation>().unwrap_err().contains("landscape, portrait or square"));
    }

    #[test]
    fn parameters_are_read_by_name_and_a_bad_one_is_named() {
        let params = |pairs: &'static [(&'static str, &'static str)]| move |name: &str| pairs.iter().find(|p| p.0 == name).map(|p| p.1.to_string());
        let f = Filter::from_params(params(&[("folder", "2023"), ("taken", "2023-06"), ("located", "1"), ("ext", ""), ("camera", " canon ")])).unwrap();
        assert_eq!((f.folder.as_deref(), f.has_location, f.camera.as_deref()), (Some("2023"), Some(true), Some("canon")));
        assert_eq!((f.after, f.before), (Some(Period::parse("2023-06").unwrap().start), Some(Period::parse("2023-07").unwrap().start)));
        assert!(f.extensions.is_empty(), "an empty value is absent");
        for (name, value) in [("after", "2023-13"), ("located", "maybe"), ("media", "audio"), ("orientation", "up"), ("ext", "j*g")] {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(name, value)]));
            assert_eq!(Filter::from_params(params(pairs)).unwrap_err().name, name);
        }
    }

    #[test]
    fn parts_combine_with_and() {
        let f = Filter { folder: Some("2023".into()), camera: Some("apple".into()), orientation: Some(Orientation::Portrait), ..Default::default() };
        assert_eq!(ids(&f), [2]);
    }
}
