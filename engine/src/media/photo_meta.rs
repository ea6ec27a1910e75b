//! Photo metadata a photographer filters by — capture time, camera, GPS position — read from
//! the EXIF block of a photo file, and the calendar periods users type to filter by capture time.
//!
//! Reading never fails: a photo with broken or missing EXIF yields empty metadata and is still
//! indexed. Container and TIFF parsing is kamadak-exif's; this module only interprets the tags.

use std::io::Cursor;

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use exif::{Exif, In, Tag, Value};

/// Where a capture time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakenSource {
    /// EXIF DateTimeOriginal: when the shutter fired.
    ExifOriginal,
    /// EXIF DateTime: when the file was last written by the camera or an editor.
    ExifDateTime,
    /// The file's modification time, for photos without a usable EXIF date.
    FileTime,
}

impl TakenSource {
    const ALL: [TakenSource; 3] = [
        TakenSource::ExifOriginal,
        TakenSource::ExifDateTime,
        TakenSource::FileTime,
    ];

    /// Stored name: "exif-original", "exif-datetime", "file-time".
    pub fn as_str(self) -> &'static str {
        match self {
            TakenSource::ExifOriginal => "exif-original",
            TakenSource::ExifDateTime => "exif-datetime",
            TakenSource::FileTime => "file-time",
        }
    }

    /// The source whose stored name is `s`; None for any other text.
    pub fn parse(s: &str) -> Option<TakenSource> {
        Self::ALL.into_iter().find(|source| source.as_str() == s)
    }
}

/// When a photo was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Wall-clock time where the photo was taken, as seconds since 1970-01-01T00:00:00 of that
    /// wall clock (i.e. the local date-time read as if it were UTC). Filters like "June 2023"
    /// compare this, so they mean the photographer's calendar.
    pub local: i64,
    /// Offset from UTC in minutes when known (EXIF OffsetTimeOriginal / OffsetTime, "+02:00").
    pub offset_minutes: Option<i32>,
    /// Which clock the time was read from.
    pub source: TakenSource,
}

impl Taken {
    /// From a file modification time in ns since the Unix epoch (UTC; offset 0, source FileTime).
    pub fn from_file_time(mtime_ns: i64) -> Taken {
        Taken {
            // Floor, so a time just before 1970 stays in 1969.
            local: mtime_ns.div_euclid(1_000_000_000),
            offset_minutes: Some(0),
            source: TakenSource::FileTime,
        }
    }

    /// Seconds since the Unix epoch in UTC, when the offset is known.
    pub fn utc(&self) -> Option<i64> {
        let offset_seconds = i64::from(self.offset_minutes?) * 60;
        self.local.checked_sub(offset_seconds)
    }

    /// ISO 8601 text: "2023-06-01T12:34:56+02:00", or without offset "2023-06-01T12:34:56".
    ///
    /// A `local` beyond the calendar chrono can represent (±262,000 years) is written as its
    /// plain number of seconds.
    pub fn iso(&self) -> String {
        let Some(wall) = DateTime::from_timestamp(self.local, 0) else {
            return self.local.to_string();
        };
        let mut text = wall.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string();
        if let Some(minutes) = self.offset_minutes {
            text.push_str(&offset_text(minutes));
        }
        text
    }
}

/// "+02:00", "-05:30", "+00:00" (never "Z": the stored text keeps one shape).
fn offset_text(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let minutes = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// What the index keeps about a photo besides its pixels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoMeta {
    /// From EXIF DateTimeOriginal (+ OffsetTimeOriginal, and SubSecTimeOriginal ignored), else
    /// DateTime (+ OffsetTime); None when neither is present/valid (the caller falls back to the
    /// file time).
    pub taken: Option<Taken>,
    /// EXIF Make: trimmed, NULs and trailing spaces removed, None if empty.
    pub camera_make: Option<String>,
    /// EXIF Model: trimmed, NULs and trailing spaces removed, None if empty.
    pub camera_model: Option<String>,
    /// (latitude, longitude) in signed decimal degrees from GPSLatitude/Ref,
    /// GPSLongitude/Ref; None when absent, incomplete or out of range (|lat|>90, |lon|>180) or
    /// exactly (0,0) with no ref (common junk). A missing ref otherwise reads as north/east, as
    /// most tools do; a ref other than N/S (E/W) makes the position None.
    pub location: Option<(f64, f64)>,
}

/// Reads what it can; never fails.
///
/// `bytes` is a whole photo file in any container kamadak-exif knows (JPEG, TIFF, PNG, WebP,
/// HEIF/AVIF). Without EXIF, or with EXIF too damaged to read, the result is
/// `PhotoMeta::default()`.
pub fn read(bytes: &[u8]) -> PhotoMeta {
    match parse_exif(bytes) {
        Some(exif) => PhotoMeta::from_exif(&exif),
        None => PhotoMeta::default(),
    }
}

/// A JPEG's EXIF is its first segment (APP1, at most 64 KB, after SOI and perhaps a JFIF APP0).
const JPEG_EXIF_BYTES: u64 = 72 << 10;
/// Other containers (TIFF, PNG, WebP, HEIF) may keep it anywhere: read whole, up to this size.
const OTHER_EXIF_BYTES: u64 = 64 << 20;

