//! The CGI meta-variables (RFC 3875 section 4.1) and stdin made into the neutral [`Request`].

use std::io::Read;

use super::body::{BodyLimits, Rejection, read_body};
use crate::http::{self, Request, ServerTraits};

/// Builds the request from the CGI meta-variables (`vars`, the process environment as bytes)
/// and the body on `stdin`.
pub fn build_request(
    vars: &[(Vec<u8>, Vec<u8>)],
    stdin: &mut dyn Read,
    limits: &BodyLimits,
) -> std::result::Result<Request, Rejection> {
    let get = |name: &str| var(vars, name);
    let text = |name: &str| get(name).map(http::latin1_string);

    let method = text("REQUEST_METHOD")
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "GET".into());
    let mut request = Request::new(&method);
    request.traits = ServerTraits {
        multithread: false,
        multiprocess: true,
        run_once: true,
    };

    // RFC 3875 section 4.1.5 leaves HTTPS to the server; Apache and lighttpd set HTTPS=on,
    // others REQUEST_SCHEME.
    let https = text("HTTPS")
        .is_some_and(|v| ["on", "1", "yes"].iter().any(|t| v.eq_ignore_ascii_case(t)))
        || text("REQUEST_SCHEME").is_some_and(|v| v.eq_ignore_ascii_case("https"));
    request.scheme = if https { "https" } else { "http" }.into();

    request.script_name = get("SCRIPT_NAME").unwrap_or_default().to_vec();
    request.path_info = get("PATH_INFO").unwrap_or_default().to_vec();
    request.query_string = get("QUERY_STRING").unwrap_or_default().to_vec();

    server_fields(&mut request, vars, https);
    request.body = read_body(
        get("CONTENT_LENGTH"),
        get("HTTP_TRANSFER_ENCODING"),
        stdin,
        limits,
    )?;
    pass_through(&mut request, vars);
    Ok(request)
}

/// The meta-variable `name`, as the server gave it.
fn var<'a>(vars: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    vars.iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| v.as_slice())
}

/// SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL, REMOTE_ADDR and REQUEST_METHOD, in the request's
/// fields and as the server's bytes.
fn server_fields(request: &mut Request, vars: &[(Vec<u8>, Vec<u8>)], https: bool) {
    let get = |name: &str| var(vars, name);
    // Some servers (busybox httpd) leave SERVER_NAME and SERVER_PORT out; PEP 3333 requires
    // both, so they come from Host, else the defaults. They are kept as the bytes the server
    // gave (in `extra`, which the environ takes over the text fields), so a name that is not
    // ASCII reaches the app byte for byte like every other CGI variable.
    let nonempty = |name: &str| get(name).filter(|v| !v.is_empty());
    let (host_name, host_port) = match nonempty("HTTP_HOST") {
        Some(h) => split_host(h),
        None => (b"localhost".to_vec(), None),
    };
    let host_name = if host_name.is_empty() {
        b"localhost".to_vec()
    } else {
        host_name
    };
    let server_name = nonempty("SERVER_NAME").map_or(host_name, <[u8]>::to_vec);
    let server_port = nonempty("SERVER_PORT")
        .map(<[u8]>::to_vec)
        .or(host_port)
        .unwrap_or_else(|| {
            if https {
                b"443".to_vec()
            } else {
                b"80".to_vec()
            }
        });
    request.server_name = http::latin1_string(&server_name);
    request.server_port = http::latin1_string(&server_port);
    request.extra.push(("SERVER_NAME".into(), server_name));
    request.extra.push(("SERVER_PORT".into(), server_port));
    if let Some(p) = nonempty("SERVER_PROTOCOL") {
        request.server_protocol = http::latin1_string(p);
        request.extra.push(("SERVER_PROTOCOL".into(), p.to_vec()));
    }
    if let Some(a) = nonempty("REMOTE_ADDR") {
        request.remote_addr = http::latin1_string(a);
        request.extra.push(("REMOTE_ADDR".into(), a.to_vec()));
    }
    if let Some(m) = nonempty("REQUEST_METHOD") {
        request.extra.push(("REQUEST_METHOD".into(), m.to_vec()));
    }
}

/// Every other meta-variable, passed to the app as it is.
fn pass_through(request: &mut Request, vars: &[(Vec<u8>, Vec<u8>)]) {
    // Kept out of the pass-through: carried by the request's own fields (the path and query
    // as bytes), set above, or replaced (the body's length).
    const FIELDS: [&str; 10] = [
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "CONTENT_LENGTH",
        // The body is whole and its length known: the app must not see it as chunked.
        "HTTP_TRANSFER_ENCODING",
    ];
    for (key, value) in vars {
        let key = http::latin1_string(key);
        // Some servers also pass Content-Type and Content-Length as HTTP_ variables; PEP 3333
        // (and wsgiref.validate) want them only as CONTENT_TYPE and CONTENT_LENGTH.
        if FIELDS.contains(&key.as_str())
            || key == "HTTP_CONTENT_TYPE"
            || key == "HTTP_CONTENT_LENGTH"
        {
            continue;
        }
        request.extra.push((key, value.clone()));
    }
}

