//! The source layout's rules (issue 33): engine/src at most 12 entries, no file over 600 lines
//! before its tests, no two modules importing each other, in the engine and in the app.
//! `scripts/module_layout.py` reads the imports; the last test shows it catches a cycle.

use std::{path::Path, process::Command};

use crate::indexing::root;

fn check(folder: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new("python3")
        .arg(root().join("scripts/module_layout.py"))
        .arg(folder)
        .args(extra)
        .output()
        .expect("python3 runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_engine_has_folders_by_stage_short_files_and_no_import_cycles() {
    let (ok, report) = check(&root().join("engine/src"), &["--max-entries", "12"]);
    assert!(ok, "{report}");
}

#[test]
fn the_app_server_and_cli_have_short_files_and_no_import_cycles() {
    let (ok, report) = check(&root().join("src"), &[]);
    assert!(ok, "{report}");
}

#[test]
fn the_layout_check_catches_a_parent_and_child_importing_each_other() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("store")).unwrap();
    std::fs::write(d.path().join("lib.rs"), "pub mod store;\n").unwrap();
    std::fs::write(d.path().join("store/mod.rs"), "pub mod file;\npub struct Kind;\npub use file::File;\n").unwrap();
    std::fs::write(d.path().join("store/file.rs"), "use super::Kind;\npub struct File(Kind);\n").unwrap();
    let (ok, report) = check(d.path(), &[]);
    assert!(!ok && report.contains("store <-> store::file"), "{report}");
    std::fs::write(d.path().join("store/file.rs"), "pub struct File;\n").unwrap();
    let (ok, report) = check(d.path(), &[]);
    assert!(ok, "{report}");
}
