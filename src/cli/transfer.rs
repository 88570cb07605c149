//! The response side of `rwsgi call`: each response streamed to the output as the app sends it
//! (`-i`, `-f`, `--compressed`, cookies it sets), and the `-v` and `--format json` views.

use std::io;
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use super::cookies::Jar;
use super::output::{Decoder, Output};
use super::*;
use crate::http::{self, Request, ResponseHead, ResponseSink};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Fail {
    #[default]
    No,
    Silent,
    WithBody,
}

impl Fail {
    pub(super) fn from_args(args: &CallArgs) -> Fail {
        if args.fail_with_body {
            Fail::WithBody
        } else if args.fail {
            Fail::Silent
        } else {
            Fail::No
        }
    }
}

/// `{status, reason, headers, body, body_base64}`: `body` is the text when the body is UTF-8
/// (else null); `body_base64` always holds the exact bytes.
pub(super) fn json_response(head: &ResponseHead, body: &[u8]) -> String {
    #[derive(serde::Serialize)]
    struct Json<'a> {
        status: u16,
        reason: &'a str,
        headers: Vec<[&'a str; 2]>,
        body: Option<&'a str>,
        body_base64: String,
    }
    let json = Json {
        status: head.status.code,
        reason: head.status.reason(),
        headers: head
            .headers
            .iter()
            .map(|(n, v)| [n.as_str(), v.as_str()])
            .collect(),
        body: std::str::from_utf8(body).ok(),
        body_base64: base64::engine::general_purpose::STANDARD.encode(body),
    };
    serde_json::to_string(&json).unwrap_or_default()
}

/// The request head as `-v` shows it (curl's `> ` lines).
pub(super) fn verbose_request(request: &Request) -> String {
    let mut text = String::new();
    let uri = request
        .request_uri
        .as_deref()
        .map(http::latin1_string)
        .unwrap_or_default();
    text.push_str(&format!(
        "> {} {} {}\r\n",
        request.method, uri, request.server_protocol
    ));
    for (name, value) in &request.headers {
        text.push_str(&format!("> {name}: {}\r\n", http::latin1_string(value)));
    }
    if !request.body.is_empty() {
        text.push_str(&format!("> Content-Length: {}\r\n", request.body.len()));
    }
    text.push_str("> \r\n");
    text
}

pub(super) fn lock(t: &Arc<Mutex<Transfer>>) -> std::sync::MutexGuard<'_, Transfer> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// The response side of a transfer: every response of it (one, or one per redirect with -L)
/// goes through here, streamed to the output as the app produces it.
#[derive(Default)]
pub(super) struct Transfer {
    pub(super) include: bool,
    pub(super) json: bool,
    pub(super) fail: Fail,
    pub(super) verbose: bool,
    pub(super) follow: bool,
    pub(super) compressed: bool,
    pub(super) out: Output,
    pub(super) jar: Option<Jar>,
    /// The request being answered: no body is printed for HEAD.
    pub(super) head_only: bool,
    /// Where the request went, for the cookies the response sets.
    pub(super) host: String,
    pub(super) path: Vec<u8>,
    pub(super) secure: bool,
    /// The response so far.
    pub(super) head: Option<ResponseHead>,
    pub(super) location: Option<String>,
    /// The response is a redirect -L follows: its body is not printed (as curl).
    pub(super) following: bool,
    pub(super) decoder: Option<Decoder>,
    /// Whether the decoder was given any bytes (an empty body has nothing to decode).
    pub(super) decoding: bool,
    /// The body, for `--format json`.
    pub(super) body: Vec<u8>,
    pub(super) size_download: u64,
    pub(super) size_header: u64,
    pub(super) write_error: Option<io::Error>,
    pub(super) decode_error: Option<String>,
}

