//! Turns the page's translations (locales/en.json, locales/zh.json) into the `i18n` module,
//! with every key and interpolation checked at compile time (leptos_i18n).

use std::path::PathBuf;

use leptos_i18n_build::{Config, ParseOptions, TranslationsInfos};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("i18n");
    // `interpolate_display`: status lines are built as strings outside the views too.
    let config = Config::new("en")
        .and_then(|c| c.add_locale("zh"))
        .expect("locale names are valid")
        .parse_options(ParseOptions::default().interpolate_display(true));
    let translations = TranslationsInfos::parse(config).expect("locales/*.json parse");
    translations.emit_diagnostics();
    translations.rerun_if_locales_changed();
    translations.generate_i18n_module(out).expect("the i18n module is written");
}
