//! Search by image: choose a file or drop one on the page; it is uploaded and never stored.

use leptos::{prelude::*, server_fn::codec::{MultipartData, MultipartFormData}};

use super::types::*;

/// `POST /api/search_image` (multipart: one `image`, optional `k`, `min` and the filter and sort
/// fields of `/api/search`). One upload's memory is bounded: one image of at most
/// [`MAX_UPLOAD_BYTES`], at most [`MAX_UPLOAD_FIELDS`] other fields of at most
/// [`MAX_UPLOAD_FIELD_BYTES`] each, and at most [`MAX_CONCURRENT_UPLOADS`] uploads are read at
/// once (more wait their turn).
#[server(endpoint = "search_image", input = MultipartFormData)]
pub async fn search_image(data: MultipartData) -> Result<SearchReply, ApiError> {
    use super::ssr;
    let _turn = ssr::upload_turn().await?;
    let mut form = data.into_inner().ok_or_else(|| ApiError::bad_request("Expected a multipart form."))?;
    let read = ssr_upload::read(&mut form).await;
    if read.is_err() {
        // Read what is left and drop it (the body limit bounds it), so that a client still
        // sending gets the refusal rather than a broken connection.
        ssr_upload::drain(&mut form).await;
    }
    let (bytes, name, fields) = read?;
    let narrow = Narrow::from_params(|name| fields.get(name).cloned());
    let params = ssr::search_params(fields.get("k").map(String::as_str), fields.get("min").map(String::as_str), &narrow)?;
    let filter = ssr::search_filter(&narrow)?;
    ssr::check_upload_pixels(&bytes)?;
    ssr::reply(format!("images like {name}"), move |s| s.search_image_bytes(&bytes, params, &filter)).await
}

#[cfg(feature = "ssr")]
mod ssr_upload {
    use std::collections::HashMap;

    use super::*;
    use multer::Multipart;

    /// The image's bytes, its file name and the other fields, within the bounds.
    pub async fn read(form: &mut Multipart<'static>) -> Result<(Vec<u8>, String, HashMap<String, String>), ApiError> {
        let (mut image, mut name) = (None::<Vec<u8>>, String::from("the upload"));
        let mut fields = HashMap::new();
        let bad = |e: String| ApiError::bad_request(format!("The upload was cut off or malformed: {e}"));
        while let Some(mut field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
            match field.name() {
                Some("image") if image.is_some() => return Err(ApiError::bad_request("Send one image per search.")),
                Some("image") => {
                    name = field.file_name().unwrap_or("the upload").chars().take(200).collect();
                    let mut bytes = Vec::new();
                    while let Some(chunk) = field.chunk().await.map_err(|e| bad(e.to_string()))? {
                        if bytes.len() + chunk.len() > MAX_UPLOAD_BYTES {
                            return Err(ApiError::new(413, format!("The image is larger than {} MB.", MAX_UPLOAD_BYTES >> 20)));
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    image = Some(bytes);
                }
                Some(other) => {
                    if fields.len() == MAX_UPLOAD_FIELDS {
                        return Err(ApiError::bad_request(format!("An upload has at most {MAX_UPLOAD_FIELDS} fields besides the image.")));
                    }
                    let other = other.chars().take(64).collect::<String>();
                    let mut text = Vec::new();
                    while let Some(chunk) = field.chunk().await.map_err(|e| bad(e.to_string()))? {
                        if text.len() + chunk.len() > MAX_UPLOAD_FIELD_BYTES {
                            return Err(ApiError::new(413, format!("The field {other} is longer than {MAX_UPLOAD_FIELD_BYTES} bytes.")));
                        }
                        text.extend_from_slice(&chunk);
                    }
                    let text = String::from_utf8(text).map_err(|_| ApiError::bad_request(format!("The field {other} is not UTF-8 text.")))?;
                    fields.insert(other, text);
                }
                None => {}
            }
        }
        let bytes = image.filter(|b| !b.is_empty()).ok_or_else(|| ApiError::bad_request("Choose an image file to search with."))?;
        Ok((bytes, name, fields))
    }

    /// Reads the rest of the body without keeping it.
    pub async fn drain(form: &mut Multipart<'static>) {
        while let Ok(Some(mut field)) = form.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    }
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
