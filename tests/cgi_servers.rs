//! End-to-end tests of CGI mode (spec/cgi.md) under real web servers: lighttpd with mod_cgi,
//! Apache httpd with mod_cgid, and nginx with fcgiwrap; and of FastCGI mode with the same
//! scripts and cases: lighttpd with mod_fastcgi and Apache with mod_fcgid starting the scripts
//! themselves, and nginx with `rwsgi fastcgi` on Unix sockets. Each server is started once per run on
//! 127.0.0.1, from its configuration in `cgi/` with the placeholders filled in, and driven over
//! HTTP/1.1 by the small client at the end of this file. The drop-in scripts they run are in
//! `tests/apps/cgi-bin/`.
//!
//! The servers' workers run as www-data when the tests run as root, and www-data cannot read
//! /root, where Python (and perhaps this checkout) lives. So everything the servers use is
//! copied into a world-readable staging folder under /tmp: the rwsgi binary, the scripts and
//! the modules they import, the test virtualenv's site-packages (as a `.venv` beside the
//! scripts), and a copy of the embedded Python's standard library and libpython, which
//! lighttpd and Apache are pointed at with PYTHONHOME and LD_LIBRARY_PATH. fcgiwrap runs as
//! whoever runs the tests, so nginx's requests use the Python rwsgi was built against, where
//! it is.
//!
//! A watchdog process outlives this one by a moment: when this process ends, however it ends,
//! it stops every server it was told about and removes the staging folder.

use std::fmt::Display;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::sha256_hex;

/// The PATH the servers themselves are started with (the CGI programs get theirs from the
/// configuration).
const SERVER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a server may take to start, and a request to be answered.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// How long text the app wrote to stderr may take to reach the log file after the response.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);

/// The modules of `tests/apps/` that the drop-in scripts import from beside themselves.
const APP_MODULES: &[&str] = &[
    "echo.py",
    "bodiless.py",
    "binary.py",
    "raising.py",
    "protocol.py",
    "flask_app.py",
    "fcgi_app.py",
    "djproj",
    "files",
];

/// The packages of tests/requirements.txt that flask_app.py and djproj import, directly or
/// through each other.
const FRAMEWORK_PACKAGES: &[&str] = &[
    "flask",
    "werkzeug",
    "jinja2",
    "markupsafe",
    "itsdangerous",
    "click",
    "blinker",
    "django",
    "asgiref",
    "sqlparse",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `result.or_say(|| "what was being done")`: an error as text that says what failed.
trait OrSay<T> {
    fn or_say(self, what: impl FnOnce() -> String) -> Result<T, String>;
}

impl<T, E: Display> OrSay<T> for Result<T, E> {
    fn or_say(self, what: impl FnOnce() -> String) -> Result<T, String> {
        self.map_err(|e| format!("{}: {e}", what()))
    }
}

// ---------------------------------------------------------------------------------------------
// The watchdog

/// The watchdog's stdin. Each server's process group id is written to it; when this process
/// ends, the kernel closes it, and the watchdog stops those groups and removes the staging
/// folder. The test harness has no hook that runs after the last test, so this is the one
/// cleanup that happens on every kind of exit, including a crash or a kill.
static WATCHDOG: OnceLock<Mutex<ChildStdin>> = OnceLock::new();

const WATCHDOG_SCRIPT: &str = r#"
groups=""
while read -r group; do groups="$groups $group"; done
for group in $groups; do kill -TERM -"$group" 2>/dev/null; done
tries=0
while [ "$tries" -lt 50 ]; do
    alive=""
    for group in $groups; do kill -0 -"$group" 2>/dev/null && alive=yes; done
    [ -z "$alive" ] && break
    sleep 0.1
    tries=$((tries + 1))
done
for group in $groups; do kill -KILL -"$group" 2>/dev/null; done
rm -rf -- "$1"
"#;

fn start_watchdog(staging_root: &Path) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .arg("rwsgi-cgi-servers-watchdog")
        .arg(staging_root)
        .stdin(Stdio::piped())
        // Not the test's own stdout: a pipe reader (`cargo test | tee`) would wait for it.
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group, so a Ctrl-C meant for the tests leaves it to clean up after them.
        .process_group(0)
        .spawn()
        .or_say(|| "cannot start the watchdog (/bin/sh)".into())?;
    let stdin = child.stdin.take().expect("stdin is piped");
    WATCHDOG
        .set(Mutex::new(stdin))
        .map_err(|_| "the watchdog was started twice".to_string())
}

/// Tells the watchdog to stop this process group when the tests are over.
fn guard_process_group(child: &Child) -> Result<(), String> {
    let watchdog = WATCHDOG.get().ok_or("no watchdog")?;
    let mut stdin = watchdog.lock().unwrap_or_else(|p| p.into_inner());
    writeln!(stdin, "{}", child.id())
        .and_then(|()| stdin.flush())
        .or_say(|| "cannot talk to the watchdog".into())
}

// ---------------------------------------------------------------------------------------------
// The staging folder

struct Staging {
    root: PathBuf,
    /// Holds `rwsgi`, a link to the copied binary, for `#!/usr/bin/env rwsgi`.
    bin_dir: PathBuf,
    cgi_dir: PathBuf,
    doc_root: PathBuf,
    /// Files the streaming test creates for stream.wsgi to find.
    markers: PathBuf,
    /// Where the apps write files for the tests to find (writable by the servers' workers).
    written: PathBuf,
    /// The readable copy of the embedded Python, for PYTHONHOME.
    python_home: PathBuf,
    /// `3.11.7`.
    python_version: String,
}

fn staging() -> &'static Staging {
    static STAGING: OnceLock<Result<Staging, String>> = OnceLock::new();
    match STAGING.get_or_init(build_staging) {
        Ok(staging) => staging,
        Err(e) => panic!("cannot prepare the folder the web servers serve from: {e}"),
    }
}

fn build_staging() -> Result<Staging, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // /tmp itself rather than TMPDIR, which may be a private folder the workers cannot enter.
    let root = PathBuf::from(format!(
        "/tmp/rwsgi-cgi-servers-{}-{nanos:x}",
        std::process::id()
    ));
    start_watchdog(&root)?;
    let staging = Staging {
        bin_dir: root.join("bin"),
        cgi_dir: root.join("cgi-bin"),
        doc_root: root.join("htdocs"),
        markers: root.join("markers"),
        written: root.join("written"),
        python_home: root.join("python"),
        python_version: String::new(),
        root,
    };
    for dir in [
        &staging.root,
        &staging.bin_dir,
        &staging.cgi_dir,
        &staging.doc_root,
        &staging.markers,
    ] {
        make_dir(dir, 0o755)?;
    }
    make_dir(&staging.written, 0o1777)?;

    // The binary, copied, and found on PATH through a link, as an installed one would be.
    let binary = staging.root.join("rwsgi-build").join("rwsgi");
    make_dir(binary.parent().unwrap(), 0o755)?;
    copy_file(Path::new(env!("CARGO_BIN_EXE_rwsgi")), &binary)?;
    symlink(&binary, staging.bin_dir.join("rwsgi")).or_say(|| "cannot link bin/rwsgi".into())?;

    let python = probe_python(&staging.root, &binary)?;
    copy_python(&python, &staging.python_home)?;

    // Static files, as a site's collected static folder holds them.
    for (name, contents, _) in STATIC_FILES {
        fs::write(staging.doc_root.join(name), contents)
            .or_say(|| format!("cannot write htdocs/{name}"))?;
    }

    // The drop-in scripts, the modules they import, and the bundled example.
    let scripts = repo().join("tests").join("apps").join("cgi-bin");
    for entry in read_dir(&scripts)? {
        let name = entry.file_name();
        if Path::new(&name).extension().is_some_and(|e| e == "wsgi") {
            copy_file(&entry.path(), &staging.cgi_dir.join(&name))?;
            set_mode(&staging.cgi_dir.join(&name), 0o755)?;
        }
    }
    copy_file(
        &repo().join("cgi").join("hello.wsgi"),
        &staging.cgi_dir.join("hello.wsgi"),
    )?;
    set_mode(&staging.cgi_dir.join("hello.wsgi"), 0o755)?;
    let apps = repo().join("tests").join("apps");
    for name in APP_MODULES {
        copy_tree(&apps.join(name), &staging.cgi_dir.join(name), &|_| true)?;
    }

    // The frameworks: the test virtualenv as the `.venv` beside the scripts, which rwsgi uses
    // when nothing else names one. Without RWSGI_TEST_VENV only the framework tests fail,
    // saying so.
    if let Some(venv) = std::env::var_os("RWSGI_TEST_VENV").filter(|v| !v.is_empty()) {
        let venv = PathBuf::from(venv);
        if venv.join("pyvenv.cfg").is_file() {
            copy_venv(&venv, &staging.cgi_dir.join(".venv"), &python.minor)?;
        }
    }
    Ok(Staging {
        python_version: python.version,
        ..staging
    })
}

