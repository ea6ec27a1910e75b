//! Videos in a library: sampled by `ffmpeg` while indexing, one row per kept frame, found at the
//! moment they match. The videos are made here with `ffmpeg` from the demo world's own images
//! (samples/shapes, labelled in eval.json), so the demo model knows what each scene shows.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use clipfind_engine::catalog::Catalog;
use serde_json::Value;

use crate::{
    indexing::{clipfind, root},
    live::{get, serve_model},
};

fn demo() -> PathBuf {
    root().join("models/clipfind-demo-bilingual")
}

/// The first large single `color` `shape` of the held-out set.
fn shapes_image(color: &str, shape: &str) -> PathBuf {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(root().join("samples/shapes/eval.json")).unwrap()).unwrap();
    let found = manifest["images"].as_array().unwrap().iter().find(|i| {
        i["color"] == color && i["shape"] == shape && i["count"] == 1 && i["size"] == "large"
    });
    root().join("samples/shapes").join(found.unwrap_or_else(|| panic!("no large {color} {shape}"))["file"].as_str().unwrap())
}

/// A 30 s video: a red square for 10 s, a blue circle for 10 s, a yellow star for 10 s (`codec`
/// arguments choose the format, e.g. libx264 for .mp4, libvpx-vp9 for .webm).
pub(crate) fn three_scenes(out: &Path, codec: &[&str]) {
    let scenes = [shapes_image("red", "square"), shapes_image("blue", "circle"), shapes_image("yellow", "star")];
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg.args(["-v", "error", "-y"]);
    for scene in &scenes {
        ffmpeg.args(["-loop", "1", "-framerate", "5", "-t", "10", "-i"]).arg(scene);
    }
    let filter = "[0]scale=320:240,setsar=1[a];[1]scale=320:240,setsar=1[b];[2]scale=320:240,setsar=1[c];[a][b][c]concat=n=3:v=1:a=0,format=yuv420p[v]";
    let status = ffmpeg.args(["-filter_complex", filter, "-map", "[v]", "-r", "5"]).args(codec).arg(out).status().expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {}", out.display());
}

