//! Integration tests of the Lambda runtime loop (docs/lambda.md#errors and docs/lambda.md#the-runtime,
//! docs/cli.md): the built binary runs as a custom runtime against the project's own fake
//! Runtime API (`tests/support/runtime_api.rs`), with the apps of `tests/apps/` as the
//! function's code, and each test looks at what rwsgi posted back and wrote to its log.

use std::time::Duration;

use crate::support::runtime_api::{
    FNV_START, Failure, FakeRuntimeApi, Invocation, PostKind, Posted, fnv1a, now_ms,
};
use crate::util::{self, Cmd, Running, apps_dir, temp_path};
use base64::Engine as _;
use serde_json::{Value, json};

/// The longest any single wait may take before a test gives up: far beyond what a working
/// rwsgi needs, there only so that a broken one fails instead of hanging.
const WAIT: Duration = Duration::from_secs(30);

/// The function's settings, as Lambda sets them in the environment.
const FUNCTION_NAME: &str = "rwsgi-test";
const FUNCTION_VERSION: &str = "7";
const MEMORY_MB: &str = "512";
const LOG_GROUP: &str = "/aws/lambda/rwsgi-test";
const LOG_STREAM: &str = "2026/11/21/[7]0123456789abcdef0123456789abcdef";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:rwsgi-test";

/// A `Lambda-Runtime-Client-Context` as the AWS Mobile SDK sends it.
const MOBILE_CLIENT_CONTEXT: &str = r#"{"client":{"installation_id":"a3d4b6c2-0000-4d9e-9f00-1234567890ab","app_title":"Notes","app_version_name":"1.2.0","app_version_code":"120","app_package_name":"com.example.notes"},"custom":{"theme":"dark"},"env":{"platform":"Android","platform_version":"14","make":"Google","model":"Pixel 8","locale":"en_US"}}"#;

/// A request id in the UUID form Lambda uses, unique to `n`.
fn request_id(n: u64) -> String {
    format!("8476a536-e9f4-11e8-9739-{n:012x}")
}

// ---------------------------------------------------------------------------------------------
// The rwsgi process

/// `rwsgi` with no subcommand, pointed at `api` by `AWS_LAMBDA_RUNTIME_API` (which is how it
/// knows it runs on Lambda), with the function's code in `tests/apps`: a clean environment with
/// what Lambda defines.
fn function(api: &FakeRuntimeApi) -> Cmd {
    util::rwsgi(Vec::<String>::new())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("LAMBDA_TASK_ROOT", apps_dir())
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", FUNCTION_VERSION)
        .env("AWS_LAMBDA_LOG_GROUP_NAME", LOG_GROUP)
        .env("AWS_LAMBDA_LOG_STREAM_NAME", LOG_STREAM)
        .env("AWS_REGION", "us-east-1")
}

/// What these tests add to the harness's command: the app, and the start as a [`Function`].
trait Launch {
    fn app(self, spec: &str) -> Cmd;
    fn start(self) -> Function;
}

impl Launch for Cmd {
    fn app(self, spec: &str) -> Cmd {
        self.env("RWSGI_APP", spec)
    }

    fn start(self) -> Function {
        Function {
            process: self.spawn(),
        }
    }
}

/// A running rwsgi; killed when dropped, so no test leaves one behind.
struct Function {
    process: Running,
}

impl Function {
    fn stderr(&self) -> String {
        self.process.stderr()
    }

    fn stdout(&self) -> String {
        self.process.stdout()
    }

    fn dump(&self) -> String {
        format!(
            "--- rwsgi stdout:\n{}\n--- rwsgi stderr:\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// stderr once it holds `fragment`. The pipe is read by another thread, so a line rwsgi
    /// wrote before posting a result may arrive here a moment after the result does.
    fn wait_stderr(&self, fragment: &str) -> String {
        self.wait_stderr_where(&format!("{fragment:?}"), |text| text.contains(fragment))
    }

    /// stderr once `check` holds for it; `what` describes the wait for a failure message.
    fn wait_stderr_where(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.process.wait_stderr(what, check)
    }

    /// The result rwsgi posted for `id`; fails the test when none comes.
    fn result(&self, api: &FakeRuntimeApi, id: &str) -> Posted {
        api.wait_for(id, WAIT).unwrap_or_else(|| {
            panic!(
                "rwsgi posted no result for {id} within {WAIT:?}\nposted: {:?}\n{}",
                api.posted()
                    .iter()
                    .map(|p| (p.kind, p.request_id.clone()))
                    .collect::<Vec<_>>(),
                self.dump()
            )
        })
    }

    /// Queues `invocation` and returns what rwsgi posted for it.
    fn invoke(&self, api: &FakeRuntimeApi, invocation: Invocation) -> Posted {
        let id = invocation.request_id.clone();
        api.push(invocation);
        self.result(api, &id)
    }

    /// The reply JSON rwsgi posted to `/response` for `invocation`.
    fn reply(&self, api: &FakeRuntimeApi, invocation: Invocation) -> Value {
        let posted = self.invoke(api, invocation);
        assert_eq!(
            posted.kind,
            PostKind::Response,
            "expected a /response, got {:?}: {}\n{}",
            posted.kind,
            String::from_utf8_lossy(&posted.body),
            self.dump()
        );
        assert_eq!(posted.error_type, None, "{}", self.dump());
        posted.json()
    }

    /// The exit code, waiting for the process to end; kills it and fails the test when it
    /// does not end in time.
    fn wait_exit(&mut self) -> Option<i32> {
        self.process.wait_exit(WAIT)
    }

    fn assert_running(&mut self) {
        assert!(self.process.running(), "rwsgi exited\n{}", self.dump());
    }
}

// ---------------------------------------------------------------------------------------------
// Events, in the shapes AWS documents

/// An API Gateway HTTP API payload 2.0 event ("Working with AWS Lambda proxy integrations for
/// HTTP APIs", API Gateway developer guide).
fn http_v2(method: &str, path: &str, query: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "accept": "*/*",
            "content-length": "0",
            "host": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e",
            "x-forwarded-for": "205.255.255.176",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "r3pmxmplak",
            "domainName": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "r3pmxmplak",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "205.255.255.176",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "10/Mar/2020:05:16:23 +0000",
            "timeEpoch": 1_583_817_383_220u64
        },
        "isBase64Encoded": false
    })
}

/// `GET path?query` as an HTTP API 2.0 event.
fn get(path: &str, query: &str) -> Value {
    http_v2("GET", path, query)
}

/// An API Gateway REST API proxy event ("Input format of a Lambda function for proxy
/// integration", API Gateway developer guide), without a body.
fn rest_v1(method: &str, path: &str) -> Value {
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {
            "Accept": "*/*",
            "Host": "api.example.com",
            "User-Agent": "curl/8.5.0",
            "X-Forwarded-For": "198.51.100.23, 130.176.0.1",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https"
        },
        "multiValueHeaders": {
            "Accept": ["*/*"],
            "Host": ["api.example.com"],
            "User-Agent": ["curl/8.5.0"],
            "X-Forwarded-For": ["198.51.100.23, 130.176.0.1"],
            "X-Forwarded-Port": ["443"],
            "X-Forwarded-Proto": ["https"]
        },
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "1234567890",
            "domainName": "api.example.com",
            "extendedRequestId": "EXAMPLE-EXT-ID=",
            "httpMethod": method,
            "identity": {"sourceIp": "198.51.100.23", "userAgent": "curl/8.5.0"},
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTimeEpoch": 1_428_582_896_000u64,
            "resourceId": "123456",
            "resourcePath": "/{proxy+}",
            "stage": "prod"
        },
        "body": null,
        "isBase64Encoded": false
    })
}

/// An SQS event ("Using Lambda with Amazon SQS", AWS Lambda developer guide): not HTTP.
fn sqs_event() -> Value {
    json!({
        "Records": [{
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
            "body": "test message \u{e9}",
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1545082649183",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082649185"
            },
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:my-queue",
            "awsRegion": "us-east-1"
        }]
    })
}

/// An EventBridge event ("Amazon EventBridge events", EventBridge user guide): not HTTP.
fn eventbridge_event(id: &str) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-21T06:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/every-hour"],
        "detail": {}
    })
}

/// The reply rwsgi sends for an HTTP API 2.0 event when the app failed (spec section 4).
fn internal_error_v2() -> Value {
    json!({
        "statusCode": 500,
        "headers": {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Length": "26"
        },
        "cookies": [],
        "body": "500 Internal Server Error\n",
        "isBase64Encoded": false
    })
}

/// The bytes binary.py sends for `?size=N`.
fn binary_pattern(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (((i * 131) ^ (i >> 8)) & 0xFF) as u8)
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The body of a reply, base64-decoded when the reply says so.
fn reply_body(reply: &Value) -> Vec<u8> {
    let text = reply["body"].as_str().expect("the reply has a string body");
    if reply["isBase64Encoded"] == json!(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("the reply's body is base64")
    } else {
        text.as_bytes().to_vec()
    }
}

/// The 1-based line of `apps/file` that contains `marker`.
fn line_of(file: &str, marker: &str) -> usize {
    let text = std::fs::read_to_string(apps_dir().join(file)).expect("read an app");
    text.lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{marker:?} is not in {file}"))
        + 1
}

