//! End-to-end tests of the Lambda deployment kit (`bootstrap`, `template/`): the package that
//! `make build-RwsgiFunction` builds, started as each of the two Lambda runtimes starts it and
//! driven through the project's fake Runtime API (`tests/support/runtime_api.rs`); the refusals
//! of the bootstrap and of the Makefile; and the checks a deployment depends on (the glibc that
//! Amazon Linux 2023 has, cfn-lint on the SAM template, shellcheck on the bootstrap).
//!
//! They run the release binary, the one a deployment ships, named by `RWSGI_RELEASE_BINARY`
//! (`scripts/test` builds it and sets that), and this machine's Python of the version it embeds,
//! which stands in for both the managed runtime's `/var/lang` and a layer's Python under `/opt`.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::runtime_api::{FakeRuntimeApi, Invocation, PostKind, Posted};
use crate::util::{Output, Running, TempDir};
use serde_json::{Value, json};

/// The longest a process that should answer quickly may take before the test gives up.
const WAIT: Duration = Duration::from_secs(30);

/// The longest a `make` run may take: the requirements one downloads from PyPI.
const MAKE_WAIT: Duration = Duration::from_secs(120);

/// The function's settings, as Lambda puts them in the environment.
const FUNCTION_NAME: &str = "rwsgi-deploy-test";
const FUNCTION_VERSION: &str = "$LATEST";
/// The template's `MemorySize`.
const MEMORY_MB: &str = "512";

/// `LD_LIBRARY_PATH` as Lambda sets it before starting a runtime ("Defined runtime environment
/// variables", AWS Lambda developer guide); the bootstrap must keep it behind Python's folder.
const LAMBDA_LD_LIBRARY_PATH: &str = "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib";

/// The newest glibc symbol version a binary may need to start on Amazon Linux 2023, the OS of
/// Lambda's current runtimes (python3.12 and later, provided.al2023), which ships glibc 2.34.
const GLIBC_CEILING: (u32, u32) = (2, 34);

/// The error type the bootstrap reports its refusals under.
const INVALID_PYTHON: &str = "Runtime.InvalidPython";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn template_dir() -> PathBuf {
    repo().join("template")
}

/// The release build of rwsgi, which is what a function package ships.
fn release_binary() -> PathBuf {
    let Some(path) = std::env::var_os("RWSGI_RELEASE_BINARY") else {
        panic!(
            "RWSGI_RELEASE_BINARY is not set: run scripts/test, which builds rwsgi with \
             `cargo build --release` and sets it to target/release/rwsgi"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "RWSGI_RELEASE_BINARY={} does not exist: run scripts/test (or `cargo build --release`)",
        path.display()
    );
    path
}

/// `name` on `PATH`, when it is there.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `name` on `PATH`, or the test fails saying how to get it.
fn required_tool(name: &str, how: &str) -> PathBuf {
    on_path(name).unwrap_or_else(|| panic!("{name} is not on PATH: {how}"))
}

// ---------------------------------------------------------------------------------------------
// Temporary folders and processes, both cleaned up by their guards

/// A folder under Cargo's temporary folder for integration tests, removed when dropped. The
/// bootstrap reports the folders it looked in as `cd ... && pwd` spells them, which is the path
/// without symbolic links, as [`TempDir`] gives it.
fn temp_dir(name: &str) -> TempDir {
    TempDir::new_in(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        &format!("deploy-{name}"),
    )
}

/// Runs `command` to its end, within `timeout`.
fn run(what: &str, command: Command, timeout: Duration) -> Output {
    start(what, command).finish(timeout)
}

/// Starts `command` with no standard input, in a process group of its own, so that ending it
/// also ends what it started (make's shell and pip, the bootstrap's curl).
fn start(what: &str, mut command: Command) -> Running {
    command.stdin(std::process::Stdio::null());
    Running::start(what, command, true)
}

// ---------------------------------------------------------------------------------------------
// The Python rwsgi embeds, found on this machine

/// This machine's installation of the Python the release binary was built against.
struct HostPython {
    /// The command that runs it (`python3.11`, `python3`, or `PYO3_PYTHON`).
    command: String,
    /// `3.11`.
    version: String,
    /// The interpreter itself, symbolic links resolved: `<prefix>/bin/python3.11`.
    executable: PathBuf,
    /// `<prefix>`, the folder above `bin/`.
    prefix: PathBuf,
    /// The folder holding `libpython3.X.so.1.0`.
    libdir: PathBuf,
    /// The standard library, `.../lib/python3.X`.
    stdlib: PathBuf,
}

impl HostPython {
    /// The tag of its bytecode files, `cpython-311` for `app.cpython-311.pyc`.
    fn cache_tag(&self) -> String {
        format!("cpython-{}", self.version.replace('.', ""))
    }
}

/// `X.Y` of the Python the release binary embeds, from `rwsgi --version`
/// (`rwsgi 0.1.0 (Python 3.11.7)`).
fn embedded_version(binary: &Path) -> String {
    let mut command = Command::new(binary);
    command.arg("--version").env_clear();
    let finished = run("rwsgi --version", command, WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    let full = finished
        .stdout_str()
        .trim()
        .strip_suffix(')')
        .and_then(|s| s.rsplit_once("(Python "))
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("unexpected --version output: {}", finished.dump()));
    let mut parts = full.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => panic!("unexpected Python version {full:?} in --version"),
    }
}

/// The Python of `version` on this machine: `PYO3_PYTHON` (what the build used, when set),
/// else `pythonX.Y`, else `python3`, whichever is that version.
fn host_python(version: &str) -> HostPython {
    let mut commands = Vec::new();
    if let Ok(pyo3) = std::env::var("PYO3_PYTHON") {
        commands.push(pyo3);
    }
    commands.push(format!("python{version}"));
    commands.push("python3".to_string());
    let script = "import sys, sysconfig\n\
                  print('%d.%d' % sys.version_info[:2])\n\
                  print(sys.executable)\n\
                  print(sysconfig.get_config_var('LIBDIR'))\n\
                  print(sysconfig.get_path('stdlib'))";
    let mut tried = Vec::new();
    for name in commands {
        let program = if name.contains('/') {
            Some(PathBuf::from(&name))
        } else {
            on_path(&name)
        };
        let Some(program) = program.filter(|p| p.is_file()) else {
            tried.push(format!("{name}: not found"));
            continue;
        };
        let mut command = Command::new(program);
        command.args(["-c", script]);
        let finished = run(&name, command, WAIT);
        let lines: Vec<&str> = finished.stdout_str().lines().collect();
        if finished.code != Some(0) || lines.len() != 4 {
            tried.push(format!("{name}: {}", finished.dump()));
            continue;
        }
        if lines[0] != version {
            tried.push(format!("{name}: Python {}", lines[0]));
            continue;
        }
        let executable = Path::new(lines[1])
            .canonicalize()
            .unwrap_or_else(|e| panic!("{name}'s sys.executable {}: {e}", lines[1]));
        let prefix = executable
            .parent()
            .and_then(Path::parent)
            .expect("the interpreter lives in <prefix>/bin")
            .to_path_buf();
        return HostPython {
            command: name,
            version: version.to_string(),
            executable,
            prefix,
            libdir: PathBuf::from(lines[2]),
            stdlib: PathBuf::from(lines[3]),
        };
    }
    panic!(
        "no Python {version} (the one the release binary embeds) on this machine; tried {tried:?}"
    );
}

/// The release binary and the Python it embeds.
fn setup() -> (PathBuf, HostPython) {
    let binary = release_binary();
    let version = embedded_version(&binary);
    (binary, host_python(&version))
}