/// A virtualenv with the packages the Flask and Django apps import, from `venv`'s
/// site-packages. What else is installed there (tools, other tests' packages) is left out, and
/// so are Django's translations other than English: two thousand folders, slow to create on
/// some file systems, never loaded by the test project. bin/, whose links point at a Python
/// the workers may not see, is left out too.
fn copy_venv(venv: &Path, to: &Path, minor: &str) -> Result<(), String> {
    let site = PathBuf::from("lib")
        .join(format!("python{minor}"))
        .join("site-packages");
    let from_site = venv.join(&site);
    make_dir(to, 0o755)?;
    copy_file(&venv.join("pyvenv.cfg"), &to.join("pyvenv.cfg"))?;
    let mut parent = to.to_path_buf();
    for part in site.iter() {
        parent.push(part);
        make_dir(&parent, 0o755)?;
    }
    for entry in read_dir(&from_site)? {
        let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
        let keep = FRAMEWORK_PACKAGES.iter().any(|package| {
            name == *package
                || (name.starts_with(&format!("{package}-")) && name.ends_with(".dist-info"))
        });
        if !keep {
            continue;
        }
        copy_tree(
            &entry.path(),
            &parent.join(entry.file_name()),
            &|path: &Path| {
                let translation = path.parent().and_then(Path::file_name)
                    == Some("locale".as_ref())
                    && path.is_dir();
                !translation
                    || path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("en"))
            },
        )?;
    }
    Ok(())
}

/// Where the Python that rwsgi embeds keeps its files.
struct PythonFiles {
    version: String,
    /// `3.11`
    minor: String,
    stdlib: PathBuf,
    libdir: PathBuf,
}

/// Asks rwsgi's own interpreter (which may not be the `python3` on PATH) where it lives.
fn probe_python(root: &Path, rwsgi: &Path) -> Result<PythonFiles, String> {
    let probe = root.join("probe.py");
    fs::write(
        &probe,
        "import json, sys, sysconfig\n\
         \n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'application/json')])\n\
         \x20   return [json.dumps({\n\
         \x20       'version': sys.version.split()[0],\n\
         \x20       'minor': '%d.%d' % sys.version_info[:2],\n\
         \x20       'stdlib': sysconfig.get_path('stdlib'),\n\
         \x20       'libdir': sysconfig.get_config_var('LIBDIR'),\n\
         \x20   }).encode()]\n",
    )
    .or_say(|| format!("cannot write {}", probe.display()))?;
    let out = Command::new(rwsgi)
        .args(["call", "--app"])
        .arg(&probe)
        .arg("/")
        .current_dir(root)
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .env_remove("VIRTUAL_ENV")
        .env_remove("RWSGI_VENV")
        .env_remove("RWSGI_PATH")
        .stdin(Stdio::null())
        .output()
        .or_say(|| format!("cannot run {}", rwsgi.display()))?;
    let info: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "rwsgi call --app probe.py / did not print JSON ({e}); stdout: {}; stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let text = |key: &str| {
        info[key]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("the probe gave no {key}: {info}"))
    };
    Ok(PythonFiles {
        version: text("version")?,
        minor: text("minor")?,
        stdlib: text("stdlib")?.into(),
        libdir: text("libdir")?.into(),
    })
}

/// A copy of the standard library and libpython in the layout PYTHONHOME expects
/// (`HOME/lib/pythonX.Y`, `HOME/lib/libpythonX.Y.so*`), without the test suite, site-packages
/// and the build configuration. Compiled files are kept (with the sources' modification times,
/// which is what makes them valid): the workers cannot write `__pycache__`, and would otherwise
/// compile every module they import on every request.
fn copy_python(python: &PythonFiles, home: &Path) -> Result<(), String> {
    let lib = home.join("lib");
    make_dir(home, 0o755)?;
    make_dir(&lib, 0o755)?;
    let prefix = format!("libpython{}.so", python.minor);
    let mut found = false;
    for entry in read_dir(&python.libdir)? {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(&prefix) {
            copy_tree(&entry.path(), &lib.join(&name), &|_| true)?;
            found = true;
        }
    }
    if !found {
        return Err(format!(
            "no {prefix}* in {}: rwsgi needs Python's shared library",
            python.libdir.display()
        ));
    }
    let stdlib = &python.stdlib;
    copy_tree(
        stdlib,
        &lib.join(format!("python{}", python.minor)),
        &|path: &Path| {
            let relative = path.strip_prefix(stdlib).unwrap_or(path);
            let top = relative
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !(top == "test"
                || top == "site-packages"
                || top.starts_with("config-")
                || name.ends_with(".opt-1.pyc")
                || name.ends_with(".opt-2.pyc"))
        },
    )
}

