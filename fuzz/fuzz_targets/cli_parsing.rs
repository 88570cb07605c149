//! The small parsers behind the command line and the WSGI protocol checks: `Target::parse`,
//! `parse_header`, `AppSpec::parse`, `percent_decode`, `parse_status`, `check_header`, and
//! `cli::build_request` from flags. Checks that nothing accepted can split a header or status
//! line (no CR, LF or NUL), and the shape each parser promises of what it accepts.

#![no_main]

use std::io::Cursor;
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rwsgi::testing::app_spec::{AppSpec, Source as AppSource};
use rwsgi::testing::cli::{CallArgs, Format, HeaderArg, Target, build_request, parse_header};
use rwsgi::testing::http::{HeaderVerdict, check_header, parse_status, percent_decode};
use rwsgi_fuzz::{
    check, common_request_checks, has_line_break_or_nul, is_token, reference_decode,
    script_name_checks, show,
};

/// One `-F` argument. Files are never read: a file part always comes from stdin (`@-`).
#[derive(Debug, Arbitrary)]
enum FormArg {
    Field(String, String),
    StdinFile(String, Option<String>, Option<String>),
    StdinInline(String),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct Flags {
    method: Option<String>,
    target: String,
    request: Option<String>,
    headers: Vec<String>,
    data: Vec<String>,
    data_binary: Vec<String>,
    json: Option<String>,
    form: Vec<FormArg>,
    head: bool,
    data_urlencode: Vec<String>,
    get: bool,
    user: Option<String>,
    user_agent: Option<String>,
    referer: Option<String>,
    cookie: Vec<String>,
    environ: Vec<String>,
    script_name: Option<String>,
    stdin: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    target: String,
    header: String,
    spec: String,
    lambda_handler: bool,
    encoded: Vec<u8>,
    status: String,
    name: String,
    value: String,
    flags: Option<Flags>,
}

/// `@file` would read the machine's files: only `@-` (stdin) is kept.
fn no_files(s: &str) -> String {
    match s.strip_prefix('@') {
        Some(rest) if rest != "-" => format!("x{rest}"),
        _ => s.to_string(),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };

    if let Ok(t) = Target::parse(&input.target) {
        // What is sent is a request target a server would take as it is (RFC 9112 section
        // 3.2): no controls, spaces, non-ASCII or fragment, and a path from the root.
        let clean = |b: &[u8]| b.iter().all(|&c| (0x21..0x7f).contains(&c) && c != b'#');
        check(
            "target_shape",
            t.path.starts_with(b"/")
                && clean(&t.path)
                && !t.path.contains(&b'?')
                && t.query.as_deref().is_none_or(clean),
            || format!("{:?} -> {t:?}", input.target),
        );
        if let Some(host) = &t.host {
            check(
                "target_host",
                !host.is_empty()
                    && !host
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || "/?#\\@".contains(c))
                    && *host == host.to_lowercase(),
                || format!("{:?} -> host {host:?}", input.target),
            );
        }
        check("target_port", t.port != Some(0), || {
            format!("{:?} -> port 0", input.target)
        });
    }

    match parse_header(&input.header) {
        Ok(HeaderArg::Set(name, value)) => {
            check("header_arg_name", is_token(&name), || {
                format!("{:?} -> name {name:?}", input.header)
            });
            check("header_arg_value", !has_line_break_or_nul(&value), || {
                format!("{:?} -> value {:?}", input.header, show(&value))
            });
        }
        Ok(HeaderArg::Remove(name)) => check("header_arg_name", is_token(&name), || {
            format!("{:?} -> remove {name:?}", input.header)
        }),
        Err(_) => {}
    }

    for lambda_handler in [false, input.lambda_handler] {
        // Whether a path names a file is the machine's business; decided here without it.
        let is_file = |p: &Path| p.extension().is_some_and(|e| e == "wsgi");
        if let Ok(spec) = AppSpec::parse(&input.spec, lambda_handler, is_file) {
            let dotted = |s: &str| {
                !s.is_empty()
                    && s.split('.').all(|part| {
                        let mut cs = part.chars();
                        cs.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                            && cs.all(|c| c == '_' || c.is_alphanumeric())
                    })
            };
            check(
                "app_spec_shape",
                spec.text == input.spec.trim()
                    && spec.attr.as_deref().is_none_or(dotted)
                    && match &spec.source {
                        AppSource::Module(m) => dotted(m),
                        AppSource::File(f) => !f.as_os_str().is_empty(),
                    }
                    && (spec.call_args.is_none() || input.spec.contains('(')),
                || format!("{:?} -> {spec:?}", input.spec),
            );
        }
    }

