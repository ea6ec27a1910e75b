//! Live Photos: the short clip an iPhone writes beside each HEIC or JPEG, with the same name
//! (`IMG_1234.HEIC` and `IMG_1234.MOV`), is one item with its still. The still is the photo;
//! the clip's frames are its moments. Both are indexed as they are; a search folds the clip's
//! hits into its still's (see `search::searcher`).

use super::{
    connection::Catalog,
    rows::{db_error, row_to_image, ImageRow, IMAGE_COLUMNS},
};
use crate::Result;

/// Longest clip taken as a still's motion part: Apple's are about 3 s, and a longer video that
/// happens to share a photo's name is a video of its own.
pub const MOTION_MAX_MS: i64 = 10_000;

impl Catalog {
    /// The other half of a Live Photo: for a short video, the still of the same name in the same
    /// folder; for a still, its short video. None for everything else.
    pub fn live_twin(&self, row: &ImageRow) -> Result<Option<ImageRow>> {
        let is_motion = |r: &ImageRow| r.video.is_some_and(|v| v.duration_ms <= MOTION_MAX_MS);
        let wants_motion = match row.video {
            Some(_) if is_motion(row) => false,
            Some(_) => return Ok(None),
            None => true,
        };
        let Some(prefix) = stem_prefix(&row.path) else { return Ok(None) };
        let err = db_error(&self.path);
        // `prefix` up to (not including) `prefix` with its final '.' raised to '/': the paths
        // that continue the stem with an extension, found through the path index.
        let end = format!("{}/", &prefix[..prefix.len() - 1]);
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {IMAGE_COLUMNS} FROM images WHERE path >= ?1 AND path < ?2 AND id != ?3 LIMIT 8")).map_err(&err)?;
        let rows = stmt.query_map(rusqlite::params![prefix, end, row.id], row_to_image).map_err(&err)?;
        for twin in rows {
            let twin = twin.map_err(&err)?;
            let extension = &twin.path[prefix.len()..];
            if extension.contains(['.', '/']) {
                continue;
            }
            if (wants_motion && is_motion(&twin)) || (!wants_motion && twin.video.is_none()) {
                return Ok(Some(twin));
            }
        }
        Ok(None)
    }
}

/// `folder/IMG_1234.` for `folder/IMG_1234.HEIC`; None without an extension.
fn stem_prefix(path: &str) -> Option<&str> {
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    let dot = path[name_start..].rfind('.').filter(|&d| d > 0)? + name_start;
    Some(&path[..=dot])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stem_prefix_keeps_the_folder_and_the_dot() {
        assert_eq!(stem_prefix("2024/IMG_1234.HEIC"), Some("2024/IMG_1234."));
        assert_eq!(stem_prefix("IMG_1234.MOV"), Some("IMG_1234."));
        assert_eq!(stem_prefix("a.b/IMG"), None);
        assert_eq!(stem_prefix(".hidden"), None);
    }
}
