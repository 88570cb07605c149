//! AWS's own types as the schema oracle: `aws_lambda_events`, the event and response types of
//! AWS's Rust runtime, must read every event `rwsgi call --via` builds and every reply rwsgi
//! builds, for the front door in question. A field AWS's type needs that the service does not
//! (or a shape it refuses that the service takes) is adjusted here, each with the documentation
//! that shows the service's own rule, so that the oracle checks everything else.

use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupResponse};
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::vpc_lattice::{
    VpcLatticeRequestV1, VpcLatticeRequestV2, VpcLatticeResponse,
};
use rwsgi::lambda::source::Source;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn reads<T: DeserializeOwned>(what: &str, value: Value) -> Result<(), String> {
    let text = value.to_string();
    serde_json::from_value::<T>(value)
        .map(drop)
        .map_err(|e| format!("{what} does not read it: {e}\n{text}"))
}

/// The keys each door's reply may have. AWS's types are looser here than AWS: serde skips
/// keys it does not know, where API Gateway's REST API answers a reply with any other key 502
/// "Malformed Lambda proxy response" ("Output format of a Lambda function for proxy
/// integration", API Gateway developer guide); the others document these keys and no more.
fn documented_keys(source: Source) -> &'static [&'static str] {
    match source {
        Source::RestApi | Source::HttpApiV1 => &[
            "statusCode",
            "headers",
            "multiValueHeaders",
            "body",
            "isBase64Encoded",
        ],
        // "Working with AWS Lambda proxy integrations for HTTP APIs", format 2.0.
        Source::HttpApiV2 => &[
            "statusCode",
            "headers",
            "multiValueHeaders",
            "body",
            "isBase64Encoded",
            "cookies",
        ],
        // "Invoking Lambda function URLs", response payload format.
        Source::FunctionUrl => &[
            "statusCode",
            "headers",
            "body",
            "isBase64Encoded",
            "cookies",
        ],
        // "Lambda functions as targets" (Elastic Load Balancing), response format.
        Source::Alb { .. } => &[
            "statusCode",
            "statusDescription",
            "headers",
            "multiValueHeaders",
            "body",
            "isBase64Encoded",
        ],
        // "Lambda functions as targets" (VPC Lattice), response format.
        Source::LatticeV1 | Source::LatticeV2 => &[
            "statusCode",
            "statusDescription",
            "headers",
            "body",
            "isBase64Encoded",
        ],
    }
}

/// The reply deserializes into AWS's response type for `source`, with no key its door does not
/// document. Both `ApiGatewayV2httpResponse` and `LambdaFunctionUrlResponse` are stricter than
/// the services in needing `cookies` (and the latter `isBase64Encoded`), which the services'
/// docs list as optional; rwsgi always sends both, so the oracle holds it to that.
pub fn reply_fits(source: Source, reply: &Value) -> Result<(), String> {
    let Some(object) = reply.as_object() else {
        return Err(format!("the reply is not a JSON object: {reply}"));
    };
    let allowed = documented_keys(source);
    if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "{} replies have no key {key:?}: {reply}",
            source.name()
        ));
    }
    let reply = reply.clone();
    match source {
        Source::RestApi | Source::HttpApiV1 => {
            reads::<ApiGatewayProxyResponse>("ApiGatewayProxyResponse", reply)
        }
        Source::HttpApiV2 => reads::<ApiGatewayV2httpResponse>("ApiGatewayV2httpResponse", reply),
        Source::FunctionUrl => {
            reads::<LambdaFunctionUrlResponse>("LambdaFunctionUrlResponse", reply)
        }
        Source::Alb { .. } => reads::<AlbTargetGroupResponse>("AlbTargetGroupResponse", reply),
        Source::LatticeV1 | Source::LatticeV2 => {
            reads::<VpcLatticeResponse>("VpcLatticeResponse", reply)
        }
    }
}

/// The event deserializes into AWS's request type for `source`.
pub fn event_fits(source: Source, event: &Value) -> Result<(), String> {
    let event = event.clone();
    match source {
        Source::RestApi | Source::HttpApiV1 => {
            reads::<ApiGatewayProxyRequest>("ApiGatewayProxyRequest", event)
        }
        Source::HttpApiV2 => reads::<ApiGatewayV2httpRequest>("ApiGatewayV2httpRequest", event),
        Source::FunctionUrl => reads::<LambdaFunctionUrlRequest>("LambdaFunctionUrlRequest", event),
        Source::Alb { .. } => reads::<AlbTargetGroupRequest>("AlbTargetGroupRequest", event),
        Source::LatticeV1 => reads::<VpcLatticeRequestV1>("VpcLatticeRequestV1", event),
        Source::LatticeV2 => reads::<VpcLatticeRequestV2>("VpcLatticeRequestV2", event),
    }
}
