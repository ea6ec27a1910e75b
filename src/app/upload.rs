//! Search by image: choose a file or drop one on the page; it is uploaded and never stored.

use leptos::{prelude::*, server_fn::codec::{MultipartData, MultipartFormData}};

use super::types::*;

/// `POST /api/search_image` (multipart: `image`, optional `k`, `min` and the filter and sort
/// fields of `/api/search`).
#[server(endpoint = "search_image", input = MultipartFormData)]
pub async fn search_image(data: MultipartData) -> Result<SearchReply, ApiError> {
    use super::ssr;
    let mut form = data.into_inner().ok_or_else(|| ApiError::bad_request("Expected a multipart form."))?;
    let (mut bytes, mut name) = (Vec::new(), String::from("the upload"));
    let mut fields = std::collections::HashMap::new();
    let bad = |e: String| ApiError::bad_request(format!("The upload was cut off or malformed: {e}"));
    while let Some(mut field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
        match field.name() {
            Some("image") => {
                name = field.file_name().unwrap_or("the upload").to_string();
                // Past the limit the rest is read and dropped (up to 4x the limit), so that a
                // client still sending gets the 413 rather than a broken connection.
                let mut received = 0;
                while let Some(chunk) = field.chunk().await.map_err(|e| bad(e.to_string()))? {
                    received += chunk.len();
                    if received <= MAX_UPLOAD_BYTES {
                        bytes.extend_from_slice(&chunk);
                    } else if received > 4 * MAX_UPLOAD_BYTES {
                        break;
                    }
                }
                if received > MAX_UPLOAD_BYTES {
                    return Err(ApiError::new(413, format!("The image is larger than {} MB.", MAX_UPLOAD_BYTES >> 20)));
                }
            }
            Some(other) => {
                let other = other.to_string();
                fields.insert(other, field.text().await.map_err(|e| bad(e.to_string()))?);
            }
            None => {}
        }
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request("Choose an image file to search with."));
    }
    let narrow = Narrow::from_params(|name| fields.get(name).cloned());
    let params = ssr::search_params(fields.get("k").map(String::as_str), fields.get("min").map(String::as_str), &narrow)?;
    let filter = ssr::search_filter(&narrow)?;
    ssr::check_upload_pixels(&bytes)?;
    ssr::reply(format!("images like {name}"), move |s| s.search_image_bytes(&bytes, params, &filter)).await
}

#[component]
pub fn UploadSearch(
    uploaded: RwSignal<Option<Result<SearchReply, ApiError>>>,
    k: Signal<String>,
    min: Signal<String>,
    narrow: Signal<Narrow>,
) -> impl IntoView {
    let send = move |files: Option<web_sys::FileList>| {
        let Some(file) = files.and_then(|f| f.get(0)) else { return };
        let Ok(form) = web_sys::FormData::new() else { return };
        let _ = form.append_with_blob_and_filename("image", &file, &file.name());
        let _ = form.append_with_str("k", &k.get_untracked());
        let _ = form.append_with_str("min", &min.get_untracked());
        for (name, value) in narrow.get_untracked().pairs() {
            let _ = form.append_with_str(name, value);
        }
        leptos::task::spawn_local(async move {
            uploaded.set(Some(search_image(form.into()).await));
        });
    };
    let on_change = move |ev: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
        send(input.as_ref().and_then(|i| i.files()));
        // Choosing the same file again must search again.
        if let Some(i) = input {
            i.set_value("");
        }
    };
    // Dropping an image anywhere on the page searches with it.
    let drop = window_event_listener(leptos::ev::drop, move |ev| {
        ev.prevent_default();
        send(ev.data_transfer().and_then(|d| d.files()));
    });
    on_cleanup(move || drop.remove());
    let i18n = crate::i18n::use_i18n();
    view! {
        <label class="upload">
            {crate::i18n::t!(i18n, search_by_image)}
            <input id="image-search" type="file" accept="image/*" on:change=on_change/>
        </label>
    }
}