/// `example.com:8080` -> (`example.com`, `8080`); `[::1]:8080` keeps the brackets.
fn split_host(host: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let split_at = match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host[i..].contains(&b']') => i,
        _ => return (host.to_vec(), None),
    };
    let port = &host[split_at + 1..];
    if port.is_empty() || !port.iter().all(u8::is_ascii_digit) {
        return (host.to_vec(), None);
    }
    (host[..split_at].to_vec(), Some(port.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io;

    fn limits() -> BodyLimits {
        BodyLimits {
            max_body: 1000,
            spool_threshold: 16,
            temp_dir: std::env::temp_dir(),
        }
    }

    fn vars(pairs: &[(&str, &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec()))
            .collect()
    }

    type Built = (HashMap<String, Vec<u8>>, Vec<u8>);

    fn build(pairs: &[(&str, &[u8])], body: &[u8]) -> std::result::Result<Built, Rejection> {
        let request = build_request(&vars(pairs), &mut &body[..], &limits())?;
        let env = request.cgi_variables().into_iter().collect();
        Ok((env, http::read_all(request.body).unwrap()))
    }

    fn s(v: &[u8]) -> String {
        http::latin1_string(v)
    }

    #[test]
    fn environ_from_bytes() {
        let (env, _) = build(
            &[
                ("REQUEST_METHOD", b"GET"),
                ("SCRIPT_NAME", b"/cgi-bin/app.wsgi"),
                ("PATH_INFO", b"/caf\xc3\xa9/\xff"),
                ("QUERY_STRING", b"a=1&a=2"),
                ("SERVER_NAME", b"example.org"),
                ("SERVER_PORT", b"8080"),
                ("HTTP_HOST", b"example.org:8080"),
                ("HTTP_CONTENT_TYPE", b"text/plain"),
                ("HTTP_CONTENT_LENGTH", b"5"),
                ("CONTENT_TYPE", b"text/plain"),
                ("DOCUMENT_ROOT", b"/srv/www"),
                ("GATEWAY_INTERFACE", b"CGI/1.1"),
                ("HTTP_X_ODD", b"\x80\xfe"),
            ],
            b"",
        )
        .unwrap();
        assert_eq!(env["PATH_INFO"], b"/caf\xc3\xa9/\xff");
        assert_eq!(s(&env["PATH_INFO"]), "/caf\u{c3}\u{a9}/\u{ff}");
        assert_eq!(env["SCRIPT_NAME"], b"/cgi-bin/app.wsgi");
        assert_eq!(env["QUERY_STRING"], b"a=1&a=2");
        assert_eq!(env["SERVER_PORT"], b"8080");
        assert_eq!(env["DOCUMENT_ROOT"], b"/srv/www");
        assert_eq!(env["GATEWAY_INTERFACE"], b"CGI/1.1");
        assert_eq!(env["HTTP_X_ODD"], b"\x80\xfe");
        assert_eq!(env["CONTENT_TYPE"], b"text/plain");
        assert!(!env.contains_key("HTTP_CONTENT_TYPE"));
        assert!(!env.contains_key("HTTP_CONTENT_LENGTH"));
        assert!(!env.contains_key("CONTENT_LENGTH"));
    }

    #[test]
    fn schemes() {
        let scheme = |pairs: &[(&str, &[u8])]| {
            build_request(&vars(pairs), &mut io::empty(), &limits())
                .unwrap()
                .scheme
        };
        assert_eq!(scheme(&[]), "http");
        assert_eq!(scheme(&[("HTTPS", b"on")]), "https");
        assert_eq!(scheme(&[("HTTPS", b"ON")]), "https");
        assert_eq!(scheme(&[("HTTPS", b"1")]), "https");
        assert_eq!(scheme(&[("HTTPS", b"Yes")]), "https");
        assert_eq!(scheme(&[("HTTPS", b"off")]), "http");
        assert_eq!(scheme(&[("REQUEST_SCHEME", b"https")]), "https");
        assert_eq!(scheme(&[("REQUEST_SCHEME", b"http")]), "http");
    }

    #[test]
    fn server_name_and_port_fallbacks() {
        let np = |pairs: &[(&str, &[u8])]| {
            let r = build_request(&vars(pairs), &mut io::empty(), &limits()).unwrap();
            (r.server_name, r.server_port)
        };
        assert_eq!(np(&[]), ("localhost".into(), "80".into()));
        assert_eq!(np(&[("HTTPS", b"on")]), ("localhost".into(), "443".into()));
        assert_eq!(
            np(&[("HTTP_HOST", b"example.com:8000")]),
            ("example.com".into(), "8000".into())
        );
        assert_eq!(
            np(&[("HTTP_HOST", b"example.com")]),
            ("example.com".into(), "80".into())
        );
        assert_eq!(
            np(&[("HTTP_HOST", b"[::1]:81")]),
            ("[::1]".into(), "81".into())
        );
        assert_eq!(
            np(&[("HTTP_HOST", b"[::1]")]),
            ("[::1]".into(), "80".into())
        );
        assert_eq!(
            np(&[
                ("HTTP_HOST", b"a.example:1"),
                ("SERVER_NAME", b"b.example"),
                ("SERVER_PORT", b"2")
            ]),
            ("b.example".into(), "2".into())
        );
    }

    #[test]
    fn body_by_length_never_past_it() {
        let (env, body) = build(&[("CONTENT_LENGTH", b"5")], b"helloEXTRA").unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(env["CONTENT_LENGTH"], b"5");
        let (env, body) = build(&[("CONTENT_LENGTH", b"0")], b"ignored").unwrap();
        assert_eq!(body, b"");
        assert!(!env.contains_key("CONTENT_LENGTH"));
        let (_, body) = build(&[("CONTENT_LENGTH", b"")], b"ignored").unwrap();
        assert_eq!(body, b"");
    }

    #[test]
    fn bad_lengths() {
        for bad in [
            &b"-1"[..],
            b"abc",
            b"1e3",
            b"+5",
            b"5 5",
            b"0x10",
            b"\xa0",
            b"\xa03",
            b"3\x85",
        ] {
            let e = build(&[("CONTENT_LENGTH", bad)], b"").unwrap_err();
            assert!(matches!(e, Rejection::BadLength(_)), "{bad:?}: {e}");
            assert_eq!(e.status().0, 400);
        }
        let e = build(&[("CONTENT_LENGTH", b"1001")], b"").unwrap_err();
        assert!(matches!(e, Rejection::TooLarge { .. }));
        assert_eq!(e.status(), (413, "Content Too Large"));
        let e = build(&[("CONTENT_LENGTH", b"99999999999999999999999")], b"").unwrap_err();
        assert_eq!(e.status().0, 413);
        let e = build(&[("CONTENT_LENGTH", b"10")], b"short").unwrap_err();
        assert!(
            matches!(e, Rejection::ShortBody { got: 5, want: 10 }),
            "{e}"
        );
    }

    #[test]
    fn chunked_bodies() {
        // Apache: de-chunked stdin, no length.
        let (env, body) = build(&[("HTTP_TRANSFER_ENCODING", b"chunked")], b"abc").unwrap();
        assert_eq!(body, b"abc");
        assert_eq!(env["CONTENT_LENGTH"], b"3");
        assert!(!env.contains_key("HTTP_TRANSFER_ENCODING"));
        // nginx + fcgiwrap: both; the length wins.
        let (env, body) = build(
            &[
                ("HTTP_TRANSFER_ENCODING", b"chunked"),
                ("CONTENT_LENGTH", b"2"),
            ],
            b"abc",
        )
        .unwrap();
        assert_eq!(body, b"ab");
        assert!(!env.contains_key("HTTP_TRANSFER_ENCODING"));
        let big = vec![b'x'; 1001];
        let e = build(&[("HTTP_TRANSFER_ENCODING", b"chunked")], &big).unwrap_err();
        assert_eq!(e.status().0, 413);
        let exact = vec![b'x'; 1000];
        let (_, body) = build(&[("HTTP_TRANSFER_ENCODING", b"Chunked")], &exact).unwrap();
        assert_eq!(body.len(), 1000);
    }

    #[test]
    fn large_bodies_spool_to_a_file() {
        let data: Vec<u8> = (0..900u32).map(|i| (i % 251) as u8).collect();
        let len = data.len().to_string();
        let (_, body) = build(&[("CONTENT_LENGTH", len.as_bytes())], &data).unwrap();
        assert_eq!(body, data);
        let (_, body) = build(&[("HTTP_TRANSFER_ENCODING", b"chunked")], &data).unwrap();
        assert_eq!(body, data);
    }

    #[test]
    fn traits() {
        let r = build_request(&[], &mut io::empty(), &limits()).unwrap();
        assert_eq!(
            r.traits,
            ServerTraits {
                multithread: false,
                multiprocess: true,
                run_once: true
            }
        );
        assert_eq!(r.method, "GET");
    }
}
