//! The flags checked and read into a [`Plan`]: the request they describe, kept in parts so that a
//! redirect can change it.

use std::io::Read;

use base64::Engine as _;

use super::request::{HeaderArg, parse_header};
use super::*;
use super::{body, target};
use crate::http::{self, Request, ServerTraits};

/// The request the flags describe, kept in parts so that a redirect (-L) can change its target,
/// method and body and build it again.
#[derive(Debug)]
pub struct Plan {
    pub(super) method: String,
    pub(super) target: Target,
    /// The origin of the first request (`scheme://host[:port]`): the user's own Host,
    /// Authorization and Cookie headers and `-u` go only there, as curl sends them.
    pub(super) first_origin: String,
    pub(super) user_headers: Vec<HeaderArg>,
    /// `-u`: the Authorization header's value.
    pub(super) auth: Option<String>,
    /// Headers sent unless -H names them (User-Agent, Accept, Referer, Accept-Encoding).
    pub(super) defaults: Vec<(String, String)>,
    /// `-e URL;auto`: each redirect sends the previous URL as the Referer.
    pub(super) auto_referer: bool,
    pub(super) body: Option<Vec<u8>>,
    pub(super) content_type: Option<String>,
    /// `-b 'name=value'`: sent as it is on every request.
    pub(super) cookie_string: Option<String>,
    pub(super) environ: Vec<(String, Vec<u8>)>,
    pub(super) scheme: Option<String>,
    pub(super) traits: ServerTraits,
    pub(super) script_name: Option<String>,
}

impl Plan {
    /// The host the request goes to: the target's, else the user's Host header, else localhost.
    pub(super) fn authority(&self) -> String {
        if let Some(host) = self.target.host_header() {
            return host;
        }
        self.user_headers
            .iter()
            .find_map(|h| match h {
                HeaderArg::Set(n, v) if n.eq_ignore_ascii_case("host") => {
                    Some(http::latin1_string(v))
                }
                _ => None,
            })
            .unwrap_or_else(|| "localhost".into())
    }

    pub(super) fn scheme(&self) -> &str {
        if self.target.https { "https" } else { "http" }
    }

    /// The host name alone (for cookies): the authority without its port.
    pub(super) fn host(&self) -> String {
        let authority = self.authority().to_ascii_lowercase();
        match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => h.to_string(),
            _ => authority,
        }
    }

    /// Where a Secure cookie may be set and sent: https, or this machine (as curl counts it).
    pub(super) fn secure_context(&self) -> bool {
        self.target.https || matches!(self.host().as_str(), "localhost" | "127.0.0.1" | "[::1]")
    }

    pub(super) fn origin(&self) -> String {
        format!(
            "{}://{}",
            self.scheme(),
            self.authority().to_ascii_lowercase()
        )
    }

    /// The URL of the request, as `%{url_effective}` shows it.
    pub fn url(&self) -> String {
        let mut url = self.origin();
        url.push_str(&http::latin1_string(&self.target.path));
        if let Some(q) = &self.target.query {
            url.push('?');
            url.push_str(&http::latin1_string(q));
        }
        url
    }
}

/// Reads the flags into a [`Plan`]; `stdin` serves `@-` (and `-T -`).
pub fn build_plan(args: &CallArgs, stdin: &mut dyn Read) -> std::result::Result<Plan, Exit> {
    let usage = Exit::usage;
    let (method_arg, mut target) = target::from_args(args)?;
    let mut read_source = body::sources(stdin);
    let data_args = args.data_args();
    body::check_kinds(args, &data_args)?;

    let mut headers: Vec<HeaderArg> = Vec::new();
    for h in &args.headers {
        headers.push(parse_header(h).map_err(usage)?);
    }
    let body = body::read_body(
        args,
        &data_args,
        &mut target,
        &mut headers,
        &mut read_source,
    )?;
    let method = method(method_arg.as_deref(), args, body.is_some())?;
    let (defaults, auto_referer) = default_headers(args)?;
    let auth = basic_auth(args)?;
    let cookie_string = cookie_string(args)?;
    let (environ, scheme, traits) = environ(args)?;

    let (body, content_type) = match body {
        Some((data, content_type)) => (Some(data), content_type),
        None => (None, None),
    };
    let mut plan = Plan {
        method,
        target,
        first_origin: String::new(),
        user_headers: headers,
        auth,
        defaults,
        auto_referer,
        body,
        content_type,
        cookie_string,
        environ,
        scheme,
        traits,
        script_name: args.script_name.clone(),
    };
    plan.first_origin = plan.origin();
    // Mistakes in the target show now, not after the app has loaded.
    plan.request(None)?;
    Ok(plan)
}

