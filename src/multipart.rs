//! `multipart/form-data` bodies for `rwsgi call -F` (RFC 7578), built the way browsers and curl
//! build them. Pure: the parts' bytes are passed in.

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// A file part's name as sent (`filename="..."`); `None` for a plain field.
    pub filename: Option<String>,
    /// A file part's `Content-Type`.
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// A complete body and the boundary that separates its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub boundary: String,
    pub body: Vec<u8>,
}

impl Form {
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }
}

/// Builds the body. `seed` varies the boundary; a boundary that occurs inside any part's data
/// is never used (RFC 2046 section 5.1.1), so any data, including a multipart body, survives.
pub fn build(parts: &[Part], seed: u64) -> Form {
    let mut rng = fastrand::Rng::with_seed(seed);
    let boundary = loop {
        let candidate = format!("------------------------rwsgi{:016x}", rng.u64(..));
        let marker = format!("--{candidate}");
        if !parts.iter().any(|p| {
            contains(&p.data, marker.as_bytes()) || contains(&p.data, candidate.as_bytes())
        }) {
            break candidate;
        }
    };
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(quote(&part.name).as_bytes());
        body.push(b'"');
        if let Some(filename) = &part.filename {
            body.extend_from_slice(b"; filename=\"");
            body.extend_from_slice(quote(filename).as_bytes());
            body.push(b'"');
        }
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = &part.content_type {
            // A line break would end the part's header early and inject another.
            body.extend_from_slice(b"Content-Type: ");
            body.extend(ct.bytes().filter(|b| !matches!(b, b'\r' | b'\n' | b'\0')));
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--");
    body.extend_from_slice(boundary.as_bytes());
    body.extend_from_slice(b"--\r\n");
    Form { boundary, body }
}

/// A name or file name inside a quoted header parameter, escaped as the HTML standard's
/// form-data encoding does: `"` as `%22`, CR as `%0D`, LF as `%0A`. (Not `percent-encoding`:
/// it encodes every byte outside ASCII too, which the form-data encoding sends as it is.)
fn quote(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The media type of a file from its extension, for a file part's `Content-Type` (the common
/// types of RFC 6838 registrations; anything else is `application/octet-stream`).
pub fn guess_type(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "md" => "text/markdown",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "wasm" => "application/wasm",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "ico" => "image/vnd.microsoft.icon",
        "avif" => "image/avif",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, value: &str) -> Part {
        Part {
            name: name.into(),
            filename: None,
            content_type: None,
            data: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn layout() {
        let parts = vec![
            field("title", "Hello"),
            Part {
                name: "photo".into(),
                filename: Some("cat.jpg".into()),
                content_type: Some("image/jpeg".into()),
                data: vec![0xFF, 0xD8, 0x00, b'\r', b'\n'],
            },
        ];
        let form = build(&parts, 7);
        let b = &form.boundary;
        let mut want = Vec::new();
        want.extend_from_slice(
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n\
                 --{b}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"cat.jpg\"\r\n\
                 Content-Type: image/jpeg\r\n\r\n"
            )
            .as_bytes(),
        );
        want.extend_from_slice(&[0xFF, 0xD8, 0x00, b'\r', b'\n']);
        want.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        assert_eq!(form.body, want);
        assert_eq!(
            form.content_type(),
            format!("multipart/form-data; boundary={b}")
        );
        assert!(b.len() <= 70, "RFC 2046 limits boundaries to 70 characters");
    }

    #[test]
    fn boundary_never_inside_data() {
        let first = build(&[field("a", "x")], 42).boundary;
        let hostile = format!("before --{first} after");
        let form = build(&[field("a", &hostile)], 42);
        assert_ne!(form.boundary, first);
        assert!(!contains(hostile.as_bytes(), form.boundary.as_bytes()));
    }

    #[test]
    fn quoting() {
        let form = build(&[field("a\"b\r\nc", "v")], 1);
        let text = String::from_utf8_lossy(&form.body);
        assert!(text.contains("name=\"a%22b%0D%0Ac\""), "{text}");
    }

    #[test]
    fn a_type_cannot_break_the_part_header() {
        let part = Part {
            name: "f".into(),
            filename: Some("a.txt".into()),
            content_type: Some("text/plain\r\nX-Injected: 1".into()),
            data: b"x".to_vec(),
        };
        let text = String::from_utf8_lossy(&build(&[part], 5).body).into_owned();
        assert!(
            text.contains("Content-Type: text/plainX-Injected: 1\r\n\r\nx"),
            "{text}"
        );
    }

    #[test]
    fn empty_form() {
        let form = build(&[], 3);
        assert_eq!(form.body, format!("--{}--\r\n", form.boundary).into_bytes());
    }

    #[test]
    fn types() {
        assert_eq!(guess_type("photo.JPG"), "image/jpeg");
        assert_eq!(guess_type("a.png"), "image/png");
        assert_eq!(guess_type("notes.txt"), "text/plain");
        assert_eq!(guess_type("data.json"), "application/json");
        assert_eq!(guess_type("archive.tar.gz"), "application/gzip");
        assert_eq!(guess_type("Makefile"), "application/octet-stream");
        assert_eq!(guess_type("x.unknown"), "application/octet-stream");
    }
}