/// Non-empty lines of `text`.
fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

// ---------------------------------------------------------------------------------------------
// Init

/// Checks an `/init/error` post: the header, the body's three fields, and that rwsgi then
/// exits with status 1 without ever asking for an event.
fn assert_init_error(
    api: &FakeRuntimeApi,
    rwsgi: &mut Function,
    error_type: &str,
) -> (String, Vec<String>) {
    let posted = api
        .wait_init_error(WAIT)
        .unwrap_or_else(|| panic!("no /runtime/init/error within {WAIT:?}\n{}", rwsgi.dump()));
    assert_eq!(posted.request_id, None);
    assert_eq!(
        posted.error_type.as_deref(),
        Some(error_type),
        "{}",
        rwsgi.dump()
    );
    assert_eq!(posted.answered, 202);
    let body = posted.json();
    let Value::Object(fields) = &body else {
        panic!("the init error body is not an object: {body}");
    };
    let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["errorMessage", "errorType", "stackTrace"], "{body}");
    assert_eq!(body["errorType"], json!(error_type), "{body}");
    let message = body["errorMessage"]
        .as_str()
        .unwrap_or_else(|| panic!("errorMessage is not a string: {body}"))
        .to_string();
    let stack: Vec<String> = body["stackTrace"]
        .as_array()
        .unwrap_or_else(|| panic!("stackTrace is not a list: {body}"))
        .iter()
        .map(|frame| {
            frame
                .as_str()
                .unwrap_or_else(|| panic!("a stackTrace entry is not a string: {body}"))
                .to_string()
        })
        .collect();
    assert_eq!(rwsgi.wait_exit(), Some(1), "{}", rwsgi.dump());
    // An environment whose init failed never asks for an invocation (Runtime API, "Initialization
    // error").
    assert_eq!(
        api.requests(),
        ["POST /2018-06-01/runtime/init/error"],
        "{}",
        rwsgi.dump()
    );
    (message, stack)
}

#[test]
fn an_app_that_cannot_be_imported_is_reported_to_init_error() {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api).app("broken_import").start();
    let (message, stack) = assert_init_error(&api, &mut rwsgi, "Runtime.ImportModuleError");
    assert!(
        message.contains("No module named 'definitely_missing_dependency'"),
        "{message:?}"
    );
    let line = line_of("broken_import.py", "import definitely_missing_dependency");
    assert!(
        stack
            .iter()
            .any(|frame| frame.contains(&format!("broken_import.py\", line {line},"))),
        "no frame of broken_import.py line {line} in {stack:?}"
    );
    let stderr = rwsgi.stderr();
    assert!(
        stderr.contains("rwsgi: error: init failed (Runtime.ImportModuleError)"),
        "{}",
        rwsgi.dump()
    );
}

#[test]
fn a_missing_attribute_is_handler_not_found() {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api).app("echo:no_such_app").start();
    let (message, _) = assert_init_error(&api, &mut rwsgi, "Runtime.HandlerNotFound");
    assert!(message.contains("no_such_app"), "{message:?}");
}

#[test]
fn a_missing_handler_attribute_in_the_lambda_form_is_handler_not_found() {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api)
        .env("_HANDLER", "lambda_context.no_such_handler")
        .start();
    let (message, _) = assert_init_error(&api, &mut rwsgi, "Runtime.HandlerNotFound");
    assert!(message.contains("no_such_handler"), "{message:?}");
}

#[test]
fn no_app_at_all_is_an_init_error() {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api).start();
    let (message, stack) = assert_init_error(&api, &mut rwsgi, "Runtime.MalformedHandlerName");
    assert!(message.contains("RWSGI_APP"), "{message:?}");
    assert_eq!(stack, Vec::<String>::new());
}

#[test]
fn the_handler_setting_in_module_function_form_under_rwsgi_lambda() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api)
        .arg("lambda")
        .env("_HANDLER", "lambda_context.handler")
        .start();
    let id = request_id(1);
    let reply = rwsgi.reply(&api, Invocation::new(&id, &get("/", "")));
    assert_eq!(reply["statusCode"], json!(200), "{reply}");
    let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
    assert_eq!(body["via"], json!("handler"));
    assert_eq!(body["context"]["aws_request_id"], json!(id));
}

#[test]
fn rwsgi_app_wins_over_the_handler_setting() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api)
        .app("lambda_context")
        .env("_HANDLER", "lambda_context.handler")
        .start();
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(1), &get("/", "")));
    let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
    assert_eq!(body["via"], json!("application"));
}

#[test]
fn the_app_is_imported_once_during_init() {
    let api = FakeRuntimeApi::start();
    let marker = temp_path("import-once");
    let rwsgi = function(&api)
        .app("marker")
        .env("RWSGI_TEST_MARKER", marker.display().to_string())
        .start();
    // The first `/next` comes once init is over: the app is imported by then, before any event.
    assert!(api.wait_next_requests(1, WAIT), "{}", rwsgi.dump());
    assert_eq!(
        std::fs::read_to_string(&marker).expect("the marker file"),
        "imported\n"
    );
    for n in 1..=3 {
        let reply = rwsgi.reply(&api, Invocation::new(&request_id(n), &get("/", "")));
        assert_eq!(reply_body(&reply), b"marker app called\n");
    }
    assert_eq!(
        std::fs::read_to_string(&marker).expect("the marker file"),
        "imported\ncalled\ncalled\ncalled\n"
    );
    let _ = std::fs::remove_file(&marker);
}

// ---------------------------------------------------------------------------------------------
// What the app sees of the invocation

#[test]
fn the_context_has_the_python_runtime_attributes_and_the_deadline() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_context").start();

    let id = request_id(1);
    let before = now_ms();
    let deadline = before + 300_000;
    let invocation = Invocation::new(&id, &get("/", ""))
        .deadline_ms(deadline)
        .client_context(MOBILE_CLIENT_CONTEXT)
        .cognito_identity(r#"{"cognitoIdentityId":"us-east-1:1","cognitoIdentityPoolId":"p"}"#)
        .tenant_id("tenant-blue");
    let reply = rwsgi.reply(&api, invocation);
    let after = now_ms();
    assert_eq!(reply["statusCode"], json!(200), "{reply}");
    let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
    assert_eq!(
        body["context"],
        json!({
            "aws_request_id": id,
            "function_name": FUNCTION_NAME,
            "function_version": FUNCTION_VERSION,
            "invoked_function_arn": FUNCTION_ARN,
            "memory_limit_in_mb": 512,
            "log_group_name": LOG_GROUP,
            "log_stream_name": LOG_STREAM
        })
    );
    // The headers of the Mobile SDK and of tenant isolation, as awslambdaric shows them.
    assert_eq!(
        body["caller"],
        json!({
            "tenant_id": "tenant-blue",
            "identity": {"cognito_identity_id": "us-east-1:1", "cognito_identity_pool_id": "p"},
            "client_context": {
                "custom": {"theme": "dark"},
                "env": {
                    "platform": "Android",
                    "platform_version": "14",
                    "make": "Google",
                    "model": "Pixel 8",
                    "locale": "en_US"
                },
                "client": {
                    "installation_id": "a3d4b6c2-0000-4d9e-9f00-1234567890ab",
                    "app_title": "Notes",
                    "app_version_name": "1.2.0",
                    "app_version_code": "120",
                    "app_package_name": "com.example.notes"
                }
            }
        })
    );
    // The app asked between `before` and `after`, so the time left lies between these.
    let remaining = body["remaining_ms"].as_u64().expect("an integer");
    assert!(
        (deadline - after..=deadline - before).contains(&remaining),
        "remaining {remaining} ms, expected {}..={}",
        deadline - after,
        deadline - before
    );

    // None of those headers: no tenant, no client context, and an identity object whose ids are
    // None (awslambdaric's `LambdaContext` always has one).
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(3), &get("/", "")));
    let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
    assert_eq!(
        body["caller"],
        json!({
            "tenant_id": null,
            "identity": {"cognito_identity_id": null, "cognito_identity_pool_id": null},
            "client_context": null
        })
    );

    // A deadline already gone: no time left, and never a negative number.
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(2), &get("/", "")).deadline_ms(now_ms() - 5_000),
    );
    let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
    assert_eq!(body["remaining_ms"], json!(0));
    assert_eq!(body["context"]["aws_request_id"], json!(request_id(2)));
}