fn index_json(data: &Path, extra_env: &[(&str, &str)]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clipfind"));
    command.args(["index", "--json"]).arg("--data").arg(data).env("CLIPFIND_MODEL", demo()).env("CLIPFIND_DEVICE", "cpu").env_remove("CLIPFIND_INDEX");
    for (k, v) in extra_env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn catalog(data: &Path) -> Catalog {
    Catalog::open_read_only(&data.join(".clipfind")).unwrap()
}

/// `(frames kept after the first, vectors)` of the library's catalog.
fn frame_and_vector_counts(data: &Path) -> (usize, u64) {
    let catalog = catalog(data);
    let frames = catalog.images().unwrap().iter().map(|row| catalog.frames_of(row.id).unwrap().len()).sum();
    (frames, catalog.vector_count().unwrap())
}

#[test]
fn a_blue_circle_is_found_at_its_moment_in_the_cli_and_the_api() {
    let d = tempfile::tempdir().unwrap();
    three_scenes(&d.path().join("clip.mp4"), &["-c:v", "libx264", "-preset", "veryfast"]);
    std::fs::copy(shapes_image("green", "triangle"), d.path().join("photo.jpg")).unwrap();
    let summary = index_json(d.path(), &[]);
    assert_eq!((summary["new"].as_u64(), summary["total"].as_u64()), (Some(2), Some(2)), "{summary}");
    assert!(summary["video_frames"].as_u64().unwrap() >= 3, "at least one frame per scene: {summary}");

    let out = clipfind(d.path(), &demo(), &["search", "a blue circle", "-k", "2", "--min-score", "-1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_string();
    let moment = first.strip_prefix("clip.mp4 @ 00:00:").and_then(|rest| rest.get(..2)).and_then(|s| s.parse::<u32>().ok());
    assert!(moment.is_some_and(|s| (10..20).contains(&s)), "clip.mp4 @ 00:00:1x first: {first}");
    assert!(first.contains(" | similarity: "), "{first}");

    let server = serve_model(d.path(), &demo(), &[]);
    let (status, body) = get(&format!("{}/api/search?q=a%20yellow%20star&k=2&min=-1", server.url));
    assert_eq!(status, 200, "{body}");
    let hit = &body["hits"][0];
    assert_eq!((hit["path"].as_str(), hit["kind"].as_str()), (Some("clip.mp4"), Some("video")), "{body}");
    let t = hit["timestamp"].as_f64().unwrap();
    assert!((20.0..30.0).contains(&t), "a yellow star at {t} s");
    assert!((hit["duration"].as_f64().unwrap() - 30.0).abs() < 0.5, "{hit}");
    assert_eq!(body["hits"].as_array().unwrap().iter().filter(|h| h["path"] == "clip.mp4").count(), 1, "a video appears once");
    // Its other frames are its other moments: each once, none the best one.
    let mut moments: Vec<f64> = hit["moments"].as_array().unwrap().iter().map(|m| m["timestamp"].as_f64().unwrap()).collect();
    assert!(!moments.is_empty() && !moments.contains(&t), "{hit}");
    moments.dedup();
    assert_eq!(moments.len(), hit["moments"].as_array().unwrap().len(), "distinct moments: {hit}");
    assert!(moments.iter().any(|m| *m < 10.0), "the first frame (the red square) is a moment too: {hit}");
    assert_eq!(body["hits"][1]["kind"], "image", "{body}");
    // The thumbnail is the frame of the moment; the video itself is served in ranges.
    let thumb = hit["thumb"].as_str().unwrap();
    assert!(thumb.contains("?t="), "{thumb}");
    let response = ureq::get(&format!("{}{thumb}", server.url)).call().unwrap();
    assert_eq!(response.content_type(), "image/jpeg");
    let range = ureq::get(&format!("{}{}", server.url, hit["image"].as_str().unwrap())).set("Range", "bytes=0-99").call().unwrap();
    assert_eq!((range.status(), range.content_type()), (206, "video/mp4"));
    let (status, _) = get(&format!("{}{}?t=soon", server.url, thumb.split('?').next().unwrap()));
    assert_eq!(status, 400);
}

#[test]
fn broken_videos_are_skipped_with_a_reason_and_images_still_index() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.mp4");
    three_scenes(&good, &["-c:v", "libx264", "-preset", "veryfast"]);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(d.path().join("truncated.mp4"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(d.path().join("empty.mp4"), b"").unwrap();
    std::fs::write(d.path().join("notes.MOV"), b"this is a text file, not a video\n").unwrap();
    std::fs::remove_file(&good).unwrap();
    std::fs::copy(shapes_image("red", "square"), d.path().join("photo.jpg")).unwrap();
    let summary = index_json(d.path(), &[]);
    assert_eq!(summary["total"], 1, "the photo: {summary}");
    let skipped: Vec<String> = summary["skipped"].as_array().unwrap().iter().map(|s| format!("{}: {}", s["path"].as_str().unwrap(), s["reason"].as_str().unwrap())).collect();
    for name in ["empty.mp4", "notes.MOV", "truncated.mp4"] {
        let line = skipped.iter().find(|s| s.starts_with(name)).unwrap_or_else(|| panic!("{name} not skipped: {skipped:?}"));
        assert!(line.len() > name.len() + 10, "a reason: {line}");
    }
    // Unchanged, they are not read again.
    let again = index_json(d.path(), &[]);
    assert_eq!((again["embedded"].as_u64(), again["skipped"].as_array().map(Vec::len)), (Some(0), Some(3)), "{again}");
}

#[test]
fn without_ffmpeg_videos_wait_with_one_message_and_images_index() {
    let d = tempfile::tempdir().unwrap();
    three_scenes(&d.path().join("clip.webm"), &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]);
    std::fs::copy(shapes_image("red", "square"), d.path().join("photo.jpg")).unwrap();
    let summary = index_json(d.path(), &[("CLIPFIND_FFMPEG", "/nonexistent/ffmpeg")]);
    assert_eq!(summary["total"], 1, "{summary}");
    let waiting = &summary["videos_waiting"];
    assert_eq!(waiting[0], 1, "{summary}");
    assert!(waiting[1].as_str().unwrap().contains("ffmpeg"), "{waiting}");
    assert_eq!(summary["skipped"].as_array().map(Vec::len), Some(0), "not recorded as broken: {summary}");
    // With ffmpeg the next run indexes it.
    let summary = index_json(d.path(), &[]);
    assert_eq!((summary["new"].as_u64(), summary["total"].as_u64()), (Some(1), Some(2)), "{summary}");
}

#[test]
fn a_renamed_video_re_embeds_nothing_and_a_deleted_one_leaves_no_frames() {
    let d = tempfile::tempdir().unwrap();
    three_scenes(&d.path().join("clip.mkv"), &["-c:v", "libx264", "-preset", "veryfast"]);
    std::fs::copy(shapes_image("red", "square"), d.path().join("photo.jpg")).unwrap();
    index_json(d.path(), &[]);
    let (frames, vectors) = frame_and_vector_counts(d.path());
    assert!(frames >= 2, "{frames} frames after the first");
    assert_eq!(vectors, 2 + frames as u64);

    std::fs::create_dir(d.path().join("moved")).unwrap();
    std::fs::rename(d.path().join("clip.mkv"), d.path().join("moved/renamed.MKV")).unwrap();
    let summary = index_json(d.path(), &[]);
    assert_eq!((summary["renamed"].as_u64(), summary["embedded"].as_u64(), summary["video_frames"].as_u64()), (Some(1), Some(0), Some(0)), "{summary}");
    assert_eq!(frame_and_vector_counts(d.path()), (frames, vectors), "the same frames, moved with their video");
    let row = catalog(d.path()).image_at("moved/renamed.MKV").unwrap().expect("the video under its new name");
    assert!(row.video.is_some());

    std::fs::remove_file(d.path().join("moved/renamed.MKV")).unwrap();
    let summary = index_json(d.path(), &[]);
    assert_eq!((summary["removed"].as_u64(), summary["total"].as_u64()), (Some(1), Some(1)), "{summary}");
    assert_eq!(frame_and_vector_counts(d.path()), (0, 1), "no frames left");
    let out = clipfind(d.path(), &demo(), &["search", "a blue circle", "--json", "-k", "5", "--min-score", "-1"]);
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits.as_array().map(Vec::len), Some(1), "only the photo: {hits}");
}

#[test]
fn a_playlist_named_mp4_and_an_extreme_aspect_video_are_skipped_quickly() {
    let d = tempfile::tempdir().unwrap();
    // An HLS playlist whose segment is a FIFO: FFmpeg picks the demuxer by content, and opening
    // the FIFO would block forever.
    let fifo = d.path().join("segment.ts");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::write(d.path().join("clip.mp4"), "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nsegment.ts\n#EXT-X-ENDLIST\n").unwrap();
    // 1000:1, a couple of KB: refused like an image of that shape.
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=16x16000:r=1:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(d.path().join("tall.mp4"))
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::copy(shapes_image("red", "square"), d.path().join("photo.jpg")).unwrap();

    let data = d.path().to_path_buf();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(index_json(&data, &[])));
    let Ok(summary) = result.recv_timeout(std::time::Duration::from_secs(120)) else {
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo); // lets the blocked reader go
        panic!("indexing still running after 120 s");
    };
    assert_eq!(summary["total"], 1, "the photo: {summary}");
    let skipped = |name: &str| {
        let entry = summary["skipped"].as_array().unwrap().iter().find(|s| s["path"] == name);
        entry.and_then(|s| s["reason"].as_str()).unwrap_or_else(|| panic!("{name} not skipped: {summary}")).to_string()
    };
    assert!(skipped("clip.mp4").contains("its content is hls, not a video container"), "{summary}");
    assert!(skipped("tall.mp4").contains("16x16000 is not a picture to search: its sides differ more than 256 times"), "{summary}");
}

