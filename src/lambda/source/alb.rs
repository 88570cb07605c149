//! Application Load Balancer target groups
//! (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html),
//! in single-value mode (the default: of a repeated header or query key only the last value
//! reaches the function) and multi-value mode (every value, in `multiValueHeaders` and
//! `multiValueQueryStringParameters`, and the reply's headers the same way)
//! (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html#multi-value-headers).

use serde_json::{Value as JsonValue, json};

use super::common::{
    CLIENT_IP, Door, EventPath, Reader, ViaRequest, header_bytes, join_query, multi_value_headers,
    present, single_value_headers, status_only, value_at,
};
use super::{EventError, Source};
use crate::error::Result as CrateResult;
use crate::http::ResponseHead;
use crate::json::Value;
use crate::lambda::InvocationContext;

/// An ALB event has `requestContext.elb`; multi-value mode sends `multiValueHeaders`.
pub(super) fn detect(event: &Value) -> Option<Source> {
    value_at(event, "requestContext.elb")?;
    Some(Source::Alb {
        multi_value: present(event, "multiValueHeaders").is_some(),
    })
}

pub(crate) struct Alb {
    pub multi_value: bool,
}

impl Door for Alb {
    fn name(&self) -> &'static str {
        if self.multi_value {
            "Application Load Balancer (multi-value headers)"
        } else {
            "Application Load Balancer"
        }
    }

    fn method<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
        r.str_at("httpMethod")
    }

    fn headers(&self, r: &Reader<'_>) -> Result<Vec<(String, Vec<u8>)>, EventError> {
        let pairs = if self.multi_value {
            r.multi_or_single("multiValueHeaders", "headers")?
        } else {
            r.pairs("headers", false)?
        };
        Ok(header_bytes(pairs))
    }

    /// The path as the client sent it, still encoded.
    fn path<'a>(&self, r: &Reader<'a>) -> Result<EventPath<'a>, EventError> {
        Ok(EventPath {
            raw: r.str_at("path")?.unwrap_or("/"),
            decoded: false,
            query: None,
        })
    }

    /// An ALB passes the query as the client sent it, still encoded: joined without encoding
    /// again.
    fn query(&self, r: &Reader<'_>, _in_path: Option<&str>) -> Result<String, EventError> {
        let pairs = if self.multi_value {
            r.multi_or_single("multiValueQueryStringParameters", "queryStringParameters")?
        } else {
            r.pairs("queryStringParameters", false)?
        };
        Ok(join_query(&pairs, false))
    }

    /// `statusDescription`, the whole status line, beside the code; the headers in the mode's
    /// map.
    fn reply_head(&self, head: &ResponseHead) -> serde_json::Map<String, JsonValue> {
        let mut reply = status_only(head);
        reply.insert("statusDescription".into(), json!(head.status.line));
        if self.multi_value {
            reply.insert(
                "multiValueHeaders".into(),
                JsonValue::Object(multi_value_headers(head)),
            );
        } else {
            reply.insert(
                "headers".into(),
                JsonValue::Object(single_value_headers(head)),
            );
        }
        reply
    }
}

/// The event an ALB in single-value mode (its default) sends for `req`: of a repeated header or
/// query key only the last value, names lower-cased, and the client's address appended to
/// X-Forwarded-For.
pub(crate) fn via_event(req: &ViaRequest, _ctx: &InvocationContext) -> CrateResult<JsonValue> {
    let mut hmap = serde_json::Map::new();
    for (n, v) in &req.forwarded_headers(false) {
        hmap.insert(n.to_ascii_lowercase(), json!(v));
    }
    hmap.insert("x-forwarded-for".into(), json!(CLIENT_IP));
    let mut qs = serde_json::Map::new();
    for (k, v) in &req.query_pairs {
        qs.insert(k.clone(), json!(v));
    }
    Ok(json!({
        "requestContext": {"elb": {"targetGroupArn":
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/rwsgi-local/0123456789abcdef"}},
        "httpMethod": req.method,
        "path": req.raw_path,
        "queryStringParameters": qs,
        "headers": hmap,
        "body": req.body_field(false),
        "isBase64Encoded": req.body_base64
    }))
}
