//! `-w/--write-out`: curl's `%{variable}` text after the transfer.

use crate::http::ResponseHead;

/// What a write-out format can show about a finished transfer.
pub(super) struct Info<'a> {
    pub head: Option<&'a ResponseHead>,
    pub url: String,
    pub method: String,
    pub size_download: u64,
    pub size_header: u64,
    pub size_upload: u64,
    pub num_redirects: u64,
    pub redirect_url: Option<String>,
    pub time_total: f64,
    pub exitcode: u8,
    pub errormsg: String,
}

/// The format text: as given, or read from `@file` (`@-`: stdin), as curl does.
pub(super) fn load(format: &str) -> Result<String, String> {
    match format.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| format!("cannot read the -w format from stdin: {e}"))?;
            Ok(text)
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the -w format from {path}: {e}")),
        None => Ok(format.to_string()),
    }
}

/// The text for stdout and the text for stderr (`%{stderr}` switches to it, `%{stdout}` back).
pub(super) fn render(format: &str, info: &Info<'_>) -> (Vec<u8>, Vec<u8>) {
    let mut out = (Vec::new(), Vec::new());
    let mut to_stderr = false;
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        let target = if to_stderr { &mut out.1 } else { &mut out.0 };
        if let Some(after) = rest.strip_prefix("%{")
            && let Some(end) = after.find('}')
        {
            let name = &after[..end];
            rest = &after[end + 1..];
            match name {
                "stderr" => to_stderr = true,
                "stdout" => to_stderr = false,
                _ => match variable(name, info) {
                    Some(v) => target.extend_from_slice(&crate::http::latin1_bytes(&v)),
                    None => crate::log::warn(&format!("unknown --write-out variable: '{name}'")),
                },
            }
            continue;
        }
        if let Some(after) = rest.strip_prefix("%header{")
            && let Some(end) = after.find('}')
        {
            let name = &after[..end];
            rest = &after[end + 1..];
            if let Some(head) = info.head {
                let values: Vec<&str> = head
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
                    .collect();
                target.extend_from_slice(&crate::http::latin1_bytes(&values.join(", ")));
            }
            continue;
        }
        if let Some(after) = rest.strip_prefix("%%") {
            target.push(b'%');
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix('\\')
            && let Some(e) = after.chars().next()
            && let Some(byte) = match e {
                'n' => Some(b'\n'),
                'r' => Some(b'\r'),
                't' => Some(b'\t'),
                '\\' => Some(b'\\'),
                _ => None,
            }
        {
            target.push(byte);
            rest = &after[1..];
            continue;
        }
        let mut buf = [0; 4];
        target.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn variable(name: &str, info: &Info<'_>) -> Option<String> {
    let header = |n: &str| {
        info.head
            .and_then(|h| h.header(n))
            .unwrap_or("")
            .to_string()
    };
    Some(match name {
        "http_code" | "response_code" => format!("{:03}", info.head.map_or(0, |h| h.status.code)),
        "content_type" => header("Content-Type"),
        "size_download" => info.size_download.to_string(),
        "size_header" => info.size_header.to_string(),
        "size_upload" => info.size_upload.to_string(),
        "url_effective" | "url" => info.url.clone(),
        "num_redirects" => info.num_redirects.to_string(),
        "redirect_url" => info.redirect_url.clone().unwrap_or_default(),
        "time_total" => format!("{:.6}", info.time_total),
        "method" => info.method.clone(),
        "exitcode" => info.exitcode.to_string(),
        "errormsg" => info.errormsg.clone(),
        "scheme" => info
            .url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_uppercase())
            .unwrap_or_default(),
        "header_json" => header_json(info.head),
        _ => return None,
    })
}

/// `%{header_json}`: each header name (lower case) with the list of its values, one name a line
/// as curl prints it.
fn header_json(head: Option<&ResponseHead>) -> String {
    let Some(head) = head else {
        return "{}".into();
    };
    let mut names: Vec<String> = Vec::new();
    for (n, _) in &head.headers {
        let n = n.to_ascii_lowercase();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let lines: Vec<String> = names
        .iter()
        .map(|n| {
            let values: Vec<&str> = head
                .headers
                .iter()
                .filter(|(h, _)| h.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
                .collect();
            format!(
                "{}:{}",
                serde_json::Value::from(n.as_str()),
                serde_json::Value::from(values)
            )
        })
        .collect();
    format!("{{{}\n}}", lines.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_escapes_and_streams() {
        let head = ResponseHead {
            status: crate::http::parse_status("404 Not Found").unwrap(),
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Set-Cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
            ],
        };
        let info = Info {
            head: Some(&head),
            url: "http://localhost/x".into(),
            method: "GET".into(),
            size_download: 12,
            size_header: 80,
            size_upload: 0,
            num_redirects: 2,
            redirect_url: None,
            time_total: 0.5,
            exitcode: 0,
            errormsg: String::new(),
        };
        let (out, err) = render(
            "%{http_code} %{content_type}\\t%{size_download}%%\\n%{stderr}%{url_effective}%{stdout}%header{set-cookie}|%{nope}",
            &info,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "404 text/plain\t12%\na=1, b=2|"
        );
        assert_eq!(String::from_utf8(err).unwrap(), "http://localhost/x");
        let (out, _) = render("%{header_json}", &info);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["set-cookie"], serde_json::json!(["a=1", "b=2"]));
        let (out, _) = render("%{time_total} %{http_code", &info);
        assert_eq!(String::from_utf8(out).unwrap(), "0.500000 %{http_code");
    }
}
