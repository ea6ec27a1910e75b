//! What is read from a media file besides its pixels: a photo's metadata (capture time, camera,
//! GPS), a video's frames, the clip inside a motion photo, and the words printed in it.

pub mod motion_photo;
pub mod ocr;
pub mod photo_meta;
pub mod video;