fn make_dir(dir: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(dir).or_say(|| format!("cannot create {}", dir.display()))?;
    set_mode(dir, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .or_say(|| format!("cannot set the mode of {}", path.display()))
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, String> {
    fs::read_dir(dir)
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .or_say(|| format!("cannot list {}", dir.display()))
}

/// Copies a file, readable by everyone, with the source's modification time.
fn copy_file(from: &Path, to: &Path) -> Result<(), String> {
    let described = || format!("cannot copy {} to {}", from.display(), to.display());
    let meta = fs::metadata(from).or_say(described)?;
    fs::copy(from, to).or_say(described)?;
    set_mode(to, (meta.permissions().mode() & 0o777) | 0o644)?;
    let modified = meta.modified().or_say(described)?;
    File::options()
        .write(true)
        .open(to)
        .and_then(|f| f.set_modified(modified))
        .or_say(described)
}

/// Copies a file, a link or a folder tree, keeping links as links and leaving out every path
/// for which `keep` says no.
fn copy_tree(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<(), String> {
    let meta = fs::symlink_metadata(from).or_say(|| format!("cannot read {}", from.display()))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(from).or_say(|| format!("cannot read {}", from.display()))?;
        return symlink(&target, to).or_say(|| format!("cannot create {}", to.display()));
    }
    if meta.is_file() {
        return copy_file(from, to);
    }
    make_dir(to, 0o755)?;
    for entry in read_dir(from)? {
        let path = entry.path();
        if keep(&path) {
            copy_tree(&path, &to.join(entry.file_name()), keep)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The servers

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Lighttpd,
    Apache,
    Nginx,
    /// lighttpd with mod_fastcgi (`cgi/lighttpd-fastcgi.conf`).
    LighttpdFastcgi,
    /// Apache with mod_fcgid (`cgi/apache-fcgid.conf`).
    ApacheFcgid,
    /// nginx with `rwsgi fastcgi` (`cgi/nginx-fastcgi.conf`).
    NginxFastcgi,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Lighttpd => "lighttpd",
            Kind::Apache => "apache",
            Kind::Nginx => "nginx",
            Kind::LighttpdFastcgi => "lighttpd-fastcgi",
            Kind::ApacheFcgid => "apache-fcgid",
            Kind::NginxFastcgi => "nginx-fastcgi",
        }
    }

    /// The web server, whichever way it runs rwsgi: where the servers differ in what they pass
    /// and how they answer, FastCGI and CGI agree.
    fn server(self) -> Kind {
        match self {
            Kind::LighttpdFastcgi => Kind::Lighttpd,
            Kind::ApacheFcgid => Kind::Apache,
            Kind::NginxFastcgi => Kind::Nginx,
            cgi => cgi,
        }
    }

    fn fastcgi(self) -> bool {
        self.server() != self
    }
}

struct Server {
    kind: Kind,
    port: u16,
    /// The file the CGI programs' stderr ends up in (FastCGI: what they send as FCGI_STDERR).
    cgi_log: PathBuf,
    /// Where what the programs write to their stderr goes (the app's `print()`, as rwsgi
    /// points stdout there): the same file, but for lighttpd's FastCGI apps, which write to
    /// lighttpd's own stderr.
    stderr_log: PathBuf,
    /// What was started for it; the watchdog stops them when the run ends.
    _processes: Vec<Child>,
}

fn server(kind: Kind) -> &'static Server {
    static LIGHTTPD: OnceLock<Result<Server, String>> = OnceLock::new();
    static APACHE: OnceLock<Result<Server, String>> = OnceLock::new();
    static NGINX: OnceLock<Result<Server, String>> = OnceLock::new();
    static LIGHTTPD_FASTCGI: OnceLock<Result<Server, String>> = OnceLock::new();
    static APACHE_FCGID: OnceLock<Result<Server, String>> = OnceLock::new();
    static NGINX_FASTCGI: OnceLock<Result<Server, String>> = OnceLock::new();
    let cell = match kind {
        Kind::Lighttpd => &LIGHTTPD,
        Kind::Apache => &APACHE,
        Kind::Nginx => &NGINX,
        Kind::LighttpdFastcgi => &LIGHTTPD_FASTCGI,
        Kind::ApacheFcgid => &APACHE_FCGID,
        Kind::NginxFastcgi => &NGINX_FASTCGI,
    };
    match cell.get_or_init(|| start(kind)) {
        Ok(server) => server,
        Err(e) => panic!("{} did not start: {e}", kind.name()),
    }
}

/// Starts a server on a free port, trying another port when the one picked was taken in the
/// meantime.
fn start(kind: Kind) -> Result<Server, String> {
    let staging = staging();
    let mut failure = String::new();
    for attempt in 0..3 {
        match start_once(kind, staging, attempt) {
            Ok(server) => return Ok(server),
            Err(e) if e.contains("Address already in use") => failure = e,
            Err(e) => return Err(e),
        }
    }
    Err(failure)
}

fn start_once(kind: Kind, staging: &Staging, attempt: u32) -> Result<Server, String> {
    let port = free_port()?;
    let dir = staging.root.join(format!("{}-{attempt}", kind.name()));
    let log_dir = dir.join("log");
    let run_dir = dir.join("run");
    make_dir(&dir, 0o755)?;
    make_dir(&run_dir, 0o755)?;
    make_dir(&log_dir, 0o755)?;
    let template = match kind {
        Kind::ApacheFcgid => "apache-fcgid.conf".to_string(),
        other => format!("{}.conf", other.name()),
    };
    let mut config = fill(
        &repo().join("cgi").join(template),
        &[
            ("@PORT@", port.to_string()),
            ("@DOC_ROOT@", staging.doc_root.display().to_string()),
            ("@CGI_DIR@", staging.cgi_dir.display().to_string()),
            ("@BIN_DIR@", staging.bin_dir.display().to_string()),
            ("@LOG_DIR@", log_dir.display().to_string()),
            ("@RUN_DIR@", run_dir.display().to_string()),
        ],
    )?;
    let home = staging.python_home.display();
    let mut processes = Vec::new();
    let cgi_log = match kind {
        Kind::Lighttpd => {
            // lighttpd opens its logs and stores request bodies after switching users.
            let uploads = run_dir.join("uploads");
            make_dir(&uploads, 0o755)?;
            hand_to_workers(&log_dir)?;
            hand_to_workers(&uploads)?;
            config.push_str(&format!(
                "\nsetenv.add-environment += (\n    \"PYTHONHOME\" => \"{home}\",\n    \
                 \"LD_LIBRARY_PATH\" => \"{home}/lib\",\n)\n"
            ));
            let conf = write_config(&dir, "lighttpd.conf", &config)?;
            let program = find_program(&["lighttpd"])?;
            processes.push(spawn(&program, &["-D", "-f", &conf], &dir, "lighttpd.out")?);
            log_dir.join("cgi-stderr.log")
        }
        Kind::Apache => {
            config.push_str(&format!(
                "\nSetEnv PYTHONHOME {home}\nSetEnv LD_LIBRARY_PATH {home}/lib\n"
            ));
            let conf = write_config(&dir, "apache.conf", &config)?;
            let program = find_program(&["apache2", "httpd"])?;
            // In its own process group (as `spawn` does for every server): httpd signals its
            // whole group when it stops.
            processes.push(spawn(
                &program,
                &["-f", &conf, "-DFOREGROUND"],
                &dir,
                "apache.out",
            )?);
            log_dir.join("error.log")
        }
        Kind::Nginx => {
            let socket = run_dir.join("fcgiwrap.sock");
            let fcgiwrap = find_program(&["fcgiwrap"])?;
            let socket_url = format!("unix:{}", socket.display());
            let mut wrapper = spawn(
                &fcgiwrap,
                &["-f", "-c", "4", "-s", &socket_url],
                &dir,
                "fcgiwrap.out",
            )?;
            wait_until(
                "fcgiwrap",
                &mut wrapper,
                || socket.exists(),
                || dump_outputs(&dir),
            )?;
            // nginx's workers must be able to connect to it, and nobody else.
            hand_to_workers(&socket)?;
            set_mode(&socket, 0o660)?;
            processes.push(wrapper);
            let conf = write_config(&dir, "nginx.conf", &config)?;
            let program = find_program(&["nginx"])?;
            let error_log = log_dir.join("error.log").display().to_string();
            processes.push(spawn(
                &program,
                &["-c", &conf, "-e", &error_log, "-g", "daemon off;"],
                &dir,
                "nginx.out",
            )?);
            log_dir.join("error.log")
        }
        Kind::LighttpdFastcgi => {
            let uploads = run_dir.join("uploads");
            make_dir(&uploads, 0o755)?;
            hand_to_workers(&log_dir)?;
            hand_to_workers(&uploads)?;
            // lighttpd creates the apps' sockets after switching users.
            hand_to_workers(&run_dir)?;
            let config = lighttpd_fastcgi_apps(&config, staging)?;
            let conf = write_config(&dir, "lighttpd.conf", &config)?;
            let program = find_program(&["lighttpd"])?;
            processes.push(spawn(&program, &["-D", "-f", &conf], &dir, "lighttpd.out")?);
            log_dir.join("error.log")
        }
        Kind::ApacheFcgid => {
            let ipc = run_dir.join("fcgid");
            make_dir(&ipc, 0o755)?;
            hand_to_workers(&ipc)?;
            config.push_str(&format!(
                "\nFcgidInitialEnv PYTHONHOME {home}\nFcgidInitialEnv LD_LIBRARY_PATH {home}/lib\n"
            ));
            let conf = write_config(&dir, "apache.conf", &config)?;
            let program = find_program(&["apache2", "httpd"])?;
            processes.push(spawn(
                &program,
                &["-f", &conf, "-DFOREGROUND"],
                &dir,
                "apache.out",
            )?);
            log_dir.join("error.log")
        }
        Kind::NginxFastcgi => {
            // One `rwsgi fastcgi` per script, as cgi/nginx-fastcgi.conf says to start them,
            // their stderr in nginx's error log beside what they send as FCGI_STDERR.
            let sockets = run_dir.join("rwsgi");
            make_dir(&sockets, 0o755)?;
            let error_log = log_dir.join("error.log");
            for entry in read_dir(&staging.cgi_dir)? {
                let script = entry.path();
                let Some(name) = script
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".wsgi"))
                else {
                    continue;
                };
                let socket = sockets.join(format!("{name}.sock"));
                let bind = format!("unix:{}", socket.display());
                let mut app = spawn_logging(
                    &staging.bin_dir.join("rwsgi"),
                    &[
                        "fastcgi",
                        "--bind",
                        &bind,
                        "--workers",
                        "2",
                        &script.display().to_string(),
                    ],
                    &dir,
                    &error_log,
                )?;
                wait_until(
                    &format!("rwsgi fastcgi {name}.wsgi"),
                    &mut app,
                    || socket.exists(),
                    || dump_outputs(&dir),
                )?;
                hand_to_workers(&socket)?;
                set_mode(&socket, 0o660)?;
                processes.push(app);
            }
            let conf = write_config(&dir, "nginx.conf", &config)?;
            let program = find_program(&["nginx"])?;
            let error_log = error_log.display().to_string();
            processes.push(spawn(
                &program,
                &["-c", &conf, "-e", &error_log, "-g", "daemon off;"],
                &dir,
                "nginx.out",
            )?);
            log_dir.join("error.log")
        }
    };
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let main = processes.last_mut().expect("a server process");
    wait_until(
        kind.name(),
        main,
        || TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok(),
        || dump_outputs(&dir),
    )?;
    let stderr_log = match kind {
        Kind::LighttpdFastcgi => dir.join("lighttpd.out"),
        _ => cgi_log.clone(),
    };
    Ok(Server {
        kind,
        port,
        cgi_log,
        stderr_log,
        _processes: processes,
    })
}

