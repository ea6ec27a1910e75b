//! What is read from a media file besides its pixels: a photo's metadata (capture time, camera,
//! GPS) and a video's frames.

pub mod photo_meta;
pub mod video;
