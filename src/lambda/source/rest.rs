//! API Gateway payload format 1.0: a REST API's Lambda proxy integration, and an HTTP API
//! integration set to payload 1.0, which sends the same shape
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html,
//! https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
//! Also the API Gateway events that reach a function but are not HTTP requests.

use serde_json::{Value as JsonValue, json};

use super::Source;
use super::common::{
    CLIENT_IP, Door, EventPath, Reader, ViaRequest, form_decode, header_bytes, join_query,
    multi_value_headers, present, push_multi, split_host, status_only,
};
use super::{EventError, http_api};
use crate::error::{Error, Result as CrateResult};
use crate::http::{self, ResponseHead};
use crate::json::Value;
use crate::lambda::InvocationContext;

/// Whether `event` is an API Gateway event that is not an HTTP request.
///
/// A Lambda authorizer's input (REST TOKEN and REQUEST, HTTP API payload 1.0 with `methodArn`
/// and 2.0 with `routeArn`) carries the request it guards, but asks for a policy or a yes/no,
/// not a response: it is never the app's request.
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html
///
/// WebSocket API events (connect, messages, disconnect, with `requestContext.eventType` and
/// `connectionId`) are not HTTP requests either.
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-integrations.html
pub(super) fn not_a_request(event: &Value) -> bool {
    let in_context = |key: &str| present(event, "requestContext").and_then(|c| present(c, key));
    let authorizer = matches!(
        event.get("type").and_then(Value::as_str),
        Some("REQUEST" | "TOKEN")
    ) && (present(event, "methodArn").is_some()
        || present(event, "routeArn").is_some());
    authorizer || in_context("eventType").is_some() || in_context("connectionId").is_some()
}

/// A payload 1.0 event has `httpMethod`; an HTTP API's says `"version": "1.0"`, a REST API's
/// has no version.
pub(super) fn detect(event: &Value) -> Option<Source> {
    present(event, "httpMethod")?;
    Some(
        if event.get("version").and_then(Value::as_str) == Some("1.0") {
            Source::HttpApiV1
        } else {
            Source::RestApi
        },
    )
}

/// Payload format 1.0; `http_api` for an HTTP API's, whose path and stage follow HTTP API
/// rules.
pub(crate) struct Payload1 {
    pub http_api: bool,
}

impl Door for Payload1 {
    fn name(&self) -> &'static str {
        if self.http_api {
            "API Gateway HTTP API (payload 1.0)"
        } else {
            "API Gateway REST API"
        }
    }

    fn method<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
        r.str_at("httpMethod")
    }

    /// `multiValueHeaders` holds every value; `headers` only the last of each.
    fn headers(&self, r: &Reader<'_>) -> Result<Vec<(String, Vec<u8>)>, EventError> {
        Ok(header_bytes(
            r.multi_or_single("multiValueHeaders", "headers")?,
        ))
    }

    fn https_only(&self) -> bool {
        true
    }

    fn client_ip(
        &self,
        r: &Reader<'_>,
        _headers: &[(String, Vec<u8>)],
    ) -> Result<Option<String>, EventError> {
        Ok(r.str_at("requestContext.identity.sourceIp")?
            .map(str::to_string))
    }

    /// A REST event's `path` is the resource path as sent, without the stage (only
    /// `requestContext.path` has it). An HTTP API decodes the path before building the event:
    /// `/search/%41` in the event was `/search/%2541` on the wire, and decoding again would
    /// change it.
    fn path<'a>(&self, r: &Reader<'a>) -> Result<EventPath<'a>, EventError> {
        Ok(EventPath {
            raw: r.str_at("path")?.unwrap_or("/"),
            decoded: self.http_api,
            query: None,
        })
    }

    /// A REST API's stage is in the URL only on the API's own execute-api domain, not behind a
    /// custom domain, whose base path mapping picks the stage
    /// (https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-mappings.html).
    /// REST stage names cannot hold `$`: a `$default` here is an HTTP API event sent as REST,
    /// whose stage is not in its URLs.
    fn script_name(&self, stage: &str, host: Option<&str>, path: &mut Vec<u8>) -> Vec<u8> {
        if self.http_api {
            return http_api::strip_named_stage(stage, path);
        }
        let host_name = host.map(|h| split_host(h).0).unwrap_or_default();
        if !stage.is_empty() && !stage.contains('$') && is_execute_api_host(&host_name) {
            format!("/{stage}").into_bytes()
        } else {
            Vec::new()
        }
    }

    /// API Gateway hands over decoded query values; encode them again so that `&`, `=`, `+`
    /// and `%` inside a value keep their meaning.
    fn query(&self, r: &Reader<'_>, _in_path: Option<&str>) -> Result<String, EventError> {
        let pairs =
            r.multi_or_single("multiValueQueryStringParameters", "queryStringParameters")?;
        Ok(join_query(&pairs, true))
    }

    /// `requestContext.identity.userArn`: null unless the route uses IAM authorization
    /// (AWS_IAM), then the signing caller's ARN
    /// (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).
    fn iam_caller(&self, r: &Reader<'_>) -> Option<String> {
        match r.str_at("requestContext.identity.userArn") {
            Ok(Some(arn)) if !arn.is_empty() => Some(arn.to_string()),
            _ => None,
        }
    }

    /// `multiValueHeaders`: every header with its own spelling, repeats as list items.
    fn reply_head(&self, head: &ResponseHead) -> serde_json::Map<String, JsonValue> {
        let mut reply = status_only(head);
        reply.insert(
            "multiValueHeaders".into(),
            JsonValue::Object(multi_value_headers(head)),
        );
        reply
    }
}

