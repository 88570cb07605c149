//! A [`Plan`] made into the neutral [`Request`]: the target split at the mount point, the
//! headers a client sends on its own and those of `-H`, `-u`, `-b` and the jar's cookies.

use std::io::Read;

use super::cookies::Jar;
use super::plan::{Plan, build_plan};
use super::*;
use crate::error::Result;
use crate::http::{self, Request};

/// One `-H` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderArg {
    Set(String, Vec<u8>),
    /// `Name:` with nothing after it: leave the default header out (curl's convention).
    Remove(String),
}

pub fn parse_header(text: &str) -> std::result::Result<HeaderArg, String> {
    let bad = |why: &str| format!("invalid header {text:?}: {why}");
    // `Name;` sends the header with an empty value (curl's convention).
    if let Some(name) = text.strip_suffix(';')
        && !name.contains(':')
    {
        check_name(name).map_err(|w| bad(&w))?;
        return Ok(HeaderArg::Set(name.to_string(), Vec::new()));
    }
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| bad("expected 'Name: value'"))?;
    let name = name.trim();
    check_name(name).map_err(|w| bad(&w))?;
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Ok(HeaderArg::Remove(name.to_string()));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(bad("a value may not contain CR, LF or NUL"));
    }
    Ok(HeaderArg::Set(name.to_string(), value.as_bytes().to_vec()))
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err("the name must be a token (letters, digits, -)".into());
    }
    Ok(())
}

impl Plan {
    /// The request, with the cookies of `jar` that go to its URL.
    pub fn request(&self, jar: Option<&Jar>) -> std::result::Result<Request, Exit> {
        let target = &self.target;
        let mut request = Request::new(&self.method);
        request.scheme = self.scheme().into();
        if let Some(host) = &target.host {
            request.server_name = host.clone();
        }
        request.server_port = target
            .port
            .unwrap_or(if target.https { 443 } else { 80 })
            .to_string();
        let decoded = http::percent_decode(&target.path);
        let (script_name, path_info) = match &self.script_name {
            None => (Vec::new(), decoded),
            Some(prefix) => mount(prefix, &decoded).map_err(Exit::usage)?,
        };
        request.script_name = script_name;
        request.path_info = path_info;
        let mut uri = target.path.clone();
        if let Some(q) = &target.query {
            uri.push(b'?');
            uri.extend_from_slice(q);
        }
        request.request_uri = Some(uri);
        request.query_string = target.query.clone().unwrap_or_default();

        request.headers = self.headers(jar);
        if let Some(data) = &self.body {
            request.body = http::Body::from_bytes(data.clone());
        }
        if let Some(scheme) = &self.scheme {
            request.scheme = scheme.clone();
        }
        request.traits = self.traits;
        request.extra = self.environ.clone();
        Ok(request)
    }

    /// The request's headers: those a client sends on its own (Host, `-u`, User-Agent, Accept,
    /// the cookies, Content-Type), unless -H names them, then the -H ones.
    fn headers(&self, jar: Option<&Jar>) -> Vec<(String, Vec<u8>)> {
        let mut headers = Vec::new();
        // Credentials and the user's own Host and Cookie go to the first host only (curl does
        // not hand them to another host a redirect names).
        let first_host = self.origin() == self.first_origin;
        let user_headers: Vec<&HeaderArg> = self
            .user_headers
            .iter()
            .filter(|h| {
                let (HeaderArg::Set(n, _) | HeaderArg::Remove(n)) = h;
                first_host
                    || !["host", "authorization", "cookie"]
                        .iter()
                        .any(|s| n.eq_ignore_ascii_case(s))
            })
            .collect();

        // The headers a client like curl sends on its own; -H replaces or removes them.
        let mut defaults = vec![(
            "Host".to_string(),
            self.target
                .host_header()
                .unwrap_or_else(|| "localhost".into()),
        )];
        if let Some(auth) = self.auth.as_ref().filter(|_| first_host) {
            defaults.push(("Authorization".into(), auth.clone()));
        }
        defaults.extend(self.defaults.iter().cloned());
        let mut cookie = jar
            .map(|j| j.header(&self.host(), &self.target.path, self.secure_context()))
            .unwrap_or_default();
        if let Some(s) = &self.cookie_string {
            if !cookie.is_empty() {
                cookie.push_str("; ");
            }
            cookie.push_str(s);
        }
        if !cookie.is_empty() {
            defaults.push(("Cookie".into(), cookie));
        }
        if let (Some(_), Some(content_type)) = (&self.body, &self.content_type) {
            defaults.push(("Content-Type".into(), content_type.clone()));
        }
        let user_sets = |name: &str| {
            user_headers.iter().any(|h| match h {
                HeaderArg::Set(n, _) | HeaderArg::Remove(n) => n.eq_ignore_ascii_case(name),
            })
        };
        for (name, value) in defaults {
            if !user_sets(&name) {
                headers.push((name, value.into_bytes()));
            }
        }
        for h in &user_headers {
            if let HeaderArg::Set(name, value) = h {
                headers.push((name.clone(), value.clone()));
            }
        }
        headers
    }
}

/// Builds the request the flags describe. `stdin` serves `@-`.
pub fn build_request(args: &CallArgs, stdin: &mut dyn Read) -> Result<Request> {
    build_plan(args, stdin)
        .and_then(|plan| plan.request(None))
        .map_err(Exit::into_error)
}

/// Splits a decoded path at the mount point (`--script-name`), only at a segment boundary.
fn mount(prefix: &str, path: &[u8]) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
    if !prefix.starts_with('/') {
        return Err(format!("--script-name must start with '/', got {prefix:?}"));
    }
    let prefix = prefix.trim_end_matches('/').as_bytes();
    match path.strip_prefix(prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with(b"/") => {
            Ok((prefix.to_vec(), rest.to_vec()))
        }
        _ => Err(format!(
            "the target path {} is not under the mount point {} (--script-name)",
            http::latin1_string(path),
            String::from_utf8_lossy(prefix)
        )),
    }
}