/// A `seconds`-long clip of `image` (an iPhone Live Photo's MOV is about 3 s).
fn still_clip(image: &Path, seconds: u32, out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-framerate", "5", "-t", &seconds.to_string(), "-i"])
        .arg(image)
        .args(["-vf", "scale=320:240,setsar=1,format=yuv420p", "-c:v", "libx264", "-preset", "veryfast"])
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made {}", out.display());
}

#[test]
fn a_live_photo_s_still_and_its_clip_are_one_result() {
    let d = tempfile::tempdir().unwrap();
    // The still is a red square; its motion shows a blue circle (what moved after the shutter).
    std::fs::copy(shapes_image("red", "square"), d.path().join("IMG_0001.png")).unwrap();
    still_clip(&shapes_image("blue", "circle"), 3, &d.path().join("IMG_0001.mov"));
    // A long video that shares a photo's name is a video of its own.
    std::fs::copy(shapes_image("green", "triangle"), d.path().join("trip.png")).unwrap();
    still_clip(&shapes_image("blue", "circle"), 12, &d.path().join("trip.mov"));
    let summary = index_json(d.path(), &[]);
    assert_eq!(summary["total"].as_u64(), Some(4), "{summary}");

    let server = serve_model(d.path(), &demo(), &[]);
    let (status, body) = get(&format!("{}/api/search?q=a%20blue%20circle&k=10&min=-1", server.url));
    assert_eq!(status, 200, "{body}");
    let hits = body["hits"].as_array().unwrap();
    let paths: Vec<&str> = hits.iter().map(|h| h["path"].as_str().unwrap()).collect();
    assert!(!paths.contains(&"IMG_0001.mov"), "the clip is not a result of its own: {paths:?}");
    assert_eq!(paths.iter().filter(|p| **p == "IMG_0001.png").count(), 1, "{paths:?}");
    assert!(paths.contains(&"trip.mov") && paths.contains(&"trip.png"), "a long video stays its own result: {paths:?}");
    let live = hits.iter().find(|h| h["path"] == "IMG_0001.png").unwrap();
    assert_eq!(live["kind"], "image", "{live}");
    let motion = live["motion"].as_str().expect("the still names its clip");
    assert!(motion.starts_with("/image/"), "{live}");
    assert!(!live["moments"].as_array().unwrap().is_empty(), "the clip's frames are the still's moments: {live}");
    // Ranked by its clip: the blue circle moved, so the Live Photo comes before the triangle.
    let at = |p: &str| paths.iter().position(|x| *x == p).unwrap();
    assert!(at("IMG_0001.png") < at("trip.png"), "{paths:?}");
    let clip = ureq::get(&format!("{}{motion}", server.url)).call().unwrap();
    assert!(clip.header("content-type").is_some_and(|t| t.starts_with("video/")), "{:?}", clip.header("content-type"));
    assert!(hits.iter().find(|h| h["path"] == "trip.png").unwrap().get("motion").is_none(), "no clip for trip.png");
}

