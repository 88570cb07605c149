//! Any bytes as a Lambda event: JSON -> `detect` -> `to_request`, for the detected source and,
//! to reach every source's rules with any shape, for every other source too. Checks what
//! docs/lambda.md#front-doors and docs/lambda.md#the-environ promise of any request that is accepted.

#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use rwsgi::lambda::source::{EventOptions, Source, detect, to_request};
use rwsgi_fuzz::{body_bytes, check, common_request_checks, script_name_checks, show};
use serde_json::Value;

const SOURCES: [Source; 8] = Source::ALL;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let detected = detect(&json(&event));
    if !event.is_object() {
        check("detect_objects_only", detected.is_none(), || {
            format!("{detected:?} for a JSON {event}")
        });
    }
    for source in SOURCES {
        let plain = to_request(&json(&event), source, &EventOptions::default());
        if !event.is_object() {
            check("rejects_non_objects", plain.is_err(), || {
                format!("{source:?} accepted {event}")
            });
        }
        let Ok(plain) = plain else { continue };
        let (script, path) = (plain.script_name.clone(), plain.path_info.clone());
        request_checks(&event, source, plain);
        // The base path is only ever checked against the detected source: that is the only
        // one a function sees on Lambda, and every extra run costs executions.
        if Some(source) != detected {
            continue;
        }
        for base in ["/v1", "/v1/", "/", "/a/b"] {
            let options = EventOptions {
                base_path: Some(base.to_string()),
                ..EventOptions::default()
            };
            let based = to_request(&json(&event), source, &options);
            check("base_path_same_verdict", based.is_ok(), || {
                format!(
                    "base path {base:?} turned an accepted event into {:?}",
                    based.as_ref().err()
                )
            });
            let Ok(based) = based else { continue };
            // RWSGI_BASE_PATH moves from the front of PATH_INFO to the end of SCRIPT_NAME,
            // only at a segment boundary.
            let prefix = base.trim_end_matches('/').as_bytes();
            let (want_script, want_path) = match path.strip_prefix(prefix) {
                Some(rest) if !prefix.is_empty() && (rest.is_empty() || rest.starts_with(b"/")) => {
                    ([script.as_slice(), prefix].concat(), rest.to_vec())
                }
                _ => (script.clone(), path.clone()),
            };
            check(
                "base_path_moved",
                based.script_name == want_script && based.path_info == want_path,
                || {
                    format!(
                        "base {base:?}: SCRIPT_NAME {:?} PATH_INFO {:?}, want {:?} {:?}",
                        show(&based.script_name),
                        show(&based.path_info),
                        show(&want_script),
                        show(&want_path)
                    )
                },
            );
            request_checks(&event, source, based);
        }
    }
});

/// The path field each source reads, as the event gives it.
fn raw_path(event: &Value, source: Source) -> Option<&Value> {
    let key = match source {
        Source::HttpApiV2 | Source::FunctionUrl => "rawPath",
        Source::LatticeV1 => "raw_path",
        _ => "path",
    };
    event.get(key)
}

