//! What is read from a media file besides its pixels: a photo's metadata (capture time, camera,
//! GPS), a video's frames, and the clip inside a motion photo.

pub mod motion_photo;
pub mod photo_meta;
pub mod video;
