//! What `ffprobe` says about a video: its `-of flat` output read into a [`VideoInfo`], with the
//! size a player shows.

use std::{collections::HashMap, time::Duration};

use super::types::VideoInfo;

/// Reads `ffprobe -of flat` output: `streams.stream.0.width=640`, `format.duration="30.0"`, ...
pub(super) fn parse_probe(flat: &str) -> Option<VideoInfo> {
    let fields: HashMap<&str, &str> = flat
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .collect();
    let stream = |key: &str| fields.get(format!("streams.stream.0.{key}").as_str()).copied();
    let seconds = |v: Option<&str>| v.and_then(|s| s.parse::<f64>().ok()).filter(|s| s.is_finite() && *s > 0.0);

    let codec = stream("codec_name")?.to_string();
    let width: u32 = stream("width")?.parse().ok()?;
    let height: u32 = stream("height")?.parse().ok()?;
    let duration = seconds(stream("duration")).or(seconds(fields.get("format.duration").copied())).unwrap_or(0.0);
    // The display matrix's rotation, wherever it sits among the side data (older ffprobe: a tag).
    let rotation = fields
        .iter()
        .find(|(k, _)| k.starts_with("streams.stream.0.side_data_list.") && k.ends_with(".rotation"))
        .map(|(_, v)| *v)
        .or(stream("tags.rotate"));
    let (width, height) = display_size(width, height, stream("sample_aspect_ratio"), rotation);
    Some(VideoInfo { duration: Duration::from_secs_f64(duration), width, height, codec })
}

/// The size a player shows: non-square pixels stretched horizontally, a quarter turn swapping
/// the sides (ffmpeg rotates frames by the same display matrix before our filters see them).
fn display_size(width: u32, height: u32, sar: Option<&str>, rotation: Option<&str>) -> (u32, u32) {
    let sar = sar
        .and_then(|s| s.split_once(':'))
        .and_then(|(n, d)| Some((n.parse::<f64>().ok()?, d.parse::<f64>().ok()?)))
        .filter(|&(n, d)| n > 0.0 && d > 0.0)
        .map_or(1.0, |(n, d)| n / d);
    let width = ((width as f64 * sar).round() as u32).max(1);
    let quarter_turn =
        rotation.and_then(|r| r.parse::<f64>().ok()).is_some_and(|r| (r.abs().round() as i64).rem_euclid(180) == 90);
    if quarter_turn {
        (height, width)
    } else {
        (width, height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_is_parsed() {
        let flat = "streams.stream.0.codec_name=\"hevc\"\nstreams.stream.0.width=1920\nstreams.stream.0.height=1080\n\
                    streams.stream.0.sample_aspect_ratio=\"1:1\"\nstreams.stream.0.duration=\"N/A\"\n\
                    streams.stream.0.side_data_list.side_data.1.rotation=-90\nformat.duration=\"12.500000\"\n";
        let info = parse_probe(flat).unwrap();
        assert_eq!(
            info,
            VideoInfo { duration: Duration::from_millis(12500), width: 1080, height: 1920, codec: "hevc".into() }
        );
        assert_eq!(parse_probe("format.duration=\"3.0\"\n"), None, "no video stream");
    }

    #[test]
    fn display_size_applies_rotation_and_pixel_aspect() {
        assert_eq!(display_size(640, 480, Some("1:1"), None), (640, 480));
        assert_eq!(display_size(640, 480, Some("1:1"), Some("-90")), (480, 640));
        assert_eq!(display_size(640, 480, None, Some("270")), (480, 640));
        assert_eq!(display_size(640, 480, None, Some("180")), (640, 480));
        assert_eq!(display_size(720, 480, Some("32:27"), None), (853, 480));
        assert_eq!(display_size(720, 480, Some("0:1"), None), (720, 480));
    }
}
