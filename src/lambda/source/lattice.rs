//! VPC Lattice, event versions 1 and 2
//! (https://docs.aws.amazon.com/vpc-lattice/latest/ug/lambda-functions.html). Version 1 has
//! snake_case fields (`raw_path`, `query_string_parameters`, `is_base64_encoded`); version 2
//! has camelCase ones and multi-value maps. Both give the path with its query, still encoded.

use serde_json::{Value as JsonValue, json};

use super::common::{
    CLIENT_IP, Door, EventPath, Reader, ViaRequest, header_bytes, join_query, present, push_multi,
    single_value_headers, status_only, value_at,
};
use super::{EventError, Source};
use crate::error::Result as CrateResult;
use crate::http::ResponseHead;
use crate::json::Value;
use crate::lambda::InvocationContext;

/// Version 2: `"version": "2.0"`, `method`, and the service's or network's ARN in
/// `requestContext`.
pub(super) fn detect_v2(event: &Value) -> Option<Source> {
    let v2 = event.get("version").and_then(Value::as_str) == Some("2.0")
        && present(event, "method").is_some()
        && (value_at(event, "requestContext.serviceArn").is_some()
            || value_at(event, "requestContext.serviceNetworkArn").is_some());
    v2.then_some(Source::LatticeV2)
}

/// Version 1: `raw_path` and `method`.
pub(super) fn detect_v1(event: &Value) -> Option<Source> {
    (present(event, "raw_path").is_some() && present(event, "method").is_some())
        .then_some(Source::LatticeV1)
}

/// The query: the map when it has pairs (values still encoded, joined as they are), else what
/// the path carried after `?`.
fn query_or_path(pairs: &[(String, String)], in_path: Option<&str>) -> String {
    if pairs.is_empty() {
        in_path.unwrap_or("").to_string()
    } else {
        join_query(pairs, false)
    }
}

/// Lattice's reply: `headers`, one per name, `Set-Cookie` never joined.
fn reply_head(head: &ResponseHead) -> serde_json::Map<String, JsonValue> {
    let mut reply = status_only(head);
    reply.insert(
        "headers".into(),
        JsonValue::Object(single_value_headers(head)),
    );
    reply
}

pub(crate) struct LatticeV1;

impl Door for LatticeV1 {
    fn name(&self) -> &'static str {
        "VPC Lattice (v1)"
    }

    fn method<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
        r.str_at("method")
    }

    fn headers(&self, r: &Reader<'_>) -> Result<Vec<(String, Vec<u8>)>, EventError> {
        Ok(header_bytes(r.pairs("headers", false)?))
    }

    fn path<'a>(&self, r: &Reader<'a>) -> Result<EventPath<'a>, EventError> {
        Ok(EventPath::split_query(r.str_at("raw_path")?.unwrap_or("/")))
    }

    fn query(&self, r: &Reader<'_>, in_path: Option<&str>) -> Result<String, EventError> {
        let pairs = r.pairs("query_string_parameters", false)?;
        Ok(query_or_path(&pairs, in_path))
    }

    /// Version 1 spells its fields in snake_case.
    fn base64_field(&self) -> &'static str {
        "is_base64_encoded"
    }

    fn reply_head(&self, head: &ResponseHead) -> serde_json::Map<String, JsonValue> {
        reply_head(head)
    }
}

pub(crate) struct LatticeV2;

impl Door for LatticeV2 {
    fn name(&self) -> &'static str {
        "VPC Lattice (v2)"
    }

    fn method<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
        r.str_at("method")
    }

    /// Lists of values; an older published shape of the event has plain strings.
    fn headers(&self, r: &Reader<'_>) -> Result<Vec<(String, Vec<u8>)>, EventError> {
        Ok(header_bytes(r.pairs_as("headers", true, true)?))
    }

    fn path<'a>(&self, r: &Reader<'a>) -> Result<EventPath<'a>, EventError> {
        Ok(EventPath::split_query(r.str_at("path")?.unwrap_or("/")))
    }

    /// The older published shape names the map `query_string_parameters`, as v1 does.
    fn query(&self, r: &Reader<'_>, in_path: Option<&str>) -> Result<String, EventError> {
        let pairs = if present(r.event, "queryStringParameters").is_some() {
            r.pairs_as("queryStringParameters", true, true)?
        } else {
            r.pairs_as("query_string_parameters", true, true)?
        };
        Ok(query_or_path(&pairs, in_path))
    }

    fn reply_head(&self, head: &ResponseHead) -> serde_json::Map<String, JsonValue> {
        reply_head(head)
    }
}

/// The event VPC Lattice (version 2) sends for `req`: names lower-cased, every value in a list,
/// the client's address appended to X-Forwarded-For.
pub(crate) fn via_event(req: &ViaRequest, _ctx: &InvocationContext) -> CrateResult<JsonValue> {
    let mut hmap = serde_json::Map::new();
    for (n, v) in &req.forwarded_headers(false) {
        push_multi(&mut hmap, &n.to_ascii_lowercase(), v);
    }
    push_multi(&mut hmap, "x-forwarded-for", CLIENT_IP);
    let mut qs = serde_json::Map::new();
    for (k, v) in &req.query_pairs {
        push_multi(&mut qs, k, v);
    }
    Ok(json!({
        "version": "2.0",
        "path": req.raw_path,
        "method": req.method,
        "headers": hmap,
        "queryStringParameters": qs,
        "body": req.body_field(true),
        "isBase64Encoded": req.body_base64,
        "requestContext": {
            "serviceNetworkArn": "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0123456789abcdef0",
            "serviceArn": "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0",
            "targetGroupArn": "arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-0123456789abcdef0",
            "identity": {"sourceVpcArn": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0123456789abcdef0"},
            "region": "us-east-1",
            "timeEpoch": (u128::from(req.epoch_ms) * 1000).to_string()
        }
    }))
}
