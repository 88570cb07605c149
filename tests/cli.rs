//! Integration tests of `rwsgi call` (docs/cli.md) against the small apps in `tests/apps/`: how
//! a request becomes a WSGI environ, how the app's response becomes output and an exit code,
//! and the rules of PEP 3333 on both sides.

use std::path::Path;

use rwsgi::testing::http::latin1_string;

use crate::util::{
    LIMIT, Output, Running, VERSION, apps_dir, call, embedded_python_minor, latin1_bytes, program,
    rwsgi, rwsgi_bin, temp_dir, temp_path, write_file,
};
use base64::Engine as _;
use serde_json::{Value, json};

/// `rwsgi call --app echo ARGS...`: the environ and body the app saw.
fn echo(args: &[&str]) -> Value {
    let mut all = vec!["--app", "echo"];
    all.extend_from_slice(args);
    let out = call(all).run();
    out.assert_ok();
    out.json()
}

/// The response rwsgi makes when the app fails before its headers are out.
fn assert_internal_error(out: &Output) {
    out.assert_code(1)
        .assert_stdout("500 Internal Server Error\n")
        .assert_stderr_has("rwsgi: error:");
}

/// The same, printed with `-i`.
fn assert_internal_error_included(out: &Output) {
    out.assert_code(1).assert_stderr_has("rwsgi: error:");
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(response.one("Content-Type"), "text/plain; charset=utf-8");
    assert_eq!(response.body, b"500 Internal Server Error\n");
}

/// The bytes binary.py sends for `?size=N`.
fn binary_pattern(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (((i * 131) ^ (i >> 8)) & 0xFF) as u8)
        .collect()
}