#[test]
fn any_client_context_leaves_the_deadline_and_arn_alone() {
    // A direct invoke may pass any JSON object as the client context (Invoke API,
    // `ClientContext`); it is no reason to lose the invocation's own headers.
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_context").start();
    let before = now_ms();
    let deadline = before + 300_000;
    let invocation = Invocation::new(&request_id(1), &get("/", ""))
        .deadline_ms(deadline)
        .client_context(r#"{"custom":{"retries":3,"dry_run":true},"env":{"platform":"web"}}"#);
    let reply = rwsgi.reply(&api, invocation);
    let after = now_ms();
    let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
    assert_eq!(
        body["context"]["invoked_function_arn"],
        json!(FUNCTION_ARN),
        "{}",
        rwsgi.dump()
    );
    let remaining = body["remaining_ms"].as_u64().expect("an integer");
    assert!(
        (deadline - after..=deadline - before).contains(&remaining),
        "remaining {remaining} ms, expected {}..={}\n{}",
        deadline - after,
        deadline - before,
        rwsgi.dump()
    );
}

#[test]
fn mobile_sdk_headers_that_are_not_json_objects_are_left_out_with_a_warning() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_context").start();
    let invocation = Invocation::new(&request_id(1), &get("/", ""))
        .client_context("not json")
        .cognito_identity("[1, 2]");
    let reply = rwsgi.reply(&api, invocation);
    let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
    assert_eq!(
        body["caller"],
        json!({
            "tenant_id": null,
            "identity": {"cognito_identity_id": null, "cognito_identity_pool_id": null},
            "client_context": null
        })
    );
    let stderr = rwsgi.wait_stderr("Lambda-Runtime-Cognito-Identity is not a JSON object");
    assert!(
        stderr.contains("rwsgi: warning: Lambda-Runtime-Client-Context is not a JSON object"),
        "{}",
        rwsgi.dump()
    );
}

#[test]
fn an_emulator_without_a_deadline_or_the_function_variables_still_works() {
    // Some local emulators send no Lambda-Runtime-Deadline-Ms and define none of the
    // AWS_LAMBDA_FUNCTION_* variables (lambda_runtime 1.5 panics on either).
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api)
        .app("lambda_context")
        .env_remove_where(|k| {
            let k = k.to_string_lossy();
            k.starts_with("AWS_LAMBDA_FUNCTION_") || k.starts_with("AWS_LAMBDA_LOG_")
        })
        .start();
    for n in 1..=2 {
        let invocation = Invocation::new(&request_id(n), &get("/", "")).without_deadline();
        let reply = rwsgi.reply(&api, invocation);
        assert_eq!(reply["statusCode"], json!(200), "{}", rwsgi.dump());
        let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
        assert_eq!(body["remaining_ms"], json!(0));
        assert_eq!(body["context"]["function_name"], json!(""));
        assert_eq!(body["context"]["memory_limit_in_mb"], json!(0));
    }
    assert!(!rwsgi.stderr().contains("panicked"), "{}", rwsgi.dump());
    rwsgi.assert_running();
}

#[test]
fn rwsgi_event_is_the_whole_event_as_python_objects() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_context").start();
    let mut event = get("/caf\u{e9}", "a=1&a=2");
    event["pathParameters"] = json!({"proxy": "caf\u{e9}"});
    event["stageVariables"] = Value::Null;
    event["requestContext"]["authorizer"] = json!({
        "jwt": {"claims": {"sub": "user-1", "scope": ["a", "b"]}, "scopes": null}
    });
    event["extra"] = json!({"int": 3, "float": 1.5, "true": true, "false": false, "empty": [], "nested": [[1], {"k": "v"}], "snow": "\u{2603}"});
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(1), &event));
    let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
    assert_eq!(body["event_type"], json!("dict"));
    assert_eq!(body["event"], event);
}

/// rwsgi keeps the Python strings of values that recur from one invocation to the next and
/// shares them: each invocation must still see its own values, whether a value is new, the
/// same as before, back after another, not ASCII (decoded as UTF-8 in `rwsgi.event` and as
/// latin-1 in the environ, so never shared between the two), or longer than what is kept.
#[test]
fn values_repeated_across_invocations_are_each_invocations_own() {
    let api = FakeRuntimeApi::start();
    let echo = function(&api).app("echo").start();
    let long = "x".repeat(65);
    let agents = [
        "curl/8.5.0",
        "curl/8.5.0",
        "caf\u{e9}/1.0",
        "curl/8.5.0",
        "caf\u{e9}/1.0",
        long.as_str(),
        "GET",
        long.as_str(),
        "curl/8.6.0",
    ];
    for (n, agent) in agents.iter().enumerate() {
        let mut event = get("/", "");
        event["headers"]["user-agent"] = json!(agent);
        let reply = echo.reply(&api, Invocation::new(&request_id(n as u64), &event));
        let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
        // PEP 3333: the header's bytes, one character each (its UTF-8 bytes as latin-1).
        let latin1: String = agent.bytes().map(char::from).collect();
        assert_eq!(body["HTTP_USER_AGENT"], json!(latin1), "invocation {n}");
        assert_eq!(body["REQUEST_METHOD"], json!("GET"), "invocation {n}");
    }
    let api = FakeRuntimeApi::start();
    let context = function(&api).app("lambda_context").start();
    for (n, agent) in agents.iter().enumerate() {
        let mut event = get("/", "");
        event["headers"]["user-agent"] = json!(agent);
        event["requestContext"]["http"]["userAgent"] = json!(agent);
        event["requestContext"]["requestId"] = json!(format!("id-{n}"));
        let reply = context.reply(&api, Invocation::new(&request_id(100 + n as u64), &event));
        let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
        assert_eq!(body["event"], event, "invocation {n}");
    }
}

#[test]
fn the_trace_id_is_set_per_invocation_and_removed_when_absent() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_context").start();
    let traces = [
        Some("Root=1-67891233-abcdef012345678912345678;Parent=0123456789abcdef;Sampled=1"),
        Some("Root=1-67891234-000000000000000000000001;Parent=fedcba9876543210;Sampled=0"),
        None,
        Some("Root=1-67891235-000000000000000000000002;Sampled=1;Lineage=a87bd80c:0"),
    ];
    for (n, trace) in traces.into_iter().enumerate() {
        let invocation = Invocation::new(&request_id(n as u64), &get("/", "")).trace_id(trace);
        let reply = rwsgi.reply(&api, invocation);
        let body: Value = serde_json::from_slice(&reply_body(&reply)).expect("JSON body");
        assert_eq!(body["trace_id"], json!(trace), "invocation {n}");
    }
}

// ---------------------------------------------------------------------------------------------
// The loop and its answers

#[test]
fn each_accepted_result_is_followed_by_the_next_invocation() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();
    // Statuses 200 to 203, each with its body (a 204 would have none: RFC 9110 section 6.4.1).
    let ids: Vec<String> = (1..=4).map(request_id).collect();
    // Queued together: rwsgi takes them one at a time, in order.
    for (n, id) in ids.iter().enumerate() {
        api.push(Invocation::new(
            id,
            &get("/status", &format!("code={}", 200 + n)),
        ));
    }
    let posted = api
        .wait_posted(ids.len(), WAIT)
        .unwrap_or_else(|| panic!("not all answered\n{}", rwsgi.dump()));
    assert_eq!(api.handed_out(), ids);
    for (n, (posted, id)) in posted.iter().zip(&ids).enumerate() {
        assert_eq!(posted.kind, PostKind::Response);
        assert_eq!(posted.request_id.as_deref(), Some(id.as_str()));
        assert_eq!(posted.answered, 202);
        assert_eq!(posted.content_type.as_deref(), Some("application/json"));
        let reply = posted.json();
        assert_eq!(reply["statusCode"], json!(200 + n));
        assert_eq!(reply["body"], json!(format!("status {}\n", 200 + n)));
    }
    // And it asks for the next one.
    assert!(
        api.wait_next_requests(ids.len() + 1, WAIT),
        "{}",
        rwsgi.dump()
    );
}

#[test]
fn an_event_handler_that_raises_is_an_invocation_error() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api)
        .app("lambda_router")
        .env("RWSGI_EVENT_HANDLER", "lambda_events:fail")
        .start();
    let id = request_id(1);
    let posted = rwsgi.invoke(&api, Invocation::new(&id, &eventbridge_event("order-7")));
    assert_eq!(posted.kind, PostKind::Error, "{}", rwsgi.dump());
    assert_eq!(posted.request_id.as_deref(), Some(id.as_str()));
    assert_eq!(posted.error_type.as_deref(), Some("ValueError"));
    let body = posted.json();
    assert_eq!(body["errorType"], json!("ValueError"));
    assert_eq!(body["errorMessage"], json!("cannot process order-7"));
    let stack = body["stackTrace"].as_array().expect("stackTrace is a list");
    let line = line_of("lambda_events.py", "# the failing line");
    let last = stack
        .last()
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no frames: {body}"));
    assert!(
        last.contains(&format!("lambda_events.py\", line {line}, in fail")),
        "{last:?}"
    );
    rwsgi.wait_stderr("ValueError: cannot process order-7");
    // HTTP events still go to the app.
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(2), &get("/status", "")));
    assert_eq!(reply["statusCode"], json!(200));
}

#[test]
fn an_event_handler_result_is_the_response() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api)
        .app("lambda_router")
        .env("RWSGI_EVENT_HANDLER", "lambda_events:echo_event")
        .start();
    let id = request_id(1);
    let event = sqs_event();
    let reply = rwsgi.reply(&api, Invocation::new(&id, &event));
    assert_eq!(
        reply,
        json!({"received": event, "aws_request_id": id, "function_name": FUNCTION_NAME})
    );
    // A direct invoke may send any JSON value, not only an object.
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(2), &json!([1, "two", null])),
    );
    assert_eq!(reply["received"], json!([1, "two", null]));
}