/// The method: the positional METHOD or -X (which must agree), else what the other flags imply.
fn method(
    method_arg: Option<&str>,
    args: &CallArgs,
    has_body: bool,
) -> std::result::Result<String, Exit> {
    let usage = Exit::usage;
    let method = match (method_arg, &args.request) {
        (Some(a), Some(b)) if a != b.as_str() => {
            return Err(usage(format!("two methods given: {a} and -X {b}")));
        }
        (Some(m), _) => m.to_string(),
        (None, Some(m)) => m.clone(),
        (None, None) if args.head => "HEAD".to_string(),
        (None, None) if args.upload_file.is_some() => "PUT".to_string(),
        (None, None) if has_body => "POST".to_string(),
        (None, None) => "GET".to_string(),
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(usage(format!(
            "{method:?} is not an HTTP method (expected e.g. GET, POST, PUT, DELETE)"
        )));
    }
    Ok(method)
}

/// The headers sent unless -H names them: User-Agent, Accept, and what --json, -e and
/// --compressed add; and whether -e asked for `;auto`.
fn default_headers(args: &CallArgs) -> std::result::Result<(Vec<(String, String)>, bool), Exit> {
    let usage = Exit::usage;
    let mut extra_defaults: Vec<(String, String)> = Vec::new();
    if args.json.is_some() {
        extra_defaults.push(("Accept".into(), "application/json".into()));
    }
    let mut defaults = vec![
        (
            "User-Agent".to_string(),
            args.user_agent
                .clone()
                .unwrap_or_else(|| format!("rwsgi-call/{}", crate::VERSION)),
        ),
        ("Accept".to_string(), "*/*".to_string()),
    ];
    let mut auto_referer = false;
    if let Some(referer) = &args.referer {
        let (url, auto) = match referer.strip_suffix(";auto") {
            Some(url) => (url, true),
            None => (referer.as_str(), false),
        };
        auto_referer = auto;
        if !url.is_empty() {
            extra_defaults.push(("Referer".into(), url.into()));
        }
    }
    if args.compressed {
        // Exactly the codings rwsgi-call can decode.
        extra_defaults.push(("Accept-Encoding".into(), "deflate, gzip, br".into()));
    }
    for (name, value) in extra_defaults {
        defaults.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        defaults.push((name, value));
    }
    for (_, value) in &defaults {
        if value.contains(['\r', '\n', '\0']) {
            return Err(usage(format!("{value:?} may not hold CR, LF or NUL")));
        }
    }
    Ok((defaults, auto_referer))
}

/// `-u user:password`: the Authorization header's value.
fn basic_auth(args: &CallArgs) -> std::result::Result<Option<String>, Exit> {
    let usage = Exit::usage;
    let auth = match &args.user {
        None => None,
        Some(user) if user.contains(':') => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user.as_bytes())
        )),
        Some(user) => {
            return Err(usage(format!(
                "-u {user:?} has no password: give -u '{user}:PASSWORD' (curl would prompt for it)"
            )));
        }
    };
    Ok(auth)
}