/// cgi/lighttpd-fastcgi.conf with its one app block repeated for every script, each with the
/// readable Python copy in its environment.
fn lighttpd_fastcgi_apps(config: &str, staging: &Staging) -> Result<String, String> {
    let home = staging.python_home.display();
    let config = config
        .replace(
            "# \"PYTHONHOME\" => \"/opt/python3.11\",",
            &format!("\"PYTHONHOME\" => \"{home}\","),
        )
        .replace(
            "# \"LD_LIBRARY_PATH\" => \"/opt/python3.11/lib\",",
            &format!("\"LD_LIBRARY_PATH\" => \"{home}/lib\","),
        );
    let start = config
        .find("fastcgi.server += (")
        .ok_or("cgi/lighttpd-fastcgi.conf has no `fastcgi.server += (` block")?;
    let block = config[start..].to_string();
    let mut out = config.clone();
    for entry in read_dir(&staging.cgi_dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".wsgi") && name != "hello.wsgi" {
            out.push('\n');
            out.push_str(&block.replace("hello.wsgi", &name));
        }
    }
    Ok(out)
}

/// Gives a file to the user the servers' workers switch to (www-data) when the tests run as
/// root; otherwise the workers run as the tests' own user, who owns it already.
fn hand_to_workers(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = fs::metadata("/proc/self")
        .or_say(|| "cannot tell which user runs the tests".into())?
        .uid();
    if me != 0 {
        return Ok(());
    }
    let passwd = fs::read_to_string("/etc/passwd").or_say(|| "cannot read /etc/passwd".into())?;
    let (uid, gid) = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"www-data"))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or("no user www-data in /etc/passwd: the servers' configurations switch to it")?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .or_say(|| format!("cannot give {} to www-data", path.display()))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .or_say(|| "cannot find a free port".into())
}

/// The template with every placeholder replaced; none may be left.
fn fill(template: &Path, values: &[(&str, String)]) -> Result<String, String> {
    let mut text =
        fs::read_to_string(template).or_say(|| format!("cannot read {}", template.display()))?;
    for (placeholder, value) in values {
        text = text.replace(placeholder, value);
    }
    if let Some(line) = text
        .lines()
        .find(|l| !l.trim_start().starts_with('#') && l.contains('@'))
    {
        return Err(format!(
            "{} has a placeholder the tests do not fill: {line:?}",
            template.display()
        ));
    }
    Ok(text)
}

fn write_config(dir: &Path, name: &str, text: &str) -> Result<String, String> {
    let path = dir.join(name);
    fs::write(&path, text).or_say(|| format!("cannot write {}", path.display()))?;
    Ok(path.display().to_string())
}

fn find_program(names: &[&str]) -> Result<PathBuf, String> {
    let path = format!(
        "{}:{SERVER_PATH}",
        std::env::var("PATH").unwrap_or_default()
    );
    for name in names {
        for dir in path.split(':').filter(|d| !d.is_empty()) {
            let candidate = Path::new(dir).join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "{} is not installed. scripts/test installs the servers these tests need \
         (apt-get install lighttpd apache2 nginx fcgiwrap curl); run it, or install them.",
        names.join(" or ")
    ))
}

/// Starts a server in the foreground, in its own process group, with a clean environment and
/// its output in `dir/out_name`, and hands it to the watchdog.
fn spawn(program: &Path, args: &[&str], dir: &Path, out_name: &str) -> Result<Child, String> {
    let out_path = dir.join(out_name);
    let out = File::create(&out_path).or_say(|| format!("cannot create {}", out_path.display()))?;
    spawn_into(program, args, dir, out, &out_path)
}

/// Starts a program as [`spawn`] does, its output appended to `log` (a server's error log).
fn spawn_logging(program: &Path, args: &[&str], dir: &Path, log: &Path) -> Result<Child, String> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .or_say(|| format!("cannot open {}", log.display()))?;
    spawn_into(program, args, dir, out, log)
}

/// The start both share: a clean environment, stdout and stderr into `out` (opened from
/// `out_path`), its own process group under the watchdog.
fn spawn_into(
    program: &Path,
    args: &[&str],
    dir: &Path,
    out: File,
    out_path: &Path,
) -> Result<Child, String> {
    let err = out
        .try_clone()
        .or_say(|| format!("cannot reopen {}", out_path.display()))?;
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", SERVER_PATH)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .or_say(|| format!("cannot start {}", program.display()))?;
    guard_process_group(&child)?;
    Ok(child)
}

