//! Small pieces the rest of the engine shares: file digests, the index folder's file access
//! (which never follows a link), progress hooks and the crash points tests kill at.

pub mod digest;
pub mod index_folder;
pub mod killpoint;
pub mod progress;
