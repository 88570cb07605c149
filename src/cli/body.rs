//! The body options of `rwsgi call`: `@file` and `@-` sources, `--data-urlencode` pieces and
//! `-F` parts.

use std::io::Read;
use std::path::Path;

use super::*;
use crate::multipart;

/// curl's URL-encoding (`curl_easy_escape`): everything but letters, digits and `-._~`.
fn url_encode(bytes: &[u8]) -> String {
    crate::http::encode_component(bytes)
}

/// Reads `@file` (or `@-`, stdin) for a body option; anything else is the text itself. The
/// flag says whether CR and LF are dropped (`-d @file`).
type ReadSource<'a> = dyn FnMut(&str, bool) -> std::result::Result<Vec<u8>, Exit> + 'a;

/// One `--data-urlencode` argument, as curl reads it: `content`, `=content`, `name=content`,
/// `@file`, `name@file`; the content is URL-encoded, the name is not.
fn url_encoded_piece(
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
fn form_part(
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

/// The [`ReadSource`] of a request: `@-` reads `stdin`, once.
pub(super) fn sources(
    stdin: &mut dyn Read,
) -> impl FnMut(&str, bool) -> std::result::Result<Vec<u8>, Exit> + '_ {
    let usage = Exit::usage;
    let mut stdin_used = false;
    move |spec: &str, strip_newlines: bool| -> std::result::Result<Vec<u8>, Exit> {
        let Some(source) = spec.strip_prefix('@') else {
            return Ok(spec.as_bytes().to_vec());
        };
        let mut data = if source == "-" {
            if stdin_used {
                return Err(usage("@- (stdin) can be used only once".into()));
            }
            stdin_used = true;
            let mut buf = Vec::new();
            stdin
                .read_to_end(&mut buf)
                .map_err(|e| Exit::new(ExitStatus::ReadError, format!("cannot read stdin: {e}")))?;
            buf
        } else {
            std::fs::read(source).map_err(|e| {
                Exit::new(ExitStatus::ReadError, format!("cannot read {source}: {e}"))
            })?
        };
        if strip_newlines {
            // curl --data @file drops carriage returns and newlines; --data-binary keeps them.
            data.retain(|&b| b != b'\r' && b != b'\n');
        }
        Ok(data)
    }
}

/// One kind of body at a time, and -G only with --data.
pub(super) fn check_kinds(args: &CallArgs, data_args: &[DataArg]) -> std::result::Result<(), Exit> {
    let usage = Exit::usage;
    let body_kinds = [
        !data_args.is_empty(),
        args.json.is_some(),
        !args.form.is_empty(),
        args.upload_file.is_some(),
    ];
    if body_kinds.iter().filter(|&&k| k).count() > 1 {
        return Err(usage(
            "choose one kind of body: --data/--data-binary/--data-urlencode, --json, --form or --upload-file".into(),
        ));
    }
    if args.get && (args.json.is_some() || !args.form.is_empty() || args.upload_file.is_some()) {
        return Err(usage(
            "-G sends --data in the query; it does not go with --json, --form or --upload-file"
                .into(),
        ));
    }
    Ok(())
}

/// A body and its Content-Type (`None`: none is sent).
pub(super) type Body = (Vec<u8>, Option<String>);

/// The body the flags give. With -G the data goes
/// into the target's query instead; -T with a target ending in `/` appends the file's name to
/// it; -F may replace the user's own Content-Type header (a multipart type needs its boundary).
pub(super) fn read_body(
    args: &CallArgs,
    data_args: &[DataArg],
    target: &mut Target,
    headers: &mut Vec<HeaderArg>,
    read_source: &mut ReadSource<'_>,
) -> std::result::Result<Option<Body>, Exit> {
    let mut body: Option<Body> = None;
    if !data_args.is_empty() {
        let mut pieces = Vec::new();
        for d in data_args {
            pieces.push(match d {
                DataArg::Text(d) => read_source(d, true)?,
                DataArg::Binary(d) => read_source(d, false)?,
                DataArg::UrlEncode(d) => url_encoded_piece(d, read_source)?,
            });
        }
        let data = pieces.join(&b'&');
        if args.get {
            // -G: the data goes after the query, joined with `&` (curl).
            let mut query = target.query.take().unwrap_or_default();
            if !query.is_empty() && !data.is_empty() {
                query.push(b'&');
            }
            query.extend_from_slice(&data);
            target.query = Some(query);
        } else {
            body = Some((data, Some("application/x-www-form-urlencoded".into())));
        }
    } else if let Some(json) = &args.json {
        body = Some((read_source(json, false)?, Some("application/json".into())));
    } else if !args.form.is_empty() {
        body = Some(form_body(&args.form, headers, read_source)?);
    } else if let Some(file) = &args.upload_file {
        let data = read_source(&format!("@{file}"), false)?;
        // A target that ends in `/` names a folder: the file keeps its name in it (curl).
        if file != "-" && target.path.ends_with(b"/") {
            let name = Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            target
                .path
                .extend_from_slice(url_encode(name.as_bytes()).as_bytes());
        }
        body = Some((data, None));
    }
    Ok(body)
}

/// `-F`: the multipart/form-data body and its Content-Type. A Content-Type of the user's own
/// (-H) is kept when it names a boundary, else it is given the body's.
fn form_body(
    forms: &[String],
    headers: &mut Vec<HeaderArg>,
    read_source: &mut ReadSource<'_>,
) -> std::result::Result<Body, Exit> {
    let mut parts = Vec::new();
    for f in forms {
        parts.push(form_part(f, read_source)?);
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id()) << 32;
    let form = multipart::build(&parts, seed);
    let user_type = headers.iter().find_map(|h| match h {
        HeaderArg::Set(n, v) if n.eq_ignore_ascii_case("content-type") => Some(v.clone()),
        _ => None,
    });
    let content_type = match user_type {
        // A user's own multipart type still needs the boundary that separates the parts.
        Some(t) if !String::from_utf8_lossy(&t).contains("boundary=") => {
            headers.retain(
                |h| !matches!(h, HeaderArg::Set(n, _) if n.eq_ignore_ascii_case("content-type")),
            );
            Some(format!(
                "{}; boundary={}",
                String::from_utf8_lossy(&t),
                form.boundary
            ))
        }
        Some(_) => None,
        None => Some(form.content_type()),
    };
    Ok((form.body, content_type))
}