#[test]
fn an_event_handler_result_that_is_not_json_is_a_marshal_error() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api)
        .app("lambda_router")
        .env("RWSGI_EVENT_HANDLER", "lambda_events:unserialisable")
        .start();
    let posted = rwsgi.invoke(&api, Invocation::new(&request_id(1), &sqs_event()));
    assert_eq!(posted.kind, PostKind::Error, "{}", rwsgi.dump());
    assert_eq!(posted.error_type.as_deref(), Some("Runtime.MarshalError"));
    let body = posted.json();
    assert_eq!(body["errorType"], json!("Runtime.MarshalError"));
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("not JSON serializable")),
        "{body}"
    );
}

#[test]
fn a_non_http_event_without_a_handler_is_unsupported() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();
    let id = request_id(1);
    let posted = rwsgi.invoke(&api, Invocation::new(&id, &eventbridge_event("e-1")));
    assert_eq!(posted.kind, PostKind::Error, "{}", rwsgi.dump());
    assert_eq!(posted.error_type.as_deref(), Some("Rwsgi.UnsupportedEvent"));
    let body = posted.json();
    assert_eq!(body["errorType"], json!("Rwsgi.UnsupportedEvent"));
    assert_eq!(body["stackTrace"], json!([]));
    let message = body["errorMessage"].as_str().expect("a message");
    for key in [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ] {
        assert!(
            message.contains(&format!("\"{key}\"")),
            "{key} not named in {message:?}"
        );
    }
    assert!(message.contains("RWSGI_EVENT_HANDLER"), "{message:?}");

    let posted = rwsgi.invoke(&api, Invocation::new(&request_id(2), &sqs_event()));
    assert_eq!(posted.kind, PostKind::Error);
    let body = posted.json();
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("[\"Records\"]")),
        "{body}"
    );

    let reply = rwsgi.reply(&api, Invocation::new(&request_id(3), &get("/status", "")));
    assert_eq!(reply["statusCode"], json!(200));
}

#[test]
fn an_event_that_is_not_json_is_an_invocation_error() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();
    let posted = rwsgi.invoke(
        &api,
        Invocation::new(&request_id(1), &json!({})).raw(b"{\"version\": \"2.0\", "),
    );
    assert_eq!(posted.kind, PostKind::Error, "{}", rwsgi.dump());
    assert_eq!(posted.error_type.as_deref(), Some("Rwsgi.InvalidEvent"));
    assert_eq!(posted.json()["errorType"], json!("Rwsgi.InvalidEvent"));
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(2), &get("/status", "")));
    assert_eq!(reply["statusCode"], json!(200));
}

#[test]
fn app_failures_become_500_replies_and_the_loop_keeps_serving() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();
    let failures = [
        ("/raising", "at=call", "RuntimeError: raised at call"),
        (
            "/raising",
            "at=after_start",
            "RuntimeError: raised at after_start",
        ),
        (
            "/raising",
            "at=first_chunk",
            "RuntimeError: raised at first_chunk",
        ),
        (
            "/raising",
            "at=mid_stream",
            "RuntimeError: raised at mid_stream",
        ),
        ("/raising", "at=close", "RuntimeError: raised at close"),
        ("/protocol", "bad=no_start_response", "start_response"),
        ("/protocol", "bad=second_start_response", "start_response"),
        ("/protocol", "bad=status_no_reason", "status"),
        ("/protocol", "bad=status_crlf", "status"),
        ("/protocol", "bad=status_bytes", "status"),
        ("/protocol", "bad=header_crlf", "header"),
        ("/protocol", "bad=header_nul", "header"),
        ("/protocol", "bad=header_non_latin1", "header"),
        ("/protocol", "bad=header_name_space", "Bad Name"),
        ("/protocol", "bad=headers_not_list", "list"),
        ("/protocol", "bad=returns_str", "str"),
        ("/protocol", "bad=returns_none", "None"),
        ("/protocol", "bad=yields_none", "None"),
    ];
    for (n, (path, query, logged)) in failures.iter().enumerate() {
        // echo.py writes a boundary to the log first, so what follows it is this failure's.
        let boundary = format!("log: boundary-{n}\n");
        let reply = rwsgi.reply(
            &api,
            Invocation::new(
                &request_id(2 * n as u64),
                &get("/echo", &format!("log=boundary-{n}")),
            ),
        );
        assert_eq!(reply["statusCode"], json!(200));
        let reply = rwsgi.reply(
            &api,
            Invocation::new(&request_id(2 * n as u64 + 1), &get(path, query)),
        );
        assert_eq!(
            reply,
            internal_error_v2(),
            "{path}?{query}\n{}",
            rwsgi.dump()
        );
        rwsgi.wait_stderr_where(
            &format!("an error line and {logged:?} after {boundary:?}"),
            |text| {
                text.split_once(&boundary).is_some_and(|(_, after)| {
                    after.contains("rwsgi: error: ") && after.contains(logged)
                })
            },
        );
    }
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(100), &get("/stream", "")));
    assert_eq!(reply["statusCode"], json!(200));
    assert_eq!(reply["body"], json!("aaaaabbbbbccccc"));
    assert!(
        api.posted().iter().all(|p| p.kind == PostKind::Response),
        "an HTTP event got an /error"
    );
}

#[test]
fn hop_by_hop_headers_are_dropped_with_a_warning() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(1), &get("/protocol", "bad=hop_by_hop")),
    );
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "headers": {"Content-Type": "text/plain", "X-Good": "yes"},
            "cookies": [],
            "body": "ok\n",
            "isBase64Encoded": false
        })
    );
    let stderr = rwsgi.wait_stderr("'Transfer-Encoding'");
    assert!(
        stderr.contains("rwsgi: warning: ") && stderr.contains("'Connection'"),
        "{}",
        rwsgi.dump()
    );
}

#[test]
fn a_malformed_http_event_gets_400() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();
    let mut event = http_v2("POST", "/echo", "");
    event["body"] = json!("this is *not* base64!");
    event["isBase64Encoded"] = json!(true);
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(1), &event));
    let bad_request = json!({
        "statusCode": 400,
        "headers": {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Length": "16"
        },
        "cookies": [],
        "body": "400 Bad Request\n",
        "isBase64Encoded": false
    });
    assert_eq!(reply, bad_request);
    let stderr = rwsgi.wait_stderr("base64");
    assert!(
        stderr.contains("rwsgi: error: answering 400 Bad Request"),
        "{}",
        rwsgi.dump()
    );

    // A field of the wrong type: headers as a list.
    let mut event = get("/echo", "");
    event["headers"] = json!(["host: example.com"]);
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(2), &event));
    assert_eq!(reply, bad_request);

    // The loop goes on, and the same body correctly encoded reaches the app.
    let mut event = http_v2("POST", "/echo", "");
    event["body"] = json!(b64(b"binary \x00\xff body"));
    event["isBase64Encoded"] = json!(true);
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(3), &event));
    assert_eq!(reply["statusCode"], json!(200), "{reply}");
    let seen: Value = serde_json::from_slice(&reply_body(&reply)).expect("echo's JSON");
    assert_eq!(seen["body"], json!("binary \u{0}\u{ff} body"));
    assert_eq!(seen["CONTENT_LENGTH"], json!("14"));
}

#[test]
fn head_keeps_the_headers_and_sends_no_body() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(1), &rest_v1("HEAD", "/binary")),
    );
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "multiValueHeaders": {
                "Content-Type": ["application/octet-stream"],
                "Content-Length": ["256"]
            },
            "body": "",
            "isBase64Encoded": false
        })
    );
    // The same through GET has the body.
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(2), &rest_v1("GET", "/binary")),
    );
    assert_eq!(reply["isBase64Encoded"], json!(true));
    assert_eq!(reply_body(&reply), (0..=255).collect::<Vec<u8>>());
}

#[test]
fn big_events_with_the_largest_client_context_come_through_whole() {
    // rwsgi reads the Runtime API in reads of 64 KiB (src/lambda/runtime.rs, READ_BUFFER): an
    // event's head and body cross many of them, and the head may carry a client context of
    // up to 3,583 bytes (the Invoke API's limit for `ClientContext`, base64 included).
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("bylength").start();
    // The mobile SDK's context, with a "pad" member that takes it to the limit.
    let mut client_context =
        MOBILE_CLIENT_CONTEXT.trim_end_matches('}').to_string() + r#","pad":""#;
    client_context += &"x".repeat(3_583 - client_context.len() - 2);
    client_context += r#""}"#;
    assert_eq!(client_context.len(), 3_583);
    for (n, size) in [(1, 3_000_000), (2, 65_536 * 7 + 11), (3, 3_000_001)] {
        let body = binary_pattern(size);
        let mut event = http_v2("POST", "/upload", "");
        event["headers"]["content-length"] = json!(size.to_string());
        event["body"] = json!(b64(&body));
        event["isBase64Encoded"] = json!(true);
        let reply = rwsgi.reply(
            &api,
            Invocation::new(&request_id(n), &event).client_context(&client_context),
        );
        assert_eq!(reply["statusCode"], json!(200), "{}", rwsgi.dump());
        assert_eq!(reply["headers"]["X-Read"], json!(size.to_string()));
        assert!(
            reply_body(&reply) == body,
            "invocation {n}: the body came back changed"
        );
    }
}