fn request_checks(event: &Value, source: Source, request: rwsgi::http::Request) {
    let vars = common_request_checks(&request);
    script_name_checks(&vars);
    let get = |k: &str| vars.get(k).map(Vec::as_slice).unwrap_or_default();

    check(
        "protocol_shape",
        get("SERVER_PROTOCOL").starts_with(b"HTTP/"),
        || format!("SERVER_PROTOCOL {:?}", show(get("SERVER_PROTOCOL"))),
    );
    check(
        "remote_addr_nonempty",
        !get("REMOTE_ADDR").is_empty(),
        || "REMOTE_ADDR is empty".into(),
    );

    // The method, as the event names it (section 2, REQUEST_METHOD).
    let method_field = match source {
        Source::HttpApiV2 | Source::FunctionUrl => event
            .get("requestContext")
            .and_then(|c| c.get("http"))
            .and_then(|h| h.get("method")),
        Source::LatticeV1 | Source::LatticeV2 => event.get("method"),
        _ => event.get("httpMethod"),
    };
    check(
        "method_from_event",
        method_field.and_then(Value::as_str).map(str::as_bytes) == Some(get("REQUEST_METHOD")),
        || {
            format!(
                "REQUEST_METHOD {:?} from {method_field:?}",
                show(get("REQUEST_METHOD"))
            )
        },
    );

    // REQUEST_URI and RAW_URI: the path as given, then `?` and the query when there is one.
    let query = get("QUERY_STRING");
    let uri = get("REQUEST_URI");
    check("raw_uri_is_request_uri", get("RAW_URI") == uri, || {
        format!(
            "RAW_URI {:?} REQUEST_URI {:?}",
            show(get("RAW_URI")),
            show(uri)
        )
    });
    let given_path = raw_path(event, source)
        .and_then(Value::as_str)
        .unwrap_or("");
    let given_path = match source {
        Source::LatticeV1 | Source::LatticeV2 => given_path.split('?').next().unwrap_or(""),
        _ => given_path,
    };
    let mut want_uri = if given_path.is_empty() {
        "/"
    } else {
        given_path
    }
    .as_bytes()
    .to_vec();
    if !query.is_empty() {
        want_uri.push(b'?');
        want_uri.extend_from_slice(query);
    }
    check("request_uri_as_given", uri == want_uri, || {
        format!("REQUEST_URI {:?}, want {:?}", show(uri), show(&want_uri))
    });

    // PATH_INFO: a path that the event gives with a leading slash keeps one (RFC 3875 section
    // 4.1.5) after decoding and after SCRIPT_NAME is taken from its front.
    let path = get("PATH_INFO");
    let given = raw_path(event, source);
    let slash_given = match given {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty() || s.starts_with('/'),
        Some(_) => false,
    };
    if slash_given {
        check(
            "path_info_slash",
            path.is_empty() || path.starts_with(b"/"),
            || format!("PATH_INFO {:?} from {given:?}", show(path)),
        );
        check(
            "path_info_nonempty_without_script",
            !get("SCRIPT_NAME").is_empty() || !path.is_empty(),
            || format!("SCRIPT_NAME and PATH_INFO both empty for {given:?}"),
        );
    }

    // HTTP API 2.0 and function URLs: the cookies array, when it holds any, is the Cookie
    // header, joined with `; `.
    if matches!(source, Source::HttpApiV2 | Source::FunctionUrl)
        && let Some(Value::Array(items)) = event.get("cookies")
    {
        let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
        if !parts.is_empty() {
            let want = parts.join("; ");
            check(
                "cookies_replace_header",
                vars.get("HTTP_COOKIE").map(Vec::as_slice) == Some(want.as_bytes()),
                || {
                    format!(
                        "HTTP_COOKIE {:?}, cookies {want:?}",
                        vars.get("HTTP_COOKIE").map(|v| show(v))
                    )
                },
            );
        }
    }

    // wsgi.input: the body, base64-decoded when the event says so.
    let flag_key = if source == Source::LatticeV1 {
        "is_base64_encoded"
    } else {
        "isBase64Encoded"
    };
    let base64 = event.get(flag_key) == Some(&Value::Bool(true));
    let text = event.get("body").and_then(Value::as_str).unwrap_or("");
    let body = body_bytes(request);
    if base64 {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let again = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&body);
        check(
            "body_base64_decoded",
            compact.trim_end_matches('=') == again,
            || format!("body {text:?} decoded to {:?}", show(&body)),
        );
    } else {
        check("body_as_given", body == text.as_bytes(), || {
            format!("body {text:?} became {:?}", show(&body))
        });
    }
}

/// An event as the library reads it, from the `serde_json` value written here.
fn json(event: &Value) -> rwsgi::json::Value {
    rwsgi::json::Value::from(event)
}
