//! The Lambda front doors: which one sent an event, and for each, its event -> [`Request`],
//! [`Response`](crate::http::Response) -> its reply head, and the event `rwsgi call --via`
//! builds for it, side by side in the door's own file:
//!
//! - [`rest`]: API Gateway payload format 1.0 (REST APIs, and HTTP APIs set to 1.0), and the
//!   API Gateway events that are not requests (authorizer inputs, WebSocket events);
//! - [`http_api`]: API Gateway HTTP APIs, payload format 2.0;
//! - [`function_url`]: Lambda function URLs (payload 2.0, with their own path rule);
//! - [`alb`]: Application Load Balancer target groups, single- and multi-value;
//! - [`lattice`]: VPC Lattice, event versions 1 and 2.
//!
//! What every door shares (reading fields with a precise 400 for a bad one, host and port,
//! scheme, `SCRIPT_NAME` and the base path, header and query maps, body decoding, the client
//! address, the header maps of a reply, the request as the `--via` builders read it) is
//! `common.rs`: a door says where its event keeps each part of the request, and one normaliser
//! there builds the request from those parts in one fixed order. Adding a door
//! means its file, a [`Source`] variant, and its place in [`detect`]; adding a field of one
//! door's event touches that door's file only.
//!
//! Events are read as JSON values ([`crate::json`], with key order kept) rather than typed
//! structs: the rules need the event's own order of query keys, its header letter cases, and a
//! clear 400 for a field of the wrong type instead of a default.

pub(crate) mod alb;
pub(crate) mod common;
pub(crate) mod function_url;
pub(crate) mod http_api;
pub(crate) mod lattice;
pub(crate) mod rest;

use crate::http::{Request, ResponseHead};
use crate::json::Value;

use common::Door;

/// The front door that sent an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// API Gateway REST API, Lambda proxy integration (payload 1.0).
    RestApi,
    /// API Gateway HTTP API, payload format 1.0.
    HttpApiV1,
    /// API Gateway HTTP API, payload format 2.0.
    HttpApiV2,
    /// A Lambda function URL (payload 2.0).
    FunctionUrl,
    /// An Application Load Balancer target group.
    Alb { multi_value: bool },
    /// VPC Lattice, event version 1.
    LatticeV1,
    /// VPC Lattice, event version 2.
    LatticeV2,
}

impl Source {
    /// Every front door, each shape of ALB event included.
    pub const ALL: [Source; 8] = [
        Source::RestApi,
        Source::HttpApiV1,
        Source::HttpApiV2,
        Source::FunctionUrl,
        Source::Alb { multi_value: true },
        Source::Alb { multi_value: false },
        Source::LatticeV1,
        Source::LatticeV2,
    ];

    pub fn name(self) -> &'static str {
        self.door().name()
    }

    /// The door's rules.
    fn door(self) -> &'static dyn Door {
        match self {
            Source::RestApi => &rest::Payload1 { http_api: false },
            Source::HttpApiV1 => &rest::Payload1 { http_api: true },
            Source::HttpApiV2 => &http_api::HttpApi,
            Source::FunctionUrl => &function_url::FunctionUrl,
            Source::Alb { multi_value: true } => &alb::Alb { multi_value: true },
            Source::Alb { multi_value: false } => &alb::Alb { multi_value: false },
            Source::LatticeV1 => &lattice::LatticeV1,
            Source::LatticeV2 => &lattice::LatticeV2,
        }
    }

    /// The reply's status and headers in this door's shape; `crate::lambda::reply` adds the
    /// body.
    pub(crate) fn reply_head(
        self,
        head: &ResponseHead,
    ) -> serde_json::Map<String, serde_json::Value> {
        self.door().reply_head(head)
    }
}

/// Which source sent `event`, checking in a fixed order: local tools add stray keys (one sends
/// a top-level `httpMethod` on 2.0 events), and the order keeps those working. `None` for an
/// event that is not an HTTP request.
pub fn detect(event: &Value) -> Option<Source> {
    if !event.is_object() || rest::not_a_request(event) {
        return None;
    }
    alb::detect(event)
        .or_else(|| function_url::detect(event))
        .or_else(|| http_api::detect(event))
        .or_else(|| lattice::detect_v2(event))
        .or_else(|| rest::detect(event))
        .or_else(|| lattice::detect_v1(event))
}

/// Why an event cannot be turned into a request: answered with a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {source_name} event: {why}")]
pub struct EventError {
    pub source_name: &'static str,
    pub why: String,
}

/// Settings that change the translation (`RWSGI_BASE_PATH`, Managed Instances' workers).
#[derive(Debug, Clone, Default)]
pub struct EventOptions {
    /// A path prefix moved from `PATH_INFO` to `SCRIPT_NAME` (e.g. `/v1` behind a custom
    /// domain's base path mapping).
    pub base_path: Option<String>,
    /// `wsgi.multiprocess`: true when forked workers share the app (Managed Instances), since
    /// PEP 3333 has it true when "an equivalent application object may be simultaneously
    /// invoked by another process".
    pub multiprocess: bool,
}

/// Builds the request for `event`, sent by `source`.
pub fn to_request(
    event: &Value,
    source: Source,
    options: &EventOptions,
) -> Result<Request, EventError> {
    common::to_request(source.door(), event, options)
}
