//! Any parts -> `multipart::build`, read back with a parser of its own (RFC 2046 section 5.1.1,
//! RFC 7578): the body holds the same parts in the same order, byte for byte, and the boundary
//! never occurs inside a part. `seed_boundary` puts the boundary that `build` would pick into
//! the data, so that the search for another boundary runs.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rwsgi::testing::multipart::{Part, build, guess_type};
use rwsgi_fuzz::{check, show};

#[derive(Debug, Arbitrary)]
struct ArbPart {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
    /// Where to put the boundary `build` would otherwise pick, if anywhere.
    seed_boundary: Option<(u8, bool)>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    seed: u64,
    parts: Vec<ArbPart>,
}

/// What a reader gets back from one part.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    name: Vec<u8>,
    filename: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    data: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Splits a body at its delimiters: `--B` first, then `CRLF--B` before each further part, and
/// `--B--` with a CRLF to close.
fn parse(body: &[u8], boundary: &[u8]) -> Result<Vec<Parsed>, String> {
    let dash: Vec<u8> = [b"--", boundary].concat();
    let delimiter: Vec<u8> = [b"\r\n", dash.as_slice()].concat();
    let mut rest = body
        .strip_prefix(dash.as_slice())
        .ok_or("the body does not open with the boundary")?;
    let mut parts = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix(b"--") {
            if after != b"\r\n" {
                return Err(format!("{:?} after the closing delimiter", show(after)));
            }
            return Ok(parts);
        }
        let part = rest
            .strip_prefix(b"\r\n")
            .ok_or("no line break after a delimiter")?;
        let end = find(part, &delimiter).ok_or("a part without a delimiter after it")?;
        let (whole, next) = part.split_at(end);
        rest = &next[delimiter.len()..];
        let head_end = find(whole, b"\r\n\r\n").ok_or("a part without a blank line")?;
        let (head, data) = (&whole[..head_end], &whole[head_end + 4..]);
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let disposition = lines
            .next()
            .and_then(|l| l.strip_prefix(b"Content-Disposition: form-data; name=\""))
            .ok_or("no Content-Disposition first")?;
        let close = disposition
            .iter()
            .position(|&b| b == b'"')
            .ok_or("the name is not closed")?;
        let name = disposition[..close].to_vec();
        let after_name = &disposition[close + 1..];
        let filename = if after_name.is_empty() {
            None
        } else {
            let f = after_name
                .strip_prefix(b"; filename=\"")
                .and_then(|f| f.strip_suffix(b"\""))
                .ok_or("a malformed filename parameter")?;
            if f.contains(&b'"') {
                return Err("a quote inside the filename".into());
            }
            Some(f.to_vec())
        };
        let content_type = match lines.next() {
            None => None,
            Some(l) => Some(
                l.strip_prefix(b"Content-Type: ")
                    .ok_or("a header other than Content-Type")?
                    .to_vec(),
            ),
        };
        if lines.next().is_some() {
            return Err("more header lines than Content-Disposition and Content-Type".into());
        }
        parts.push(Parsed {
            name,
            filename,
            content_type,
            data: data.to_vec(),
        });
    }
}

/// The HTML standard's escaping of names in form-data headers.
fn escaped(s: &str) -> Vec<u8> {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
        .into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let first_choice = build(&[], input.seed).boundary;
    let parts: Vec<Part> = input
        .parts
        .iter()
        .map(|p| {
            let mut data = p.data.clone();
            if let Some((at, dashes)) = p.seed_boundary {
                let at = usize::from(at).min(data.len());
                let inserted = if dashes {
                    format!("\r\n--{first_choice}")
                } else {
                    first_choice.clone()
                };
                data.splice(at..at, inserted.into_bytes());
            }
            if let Some(name) = &p.filename {
                let t = guess_type(name);
                check(
                    "guess_type_shape",
                    t.contains('/') && !t.contains(['\r', '\n']),
                    || format!("{name:?} -> {t:?}"),
                );
            }
            Part {
                name: p.name.clone(),
                filename: p.filename.clone(),
                content_type: p.content_type.clone(),
                data,
            }
        })
        .collect();

    let form = build(&parts, input.seed);
    let boundary = form.boundary.as_bytes();
    // RFC 2046 section 5.1.1: 1 to 70 characters from its safe set, not ending in a space.
    check(
        "boundary_shape",
        (1..=70).contains(&boundary.len())
            && boundary
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b))
            && !boundary.ends_with(b" "),
        || format!("boundary {:?}", form.boundary),
    );
    check(
        "content_type_names_boundary",
        form.content_type() == format!("multipart/form-data; boundary={}", form.boundary),
        || form.content_type(),
    );
    for p in &parts {
        check(
            "boundary_not_in_data",
            find(&p.data, boundary).is_none(),
            || format!("boundary {:?} inside {:?}", form.boundary, show(&p.data)),
        );
    }
    let parsed = match parse(&form.body, boundary) {
        Ok(p) => p,
        Err(why) => {
            // A Content-Type with a line break (only a user's own `;type=` can hold one) is
            // the way a part's header could be broken; it has a check of its own.
            let line_break = parts.iter().any(|p| {
                p.content_type
                    .as_deref()
                    .is_some_and(|t| t.contains(['\r', '\n']))
            });
            let name = if line_break {
                "content_type_line_break"
            } else {
                "body_parses"
            };
            check(name, false, || {
                format!("{why}: {:?}", show(&form.body[..form.body.len().min(600)]))
            });
            return;
        }
    };
    let want: Vec<Parsed> = parts
        .iter()
        .map(|p| Parsed {
            name: escaped(&p.name),
            filename: p.filename.as_deref().map(escaped),
            // CR, LF and NUL cannot be sent in a header line: they are left out.
            content_type: p.content_type.as_ref().map(|t| {
                t.bytes()
                    .filter(|b| !matches!(b, b'\r' | b'\n' | 0))
                    .collect()
            }),
            data: p.data.clone(),
        })
        .collect();
    check("parts_round_trip", parsed == want, || {
        format!("parsed {parsed:?}\nwant {want:?}")
    });
});