/// Polls `ready` until it holds; fails, with `explain()`, when the process exits first or
/// START_TIMEOUT passes.
fn wait_until(
    what: &str,
    process: &mut Child,
    mut ready: impl FnMut() -> bool,
    explain: impl Fn() -> String,
) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = process.try_wait() {
            return Err(format!(
                "{what} exited ({status}) while starting\n{}",
                explain()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what} was not ready after {START_TIMEOUT:?}\n{}",
                explain()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every output and log file of a server, for failure messages.
fn dump_outputs(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    for folder in [dir.to_path_buf(), dir.join("log")] {
        if let Ok(entries) = fs::read_dir(&folder) {
            files.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "conf")),
            );
        }
    }
    files.sort();
    files
        .iter()
        .map(|path| {
            format!(
                "--- {}:\n{}",
                path.display(),
                String::from_utf8_lossy(&fs::read(path).unwrap_or_default())
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Server {
    fn get(&self, target: &str) -> Response {
        self.request("GET", target, &[], Body::Empty)
    }

    fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Response {
        let mut stream = self.send(method, target, headers, body);
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap_or_else(|e| {
            panic!(
                "{}: reading the answer to {method} {target}: {e}; got so far: {:?}",
                self.kind.name(),
                String::from_utf8_lossy(&raw)
            )
        });
        let mut response = Response::parse(&raw, method == "HEAD").unwrap_or_else(|why| {
            panic!(
                "{}: the answer to {method} {target} is not HTTP: {why}\n{:?}",
                self.kind.name(),
                String::from_utf8_lossy(&raw)
            )
        });
        response.log = Some(self.cgi_log.clone());
        response
    }

    /// Sends a request (`Connection: close`) and returns the connection, to read the answer.
    fn send(&self, method: &str, target: &str, headers: &[(&str, &str)], body: Body) -> TcpStream {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("{}: cannot connect: {e}", self.kind.name()));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        // `localhost`, which the Django project's ALLOWED_HOSTS accepts.
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n",
            self.port
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut data = Vec::new();
        match body {
            Body::Empty => {}
            Body::Bytes(bytes) => {
                head.push_str(&format!("Content-Length: {}\r\n", bytes.len()));
                data.extend_from_slice(bytes);
            }
            Body::Chunked(chunks) => {
                head.push_str("Transfer-Encoding: chunked\r\n");
                for chunk in chunks {
                    data.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    data.extend_from_slice(chunk);
                    data.extend_from_slice(b"\r\n");
                }
                data.extend_from_slice(b"0\r\n\r\n");
            }
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(&data))
            .and_then(|()| stream.flush())
            .unwrap_or_else(|e| panic!("{}: cannot send {method} {target}: {e}", self.kind.name()));
        stream
    }

    /// Waits until the CGI log holds every one of `needles`; the app's stderr may reach it a
    /// moment after the response.
    fn assert_logged(&self, needles: &[&str]) {
        self.assert_in(&self.cgi_log, needles);
    }

    /// Waits until `file` holds every one of `needles`.
    fn assert_in(&self, file: &Path, needles: &[&str]) {
        let deadline = Instant::now() + LOG_TIMEOUT;
        loop {
            let log = String::from_utf8_lossy(&fs::read(file).unwrap_or_default()).into_owned();
            if needles.iter().all(|n| log.contains(n)) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: {} lacks {:?}\n--- it holds:\n{log}",
                    self.kind.name(),
                    file.display(),
                    needles
                        .iter()
                        .filter(|n| !log.contains(*n))
                        .collect::<Vec<_>>()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The cases, each run against every server (the modules at the end)

const ECHO: &str = "/cgi-bin/echo.wsgi";

fn get_with_path_info_and_query(kind: Kind) {
    let server = server(kind);
    let response = server.get("/cgi-bin/echo.wsgi/a/b?x=1&x=2");
    response.assert_status(200, "OK");
    assert_eq!(response.one("Content-Type"), "application/json");
    assert_eq!(response.one("X-Echo-Method"), "GET");
    let environ = response.json();
    let port = server.port.to_string();
    for (key, expected) in [
        ("REQUEST_METHOD", "GET".into()),
        ("SCRIPT_NAME", ECHO.to_string()),
        ("PATH_INFO", "/a/b".into()),
        ("QUERY_STRING", "x=1&x=2".into()),
        ("SERVER_NAME", "localhost".into()),
        ("SERVER_PORT", port.clone()),
        ("SERVER_PROTOCOL", "HTTP/1.1".into()),
        ("HTTP_HOST", format!("localhost:{port}")),
        ("REMOTE_ADDR", "127.0.0.1".into()),
        ("GATEWAY_INTERFACE", "CGI/1.1".into()),
        ("REQUEST_URI", "/cgi-bin/echo.wsgi/a/b?x=1&x=2".into()),
        ("wsgi.url_scheme", "http".into()),
        ("body", String::new()),
    ] {
        assert_eq!(environ[key], json!(expected), "{key} in {environ:#}");
    }
    assert_eq!(environ["wsgi.version"], json!([1, 0]));
    // A FastCGI process serves on after the request.
    assert_eq!(environ["wsgi.run_once"], json!(!kind.fastcgi()));
    assert_eq!(environ["wsgi.multiprocess"], json!(true));
    assert_eq!(environ["wsgi.multithread"], json!(false));
    for key in [
        "HTTP_CONTENT_TYPE",
        "HTTP_CONTENT_LENGTH",
        "CONTENT_LENGTH",
        "HTTP_TRANSFER_ENCODING",
    ] {
        assert!(environ.get(key).is_none(), "{key} in {environ:#}");
    }
}

fn non_ascii_path(kind: Kind) {
    let response = server(kind).get("/cgi-bin/echo.wsgi/caf%C3%A9");
    response.assert_status(200, "OK");
    let environ = response.json();
    // PEP 3333: the path's bytes as latin-1 text, one character per byte.
    assert_eq!(
        environ["PATH_INFO"],
        json!("/caf\u{c3}\u{a9}"),
        "{environ:#}"
    );
    assert_eq!(environ["SCRIPT_NAME"], json!(ECHO));
    assert_eq!(
        environ["REQUEST_URI"],
        json!("/cgi-bin/echo.wsgi/caf%C3%A9")
    );
}

/// 3 MiB in which every byte value occurs, computed rather than random so that a failure
/// repeats.
fn big_body() -> Vec<u8> {
    (0..3 << 20u32)
        .map(|i: u32| ((i.wrapping_mul(2_654_435_761) >> 13) ^ (i >> 16)) as u8)
        .collect()
}

fn large_post(kind: Kind) {
    let body = big_body();
    let response = server(kind).request(
        "POST",
        "/cgi-bin/bodyhash.wsgi",
        &[("Content-Type", "application/octet-stream")],
        Body::Bytes(&body),
    );
    response.assert_status(200, "OK");
    assert_eq!(
        response.json(),
        json!({
            "length": body.len(),
            "sha256": sha256_hex(&body),
            "CONTENT_LENGTH": body.len().to_string(),
            "HTTP_TRANSFER_ENCODING": null,
        })
    );
}

fn chunked_post(kind: Kind) {
    // Chunks of several sizes, one larger than the servers' read buffers.
    let whole = big_body();
    let chunks: Vec<&[u8]> = vec![
        &whole[..1],
        &whole[1..1000],
        &whole[1000..300_000],
        &whole[300_000..300_017],
    ];
    let sent: Vec<u8> = chunks.concat();
    let response = server(kind).request(
        "POST",
        "/cgi-bin/bodyhash.wsgi",
        &[("Content-Type", "application/octet-stream")],
        Body::Chunked(&chunks),
    );
    response.assert_status(200, "OK");
    // lighttpd and nginx read the whole body first; lighttpd then passes a CONTENT_LENGTH,
    // while Apache and nginx+fcgiwrap pass HTTP_TRANSFER_ENCODING=chunked and no length, and
    // rwsgi reads stdin to its end. Either way the app sees a plain body with its length.
    assert_eq!(
        response.json(),
        json!({
            "length": sent.len(),
            "sha256": sha256_hex(&sent),
            "CONTENT_LENGTH": sent.len().to_string(),
            "HTTP_TRANSFER_ENCODING": null,
        })
    );
}

fn authorization_reaches_the_app(kind: Kind) {
    // Apache only passes it because of `CGIPassAuth On` in cgi/apache.conf.
    let response = server(kind).request("GET", ECHO, &[("Authorization", "Bearer x")], Body::Empty);
    response.assert_status(200, "OK");
    assert_eq!(response.json()["HTTP_AUTHORIZATION"], json!("Bearer x"));
}

fn httpoxy(kind: Kind) {
    let response = server(kind).request(
        "GET",
        "/cgi-bin/proxy.wsgi",
        &[("Proxy", "http://evil")],
        Body::Empty,
    );
    response.assert_status(200, "OK");
    // lighttpd and Apache leave the Proxy header out of the CGI environment themselves.
    // nginx passes it as HTTP_PROXY like any header; rwsgi removes it from the process
    // environment, and the WSGI environ keeps it as the request header it is.
    let header = match kind.server() {
        Kind::Lighttpd | Kind::Apache => Value::Null,
        _ => json!("http://evil"),
    };
    assert_eq!(
        response.json(),
        json!({"os.environ": null, "environ": header})
    );
}

fn binary_response(kind: Kind) {
    let response = server(kind).get("/cgi-bin/binary.wsgi");
    response.assert_status(200, "OK");
    assert_eq!(response.one("Content-Type"), "application/octet-stream");
    assert_eq!(response.body, (0..=255u8).collect::<Vec<u8>>());
    match kind.server() {
        Kind::Lighttpd | Kind::Nginx => {
            assert_eq!(response.one("Content-Length"), "256");
            assert_eq!(response.framing, Framing::Length);
        }
        // Apache does not pass on a CGI program's Content-Length (a shell script's neither): it
        // sets its own when the whole body has arrived before it sends the headers, and
        // otherwise sends the body chunked. Which one happens depends on timing.
        _ => match response.framing {
            Framing::Length => assert_eq!(response.one("Content-Length"), "256"),
            Framing::Chunked => assert!(response.all("Content-Length").is_empty()),
            Framing::Close => panic!("no framing from Apache: {response:?}"),
        },
    }
}

/// stream.wsgi's first chunk is `first chunk\n` repeated `repeat` times; it then waits for the
/// marker file. `before` is how many body bytes must arrive before the test creates the marker:
/// when the server streams, they can only come while the app is still running.
fn streamed(kind: Kind, name: &str, repeat: usize, before: Option<usize>) {
    let server = server(kind);
    let marker = staging().markers.join(format!("{}-{name}", kind.name()));
    let target = format!(
        "/cgi-bin/stream.wsgi?marker={}&repeat={repeat}",
        marker.display()
    );
    let mut stream = server.send("GET", &target, &[], Body::Empty);
    let mut raw = Vec::new();
    let mut marked = false;
    let mark = |marked: &mut bool| {
        fs::write(&marker, b"").expect("create the marker");
        *marked = true;
    };
    if before.is_none() {
        mark(&mut marked);
    }
    let mut buffer = [0u8; 16 << 10];
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(n) => n,
            Err(e) => panic!(
                "{}: reading {target}: {e} (marker created: {marked}); got so far: {:?}",
                kind.name(),
                String::from_utf8_lossy(&raw)
            ),
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..n]);
        if let (false, Some(before)) = (marked, before)
            && Response::body_so_far(&raw).is_some_and(|b| b.len() >= before)
        {
            mark(&mut marked);
        }
    }
    let response = Response::parse(&raw, false)
        .unwrap_or_else(|why| panic!("{}: not HTTP ({why}): {:?}", kind.name(), raw.len()));
    response.assert_status(200, "OK");
    let mut expected = b"first chunk\n".repeat(repeat);
    expected.extend_from_slice(b"marker seen\n");
    assert!(
        response.body == expected,
        "{}: the body of {target} is not the first chunk and `marker seen` (when it says it gave \
         up waiting, the first {} bytes did not arrive while the app ran): {:?}",
        kind.name(),
        before.unwrap_or(0),
        String::from_utf8_lossy(&response.body[response.body.len().saturating_sub(200)..])
    );
    assert_eq!(response.framing, Framing::Chunked);
}

fn streams_small_chunks(kind: Kind) {
    match kind {
        Kind::Lighttpd
        | Kind::Apache
        | Kind::LighttpdFastcgi
        | Kind::ApacheFcgid
        | Kind::NginxFastcgi => streamed(kind, "small", 1, Some(12)),
        // fcgiwrap holds a program's output until 8 KiB have gathered (or the end), whatever
        // nginx's fastcgi_buffering says: a 12-byte chunk comes only with the rest. The marker
        // is created at once, and the whole body must still arrive.
        Kind::Nginx => streamed(kind, "small", 1, None),
    }
}

fn streams_large_chunks(kind: Kind) {
    // 64 KiB in the first chunk.
    let repeat = 5462;
    let before = match kind {
        // fcgiwrap passes it on in 8 KiB blocks and keeps the remainder of the last one.
        Kind::Nginx => 8 << 10,
        _ => repeat * 12,
    };
    streamed(kind, "large", repeat, Some(before));
}

const INTERNAL_ERROR_BODY: &[u8] = b"500 Internal Server Error\n";

fn app_that_raises(kind: Kind) {
    let server = server(kind);
    let response = server.get("/cgi-bin/raising.wsgi?at=call");
    response.assert_status(500, "Internal Server Error");
    assert_eq!(response.one("Content-Type"), "text/plain; charset=utf-8");
    assert_eq!(response.body, INTERNAL_ERROR_BODY);
    server.assert_logged(&[
        "rwsgi: error: the application failed before sending a response",
        "Traceback (most recent call last):",
        "raise RuntimeError(\"raised at call\")",
        "RuntimeError: raised at call",
    ]);
}

fn header_injection(kind: Kind) {
    let server = server(kind);
    let response = server.get("/cgi-bin/protocol.wsgi?bad=header_crlf");
    response.assert_status(500, "Internal Server Error");
    assert_eq!(response.body, INTERNAL_ERROR_BODY);
    for name in ["X-Note", "Set-Cookie"] {
        assert!(response.all(name).is_empty(), "{name} in {response:?}");
    }
    server.assert_logged(&["invalid value for header \"X-Note\": it contains a carriage return"]);
}

fn print_goes_to_the_error_log(kind: Kind) {
    // lighttpd sends the program SIGTERM as soon as it has the whole response: the printed text
    // must have been written by then.
    let server = server(kind);
    let response = server.get("/cgi-bin/printing.wsgi");
    response.assert_status(200, "OK");
    assert_eq!(response.body, b"the body, and nothing printed\n");
    // nginx may log the two lines as one entry with fcgiwrap's CRLF between them.
    server.assert_in(
        &server.stderr_log,
        &[
            "printed by printing.wsgi",
            "written to sys.stdout by printing.wsgi",
        ],
    );
}

fn hello_example(kind: Kind) {
    let response = server(kind).get("/cgi-bin/hello.wsgi/caf%C3%A9?name=%3Cb%3E");
    response.assert_status(200, "OK");
    assert_eq!(response.one("Content-Type"), "text/html; charset=utf-8");
    let expected = format!(
        "<!doctype html>\n<title>Hello from rwsgi</title>\n<h1>Hello, &lt;b&gt;!</h1>\n\
         <p>Script: <code>/cgi-bin/hello.wsgi</code>, path: <code>/caf\u{e9}</code>, \
         Python {}.</p>\n",
        staging().python_version
    );
    assert_eq!(response.text(), expected);
}

fn neighbours_are_not_served(kind: Kind) {
    let server = server(kind);
    for target in ["/cgi-bin/echo.py", "/cgi-bin/files/report.txt"] {
        let response = server.get(target);
        match kind.server() {
            Kind::Lighttpd | Kind::Apache => response.assert_status(403, "Forbidden"),
            _ => response.assert_status(404, "Not Found"),
        }
        for source in ["def application", "quick brown fox"] {
            assert!(
                !String::from_utf8_lossy(&response.body).contains(source),
                "{target}: {response:?}"
            );
        }
    }
}

/// The framework tests need the test virtualenv, copied beside the scripts.
fn framework_server(kind: Kind) -> &'static Server {
    let venv = crate::util::test_venv();
    assert!(
        staging().root.join("cgi-bin/.venv/pyvenv.cfg").is_file(),
        "the copy of {} was not made",
        venv.display()
    );
    server(kind)
}

fn flask_cookies(kind: Kind) {
    let response = framework_server(kind).request(
        "GET",
        "/cgi-bin/flask.wsgi/cookies",
        &[("Cookie", "a=1; b=2")],
        Body::Empty,
    );
    response.assert_status(200, "OK");
    assert_eq!(
        response.all("Set-Cookie"),
        ["session=abc123; HttpOnly; Path=/", "theme=dark; Path=/"]
    );
    assert_eq!(response.json(), json!({"cookies": {"a": "1", "b": "2"}}));
}

fn flask_redirect_and_urls(kind: Kind) {
    let server = framework_server(kind);
    let response = server.get("/cgi-bin/flask.wsgi/go");
    // lighttpd writes its own reason phrase; the others pass on Werkzeug's.
    match kind.server() {
        Kind::Lighttpd => response.assert_status(302, "Found"),
        _ => response.assert_status(302, "FOUND"),
    }
    let location = response.one("Location");
    assert_eq!(location, "/cgi-bin/flask.wsgi/hello/cgi");
    let followed = server.get(location);
    followed.assert_status(200, "OK");
    assert_eq!(followed.json(), json!({"hello": "cgi"}));

    let urls = server.get("/cgi-bin/flask.wsgi/urls");
    urls.assert_status(200, "OK");
    assert_eq!(
        urls.json(),
        json!({
            "relative": "/cgi-bin/flask.wsgi/hello/x",
            "external": format!("http://localhost:{}/cgi-bin/flask.wsgi/hello/x", server.port),
            "script_root": "/cgi-bin/flask.wsgi",
            "path": "/urls",
        })
    );
}

const BOUNDARY: &str = "rwsgi-boundary-7d1f";

/// A multipart/form-data body with a field `note` and a file `file` (notes.txt, text/plain).
fn multipart(file: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn upload_text() -> String {
    let mut text: String = (0..5000).map(|i| format!("line {i:04}\n")).collect();
    text.push_str("caf\u{e9}\n");
    text
}

fn flask_upload(kind: Kind) {
    let text = upload_text();
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let response = framework_server(kind).request(
        "POST",
        "/cgi-bin/flask.wsgi/upload",
        &[("Content-Type", &content_type)],
        Body::Bytes(&multipart(text.as_bytes())),
    );
    response.assert_status(200, "OK");
    assert_eq!(
        response.json(),
        json!({
            "filename": "notes.txt",
            "size": text.len(),
            "content_type": "text/plain",
            "text": text,
            "fields": {"note": "hello"},
        })
    );
}

fn django_views(kind: Kind) {
    let server = framework_server(kind);
    let response = server.get("/cgi-bin/django.wsgi/where/");
    response.assert_status(200, "OK");
    assert_eq!(response.one("Content-Type"), "application/json");
    assert_eq!(
        response.json(),
        json!({
            "script_name": "/cgi-bin/django.wsgi",
            "path": "/cgi-bin/django.wsgi/where/",
            "path_info": "/where/",
            "absolute": format!("http://localhost:{}/cgi-bin/django.wsgi/where/", server.port),
            "reverse": "/cgi-bin/django.wsgi/plain/",
            "secure": false,
        })
    );
    let cafe = server.get("/cgi-bin/django.wsgi/caf%C3%A9/");
    cafe.assert_status(200, "OK");
    assert_eq!(
        cafe.json(),
        json!({"path": "/cgi-bin/django.wsgi/caf\u{e9}/"})
    );
}

fn django_upload(kind: Kind) {
    let text = upload_text();
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let response = framework_server(kind).request(
        "POST",
        "/cgi-bin/django.wsgi/upload/",
        &[("Content-Type", &content_type)],
        Body::Bytes(&multipart(text.as_bytes())),
    );
    response.assert_status(200, "OK");
    assert_eq!(
        response.json(),
        json!({
            "name": "notes.txt",
            "size": text.len(),
            "content_type": "text/plain",
            "fields": {"note": "hello"},
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Static files beside the apps, and what the servers make of rwsgi's responses

/// The files of the document root, with the media type a browser needs for each (a style
/// sheet or script served as application/octet-stream is refused, under `nosniff` too).
const STATIC_FILES: &[(&str, &[u8], &str)] = &[
    (
        "index.html",
        b"<!doctype html>\n<title>static index</title>\n",
        "text/html",
    ),
    ("style.css", b"body { color: #333 }\n", "text/css"),
    ("app.js", b"console.log('static');\n", "text/javascript"),
    ("data.json", b"{\"static\": true}\n", "application/json"),
    (
        "logo.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
        "image/svg+xml",
    ),
    ("logo.png", b"\x89PNG\r\n\x1a\n", "image/png"),
    ("font.woff2", b"wOF2", "font/woff2"),
];

fn static_files_with_their_types_and_an_index(kind: Kind) {
    let server = server(kind);
    let index = server.get("/");
    index.assert_status(200, "OK");
    assert_eq!(index.body, STATIC_FILES[0].1, "{index:?}");
    for (name, contents, media_type) in STATIC_FILES {
        let response = server.get(&format!("/{name}"));
        response.assert_status(200, "OK");
        assert_eq!(&response.body, contents, "{name}: {response:?}");
        let got = response.one("Content-Type");
        let got = got.split(';').next().unwrap_or_default().trim();
        // nginx 1.22's table still has the older name for scripts (RFC 9239 section 6).
        let also = (*media_type == "text/javascript").then_some("application/javascript");
        assert!(
            got == *media_type || Some(got) == also,
            "{name}: {got}, not {media_type}: {response:?}"
        );
    }
}

fn head_and_no_content_responses(kind: Kind) {
    let server = server(kind);
    // RFC 3875 section 4.3.2: no body for HEAD; the headers are those of the GET, without a
    // Content-Length rwsgi would have had to make up.
    // (lighttpd sends its own reason phrases, the others the app's: the codes are compared.)
    for shape in ["list", "gen"] {
        let target = format!("/cgi-bin/bodiless.wsgi?as={shape}");
        let head = server.request("HEAD", &target, &[], Body::Empty);
        assert_eq!(head.status, 200, "{head:?}");
        assert_eq!(head.one("Content-Type"), "text/plain", "{head:?}");
    }
    // The body was iterated and closed all the same.
    server.assert_logged(&["closed after 2 chunks"]);
    // 204 and 304: no content, no Content-Length (RFC 9110 sections 6.4.1 and 8.6).
    for code in [204, 304] {
        let response = server.get(&format!("/cgi-bin/bodiless.wsgi?code={code}"));
        assert_eq!(response.status, code, "{response:?}");
        assert!(response.all("Content-Length").is_empty(), "{response:?}");
    }
}

fn encoded_slash_in_the_path(kind: Kind) {
    let response = server(kind).get("/cgi-bin/echo.wsgi/a%2Fb/c");
    response.assert_status(200, "OK");
    let environ = response.json();
    // All three decode it into PATH_INFO; Apache only with `AllowEncodedSlashes On`
    // (cgi/apache.conf), else it answers 404 without running the program.
    assert_eq!(environ["PATH_INFO"], json!("/a/b/c"), "{environ:#}");
    assert_eq!(
        environ["REQUEST_URI"],
        json!("/cgi-bin/echo.wsgi/a%2Fb/c"),
        "{environ:#}"
    );
}

fn repeated_response_headers(kind: Kind) {
    let response = server(kind).get(
        "/cgi-bin/bodiless.wsgi?h=X-Twice:same&h=X-Twice:same&h=X-Pair:one&h=X-Pair:two\
         &h=Set-Cookie:a=1&h=Set-Cookie:b=2",
    );
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.all("Set-Cookie"), ["a=1", "b=2"], "{response:?}");
    match kind.server() {
        // Apache reads a CGI program's headers into one table entry per name, joining repeats
        // with ", " (RFC 9110 section 5.3 allows it for every field but Set-Cookie).
        Kind::Apache => {
            assert_eq!(response.all("X-Twice"), ["same, same"], "{response:?}");
            assert_eq!(response.all("X-Pair"), ["one, two"], "{response:?}");
        }
        _ => {
            assert_eq!(response.all("X-Twice"), ["same", "same"], "{response:?}");
            assert_eq!(response.all("X-Pair"), ["one", "two"], "{response:?}");
        }
    }
}

/// A client that goes away while a FastCGI app streams its answer: the web server drops the
/// connection to rwsgi, rwsgi's next write fails, the app's close() runs (it writes a file), and
/// the process serves the next request.
fn client_goes_away_mid_response(kind: Kind) {
    let server = server(kind);
    let marker = staging().written.join(format!("{}-closed", kind.name()));
    let target = format!("/cgi-bin/fcgi.wsgi/stream?marker={}", marker.display());
    let mut stream = server.send("GET", &target, &[], Body::Empty);
    let mut first = [0u8; 256];
    let n = stream.read(&mut first).expect("the start of the answer");
    assert!(
        String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&first[..n])
    );
    drop(stream);
    // The app streams for at most 10 seconds: close() runs by then whatever the server does.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "{}: close() did not run",
            kind.name()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let response = server.get("/cgi-bin/fcgi.wsgi/hello");
    response.assert_status(200, "OK");
    assert_eq!(response.text(), "Hello, FastCGI!\n");
}

macro_rules! for_each_fastcgi_server {
    ($($case:ident),* $(,)?) => {
        mod lighttpd_fastcgi_only {
            $(#[test] fn $case() { super::$case(super::Kind::LighttpdFastcgi) })*
        }
        mod apache_fcgid_only {
            $(#[test] fn $case() { super::$case(super::Kind::ApacheFcgid) })*
        }
        mod nginx_fastcgi_only {
            $(#[test] fn $case() { super::$case(super::Kind::NginxFastcgi) })*
        }
    };
}

for_each_fastcgi_server!(client_goes_away_mid_response);

macro_rules! for_each_server {
    ($($case:ident),* $(,)?) => {
        mod lighttpd {
            $(#[test] fn $case() { super::$case(super::Kind::Lighttpd) })*
        }
        mod apache {
            $(#[test] fn $case() { super::$case(super::Kind::Apache) })*
        }
        mod nginx {
            $(#[test] fn $case() { super::$case(super::Kind::Nginx) })*
        }
        mod lighttpd_fastcgi {
            $(#[test] fn $case() { super::$case(super::Kind::LighttpdFastcgi) })*
        }
        mod apache_fcgid {
            $(#[test] fn $case() { super::$case(super::Kind::ApacheFcgid) })*
        }
        mod nginx_fastcgi {
            $(#[test] fn $case() { super::$case(super::Kind::NginxFastcgi) })*
        }
    };
}

for_each_server!(
    get_with_path_info_and_query,
    non_ascii_path,
    large_post,
    chunked_post,
    authorization_reaches_the_app,
    httpoxy,
    binary_response,
    streams_small_chunks,
    streams_large_chunks,
    app_that_raises,
    header_injection,
    print_goes_to_the_error_log,
    hello_example,
    neighbours_are_not_served,
    flask_cookies,
    flask_redirect_and_urls,
    flask_upload,
    django_views,
    django_upload,
    static_files_with_their_types_and_an_index,
    head_and_no_content_responses,
    encoded_slash_in_the_path,
    repeated_response_headers,
);

// ---------------------------------------------------------------------------------------------
// A small HTTP/1.1 client: one request per connection

enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Chunked(&'a [&'a [u8]]),
}

/// How the server delimited the response body.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length,
    Chunked,
    Close,
}

struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    framing: Framing,
    /// The server's log of CGI errors, shown when an assertion about the response fails.
    log: Option<PathBuf>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "HTTP/1.1 {} {}", self.status, self.reason)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        writeln!(f, "({:?} framing)\n", self.framing)?;
        let shown = &self.body[..self.body.len().min(2000)];
        writeln!(f, "{}", String::from_utf8_lossy(shown))?;
        if let Some(log) = &self.log {
            let text = String::from_utf8_lossy(&fs::read(log).unwrap_or_default()).into_owned();
            let mut start = text.len().saturating_sub(3000);
            while !text.is_char_boundary(start) {
                start += 1;
            }
            write!(f, "--- the end of {}:\n{}", log.display(), &text[start..])?;
        }
        Ok(())
    }
}

impl Response {
    /// `head_request`: the answer to a HEAD, which has no body whatever its headers say.
    fn parse(raw: &[u8], head_request: bool) -> Result<Response, String> {
        let (status, reason, headers, rest) = parse_head(raw)?;
        // RFC 9110 section 6.4.1: no content after a HEAD, 1xx, 204 or 304 head; what follows
        // would be the next response on a kept-alive connection, so it must be nothing here.
        if head_request || status / 100 == 1 || status == 204 || status == 304 {
            if !rest.is_empty() {
                return Err(format!(
                    "{} bytes after the head of a response without content",
                    rest.len()
                ));
            }
            return Ok(Response {
                status,
                reason,
                headers,
                body: Vec::new(),
                framing: Framing::Length,
                log: None,
            });
        }
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("Transfer-Encoding") && v.eq_ignore_ascii_case("chunked")
        });
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .map(|(_, v)| {
                v.parse::<usize>()
                    .map_err(|e| format!("Content-Length {v:?}: {e}"))
            })
            .transpose()?;
        let (body, framing) = if chunked {
            match dechunk(rest)? {
                (body, true) => (body, Framing::Chunked),
                (_, false) => return Err("the chunked body ends early".into()),
            }
        } else if let Some(length) = length {
            if rest.len() != length {
                return Err(format!(
                    "Content-Length {length}, but {} bytes followed",
                    rest.len()
                ));
            }
            (rest.to_vec(), Framing::Length)
        } else {
            (rest.to_vec(), Framing::Close)
        };
        Ok(Response {
            status,
            reason,
            headers,
            body,
            framing,
            log: None,
        })
    }

    /// The body bytes received so far, once the head is complete.
    fn body_so_far(raw: &[u8]) -> Option<Vec<u8>> {
        let (_, _, headers, rest) = parse_head(raw).ok()?;
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("Transfer-Encoding") && v.eq_ignore_ascii_case("chunked")
        });
        if chunked {
            dechunk(rest).ok().map(|(body, _)| body)
        } else {
            Some(rest.to_vec())
        }
    }

    fn assert_status(&self, status: u16, reason: &str) {
        assert_eq!(
            (self.status, self.reason.as_str()),
            (status, reason),
            "the response:\n{self:?}"
        );
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn one(&self, name: &str) -> &str {
        match self.all(name).as_slice() {
            [value] => value,
            other => panic!("expected one {name} header, found {other:?} in {self:?}"),
        }
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_else(|e| panic!("body not UTF-8 ({e}): {self:?}"))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body not JSON ({e}): {:?} in {self:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

type Head<'a> = (u16, String, Vec<(String, String)>, &'a [u8]);

/// The status, the headers and what follows them.
fn parse_head(raw: &[u8]) -> Result<Head<'_>, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of the headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("head not UTF-8: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some("HTTP/1.1"), Some(code), reason) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("status line {status_line:?}"));
    };
    let status = code
        .parse()
        .map_err(|_| format!("status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line {line:?}"))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok((
        status,
        reason.unwrap_or_default().to_string(),
        headers,
        &raw[end + 4..],
    ))
}

/// Decodes a chunked body (RFC 9112 section 7.1) as far as it has arrived; says whether it
/// was complete.
fn dechunk(mut data: &[u8]) -> Result<(Vec<u8>, bool), String> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok((body, false));
        };
        let line = std::str::from_utf8(&data[..line_end]).map_err(|e| e.to_string())?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("chunk size line {line:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            // No trailers are expected: the last chunk is followed by an empty line.
            return Ok((body, data.starts_with(b"\r\n")));
        }
        if data.len() < size + 2 {
            body.extend_from_slice(&data[..size.min(data.len())]);
            return Ok((body, false));
        }
        body.extend_from_slice(&data[..size]);
        if &data[size..size + 2] != b"\r\n" {
            return Err("a chunk is not followed by CRLF".into());
        }
        data = &data[size + 2..];
    }
}