#[test]
fn a_reply_over_6_mb_becomes_a_500_saying_so() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();

    // 4,800,000 bytes are 6,400,000 in base64: over the 6,291,556-byte limit.
    let size = 4_800_000;
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(1), &get("/binary", &format!("size={size}"))),
    );
    let text = "500 Internal Server Error\n\
                The response is larger than the 6 MB a Lambda function can return.\n";
    assert_eq!(
        reply,
        json!({
            "statusCode": 500,
            "headers": {
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Length": text.len().to_string()
            },
            "cookies": [],
            "body": text,
            "isBase64Encoded": false
        })
    );
    // The log says how large the reply would have been: the reply JSON of section 3.
    let would_be = json!({
        "statusCode": 200,
        "headers": {
            "Content-Type": "application/octet-stream",
            "Content-Length": size.to_string()
        },
        "cookies": [],
        "body": b64(&binary_pattern(size)),
        "isBase64Encoded": true
    })
    .to_string()
    .len();
    let stderr = rwsgi.wait_stderr("bytes of JSON");
    assert!(
        stderr.contains(&format!("the reply would be {would_be} bytes of JSON")),
        "{}",
        rwsgi.dump()
    );

    // Just under the limit, the whole body goes out.
    let size = 4_700_000;
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(2), &get("/binary", &format!("size={size}"))),
    );
    assert_eq!(reply["statusCode"], json!(200));
    assert!(
        reply_body(&reply) == binary_pattern(size),
        "the body differs"
    );
}

#[test]
fn a_thousand_invocations_with_an_app_that_misbehaves_on_a_schedule() {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api).app("lambda_router").start();
    const COUNT: u64 = 1_000;
    /// What invocation `n` asks for, and the status and body it must get.
    fn schedule(n: u64) -> (&'static str, String, u64, Vec<u8>) {
        let error = b"500 Internal Server Error\n".to_vec();
        match n % 8 {
            0 => ("/raising", "at=call".into(), 500, error),
            1 => ("/echo", format!("n={n}"), 200, Vec::new()),
            2 => ("/raising", "at=mid_stream".into(), 500, error),
            3 => (
                "/stream",
                "n=3&size=5".into(),
                200,
                b"aaaaabbbbbccccc".to_vec(),
            ),
            4 => ("/protocol", "bad=header_crlf".into(), 500, error),
            5 => ("/status", "code=201".into(), 201, b"status 201\n".to_vec()),
            6 => ("/protocol", "bad=no_start_response".into(), 500, error),
            _ => ("/binary", String::new(), 200, (0..=255).collect()),
        }
    }
    for n in 0..COUNT {
        let (path, query, _, _) = schedule(n);
        api.push(Invocation::new(&request_id(n), &get(path, &query)));
    }
    let posted = api
        .wait_posted(COUNT as usize, Duration::from_secs(120))
        .unwrap_or_else(|| {
            panic!(
                "{} of {COUNT} answered\n{}",
                api.posted().len(),
                rwsgi.dump()
            )
        });
    assert_eq!(posted.len(), COUNT as usize);
    for (n, posted) in (0..COUNT).zip(&posted) {
        let (path, query, status, body) = schedule(n);
        assert_eq!(
            (posted.kind, posted.request_id.as_deref()),
            (PostKind::Response, Some(request_id(n).as_str())),
            "invocation {n}: {}",
            String::from_utf8_lossy(&posted.body)
        );
        let reply = posted.json();
        assert_eq!(
            reply["statusCode"],
            json!(status),
            "invocation {n}: {path}?{query}"
        );
        if path == "/echo" {
            let seen: Value = serde_json::from_slice(&reply_body(&reply)).expect("echo's JSON");
            assert_eq!(seen["PATH_INFO"], json!("/echo"));
            assert_eq!(seen["QUERY_STRING"], json!(query));
        } else {
            assert!(
                reply_body(&reply) == body,
                "invocation {n}: {path}?{query}: {reply}"
            );
        }
    }
    rwsgi.assert_running();
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(COUNT), &get("/status", "")),
    );
    assert_eq!(reply["body"], json!("status 200\n"));
    rwsgi.assert_running();
}

// ---------------------------------------------------------------------------------------------
// The function's log

#[test]
fn the_apps_output_and_rwsgis_errors_reach_the_function_log() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(1), &get("/context", "print=hello+log")),
    );
    assert_eq!(reply["statusCode"], json!(200));
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(2), &get("/echo", "log=errors")),
    );
    assert_eq!(reply["statusCode"], json!(200));
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(3), &get("/raising", "at=call")),
    );
    assert_eq!(reply["statusCode"], json!(500));

    // The app's print() came before the error, so it is in by the time the error is.
    let stderr = rwsgi.wait_stderr("RuntimeError: raised at call\n");
    for expected in [
        "wsgi.errors: hello log\n",
        "log: errors\nlog line 1\nlog line 2\n",
        "rwsgi: error: the application failed before sending a response",
        "Traceback (most recent call last):",
        "RuntimeError: raised at call\n",
    ] {
        assert!(
            stderr.contains(expected),
            "stderr lacks {expected:?}\n{}",
            rwsgi.dump()
        );
    }
    // print() stays on stdout, which Lambda captures into the same log as stderr (as with
    // AWS's own Python runtime); it is unbuffered, so it is there before the next reply.
    rwsgi
        .process
        .wait_stdout("the print", |text| text.contains("print: hello log\n"));
    assert_eq!(rwsgi.stdout(), "print: hello log\n", "{}", rwsgi.dump());
}

