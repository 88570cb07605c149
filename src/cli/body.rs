//! The body options of `rwsgi call`: `@file` and `@-` sources, `--data-urlencode` pieces and
//! `-F` parts.

use std::path::Path;

use super::*;
use crate::multipart;

/// curl's URL-encoding (`curl_easy_escape`): everything but letters, digits and `-._~`.
pub(super) fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads `@file` (or `@-`, stdin) for a body option; anything else is the text itself. The
/// flag says whether CR and LF are dropped (`-d @file`).
pub(super) type ReadSource<'a> = dyn FnMut(&str, bool) -> std::result::Result<Vec<u8>, Exit> + 'a;

/// One `--data-urlencode` argument, as curl reads it: `content`, `=content`, `name=content`,
/// `@file`, `name@file`; the content is URL-encoded, the name is not.
pub(super) fn url_encoded_piece(
    arg: &str,
    read_source: &mut ReadSource<'_>,
) -> std::result::Result<Vec<u8>, Exit> {
    // curl looks for `=` first; only an argument without one can name a file with `@`.
    let (name, content) = match (arg.find('='), arg.find('@')) {
        (Some(e), _) => (Some(&arg[..e]), arg.as_bytes()[e + 1..].to_vec()),
        (None, Some(a)) => (
            Some(&arg[..a]),
            read_source(&format!("@{}", &arg[a + 1..]), false)?,
        ),
        (None, None) => (None, arg.as_bytes().to_vec()),
    };
    let mut piece = Vec::new();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        piece.extend_from_slice(name.as_bytes());
        piece.push(b'=');
    }
    // A space becomes `+`, as in an HTML form (application/x-www-form-urlencoded), and as curl
    // sends it.
    let encoded: Vec<String> = content.split(|&b| b == b' ').map(url_encode).collect();
    piece.extend_from_slice(encoded.join("+").as_bytes());
    Ok(piece)
}

/// One `-F` argument: `name=value`, `name=@file` (a file part), `name=<file` (a field whose
/// value is the file's content), each optionally with `;type=...` and `;filename=...`.
pub(super) fn form_part(
    text: &str,
    read_source: &mut ReadSource<'_>,
) -> std::result::Result<multipart::Part, Exit> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| Exit::usage(format!("-F expects name=value or name=@file, got {text:?}")))?;
    let (file, inline) = if let Some(f) = value.strip_prefix('@') {
        (Some(f), false)
    } else if let Some(f) = value.strip_prefix('<') {
        (Some(f), true)
    } else {
        (None, false)
    };
    let Some(file_spec) = file else {
        return Ok(multipart::Part {
            name: name.to_string(),
            filename: None,
            content_type: None,
            data: value.as_bytes().to_vec(),
        });
    };
    let mut pieces = file_spec.split(';');
    let path = pieces.next().unwrap_or_default();
    let mut content_type = None;
    let mut filename = None;
    for param in pieces {
        match param.split_once('=') {
            Some(("type", t)) => {
                if t.contains(['\r', '\n', '\0']) {
                    return Err(Exit::usage(format!(
                        "the type in -F {text:?} may not hold CR, LF or NUL"
                    )));
                }
                content_type = Some(t.to_string());
            }
            Some(("filename", f)) => filename = Some(f.trim_matches('"').to_string()),
            _ => {
                return Err(Exit::usage(format!(
                    "unknown -F parameter {param:?} (expected type= or filename=)"
                )));
            }
        }
    }
    let data = read_source(&format!("@{path}"), false)?;
    if inline {
        return Ok(multipart::Part {
            name: name.to_string(),
            filename: None,
            content_type,
            data,
        });
    }
    let filename = filename.unwrap_or_else(|| {
        if path == "-" {
            String::new()
        } else {
            Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }
    });
    let content_type = content_type.unwrap_or_else(|| multipart::guess_type(&filename).to_string());
    Ok(multipart::Part {
        name: name.to_string(),
        filename: Some(filename),
        content_type: Some(content_type),
        data,
    })
}
