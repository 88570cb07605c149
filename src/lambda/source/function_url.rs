//! Lambda function URLs: payload 2.0, as HTTP APIs send it
//! (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html), read with
//! [`super::http_api`]'s helpers, but for where they come from and their path.

use serde_json::Value as JsonValue;

use super::common::{Door, EventPath, Reader, ViaRequest, present};
use super::{EventError, Source, http_api};
use crate::error::Result as CrateResult;
use crate::http::ResponseHead;
use crate::json::Value;
use crate::lambda::InvocationContext;

/// Function URLs send payload 2.0 from `<url-id>.lambda-url.<region>.on.aws`. Every HTTP API
/// event names its API (`apiId`); an event without one comes from a function URL emulator
/// (`cargo lambda watch` sends `localhost` and a null `apiId`), and its path is encoded as a
/// function URL's is.
pub(super) fn detect(event: &Value) -> Option<Source> {
    if !http_api::is_payload2(event) {
        return None;
    }
    let context = present(event, "requestContext");
    let in_context = |key: &str| context.and_then(|c| present(c, key));
    let domain = in_context("domainName")
        .and_then(Value::as_str)
        .unwrap_or("");
    (is_function_url_domain(domain) || in_context("apiId").is_none()).then_some(Source::FunctionUrl)
}

/// `<url-id>.lambda-url.<region>.on.aws`.
fn is_function_url_domain(domain: &str) -> bool {
    domain.ends_with(".on.aws") && domain.contains(".lambda-url.")
}

pub(crate) struct FunctionUrl;

impl Door for FunctionUrl {
    fn name(&self) -> &'static str {
        "Lambda function URL"
    }

    fn method<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
        http_api::method(r)
    }

    fn headers(&self, r: &Reader<'_>) -> Result<Vec<(String, Vec<u8>)>, EventError> {
        http_api::headers(r)
    }

    fn protocol<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
        http_api::protocol(r)
    }

    fn https_only(&self) -> bool {
        true
    }

    fn client_ip(
        &self,
        r: &Reader<'_>,
        _headers: &[(String, Vec<u8>)],
    ) -> Result<Option<String>, EventError> {
        http_api::client_ip(r)
    }

    /// Unlike an HTTP API, a function URL passes the path as the client sent it, still encoded.
    /// Its URLs have no stage.
    fn path<'a>(&self, r: &Reader<'a>) -> Result<EventPath<'a>, EventError> {
        Ok(EventPath {
            raw: r.str_at("rawPath")?.unwrap_or("/"),
            decoded: false,
            query: None,
        })
    }

    fn query(&self, r: &Reader<'_>, _in_path: Option<&str>) -> Result<String, EventError> {
        http_api::query(r)
    }

    fn reply_head(&self, head: &ResponseHead) -> serde_json::Map<String, JsonValue> {
        http_api::reply_head(head)
    }
}

/// The event a function URL sends for `req`. A function URL answers only on
/// `<url-id>.lambda-url.<region>.on.aws`, and its events name that domain whatever Host the
/// client sent (which reaches the app in `headers`): a made-up one unless the host given is
/// such a domain.
pub(crate) fn via_event(req: &ViaRequest, ctx: &InvocationContext) -> CrateResult<JsonValue> {
    const MADE_UP: (&str, &str) = (
        "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
        "abcdefghijklmnopqrstuvwxyz012345",
    );
    let domain = if is_function_url_domain(&req.domain) {
        (req.domain.as_str(), req.domain_prefix.as_str())
    } else {
        MADE_UP
    };
    Ok(http_api::payload2_event(req, ctx, &req.raw_path, domain))
}
