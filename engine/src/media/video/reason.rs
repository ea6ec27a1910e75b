//! FFmpeg's log read for an error's reason: its last meaningful line, without log prefixes or the
//! file's name, and which lines are only warnings.

use std::path::Path;

/// The reason for a file whose content FFmpeg would read with a demuxer outside [`CONTAINERS`](super::input::CONTAINERS)
/// (logged as `[hls @ 0x…] Format not on whitelist '…'`, then `Invalid argument`).
pub(super) fn refused_format(log: &[String]) -> Option<String> {
    let line = log.iter().find(|l| l.contains("Format not on whitelist"))?;
    let demuxer = line.strip_prefix('[')?.split(" @ ").next()?;
    Some(format!("its content is {demuxer}, not a video container (playlists and lists of other files are not read)"))
}

pub(super) fn is_warning(line: &str) -> bool {
    line.contains("[warning]")
}

/// FFmpeg's reason for a failure: the last meaningful line, with the line before it in brackets
/// when that one says something else (`Invalid data found when processing input (moov atom not
/// found)`). Log prefixes (`[mov,mp4 @ 0x…]`, `[error]`) and the file's name are removed.
pub(super) fn reason_from<'a>(lines: impl Iterator<Item = &'a str>, path: &Path) -> Option<String> {
    // Lines that end the same (`stream 0, offset 0x…: partial file`) say the same thing.
    let core = |line: &str| line.rsplit(": ").next().unwrap_or(line).to_string();
    let cleaned: Vec<String> = lines.filter_map(|l| clean_line(l, path)).collect();
    let last = cleaned.last()?;
    Some(match cleaned.iter().rev().find(|l| core(l) != core(last)) {
        Some(before) => format!("{last} ({before})"),
        None => last.clone(),
    })
}

fn clean_line(line: &str, path: &Path) -> Option<String> {
    let mut text = line.trim();
    while let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            Some((_, after)) => text = after.trim_start(),
            None => break,
        }
    }
    let shown = path.display().to_string();
    for name in [format!("file:{shown}: "), format!("{shown}: ")] {
        if let Some(rest) = text.strip_prefix(name.as_str()) {
            text = rest;
        }
    }
    let noise = text.is_empty() || text == "Conversion failed!" || text.starts_with("Truncating packet of size");
    (!noise).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_drop_prefixes_and_the_file_name() {
        let path = Path::new("/v/a.mp4");
        let lines = [
            "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5566c781c640] [error] moov atom not found",
            "[error] /v/a.mp4: Invalid data found when processing input",
            "Conversion failed!",
        ];
        assert_eq!(
            reason_from(lines.into_iter(), path).unwrap(),
            "Invalid data found when processing input (moov atom not found)"
        );
        assert_eq!(reason_from(["", "  "].into_iter(), path), None);
        let repeated = [
            "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] [error] stream 0, offset 0xd9212: partial file",
            "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] [error] stream 0, offset 0xda843: partial file",
        ];
        assert_eq!(reason_from(repeated.into_iter(), path).unwrap(), "stream 0, offset 0xda843: partial file");
    }
}