/// As [`read`], from the file at `path`, reading only what holds the EXIF: the first 72 KB of a
/// JPEG (an upgrade reads a whole library this way), other files whole up to 64 MB. A file that
/// cannot be read has no metadata.
pub fn read_file_start(path: &std::path::Path) -> PhotoMeta {
    let read_up_to = |limit: u64| -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(std::fs::File::open(path)?, limit), &mut bytes)?;
        Ok(bytes)
    };
    match read_up_to(JPEG_EXIF_BYTES) {
        Ok(start) if start.starts_with(&[0xFF, 0xD8]) => read(&start),
        Ok(_) => read_up_to(OTHER_EXIF_BYTES).map(|all| read(&all)).unwrap_or_default(),
        Err(_) => PhotoMeta::default(),
    }
}

fn parse_exif(bytes: &[u8]) -> Option<Exif> {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    // kamadak-exif knows no JPEG XL container: its `Exif` box is read here.
    let result = match jxl_exif(bytes) {
        Some(tiff) => reader.read_raw(tiff),
        None => reader.read_from_container(&mut Cursor::new(bytes)),
    };
    // A block damaged half-way still gives the tags read before the damage.
    result
        .or_else(|error| error.distill_partial_result(|_| {}))
        .ok()
}

/// The TIFF data of a JPEG XL file's EXIF (an `Exif` box, or a Brotli-compressed `brob` one as
/// `cjxl` writes it), read by jxl-oxide.
fn jxl_exif(bytes: &[u8]) -> Option<Vec<u8>> {
    if !crate::clip::formats::jxl::is_jxl(bytes) {
        return None;
    }
    let image = jxl_oxide::JxlImage::builder().read(Cursor::new(bytes)).ok()?;
    match image.aux_boxes().first_exif().ok()? {
        jxl_oxide::AuxBoxData::Data(raw) => raw.payload().get(raw.tiff_header_offset() as usize..).map(<[u8]>::to_vec),
        _ => None,
    }
}

impl PhotoMeta {
    fn from_exif(exif: &Exif) -> PhotoMeta {
        PhotoMeta {
            taken: read_taken(exif),
            camera_make: read_text(exif, Tag::Make),
            camera_model: read_text(exif, Tag::Model),
            location: read_location(exif),
        }
    }
}

// ---- Capture time ----

fn read_taken(exif: &Exif) -> Option<Taken> {
    read_taken_from(
        exif,
        Tag::DateTimeOriginal,
        Tag::OffsetTimeOriginal,
        TakenSource::ExifOriginal,
    )
    .or_else(|| {
        read_taken_from(
            exif,
            Tag::DateTime,
            Tag::OffsetTime,
            TakenSource::ExifDateTime,
        )
    })
}

fn read_taken_from(exif: &Exif, date: Tag, offset: Tag, source: TakenSource) -> Option<Taken> {
    let local = parse_exif_date(read_ascii(exif, date)?)?;
    // A bad offset loses only the time zone, not the date.
    let offset_minutes = read_ascii(exif, offset).and_then(parse_exif_offset);
    Some(Taken {
        local,
        offset_minutes,
        source,
    })
}

/// "YYYY:MM:DD HH:MM:SS" as wall-clock seconds; None for blank, all-zero or impossible dates.
fn parse_exif_date(text: &[u8]) -> Option<i64> {
    let parsed = exif::DateTime::from_ascii(text).ok()?;
    // from_ascii checks the shape only: "0000:00:00 00:00:00" or month 13 fail here.
    let date = NaiveDate::from_ymd_opt(
        i32::from(parsed.year),
        u32::from(parsed.month),
        u32::from(parsed.day),
    )?;
    let time = NaiveTime::from_hms_opt(
        u32::from(parsed.hour),
        u32::from(parsed.minute),
        u32::from(parsed.second),
    )?;
    Some(wall_seconds(date.and_time(time)))
}

/// No time zone is further than 14 hours from UTC (Kiribati, +14:00).
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// "+HH:MM" / "-HH:MM" as signed minutes; None for anything else.
fn parse_exif_offset(text: &[u8]) -> Option<i32> {
    let (sign, rest) = match text.split_first()? {
        (b'+', rest) => (1, rest),
        (b'-', rest) => (-1, rest),
        _ => return None,
    };
    let [h1, h2, b':', m1, m2] = *rest else {
        return None;
    };
    let hours = two_digits(h1, h2)?;
    let minutes = two_digits(m1, m2)?;
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= MAX_OFFSET_MINUTES).then_some(sign * total)
}

fn two_digits(tens: u8, ones: u8) -> Option<i32> {
    let digit = |b: u8| b.is_ascii_digit().then(|| i32::from(b - b'0'));
    Some(digit(tens)? * 10 + digit(ones)?)
}

// ---- Camera ----

fn read_text(exif: &Exif, tag: Tag) -> Option<String> {
    read_ascii(exif, tag).map(|bytes| String::from_utf8_lossy(bytes).into_owned())
}

/// The first non-blank string of an ASCII tag, without its NUL and space padding.
///
/// All tags read here live in IFD0 or in its Exif and GPS sub-IFDs, which kamadak-exif files
/// under `In::PRIMARY`.
fn read_ascii(exif: &Exif, tag: Tag) -> Option<&[u8]> {
    match &exif.get_field(tag, In::PRIMARY)?.value {
        // Cameras pad fixed-size fields with NULs, which split one value into several strings.
        Value::Ascii(strings) => strings
            .iter()
            .map(|s| trim_padding(s))
            .find(|s| !s.is_empty()),
        _ => None,
    }
}