impl Transfer {
    pub(super) fn begin(&mut self, plan: &Plan, request: &Request) {
        self.head_only = request.method == "HEAD";
        self.host = plan.host();
        self.path = plan.target.path.clone();
        self.secure = plan.secure_context();
        self.head = None;
        self.location = None;
        self.following = false;
        self.decoder = None;
        self.decoding = false;
        self.body.clear();
        // curl's size_download is the last response's body; size_header adds up every head.
        self.size_download = 0;
    }

    pub(super) fn status(&self) -> u16 {
        self.head.as_ref().map_or(0, |h| h.status.code)
    }

    fn silent(&self) -> bool {
        self.fail == Fail::Silent && self.status() >= 400
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.json {
            self.body.extend_from_slice(bytes);
            return Ok(());
        }
        self.out.write(bytes).inspect_err(|e| {
            self.write_error = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }

    /// Ends one response: what a decoder still holds goes out.
    pub(super) fn end_response(&mut self) {
        if let Some(decoder) = self.decoder.take().filter(|_| self.decoding) {
            match decoder.finish() {
                Ok(rest) => {
                    let _ = self.write(&rest);
                }
                Err(e) => self.decode_error = Some(e),
            }
        }
    }
}

impl ResponseSink for Transfer {
    fn send_head(&mut self, head: &ResponseHead, _body_len: Option<u64>) -> io::Result<()> {
        self.head = Some(head.clone());
        let mut text = Vec::new();
        head.write_lines(b"HTTP/1.1 ", &mut text);
        text.extend_from_slice(b"\r\n");
        self.size_header += text.len() as u64;
        if self.verbose {
            let mut shown = String::new();
            for line in http::latin1_string(&text).split_inclusive("\r\n") {
                shown.push_str("< ");
                shown.push_str(line);
            }
            crate::log::plain(shown);
        }
        let code = head.status.code;
        // Every 3xx with a Location is a redirect (curl follows even a 304 that has one).
        self.location = head
            .header("Location")
            .filter(|_| (300..400).contains(&code))
            .map(|l| l.trim().to_string());
        self.following = self.follow && self.location.is_some();
        if let Some(jar) = &mut self.jar {
            for (name, value) in &head.headers {
                if name.eq_ignore_ascii_case("set-cookie") {
                    jar.set(value, &self.host, &self.path, self.secure);
                }
            }
        }
        if self.silent() {
            return Ok(());
        }
        if self.include {
            self.write(&text)?;
        }
        if self.compressed && !self.following && !self.head_only {
            match head.header("Content-Encoding").map(str::trim) {
                None | Some("") => {}
                Some(coding) => match Decoder::new(coding) {
                    Ok(d) => self.decoder = d,
                    Err(e) => {
                        self.decode_error = Some(e.clone());
                        return Err(io::Error::other(e));
                    }
                },
            }
        }
        Ok(())
    }

    fn send_body(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.silent() || self.head_only || self.following {
            // A body that is passed over does not count as downloaded (curl's size_download).
            return Ok(());
        }
        self.size_download += chunk.len() as u64;
        let decoded = match &mut self.decoder {
            None => return self.write(chunk),
            Some(d) => {
                self.decoding |= !chunk.is_empty();
                d.push(chunk)
            }
        };
        match decoded {
            Ok(bytes) => self.write(&bytes),
            Err(e) => {
                self.decode_error = Some(e.clone());
                Err(io::Error::other(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output() {
        let head = ResponseHead {
            status: http::parse_status("200 OK").unwrap(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
        };
        let v: serde_json::Value = serde_json::from_str(&json_response(&head, b"hi")).unwrap();
        assert_eq!(v["status"], 200);
        assert_eq!(v["reason"], "OK");
        assert_eq!(v["headers"][0][0], "Content-Type");
        assert_eq!(v["body"], "hi");
        assert_eq!(v["body_base64"], "aGk=");
        let v: serde_json::Value =
            serde_json::from_str(&json_response(&head, &[0xff, 0x00])).unwrap();
        assert!(v["body"].is_null());
        assert_eq!(v["body_base64"], "/wA=");
    }
}