/// `abc.execute-api.us-east-1.amazonaws.com` (and the `.com.cn` partitions).
pub(crate) fn is_execute_api_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host.contains(".execute-api.")
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
}

/// The event a REST API's proxy integration sends for `req`, under a `/{proxy+}` resource.
pub(crate) fn via_event(req: &ViaRequest, ctx: &InvocationContext) -> CrateResult<JsonValue> {
    let (stage, path) = stage_and_path(req)?;
    let resource_path =
        String::from_utf8_lossy(&http::percent_decode(path.as_bytes())).into_owned();
    // `/{proxy+}` matches one segment or more; the root is the `/` resource.
    let (resource, path_parameters) = if path == "/" {
        ("/", JsonValue::Null)
    } else {
        (
            "/{proxy+}",
            json!({"proxy": resource_path.trim_start_matches('/')}),
        )
    };
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (n, v) in &req.forwarded_headers(true) {
        single.insert(n.clone(), json!(v));
        push_multi(&mut multi, n, v);
    }
    // API Gateway decodes query keys and values; `queryStringParameters` keeps the last value
    // of a repeated key.
    let (mut qs, mut mqs) = (serde_json::Map::new(), serde_json::Map::new());
    for (k, v) in &req.query_pairs {
        let (k, v) = (form_decode(k), form_decode(v));
        qs.insert(k.clone(), json!(v));
        push_multi(&mut mqs, &k, &v);
    }
    let or_null = |m: serde_json::Map<String, JsonValue>| {
        if m.is_empty() {
            JsonValue::Null
        } else {
            JsonValue::Object(m)
        }
    };
    Ok(json!({
        "resource": resource,
        "path": path,
        "httpMethod": req.method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": or_null(qs),
        "multiValueQueryStringParameters": or_null(mqs),
        "pathParameters": path_parameters,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "rwsgilocal",
            "domainName": req.domain,
            "domainPrefix": req.domain_prefix,
            "extendedRequestId": ctx.aws_request_id,
            "httpMethod": req.method,
            "identity": {"sourceIp": CLIENT_IP, "userAgent": req.user_agent},
            "path": req.raw_path,
            "protocol": "HTTP/1.1",
            "requestId": ctx.aws_request_id,
            "requestTimeEpoch": req.epoch_ms,
            "resourceId": "abc123",
            "resourcePath": resource,
            "stage": stage
        },
        "body": req.body_field(true),
        "isBase64Encoded": req.body_base64
    }))
}

/// A REST API's own execute-api URL names the stage first (`/prod/get`): API Gateway moves it
/// to `requestContext.stage` and gives the rest as `path`, keeping the whole in
/// `requestContext.path`. Behind a custom domain the URL names no stage (the base path mapping
/// picks one), and `path` is the URL's path as sent.
fn stage_and_path(req: &ViaRequest) -> CrateResult<(String, String)> {
    if !is_execute_api_host(&req.domain) {
        return Ok(("prod".to_string(), req.raw_path.clone()));
    }
    let rest = req.raw_path.trim_start_matches('/');
    let (stage, rest) = rest.split_once('/').unwrap_or((rest, ""));
    if stage.is_empty() {
        return Err(Error::Usage(format!(
            "a REST API URL on its execute-api domain starts with the stage \
             (https://{}/STAGE/...), but {:?} names none",
            req.domain, req.raw_path
        )));
    }
    Ok((stage.to_string(), format!("/{rest}")))
}
