//! The request target of `rwsgi call`: `/path?query` or an http(s) URL, encoded as a browser
//! would send it.

use super::*;

/// A request target: `/path?query` or an absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// The host and port of an absolute URL.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The path as it will be sent, percent-encoded where a browser would encode it.
    pub path: Vec<u8>,
    /// The query as it will be sent; `None` when there is no `?`.
    pub query: Option<Vec<u8>>,
}

impl Target {
    pub fn parse(text: &str) -> std::result::Result<Target, String> {
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("https://") {
            (Some(true), &text[8..])
        } else if lower.starts_with("http://") {
            (Some(false), &text[7..])
        } else {
            (None, text)
        };
        let (host, port, rest) = match https {
            Some(_) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let (host, port) = parse_authority(&rest[..end])?;
                (Some(host), port, &rest[end..])
            }
            None => {
                if !rest.starts_with('/') {
                    let hint = if rest.contains('.') || rest.contains(':') {
                        format!(" (for a host, write a full URL: http://{rest})")
                    } else {
                        String::new()
                    };
                    return Err(format!(
                        "the target {text:?} must be a path starting with '/' or an http:// or https:// URL{hint}"
                    ));
                }
                (None, None, rest)
            }
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(Target {
            https: https.unwrap_or(false),
            host,
            port,
            path: browser_encode(path, PATH_SET),
            query: query.map(|q| browser_encode(q, QUERY_SET)),
        })
    }

    /// `Host`: the host, with the port unless it is the scheme's default (as curl sends it).
    pub(super) fn host_header(&self) -> Option<String> {
        let host = self.host.as_ref()?;
        let default = if self.https { 443 } else { 80 };
        Some(match self.port {
            Some(p) if p != default => format!("{host}:{p}"),
            _ => host.clone(),
        })
    }
}

fn parse_authority(authority: &str) -> std::result::Result<(String, Option<u16>), String> {
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not supported; send them with -H 'Authorization: ...'"
                .into(),
        );
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("the IPv6 address in {authority:?} has no closing ']'"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("unexpected {p:?} after the IPv6 address"))?,
            ),
        };
        (format!("[{addr}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("the URL has no host".into());
    }
    if let Some(c) = host
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "/?#\\".contains(*c))
    {
        return Err(format!("the host {host:?} contains {c:?}"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("the port {p:?} is not a number from 1 to 65535"))?,
        ),
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// What a browser escapes in a path (the WHATWG URL standard's path percent-encode set less `?`
/// and `#`, which the target has already split off): controls, space, `"<>\`{}`.
const PATH_SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// What a browser escapes in a query (the special-query percent-encode set less `#`): controls,
/// space, `"<>'`.
const QUERY_SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\'');

/// Percent-encodes what a browser would not send raw in a request target (WHATWG URL: controls,
/// space, non-ASCII, and the component's own set), leaving existing escapes as they are.
fn browser_encode(text: &str, set: &'static percent_encoding::AsciiSet) -> Vec<u8> {
    percent_encoding::utf8_percent_encode(text, set)
        .to_string()
        .into_bytes()
}

/// `[METHOD] TARGET` or `[METHOD] --url TARGET`: the METHOD argument, if any, and the target.
pub(super) fn from_args(args: &CallArgs) -> std::result::Result<(Option<String>, Target), Exit> {
    let usage = Exit::usage;
    let positional: Vec<String> = if args.positional.is_empty() {
        [&args.method_arg, &args.target_arg]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    } else {
        args.positional.clone()
    };
    let (method_arg, target_text) = match (positional.as_slice(), &args.url) {
        ([target], None) => (None, target.as_str()),
        ([method, target], None) => (Some(method.as_str()), target.as_str()),
        ([], Some(url)) => (None, url.as_str()),
        ([method], Some(url)) => (Some(method.as_str()), url.as_str()),
        ([], None) => {
            return Err(usage(
                "no TARGET given: expected [METHOD] TARGET (a /path or a URL)".into(),
            ));
        }
        (_, _) => {
            return Err(usage(
                "too many arguments: expected [METHOD] TARGET, or [METHOD] --url TARGET".into(),
            ));
        }
    };
    let looks_like_url = {
        let lower = target_text.to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    };
    let target = Target::parse(target_text).map_err(|e| {
        // A URL that does not parse is curl's "URL using bad/illegal format"; anything else is
        // not a target at all.
        if looks_like_url {
            Exit::new(ExitStatus::MalformedUrl, e)
        } else {
            usage(e)
        }
    })?;
    Ok((method_arg.map(String::from), target))
}