#[test]
fn json_log_format_makes_rwsgis_lines_json_objects() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api)
        .app("lambda_router")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .start();
    let failing = request_id(1);
    let reply = rwsgi.reply(&api, Invocation::new(&failing, &get("/raising", "at=call")));
    assert_eq!(reply["statusCode"], json!(500));
    let mut event = http_v2("POST", "/echo", "");
    event["body"] = json!("%%%");
    event["isBase64Encoded"] = json!(true);
    let malformed = request_id(2);
    let reply = rwsgi.reply(&api, Invocation::new(&malformed, &event));
    assert_eq!(reply["statusCode"], json!(400));
    let hop = request_id(3);
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&hop, &get("/protocol", "bad=hop_by_hop")),
    );
    assert_eq!(reply["statusCode"], json!(200));

    let stderr = rwsgi.wait_stderr("'Transfer-Encoding'");
    let entries: Vec<Value> = lines(&stderr)
        .into_iter()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| {
                panic!("a log line is not JSON ({e}): {line:?}\n{}", rwsgi.dump())
            })
        })
        .collect();
    assert_eq!(entries.len(), 4, "{}", rwsgi.dump());
    for entry in &entries {
        assert!(entry.is_object(), "{entry}");
        assert!(entry["timestamp"].is_string(), "{entry}");
    }
    let (failed, bad) = (&entries[0], &entries[1]);
    assert_eq!(failed["level"], json!("ERROR"));
    assert_eq!(failed["requestId"], json!(failing));
    let message = failed["message"].as_str().expect("a message");
    assert!(
        message.starts_with("the application failed before sending a response")
            && message.contains("Traceback (most recent call last):\n")
            && message.ends_with("RuntimeError: raised at call"),
        "{message:?}"
    );
    assert_eq!(bad["level"], json!("ERROR"));
    assert_eq!(bad["requestId"], json!(malformed));
    assert!(
        bad["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("answering 400 Bad Request")),
        "{bad}"
    );
    // One warning for each hop-by-hop header the app set.
    for (warned, header) in entries[2..]
        .iter()
        .zip(["'Connection'", "'Transfer-Encoding'"])
    {
        assert_eq!(warned["level"], json!("WARNING"), "{warned}");
        assert_eq!(warned["requestId"], json!(hop), "{warned}");
        assert!(
            warned["message"]
                .as_str()
                .is_some_and(|m| m.contains(header)),
            "{warned}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The Runtime API itself

#[test]
fn a_runtime_api_address_with_a_path_prefix() {
    let api = FakeRuntimeApi::start_with_prefix("/.rt");
    let url = api.url_with_prefix();
    served_under_a_path_prefix(&api, &url);
}

#[test]
fn a_runtime_api_address_with_a_path_prefix_and_no_scheme() {
    // `127.0.0.1:9000/.rt/app`, as README.md gives it for `cargo lambda watch`: AWS's client
    // crate, which the shutdown extension registers through, does not take it as it is.
    let api = FakeRuntimeApi::start_with_prefix("/.rt");
    let address = api.url_with_prefix().replace("http://", "");
    served_under_a_path_prefix(&api, &address);
}

/// rwsgi pointed at `api` (which serves under `/.rt`) by `address`: it registers its shutdown
/// extension, answers an invocation and an error, and says nothing on stderr.
fn served_under_a_path_prefix(api: &FakeRuntimeApi, address: &str) {
    let mut rwsgi = function(api)
        .env("AWS_LAMBDA_RUNTIME_API", address)
        .app("lambda_router")
        .start();
    let reply = rwsgi.reply(api, Invocation::new(&request_id(1), &get("/status", "")));
    assert_eq!(reply["statusCode"], json!(200));
    let posted = rwsgi.invoke(api, Invocation::new(&request_id(2), &sqs_event()));
    assert_eq!(posted.kind, PostKind::Error);
    assert!(api.wait_next_requests(3, WAIT), "{}", rwsgi.dump());
    assert_eq!(
        api.requests(),
        [
            "GET /.rt/2018-06-01/runtime/invocation/next".to_string(),
            format!(
                "POST /.rt/2018-06-01/runtime/invocation/{}/response",
                request_id(1)
            ),
            "GET /.rt/2018-06-01/runtime/invocation/next".to_string(),
            format!(
                "POST /.rt/2018-06-01/runtime/invocation/{}/error",
                request_id(2)
            ),
            "GET /.rt/2018-06-01/runtime/invocation/next".to_string(),
        ]
    );
    assert_eq!(api.extensions(), ["rwsgi-shutdown"], "{}", rwsgi.dump());
    assert_eq!(rwsgi.stderr(), "", "{}", rwsgi.dump());
    rwsgi.assert_running();
}

#[test]
fn an_init_error_goes_to_the_prefixed_address_too() {
    let api = FakeRuntimeApi::start_with_prefix("/.rt");
    let mut rwsgi = function(&api)
        .env("AWS_LAMBDA_RUNTIME_API", api.url_with_prefix())
        .app("broken_import")
        .start();
    assert!(api.wait_init_error(WAIT).is_some(), "{}", rwsgi.dump());
    assert_eq!(rwsgi.wait_exit(), Some(1), "{}", rwsgi.dump());
    assert_eq!(api.requests(), ["POST /.rt/2018-06-01/runtime/init/error"]);
}

/// The one line rwsgi may write when the Runtime API fails it, and no panic.
fn assert_one_clear_line(rwsgi: &Function, fragment: &str) {
    let stderr = rwsgi.stderr();
    let all = lines(&stderr);
    assert_eq!(all.len(), 1, "expected one line\n{}", rwsgi.dump());
    assert!(
        all[0].starts_with("rwsgi: error: ") && all[0].contains(fragment),
        "{:?} lacks {fragment:?}",
        all[0]
    );
    assert!(!stderr.contains("panicked"), "{}", rwsgi.dump());
}

#[test]
fn invocations_near_and_far_apart_are_served_on_one_connection() {
    // Back to back, rwsgi waits for each answer in a blocking read; past a short while it waits
    // in tokio's reactor instead. Either way every request goes on the one kept-alive
    // connection, and each invocation is answered.
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api).app("lambda_router").start();
    for (n, gap) in [(1, 0), (2, 0), (3, 400), (4, 0), (5, 1200), (6, 0)] {
        std::thread::sleep(Duration::from_millis(gap));
        let reply = rwsgi.reply(&api, Invocation::new(&request_id(n), &get("/status", "")));
        assert_eq!(reply["statusCode"], json!(200), "{}", rwsgi.dump());
    }
    assert!(api.wait_next_requests(7, WAIT), "{}", rwsgi.dump());
    let log = api.request_log();
    let runtime: Vec<&(u64, String)> = log
        .iter()
        .filter(|(_, r)| r.contains("/runtime/"))
        .collect();
    assert_eq!(runtime.len(), 6 * 2 + 1, "{log:?}");
    assert!(runtime.iter().all(|(c, _)| *c == runtime[0].0), "{log:?}");
    rwsgi.assert_running();
}

#[test]
fn back_to_back_invocations_take_two_system_calls_per_exchange() {
    // Once a request is written, rwsgi waits for the answer in the `recvfrom` that takes it
    // (src/lambda/socket.rs), not in `epoll_wait` and then `recvfrom`: a warm invocation is a
    // `sendmsg` and a blocking `recvfrom` for `/next`, and the same for the reply.
    const COUNT: u64 = 40;
    let mut api = FakeRuntimeApi::start();
    let trace = util::temp_path("lambda-syscalls");
    // Queued before rwsgi starts, so that each `/next` is answered at once.
    for n in 1..=COUNT {
        api.push(Invocation::new(&request_id(n), &get("/status", "")));
    }
    let mut rwsgi = Function {
        process: function(&api)
            .app("lambda_router")
            .program("strace")
            .args([
                "-f",
                "-qq",
                "-e",
                "trace=sendmsg,recvfrom,epoll_wait,epoll_pwait,epoll_pwait2",
            ])
            .arg("-o")
            .arg(&trace)
            .arg(util::rwsgi_bin())
            .spawn(),
    };
    let posted = api
        .wait_posted(COUNT as usize, WAIT)
        .unwrap_or_else(|| panic!("{} of {COUNT} posted\n{}", api.posted().len(), rwsgi.dump()));
    assert!(posted.iter().all(|p| p.kind == PostKind::Response));
    assert!(
        api.wait_next_requests(COUNT as usize + 1, WAIT),
        "{}",
        rwsgi.dump()
    );
    // The Runtime API goes away: rwsgi stops, and strace with it.
    api.shutdown();
    rwsgi.wait_exit();
    let lines = std::fs::read_to_string(&trace).expect("strace's output");
    let _ = std::fs::remove_file(&trace);
    let count = |check: &dyn Fn(&str) -> bool| lines.lines().filter(|l| check(l)).count() as u64;
    // An answer taken by a read that waited for it: no MSG_DONTWAIT.
    let waited = count(&|l| {
        l.contains("recvfrom(") && l.contains("\"HTTP/1.1 ") && l.contains(", 0, NULL, NULL) = ")
    });
    let polls = count(&|l| l.contains("epoll_wait(") || l.contains("epoll_pwait"));
    let sends = count(&|l| l.contains("sendmsg("));
    assert!(
        waited >= 2 * COUNT - 2 && polls <= COUNT / 4 && sends >= 2 * COUNT,
        "{waited} answers waited for in recvfrom, {polls} epoll waits, {sends} sendmsg for \
         {COUNT} invocations\n{lines}"
    );
}

#[test]
fn next_answering_500_stops_rwsgi_with_one_clear_line() {
    let api = FakeRuntimeApi::start();
    api.fail_next(Failure::Status500);
    let mut rwsgi = function(&api).app("lambda_router").start();
    assert_eq!(rwsgi.wait_exit(), Some(1), "{}", rwsgi.dump());
    assert_one_clear_line(&rwsgi, "GET /runtime/invocation/next was answered 500");
    assert_eq!(api.posted().len(), 0);
}

#[test]
fn next_closing_the_connection_stops_rwsgi_with_one_clear_line() {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api).app("lambda_router").start();
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(1), &get("/status", "")));
    assert_eq!(reply["statusCode"], json!(200));
    // rwsgi is waiting in its second `/next` when the connection goes away.
    assert!(api.wait_next_requests(2, WAIT), "{}", rwsgi.dump());
    api.fail_next(Failure::Close);
    assert_eq!(rwsgi.wait_exit(), Some(1), "{}", rwsgi.dump());
    assert_one_clear_line(&rwsgi, "the Runtime API is gone");
}

#[test]
fn a_response_refused_with_413_is_logged_and_the_loop_goes_on() {
    refused_reply_is_logged_and_the_loop_goes_on(
        FakeRuntimeApi::reject_response,
        413,
        "RequestEntityTooLarge",
    );
}

/// The Runtime API refuses the reply to one invocation (`refuse` sets that up) with `status`,
/// saying `said`: rwsgi logs one line naming the request and the status, and serves the next.
fn refused_reply_is_logged_and_the_loop_goes_on(
    refuse: fn(&FakeRuntimeApi, &str),
    status: u16,
    said: &str,
) {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api).app("lambda_router").start();
    let refused = request_id(1);
    refuse(&api, &refused);
    let posted = rwsgi.invoke(&api, Invocation::new(&refused, &get("/status", "")));
    assert_eq!(posted.kind, PostKind::Response);
    assert_eq!(posted.answered, status);
    let reply = rwsgi.reply(
        &api,
        Invocation::new(&request_id(2), &get("/status", "code=204")),
    );
    assert_eq!(reply["statusCode"], json!(204));
    let stderr = rwsgi.wait_stderr(said);
    assert!(
        stderr.contains(&format!(
            "rwsgi: error: POST /runtime/invocation/{refused}/response was answered {status}"
        )) && stderr.contains(said),
        "{}",
        rwsgi.dump()
    );
    rwsgi.assert_running();
}

#[test]
fn the_invocation_id_is_echoed_on_every_reply() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api).app("lambda_router").start();
    // A response, an error, and an invocation from a Runtime API that sends no invocation id.
    let response = rwsgi.invoke(&api, Invocation::new(&request_id(1), &get("/status", "")));
    let error = rwsgi.invoke(&api, Invocation::new(&request_id(2), &sqs_event()));
    let older = rwsgi.invoke(
        &api,
        Invocation::new(&request_id(3), &get("/status", "")).invocation_id(None),
    );
    assert_eq!(
        (response.kind, error.kind, older.kind),
        (PostKind::Response, PostKind::Error, PostKind::Response)
    );
    for (n, posted) in [(1, &response), (2, &error)] {
        let sent = api.invocation_id_of(&request_id(n));
        assert!(sent.is_some());
        assert_eq!(posted.invocation_id, sent, "{}", rwsgi.dump());
    }
    assert_eq!(older.invocation_id, None);
}