/// `-b 'name=value'` (every -b that is not a file), joined as one Cookie header.
fn cookie_string(args: &CallArgs) -> std::result::Result<Option<String>, Exit> {
    let usage = Exit::usage;
    let cookie_strings: Vec<&str> = args
        .cookie
        .iter()
        .filter(|c| c.contains('='))
        .map(String::as_str)
        .collect();
    let cookie_string = (!cookie_strings.is_empty()).then(|| cookie_strings.join("; "));
    if let Some(c) = &cookie_string
        && c.contains(['\r', '\n', '\0'])
    {
        return Err(usage("-b may not hold CR, LF or NUL".into()));
    }
    Ok(cookie_string)
}

/// A WSGI environ's extra keys from `--env`, with the `wsgi.*` ones read into the scheme and
/// the server's traits.
type Environ = (Vec<(String, Vec<u8>)>, Option<String>, ServerTraits);

fn environ(args: &CallArgs) -> std::result::Result<Environ, Exit> {
    let usage = Exit::usage;
    let mut environ = Vec::new();
    let mut scheme = None;
    let mut traits = Request::new("GET").traits;
    // More than one request is expected when redirects are followed (PEP 3333: run_once).
    traits.run_once = !args.location;
    for kv in &args.environ {
        let (key, value) = kv
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| usage(format!("--env expects KEY=VALUE, got {kv:?}")))?;
        if wsgi_key(key, value, &mut scheme, &mut traits).map_err(usage)? {
            environ.push((key.to_string(), value.as_bytes().to_vec()));
        }
    }
    Ok((environ, scheme, traits))
}