/// A layer root as a Python layer extracts under `/opt`: `lib/libpython3.X.so.1.0` and the
/// standard library in `lib/python3.X/` (with its compiled modules in `lib-dynload/`), copied
/// from this machine's Python without what a function never needs.
fn fake_layer(python: &HostPython, root: &Path) {
    let lib = root.join("lib");
    std::fs::create_dir_all(&lib).expect("create the layer's lib/");
    let libpython = format!("libpython{}.so.1.0", python.version);
    // fs::copy follows symbolic links, so the layer gets the library itself.
    std::fs::copy(python.libdir.join(&libpython), lib.join(&libpython)).unwrap_or_else(|e| {
        panic!(
            "copy {libpython} from {} (Python must be built with --enable-shared): {e}",
            python.libdir.display()
        )
    });
    copy_stdlib(
        &python.stdlib,
        &lib.join(format!("python{}", python.version)),
    );
}

/// Copies the standard library, leaving out its tests, third-party packages, byte-code caches,
/// the static build kit and the GUI and installer parts.
fn copy_stdlib(from: &Path, to: &Path) {
    const SKIPPED: &[&str] = &[
        "test",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
    ];
    std::fs::create_dir_all(to).expect("create a layer folder");
    let entries = std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("read the standard library at {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("a standard library entry");
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if SKIPPED.contains(&name_text.as_ref()) || name_text.starts_with("config-") {
            continue;
        }
        let source = entry.path();
        let metadata = std::fs::metadata(&source).expect("a standard library entry's metadata");
        if metadata.is_dir() {
            copy_stdlib(&source, &to.join(&name));
        } else {
            std::fs::copy(&source, to.join(&name))
                .unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The package

/// `ARCH` of the Makefile for this machine.
fn make_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

/// `make -C <folder> build-RwsgiFunction ...` with the settings a deployment passes: the
/// release binary, this checkout, and the embedded Python's version. The caller's `make`
/// settings are not passed on: a jobserver or an `ARTIFACTS_DIR` of the test's own caller
/// would change what is tested.
fn make_command(folder: &Path, python: &HostPython, binary: &Path) -> Command {
    make_target(folder, "build-RwsgiFunction", python, binary)
}

/// `make build-RwsgiFunction` of the function in `folder`, its package written to `package`.
fn make_package(folder: &Path, package: &Path, python: &HostPython, binary: &Path) -> Output {
    let mut command = make_command(folder, python, binary);
    command.arg(format!("ARTIFACTS_DIR={}", package.display()));
    run("make build-RwsgiFunction", command, MAKE_WAIT)
}

/// `make -C <folder> <target> ...` with the settings of [`make_command`].
fn make_target(folder: &Path, target: &str, python: &HostPython, binary: &Path) -> Command {
    let make = required_tool("make", "install make (Debian: apt-get install make)");
    let mut command = Command::new(make);
    command
        .arg("-C")
        .arg(folder)
        .arg(target)
        .arg(format!("PYTHON_VERSION={}", python.version))
        .arg(format!("PYTHON={}", python.command))
        .arg(format!("ARCH={}", make_arch()))
        .arg(format!("RWSGI_BINARY={}", binary.display()))
        .arg(format!("RWSGI_SRC={}", repo().display()));
    for name in [
        "ARTIFACTS_DIR",
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "MAKEOVERRIDES",
    ] {
        command.env_remove(name);
    }
    command
}

/// Builds the template's package into `package` and returns it.
fn build_package(package: &Path, python: &HostPython, binary: &Path) -> PathBuf {
    let finished = make_package(&template_dir(), package, python, binary);
    assert_eq!(
        finished.code,
        Some(0),
        "the build failed\n{}",
        finished.dump()
    );
    package.to_path_buf()
}

/// The names in `folder`, sorted.
fn listing(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("list {}: {e}", folder.display()))
        .map(|e| {
            e.expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 == 0o111)
}

/// The `Handler` of the template's function, as `sam deploy` hands it to Lambda in `_HANDLER`.
fn template_handler() -> String {
    let text = std::fs::read_to_string(template_dir().join("template.yaml"))
        .expect("read template/template.yaml");
    let handlers: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Handler:"))
        .map(|value| value.trim().trim_matches(|c| c == '"' || c == '\''))
        .collect();
    assert_eq!(
        handlers.len(),
        1,
        "template.yaml should have one Handler: {handlers:?}"
    );
    handlers[0].to_string()
}

// ---------------------------------------------------------------------------------------------
// Starting the bootstrap as Lambda does

/// The environment Lambda gives a runtime ("Defined runtime environment variables", AWS Lambda
/// developer guide), for a function whose code is `package`, talking to `api`. Nothing else of
/// the test's environment gets through but `PATH`.
fn lambda_env(api: &FakeRuntimeApi, package: &Path, handler: &str) -> Vec<(String, String)> {
    [
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("LAMBDA_TASK_ROOT", package.display().to_string()),
        ("_HANDLER", handler.to_string()),
        ("AWS_LAMBDA_RUNTIME_API", api.address()),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME.to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", FUNCTION_VERSION.to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{FUNCTION_NAME}"),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/21/[$LATEST]0123456789abcdef0123456789abcdef".to_string(),
        ),
        ("AWS_REGION", "us-east-1".to_string()),
        ("LANG", "en_US.UTF-8".to_string()),
        ("TZ", ":UTC".to_string()),
        ("LD_LIBRARY_PATH", LAMBDA_LD_LIBRARY_PATH.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `<package>/bootstrap ARGS...` in the package folder (Lambda's working folder is
/// `LAMBDA_TASK_ROOT`) with exactly `env`.
fn bootstrap_command(package: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(package.join("bootstrap"));
    command
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(package);
    command
}

/// Queues `event` and returns the reply JSON rwsgi posted to `/response` for it.
fn reply(api: &FakeRuntimeApi, function: &Running, request_id: &str, event: &Value) -> Value {
    api.push(Invocation::new(request_id, event));
    let posted = api.wait_for(request_id, WAIT).unwrap_or_else(|| {
        panic!(
            "no result for {request_id} within {WAIT:?}; requests: {:?}\n{}",
            api.requests(),
            function.dump()
        )
    });
    assert_eq!(
        (posted.kind, posted.error_type.as_deref()),
        (PostKind::Response, None),
        "expected a /response: {}\n{}",
        String::from_utf8_lossy(&posted.body),
        function.dump()
    );
    posted.json()
}

/// An API Gateway HTTP API payload 2.0 event for the template's routes (`ANY /` and
/// `ANY /{proxy+}` on the `$default` stage), in the shape of "Working with AWS Lambda proxy
/// integrations for HTTP APIs" (API Gateway developer guide).
fn http_api_event(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    let mut headers = json!({
        "accept": "*/*",
        "host": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e",
        "x-forwarded-for": "205.255.255.176",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https"
    });
    if let Some(body) = body {
        headers["content-type"] = json!("application/json");
        headers["content-length"] = json!(body.len().to_string());
    }
    let route_key = if path == "/" {
        "ANY /"
    } else {
        "ANY /{proxy+}"
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
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
            "routeKey": route_key,
            "stage": "$default",
            "time": "21/Nov/2026:05:16:23 +0000",
            "timeEpoch": 1_795_238_183_220u64
        },
        "isBase64Encoded": false
    });
    if path != "/" {
        event["pathParameters"] = json!({"proxy": path.trim_start_matches('/')});
    }
    if !query.is_empty() {
        let parameters: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// The environment of process `pid`, from `/proc/<pid>/environ`.
fn process_env(pid: u32) -> Vec<(String, String)> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("read /proc/<pid>/environ");
    raw.split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let (k, v) = text.split_once('=').unwrap_or((&text, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn env_value(env: &[(String, String)], key: &str) -> Option<String> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

// ---------------------------------------------------------------------------------------------
// Way 1: a managed Python runtime with AWS_LAMBDA_EXEC_WRAPPER

#[test]
fn the_template_builds_a_package_with_the_binary_the_bootstrap_and_the_app() {
    let (binary, python) = setup();
    let tmp = temp_dir("package");
    let package = build_package(&tmp.join("package"), &python, &binary);

    assert_eq!(
        listing(&package),
        [
            "__pycache__",
            "app.py",
            "bootstrap",
            "rwsgi",
            "rwsgi.python"
        ],
        "with an empty requirements.txt the package holds exactly these"
    );
    assert_eq!(
        listing(&package.join("__pycache__")),
        [format!("app.{}.pyc", python.cache_tag())],
        "the app's bytecode, for the target Python only"
    );
    assert!(is_executable(&package.join("bootstrap")));
    assert!(is_executable(&package.join("rwsgi")));
    assert_eq!(
        std::fs::read_to_string(package.join("rwsgi.python")).unwrap(),
        format!("{}\n", python.version)
    );
    for (packaged, original) in [
        ("rwsgi", binary.clone()),
        ("bootstrap", repo().join("bootstrap")),
        ("app.py", template_dir().join("app.py")),
    ] {
        assert!(
            std::fs::read(package.join(packaged)).unwrap() == std::fs::read(&original).unwrap(),
            "the package's {packaged} differs from {}",
            original.display()
        );
    }
}

#[test]
fn a_managed_python_runtime_starts_the_bootstrap_as_its_exec_wrapper() {
    let (binary, python) = setup();
    let tmp = temp_dir("managed");
    let package = build_package(&tmp.join("package"), &python, &binary);
    let api = FakeRuntimeApi::start();

    // The managed runtime's start script runs `$AWS_LAMBDA_EXEC_WRAPPER /var/lang/bin/python3.X
    // /var/runtime/bootstrap.py` ("Modifying the runtime environment", AWS Lambda developer
    // guide); this machine's interpreter stands in for /var/lang/bin/python3.X.
    let mut env = lambda_env(&api, &package, &template_handler());
    let wrapper = package.join("bootstrap").display().to_string();
    env.push(("AWS_LAMBDA_EXEC_WRAPPER".to_string(), wrapper));
    let executable = python.executable.display().to_string();
    let command = bootstrap_command(&package, &[&executable, "/var/runtime/bootstrap.py"], &env);
    let function = start("bootstrap", command);

    let hello = reply(
        &api,
        &function,
        "0a6c9c2e-4a1f-4c6b-9d7e-000000000001",
        &http_api_event("GET", "/", "name=Lambda", None),
    );
    assert_eq!(
        hello,
        json!({
            "statusCode": 200,
            "headers": {
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Length": "15"
            },
            "cookies": [],
            "body": "Hello, Lambda!\n",
            "isBase64Encoded": false
        }),
        "\n{}",
        function.dump()
    );

    let body = r#"{"greeting": "hello", "items": [1, 2, 3]}"#;
    let echo = reply(
        &api,
        &function,
        "0a6c9c2e-4a1f-4c6b-9d7e-000000000002",
        &http_api_event("POST", "/echo", "", Some(body)),
    );
    let echo_body = echo["body"].as_str().expect("a text body");
    assert_eq!(
        echo,
        json!({
            "statusCode": 200,
            "headers": {
                "Content-Type": "application/json",
                "Content-Length": echo_body.len().to_string()
            },
            "cookies": [],
            "body": echo_body,
            "isBase64Encoded": false
        }),
        "\n{}",
        function.dump()
    );
    let echoed: Value = serde_json::from_str(echo_body).expect("a JSON body");
    assert_eq!(
        echoed,
        json!({
            "method": "POST",
            "path": "/echo",
            "content_type": "application/json",
            "length": body.len(),
            "body": body
        })
    );

    // The bootstrap replaced itself with rwsgi (exec), pointed at the interpreter's prefix.
    assert!(
        function.running(),
        "the bootstrap exited\n{}",
        function.dump()
    );
    let exe = std::fs::read_link(format!("/proc/{}/exe", function.pid())).expect("/proc/pid/exe");
    assert_eq!(exe, package.join("rwsgi"));
    let running_env = process_env(function.pid());
    assert_eq!(
        env_value(&running_env, "PYTHONHOME"),
        Some(python.prefix.display().to_string())
    );
    assert_eq!(
        env_value(&running_env, "LD_LIBRARY_PATH"),
        Some(format!(
            "{}/lib:{LAMBDA_LD_LIBRARY_PATH}",
            python.prefix.display()
        ))
    );
    assert_eq!(
        api.posted().len(),
        2,
        "only the two responses: {:?}",
        api.requests()
    );
}

#[test]
fn the_bootstrap_starts_no_program_on_its_way_to_rwsgi() {
    // Each program a shell script starts (dirname, tr, ...) is a fork and an exec in every cold
    // start; the bootstrap's way to rwsgi uses the shell's own expansions. With nothing on PATH,
    // any program it tried to start would be missing and end it.
    let (binary, python) = setup();
    let tmp = temp_dir("no-programs");
    let package = build_package(&tmp.join("package"), &python, &binary);
    let api = FakeRuntimeApi::start();
    let mut env = lambda_env(&api, &package, &template_handler());
    let nothing = tmp.join("empty-path");
    std::fs::create_dir(&nothing).unwrap();
    for (key, value) in env.iter_mut() {
        if key == "PATH" {
            *value = nothing.display().to_string();
        }
    }
    let executable = python.executable.display().to_string();
    let command = bootstrap_command(&package, &[&executable, "/var/runtime/bootstrap.py"], &env);
    let function = start("bootstrap", command);
    let hello = reply(
        &api,
        &function,
        "0a6c9c2e-4a1f-4c6b-9d7e-000000000030",
        &http_api_event("GET", "/", "", None),
    );
    assert_eq!(hello["body"], json!("Hello, world!\n"), "{hello}");
}

// ---------------------------------------------------------------------------------------------
// Way 2: provided.al2023 with Python from a layer

/// An app that says which Python runs it.
const LAYER_PROBE: &str = r#""""Reports which Python runs this function: the deploy test's probe of a layer's Python."""

import json
import os
import sys


def application(environ, start_response):
    with open("/proc/self/maps") as maps:
        libpython = sorted({line.split()[-1] for line in maps if "libpython" in line})
    loaded = sorted(
        {m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    )
    report = {
        "version": "%d.%d" % sys.version_info[:2],
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "os_file": os.__file__,
        "PYTHONHOME": os.environ.get("PYTHONHOME"),
        "LD_LIBRARY_PATH": os.environ.get("LD_LIBRARY_PATH"),
        "libpython": libpython,
        "loaded": loaded,
        "path": sys.path,
    }
    body = json.dumps(report).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"#;

#[test]
fn provided_al2023_runs_the_bootstrap_with_python_from_a_layer() {
    let (binary, python) = setup();
    let tmp = temp_dir("layer");
    let package = build_package(&tmp.join("package"), &python, &binary);
    std::fs::write(package.join("layer_probe.py"), LAYER_PROBE).expect("write the probe app");
    let layer = tmp.join("opt");
    fake_layer(&python, &layer);
    let api = FakeRuntimeApi::start();

    // provided.al2023 runs the bootstrap with no arguments and no AWS_LAMBDA_EXEC_WRAPPER.
    let mut env = lambda_env(&api, &package, "layer_probe.application");
    env.push(("RWSGI_LAYER_ROOT".to_string(), layer.display().to_string()));
    let function = start("bootstrap", bootstrap_command(&package, &[], &env));

    let answer = reply(
        &api,
        &function,
        "0a6c9c2e-4a1f-4c6b-9d7e-000000000003",
        &http_api_event("GET", "/", "", None),
    );
    assert_eq!(answer["statusCode"], json!(200), "{answer}");
    let report: Value =
        serde_json::from_str(answer["body"].as_str().expect("a text body")).expect("JSON");
    let layer_text = layer.display().to_string();
    let stdlib = layer.join("lib").join(format!("python{}", python.version));
    assert_eq!(report["version"], json!(python.version));
    assert_eq!(report["prefix"], json!(layer_text));
    assert_eq!(report["base_prefix"], json!(layer_text));
    assert_eq!(
        report["os_file"],
        json!(stdlib.join("os.py").display().to_string())
    );
    assert_eq!(report["PYTHONHOME"], json!(layer_text));
    assert_eq!(
        report["LD_LIBRARY_PATH"],
        json!(format!("{layer_text}/lib:{LAMBDA_LD_LIBRARY_PATH}"))
    );
    // The loader took the layer's libpython, not the one the binary's RUNPATH names.
    assert_eq!(
        report["libpython"],
        json!([layer
            .join("lib")
            .join(format!("libpython{}.so.1.0", python.version))
            .display()
            .to_string()])
    );
    // Every module came from the layer's standard library or the package.
    let probe = package.join("layer_probe.py").display().to_string();
    let strays: Vec<&str> = report["loaded"]
        .as_array()
        .expect("a list of files")
        .iter()
        .filter_map(Value::as_str)
        .filter(|file| !Path::new(file).starts_with(&stdlib) && *file != probe)
        .collect();
    assert!(
        strays.is_empty(),
        "modules loaded from outside the layer: {strays:?}"
    );
    let host_prefix = python.prefix.display().to_string();
    let path = report["path"].as_array().expect("sys.path");
    assert!(
        path.iter()
            .filter_map(Value::as_str)
            .all(|entry| !entry.starts_with(&host_prefix)),
        "sys.path reaches this machine's Python: {path:?}"
    );
    for needed in [stdlib.clone(), stdlib.join("lib-dynload")] {
        assert!(
            path.contains(&json!(needed.display().to_string())),
            "sys.path lacks {}: {path:?}",
            needed.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The bootstrap's refusals

/// Runs a bootstrap that must refuse to start: it exits 1 with `message` (and nothing else) on
/// stderr, and reports the same message to `/runtime/init/error`, before asking for any event.
fn assert_refusal(package: &Path, args: &[&str], layer: &Path, message: &str) {
    required_tool(
        "curl",
        "the bootstrap reports refusals with curl; scripts/test installs Debian's curl package",
    );
    let api = FakeRuntimeApi::start();
    let mut env = lambda_env(&api, package, &template_handler());
    env.push(("RWSGI_LAYER_ROOT".to_string(), layer.display().to_string()));
    let finished = run("bootstrap", bootstrap_command(package, args, &env), WAIT);
    assert_eq!(finished.code, Some(1), "{}", finished.dump());
    assert_eq!(
        finished.stderr,
        format!("rwsgi bootstrap: {message}\n"),
        "{}",
        finished.dump()
    );
    assert_eq!(finished.stdout_str(), "");

    let posted: Posted = api
        .wait_init_error(WAIT)
        .unwrap_or_else(|| panic!("no /init/error; requests: {:?}", api.requests()));
    assert_eq!(posted.error_type.as_deref(), Some(INVALID_PYTHON));
    assert_eq!(posted.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        posted.json(),
        json!({
            "errorMessage": message,
            "errorType": INVALID_PYTHON,
            "stackTrace": []
        })
    );
    assert_eq!(
        api.requests(),
        ["POST /2018-06-01/runtime/init/error"],
        "the refusal is the only call"
    );
}

#[test]
fn the_bootstrap_refuses_a_layer_python_of_another_version() {
    let (binary, python) = setup();
    let tmp = temp_dir("other-version");
    let package = build_package(&tmp.join("package"), &python, &binary);
    std::fs::write(package.join("rwsgi.python"), "3.99\n").unwrap();
    let layer = tmp.join("opt");
    fake_layer(&python, &layer);
    let version = &python.version;
    assert_refusal(
        &package,
        &[],
        &layer,
        &format!(
            "rwsgi was built for Python 3.99, but the Python in {} is {version}: supply Python \
             3.99 there (a layer holding it), or rebuild rwsgi for Python {version} \
             (PYTHON_VERSION={version}, which builds it with PYO3_PYTHON=python{version})",
            layer.display()
        ),
    );
}

#[test]
fn the_bootstrap_refuses_a_managed_runtime_of_another_version() {
    let (binary, python) = setup();
    let tmp = temp_dir("other-runtime");
    let package = build_package(&tmp.join("package"), &python, &binary);
    std::fs::write(package.join("rwsgi.python"), "3.99\n").unwrap();
    let empty_layers = tmp.join("opt");
    std::fs::create_dir(&empty_layers).unwrap();
    let executable = python.executable.display().to_string();
    let version = &python.version;
    assert_refusal(
        &package,
        &[&executable, "/var/runtime/bootstrap.py"],
        &empty_layers,
        &format!(
            "rwsgi was built for Python 3.99, but this function's runtime has Python {version} \
             (in {}): set the function's runtime to python3.99, or rebuild rwsgi for Python \
             {version} (PYTHON_VERSION={version}, which builds it with \
             PYO3_PYTHON=python{version})",
            python.prefix.display()
        ),
    );
}

#[test]
fn the_bootstrap_refuses_to_start_without_any_python() {
    let (binary, python) = setup();
    let tmp = temp_dir("no-python");
    let package = build_package(&tmp.join("package"), &python, &binary);
    let empty_layers = tmp.join("opt");
    std::fs::create_dir(&empty_layers).unwrap();
    let version = &python.version;
    assert_refusal(
        &package,
        &[],
        &empty_layers,
        &format!(
            "rwsgi was built for Python {version}, and no Python {version} is here (looked for \
             lib/libpython{version}.so.1.0 in /var/lang, {}): use the python{version} runtime \
             with AWS_LAMBDA_EXEC_WRAPPER, or add a layer holding Python {version}",
            empty_layers.display()
        ),
    );
}

#[test]
fn the_bootstrap_refuses_to_start_without_rwsgi_python() {
    let (binary, python) = setup();
    let tmp = temp_dir("no-version-file");
    let package = build_package(&tmp.join("package"), &python, &binary);
    std::fs::remove_file(package.join("rwsgi.python")).unwrap();
    let empty_layers = tmp.join("opt");
    std::fs::create_dir(&empty_layers).unwrap();
    assert_refusal(
        &package,
        &[],
        &empty_layers,
        &format!(
            "cannot read {}/rwsgi.python, which names the Python version rwsgi was built for \
             (the build writes it)",
            package.display()
        ),
    );
}

#[test]
fn the_bootstrap_refuses_to_start_without_the_rwsgi_binary() {
    let (binary, python) = setup();
    let tmp = temp_dir("no-binary");
    let package = build_package(&tmp.join("package"), &python, &binary);
    std::fs::remove_file(package.join("rwsgi")).unwrap();
    let empty_layers = tmp.join("opt");
    std::fs::create_dir(&empty_layers).unwrap();
    assert_refusal(
        &package,
        &[],
        &empty_layers,
        &format!(
            "cannot find the rwsgi binary (looked beside {}/bootstrap, in {}/bin and in {}/bin); \
             put it in the function package next to this bootstrap, or add rwsgi's layer",
            package.display(),
            package.display(),
            empty_layers.display()
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// The Makefile's refusals and requirements

/// Whether `line` is one of the lines of `text`.
fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn the_build_refuses_a_binary_built_for_another_python() {
    let (binary, python) = setup();
    let tmp = temp_dir("make-other-python");
    let package = tmp.join("package");
    let mut command = make_command(&template_dir(), &python, &binary);
    // A later assignment on make's command line wins.
    command
        .arg("PYTHON_VERSION=3.99")
        .arg(format!("ARTIFACTS_DIR={}", package.display()));
    let finished = run("make build-RwsgiFunction", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(2), "{}", finished.dump());
    let message = format!(
        "{} was not built for Python 3.99 (it links libpython{}.so); build it with \
         PYO3_PYTHON=python3.99",
        binary.display(),
        python.version
    );
    assert!(
        has_line(&finished.stderr, &message),
        "stderr lacks {message:?}\n{}",
        finished.dump()
    );
    assert!(!package.exists(), "nothing is packaged");
}

#[test]
fn the_build_refuses_a_binary_for_another_architecture() {
    let (binary, python) = setup();
    let tmp = temp_dir("make-other-arch");
    let package = tmp.join("package");
    let other = if make_arch() == "x86_64" {
        "arm64"
    } else {
        "x86_64"
    };
    let mut command = make_command(&template_dir(), &python, &binary);
    command
        .arg(format!("ARCH={other}"))
        .arg(format!("ARTIFACTS_DIR={}", package.display()));
    let finished = run("make build-RwsgiFunction", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(2), "{}", finished.dump());
    let machine = if make_arch() == "x86_64" { 62 } else { 183 };
    let message = format!(
        "{} is not an ELF binary for {other} (its machine type is {machine}): build it on an \
         {other} machine",
        binary.display()
    );
    assert!(
        has_line(&finished.stderr, &message),
        "stderr lacks {message:?}\n{}",
        finished.dump()
    );
    assert!(!package.exists(), "nothing is packaged");
}

#[test]
fn the_build_from_source_refuses_another_architecture() {
    let (binary, python) = setup();
    let tmp = temp_dir("make-source-other-arch");
    let package = tmp.join("package");
    let other = if make_arch() == "x86_64" {
        "arm64"
    } else {
        "x86_64"
    };
    let mut command = make_command(&template_dir(), &python, &binary);
    // An empty RWSGI_BINARY means: build from RWSGI_SRC, which cannot make another architecture.
    command
        .arg("RWSGI_BINARY=")
        .arg(format!("ARCH={other}"))
        .arg(format!("ARTIFACTS_DIR={}", package.display()));
    let finished = run("make build-RwsgiFunction", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(2), "{}", finished.dump());
    assert!(
        finished.stderr.contains(&format!(
            "; build rwsgi for {other} on an {other} machine (or a container of one) and pass \
             RWSGI_BINARY"
        )),
        "{}",
        finished.dump()
    );
}

#[test]
fn the_bootstrap_reads_a_version_file_with_crlf_line_ends() {
    let (binary, python) = setup();
    let tmp = temp_dir("crlf-version");
    let package = build_package(&tmp.join("package"), &python, &binary);
    std::fs::write(
        package.join("rwsgi.python"),
        format!("{}\r\n", python.version),
    )
    .unwrap();
    let empty_layers = tmp.join("opt");
    std::fs::create_dir(&empty_layers).unwrap();
    // The same refusal as without any Python proves the version was read as X.Y, not "X.Y\r".
    let version = &python.version;
    assert_refusal(
        &package,
        &[],
        &empty_layers,
        &format!(
            "rwsgi was built for Python {version}, and no Python {version} is here (looked for \
             lib/libpython{version}.so.1.0 in /var/lang, {}): use the python{version} runtime \
             with AWS_LAMBDA_EXEC_WRAPPER, or add a layer holding Python {version}",
            empty_layers.display()
        ),
    );
}

#[test]
fn the_bootstrap_refuses_a_version_file_that_is_not_a_version() {
    let (binary, python) = setup();
    let tmp = temp_dir("junk-version");
    let package = build_package(&tmp.join("package"), &python, &binary);
    std::fs::write(package.join("rwsgi.python"), "3.11\"evil\n").unwrap();
    let empty_layers = tmp.join("opt");
    std::fs::create_dir(&empty_layers).unwrap();
    // The message holds a double quote: the init error body must still be valid JSON, which
    // assert_refusal checks by parsing it.
    assert_refusal(
        &package,
        &[],
        &empty_layers,
        &format!(
            "{}/rwsgi.python holds '3.11\"evil', not a Python version such as 3.12",
            package.display()
        ),
    );
}

#[test]
fn the_build_refuses_to_run_without_artifacts_dir() {
    let (binary, python) = setup();
    let command = make_command(&template_dir(), &python, &binary);
    let finished = run("make build-RwsgiFunction", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(2), "{}", finished.dump());
    let message =
        "ARTIFACTS_DIR is not set: sam build sets it; by hand, pass ARTIFACTS_DIR=/some/folder";
    assert!(
        has_line(&finished.stderr, message),
        "stderr lacks {message:?}\n{}",
        finished.dump()
    );
    assert!(
        !finished.stdout_str().contains("mkdir") && !finished.stdout_str().contains("cp "),
        "the recipe went on\n{}",
        finished.dump()
    );
}

#[test]
fn the_build_installs_requirements_for_the_target() {
    let (binary, python) = setup();
    let tmp = temp_dir("make-requirements");
    // A function folder copied from the template, as the README says to start one.
    let function = tmp.join("myfunction");
    std::fs::create_dir(&function).unwrap();
    for name in listing(&template_dir()) {
        let source = template_dir().join(&name);
        if source.is_file() {
            std::fs::copy(&source, function.join(&name)).unwrap();
        }
    }
    std::fs::write(
        function.join("requirements.txt"),
        "# A small pure-Python package, pinned.\nsix==1.16.0\n",
    )
    .unwrap();
    let package = tmp.join("package");
    let finished = make_package(&function, &package, &python, &binary);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    let announced = format!(
        "installing requirements.txt for Python {} on {}",
        python.version,
        make_arch()
    );
    assert!(
        has_line(finished.stdout_str(), &announced),
        "stdout lacks {announced:?}\n{}",
        finished.dump()
    );

    assert_eq!(
        listing(&package),
        [
            "__pycache__",
            "app.py",
            "bootstrap",
            "rwsgi",
            "rwsgi.python",
            "six-1.16.0.dist-info",
            "six.py"
        ],
        "\n{}",
        finished.dump()
    );
    let tag = python.cache_tag();
    assert_eq!(
        listing(&package.join("__pycache__")),
        [format!("app.{tag}.pyc"), format!("six.{tag}.pyc")],
        "the bytecode of the app and of its requirements"
    );
    let metadata = std::fs::read_to_string(package.join("six-1.16.0.dist-info").join("METADATA"))
        .expect("six's METADATA");
    assert!(has_line(&metadata, "Name: six"), "{metadata}");
    assert!(has_line(&metadata, "Version: 1.16.0"), "{metadata}");
}

// ---------------------------------------------------------------------------------------------
// Bytecode: the package's modules load without being compiled at start

/// Put first on `sys.path` (`PYTHONPATH`), so that `site` imports it before the app: it records
/// every compilation of a file as it happens (`compile` is an audit event of CPython's,
/// "Audit events table" in the Python docs), which is what importlib does for a module whose
/// bytecode is missing or stale.
const COMPILE_WATCH: &str = r#""""The deploy test's watch on compilation: the files Python compiles, in order."""

import sys

COMPILED = []


def _watch(event, args):
    if event == "compile" and len(args) >= 2 and isinstance(args[1], (str, bytes)):
        COMPILED.append(args[1] if isinstance(args[1], str) else args[1].decode("utf-8", "replace"))


sys.addaudithook(_watch)
"#;

/// The app of the bytecode tests: it imports a package of its own and a requirement, and
/// reports what was compiled and where each of its modules' bytecode is.
const BYTECODE_PROBE: &str = r#""""Reports how the function's modules were loaded: the deploy test's bytecode probe."""

import json
import os
import sys

import shop.views
import six
import sitecustomize


def application(environ, start_response):
    root = os.environ["LAMBDA_TASK_ROOT"]
    modules = {}
    for name, module in sorted(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not file.startswith(root + os.sep):
            continue
        cached = getattr(module, "__cached__", None)
        flags = None
        if cached and os.path.isfile(cached):
            with open(cached, "rb") as pyc:
                flags = int.from_bytes(pyc.read(8)[4:8], "little")
        modules[name] = {"file": file, "cached": cached, "flags": flags}
    report = {
        "compiled": sitecustomize.COMPILED,
        "modules": modules,
        "dont_write_bytecode": sys.dont_write_bytecode,
        "greeting": shop.views.greeting(),
        "six": six.__version__,
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(report).encode("utf-8")]
"#;

/// A function folder as the README says to start one: the template's build files, the probe
/// as app.py, a package of the app's own, and one small pure-Python requirement.
fn bytecode_function(folder: &Path) {
    std::fs::create_dir_all(folder.join("shop")).unwrap();
    for name in [
        "Makefile",
        "template.yaml",
        "template-layer.yaml",
        "Cargo.toml",
    ] {
        std::fs::copy(template_dir().join(name), folder.join(name)).unwrap();
    }
    std::fs::write(folder.join("app.py"), BYTECODE_PROBE).unwrap();
    std::fs::write(folder.join("shop").join("__init__.py"), "").unwrap();
    std::fs::write(
        folder.join("shop").join("views.py"),
        "def greeting():\n    return 'hello from shop'\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("requirements.txt"),
        "# A small pure-Python package, pinned.\nsix==1.16.0\n",
    )
    .unwrap();
}

/// Every file under `folder`, as paths relative to it, sorted.
fn tree(folder: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(folder, folder, &mut out);
    out.sort();
    out
}

/// Takes the write permission from everything under `folder` (or gives it back), as Lambda's
/// `/var/task` has none. Root is not held back by file modes, which is why the tests also tell
/// Python not to write bytecode and compare the folder's files before and after.
fn set_writable(folder: &Path, writable: bool) {
    let metadata = std::fs::symlink_metadata(folder).unwrap();
    if metadata.is_dir() {
        for entry in std::fs::read_dir(folder).unwrap() {
            set_writable(&entry.unwrap().path(), writable);
        }
    }
    if metadata.file_type().is_symlink() {
        return;
    }
    let mut permissions = metadata.permissions();
    let mode = permissions.mode();
    permissions.set_mode(if writable {
        mode | 0o200
    } else {
        mode & !0o222
    });
    std::fs::set_permissions(folder, permissions).unwrap();
}

/// Gives every `.py` file under `folder` the modification time 1980-01-01, the earliest a zip
/// can hold, as an upload may: a timestamp-checked `.pyc` goes stale, an unchecked one stays.
fn age_sources(folder: &Path) {
    let old = std::time::UNIX_EPOCH + Duration::from_secs(315_532_800);
    for file in tree(folder) {
        if file.ends_with(".py") {
            std::fs::File::options()
                .write(true)
                .open(folder.join(&file))
                .and_then(|f| f.set_modified(old))
                .unwrap_or_else(|e| panic!("set the time of {file}: {e}"));
        }
    }
}

/// Runs the package read-only, as the managed runtime starts it, with Python told not to write
/// bytecode and the compile watch on; returns the probe's report.
fn run_read_only(package: &Path, wrapper: &Path, python: &HostPython, watch: &Path) -> Value {
    let before = tree(package);
    set_writable(package, false);
    let api = FakeRuntimeApi::start();
    let mut env = lambda_env(&api, package, "app.application");
    env.push((
        "AWS_LAMBDA_EXEC_WRAPPER".to_string(),
        wrapper.display().to_string(),
    ));
    env.push(("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()));
    env.push(("PYTHONPATH".to_string(), watch.display().to_string()));
    let executable = python.executable.display().to_string();
    let mut command = Command::new(wrapper);
    command
        .args([executable.as_str(), "/var/runtime/bootstrap.py"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(package);
    let function = start("bootstrap", command);
    let answer = reply(
        &api,
        &function,
        "0a6c9c2e-4a1f-4c6b-9d7e-000000000010",
        &http_api_event("GET", "/", "", None),
    );
    drop(function);
    set_writable(package, true);
    assert_eq!(answer["statusCode"], json!(200), "{answer}");
    assert_eq!(tree(package), before, "the run wrote into the package");
    let report: Value =
        serde_json::from_str(answer["body"].as_str().expect("a text body")).expect("JSON");
    assert_eq!(report["greeting"], json!("hello from shop"));
    assert_eq!(report["six"], json!("1.16.0"));
    assert_eq!(report["dont_write_bytecode"], json!(true));
    report
}

/// The compiled files the report names that are in `package`, relative to it.
fn compiled_in(report: &Value, package: &Path) -> Vec<String> {
    let mut files: Vec<String> = report["compiled"]
        .as_array()
        .expect("a list of compiled files")
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|f| Path::new(f).strip_prefix(package).ok())
        .map(|f| f.display().to_string())
        .collect();
    files.sort();
    files
}

/// A hash-based `.pyc` whose source is never checked (PEP 552: flags bit 0 set, bit 1 clear).
const UNCHECKED_HASH: u64 = 0b01;

#[test]
fn the_packaged_app_and_its_requirements_load_from_bytecode_without_compiling() {
    let (binary, python) = setup();
    let tmp = temp_dir("bytecode");
    let function = tmp.join("myfunction");
    bytecode_function(&function);
    let watch = tmp.join("watch");
    std::fs::create_dir(&watch).unwrap();
    std::fs::write(watch.join("sitecustomize.py"), COMPILE_WATCH).unwrap();

    let package = tmp.join("package");
    let finished = make_package(&function, &package, &python, &binary);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    for build_file in [
        "Makefile",
        "template.yaml",
        "template-layer.yaml",
        "Cargo.toml",
    ] {
        assert!(
            !package.join(build_file).exists(),
            "{build_file} is the build's, not the app's, and must not be packaged"
        );
    }
    let tag = python.cache_tag();
    assert_eq!(
        listing(&package.join("shop").join("__pycache__")),
        [format!("__init__.{tag}.pyc"), format!("views.{tag}.pyc")]
    );
    age_sources(&package);

    let report = run_read_only(&package, &package.join("bootstrap"), &python, &watch);
    assert_eq!(
        compiled_in(&report, &package),
        Vec::<String>::new(),
        "modules of the package were compiled at start: {report}"
    );
    let modules = report["modules"].as_object().expect("the modules");
    let names: Vec<&str> = modules.keys().map(String::as_str).collect();
    assert_eq!(names, ["app", "shop", "shop.views", "six"], "{report}");
    for (name, module) in modules {
        let file = module["file"].as_str().unwrap();
        let stem = Path::new(file).file_stem().unwrap().to_string_lossy();
        let expected = Path::new(file)
            .parent()
            .unwrap()
            .join("__pycache__")
            .join(format!("{stem}.{tag}.pyc"));
        assert_eq!(
            module["cached"],
            json!(expected.display().to_string()),
            "{name}"
        );
        assert_eq!(
            module["flags"],
            json!(UNCHECKED_HASH),
            "{name}'s bytecode is not unchecked-hash: {module}"
        );
    }

    // The same function without bytecode, as the build made it before: the watch sees every
    // module of the package compiled at start (which also shows that it sees compilations).
    let bare = tmp.join("bare");
    let mut command = make_command(&function, &python, &binary);
    command
        .arg("BYTECODE=no")
        .arg(format!("ARTIFACTS_DIR={}", bare.display()));
    let finished = run("make build-RwsgiFunction BYTECODE=no", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    assert!(
        !tree(&bare).iter().any(|f| f.contains("__pycache__")),
        "{:?}",
        tree(&bare)
    );
    let report = run_read_only(&bare, &bare.join("bootstrap"), &python, &watch);
    assert_eq!(
        compiled_in(&report, &bare),
        ["app.py", "shop/__init__.py", "shop/views.py", "six.py"],
        "{report}"
    );
}

#[test]
fn the_build_removes_bytecode_of_other_pythons_and_replaces_stale_bytecode() {
    let (binary, python) = setup();
    let tmp = temp_dir("other-bytecode");
    let function = tmp.join("myfunction");
    bytecode_function(&function);
    std::fs::write(function.join("requirements.txt"), "").unwrap();
    // What a developer's own runs leave in the folder: bytecode of another Python, and a
    // timestamp-checked file of this one.
    let cache = function.join("shop").join("__pycache__");
    std::fs::create_dir(&cache).unwrap();
    std::fs::write(cache.join("views.cpython-39.pyc"), b"not this Python's").unwrap();
    let mut compile = Command::new(&python.executable);
    compile
        .args(["-m", "compileall", "-q"])
        .arg(function.join("shop"));
    let finished = run("compileall", compile, WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());

    let package = tmp.join("package");
    let finished = make_package(&function, &package, &python, &binary);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    let tag = python.cache_tag();
    let cache = package.join("shop").join("__pycache__");
    assert_eq!(
        listing(&cache),
        [format!("__init__.{tag}.pyc"), format!("views.{tag}.pyc")]
    );
    for name in listing(&cache) {
        let header = std::fs::read(cache.join(&name)).unwrap();
        assert_eq!(
            u32::from_le_bytes(header[4..8].try_into().unwrap()),
            UNCHECKED_HASH as u32,
            "{name}"
        );
    }
}

#[test]
fn the_build_refuses_an_app_that_does_not_compile() {
    let (binary, python) = setup();
    let tmp = temp_dir("syntax-error");
    let function = tmp.join("myfunction");
    bytecode_function(&function);
    std::fs::write(function.join("requirements.txt"), "").unwrap();
    std::fs::write(
        function.join("shop").join("views.py"),
        "def greeting(:\n    pass\n",
    )
    .unwrap();
    let package = tmp.join("package");
    let finished = make_package(&function, &package, &python, &binary);
    assert_eq!(finished.code, Some(2), "{}", finished.dump());
    assert!(
        finished.stderr.contains("SyntaxError")
            && finished.stderr.contains("views.py")
            && has_line(
                &finished.stderr,
                &format!(
                    "the app does not compile for Python {} (above)",
                    python.version
                )
            ),
        "{}",
        finished.dump()
    );
}

/// A stand-in for a version manager's shim of a Python that is not enabled: what pyenv's
/// `python3.X` says and does when that version is installed but not selected.
fn disabled_python(folder: &Path, version: &str) -> PathBuf {
    let shim = folder.join(format!("python{version}"));
    std::fs::write(
        &shim,
        format!("#!/bin/sh\necho 'pyenv: python{version}: command not found' >&2\nexit 127\n"),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    shim
}

#[test]
fn the_build_says_what_to_do_without_the_target_python() {
    let (binary, python) = setup();
    let tmp = temp_dir("no-target-python");
    let shim = disabled_python(&tmp.0, &python.version);
    let version = &python.version;
    let ways_out = [
        format!(
            "this machine has no Python {version}: PYTHON={} does not run (not installed, not on \
             PATH, or a version manager has not enabled it).",
            shim.display()
        ),
        format!(
            "  - install Python {version} (with its shared library, libpython{version}.so) and \
             pass PYTHON=/path/to/python{version} unless it is on PATH as python{version} \
             (pyenv: pyenv install {version}, then PYTHON=$(pyenv root)/versions/{version}.N/bin/\
             python{version})"
        ),
        format!(
            "  - or build in a container that has Python {version}, such as Lambda's build \
             image for python{version} (sam build --use-container)"
        ),
    ];

    // With a binary built elsewhere, the bytecode still needs that Python.
    let package = tmp.join("package");
    let mut command = make_command(&template_dir(), &python, &binary);
    command
        .arg(format!("PYTHON={}", shim.display()))
        .arg(format!("ARTIFACTS_DIR={}", package.display()));
    let finished = run("make build-RwsgiFunction", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(2), "{}", finished.dump());
    let without = "  - or package without bytecode: pass BYTECODE=no (every cold start then \
                   compiles every module the app imports: a Flask or Django app takes two to \
                   three times as long to start)"
        .to_string();
    for line in ways_out.iter().chain([&without]) {
        assert!(
            has_line(&finished.stderr, line),
            "stderr lacks {line:?}\n{}",
            finished.dump()
        );
    }
    // The shim's own words are not the message.
    assert!(
        !finished.stderr.contains("command not found"),
        "{}",
        finished.dump()
    );
    assert!(!package.exists(), "nothing is packaged");

    // BYTECODE=no goes without, saying so.
    let mut command = make_command(&template_dir(), &python, &binary);
    command
        .arg(format!("PYTHON={}", shim.display()))
        .arg("BYTECODE=no")
        .arg(format!("ARTIFACTS_DIR={}", package.display()));
    let finished = run("make build-RwsgiFunction BYTECODE=no", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    assert!(
        has_line(
            &finished.stderr,
            "WARNING: BYTECODE=no: the package gets no bytecode, so every cold start compiles \
             every module the app imports (a Flask or Django app takes two to three times as \
             long to start)"
        ),
        "{}",
        finished.dump()
    );
    assert_eq!(
        listing(&package),
        ["app.py", "bootstrap", "rwsgi", "rwsgi.python"]
    );

    // Building rwsgi from source needs it too: the build stops before cargo starts.
    let mut command = make_command(&template_dir(), &python, &binary);
    command
        .arg("RWSGI_BINARY=")
        .arg(format!("PYTHON={}", shim.display()))
        .arg(format!("ARTIFACTS_DIR={}", tmp.join("source").display()));
    let finished = run("make build-RwsgiFunction from source", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(2), "{}", finished.dump());
    for line in ways_out.iter().chain([&format!(
        "  - or pass RWSGI_BINARY=/path/to/rwsgi built for Python {version} on {} elsewhere \
         (the bytecode still needs Python {version} here; BYTECODE=no goes without it)",
        make_arch()
    )]) {
        assert!(
            has_line(&finished.stderr, line),
            "stderr lacks {line:?}\n{}",
            finished.dump()
        );
    }
    assert!(
        !finished.stdout_str().contains("building rwsgi"),
        "{}",
        finished.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// rwsgi as a layer

/// Extracts `zip` into `to` as Lambda extracts a layer, keeping each file's mode; returns the
/// members with their modes (`bin/rwsgi 755`).
fn extract_layer(zip: &Path, to: &Path) -> Vec<String> {
    let script = "import os, sys, zipfile\n\
                  members = []\n\
                  with zipfile.ZipFile(sys.argv[1]) as z:\n\
                  \x20   for info in z.infolist():\n\
                  \x20       path = z.extract(info, sys.argv[2])\n\
                  \x20       mode = (info.external_attr >> 16) & 0o777\n\
                  \x20       os.chmod(path, mode)\n\
                  \x20       members.append('%s %o' % (info.filename, mode))\n\
                  print('\\n'.join(sorted(members)))";
    let mut command = Command::new("python3");
    command.args(["-c", script]).arg(zip).arg(to);
    let finished = run("extract the layer", command, WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    finished.stdout_str().lines().map(str::to_string).collect()
}

#[test]
fn the_layer_boots_as_a_managed_runtimes_exec_wrapper_with_an_app_only_package() {
    let (binary, python) = setup();
    let tmp = temp_dir("rwsgi-layer");
    let zip = tmp.join("layer.zip");
    let mut command = make_target(&template_dir(), "layer", &python, &binary);
    command.arg(format!("LAYER_ZIP={}", zip.display()));
    let finished = run("make layer", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    assert!(
        has_line(
            finished.stdout_str(),
            &format!(
                "wrote {}: bootstrap, bin/rwsgi and bin/rwsgi.python for Python {} on {}",
                zip.display(),
                python.version,
                make_arch()
            )
        ),
        "{}",
        finished.dump()
    );
    // Lambda extracts a layer to /opt; a folder stands in for it.
    let opt = tmp.join("opt");
    std::fs::create_dir(&opt).unwrap();
    assert_eq!(
        extract_layer(&zip, &opt),
        [
            "bin/ 755",
            "bin/rwsgi 755",
            "bin/rwsgi.python 644",
            "bootstrap 755"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(opt.join("bin").join("rwsgi.python")).unwrap(),
        format!("{}\n", python.version)
    );

    // The function's own package: the app and its bytecode, nothing of rwsgi.
    let package = tmp.join("task");
    let mut command = make_target(&template_dir(), "build-AppFunction", &python, &binary);
    command.arg(format!("ARTIFACTS_DIR={}", package.display()));
    let finished = run("make build-AppFunction", command, MAKE_WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    assert_eq!(listing(&package), ["__pycache__", "app.py"]);

    // The managed runtime runs `$AWS_LAMBDA_EXEC_WRAPPER /var/lang/bin/python3.X
    // /var/runtime/bootstrap.py`; with the layer, the wrapper is /opt/bootstrap.
    let api = FakeRuntimeApi::start();
    let mut env = lambda_env(&api, &package, &template_handler());
    let wrapper = opt.join("bootstrap");
    env.push((
        "AWS_LAMBDA_EXEC_WRAPPER".to_string(),
        wrapper.display().to_string(),
    ));
    let executable = python.executable.display().to_string();
    let mut command = Command::new(&wrapper);
    command
        .args([executable.as_str(), "/var/runtime/bootstrap.py"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&package);
    let function = start("bootstrap", command);
    let hello = reply(
        &api,
        &function,
        "0a6c9c2e-4a1f-4c6b-9d7e-000000000020",
        &http_api_event("GET", "/", "name=Layer", None),
    );
    assert_eq!(hello["statusCode"], json!(200), "{hello}");
    assert_eq!(hello["body"], json!("Hello, Layer!\n"), "{hello}");
    assert!(
        function.running(),
        "the bootstrap exited\n{}",
        function.dump()
    );
    let exe = std::fs::read_link(format!("/proc/{}/exe", function.pid())).expect("/proc/pid/exe");
    assert_eq!(exe, opt.join("bin").join("rwsgi"));
    let running_env = process_env(function.pid());
    assert_eq!(
        env_value(&running_env, "PYTHONHOME"),
        Some(python.prefix.display().to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// What a deployment depends on

/// A glibc symbol version such as `2.2.5`, compared numerically part by part.
fn glibc_version(text: &str) -> Option<Vec<u32>> {
    text.split('.').map(|part| part.parse().ok()).collect()
}

#[test]
fn the_release_binary_needs_no_glibc_newer_than_amazon_linux_2023s() {
    let binary = release_binary();
    let objdump = required_tool(
        "objdump",
        "install binutils (Debian: apt-get install binutils)",
    );
    let mut command = Command::new(objdump);
    command.arg("-T").arg(&binary);
    let finished = run("objdump -T", command, WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());

    // Lines such as `0000000000000000      DF *UND*  0000000000000000 (GLIBC_2.34) __libc_start_main`;
    // the version is in parentheses when it is not the symbol's default one.
    let ceiling = [GLIBC_CEILING.0, GLIBC_CEILING.1];
    let mut needed = BTreeSet::new();
    let mut offending = Vec::new();
    for line in finished.stdout_str().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(version) = fields.iter().find_map(|f| {
            f.trim_matches(|c| c == '(' || c == ')')
                .strip_prefix("GLIBC_")
        }) else {
            continue;
        };
        let Some(parsed) = glibc_version(version) else {
            continue;
        };
        let symbol = fields.last().copied().unwrap_or_default();
        if parsed.as_slice() > ceiling.as_slice() {
            offending.push(format!("{symbol}@GLIBC_{version}"));
        }
        needed.insert(parsed);
    }
    assert!(
        !needed.is_empty(),
        "objdump -T shows no GLIBC_ symbol versions in {}\n{}",
        binary.display(),
        finished.dump()
    );
    assert!(
        offending.is_empty(),
        "{} needs glibc newer than {}.{} (Amazon Linux 2023): {offending:?}; build it on an older \
         system (Amazon Linux 2023, Debian 12, Ubuntu 22.04)",
        binary.display(),
        GLIBC_CEILING.0,
        GLIBC_CEILING.1
    );
}

#[test]
fn cfn_lint_finds_no_errors_in_the_sam_templates() {
    let Some(venv) = std::env::var_os("RWSGI_TEST_VENV") else {
        panic!("RWSGI_TEST_VENV is not set: run scripts/test, which makes the test virtualenv");
    };
    let cfn_lint = Path::new(&venv).join("bin").join("cfn-lint");
    assert!(
        cfn_lint.is_file(),
        "{} is missing: run scripts/test, which installs cfn-lint into the test virtualenv",
        cfn_lint.display()
    );
    let mut command = Command::new(cfn_lint);
    command
        .arg(template_dir().join("template.yaml"))
        .arg(template_dir().join("template-layer.yaml"))
        .current_dir(repo());
    let finished = run("cfn-lint", command, WAIT);
    // cfn-lint's exit status is a bit set: 2 errors, 4 warnings, 8 informational findings.
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    assert_eq!(finished.stdout_str(), "", "{}", finished.dump());
}

#[test]
fn the_templates_handler_names_the_example_app() {
    let binary = release_binary();
    let handler = template_handler();
    // Lambda's Handler spells the app `module.attribute`; `rwsgi call` takes `module:attribute`.
    let (module, attribute) = handler
        .rsplit_once('.')
        .unwrap_or_else(|| panic!("the Handler {handler:?} is not module.attribute"));
    let spec = format!("{module}:{attribute}");
    let mut command = Command::new(binary);
    command
        .args(["call", "--app", &spec, "GET", "/"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(template_dir());
    let finished = run("rwsgi call", command, WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    assert_eq!(
        finished.stdout_str(),
        "Hello, world!\n",
        "{}",
        finished.dump()
    );
}

#[test]
fn shellcheck_passes_the_bootstrap() {
    let shellcheck = required_tool(
        "shellcheck",
        "scripts/test installs Debian's shellcheck package (apt-get install shellcheck)",
    );
    let mut command = Command::new(shellcheck);
    command.arg("bootstrap").current_dir(repo());
    let finished = run("shellcheck", command, WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.dump());
    assert_eq!(finished.stdout_str(), "", "{}", finished.dump());
}