/// The file filewrapper.py serves.
fn filewrapper_data() -> Vec<u8> {
    (0..2000)
        .flat_map(|i| format!("line {i:05}\n").into_bytes())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Starting the binary

#[test]
fn version_names_rwsgi_and_the_embedded_python() {
    let out = rwsgi(["--version"]).run();
    out.assert_ok();
    let text = out.stdout_str();
    assert!(
        text.starts_with(&format!("rwsgi {VERSION}")),
        "{}",
        out.dump()
    );
    assert!(text.contains("Python 3."), "{}", out.dump());
    // The minor version must be a number: `Python 3.11.7`.
    let minor = embedded_python_minor();
    assert!(
        minor
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "{minor:?}"
    );
}

#[test]
fn no_subcommand_and_no_server_environment_prints_usage() {
    let out = rwsgi(Vec::<String>::new()).run();
    out.assert_code(2).assert_stderr_has_nocase("usage");
    assert!(out.stdout.is_empty(), "{}", out.dump());
}

#[test]
fn runs_as_rwsgi_call_under_that_name() {
    let dir = temp_dir("link");
    let link = dir.join("rwsgi-call");
    std::os::unix::fs::symlink(rwsgi_bin(), &link).expect("symlink");
    let out = rwsgi(["--app", "echo", "/via-link?read=none"])
        .program(&link)
        .run();
    out.assert_ok();
    let env = out.json();
    assert_eq!(env["PATH_INFO"], "/via-link");
    assert_eq!(env["QUERY_STRING"], "read=none");
}

#[test]
fn unknown_option_is_a_usage_error() {
    call(["--app", "echo", "--no-such-option", "/"])
        .run()
        .assert_code(2);
}

#[test]
fn missing_app_is_a_usage_error() {
    let out = call(["/"]).run();
    out.assert_code(2).assert_stderr_has("--app");
}

#[test]
fn missing_target_is_a_usage_error() {
    call(["--app", "echo"]).run().assert_code(2);
}

#[test]
fn relative_target_is_a_usage_error() {
    call(["--app", "echo", "relative/path"])
        .run()
        .assert_code(2);
}

#[test]
fn non_http_url_is_a_usage_error() {
    call(["--app", "echo", "ftp://example.com/x"])
        .run()
        .assert_code(2);
}

// ---------------------------------------------------------------------------------------------
// Naming the app

#[test]
fn rwsgi_app_variable_names_the_app() {
    let out = call(["/from-env?read=none"]).env("RWSGI_APP", "echo").run();
    out.assert_ok();
    assert_eq!(out.json()["PATH_INFO"], "/from-env");
}

#[test]
fn app_option_wins_over_rwsgi_app() {
    let out = call(["--app", "echo", "/?read=none"])
        .env("RWSGI_APP", "only_app")
        .run();
    out.assert_ok();
    assert_eq!(out.json()["PATH_INFO"], "/");
}

#[test]
fn module_without_application_falls_back_to_app() {
    call(["--app", "only_app", "/"])
        .run()
        .assert_ok()
        .assert_stdout("only app\n");
}

#[test]
fn module_and_attribute() {
    call(["--app", "factory:default_app", "/"])
        .run()
        .assert_ok()
        .assert_stdout("default\n");
}

#[test]
fn factory_call_without_arguments() {
    call(["--app", "factory:create_app()", "/"])
        .run()
        .assert_ok()
        .assert_stdout("hi\n");
}

#[test]
fn factory_call_with_literal_arguments() {
    call(["--app", "factory:create_app('hello', times=3)", "/"])
        .run()
        .assert_ok()
        .assert_stdout("hello\nhello\nhello\n");
}

#[test]
fn factory_call_arguments_may_hold_colons() {
    call([
        "--app",
        "factory:create_app(greeting=\"dict: {'a': 1}\", times=2)",
        "/",
    ])
    .run()
    .assert_ok()
    .assert_stdout("dict: {'a': 1}\ndict: {'a': 1}\n");
}

#[test]
fn factory_arguments_are_not_evaluated_as_code() {
    let out = call([
        "--app",
        "factory:create_app(__import__('sys').stderr.write('EVAL' + 'UATED'))",
        "/",
    ])
    .run();
    assert!(
        matches!(out.code, Some(1 | 2)),
        "expected exit 1 or 2\n{}",
        out.dump()
    );
    out.assert_stderr_lacks("EVALUATED");
    assert!(out.stdout.is_empty(), "{}", out.dump());
}

#[test]
fn factory_that_raises_is_a_load_error() {
    call(["--app", "factory:create_app(times=0)", "/"])
        .run()
        .assert_code(1)
        .assert_stderr_has("ValueError: times must be at least 1");
}

#[test]
fn malformed_spec_is_a_usage_error() {
    call(["--app", "factory:create_app(", "/"])
        .run()
        .assert_code(2);
}

#[test]
fn script_file_by_relative_path() {
    let out = call(["--app", "echo.py", "/file?read=none"]).run();
    out.assert_ok();
    assert_eq!(out.json()["PATH_INFO"], "/file");
}

#[test]
fn script_file_with_attribute_from_another_folder() {
    call(["--app", "tests/apps/factory.py:default_app", "/"])
        .cwd(env!("CARGO_MANIFEST_DIR"))
        .run()
        .assert_ok()
        .assert_stdout("default\n");
}

#[test]
fn wsgi_script_without_py_extension_imports_its_neighbour() {
    call(["--app", "hello.wsgi", "/"])
        .run()
        .assert_ok()
        .assert_stdout("hello from helper_mod\n");
}

#[test]
fn wsgi_script_by_absolute_path() {
    let script = apps_dir().join("hello.wsgi").display().to_string();
    call(["--app", &script, "/"])
        .run()
        .assert_ok()
        .assert_stdout("hello from helper_mod\n");
}

#[test]
fn missing_module_names_the_spec_the_folders_and_the_exception() {
    let out = call(["--app", "no_such_module_xyz", "/"]).run();
    out.assert_code(1)
        .assert_stderr_has("no_such_module_xyz")
        .assert_stderr_has("ModuleNotFoundError")
        .assert_stderr_has(apps_dir().to_str().unwrap());
}

#[test]
fn import_error_inside_the_app_shows_the_apps_own_line() {
    call(["--app", "broken_import", "/"])
        .run()
        .assert_code(1)
        .assert_stderr_has("broken_import")
        .assert_stderr_has("Traceback (most recent call last)")
        .assert_stderr_has("broken_import.py\", line 3")
        .assert_stderr_has("No module named 'definitely_missing_dependency'");
}

#[test]
fn missing_attribute_is_a_load_error() {
    call(["--app", "echo:no_such_attribute", "/"])
        .run()
        .assert_code(1)
        .assert_stderr_has("no_such_attribute");
}

#[test]
fn module_without_a_wsgi_callable_is_a_load_error() {
    call(["--app", "helper_mod", "/"])
        .run()
        .assert_code(1)
        .assert_stderr_has("helper_mod")
        .assert_stderr_has("application");
}

#[test]
fn missing_script_file_is_a_load_error() {
    call(["--app", "missing_script.py", "/"])
        .run()
        .assert_code(1)
        .assert_stderr_has("missing_script.py");
}

#[test]
fn syntax_error_in_the_app_is_a_load_error() {
    let dir = temp_dir("syntax");
    write_file(
        &dir,
        "bad_syntax.py",
        "def application(environ, start_response)\n    return []\n",
    );
    call(["--app", "bad_syntax", "/"])
        .cwd(&dir)
        .run()
        .assert_code(1)
        .assert_stderr_has("SyntaxError")
        .assert_stderr_has("bad_syntax.py");
}

#[test]
fn rwsgi_path_adds_import_folders() {
    let dir = temp_dir("rwsgi-path");
    let first = dir.join("first");
    let second = dir.join("second");
    std::fs::create_dir_all(&first).unwrap();
    write_file(&second, "from_path.py", app_source("from RWSGI_PATH"));
    let joined = format!("{}:{}", first.display(), second.display());
    call(["--app", "from_path", "/"])
        .cwd(&dir)
        .env("RWSGI_PATH", joined)
        .run()
        .assert_ok()
        .assert_stdout("from RWSGI_PATH\n");
}

#[test]
fn current_folder_comes_first_on_sys_path() {
    let dir = temp_dir("cwd-first");
    let cwd = dir.join("cwd");
    let other = dir.join("other");
    write_file(&cwd, "shadowed.py", app_source("from the current folder"));
    write_file(&other, "shadowed.py", app_source("from RWSGI_PATH"));
    call(["--app", "shadowed", "/"])
        .cwd(&cwd)
        .env("RWSGI_PATH", &other)
        .run()
        .assert_ok()
        .assert_stdout("from the current folder\n");
}

/// A one-line app that answers `text`.
fn app_source(text: &str) -> String {
    format!(
        "def application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [b'{text}\\n']\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Virtualenvs

/// A virtualenv folder as `python -m venv` lays it out for `minor` (`3.11`), holding a module
/// `venv_probe` that imports `pth_probe` from a folder that only a `.pth` file names.
fn fake_venv(root: &Path, minor: &str) -> std::path::PathBuf {
    let venv = root.join("venv");
    write_file(
        &venv,
        "pyvenv.cfg",
        format!("home = /usr/bin\ninclude-system-site-packages = false\nversion = {minor}.0\n"),
    );
    let site = venv
        .join("lib")
        .join(format!("python{minor}"))
        .join("site-packages");
    write_file(
        &site,
        "venv_probe.py",
        "import pth_probe\n\n\
         def application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [('venv ok, %s\\n' % pth_probe.NAME).encode()]\n",
    );
    let extra = root.join("extra");
    write_file(&extra, "pth_probe.py", "NAME = 'pth ok'\n");
    write_file(&site, "extra.pth", format!("{}\n", extra.display()));
    venv
}

/// A virtualenv made by a Python that is not the embedded one.
fn foreign_venv(root: &Path) -> std::path::PathBuf {
    let venv = root.join("foreign");
    write_file(
        &venv,
        "pyvenv.cfg",
        "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.99.0\n",
    );
    std::fs::create_dir_all(venv.join("lib/python3.99/site-packages")).unwrap();
    venv
}

#[test]
fn venv_option_adds_site_packages_and_processes_pth_files() {
    let dir = temp_dir("venv-option");
    let venv = fake_venv(&dir, &embedded_python_minor());
    call([
        "--venv",
        &venv.display().to_string(),
        "--app",
        "venv_probe",
        "/",
    ])
    .run()
    .assert_ok()
    .assert_stdout("venv ok, pth ok\n");
}

#[test]
fn rwsgi_venv_variable_names_the_venv() {
    let dir = temp_dir("venv-rwsgi-venv");
    let venv = fake_venv(&dir, &embedded_python_minor());
    call(["--app", "venv_probe", "/"])
        .env("RWSGI_VENV", &venv)
        .run()
        .assert_ok()
        .assert_stdout("venv ok, pth ok\n");
}

#[test]
fn virtual_env_variable_names_the_venv() {
    let dir = temp_dir("venv-virtual-env");
    let venv = fake_venv(&dir, &embedded_python_minor());
    call(["--app", "venv_probe", "/"])
        .env("VIRTUAL_ENV", &venv)
        .run()
        .assert_ok()
        .assert_stdout("venv ok, pth ok\n");
}

#[test]
fn venv_option_wins_over_rwsgi_venv() {
    let dir = temp_dir("venv-order-1");
    let venv = fake_venv(&dir, &embedded_python_minor());
    let foreign = foreign_venv(&dir);
    call([
        "--venv",
        &venv.display().to_string(),
        "--app",
        "venv_probe",
        "/",
    ])
    .env("RWSGI_VENV", &foreign)
    .run()
    .assert_ok()
    .assert_stdout("venv ok, pth ok\n");
}

#[test]
fn rwsgi_venv_wins_over_virtual_env() {
    let dir = temp_dir("venv-order-2");
    let venv = fake_venv(&dir, &embedded_python_minor());
    let foreign = foreign_venv(&dir);
    call(["--app", "venv_probe", "/"])
        .env("RWSGI_VENV", &venv)
        .env("VIRTUAL_ENV", &foreign)
        .run()
        .assert_ok()
        .assert_stdout("venv ok, pth ok\n");
}

#[test]
fn venv_of_another_python_version_is_refused() {
    let dir = temp_dir("venv-foreign");
    let foreign = foreign_venv(&dir);
    let minor = embedded_python_minor();
    call([
        "--venv",
        &foreign.display().to_string(),
        "--app",
        "echo",
        "/",
    ])
    .run()
    .assert_code(1)
    .assert_stderr_has("3.99")
    .assert_stderr_has(&minor);
}

#[test]
fn foreign_venv_from_virtual_env_is_refused_too() {
    let dir = temp_dir("venv-foreign-env");
    let foreign = foreign_venv(&dir);
    call(["--app", "echo", "/"])
        .env("VIRTUAL_ENV", &foreign)
        .run()
        .assert_code(1)
        .assert_stderr_has("3.99");
}

// ---------------------------------------------------------------------------------------------
// The environ (PEP 3333, "environ Variables")

#[test]
fn default_environ() {
    let env = echo(&["/"]);
    let expected = [
        ("REQUEST_METHOD", json!("GET")),
        ("SCRIPT_NAME", json!("")),
        ("PATH_INFO", json!("/")),
        ("QUERY_STRING", json!("")),
        ("REQUEST_URI", json!("/")),
        ("RAW_URI", json!("/")),
        ("SERVER_NAME", json!("localhost")),
        ("SERVER_PORT", json!("80")),
        ("SERVER_PROTOCOL", json!("HTTP/1.1")),
        ("REMOTE_ADDR", json!("127.0.0.1")),
        ("HTTP_HOST", json!("localhost")),
        ("HTTP_USER_AGENT", json!(format!("rwsgi-call/{VERSION}"))),
        ("HTTP_ACCEPT", json!("*/*")),
        ("wsgi.version", json!([1, 0])),
        ("wsgi.url_scheme", json!("http")),
        ("wsgi.multithread", json!(false)),
        ("wsgi.multiprocess", json!(false)),
        ("wsgi.run_once", json!(true)),
        ("wsgi.input_terminated", json!(true)),
        ("has_file_wrapper", json!(true)),
        ("body", json!("")),
    ];
    for (key, value) in expected {
        assert_eq!(env[key], value, "environ[{key:?}] in {env:#}");
    }
}

#[test]
fn default_headers_are_host_user_agent_and_accept() {
    let env = echo(&["/"]);
    let mut http: Vec<&str> = env
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with("HTTP_"))
        .collect();
    http.sort_unstable();
    assert_eq!(http, ["HTTP_ACCEPT", "HTTP_HOST", "HTTP_USER_AGENT"]);
}

#[test]
fn no_content_length_without_a_body() {
    let env = echo(&["/"]);
    assert!(env.get("CONTENT_LENGTH").is_none(), "{env:#}");
}

#[test]
fn no_http_content_type_or_length_keys() {
    // PEP 3333 "environ Variables": CONTENT_TYPE and CONTENT_LENGTH carry these headers, and
    // wsgiref.validate refuses an environ with HTTP_CONTENT_TYPE or HTTP_CONTENT_LENGTH.
    let env = echo(&["-H", "Content-Type: text/csv", "-d", "a,b", "/"]);
    assert_eq!(env["CONTENT_TYPE"], "text/csv");
    assert_eq!(env["CONTENT_LENGTH"], "3");
    assert!(env.get("HTTP_CONTENT_TYPE").is_none(), "{env:#}");
    assert!(env.get("HTTP_CONTENT_LENGTH").is_none(), "{env:#}");
}

#[test]
fn full_https_url_with_port() {
    let env = echo(&["https://example.com:8443/x?y=1"]);
    assert_eq!(env["wsgi.url_scheme"], "https");
    assert_eq!(env["SERVER_NAME"], "example.com");
    assert_eq!(env["SERVER_PORT"], "8443");
    assert_eq!(env["HTTP_HOST"], "example.com:8443");
    assert_eq!(env["PATH_INFO"], "/x");
    assert_eq!(env["QUERY_STRING"], "y=1");
    assert_eq!(env["REQUEST_URI"], "/x?y=1");
}

#[test]
fn full_https_url_default_port_is_left_out_of_host() {
    let env = echo(&["https://example.com/secure"]);
    assert_eq!(env["wsgi.url_scheme"], "https");
    assert_eq!(env["SERVER_PORT"], "443");
    assert_eq!(env["HTTP_HOST"], "example.com");
    assert_eq!(env["PATH_INFO"], "/secure");
}

#[test]
fn full_http_url_with_explicit_default_port() {
    let env = echo(&["http://example.com:80/plain"]);
    assert_eq!(env["wsgi.url_scheme"], "http");
    assert_eq!(env["SERVER_NAME"], "example.com");
    assert_eq!(env["SERVER_PORT"], "80");
    assert_eq!(env["HTTP_HOST"], "example.com");
}

#[test]
fn full_url_without_a_path_asks_for_the_root() {
    let env = echo(&["http://example.com:8080"]);
    assert_eq!(env["SERVER_PORT"], "8080");
    assert_eq!(env["HTTP_HOST"], "example.com:8080");
    assert_eq!(env["PATH_INFO"], "/");
}

#[test]
fn path_is_percent_decoded_once_into_latin1_string() {
    // PEP 3333 "Unicode Issues": environ strings hold bytes as latin-1 characters, so the
    // UTF-8 bytes of "é" arrive as two characters.
    let env = echo(&["/caf%C3%A9/a%20b/%2541?q=%C3%A9&x=a%20b"]);
    assert_eq!(env["PATH_INFO"], "/caf\u{c3}\u{a9}/a b/%41");
    assert_eq!(env["QUERY_STRING"], "q=%C3%A9&x=a%20b");
    assert_eq!(
        env["REQUEST_URI"],
        "/caf%C3%A9/a%20b/%2541?q=%C3%A9&x=a%20b"
    );
    assert_eq!(env["RAW_URI"], "/caf%C3%A9/a%20b/%2541?q=%C3%A9&x=a%20b");
}

#[test]
fn method_defaults_to_post_with_a_body() {
    let env = echo(&["-d", "a=1", "/"]);
    assert_eq!(env["REQUEST_METHOD"], "POST");
}

#[test]
fn method_as_first_positional_argument() {
    let env = echo(&["PUT", "/thing"]);
    assert_eq!(env["REQUEST_METHOD"], "PUT");
    assert_eq!(env["PATH_INFO"], "/thing");
}

#[test]
fn method_from_request_option() {
    assert_eq!(echo(&["-X", "DELETE", "/"])["REQUEST_METHOD"], "DELETE");
    assert_eq!(
        echo(&["--request", "PATCH", "/"])["REQUEST_METHOD"],
        "PATCH"
    );
}

#[test]
fn request_option_overrides_post_for_a_body() {
    let env = echo(&["-X", "PUT", "-d", "a=1", "/"]);
    assert_eq!(env["REQUEST_METHOD"], "PUT");
    assert_eq!(env["body"], "a=1");
}

#[test]
fn headers_become_http_keys() {
    let env = echo(&[
        "-H",
        "X-Request-Id: abc-123",
        "-H",
        "Accept-Language: fr",
        "/",
    ]);
    assert_eq!(env["HTTP_X_REQUEST_ID"], "abc-123");
    assert_eq!(env["HTTP_ACCEPT_LANGUAGE"], "fr");
}

#[test]
fn repeated_headers_join_with_comma() {
    // RFC 9110 section 5.3: a repeated field is its values joined with commas.
    let env = echo(&["-H", "X-Multi: one", "-H", "X-Multi: two", "/"]);
    assert_eq!(env["HTTP_X_MULTI"], "one, two");
}

#[test]
fn repeated_cookie_headers_join_with_semicolon() {
    // RFC 6265 section 5.4: cookie-pairs are separated by "; ".
    let env = echo(&["-H", "Cookie: a=1", "-H", "Cookie: b=2", "/"]);
    assert_eq!(env["HTTP_COOKIE"], "a=1; b=2");
}

#[test]
fn header_replaces_a_default_header() {
    let env = echo(&["-H", "User-Agent: mine/1.0", "-H", "Accept: text/html", "/"]);
    assert_eq!(env["HTTP_USER_AGENT"], "mine/1.0");
    assert_eq!(env["HTTP_ACCEPT"], "text/html");
}

#[test]
fn empty_header_removes_a_default_header() {
    let env = echo(&["-H", "User-Agent:", "/"]);
    assert!(env.get("HTTP_USER_AGENT").is_none(), "{env:#}");
    assert_eq!(env["HTTP_ACCEPT"], "*/*");
}

#[test]
fn host_header_sets_http_host() {
    let env = echo(&["-H", "Host: other.test", "/"]);
    assert_eq!(env["HTTP_HOST"], "other.test");
}

#[test]
fn environ_option_adds_and_overrides_keys() {
    let env = echo(&[
        "--env",
        "REMOTE_ADDR=203.0.113.9",
        "--env",
        "custom.key=a=b",
        "--env",
        "REMOTE_USER=alice",
        "/",
    ]);
    assert_eq!(env["REMOTE_ADDR"], "203.0.113.9");
    assert_eq!(env["custom.key"], "a=b");
    assert_eq!(env["REMOTE_USER"], "alice");
}

#[test]
fn script_name_mounts_the_app() {
    let env = echo(&["--script-name", "/prefix", "/prefix/x/y?z=1"]);
    assert_eq!(env["SCRIPT_NAME"], "/prefix");
    assert_eq!(env["PATH_INFO"], "/x/y");
    assert_eq!(env["QUERY_STRING"], "z=1");
    assert_eq!(env["REQUEST_URI"], "/prefix/x/y?z=1");
}

#[test]
fn script_name_itself_leaves_path_info_empty() {
    let env = echo(&["--script-name", "/prefix", "/prefix"]);
    assert_eq!(env["SCRIPT_NAME"], "/prefix");
    assert_eq!(env["PATH_INFO"], "");
}

#[test]
fn target_outside_the_script_name_is_a_usage_error() {
    call(["--app", "echo", "--script-name", "/prefix", "/other"])
        .run()
        .assert_code(2);
    // A prefix matches whole path segments only.
    call(["--app", "echo", "--script-name", "/prefix", "/prefixed/x"])
        .run()
        .assert_code(2);
}

// ---------------------------------------------------------------------------------------------
// Request bodies

#[test]
fn data_is_form_encoded_and_joined_with_ampersands() {
    let env = echo(&["-d", "a=1", "-d", "b=two", "/"]);
    assert_eq!(env["REQUEST_METHOD"], "POST");
    assert_eq!(env["CONTENT_TYPE"], "application/x-www-form-urlencoded");
    assert_eq!(env["CONTENT_LENGTH"], "9");
    assert_eq!(env["body"], "a=1&b=two");
}

#[test]
fn data_from_file_drops_carriage_returns_and_newlines() {
    let dir = temp_dir("data-file");
    let file = write_file(&dir, "form.txt", "a=1\r\n&b=2\n");
    let env = echo(&["-d", &format!("@{}", file.display()), "/"]);
    assert_eq!(env["body"], "a=1&b=2");
    assert_eq!(env["CONTENT_LENGTH"], "7");
}

#[test]
fn data_binary_from_file_keeps_every_byte() {
    let dir = temp_dir("data-binary-file");
    let bytes: Vec<u8> = (0..=255u8).chain(b"\r\n\r\n".iter().copied()).collect();
    let file = write_file(&dir, "all.bin", &bytes);
    let env = echo(&["--data-binary", &format!("@{}", file.display()), "/"]);
    assert_eq!(latin1_bytes(env["body"].as_str().unwrap()), bytes);
    assert_eq!(env["CONTENT_LENGTH"], "260");
}

#[test]
fn data_from_stdin() {
    let out = call(["--app", "echo", "-d", "@-", "/"])
        .stdin("x=1\ny=2\n")
        .run();
    out.assert_ok();
    assert_eq!(out.json()["body"], "x=1y=2");
}

#[test]
fn data_binary_from_stdin() {
    let bytes: Vec<u8> = (0..=255u8).rev().collect();
    let out = call(["--app", "echo", "--data-binary", "@-", "/"])
        .stdin(bytes.clone())
        .run();
    out.assert_ok();
    let env = out.json();
    assert_eq!(latin1_bytes(env["body"].as_str().unwrap()), bytes);
    assert_eq!(env["CONTENT_LENGTH"], "256");
}

#[test]
fn unreadable_data_file_is_curls_read_error() {
    // curl's exit 26, "Failed to open/read local data from file/application".
    call(["--app", "echo", "-d", "@/nonexistent/rwsgi/form.txt", "/"])
        .run()
        .assert_code(26)
        .assert_stderr_has("rwsgi: (26) cannot read /nonexistent/rwsgi/form.txt");
    call([
        "--app",
        "echo",
        "--json",
        "@/nonexistent/rwsgi/body.json",
        "/",
    ])
    .run()
    .assert_code(26);
}

#[test]
fn data_keeps_a_content_type_header() {
    let env = echo(&["-H", "Content-Type: text/csv", "-d", "a,b", "/"]);
    assert_eq!(env["CONTENT_TYPE"], "text/csv");
    assert_eq!(env["body"], "a,b");
}

#[test]
fn json_sets_content_type_and_accept() {
    let env = echo(&["--json", r#"{"a": [1, 2]}"#, "/api"]);
    assert_eq!(env["REQUEST_METHOD"], "POST");
    assert_eq!(env["CONTENT_TYPE"], "application/json");
    assert_eq!(env["HTTP_ACCEPT"], "application/json");
    assert_eq!(env["body"], r#"{"a": [1, 2]}"#);
}

#[test]
fn json_from_file() {
    let dir = temp_dir("json-file");
    let file = write_file(&dir, "body.json", "{\n  \"k\": \"v\"\n}\n");
    let env = echo(&["--json", &format!("@{}", file.display()), "/"]);
    assert_eq!(env["CONTENT_TYPE"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(env["body"].as_str().unwrap()).unwrap(),
        json!({"k": "v"})
    );
}

#[test]
fn json_from_stdin() {
    let out = call(["--app", "echo", "--json", "@-", "/"])
        .stdin(r#"{"from": "stdin"}"#)
        .run();
    out.assert_ok();
    let env = out.json();
    assert_eq!(env["CONTENT_TYPE"], "application/json");
    assert_eq!(env["body"], r#"{"from": "stdin"}"#);
}

/// One part of a multipart/form-data body.
#[derive(Debug)]
struct Part {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Part {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A parameter of Content-Disposition (`name`, `filename`), unquoted.
    fn disposition(&self, param: &str) -> Option<String> {
        let value = self.header("Content-Disposition")?;
        let mut items = value.split(';').map(str::trim);
        assert_eq!(items.next(), Some("form-data"), "{value:?}");
        items.find_map(|item| {
            let (key, val) = item.split_once('=')?;
            (key == param).then(|| val.trim_matches('"').to_string())
        })
    }
}

/// Splits a multipart/form-data body (RFC 7578) by the boundary its Content-Type names.
fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<Part> {
    let (kind, params) = content_type
        .split_once(';')
        .unwrap_or_else(|| panic!("no boundary in {content_type:?}"));
    assert_eq!(kind, "multipart/form-data");
    let boundary = params
        .trim()
        .strip_prefix("boundary=")
        .unwrap_or_else(|| panic!("no boundary in {content_type:?}"))
        .trim_matches('"');
    let first = format!("--{boundary}\r\n");
    assert!(
        body.starts_with(first.as_bytes()),
        "body does not open with the boundary: {:?}",
        String::from_utf8_lossy(body)
    );
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = &body[first.len()..];
    let mut parts = Vec::new();
    loop {
        let end = find(rest, delimiter.as_bytes())
            .unwrap_or_else(|| panic!("part without a closing boundary"));
        let part = &rest[..end];
        let head_end = find(part, b"\r\n\r\n").expect("part headers end with a blank line");
        let headers = std::str::from_utf8(&part[..head_end])
            .unwrap()
            .split("\r\n")
            .map(|line| {
                let (n, v) = line.split_once(':').expect("header line");
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        parts.push(Part {
            headers,
            body: part[head_end + 4..].to_vec(),
        });
        rest = &rest[end + delimiter.len()..];
        if let Some(after) = rest.strip_prefix(b"--") {
            assert!(
                after.is_empty() || after == b"\r\n",
                "bytes after the closing boundary: {after:?}"
            );
            return parts;
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .expect("a boundary line ends with CRLF");
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// echo.py's answer to a multipart request, split into its parts.
fn form_parts(args: &[&str]) -> (Value, Vec<Part>) {
    let env = echo(args);
    let body = latin1_bytes(env["body"].as_str().unwrap());
    assert_eq!(env["CONTENT_LENGTH"], body.len().to_string());
    let parts = multipart_parts(env["CONTENT_TYPE"].as_str().unwrap(), &body);
    (env, parts)
}

#[test]
fn form_sends_multipart_with_text_and_file_parts() {
    let dir = temp_dir("form");
    let note = write_file(&dir, "note.txt", "hello\r\nworld\n");
    let (env, parts) = form_parts(&[
        "-F",
        "title=A title",
        "-F",
        &format!("file=@{}", note.display()),
        "/upload",
    ]);
    assert_eq!(env["REQUEST_METHOD"], "POST");
    assert_eq!(parts.len(), 2, "{parts:?}");

    assert_eq!(parts[0].disposition("name").as_deref(), Some("title"));
    assert_eq!(parts[0].disposition("filename"), None);
    assert_eq!(parts[0].body, b"A title");

    assert_eq!(parts[1].disposition("name").as_deref(), Some("file"));
    assert_eq!(
        parts[1].disposition("filename").as_deref(),
        Some("note.txt")
    );
    assert_eq!(parts[1].header("Content-Type"), Some("text/plain"));
    assert_eq!(parts[1].body, b"hello\r\nworld\n");
}

#[test]
fn form_file_type_is_guessed_from_the_extension() {
    let dir = temp_dir("form-types");
    let cases = [
        ("photo.jpg", "image/jpeg"),
        ("icon.png", "image/png"),
        ("data.json", "application/json"),
        ("readme.txt", "text/plain"),
        ("blob.xyz123", "application/octet-stream"),
    ];
    let mut args = Vec::new();
    for (i, (name, _)) in cases.iter().enumerate() {
        let path = write_file(&dir, name, [i as u8, 0, 255]);
        args.push("-F".to_string());
        args.push(format!("f{i}=@{}", path.display()));
    }
    args.push("/".to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, parts) = form_parts(&args);
    assert_eq!(parts.len(), cases.len());
    for (i, (part, (name, mime))) in parts.iter().zip(cases).enumerate() {
        assert_eq!(part.disposition("name"), Some(format!("f{i}")));
        assert_eq!(part.disposition("filename").as_deref(), Some(name));
        assert_eq!(part.header("Content-Type"), Some(mime), "{name}");
        assert_eq!(part.body, [i as u8, 0, 255]);
    }
}

#[test]
fn form_file_type_and_filename_can_be_given() {
    let dir = temp_dir("form-override");
    let path = write_file(&dir, "raw.bin", "col1,col2\n");
    let (_, parts) = form_parts(&[
        "-F",
        &format!(
            "sheet=@{};type=text/csv;filename=report.csv",
            path.display()
        ),
        "/",
    ]);
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].disposition("name").as_deref(), Some("sheet"));
    assert_eq!(
        parts[0].disposition("filename").as_deref(),
        Some("report.csv")
    );
    assert_eq!(parts[0].header("Content-Type"), Some("text/csv"));
    assert_eq!(parts[0].body, b"col1,col2\n");
}

#[test]
fn form_with_data_or_json_is_a_usage_error() {
    call(["--app", "echo", "-F", "a=1", "-d", "b=2", "/"])
        .run()
        .assert_code(2);
    call(["--app", "echo", "-F", "a=1", "--json", "{}", "/"])
        .run()
        .assert_code(2);
}

#[test]
fn form_with_unreadable_file_is_curls_read_error() {
    call([
        "--app",
        "echo",
        "-F",
        "f=@/nonexistent/rwsgi/upload.txt",
        "/",
    ])
    .run()
    .assert_code(26);
}

// ---------------------------------------------------------------------------------------------
// wsgi.input (PEP 3333, "Input and Error Streams")

const LINES: &str = "line1\nline2\nlast";

fn read_body(mode: &str, body: &str) -> Value {
    echo(&["--data-binary", body, &format!("/?read={mode}")])
}

#[test]
fn input_read_all() {
    let env = read_body("all", LINES);
    assert_eq!(env["body"], LINES);
}

#[test]
fn input_read_n_never_returns_more_than_n_and_ends_with_empty_bytes() {
    let env = read_body("n:5", LINES);
    assert_eq!(env["body"], LINES);
    assert_eq!(env["chunks"], json!([5, 5, 5, 1]));
    assert_eq!(env["eof"], "");
}

#[test]
fn input_read_n_larger_than_the_body() {
    let env = read_body("n:1000", LINES);
    assert_eq!(env["chunks"], json!([16]));
    assert_eq!(env["eof"], "");
}

#[test]
fn input_read_without_a_body_is_empty() {
    let env = echo(&["/?read=n:10"]);
    assert_eq!(env["body"], "");
    assert_eq!(env["chunks"], json!([]));
    assert_eq!(env["eof"], "");
}

#[test]
fn input_readline() {
    let env = read_body("readline", LINES);
    assert_eq!(env["lines"], json!(["line1\n", "line2\n", "last"]));
}

#[test]
fn input_readline_with_a_size() {
    let env = read_body("readline:3", LINES);
    assert_eq!(
        env["lines"],
        json!(["lin", "e1\n", "lin", "e2\n", "las", "t"])
    );
}

#[test]
fn input_readlines() {
    let env = read_body("readlines", LINES);
    assert_eq!(env["lines"], json!(["line1\n", "line2\n", "last"]));
}

#[test]
fn input_iteration() {
    let env = read_body("iter", LINES);
    assert_eq!(env["lines"], json!(["line1\n", "line2\n", "last"]));
}

#[test]
fn input_left_unread_is_fine() {
    let env = read_body("none", LINES);
    assert_eq!(env["body"], Value::Null);
    assert_eq!(env["CONTENT_LENGTH"], "16");
}

#[test]
fn input_large_binary_body_in_blocks() {
    let dir = temp_dir("large-input");
    let bytes = binary_pattern(300_000);
    let file = write_file(&dir, "large.bin", &bytes);
    let env = echo(&[
        "--data-binary",
        &format!("@{}", file.display()),
        "/?read=n:65536",
    ]);
    assert_eq!(env["chunks"], json!([65536, 65536, 65536, 65536, 37856]));
    assert_eq!(latin1_bytes(env["body"].as_str().unwrap()), bytes);
    assert_eq!(env["CONTENT_LENGTH"], "300000");
}

#[test]
fn input_binary_lines_keep_their_bytes() {
    let dir = temp_dir("binary-lines");
    let bytes: Vec<u8> = (0..=255u8).collect();
    let file = write_file(&dir, "lines.bin", &bytes);
    let env = echo(&[
        "--data-binary",
        &format!("@{}", file.display()),
        "/?read=readline",
    ]);
    // The only newline is byte 10.
    assert_eq!(
        env["lines"],
        json!([latin1_string(&bytes[..11]), latin1_string(&bytes[11..])])
    );
}

// ---------------------------------------------------------------------------------------------
// Output

#[test]
fn body_goes_to_stdout_as_is() {
    call(["--app", "binary", "/"])
        .run()
        .assert_ok()
        .assert_stdout((0..=255u8).collect::<Vec<u8>>());
}

#[test]
fn large_binary_body_arrives_whole() {
    call(["--app", "binary", "/?size=1000000"])
        .run()
        .assert_ok()
        .assert_stdout(binary_pattern(1_000_000));
}

#[test]
fn include_prints_status_line_and_headers() {
    call(["--app", "factory:default_app", "-i", "/"])
        .run()
        .assert_ok()
        .assert_stdout(
            "HTTP/1.1 200 OK\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 8\r\n\
             \r\n\
             default\n",
        );
}

#[test]
fn head_sends_head_and_prints_headers_only() {
    let out = call(["--app", "echo", "-I", "/"]).run();
    out.assert_ok();
    let text = out.stdout_str();
    assert!(text.ends_with("\r\n\r\n"), "{}", out.dump());
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("X-Echo-Method"), "HEAD");
    assert_eq!(response.one("Content-Type"), "application/json");
    assert!(response.body.is_empty(), "{}", out.dump());
}

#[test]
fn output_option_writes_the_body_to_a_file() {
    let dir = temp_dir("output");
    let file = dir.join("out.bin");
    let out = call(["--app", "binary", "-o", &file.display().to_string(), "/"]).run();
    out.assert_ok();
    assert!(out.stdout.is_empty(), "{}", out.dump());
    assert_eq!(
        std::fs::read(&file).unwrap(),
        (0..=255u8).collect::<Vec<u8>>()
    );
}

#[test]
fn format_json_describes_the_response() {
    let out = call(["--app", "factory:default_app", "--format", "json", "/"]).run();
    out.assert_ok();
    assert!(out.stdout.ends_with(b"}\n"), "{}", out.dump());
    assert_eq!(
        out.json(),
        json!({
            "status": 200,
            "reason": "OK",
            "headers": [
                ["Content-Type", "text/plain; charset=utf-8"],
                ["Content-Length", "8"],
            ],
            "body": "default\n",
            "body_base64": "ZGVmYXVsdAo=",
        })
    );
}

#[test]
fn format_json_binary_body_is_base64_only() {
    let out = call(["--app", "binary", "--format", "json", "/"]).run();
    out.assert_ok();
    let reply = out.json();
    assert_eq!(reply["status"], 200);
    assert_eq!(reply["body"], Value::Null);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(reply["body_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, (0..=255u8).collect::<Vec<u8>>());
    assert_eq!(
        reply["headers"],
        json!([
            ["Content-Type", "application/octet-stream"],
            ["Content-Length", "256"],
        ])
    );
}

#[test]
fn format_json_keeps_the_reason_phrase() {
    let out = call(["--app", "excinfo", "--format", "json", "/"]).run();
    out.assert_ok();
    let reply = out.json();
    assert_eq!(reply["status"], 503);
    assert_eq!(reply["reason"], "Service Unavailable");
    assert_eq!(reply["body"], "service unavailable\n");
}

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn error_status_exits_0_without_fail() {
    call(["--app", "status", "/?code=404"])
        .run()
        .assert_ok()
        .assert_stdout("status 404\n");
    call(["--app", "status", "/?code=500"])
        .run()
        .assert_ok()
        .assert_stdout("status 500\n");
}

#[test]
fn fail_exits_22_and_prints_nothing_for_an_error_status() {
    for code in ["400", "404", "500", "503"] {
        let out = call(["--app", "status", "-f", &format!("/?code={code}")]).run();
        out.assert_code(22);
        assert!(out.stdout.is_empty(), "{}", out.dump());
    }
    let out = call(["--app", "status", "--fail", "/?code=404"]).run();
    out.assert_code(22);
}

#[test]
fn fail_exits_0_below_400() {
    for code in ["200", "204", "302", "399"] {
        call(["--app", "status", "-f", &format!("/?code={code}")])
            .run()
            .assert_ok();
    }
}

#[test]
fn fail_with_body_exits_22_and_prints_the_body() {
    call(["--app", "status", "--fail-with-body", "/?code=404"])
        .run()
        .assert_code(22)
        .assert_stdout("status 404\n");
}

// ---------------------------------------------------------------------------------------------
// The response (PEP 3333, "The start_response() Callable", "Buffering and Streaming")

#[test]
fn generator_body_is_streamed_in_order() {
    call(["--app", "stream", "/?n=4&size=3"])
        .run()
        .assert_ok()
        .assert_stdout("aaabbbcccddd");
}

#[test]
fn empty_chunks_are_passed_over() {
    call(["--app", "stream", "/?n=3&size=2&empty=1"])
        .run()
        .assert_ok()
        .assert_stdout("aabbcc");
}

#[test]
fn empty_generator_gives_an_empty_body() {
    let out = call(["--app", "stream", "-i", "/?n=0"]).run();
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("Content-Type"), "text/plain");
    assert!(response.body.is_empty());
}

#[test]
fn write_callable_only() {
    call(["--app", "writer", "/"])
        .run()
        .assert_ok()
        .assert_stdout("one\ntwo\nthree\n");
}

#[test]
fn write_callable_then_iterable_keeps_order() {
    let out = call(["--app", "writer", "-i", "/?mode=mixed"]).run();
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("Content-Type"), "text/plain");
    assert_eq!(
        response.body,
        b"written 1\nwritten 2\nreturned 1\nreturned 2\n"
    );
}

#[test]
fn exc_info_before_headers_are_sent_replaces_the_response() {
    // PEP 3333: with exc_info, start_response may replace the status and headers as long as
    // none have been sent.
    let out = call(["--app", "excinfo", "-i", "/"]).run();
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(response.one("Content-Type"), "text/plain");
    assert_eq!(response.one("Retry-After"), "30");
    assert!(response.all("X-First").is_empty(), "{response:?}");
    assert_eq!(response.body, b"service unavailable\n");
}

#[test]
fn headers_wait_for_the_first_non_empty_chunk() {
    // PEP 3333 "The start_response() Callable": headers are sent only after the first
    // non-empty body chunk (or write() call), so a b"" chunk still lets exc_info replace them.
    let out = call(["--app", "excinfo", "-i", "/?empty_chunk=1"]).run();
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(response.one("Retry-After"), "30");
    assert!(response.all("X-First").is_empty(), "{response:?}");
    assert_eq!(response.body, b"service unavailable\n");
}

#[test]
fn exc_info_after_headers_are_sent_re_raises() {
    // PEP 3333: "if exc_info is provided, and the HTTP headers have already been sent,
    // start_response must raise an error, and should re-raise using the exc_info tuple".
    let out = call(["--app", "excinfo", "-i", "/?after=1"]).run();
    out.assert_code(1)
        .assert_stderr_has("RuntimeError: backend is down")
        .assert_stderr_lacks("excinfo: start_response returned");
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("X-First"), "yes");
    assert_eq!(response.body, b"partial ");
}

#[test]
fn exc_info_after_an_empty_write_re_raises() {
    // PEP 3333: headers go out "upon the application's first invocation of the write()
    // callable", even with nothing to write.
    let out = call(["--app", "excinfo", "-i", "/?after=empty_write"]).run();
    out.assert_code(1)
        .assert_stderr_has("RuntimeError: backend is down")
        .assert_stderr_lacks("excinfo: start_response returned");
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("X-First"), "yes");
    assert!(response.body.is_empty(), "{response:?}");
}

#[test]
fn error_before_start_response_is_a_500() {
    let out = call(["--app", "raising", "/?at=call"]).run();
    assert_internal_error(&out);
    out.assert_stderr_has("Traceback (most recent call last)")
        .assert_stderr_has("raising.py\", line")
        .assert_stderr_has("RuntimeError: raised at call");
}

#[test]
fn error_after_start_response_is_a_500() {
    let out = call(["--app", "raising", "-i", "/?at=after_start"]).run();
    assert_internal_error_included(&out);
    out.assert_stderr_has("raising.py\", line")
        .assert_stderr_has("RuntimeError: raised at after_start");
}

#[test]
fn error_before_the_first_chunk_is_a_500_and_closes() {
    let out = call(["--app", "raising", "-i", "/?at=first_chunk"]).run();
    assert_internal_error_included(&out);
    out.assert_stderr_has("raising.py\", line")
        .assert_stderr_has("RuntimeError: raised at first_chunk")
        .assert_stderr_has("closed:first_chunk");
}

#[test]
fn error_mid_stream_keeps_what_was_sent_and_closes() {
    let out = call(["--app", "raising", "/?at=mid_stream"]).run();
    out.assert_code(1)
        .assert_stdout("chunk 1\nchunk 2\n")
        .assert_stderr_has("Traceback (most recent call last)")
        .assert_stderr_has("RuntimeError: raised at mid_stream")
        .assert_stderr_has("closed:mid_stream");
}

#[test]
fn error_mid_stream_with_include_shows_the_original_status() {
    let out = call(["--app", "raising", "-i", "/?at=mid_stream"]).run();
    out.assert_code(1);
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.body, b"chunk 1\nchunk 2\n");
}

#[test]
fn close_is_called_after_a_good_response() {
    call(["--app", "raising", "/?at=none"])
        .run()
        .assert_ok()
        .assert_stdout("chunk 1\nchunk 2\n")
        .assert_stderr_has("closed:none")
        .assert_stderr_lacks("rwsgi: error:");
}

#[test]
fn error_in_close_is_reported() {
    call(["--app", "raising", "/?at=close"])
        .run()
        .assert_code(1)
        .assert_stdout("chunk 1\nchunk 2\n")
        .assert_stderr_has("closed:close")
        .assert_stderr_has("RuntimeError: raised at close");
}

#[test]
fn error_status_of_a_failed_app_with_format_json() {
    let out = call(["--app", "raising", "--format", "json", "/?at=call"]).run();
    out.assert_code(1);
    let reply = out.json();
    assert_eq!(reply["status"], 500);
    assert_eq!(reply["reason"], "Internal Server Error");
    assert_eq!(reply["body"], "500 Internal Server Error\n");
}

/// A protocol violation: the response is a 500 and stderr names the problem.
fn assert_violation(bad: &str, fragments: &[&str]) -> Output {
    let out = call(["--app", "protocol", "-i", &format!("/?bad={bad}")]).run();
    assert_internal_error_included(&out);
    for fragment in fragments {
        out.assert_stderr_has_nocase(fragment);
    }
    out
}

#[test]
fn status_without_reason_phrase_is_refused() {
    // PEP 3333: the status is "a status code and a reason phrase, in that order and separated
    // by a single space".
    assert_violation("status_no_reason", &["status", "200"]);
}

#[test]
fn status_with_crlf_is_refused() {
    let out = assert_violation("status_crlf", &["status"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("X-Injected"),
        "{}",
        out.dump()
    );
}

#[test]
fn status_as_bytes_is_refused() {
    // PEP 3333 "A Note On String Types": status and headers are native strings.
    assert_violation("status_bytes", &["status"]);
}

#[test]
fn header_value_with_crlf_is_refused() {
    // PEP 3333: header values must contain no control characters, CR and LF included.
    let out = assert_violation("header_crlf", &["header", "X-Note"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Set-Cookie"),
        "{}",
        out.dump()
    );
}

#[test]
fn header_value_with_nul_is_refused() {
    assert_violation("header_nul", &["header", "X-Note"]);
}

#[test]
fn header_value_outside_latin1_is_refused() {
    // PEP 3333 "Unicode Issues": header strings must be representable as latin-1.
    assert_violation("header_non_latin1", &["X-Snow"]);
}

#[test]
fn header_name_that_is_not_a_token_is_refused() {
    assert_violation("header_name_space", &["header", "Bad Name"]);
}

#[test]
fn missing_start_response_is_refused() {
    assert_violation("no_start_response", &["start_response"]);
}

#[test]
fn str_body_chunk_is_refused() {
    // PEP 3333: the iterable yields bytestrings, never str.
    assert_violation("returns_str", &["str"]);
}

#[test]
fn none_instead_of_an_iterable_is_refused() {
    assert_violation("returns_none", &["None"]);
}

#[test]
fn none_body_chunk_is_refused() {
    assert_violation("yields_none", &["None"]);
}

#[test]
fn second_start_response_without_exc_info_is_refused() {
    // PEP 3333: calling start_response again without exc_info is a fatal error.
    assert_violation("second_start_response", &["start_response"]);
}

#[test]
fn headers_that_are_not_a_list_are_refused() {
    // PEP 3333: response_headers "must be a Python list".
    assert_violation("headers_not_list", &["list"]);
}

#[test]
fn hop_by_hop_headers_are_dropped_with_a_warning() {
    // PEP 3333 "Other HTTP Features": hop-by-hop headers are the server's business; an app
    // that sets them is in error, and they must not reach the client.
    let out = call(["--app", "protocol", "-i", "/?bad=hop_by_hop"]).run();
    out.assert_ok()
        .assert_stderr_has("rwsgi: warning:")
        .assert_stderr_has("Connection")
        .assert_stderr_has("Transfer-Encoding")
        .assert_stderr_lacks("rwsgi: error:");
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("Content-Type"), "text/plain");
    assert_eq!(response.one("X-Good"), "yes");
    assert!(response.all("Connection").is_empty(), "{response:?}");
    assert!(response.all("Transfer-Encoding").is_empty(), "{response:?}");
    assert_eq!(response.body, b"ok\n");
}

#[test]
fn good_protocol_response_passes() {
    call(["--app", "protocol", "/"])
        .run()
        .assert_ok()
        .assert_stdout("ok\n")
        .assert_stderr_lacks("rwsgi:");
}

#[test]
fn set_cookie_headers_stay_separate_and_in_order() {
    let out = call(["--app", "cookies", "-i", "-H", "Cookie: a=1", "/"]).run();
    out.assert_ok();
    let response = out.included();
    assert_eq!(
        response.all("Set-Cookie"),
        [
            "c1=one; Path=/",
            "c2=two; Path=/; HttpOnly",
            "c3=three; Path=/; Secure; SameSite=Lax",
            "c4=four; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
            "c5=five; Max-Age=60",
        ]
    );
    assert_eq!(response.body, b"cookie: a=1\n");
}

#[test]
fn set_cookie_headers_in_format_json() {
    let out = call(["--app", "cookies", "--format", "json", "/"]).run();
    out.assert_ok();
    let reply = out.json();
    let cookies: Vec<&str> = reply["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == "Set-Cookie")
        .map(|pair| pair[1].as_str().unwrap())
        .collect();
    assert_eq!(cookies.len(), 5, "{reply:#}");
    assert_eq!(
        cookies[3],
        "c4=four; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT"
    );
    assert_eq!(reply["body"], "cookie: (none)\n");
}

#[test]
fn file_wrapper_sends_the_file() {
    call(["--app", "filewrapper", "/"])
        .run()
        .assert_ok()
        .assert_stdout(filewrapper_data());
}

#[test]
fn file_wrapper_starts_at_the_current_position() {
    // PEP 3333 "Optional Platform-Specific File Handling": transmission begins at the file's
    // current position.
    let out = call(["--app", "filewrapper", "-i", "/?seek=100"]).run();
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.one("Content-Length"), "21900");
    assert_eq!(response.body, filewrapper_data()[100..]);
}

#[test]
fn file_wrapper_closes_a_plain_file_like() {
    // PEP 3333: the wrapper's close() must call the file-like's close().
    call(["--app", "filewrapper", "/?kind=plain"])
        .run()
        .assert_ok()
        .assert_stdout(filewrapper_data())
        .assert_stderr_has("filelike closed");
}

#[test]
fn wsgi_errors_write_writelines_and_flush() {
    // PEP 3333 "Input and Error Streams": wsgi.errors supports write(), writelines() and
    // flush().
    let out = call(["--app", "echo", "/?read=none&log=hello%20errors"]).run();
    out.assert_ok();
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines,
        ["log: hello errors", "log line 1", "log line 2"],
        "{}",
        out.dump()
    );
}

#[test]
fn wsgi_errors_goes_to_stderr() {
    // raising.py writes to wsgi.errors from close(); Bottle, Flask and Django write their
    // tracebacks there too.
    let out = call(["--app", "raising", "/?at=none"]).run();
    out.assert_ok();
    assert!(
        out.stderr.lines().any(|line| line == "closed:none"),
        "{}",
        out.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// Every app once more under wsgiref.validate, which checks both sides of PEP 3333 as the
// request runs.

fn validated(app: &str, args: &[&str]) -> Output {
    let spec = format!("validated:wrap('{app}')");
    let mut all = vec!["--app", spec.as_str()];
    all.extend_from_slice(args);
    let out = call(all).run();
    out.assert_stderr_lacks("WSGIWarning")
        .assert_stderr_lacks("AssertionError")
        .assert_stderr_lacks("garbage collected without being closed");
    out
}

#[test]
fn validator_is_in_effect() {
    // wsgiref.validate allows read() on wsgi.input only with a size; echo.py's default is
    // read() without one. That this fails shows the validator really wraps the app, so that
    // the validated runs below mean something.
    let out = call(["--app", "validated:wrap('echo')", "/"]).run();
    assert_internal_error(&out);
    out.assert_stderr_has("AssertionError");
}

#[test]
fn validated_echo_get() {
    let out = validated("echo", &["/v?read=n:64"]);
    out.assert_ok();
    let env = out.json();
    assert_eq!(env["PATH_INFO"], "/v");
    assert_eq!(env["body"], "");
}

#[test]
fn validated_echo_with_every_read_method() {
    for mode in ["n:3", "readline", "readline:2", "readlines", "iter"] {
        let out = validated(
            "echo",
            &[
                "-X",
                "PUT",
                "--data-binary",
                LINES,
                &format!("/?read={mode}"),
            ],
        );
        out.assert_ok();
        assert_eq!(out.json()["body"], LINES, "read={mode}");
    }
}

#[test]
fn validated_echo_with_a_form_and_a_full_url() {
    let dir = temp_dir("validated-form");
    let file = write_file(&dir, "up.txt", "upload\n");
    let out = validated(
        "echo",
        &[
            "-F",
            "a=1",
            "-F",
            &format!("f=@{}", file.display()),
            "--script-name",
            "/app",
            "https://example.com/app/form?read=n:100",
        ],
    );
    out.assert_ok();
    let env = out.json();
    assert_eq!(env["SCRIPT_NAME"], "/app");
    assert_eq!(env["PATH_INFO"], "/form");
    assert_eq!(env["wsgi.url_scheme"], "https");
}

#[test]
fn validated_stream() {
    validated("stream", &["/?n=3&size=2&empty=1"])
        .assert_ok()
        .assert_stdout("aabbcc");
}

#[test]
fn validated_writer() {
    validated("writer", &["/"])
        .assert_ok()
        .assert_stdout("one\ntwo\nthree\n");
    validated("writer", &["/?mode=mixed"])
        .assert_ok()
        .assert_stdout("written 1\nwritten 2\nreturned 1\nreturned 2\n");
}

#[test]
fn validated_excinfo() {
    validated("excinfo", &["/"])
        .assert_ok()
        .assert_stdout("service unavailable\n");
    validated("excinfo", &["/?empty_chunk=1"])
        .assert_ok()
        .assert_stdout("service unavailable\n");
    validated("excinfo", &["/?after=1"])
        .assert_code(1)
        .assert_stdout("partial ")
        .assert_stderr_has("RuntimeError: backend is down");
}

#[test]
fn validated_raising() {
    validated("raising", &["/?at=none"])
        .assert_ok()
        .assert_stdout("chunk 1\nchunk 2\n")
        .assert_stderr_has("closed:none");
    validated("raising", &["/?at=mid_stream"])
        .assert_code(1)
        .assert_stdout("chunk 1\nchunk 2\n")
        .assert_stderr_has("closed:mid_stream");
    let out = validated("raising", &["/?at=first_chunk"]);
    assert_internal_error(&out);
    out.assert_stderr_has("closed:first_chunk");
    assert_internal_error(&validated("raising", &["/?at=call"]));
}

#[test]
fn validated_binary() {
    validated("binary", &["/?size=200000"])
        .assert_ok()
        .assert_stdout(binary_pattern(200_000));
}

#[test]
fn validated_cookies() {
    let out = validated("cookies", &["-i", "-H", "Cookie: k=v", "/"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.all("Set-Cookie").len(), 5);
    assert_eq!(response.body, b"cookie: k=v\n");
}

#[test]
fn validated_file_wrapper() {
    validated("filewrapper", &["/?seek=11"])
        .assert_ok()
        .assert_stdout(&filewrapper_data()[11..]);
    validated("filewrapper", &["/?kind=plain"])
        .assert_ok()
        .assert_stdout(filewrapper_data())
        .assert_stderr_has("filelike closed");
}

#[test]
fn validated_protocol_hop_by_hop() {
    let out = validated("protocol", &["-i", "/?bad=hop_by_hop"]);
    out.assert_ok().assert_stderr_has("rwsgi: warning:");
    assert_eq!(out.included().body, b"ok\n");
}

#[test]
fn validated_status_and_factory_apps() {
    validated("status", &["/?code=404"])
        .assert_ok()
        .assert_stdout("status 404\n");
    let out = call(["--app", "validated:wrap('only_app', 'app')", "/"]).run();
    out.assert_ok().assert_stdout("only app\n");
    let out = call([
        "--app",
        "validated:wrap('factory', attr='default_app')",
        "/",
    ])
    .run();
    out.assert_ok().assert_stdout("default\n");
}

#[test]
fn validated_head_request() {
    let out = validated("echo", &["-I", "/?read=none"]);
    out.assert_ok();
    assert_eq!(out.included().one("X-Echo-Method"), "HEAD");
}

// ---------------------------------------------------------------------------------------------
// The garbage collector around the app's import

#[test]
fn the_collector_is_back_on_after_the_import_with_the_import_frozen() {
    let out = call(["--app", "gc_state", "/"]).run();
    out.assert_ok();
    let state = out.json();
    assert_eq!(state["enabled"], true, "{state}");
    // CPython's own default thresholds.
    assert_eq!(
        state["threshold"],
        serde_json::json!([700, 10, 10]),
        "{state}"
    );
    // What the import made (5,000 dicts and more) is out of the collector's way...
    assert!(state["frozen"].as_u64().unwrap_or(0) > 5000, "{state}");
    // ...and garbage made later is still collected.
    assert_eq!(state["cycle_collected"], true, "{state}");
}

#[test]
fn an_app_that_disables_the_collector_at_import_keeps_it_off() {
    let out = call(["--app", "gc_state", "/"])
        .env("GC_STATE_AT_IMPORT", "disable")
        .run();
    out.assert_ok();
    assert_eq!(out.json()["enabled"], false, "{}", out.json());
}

#[test]
fn an_app_that_sets_thresholds_at_import_keeps_them() {
    let out = call(["--app", "gc_state", "/"])
        .env("GC_STATE_AT_IMPORT", "threshold")
        .run();
    out.assert_ok();
    assert_eq!(
        out.json()["threshold"],
        serde_json::json!([5000, 20, 30]),
        "{}",
        out.json()
    );
}

#[test]
fn arenas_mapped_during_the_import_come_with_their_pages_and_a_request_s_do_not() {
    // src/python/arena.rs: Python's 1 MiB arenas of small objects are mapped with MAP_POPULATE
    // while the interpreter starts and the app is imported, and as CPython maps them after.
    let trace = temp_path("arena-mmaps");
    let out = program("strace", ["-f", "-qq", "-e", "trace=mmap,write", "-o"])
        .arg(&trace)
        .arg(rwsgi_bin())
        .args(["call", "--app", "arena_faults", "/"])
        .run();
    out.assert_ok();
    assert_eq!(out.stdout_str(), "made 90000 objects deep\n");
    let lines = std::fs::read_to_string(&trace).expect("strace's output");
    let _ = std::fs::remove_file(&trace);
    let (import, request) = lines
        .split_once("arena_faults: the request starts")
        .unwrap_or_else(|| panic!("no mark of the request in the trace\n{lines}"));
    let arenas = |part: &str, populated: bool| {
        part.lines()
            .filter(|l| {
                l.contains("mmap(NULL, 1048576, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS")
                    && l.contains("MAP_POPULATE") == populated
            })
            .count()
    };
    // 90,000 objects of 48 bytes: four arenas or more each time.
    assert!(
        arenas(import, true) >= 4 && arenas(import, false) == 0,
        "the import's arenas\n{lines}"
    );
    assert!(
        arenas(request, false) >= 4 && arenas(request, true) == 0,
        "the request's arenas\n{lines}"
    );
}

// ---------------------------------------------------------------------------------------------
// -o FILE is replaced only when the request worked (curl leaves it, and creates none)

fn output_case(args: &[&str], code: i32) {
    let dir = temp_dir("output-kept");
    let old = dir.join("report.csv");
    std::fs::write(&old, "yesterday's report\n").unwrap();
    let new = dir.join("new.csv");
    for (file, existed) in [(&old, true), (&new, false)] {
        let mut all = args.to_vec();
        let path = file.display().to_string();
        all.extend(["-o", &path]);
        let out = call(all).run();
        out.assert_code(code);
        if existed {
            assert_eq!(
                std::fs::read_to_string(file).unwrap(),
                "yesterday's report\n",
                "{args:?} touched the old file\n{}",
                out.dump()
            );
        } else {
            assert!(!file.exists(), "{args:?} created {}", file.display());
        }
    }
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.csv"], "{args:?} left files behind");
}

#[test]
fn fail_with_output_leaves_an_existing_file_and_creates_none() {
    output_case(&["--app", "status", "-f", "/?code=404"], 22);
    output_case(
        &["--app", "status", "-f", "--format", "json", "/?code=500"],
        22,
    );
}

#[test]
fn a_failing_app_leaves_the_output_file_alone() {
    output_case(&["--app", "raising", "/?at=call"], 1);
    output_case(&["--app", "raising", "/?at=mid_stream"], 1);
    output_case(&["--app", "no_such_module_anywhere", "/"], 1);
    output_case(&["--app", "curlish", "--compressed", "/zstd"], 61);
}

#[test]
fn output_file_is_replaced_when_the_request_works() {
    let dir = temp_dir("output-replaced");
    let file = write_file(
        &dir,
        "out.txt",
        "old contents that are longer than the new\n",
    );
    let path = file.display().to_string();
    call(["--app", "status", "-o", &path, "/?code=200"])
        .run()
        .assert_ok();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "status 200\n");
    // Without -f, an error status is a response like any other (curl writes it too).
    call(["--app", "status", "-o", &path, "/?code=503"])
        .run()
        .assert_ok();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "status 503\n");
    call([
        "--app",
        "status",
        "--fail-with-body",
        "-o",
        &path,
        "/?code=404",
    ])
    .run()
    .assert_code(22);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "status 404\n");
    // An empty body still makes the file, as curl -o does.
    let empty = dir.join("empty.txt");
    call([
        "--app",
        "curlish",
        "-o",
        &empty.display().to_string(),
        "/big?size=0",
    ])
    .run()
    .assert_ok();
    assert_eq!(std::fs::read(&empty).unwrap(), b"");
}

#[test]
fn output_to_dev_null_writes_through() {
    call([
        "--app",
        "status",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "/?code=201",
    ])
    .run()
    .assert_ok()
    .assert_stdout("201");
    assert!(
        std::fs::metadata("/dev/null")
            .map(|m| !m.is_file())
            .unwrap_or(false)
    );
}

// ---------------------------------------------------------------------------------------------
// --env and the wsgi.* keys (PEP 3333 types), -e as curl's --referer

#[test]
fn env_sets_wsgi_keys_with_their_python_types() {
    let env = echo(&[
        "--env",
        "wsgi.url_scheme=https",
        "--env",
        "wsgi.multithread=true",
        "--env",
        "wsgi.multiprocess=1",
        "--env",
        "wsgi.run_once=false",
        "--env",
        "wsgi.version=1.0",
        "/?read=none",
    ]);
    assert_eq!(env["wsgi.url_scheme"], "https");
    assert_eq!(env["wsgi.multithread"], true);
    assert_eq!(env["wsgi.multiprocess"], true);
    assert_eq!(env["wsgi.run_once"], false);
    assert_eq!(env["wsgi.version"], json!([1, 0]));
}

#[test]
fn env_refuses_wsgi_keys_it_cannot_set() {
    for bad in [
        "wsgi.input=x",
        "wsgi.errors=x",
        "wsgi.file_wrapper=x",
        "wsgi.url_scheme=ftp",
        "wsgi.multithread=maybe",
        "wsgi.version=2.0",
    ] {
        call(["--app", "echo", "--env", bad, "/"])
            .run()
            .assert_code(2)
            .assert_stderr_has("--env");
    }
}

#[test]
fn short_e_is_the_referer() {
    let out = call(["--app", "curlish", "-e", "http://from.test/page", "/show"]).run();
    out.assert_ok();
    assert!(
        out.stdout_str()
            .contains("HTTP_REFERER: http://from.test/page\n"),
        "{}",
        out.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// The usage line, --version

#[test]
fn usage_line_reads_right_for_both_names() {
    let dir = temp_dir("usage-link");
    let link = dir.join("rwsgi-call");
    std::os::unix::fs::symlink(rwsgi_bin(), &link).expect("symlink");
    for (run, name) in [
        (call(["--help"]), "rwsgi call"),
        (call(["--no-such-option"]), "rwsgi call"),
        (rwsgi(["--help"]).program(&link), "rwsgi-call"),
        (rwsgi(["--bogus"]).program(&link), "rwsgi-call"),
    ] {
        let out = run.run();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), out.stderr);
        assert!(
            text.contains(&format!("Usage: {name} [OPTIONS] [METHOD] <TARGET>")),
            "{}",
            out.dump()
        );
        assert!(!text.contains("<METHOD]"), "{}", out.dump());
    }
}

#[test]
fn rwsgi_call_version_shows_the_embedded_python() {
    let out = call(["--version"]).run();
    out.assert_ok();
    let text = out.stdout_str();
    assert!(
        text.starts_with(&format!("rwsgi call {VERSION} (Python 3.")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Python {}", embedded_python_minor())),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// The output closed early (`| head -c1`): curl's exit 23

fn closed_pipe(extra: &[&str]) -> (Option<i32>, String) {
    use std::io::Read as _;
    let mut args = vec!["--app", "curlish"];
    args.extend_from_slice(extra);
    args.push("/big?size=4000000");
    let mut rwsgi = call(args).spawn_piped();
    drop(rwsgi.child.stdin.take());
    let mut stdout = rwsgi.child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    stdout.read_exact(&mut one).unwrap();
    drop(stdout);
    let mut stderr = String::new();
    rwsgi
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (rwsgi.wait_bounded(LIMIT).0.code(), stderr)
}

#[test]
fn closed_output_is_exit_23_with_one_line() {
    let (code, stderr) = closed_pipe(&[]);
    assert_eq!(code, Some(23), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("rwsgi: (23) Failure writing output to destination"),
        "{stderr}"
    );
}

#[test]
fn closed_output_with_silent_is_exit_23_and_quiet() {
    let (code, stderr) = closed_pipe(&["-s"]);
    assert_eq!(code, Some(23), "{stderr}");
    assert_eq!(stderr, "");
    let (code, stderr) = closed_pipe(&["-sS"]);
    assert_eq!(code, Some(23), "{stderr}");
    assert!(stderr.contains("(23)"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// -s/-S and -f

#[test]
fn silent_hides_the_fail_message_and_show_error_brings_it_back() {
    let out = call(["--app", "status", "-f", "/?code=404"]).run();
    out.assert_code(22)
        .assert_stderr_has("rwsgi: (22) The requested URL returned error: 404");
    let out = call(["--app", "status", "-sf", "/?code=404"]).run();
    out.assert_code(22);
    assert_eq!(out.stderr, "", "{}", out.dump());
    call(["--app", "status", "-sSf", "/?code=404"])
        .run()
        .assert_code(22)
        .assert_stderr_has("(22)");
}

// ---------------------------------------------------------------------------------------------
// The other curl habits, on rwsgi alone

fn shown(args: &[&str]) -> String {
    let mut all = vec!["--app", "curlish"];
    all.extend_from_slice(args);
    let out = call(all).run();
    out.assert_ok();
    out.stdout_str().to_string()
}

#[test]
fn user_sends_basic_auth_and_a_bare_user_is_refused() {
    let text = shown(&["-u", "alice:s3cret:x", "/show"]);
    assert!(
        text.contains("HTTP_AUTHORIZATION: Basic YWxpY2U6czNjcmV0Ong=\n"),
        "{text}"
    );
    call(["--app", "curlish", "-u", "alice", "/show"])
        .run()
        .assert_code(2)
        .assert_stderr_has("password");
}

#[test]
fn user_agent_and_header_override() {
    let text = shown(&["-A", "agent/1", "/show"]);
    assert!(text.contains("HTTP_USER_AGENT: agent/1\n"), "{text}");
    let text = shown(&["-A", "agent/1", "-H", "User-Agent: mine", "/show"]);
    assert!(text.contains("HTTP_USER_AGENT: mine\n"), "{text}");
}

#[test]
fn url_option_names_the_target() {
    let text = shown(&["--url", "/show?x=1"]);
    assert!(text.starts_with("GET /show\nquery: x=1\n"), "{text}");
    let text = shown(&["DELETE", "--url", "/show"]);
    assert!(text.starts_with("DELETE /show\n"), "{text}");
    call(["--app", "curlish", "--url", "/a", "GET", "/b"])
        .run()
        .assert_code(2);
}

#[test]
fn upload_file_puts_it_and_names_it_after_a_slash() {
    let dir = temp_dir("upload");
    let file = write_file(&dir, "notes one.txt", "line 1\r\nline 2\n");
    let path = file.display().to_string();
    let text = shown(&["-T", &path, "/show"]);
    assert!(text.starts_with("PUT /show\n"), "{text}");
    assert!(text.ends_with("body: line 1\r\nline 2\n\n"), "{text}");
    let out = call(["--app", "echo", "-T", &path, "/files/?read=none"]).run();
    out.assert_ok();
    assert_eq!(
        out.json()["REQUEST_URI"],
        "/files/notes%20one.txt?read=none"
    );
    let out = call(["--app", "curlish", "-T", "-", "/show"])
        .stdin("from stdin")
        .run();
    out.assert_ok();
    assert!(
        out.stdout_str().ends_with("body: from stdin\n"),
        "{}",
        out.dump()
    );
    call([
        "--app",
        "curlish",
        "-T",
        "/nonexistent/rwsgi/up.txt",
        "/show",
    ])
    .run()
    .assert_code(26);
}

#[test]
fn verbose_shows_both_heads_on_stderr() {
    let out = call(["--app", "curlish", "-v", "-d", "a=1", "/redirect?code=303"]).run();
    out.assert_ok();
    assert!(
        out.stdout_str().contains("a redirect's body"),
        "{}",
        out.dump()
    );
    out.assert_stderr_has("> POST /redirect?code=303 HTTP/1.1\r\n")
        .assert_stderr_has("> Host: localhost\r\n")
        .assert_stderr_has("> Content-Length: 3\r\n")
        .assert_stderr_has("< HTTP/1.1 303 Redirect\r\n")
        .assert_stderr_has("< Location: /show\r\n");
}

#[test]
fn include_with_location_shows_every_head_and_the_last_body() {
    let out = call(["--app", "curlish", "-i", "-L", "/chain?n=1"]).run();
    out.assert_ok();
    let text = out.stdout_str();
    assert_eq!(text.matches("HTTP/1.1 302 Found\r\n").count(), 2, "{text}");
    assert!(text.contains("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(!text.contains("chain 1"), "{text}");
    assert!(text.ends_with("body: \n"), "{text}");
}

#[test]
fn location_to_another_host_goes_to_the_app_without_credentials() {
    let text = shown(&[
        "-L",
        "-u",
        "a:b",
        "-H",
        "Cookie: c=1",
        "/redirect?code=302&to=https://other.test:8443/show",
    ]);
    assert!(text.contains("HTTP_HOST: other.test:8443\n"), "{text}");
    assert!(!text.contains("AUTHORIZATION"), "{text}");
    assert!(!text.contains("COOKIE"), "{text}");
    let text = shown(&["-L", "/redirect?code=302&to=https://other.test:8443/show"]);
    assert!(text.starts_with("GET /show\n"), "{text}");
    let text = shown(&["-L", "-u", "a:b", "/redirect?code=307&to=/show"]);
    assert!(text.contains("HTTP_AUTHORIZATION: Basic YTpi\n"), "{text}");
}

#[test]
fn location_sets_run_once_false() {
    let env = echo(&["-L", "/?read=none"]);
    assert_eq!(env["wsgi.run_once"], false);
}

#[test]
fn too_many_redirects_is_exit_47() {
    let out = call(["--app", "curlish", "-L", "--max-redirs", "2", "/chain?n=5"]).run();
    out.assert_code(47)
        .assert_stderr_has("rwsgi: (47) Maximum (2) redirects followed");
    assert!(out.stdout.is_empty(), "{}", out.dump());
    // n=49 takes 50 redirects, curl's default limit.
    call(["--app", "curlish", "-L", "/chain?n=49"])
        .run()
        .assert_ok();
    call(["--app", "curlish", "-L", "/chain?n=50"])
        .run()
        .assert_code(47);
    call([
        "--app",
        "curlish",
        "-L",
        "--max-redirs",
        "-1",
        "/chain?n=60",
    ])
    .run()
    .assert_ok();
}

#[test]
fn malformed_urls_are_exit_3() {
    call(["--app", "curlish", "http://host:99999/"])
        .run()
        .assert_code(3);
    call([
        "--app",
        "curlish",
        "-L",
        "/redirect?code=302&to=http://%5B::1/x",
    ])
    .run()
    .assert_code(3);
}

#[test]
fn compressed_asks_for_and_decodes_gzip_deflate_and_br() {
    let text_expected = format!("{}end\n", "compressed text, ".repeat(50));
    let text = shown(&["--compressed", "/show"]);
    assert!(
        text.contains("HTTP_ACCEPT_ENCODING: deflate, gzip, br\n"),
        "{text}"
    );
    for path in ["/gzip", "/deflate", "/raw-deflate"] {
        assert_eq!(shown(&["--compressed", path]), text_expected, "{path}");
    }
    let dir = temp_dir("brotli");
    let mut compressed = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut compressed, 4096, 5, 22);
        std::io::Write::write_all(&mut w, text_expected.as_bytes()).unwrap();
    }
    let file = write_file(&dir, "body.br", &compressed);
    let url = format!("/br?file={}", file.display());
    assert_eq!(shown(&["--compressed", &url]), text_expected);
    // Without --compressed the bytes are left as they came (as curl leaves them).
    let out = call(["--app", "curlish", &url]).run();
    out.assert_stdout(&compressed);
    call(["--app", "curlish", "--compressed", "/zstd"])
        .run()
        .assert_code(61)
        .assert_stderr_has("(61)");
    call(["--app", "curlish", "--compressed", "-I", "/gzip"])
        .run()
        .assert_ok();
}

#[test]
fn cookie_string_is_sent_on_every_request() {
    let text = shown(&["-b", "a=1; b=2", "-L", "/redirect?to=/show"]);
    assert!(text.contains("HTTP_COOKIE: a=1; b=2\n"), "{text}");
}

#[test]
fn write_out_reads_a_file_and_knows_the_common_variables() {
    let dir = temp_dir("write-out");
    let format = write_file(
        &dir,
        "fmt",
        "%{http_code} %{method} %{num_redirects} %{url_effective} %{content_type} %{size_download}\\n",
    );
    let out = call([
        "--app",
        "status",
        "-o",
        "/dev/null",
        "-w",
        &format!("@{}", format.display()),
        "-X",
        "PATCH",
        "/x?code=201",
    ])
    .run();
    out.assert_ok()
        .assert_stdout("201 PATCH 0 http://localhost/x?code=201 text/plain 11\n");
    let out = call(["--app", "status", "-w", "%{time_total}", "/"]).run();
    let t: f64 = out
        .stdout_str()
        .trim_start_matches("status 200\n")
        .parse()
        .unwrap();
    assert!(t > 0.0 && t < 60.0, "{}", out.dump());
}

// ---------------------------------------------------------------------------------------------
// Compared with real curl against the same app under wsgiref.simple_server

/// The curlish app served by Python's wsgiref on 127.0.0.1 and a free port; ended when
/// dropped.
struct RefServer {
    _process: Running,
    port: u16,
}

impl RefServer {
    fn start() -> RefServer {
        let script = "import sys, wsgiref.simple_server as s\n\
            sys.path.insert(0, '.')\n\
            import curlish\n\
            class Quiet(s.WSGIRequestHandler):\n    def log_message(self, *a): pass\n\
            srv = s.make_server('127.0.0.1', 0, curlish.application, handler_class=Quiet)\n\
            print(srv.server_port, flush=True)\n\
            srv.serve_forever()\n";
        let process = program("python3", ["-c", script])
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .spawn();
        let line = process.wait_stdout("the server's port", |text| text.ends_with('\n'));
        let port = line.trim().parse().expect("the server's port");
        RefServer {
            _process: process,
            port,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// The same flags through real curl (against the server) and rwsgi-call (against the app),
/// each in its own folder (for cookie jars); returns (curl, rwsgi) as (exit code, stdout).
fn both(
    server: &RefServer,
    flags: &[&str],
    path: &str,
    setup: impl Fn(&Path),
) -> [(Option<i32>, String, std::path::PathBuf); 2] {
    let url = server.url(path);
    let curl_dir = temp_dir("curl-side");
    let rwsgi_dir = temp_dir("rwsgi-side");
    setup(&curl_dir);
    setup(&rwsgi_dir);
    let curl = program("curl", ["-s"])
        .args(flags)
        .arg(&url)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .cwd(&curl_dir)
        .run();
    let mut args = vec![
        "--app".to_string(),
        apps_dir().join("curlish.py").display().to_string(),
        "-s".into(),
    ];
    args.extend(flags.iter().map(|s| s.to_string()));
    args.push(url);
    let ours = call(args).cwd(&rwsgi_dir).run();
    [
        (
            curl.code,
            String::from_utf8_lossy(&curl.stdout).into_owned(),
            curl_dir,
        ),
        (
            ours.code,
            String::from_utf8_lossy(&ours.stdout).into_owned(),
            rwsgi_dir,
        ),
    ]
}

fn assert_same(server: &RefServer, flags: &[&str], path: &str) {
    let [curl, ours] = both(server, flags, path, |_| {});
    assert_eq!(
        (curl.0, &curl.1),
        (ours.0, &ours.1),
        "curl vs rwsgi-call for {flags:?} {path}"
    );
}

const WRITE_OUT: &str = "\n%{http_code}|%{response_code}|%{num_redirects}|%{method}|%{url_effective}|%{redirect_url}|%{content_type}|%{size_download}|%{exitcode}\n";

#[test]
fn location_follows_curls_method_and_body_rules() {
    let server = RefServer::start();
    for code in ["301", "302", "303", "307", "308"] {
        let path = format!("/redirect?code={code}&to=/show");
        for flags in [
            vec!["-L", "-A", "t", "-d", "a=1", "-w", WRITE_OUT],
            vec!["-L", "-A", "t", "-I", "-w", WRITE_OUT],
            vec![
                "-L",
                "-A",
                "t",
                "--post301",
                "--post302",
                "--post303",
                "-d",
                "a=1",
                "-w",
                WRITE_OUT,
            ],
            vec!["-A", "t", "-d", "a=1", "-w", WRITE_OUT],
        ] {
            if flags.contains(&"-I") {
                // HEAD shows heads, which differ between servers (Date, Server): compare the
                // write-out alone.
                let mut flags = flags.clone();
                flags.extend(["-o", "/dev/null"]);
                assert_same(&server, &flags, &path);
            } else {
                assert_same(&server, &flags, &path);
            }
        }
        // An upload (-T) is a PUT, kept with its body by every redirect but 303.
        let flags = ["-L", "-A", "t", "-T", "up.txt", "-w", WRITE_OUT];
        let [curl, ours] = both(&server, &flags, &path, |dir| {
            std::fs::write(dir.join("up.txt"), "uploaded\n").unwrap()
        });
        assert_eq!((curl.0, &curl.1), (ours.0, &ours.1), "-T {path}");
    }
}

#[test]
fn location_resolves_relative_urls_and_counts_as_curl() {
    let server = RefServer::start();
    for (path, flags) in [
        (
            "/redirect?code=302&to=show%3Fq%3D1",
            vec!["-L", "-A", "t", "-w", WRITE_OUT],
        ),
        (
            "/redirect?code=302&to=..%2Fshow",
            vec!["-L", "-A", "t", "-w", WRITE_OUT],
        ),
        (
            "/chain?n=3",
            vec![
                "-L",
                "-A",
                "t",
                "-e",
                "http://start.test/;auto",
                "-w",
                WRITE_OUT,
            ],
        ),
        (
            "/chain?n=5",
            vec!["-L", "-A", "t", "--max-redirs", "2", "-w", WRITE_OUT],
        ),
        (
            "/chain?n=2",
            vec!["-L", "-A", "t", "--max-redirs", "2", "-w", WRITE_OUT],
        ),
        (
            "/redirect?code=404&to=/show",
            vec!["-f", "-A", "t", "-w", WRITE_OUT],
        ),
        (
            "/redirect?code=304&to=/show",
            vec!["-L", "-A", "t", "-w", WRITE_OUT],
        ),
    ] {
        assert_same(&server, &flags, path);
    }
}

#[test]
fn get_with_data_and_data_urlencode_builds_the_query_as_curl() {
    let server = RefServer::start();
    let setup = |dir: &Path| {
        std::fs::write(dir.join("value.txt"), "file value & more\n").unwrap();
    };
    let flags = [
        "-G",
        "-A",
        "t",
        "-d",
        "plain=a+b",
        "--data-urlencode",
        "name=a b&c=d/é",
        "--data-urlencode",
        "=only content",
        "--data-urlencode",
        "bare+content",
        "--data-urlencode",
        "f@value.txt",
        "--data-urlencode",
        "@value.txt",
        "--data-urlencode",
        "odd@name=x",
    ];
    for path in ["/show", "/show?first=1"] {
        let [curl, ours] = both(&server, &flags, path, setup);
        // curl's URL parser writes the query's escapes in lower case: the same bytes.
        assert_eq!(
            (curl.0, curl.1.to_ascii_lowercase()),
            (ours.0, ours.1.to_ascii_lowercase()),
            "{path}"
        );
    }
    // Without -G the same pieces make the body, in the order given.
    let flags = [
        "-A",
        "t",
        "--data-urlencode",
        "a=1 2",
        "-d",
        "b=3",
        "--data-binary",
        "c=4",
    ];
    let [curl, ours] = both(&server, &flags, "/show", |_| {});
    assert_eq!((curl.0, &curl.1), (ours.0, &ours.1));
}

#[test]
fn compressed_bodies_decode_as_curl() {
    let server = RefServer::start();
    for path in ["/gzip", "/deflate", "/raw-deflate"] {
        assert_same(
            &server,
            &["--compressed", "-w", "%{size_download} %{http_code}"],
            path,
        );
    }
}

/// The jar's cookie lines (not its comments), with the expiry of Max-Age cookies (which
/// depends on the second each was made) rounded to a minute.
fn jar_lines(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("jar.txt")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.is_empty() && (!l.starts_with('#') || l.starts_with("#HttpOnly_")))
        .map(|l| {
            let mut fields: Vec<String> = l.split('\t').map(str::to_string).collect();
            if fields.len() == 7 && fields[5] == "aged" {
                let t: i64 = fields[4].parse().unwrap();
                fields[4] = (t / 60).to_string();
            }
            fields.join("\t")
        })
        .collect()
}

#[test]
fn cookie_jar_is_written_and_read_as_curl() {
    let server = RefServer::start();
    // Cookies set along redirects are kept and sent on (the cookie engine is on with -c).
    let flags = ["-L", "-A", "t", "-c", "jar.txt", "-w", WRITE_OUT];
    let [curl, ours] = both(&server, &flags, "/set-cookies", |_| {});
    assert_eq!((curl.0, &curl.1), (ours.0, &ours.1));
    let curl_jar = jar_lines(&curl.2);
    assert!(curl_jar.len() >= 5, "{curl_jar:?}");
    assert_eq!(curl_jar, jar_lines(&ours.2));

    // Without the engine (no -b FILE, no -c), a redirect does not carry the cookies.
    assert_same(&server, &["-L", "-A", "t"], "/set-cookies");

    // A jar curl wrote is read back by both (-b FILE), and updated in place (-b and -c).
    let jar = std::fs::read_to_string(curl.2.join("jar.txt")).unwrap();
    let setup = |dir: &Path| std::fs::write(dir.join("jar.txt"), &jar).unwrap();
    for flags in [
        vec!["-A", "t", "-b", "jar.txt"],
        vec!["-A", "t", "-b", "jar.txt", "-b", "extra=1"],
    ] {
        for path in ["/dir/sub/page", "/dir/x", "/show"] {
            let [curl, ours] = both(&server, &flags, path, setup);
            assert_eq!((curl.0, &curl.1), (ours.0, &ours.1), "{flags:?} {path}");
        }
    }
    let flags = ["-A", "t", "-b", "jar.txt", "-c", "jar.txt", "-L"];
    let [curl, ours] = both(&server, &flags, "/set-cookies", setup);
    assert_eq!((curl.0, &curl.1), (ours.0, &ours.1));
    assert_eq!(jar_lines(&curl.2), jar_lines(&ours.2));
}

#[test]
fn cookie_jar_to_stdout_and_a_missing_cookie_file() {
    let out = call([
        "--app",
        "curlish",
        "-b",
        "/nonexistent/rwsgi/jar.txt",
        "-c",
        "-",
        "/dir/sub/page",
    ])
    .run();
    out.assert_ok();
    let text = out.stdout_str();
    assert!(
        text.starts_with("cookie: (none)\n# Netscape HTTP Cookie File\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\nlocalhost\tFALSE\t/dir/sub/\tFALSE\t0\tpage\t8\n"),
        "{text}"
    );
}

/// Ctrl-C during the request ends rwsgi-call with 130 (128 + SIGINT, as a shell reports an
/// interrupted program), printing nothing of a response that never came.
#[test]
fn interrupt_exits_130_without_output() {
    use std::io::{BufRead, BufReader, Read};

    let dir = crate::util::temp_dir("interrupt");
    let app = crate::util::write_file(
        &dir,
        "slow.py",
        "import sys, time\n\
         def application(environ, start_response):\n\
         \x20   print('ready', file=sys.stderr, flush=True)\n\
         \x20   time.sleep(60)\n\
         \x20   start_response('200 OK', [])\n\
         \x20   return [b'late']\n",
    );
    let mut process = call(["--app", app.to_str().unwrap(), "GET", "/"]).spawn_piped();
    let mut stderr = BufReader::new(process.child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n", "the app should have started");
    let pid = i32::try_from(process.child.id()).unwrap();
    // SAFETY: kill(2) on the child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let (status, _) = process.wait_bounded(std::time::Duration::from_secs(20));
    let mut out = Vec::new();
    process
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
}