#[test]
fn a_stale_reply_refused_with_410_is_logged_and_the_loop_goes_on() {
    refused_reply_is_logged_and_the_loop_goes_on(
        FakeRuntimeApi::stale,
        410,
        "ErrorRuntimeInvokeTimeout",
    );
}

// ---------------------------------------------------------------------------------------------
// Shutdown

#[test]
fn sigterm_runs_the_atexit_handlers_and_flushes_the_output() {
    sigterm_while_waiting_for_the_next_invocation(Duration::ZERO);
}

#[test]
fn sigterm_long_after_the_last_invocation_is_handled_too() {
    // After an invocation rwsgi waits for the next in a blocking read for a while, then in
    // tokio's reactor: a signal is handled in either.
    sigterm_while_waiting_for_the_next_invocation(Duration::from_millis(600));
}

/// One invocation, then SIGTERM `after` rwsgi asked for the next: the atexit handlers run, the
/// output is flushed and rwsgi exits 0.
fn sigterm_while_waiting_for_the_next_invocation(after: Duration) {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api).app("goodbye").start();
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(1), &get("/", "")));
    assert_eq!(reply["statusCode"], json!(200));
    // An internal extension registered during init, so that Lambda sends SIGTERM at all.
    assert_eq!(api.extensions(), ["rwsgi-shutdown"]);
    assert!(api.wait_next_requests(2, WAIT), "{}", rwsgi.dump());
    std::thread::sleep(after);
    // SAFETY: kill(2) on the child this test started and still owns.
    let sent = unsafe { libc::kill(rwsgi.process.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    assert_eq!(rwsgi.wait_exit(), Some(0), "{}", rwsgi.dump());
    assert!(
        rwsgi.stdout().ends_with("atexit: goodbye"),
        "{}",
        rwsgi.dump()
    );
    assert!(
        rwsgi
            .stderr()
            .contains("rwsgi: info: SIGTERM: shutting down"),
        "{}",
        rwsgi.dump()
    );
}

#[test]
fn without_an_extensions_api_sigterm_is_still_handled() {
    // Local emulators have no Extensions API: the registration is skipped without a word.
    let api = FakeRuntimeApi::start_without_extensions();
    let mut rwsgi = function(&api).app("goodbye").start();
    let reply = rwsgi.reply(&api, Invocation::new(&request_id(1), &get("/", "")));
    assert_eq!(reply["statusCode"], json!(200));
    assert!(api.extensions().is_empty());
    assert!(api.wait_next_requests(2, WAIT), "{}", rwsgi.dump());
    assert_eq!(rwsgi.stderr(), "", "{}", rwsgi.dump());
    // SAFETY: as above.
    let sent = unsafe { libc::kill(rwsgi.process.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    assert_eq!(rwsgi.wait_exit(), Some(0), "{}", rwsgi.dump());
    assert!(
        rwsgi.stdout().ends_with("atexit: goodbye"),
        "{}",
        rwsgi.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// Response streaming (RWSGI_INVOKE_MODE=response_stream)

/// A function URL event ("Lambda function URLs", request payload): payload 2.0 from
/// `<url-id>.lambda-url.<region>.on.aws`.
fn function_url(method: &str, path: &str, query: &str) -> Value {
    let mut event = http_v2(method, path, query);
    let context = &mut event["requestContext"];
    context["apiId"] = json!("ab3xmplz5kj2ko7zgpgbxqqzfi0nbsfc");
    context["domainName"] = json!("ab3xmplz5kj2ko7zgpgbxqqzfi0nbsfc.lambda-url.us-east-1.on.aws");
    context["domainPrefix"] = json!("ab3xmplz5kj2ko7zgpgbxqqzfi0nbsfc");
    event["headers"]["host"] =
        json!("ab3xmplz5kj2ko7zgpgbxqqzfi0nbsfc.lambda-url.us-east-1.on.aws");
    event
}

/// rwsgi streaming its replies, with `tests/apps/streaming.py`.
fn streaming_function(api: &FakeRuntimeApi) -> Function {
    function(api)
        .app("streaming:application")
        .env("RWSGI_INVOKE_MODE", "response_stream")
        .start()
}

/// A streamed reply as the fake received it: the posted result, the prelude's JSON and the
/// body after the delimiter. Checks the framing every streamed reply must have.
fn streamed_reply(
    rwsgi: &Function,
    api: &FakeRuntimeApi,
    invocation: Invocation,
) -> (Posted, Value, Vec<u8>) {
    let posted = rwsgi.invoke(api, invocation);
    let stream = posted
        .stream
        .clone()
        .unwrap_or_else(|| panic!("the reply was not streamed: {posted:?}\n{}", rwsgi.dump()));
    assert_eq!(posted.kind, PostKind::Response);
    assert_eq!(stream.response_mode.as_deref(), Some("streaming"));
    assert_eq!(
        posted.content_type.as_deref(),
        Some("application/vnd.awslambda.http-integration-response")
    );
    let declared = stream
        .trailer_header
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        declared.contains("lambda-runtime-function-error-type")
            && declared.contains("lambda-runtime-function-error-body"),
        "{declared:?}"
    );
    let at = posted
        .body
        .windows(8)
        .position(|w| w == [0u8; 8])
        .unwrap_or_else(|| {
            panic!(
                "no delimiter in {:?}",
                String::from_utf8_lossy(&posted.body)
            )
        });
    // The prelude and the delimiter come as chunks of their own (`cargo lambda watch` needs it).
    assert_eq!(stream.chunks[0].1, at, "{:?}", stream.chunks);
    assert_eq!(stream.chunks[1].1, 8, "{:?}", stream.chunks);
    let prelude: Value = serde_json::from_slice(&posted.body[..at]).expect("the prelude is JSON");
    let body = posted.body[at + 8..].to_vec();
    (posted, prelude, body)
}

/// The error trailers of a cut-short stream: the type, and the body's JSON decoded.
fn error_trailers(posted: &Posted) -> (String, Value) {
    let stream = posted.stream.as_ref().expect("a streamed reply");
    assert!(stream.complete, "the stream did not end: {stream:?}");
    let kind = stream
        .trailer("lambda-runtime-function-error-type")
        .unwrap_or_else(|| panic!("no error type trailer: {:?}", stream.trailers))
        .to_string();
    let body = stream
        .trailer("lambda-runtime-function-error-body")
        .expect("an error body trailer");
    let json = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("the error body is base64");
    (
        kind,
        serde_json::from_slice(&json).expect("the error body is JSON"),
    )
}

#[test]
fn an_unknown_invoke_mode_is_an_init_error() {
    let api = FakeRuntimeApi::start();
    let _rwsgi = function(&api)
        .app("streaming:application")
        .env("RWSGI_INVOKE_MODE", "streaming")
        .start();
    let posted = api.wait_init_error(WAIT).expect("an init error");
    assert_eq!(
        posted.error_type.as_deref(),
        Some("Rwsgi.InvalidInvokeMode")
    );
    let message = posted.json()["errorMessage"].as_str().unwrap().to_string();
    assert!(
        message.contains("\"streaming\"") && message.contains("response_stream"),
        "{message}"
    );
}

#[test]
fn chunks_reach_the_runtime_api_before_the_app_makes_the_next() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    let (posted, prelude, body) = streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(1), &function_url("GET", "/slow", "n=3&gap=0.3")),
    );
    assert_eq!(
        prelude,
        json!({"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"}, "cookies": []})
    );
    let stream = posted.stream.as_ref().unwrap();
    assert!(stream.complete && stream.trailers.is_empty(), "{stream:?}");
    // The app's own clock: when each chunk was made, then when it finished.
    let text = String::from_utf8(body.clone()).unwrap();
    let made: Vec<f64> = text
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(made.len(), 4, "{text}");
    // Where each of the app's lines ends in the body, and when the chunk holding that end
    // arrived: each line is in the fake's hands before the app makes the next one.
    let mut ends = Vec::new();
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        end += line.len();
        ends.push(end);
    }
    let mut received = 0usize;
    let mut arrivals = Vec::new();
    for &(at, size) in &stream.chunks[2..] {
        received += size;
        arrivals.push((at, received));
    }
    for (i, end) in ends.iter().enumerate().take(3) {
        let arrived = arrivals
            .iter()
            .find(|(_, got)| got >= end)
            .map(|(at, _)| *at)
            .unwrap();
        assert!(
            arrived < made[i + 1],
            "chunk {i} arrived at {arrived:.6}, after the app made chunk {} at {:.6}\n{text}",
            i + 1,
            made[i + 1]
        );
    }
    rwsgi.wait_stderr("streaming app closed: /slow");
}