    let decoded = percent_decode(&input.encoded);
    check(
        "percent_decode",
        decoded == reference_decode(&input.encoded),
        || {
            format!(
                "{:?} -> {:?}, want {:?}",
                show(&input.encoded),
                show(&decoded),
                show(&reference_decode(&input.encoded))
            )
        },
    );
    let escaped: String = input.encoded.iter().map(|b| format!("%{b:02x}")).collect();
    check(
        "percent_round_trip",
        percent_decode(escaped.as_bytes()) == input.encoded,
        || format!("{escaped:?}"),
    );

    if let Ok(status) = parse_status(&input.status) {
        check(
            "status_line",
            status.line == input.status
                && !has_line_break_or_nul(status.line.as_bytes())
                && status.line.chars().all(|c| (c as u32) <= 0xff)
                && (100..=999).contains(&status.code)
                && status.line.get(..3) == Some(format!("{:03}", status.code).as_str())
                && status.line.as_bytes().get(3) == Some(&b' '),
            || format!("{:?} -> {status:?}", input.status),
        );
    }

    if let Ok(verdict) = check_header(&input.name, &input.value) {
        check(
            "header_checked",
            is_token(&input.name)
                && !has_line_break_or_nul(input.value.as_bytes())
                && input.value.chars().all(|c| (c as u32) <= 0xff),
            || format!("{:?}: {:?} -> {verdict:?}", input.name, input.value),
        );
        let hop = [
            "connection",
            "keep-alive",
            "proxy-authenticate",
            "proxy-authorization",
            "te",
            "trailers",
            "transfer-encoding",
            "upgrade",
        ]
        .contains(&input.name.to_ascii_lowercase().as_str());
        check(
            "hop_by_hop",
            (verdict == HeaderVerdict::DropHopByHop) == hop,
            || format!("{:?} -> {verdict:?}", input.name),
        );
    }

    if let Some(flags) = input.flags {
        call(flags);
    }
});

fn call(flags: Flags) {
    let mut positional = Vec::new();
    positional.extend(flags.method.clone());
    positional.push(flags.target.clone());
    let form = flags
        .form
        .iter()
        .map(|f| match f {
            FormArg::Field(n, v) => format!(
                "{}={}",
                n.replace('=', ""),
                v.trim_start_matches(['@', '<'])
            ),
            FormArg::StdinFile(n, t, f) => {
                let mut s = format!("{}=@-", n.replace('=', ""));
                if let Some(t) = t {
                    s.push_str(";type=");
                    s.push_str(&t.replace(';', ""));
                }
                if let Some(f) = f {
                    s.push_str(";filename=");
                    s.push_str(&f.replace(';', ""));
                }
                s
            }
            FormArg::StdinInline(n) => format!("{}=<-", n.replace('=', "")),
            FormArg::Raw(s) => match s.split_once('=') {
                Some((n, v)) if v.starts_with(['@', '<']) => format!("{n}=x"),
                _ => s.clone(),
            },
        })
        .collect();
    let args = CallArgs {
        positional,
        request: flags.request.clone(),
        headers: flags.headers.clone(),
        data: flags.data.iter().map(|d| no_files(d)).collect(),
        data_binary: flags.data_binary.iter().map(|d| no_files(d)).collect(),
        // `name@file` reads a file too: no `@` at all here.
        data_urlencode: flags
            .data_urlencode
            .iter()
            .map(|d| d.replace('@', ""))
            .collect(),
        get: flags.get,
        json: flags.json.as_deref().map(no_files),
        form,
        head: flags.head,
        format: Format::Raw,
        user: flags.user.clone(),
        user_agent: flags.user_agent.clone(),
        referer: flags.referer.clone(),
        cookie: flags
            .cookie
            .iter()
            .filter(|c| c.contains('='))
            .cloned()
            .collect(),
        environ: flags.environ.clone(),
        script_name: flags.script_name.clone(),
        ..CallArgs::default()
    };
    let Ok(request) = build_request(&args, &mut Cursor::new(flags.stdin)) else {
        return;
    };
    check("call_method_token", is_token(&request.method), || {
        format!("method {:?}", request.method)
    });
    for (name, value) in &request.headers {
        check(
            "call_headers_clean",
            is_token(name) && !has_line_break_or_nul(value),
            || format!("header {name:?}: {:?}", show(value)),
        );
    }
    // `--env` may set any key on purpose; what follows holds for what rwsgi derives itself.
    if !flags.environ.is_empty() {
        return;
    }
    let vars = common_request_checks(&request);
    script_name_checks(&vars);
    let get = |k: &str| vars.get(k).map(Vec::as_slice).unwrap_or_default();
    let path = get("PATH_INFO");
    let script = get("SCRIPT_NAME");
    if let Ok(target) = Target::parse(&flags.target) {
        let whole = [script, path].concat();
        check(
            "call_path_split",
            whole == percent_decode(&target.path) && (path.is_empty() || path.starts_with(b"/")),
            || {
                format!(
                    "SCRIPT_NAME {:?} PATH_INFO {:?} for {:?}",
                    show(script),
                    show(path),
                    flags.target
                )
            },
        );
    }
}