/// A `--env wsgi.*` key: PEP 3333 gives these Python types (`wsgi.url_scheme` a str, the
/// three flags bools, `wsgi.version` the tuple `(1, 0)`), so they are set as such rather than as
/// text. Returns whether the key is a plain environ string; keys rwsgi cannot set are refused.
fn wsgi_key(
    key: &str,
    value: &str,
    scheme: &mut Option<String>,
    traits: &mut ServerTraits,
) -> std::result::Result<bool, String> {
    let Some(name) = key.strip_prefix("wsgi.") else {
        return Ok(true);
    };
    let flag = || match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!(
            "--env {key} takes true, false, 1 or 0, not {value:?}"
        )),
    };
    match name {
        "url_scheme" => match value {
            "http" | "https" => *scheme = Some(value.to_string()),
            _ => {
                return Err(format!(
                    "--env wsgi.url_scheme takes http or https, not {value:?}"
                ));
            }
        },
        "multithread" => traits.multithread = flag()?,
        "multiprocess" => traits.multiprocess = flag()?,
        "run_once" => traits.run_once = flag()?,
        "version" if value == "1.0" || value == "(1, 0)" => {}
        "version" => {
            return Err(format!(
                "--env wsgi.version can only be 1.0 (PEP 3333), not {value:?}"
            ));
        }
        _ => {
            return Err(format!(
                "--env cannot set {key}: the wsgi.* keys it sets are wsgi.url_scheme, \
                 wsgi.multithread, wsgi.multiprocess, wsgi.run_once and wsgi.version \
                 (wsgi.input, wsgi.errors and the others belong to the server)"
            ));
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::ffi::OsString;
    use std::io;

    fn args(argv: &[&str]) -> CallArgs {
        let mut full = vec!["rwsgi-call"];
        full.extend_from_slice(argv);
        CallArgs::try_parse_from(full).unwrap()
    }

    fn request(argv: &[&str]) -> Request {
        build_request(&args(argv), &mut io::empty()).unwrap()
    }

    fn env(req: &Request) -> std::collections::HashMap<String, String> {
        req.cgi_variables()
            .into_iter()
            .map(|(k, v)| (k, http::latin1_string(&v)))
            .collect()
    }

    #[test]
    fn targets() {
        let t = Target::parse("/a/b?x=1&y=2#frag").unwrap();
        assert_eq!(
            (t.path.as_slice(), t.query.as_deref()),
            (&b"/a/b"[..], Some(&b"x=1&y=2"[..]))
        );
        assert_eq!(t.host, None);

        let t = Target::parse("https://Example.com:8443/x?y=1").unwrap();
        assert!(t.https);
        assert_eq!(t.host.as_deref(), Some("example.com"));
        assert_eq!(t.port, Some(8443));
        assert_eq!(t.host_header().as_deref(), Some("example.com:8443"));

        let t = Target::parse("http://example.com").unwrap();
        assert_eq!(t.path, b"/");
        assert_eq!(t.query, None);
        assert_eq!(t.host_header().as_deref(), Some("example.com"));

        let t = Target::parse("https://example.com:443?q").unwrap();
        assert_eq!(t.host_header().as_deref(), Some("example.com"));
        assert_eq!(t.query.as_deref(), Some(&b"q"[..]));

        let t = Target::parse("http://[::1]:8080/v6").unwrap();
        assert_eq!(t.host.as_deref(), Some("[::1]"));
        assert_eq!(t.port, Some(8080));

        let t = Target::parse("/caf\u{e9} x?q=a b").unwrap();
        assert_eq!(t.path, b"/caf%C3%A9%20x");
        assert_eq!(t.query.as_deref(), Some(&b"q=a%20b"[..]));

        let t = Target::parse("/a%2Fb?").unwrap();
        assert_eq!(t.path, b"/a%2Fb");
        assert_eq!(t.query.as_deref(), Some(&b""[..]));

        for bad in [
            "",
            "a/b",
            "localhost:8000/x",
            "http://",
            "http://:80/",
            "http://user:pw@host/",
            "http://host:0/",
            "http://host:99999/",
            "http://host:x/",
            "http://[::1/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Target::parse("example.com/x")
                .unwrap_err()
                .contains("http://example.com/x")
        );
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("Accept: text/html").unwrap(),
            HeaderArg::Set("Accept".into(), b"text/html".to_vec())
        );
        assert_eq!(
            parse_header("X-A:b:c").unwrap(),
            HeaderArg::Set("X-A".into(), b"b:c".to_vec())
        );
        assert_eq!(
            parse_header("User-Agent:").unwrap(),
            HeaderArg::Remove("User-Agent".into())
        );
        assert_eq!(
            parse_header("X-Empty;").unwrap(),
            HeaderArg::Set("X-Empty".into(), vec![])
        );
        for bad in ["NoColon", ": v", "Bad Name: v", "X: a\rb", "X: a\nb"] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_and_methods() {
        let r = request(&["/x"]);
        assert_eq!(r.method, "GET");
        let e = env(&r);
        assert_eq!(e["HTTP_HOST"], "localhost");
        assert_eq!(e["HTTP_ACCEPT"], "*/*");
        assert!(e["HTTP_USER_AGENT"].starts_with("rwsgi-call/"));
        assert_eq!(e["SERVER_NAME"], "localhost");
        assert_eq!(e["SERVER_PORT"], "80");
        assert_eq!(e["PATH_INFO"], "/x");
        assert_eq!(e["REQUEST_URI"], "/x");
        assert!(!e.contains_key("CONTENT_LENGTH"));

        assert_eq!(request(&["-d", "a=1", "/x"]).method, "POST");
        assert_eq!(request(&["PUT", "/x", "-d", "a=1"]).method, "PUT");
        assert_eq!(request(&["-X", "DELETE", "/x"]).method, "DELETE");
        assert_eq!(request(&["-I", "/x"]).method, "HEAD");
        assert!(build_request(&args(&["GET", "/x", "-X", "POST"]), &mut io::empty()).is_err());
        assert!(build_request(&args(&["G T", "/x"]), &mut io::empty()).is_err());
    }

    #[test]
    fn header_overrides() {
        let e = env(&request(&[
            "-H",
            "User-Agent:",
            "-H",
            "Host: api.example.com",
            "-H",
            "X-A: 1",
            "-H",
            "x-a: 2",
            "-H",
            "Cookie: a=1",
            "-H",
            "Cookie: b=2",
            "/",
        ]));
        assert!(!e.contains_key("HTTP_USER_AGENT"));
        assert_eq!(e["HTTP_HOST"], "api.example.com");
        assert_eq!(e["HTTP_X_A"], "1, 2");
        assert_eq!(e["HTTP_COOKIE"], "a=1; b=2");
    }

    #[test]
    fn bodies() {
        let r = request(&["-d", "a=1", "-d", "b=2", "/"]);
        let e = env(&r);
        assert_eq!(e["CONTENT_TYPE"], "application/x-www-form-urlencoded");
        assert_eq!(e["CONTENT_LENGTH"], "7");
        assert_eq!(http::read_all(r.body).unwrap(), b"a=1&b=2");

        let r = request(&["-H", "Content-Type: text/plain", "-d", "hi", "/"]);
        assert_eq!(env(&r)["CONTENT_TYPE"], "text/plain");

        let r = request(&["--json", "{\"a\": 1}", "/"]);
        let e = env(&r);
        assert_eq!(e["CONTENT_TYPE"], "application/json");
        assert_eq!(e["HTTP_ACCEPT"], "application/json");
        assert_eq!(r.method, "POST");

        let a = args(&["-d", "@-", "/"]);
        let r = build_request(&a, &mut &b"line1\r\nline2\n"[..]).unwrap();
        assert_eq!(http::read_all(r.body).unwrap(), b"line1line2");
        let a = args(&["--data-binary", "@-", "/"]);
        let r = build_request(&a, &mut &b"line1\r\nline2\n"[..]).unwrap();
        assert_eq!(http::read_all(r.body).unwrap(), b"line1\r\nline2\n");

        assert!(build_request(&args(&["-d", "a", "-F", "b=c", "/"]), &mut io::empty()).is_err());
        assert!(
            build_request(&args(&["-d", "@/nonexistent/file", "/"]), &mut io::empty()).is_err()
        );
    }

    #[test]
    fn form_bodies() {
        let dir = std::env::temp_dir().join(format!("rwsgi-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let photo = dir.join("cat.jpg");
        std::fs::write(&photo, [0xFF, 0xD8, 0xFF]).unwrap();
        let spec = format!("photo=@{}", photo.display());
        let r = request(&["-F", "title=Hi", "-F", &spec, "/upload"]);
        let e = env(&r);
        let ct = e["CONTENT_TYPE"].clone();
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let body = http::read_all(r.body).unwrap();
        let text = http::latin1_string(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")), "{text}");
        assert!(text.contains("name=\"photo\"; filename=\"cat.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\u{ff}\u{d8}\u{ff}\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        assert_eq!(r.method, "POST");

        let spec = format!(
            "doc=@{};type=text/x-custom;filename=renamed.txt",
            photo.display()
        );
        let r = request(&["-F", &spec, "/"]);
        let text = http::latin1_string(&http::read_all(r.body).unwrap());
        assert!(
            text.contains("filename=\"renamed.txt\"\r\nContent-Type: text/x-custom"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mounting() {
        let e = env(&request(&["--script-name", "/app/", "/app/x/y"]));
        assert_eq!(
            (e["SCRIPT_NAME"].as_str(), e["PATH_INFO"].as_str()),
            ("/app", "/x/y")
        );
        let e = env(&request(&["--script-name", "/app", "/app"]));
        assert_eq!(
            (e["SCRIPT_NAME"].as_str(), e["PATH_INFO"].as_str()),
            ("/app", "")
        );
        assert!(
            build_request(
                &args(&["--script-name", "/app", "/apple"]),
                &mut io::empty()
            )
            .is_err()
        );
        assert!(build_request(&args(&["--script-name", "app", "/app"]), &mut io::empty()).is_err());
    }

    #[test]
    fn urls_and_environ() {
        let e = env(&request(&[
            "https://example.com:8443/caf%C3%A9?y=1",
            "--env",
            "REMOTE_USER=bob",
        ]));
        assert_eq!(e["SERVER_NAME"], "example.com");
        assert_eq!(e["SERVER_PORT"], "8443");
        assert_eq!(e["HTTP_HOST"], "example.com:8443");
        assert_eq!(e["PATH_INFO"], "/caf\u{c3}\u{a9}");
        assert_eq!(e["REQUEST_URI"], "/caf%C3%A9?y=1");
        assert_eq!(e["QUERY_STRING"], "y=1");
        assert_eq!(e["REMOTE_USER"], "bob");
        let r = request(&["https://example.com/"]);
        assert_eq!(r.scheme, "https");
        assert_eq!(env(&r)["SERVER_PORT"], "443");
        assert!(build_request(&args(&["--env", "novalue", "/"]), &mut io::empty()).is_err());
    }

    #[test]
    fn data_urlencode_forms_and_get() {
        let dir = std::env::temp_dir().join(format!("rwsgi-cli-urlenc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("v.txt");
        std::fs::write(&file, "x y\n").unwrap();
        let f = file.display().to_string();
        let argv = [
            "--data-urlencode".to_string(),
            "a=b c&d".into(),
            "-d".into(),
            "raw=1".into(),
            "--data-urlencode".into(),
            "=é".into(),
            "--data-urlencode".into(),
            format!("n@{f}"),
            "--data-urlencode".into(),
            format!("@{f}"),
            "/x?q=1".into(),
        ];
        let parse = |argv: &[String]| {
            CallArgs::parse_named("rwsgi-call", argv.iter().map(OsString::from).collect()).unwrap()
        };
        let r = build_request(&parse(&argv), &mut io::empty()).unwrap();
        assert_eq!(
            http::read_all(r.body).unwrap(),
            b"a=b+c%26d&raw=1&%C3%A9&n=x+y%0A&x+y%0A"
        );
        let mut get = argv.to_vec();
        get.insert(0, "-G".into());
        let r = build_request(&parse(&get), &mut io::empty()).unwrap();
        assert_eq!(r.method, "GET");
        assert!(r.body.is_empty());
        assert_eq!(
            r.query_string,
            b"q=1&a=b+c%26d&raw=1&%C3%A9&n=x+y%0A&x+y%0A"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wsgi_keys_are_typed_or_refused() {
        let r = request(&[
            "--env",
            "wsgi.url_scheme=https",
            "--env",
            "wsgi.multithread=1",
            "/",
        ]);
        assert_eq!(r.scheme, "https");
        assert!(r.traits.multithread);
        assert!(r.extra.is_empty());
        for bad in [
            "wsgi.input=x",
            "wsgi.url_scheme=ftp",
            "wsgi.run_once=yes",
            "wsgi.version=1.1",
        ] {
            assert!(
                build_request(&args(&["--env", bad, "/"]), &mut io::empty()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn curl_header_options() {
        let e = env(&request(&[
            "-A",
            "ua/1",
            "-e",
            "http://r.test/;auto",
            "-u",
            "u:p",
            "-b",
            "a=1",
            "/",
        ]));
        assert_eq!(e["HTTP_USER_AGENT"], "ua/1");
        assert_eq!(e["HTTP_REFERER"], "http://r.test/");
        assert_eq!(e["HTTP_AUTHORIZATION"], "Basic dTpw");
        assert_eq!(e["HTTP_COOKIE"], "a=1");
        let e = env(&request(&["--compressed", "/"]));
        assert_eq!(e["HTTP_ACCEPT_ENCODING"], "deflate, gzip, br");
        assert!(build_request(&args(&["-A", "a\nb", "/"]), &mut io::empty()).is_err());
        assert!(build_request(&args(&["-u", "nopassword", "/"]), &mut io::empty()).is_err());
    }
}