/// A motion photo as phones write it (scripts/make-motion-photo.py, `marking` google or
/// samsung): `still` as a JPEG, with `clip` (an MP4) inside the file.
pub(crate) fn motion_photo(still: &Path, clip: &Path, marking: &str, out: &Path) {
    let jpeg = out.with_extension("plain.jpg");
    let status = Command::new("ffmpeg").args(["-v", "error", "-y", "-i"]).arg(still).args(["-q:v", "2"]).arg(&jpeg).status().unwrap();
    assert!(status.success());
    let made = Command::new("python3").arg(root().join("scripts/make-motion-photo.py")).arg(&jpeg).arg(clip).arg(out).args(["--marking", marking]).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
}

#[test]
fn a_motion_photo_s_clip_inside_the_jpeg_is_its_moments() {
    let d = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    // Stills of a red square whose clips show a blue circle; a green triangle without a clip.
    let clip_file = work.path().join("clip.mp4");
    still_clip(&shapes_image("blue", "circle"), 3, &clip_file);
    let clip = std::fs::read(&clip_file).unwrap();
    let red = shapes_image("red", "square");
    motion_photo(&red, &clip_file, "google", &work.path().join("PXL_0001.MP.jpg"));
    motion_photo(&red, &clip_file, "samsung", &work.path().join("20240101_120000.jpg"));
    for name in ["PXL_0001.MP.jpg", "20240101_120000.jpg"] {
        std::fs::copy(work.path().join(name), d.path().join(name)).unwrap();
    }
    // Claims the bytes do not back: a clip length past the file, a marker before garbage.
    let green = shapes_image("green", "triangle");
    std::fs::write(work.path().join("junk.mp4"), b"not an mp4 at all").unwrap();
    motion_photo(&green, &work.path().join("junk.mp4"), "google", &work.path().join("lying.jpg"));
    let mut bad = std::fs::read(work.path().join("lying.jpg")).unwrap();
    bad.extend_from_slice(b"MotionPhoto_Data\0\0\0\x10ftypisomxxxx");
    std::fs::write(d.path().join("lying.jpg"), &bad).unwrap();
    let summary = index_json(d.path(), &[]);
    assert_eq!(summary["total"], 3, "{summary}");
    assert_eq!(summary["skipped"].as_array().map(Vec::len), Some(0), "{summary}");
    let catalog_now = catalog(d.path());
    let frames_of = |path: &str| {
        let row = catalog_now.images().unwrap().into_iter().find(|r| r.path == path).unwrap();
        (row.motion_ms, catalog_now.frames_of(row.id).unwrap().len())
    };
    for name in ["PXL_0001.MP.jpg", "20240101_120000.jpg"] {
        let (motion_ms, frames) = frames_of(name);
        assert!(motion_ms.is_some_and(|ms| (2900..=3100).contains(&ms)), "{name}: the clip's length, {motion_ms:?}");
        assert!(frames >= 1, "{name}: the clip's frames are kept");
    }
    assert_eq!(frames_of("lying.jpg"), (None, 0), "no clip where the bytes hold none");

    let server = serve_model(d.path(), &demo(), &[]);
    let (status, body) = get(&format!("{}/api/search?q=a%20blue%20circle&k=10&min=-1", server.url));
    assert_eq!(status, 200, "{body}");
    let hits = body["hits"].as_array().unwrap();
    let paths: Vec<&str> = hits.iter().map(|h| h["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), 3, "each file once: {paths:?}");
    assert_eq!(paths[2], "lying.jpg", "the stills rank by their clips' blue circle: {paths:?}");
    for hit in &hits[..2] {
        assert_eq!(hit["kind"], "image", "{hit}");
        let motion = hit["motion"].as_str().expect("a motion photo names its clip");
        assert_eq!(motion, format!("/motion/{}", hit["id"]), "{hit}");
        assert!(!hit["moments"].as_array().unwrap().is_empty(), "the clip's frames are the still's moments: {hit}");
        let served = ureq::get(&format!("{}{motion}", server.url)).call().unwrap();
        assert_eq!(served.header("content-type"), Some("video/mp4"));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut served.into_reader(), &mut bytes).unwrap();
        assert!(bytes == clip, "{motion} serves exactly the clip inside the file ({} bytes, the clip {})", bytes.len(), clip.len());
    }
    let lying = &hits[2];
    assert!(lying.get("motion").is_none(), "{lying}");
    let (status, body) = get(&format!("{}/motion/{}", server.url, lying["id"]));
    assert_eq!(status, 404, "{body}");
    drop(server);

    // The clip cut off by an editor that keeps only the picture: its frames go with it.
    let plain = work.path().join("PXL_0001.MP.plain.jpg");
    std::fs::copy(&plain, d.path().join("PXL_0001.MP.jpg")).unwrap();
    index_json(d.path(), &[]);
    let catalog_now = catalog(d.path());
    let row = catalog_now.images().unwrap().into_iter().find(|r| r.path == "PXL_0001.MP.jpg").unwrap();
    assert_eq!((row.motion_ms, catalog_now.frames_of(row.id).unwrap().len()), (None, 0));
}