#[test]
fn a_rest_api_reply_streams_with_its_documented_prelude() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    let (_, prelude, body) = streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(1), &rest_v1("GET", "/cookies")),
    );
    // API Gateway's streamed proxy reply: statusCode, headers, multiValueHeaders, cookies
    // (https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html).
    assert_eq!(
        prelude,
        json!({
            "statusCode": 200,
            "headers": {},
            "multiValueHeaders": {
                "Content-Type": ["text/plain; charset=utf-8"],
                "Vary": ["Accept", "Cookie"],
            },
            "cookies": ["a=1; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "b=2; HttpOnly"],
        })
    );
    assert_eq!(body, b"with cookies\n");
    // The same through a function URL: one string per header, cookies apart.
    let (_, prelude, _) = streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(2), &function_url("GET", "/cookies", "")),
    );
    assert_eq!(
        prelude,
        json!({
            "statusCode": 200,
            "headers": {"Content-Type": "text/plain; charset=utf-8", "Vary": "Accept, Cookie"},
            "cookies": ["a=1; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "b=2; HttpOnly"],
        })
    );
}

#[test]
fn an_app_failing_mid_stream_ends_with_the_error_trailers() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    let (posted, prelude, body) = streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(1), &function_url("GET", "/error", "after=2")),
    );
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(body, b"part 0\npart 1\n");
    let (kind, error) = error_trailers(&posted);
    assert_eq!(kind, "ValueError");
    assert_eq!(error["errorType"], "ValueError");
    assert_eq!(error["errorMessage"], "boom mid-stream");
    assert!(
        error["stackTrace"].to_string().contains("streaming.py"),
        "{error}"
    );
    let log = rwsgi.wait_stderr("streaming app closed: /error");
    assert!(log.contains("ValueError: boom mid-stream"), "{log}");
    // The loop goes on.
    let (_, prelude, _) = streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(2), &function_url("GET", "/empty", "")),
    );
    assert_eq!(prelude["statusCode"], 200);
}

#[test]
fn an_app_failing_before_its_response_streams_a_500() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    let (posted, prelude, body) = streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(1), &function_url("GET", "/before", "")),
    );
    assert_eq!(prelude["statusCode"], 500);
    assert!(String::from_utf8_lossy(&body).contains("Internal Server Error"));
    assert!(posted.stream.as_ref().unwrap().trailers.is_empty());
    rwsgi.wait_stderr("RuntimeError: boom before the response");
}

#[test]
fn empty_head_and_204_streams_end_properly() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    for (n, event, status) in [
        (1, function_url("GET", "/empty", ""), 200),
        (2, function_url("GET", "/nocontent", ""), 204),
        (3, function_url("HEAD", "/slow", "n=2&gap=0"), 200),
    ] {
        let (posted, prelude, body) =
            streamed_reply(&rwsgi, &api, Invocation::new(&request_id(n), &event));
        assert_eq!(prelude["statusCode"], status, "{prelude}");
        assert!(body.is_empty(), "{:?}", String::from_utf8_lossy(&body));
        let stream = posted.stream.unwrap();
        // The last chunk came, so the body ended, with no error.
        assert!(stream.complete && stream.trailers.is_empty(), "{stream:?}");
        assert_eq!(stream.chunks.len(), 2, "{stream:?}");
    }
    rwsgi.wait_stderr("streaming app closed: /nocontent");
    rwsgi.wait_stderr("streaming app closed: /slow");
}

#[test]
fn a_client_gone_mid_stream_closes_the_app_and_the_loop_goes_on() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    let first = request_id(1);
    api.cut_stream(&first, 1024 * 1024);
    let posted = rwsgi.invoke(
        &api,
        Invocation::new(&first, &function_url("GET", "/endless", "")),
    );
    assert_eq!(posted.answered, 0);
    assert!(!posted.stream.unwrap().complete);
    rwsgi.wait_stderr("streaming app closed: /endless");
    let log = rwsgi.wait_stderr("the connection closed while the body was being sent");
    assert!(!log.contains("panicked"), "{log}");
    let (_, prelude, body) = streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(2), &function_url("GET", "/other", "")),
    );
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(body, b"streaming app\n");
}

#[test]
fn a_streaming_file_wrapper_reassembles_exactly() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api)
        .app("filewrapper:application")
        .env("RWSGI_INVOKE_MODE", "response_stream")
        .start();
    let (posted, prelude, body) = streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(1), &function_url("GET", "/", "")),
    );
    let expected: Vec<u8> = (0..2000)
        .flat_map(|i| format!("line {i:05}\n").into_bytes())
        .collect();
    assert_eq!(body, expected);
    assert_eq!(
        prelude["headers"]["Content-Length"],
        expected.len().to_string()
    );
    // 4096-byte blocks, each a chunk of its own.
    assert!(
        posted.stream.unwrap().chunks.len() > 2 + 4,
        "not streamed in blocks"
    );
}

/// The peak resident memory of a process (`VmHWM`, kB).
fn peak_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_100_mb_streamed_body_keeps_memory_flat() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    // A small streamed reply first: the peak after it is the baseline.
    streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(1), &function_url("GET", "/big", "mb=1")),
    );
    let pid = rwsgi.process.pid();
    let baseline = peak_kb(pid);
    let size = 100 * 1024 * 1024usize;
    let posted = rwsgi.invoke(
        &api,
        Invocation::new(&request_id(2), &function_url("GET", "/big", "mb=100")),
    );
    let stream = posted.stream.expect("streamed");
    assert!(
        stream.complete && stream.trailers.is_empty(),
        "{:?}",
        stream.trailers
    );
    let at = posted.body.windows(8).position(|w| w == [0u8; 8]).unwrap();
    assert_eq!(stream.len as usize, at + 8 + size);
    let mut digest = fnv1a(FNV_START, &posted.body[..at + 8]);
    let pattern: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    digest = fnv1a(digest, &pattern);
    assert_eq!(stream.digest, digest, "the body does not reassemble");
    let grown = peak_kb(pid).saturating_sub(baseline);
    // A few 64 KiB chunks and the connection's buffers, never the body (100 MiB).
    assert!(
        grown < 24 * 1024,
        "the peak grew by {grown} kB while streaming 100 MiB"
    );
}

#[test]
fn doors_that_cannot_stream_answer_buffered_and_say_why_once() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    for n in 1..=2 {
        let reply = rwsgi.reply(&api, Invocation::new(&request_id(n), &get("/cookies", "")));
        assert_eq!(reply["statusCode"], 200);
        assert_eq!(reply["body"], "with cookies\n");
    }
    let log = rwsgi.wait_stderr("cannot stream");
    assert_eq!(log.matches("cannot stream").count(), 1, "{log}");
    assert!(log.contains("API Gateway HTTP API"), "{log}");
    // A non-HTTP event goes to the event handler as ever.
    let posted = rwsgi.invoke(&api, Invocation::new(&request_id(3), &sqs_event()));
    assert_eq!(posted.kind, PostKind::Error);
    assert!(posted.stream.is_none());
}

#[test]
fn a_stream_past_200_mib_ends_with_an_error_and_a_clear_line() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    let posted = rwsgi.invoke(
        &api,
        Invocation::new(&request_id(1), &function_url("GET", "/big", "mb=201")),
    );
    let stream = posted.stream.as_ref().expect("streamed");
    let at = posted.body.windows(8).position(|w| w == [0u8; 8]).unwrap();
    // The body stops at the limit, chunk-aligned (64 KiB chunks).
    assert_eq!(stream.len as usize, at + 8 + 200 * 1024 * 1024);
    let (kind, error) = error_trailers(&posted);
    assert_eq!(kind, "Rwsgi.ResponseTooLarge");
    assert!(
        error["errorMessage"].as_str().unwrap().contains("200 MiB"),
        "{error}"
    );
    let log = rwsgi.wait_stderr("streaming app closed: /big");
    assert!(log.contains("a streamed Lambda response may have"), "{log}");
}

#[test]
fn write_calls_stream_in_order_with_the_returned_chunks() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api)
        .app("writer:application")
        .env("RWSGI_INVOKE_MODE", "response_stream")
        .start();
    let (posted, prelude, body) = streamed_reply(
        &rwsgi,
        &api,
        Invocation::new(&request_id(1), &rest_v1("GET", "/")),
    );
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(body, b"one\ntwo\nthree\n");
    // Each write() is a chunk of its own, after the prelude and the delimiter.
    let sizes: Vec<usize> = posted.stream.unwrap().chunks.iter().map(|c| c.1).collect();
    assert_eq!(sizes[2..], [4, 4, 6]);
}

#[test]
fn a_streaming_app_keeps_its_thread_across_idle_invocations() {
    let api = FakeRuntimeApi::start();
    let rwsgi = streaming_function(&api);
    let thread = |n| {
        streamed_reply(
            &rwsgi,
            &api,
            Invocation::new(&request_id(n), &function_url("GET", "/thread", "")),
        )
        .2
    };
    let first = thread(1);
    // Longer than a blocking thread's default keep-alive in tokio (10 s).
    std::thread::sleep(Duration::from_secs(11));
    assert_eq!(
        thread(2),
        first,
        "the app ran on another thread after an idle spell"
    );
}