fn trim_padding(bytes: &[u8]) -> &[u8] {
    let is_padding = |b: &u8| *b == 0 || b.is_ascii_whitespace();
    let start = bytes
        .iter()
        .position(|b| !is_padding(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_padding(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

// ---- Position ----

/// One GPS axis: signed degrees, and whether a hemisphere ref was present.
struct Coordinate {
    degrees: f64,
    has_ref: bool,
}

fn read_location(exif: &Exif) -> Option<(f64, f64)> {
    let lat = read_coordinate(exif, Tag::GPSLatitude, Tag::GPSLatitudeRef, b'N', b'S')?;
    let lon = read_coordinate(exif, Tag::GPSLongitude, Tag::GPSLongitudeRef, b'E', b'W')?;
    let in_range = lat.degrees.abs() <= 90.0 && lon.degrees.abs() <= 180.0;
    // Devices without a fix often write zeros and no refs: that is no place, not the Gulf of Guinea.
    let unset = lat.degrees == 0.0 && lon.degrees == 0.0 && !(lat.has_ref && lon.has_ref);
    (in_range && !unset).then_some((lat.degrees, lon.degrees))
}

fn read_coordinate(
    exif: &Exif,
    value: Tag,
    hemisphere: Tag,
    positive: u8,
    negative: u8,
) -> Option<Coordinate> {
    let magnitude = dms_to_degrees(&exif.get_field(value, In::PRIMARY)?.value)?;
    let hemisphere = read_ascii(exif, hemisphere).map(|r| r[0].to_ascii_uppercase());
    let sign = match hemisphere {
        None => 1.0,
        Some(h) if h == positive => 1.0,
        Some(h) if h == negative => -1.0,
        Some(_) => return None,
    };
    Some(Coordinate {
        degrees: sign * magnitude,
        has_ref: hemisphere.is_some(),
    })
}

/// Degrees, minutes, seconds (some writers give only degrees, or degrees and minutes).
fn dms_to_degrees(value: &Value) -> Option<f64> {
    let parts: Vec<f64> = match value {
        Value::Rational(parts) => parts.iter().map(|r| r.to_f64()).collect(),
        Value::SRational(parts) => parts.iter().map(|r| r.to_f64()).collect(),
        _ => return None,
    };
    // A zero denominator gives NaN or infinity; the sign belongs in the ref, not here.
    let valid = (1..=3).contains(&parts.len()) && parts.iter().all(|p| p.is_finite() && *p >= 0.0);
    valid.then(|| {
        parts
            .iter()
            .zip([1.0, 60.0, 3600.0])
            .map(|(part, per_degree)| part / per_degree)
            .sum()
    })
}

// ---- Periods typed by users ----

/// A calendar period typed by a user: a year, a month, a day, or a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Start, in wall-clock seconds (as Taken::local).
    pub start: i64,
    /// End (exclusive).
    pub end: i64,
}

impl Period {
    /// Parses `2023`, `2023-06`, `2023-06-01`, `2023-06-01T14:30` or `2023-06-01T14:30:00` (also
    /// with a space instead of T). A moment, with or without seconds, is a period of one second.
    /// Month, day and time fields may have one digit or two; years run from 1800 to 9999.
    ///
    /// The error is a sentence saying which formats are accepted, e.g.
    /// "'2023-13' is not a date: use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]".
    pub fn parse(text: &str) -> Result<Period, String> {
        let text = text.trim();
        parse_period(text).ok_or_else(|| {
            format!(
                "'{text}' is not a date: use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]"
            )
        })
    }

    /// From `start` (inclusive) to `end` (exclusive).
    fn between(start: NaiveDateTime, end: NaiveDateTime) -> Period {
        Period {
            start: wall_seconds(start),
            end: wall_seconds(end),
        }
    }
}

fn parse_period(text: &str) -> Option<Period> {
    let (date, time) = match text.split_once(['T', 't', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut fields = date.split('-');
    let year = parse_year(fields.next()?)?;
    let month = fields.next().map(|f| parse_number(f, 1, 12));
    let day = fields.next().map(|f| parse_number(f, 1, 31));
    if fields.next().is_some() {
        return None;
    }
    match (month, day, time) {
        (None, None, None) => months_from(NaiveDate::from_ymd_opt(year, 1, 1)?, 12),
        (Some(month), None, None) => months_from(NaiveDate::from_ymd_opt(year, month?, 1)?, 1),
        (Some(month), Some(day), time) => {
            let date = NaiveDate::from_ymd_opt(year, month?, day?)?;
            match time {
                None => day_period(date),
                Some(time) => moment(date.and_time(parse_time(time)?)),
            }
        }
        _ => None,
    }
}

fn months_from(first_day: NaiveDate, months: u32) -> Option<Period> {
    let end = first_day.checked_add_months(Months::new(months))?;
    Some(Period::between(first_day.into(), end.into()))
}

fn day_period(date: NaiveDate) -> Option<Period> {
    Some(Period::between(date.into(), date.succ_opt()?.into()))
}

fn moment(at: NaiveDateTime) -> Option<Period> {
    Some(Period::between(
        at,
        at.checked_add_signed(TimeDelta::seconds(1))?,
    ))
}

/// Exactly four digits, 1800..=9999: earlier years are typos, not photos.
fn parse_year(text: &str) -> Option<i32> {
    let year = i32::try_from(parse_digits(text, 4, 4)?).ok()?;
    (1800..=9999).contains(&year).then_some(year)
}

/// One or two digits within `min..=max`.
fn parse_number(text: &str, min: u32, max: u32) -> Option<u32> {
    parse_digits(text, 1, 2).filter(|n| (min..=max).contains(n))
}

/// "HH:MM" or "HH:MM:SS"; chrono rejects 24:00 and leap seconds.
fn parse_time(text: &str) -> Option<NaiveTime> {
    let mut fields = text.split(':');
    let hour = parse_number(fields.next()?, 0, 23)?;
    let minute = parse_number(fields.next()?, 0, 59)?;
    let second = fields
        .next()
        .map(|f| parse_number(f, 0, 59))
        .unwrap_or(Some(0))?;
    if fields.next().is_some() {
        return None;
    }
    NaiveTime::from_hms_opt(hour, minute, second)
}

/// A number written with `min_len..=max_len` ASCII digits (no sign, no spaces).
fn parse_digits(text: &str, min_len: usize, max_len: usize) -> Option<u32> {
    let well_formed =
        (min_len..=max_len).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    well_formed.then(|| text.parse().ok()).flatten()
}

/// A wall-clock date-time as seconds since 1970-01-01T00:00:00 of the same wall clock.
fn wall_seconds(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp()
}

// ---- Test photos ----

/// Builds photo files with known EXIF tags, for this crate's tests and integration tests.
#[doc(hidden)]
pub mod testing {
    use std::io::Cursor;

    /// The EXIF crate the fields are made with, for tests outside the engine.
    pub use exif;

    use image::codecs::jpeg::JpegEncoder;
    use image::{ExtendedColorType, Rgb, RgbImage};

    /// A `width`×`height` JPEG whose APP1 segment holds `fields`, written by kamadak-exif's
    /// writer. Tags of the Exif and GPS IFDs go in with `In::PRIMARY` too: the writer builds
    /// those sub-IFDs and their pointers itself. No fields: a plain JPEG without EXIF.
    ///
    /// # Panics
    /// When the size is zero, the writer rejects a field, or the EXIF block exceeds the 64 KiB
    /// of one JPEG segment.
    pub fn jpeg_with_exif(width: u32, height: u32, fields: &[exif::Field]) -> Vec<u8> {
        let jpeg = plain_jpeg(width, height);
        if fields.is_empty() {
            return jpeg;
        }
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend(exif_tiff(fields));
        jpeg_with_app1(&jpeg, &payload)
    }

    /// The TIFF structure kamadak-exif's writer makes from `fields` (big-endian). It is a
    /// TIFF file in its own right; add ImageWidth and ImageLength to make it a plausible one.
    ///
    /// # Panics
    /// When `fields` is empty or the writer rejects a field.
    pub fn exif_tiff(fields: &[exif::Field]) -> Vec<u8> {
        let mut writer = exif::experimental::Writer::new();
        for field in fields {
            writer.push_field(field);
        }
        let mut tiff = Cursor::new(Vec::new());
        writer
            .write(&mut tiff, false)
            .expect("kamadak-exif writes the fields");
        tiff.into_inner()
    }

    /// `jpeg` with an APP1 segment holding `payload` (e.g. "Exif\0\0" and a TIFF block, or
    /// garbage) inserted right after the start-of-image marker.
    ///
    /// # Panics
    /// When `jpeg` does not start with FFD8 or `payload` exceeds one segment.
    pub fn jpeg_with_app1(jpeg: &[u8], payload: &[u8]) -> Vec<u8> {
        assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
        // The segment length counts its own two bytes but not the marker.
        let length = u16::try_from(payload.len() + 2).expect("APP1 payload exceeds 64 KiB");
        let mut out = Vec::with_capacity(jpeg.len() + payload.len() + 4);
        out.extend_from_slice(&jpeg[..2]);
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    fn plain_jpeg(width: u32, height: u32) -> Vec<u8> {
        // A gradient, so the file is an ordinary photo-like JPEG rather than a degenerate one.
        let image = RgbImage::from_fn(width, height, |x, y| {
            Rgb([
                (x * 255 / width.max(1)) as u8,
                (y * 255 / height.max(1)) as u8,
                128,
            ])
        });
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode(image.as_raw(), width, height, ExtendedColorType::Rgb8)
            .expect("JPEG encoding");
        jpeg
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{exif_tiff, jpeg_with_app1, jpeg_with_exif};
    use super::*;
    use exif::{Field, Rational};

    // 2023-06-01T12:34:56 read as UTC.
    const JUNE_FIRST: i64 = 1_685_622_896;

    fn ascii(tag: Tag, text: &[u8]) -> Field {
        Field {
            tag,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![text.to_vec()]),
        }
    }

    fn dms(tag: Tag, degrees: u32, minutes: u32, hundredths_of_seconds: u32) -> Field {
        let parts = vec![
            Rational {
                num: degrees,
                denom: 1,
            },
            Rational {
                num: minutes,
                denom: 1,
            },
            Rational {
                num: hundredths_of_seconds,
                denom: 100,
            },
        ];
        Field {
            tag,
            ifd_num: In::PRIMARY,
            value: Value::Rational(parts),
        }
    }

    fn read_fields(fields: &[Field]) -> PhotoMeta {
        read(&jpeg_with_exif(16, 8, fields))
    }

    fn taken(fields: &[Field]) -> Option<Taken> {
        read_fields(fields).taken
    }

    fn location(fields: &[Field]) -> Option<(f64, f64)> {
        read_fields(fields).location
    }

    fn assert_close(actual: (f64, f64), expected: (f64, f64)) {
        let close = (actual.0 - expected.0).abs() < 1e-9 && (actual.1 - expected.1).abs() < 1e-9;
        assert!(close, "{actual:?} != {expected:?}");
    }

    // ---- Capture time ----

    #[test]
    fn a_file_is_read_only_as_far_as_its_exif() {
        let dir = tempfile::tempdir().unwrap();
        let big = testing::jpeg_with_exif(3000, 2000, &[ascii(Tag::DateTimeOriginal, b"2022:02:02 02:02:02")]);
        assert!(big.len() as u64 > JPEG_EXIF_BYTES, "the test photo is larger than what is read");
        std::fs::write(dir.path().join("big.jpg"), &big).unwrap();
        let meta = read_file_start(&dir.path().join("big.jpg"));
        assert_eq!(meta.taken.map(|t| t.iso()).as_deref(), Some("2022-02-02T02:02:02"));
        assert_eq!(read_file_start(&dir.path().join("missing.jpg")), PhotoMeta::default());
    }

    #[test]
    fn original_date_with_offset() {
        let taken = taken(&[
            ascii(Tag::DateTimeOriginal, b"2023:06:01 12:34:56"),
            ascii(Tag::OffsetTimeOriginal, b"+02:00"),
            ascii(Tag::SubSecTimeOriginal, b"123"),
            ascii(Tag::DateTime, b"2024:01:01 00:00:00"),
        ])
        .unwrap();
        assert_eq!(
            taken,
            Taken {
                local: JUNE_FIRST,
                offset_minutes: Some(120),
                source: TakenSource::ExifOriginal
            }
        );
        assert_eq!(taken.utc(), Some(JUNE_FIRST - 2 * 3600));
        assert_eq!(taken.iso(), "2023-06-01T12:34:56+02:00");
    }

    #[test]
    fn original_date_without_offset() {
        let taken = taken(&[ascii(Tag::DateTimeOriginal, b"2023:06:01 12:34:56")]).unwrap();
        assert_eq!(taken.local, JUNE_FIRST);
        assert_eq!(taken.offset_minutes, None);
        assert_eq!(taken.source, TakenSource::ExifOriginal);
        assert_eq!(taken.utc(), None);
        assert_eq!(taken.iso(), "2023-06-01T12:34:56");
    }

    #[test]
    fn original_offset_is_not_taken_from_offset_time() {
        // OffsetTime belongs to DateTime; it says nothing about DateTimeOriginal.
        let taken = taken(&[
            ascii(Tag::DateTimeOriginal, b"2023:06:01 12:34:56"),
            ascii(Tag::OffsetTime, b"+02:00"),
        ])
        .unwrap();
        assert_eq!(taken.offset_minutes, None);
    }

    #[test]
    fn only_date_time() {
        let taken = taken(&[
            ascii(Tag::DateTime, b"2023:06:01 12:34:56"),
            ascii(Tag::OffsetTime, b"-05:30"),
        ])
        .unwrap();
        assert_eq!(
            taken,
            Taken {
                local: JUNE_FIRST,
                offset_minutes: Some(-330),
                source: TakenSource::ExifDateTime
            }
        );
        assert_eq!(taken.utc(), Some(JUNE_FIRST + 5 * 3600 + 30 * 60));
        assert_eq!(taken.iso(), "2023-06-01T12:34:56-05:30");
    }

    #[test]
    fn no_date_tags() {
        let meta = read_fields(&[ascii(Tag::Make, b"Canon")]);
        assert_eq!(meta.taken, None);
        assert_eq!(meta.camera_make.as_deref(), Some("Canon"));
    }

    #[test]
    fn unusable_original_dates_fall_through_to_date_time() {
        let unusable: [&[u8]; 6] = [
            b"0000:00:00 00:00:00",
            b"    :  :     :  :  ",
            b"",
            b"2023:02:30 10:00:00",
            b"2023:06:01 24:00:00",
            b"yesterday",
        ];
        for original in unusable {
            let taken = taken(&[
                ascii(Tag::DateTimeOriginal, original),
                ascii(Tag::OffsetTimeOriginal, b"+02:00"),
                ascii(Tag::DateTime, b"2023:06:01 12:34:56"),
            ]);
            let expected = Taken {
                local: JUNE_FIRST,
                offset_minutes: None,
                source: TakenSource::ExifDateTime,
            };
            assert_eq!(
                taken,
                Some(expected),
                "{:?}",
                String::from_utf8_lossy(original)
            );
        }
    }

    #[test]
    fn zero_dates_everywhere_give_no_time() {
        let zero = b"0000:00:00 00:00:00";
        assert_eq!(
            taken(&[
                ascii(Tag::DateTimeOriginal, zero),
                ascii(Tag::DateTime, zero)
            ]),
            None
        );
    }

    #[test]
    fn date_padding_is_tolerated() {
        let taken = taken(&[ascii(Tag::DateTimeOriginal, b"2023:06:01 12:34:56 \0\0")]).unwrap();
        assert_eq!(taken.local, JUNE_FIRST);
    }

    #[test]
    fn invalid_offset_keeps_the_date() {
        for offset in [
            "+2:00", "02:00", "+02-00", "+25:00", "+02:60", "+15:00", "   :  ", "Z",
        ] {
            let taken = taken(&[
                ascii(Tag::DateTimeOriginal, b"2023:06:01 12:34:56"),
                ascii(Tag::OffsetTimeOriginal, offset.as_bytes()),
            ])
            .unwrap();
            assert_eq!(taken.local, JUNE_FIRST, "{offset}");
            assert_eq!(taken.offset_minutes, None, "{offset}");
        }
    }

    #[test]
    fn extreme_valid_offsets() {
        assert_eq!(parse_exif_offset(b"+14:00"), Some(840));
        assert_eq!(parse_exif_offset(b"-12:00"), Some(-720));
        assert_eq!(parse_exif_offset(b"+05:45"), Some(345));
        assert_eq!(parse_exif_offset(b"-00:00"), Some(0));
    }

    // ---- Camera ----

    #[test]
    fn make_and_model_are_trimmed() {
        let meta = read_fields(&[
            ascii(Tag::Make, b"NIKON CORPORATION   \0\0\0"),
            ascii(Tag::Model, b"  NIKON D750 \0"),
        ]);
        assert_eq!(meta.camera_make.as_deref(), Some("NIKON CORPORATION"));
        assert_eq!(meta.camera_model.as_deref(), Some("NIKON D750"));
    }

    #[test]
    fn blank_make_is_none() {
        let meta = read_fields(&[ascii(Tag::Make, b"    \0\0"), ascii(Tag::Model, b"")]);
        assert_eq!(meta.camera_make, None);
        assert_eq!(meta.camera_model, None);
    }

    // ---- Position ----

    #[test]
    fn south_and_west_are_negative() {
        // Rio de Janeiro: 22°54'24.48"S 43°10'22.44"W.
        let position = location(&[
            dms(Tag::GPSLatitude, 22, 54, 2448),
            ascii(Tag::GPSLatitudeRef, b"S"),
            dms(Tag::GPSLongitude, 43, 10, 2244),
            ascii(Tag::GPSLongitudeRef, b"W"),
        ]);
        let expected = (
            -(22.0 + 54.0 / 60.0 + 24.48 / 3600.0),
            -(43.0 + 10.0 / 60.0 + 22.44 / 3600.0),
        );
        assert_close(position.unwrap(), expected);
    }

    #[test]
    fn north_and_east_are_positive() {
        // Paris: 48°51'24"N 2°21'3"E.
        let position = location(&[
            dms(Tag::GPSLatitude, 48, 51, 2400),
            ascii(Tag::GPSLatitudeRef, b"N"),
            dms(Tag::GPSLongitude, 2, 21, 300),
            ascii(Tag::GPSLongitudeRef, b"E"),
        ]);
        assert_close(
            position.unwrap(),
            (
                48.0 + 51.0 / 60.0 + 24.0 / 3600.0,
                2.0 + 21.0 / 60.0 + 3.0 / 3600.0,
            ),
        );
    }

    #[test]
    fn missing_refs_read_as_north_east() {
        let position = location(&[
            dms(Tag::GPSLatitude, 48, 30, 0),
            dms(Tag::GPSLongitude, 2, 15, 0),
        ]);
        assert_close(position.unwrap(), (48.5, 2.25));
    }

    #[test]
    fn zero_position_without_refs_is_junk() {
        assert_eq!(
            location(&[
                dms(Tag::GPSLatitude, 0, 0, 0),
                dms(Tag::GPSLongitude, 0, 0, 0)
            ]),
            None
        );
        let half_referenced = location(&[
            dms(Tag::GPSLatitude, 0, 0, 0),
            ascii(Tag::GPSLatitudeRef, b"N"),
            dms(Tag::GPSLongitude, 0, 0, 0),
        ]);
        assert_eq!(half_referenced, None);
    }

    #[test]
    fn zero_position_with_refs_is_kept() {
        let position = location(&[
            dms(Tag::GPSLatitude, 0, 0, 0),
            ascii(Tag::GPSLatitudeRef, b"N"),
            dms(Tag::GPSLongitude, 0, 0, 0),
            ascii(Tag::GPSLongitudeRef, b"E"),
        ]);
        assert_eq!(position, Some((0.0, 0.0)));
    }

    #[test]
    fn incomplete_or_impossible_positions_are_none() {
        let latitude_only = [
            dms(Tag::GPSLatitude, 48, 30, 0),
            ascii(Tag::GPSLatitudeRef, b"N"),
        ];
        assert_eq!(location(&latitude_only), None);
        let beyond_pole = [
            dms(Tag::GPSLatitude, 91, 0, 0),
            dms(Tag::GPSLongitude, 2, 0, 0),
        ];
        assert_eq!(location(&beyond_pole), None);
        let beyond_antimeridian = [
            dms(Tag::GPSLatitude, 10, 0, 0),
            dms(Tag::GPSLongitude, 180, 0, 1),
        ];
        assert_eq!(location(&beyond_antimeridian), None);
        let bad_ref = [
            dms(Tag::GPSLatitude, 48, 30, 0),
            ascii(Tag::GPSLatitudeRef, b"X"),
            dms(Tag::GPSLongitude, 2, 15, 0),
        ];
        assert_eq!(location(&bad_ref), None);
        let zero_denominator = Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![Rational { num: 48, denom: 0 }]),
        };
        assert_eq!(
            location(&[zero_denominator, dms(Tag::GPSLongitude, 2, 15, 0)]),
            None
        );
    }

    #[test]
    fn degrees_only_position() {
        let degrees = |tag, num| Field {
            tag,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![Rational { num, denom: 4 }]),
        };
        let position = location(&[
            degrees(Tag::GPSLatitude, 194),
            degrees(Tag::GPSLongitude, 9),
        ]);
        assert_close(position.unwrap(), (48.5, 2.25));
    }

    // ---- Containers and damage ----

    #[test]
    fn tiff_file() {
        let dimension = |tag| Field {
            tag,
            ifd_num: In::PRIMARY,
            value: Value::Long(vec![1]),
        };
        let tiff = exif_tiff(&[
            dimension(Tag::ImageWidth),
            dimension(Tag::ImageLength),
            ascii(Tag::Make, b"FUJIFILM"),
            ascii(Tag::DateTimeOriginal, b"2023:06:01 12:34:56"),
            dms(Tag::GPSLatitude, 48, 30, 0),
            dms(Tag::GPSLongitude, 2, 15, 0),
        ]);
        let meta = read(&tiff);
        assert_eq!(meta.camera_make.as_deref(), Some("FUJIFILM"));
        assert_eq!(meta.taken.map(|t| t.local), Some(JUNE_FIRST));
        assert_close(meta.location.unwrap(), (48.5, 2.25));
    }

    #[test]
    fn jpeg_without_exif_is_empty() {
        assert_eq!(read(&jpeg_with_exif(8, 8, &[])), PhotoMeta::default());
    }

    #[test]
    fn png_without_exif_is_empty() {
        let mut png = Vec::new();
        image::RgbImage::new(4, 4)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(read(&png), PhotoMeta::default());
    }

    #[test]
    fn garbage_exif_segment_is_empty() {
        let jpeg = jpeg_with_exif(8, 8, &[]);
        for payload in [
            &b"Exif\0\0garbage, not a TIFF header"[..],
            b"Exif\0\0",
            b"Exif",
        ] {
            assert_eq!(read(&jpeg_with_app1(&jpeg, payload)), PhotoMeta::default());
        }
    }

    #[test]
    fn truncated_tiff_is_empty() {
        let fields = [
            ascii(Tag::Make, b"Canon"),
            ascii(Tag::DateTimeOriginal, b"2023:06:01 12:34:56"),
        ];
        let tiff = exif_tiff(&fields);
        let jpeg = jpeg_with_exif(8, 8, &[]);
        for cut in [4, 10, tiff.len() / 2] {
            let mut payload = b"Exif\0\0".to_vec();
            payload.extend_from_slice(&tiff[..cut]);
            assert_eq!(
                read(&jpeg_with_app1(&jpeg, &payload)),
                PhotoMeta::default(),
                "cut at {cut}"
            );
            assert_eq!(
                read(&tiff[..cut]),
                PhotoMeta::default(),
                "bare TIFF cut at {cut}"
            );
        }
    }

    #[test]
    fn random_and_empty_bytes_are_empty() {
        assert_eq!(read(&[]), PhotoMeta::default());
        assert_eq!(read(&[0xFF, 0xD8]), PhotoMeta::default());
        let noise: Vec<u8> = pseudo_random(1).take(4096).map(|n| n as u8).collect();
        assert_eq!(read(&noise), PhotoMeta::default());
    }

    #[test]
    fn damaged_exif_never_panics() {
        let jpeg = jpeg_with_exif(
            8,
            8,
            &[
                ascii(Tag::Make, b"Canon"),
                ascii(Tag::DateTimeOriginal, b"2023:06:01 12:34:56"),
                ascii(Tag::OffsetTimeOriginal, b"+02:00"),
                dms(Tag::GPSLatitude, 48, 30, 0),
                ascii(Tag::GPSLatitudeRef, b"N"),
            ],
        );
        // The EXIF segment: APP1 marker, length, "Exif\0\0", then the TIFF block.
        let exif_len = usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]])) + 4;
        let mut random = pseudo_random(7);
        for _ in 0..500 {
            let mut damaged = jpeg.clone();
            for _ in 0..1 + random.next().unwrap() % 4 {
                let at = 12 + random.next().unwrap() as usize % (exif_len - 12);
                damaged[at] = random.next().unwrap() as u8;
            }
            let _ = read(&damaged);
        }
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    fn pseudo_random(seed: u64) -> impl Iterator<Item = u64> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        std::iter::repeat_with(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state >> 16
        })
    }

    // ---- Taken ----

    #[test]
    fn from_file_time() {
        let taken = Taken::from_file_time(JUNE_FIRST * 1_000_000_000 + 999_999_999);
        assert_eq!(
            taken,
            Taken {
                local: JUNE_FIRST,
                offset_minutes: Some(0),
                source: TakenSource::FileTime
            }
        );
        assert_eq!(taken.utc(), Some(JUNE_FIRST));
        assert_eq!(taken.iso(), "2023-06-01T12:34:56+00:00");
    }

    #[test]
    fn file_time_before_1970_rounds_down() {
        let taken = Taken::from_file_time(-1);
        assert_eq!(taken.local, -1);
        assert_eq!(taken.iso(), "1969-12-31T23:59:59+00:00");
    }

    #[test]
    fn iso_outside_the_calendar_is_the_number() {
        let taken = Taken {
            local: i64::MAX,
            offset_minutes: None,
            source: TakenSource::FileTime,
        };
        assert_eq!(taken.iso(), i64::MAX.to_string());
        assert_eq!(
            Taken {
                offset_minutes: Some(-60),
                ..taken
            }
            .utc(),
            None
        );
    }

    #[test]
    fn taken_source_names_round_trip() {
        for source in TakenSource::ALL {
            assert_eq!(TakenSource::parse(source.as_str()), Some(source));
        }
        assert_eq!(TakenSource::ExifOriginal.as_str(), "exif-original");
        assert_eq!(TakenSource::ExifDateTime.as_str(), "exif-datetime");
        assert_eq!(TakenSource::FileTime.as_str(), "file-time");
        assert_eq!(TakenSource::parse("exif"), None);
    }

    // ---- Period ----

    fn seconds(text: &str) -> i64 {
        let at = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap();
        wall_seconds(at)
    }

    fn period(start: &str, end: &str) -> Period {
        Period {
            start: seconds(start),
            end: seconds(end),
        }
    }

    #[test]
    fn year_period() {
        assert_eq!(
            Period::parse("2023"),
            Ok(period("2023-01-01 00:00:00", "2024-01-01 00:00:00"))
        );
        assert_eq!(Period::parse("2023").unwrap().start, 1_672_531_200);
        // 10000-01-01T00:00:00, one second after 9999-12-31T23:59:59.
        let last_year = Period {
            start: seconds("9999-01-01 00:00:00"),
            end: 253_402_300_800,
        };
        assert_eq!(Period::parse("9999"), Ok(last_year));
        assert_eq!(
            Period::parse("1800"),
            Ok(period("1800-01-01 00:00:00", "1801-01-01 00:00:00"))
        );
    }

    #[test]
    fn month_period() {
        assert_eq!(
            Period::parse("2023-06"),
            Ok(period("2023-06-01 00:00:00", "2023-07-01 00:00:00"))
        );
        assert_eq!(
            Period::parse("2023-12"),
            Ok(period("2023-12-01 00:00:00", "2024-01-01 00:00:00"))
        );
        assert_eq!(Period::parse("2023-6"), Period::parse("2023-06"));
    }

    #[test]
    fn day_period() {
        let june_first = Period::parse("2023-06-01").unwrap();
        assert_eq!(
            june_first,
            period("2023-06-01 00:00:00", "2023-06-02 00:00:00")
        );
        assert!(june_first.start <= JUNE_FIRST && JUNE_FIRST < june_first.end);
        assert_eq!(
            Period::parse("2023-12-31"),
            Ok(period("2023-12-31 00:00:00", "2024-01-01 00:00:00"))
        );
        assert_eq!(
            Period::parse("2024-02-29"),
            Ok(period("2024-02-29 00:00:00", "2024-03-01 00:00:00"))
        );
    }

    #[test]
    fn moment_period() {
        let one_second = Period {
            start: JUNE_FIRST,
            end: JUNE_FIRST + 1,
        };
        assert_eq!(Period::parse("2023-06-01T12:34:56"), Ok(one_second));
        assert_eq!(Period::parse("2023-06-01 12:34:56"), Ok(one_second));
        let minute = JUNE_FIRST - 56;
        assert_eq!(
            Period::parse("2023-06-01T12:34"),
            Ok(Period {
                start: minute,
                end: minute + 1
            })
        );
        assert_eq!(
            Period::parse(" 2023-06-01 12:34 "),
            Ok(Period {
                start: minute,
                end: minute + 1
            })
        );
    }

    #[test]
    fn impossible_periods_are_rejected() {
        let rejected = [
            "",
            "23",
            "20234",
            "1799",
            "10000",
            "2023-13",
            "2023-00",
            "2023-02-29",
            "2023-02-30",
            "2023-06-31",
            "2023-06-01T24:00",
            "2023-06-01T12:60",
            "2023-06-01T12:34:60",
            "2023-06-01T12",
            "2023-06-01T12:34:56:00",
            "2023-06T12:00",
            "2023-06-01-02",
            "2023-",
            "2023/06/01",
            "-2023",
            "+2023",
            "2023-+6",
            "June 2023",
            "2023-06-01T",
        ];
        for text in rejected {
            assert!(Period::parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn error_names_the_accepted_formats() {
        assert_eq!(
            Period::parse("2023-13"),
            Err(
                "'2023-13' is not a date: use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]"
                    .to_string()
            )
        );
    }
}
