//! Starting the one embedded interpreter of the process, and setting `sys.path` the way the
//! app expects: the app's folders first, then the standard library, then site-packages (the
//! virtualenv's, when one is given, with its `.pth` files), as `python app.py` inside that
//! virtualenv would have it.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::error::{Error, Result};

/// How to start the interpreter.
#[derive(Debug, Clone, Default)]
pub(crate) struct StartOptions {
    /// `sys.argv`.
    pub argv: Vec<String>,
    /// Folders put first on `sys.path`, in this order.
    pub path: Vec<PathBuf>,
    /// A virtualenv whose site-packages the app imports from.
    pub venv: Option<PathBuf>,
    /// Let Python turn SIGINT into `KeyboardInterrupt` (interactive use only: a server or the
    /// Lambda runtime owns its signals).
    pub signal_handlers: bool,
    /// Line-buffered `sys.stdout`/`sys.stderr`, so that each line the app prints reaches the log
    /// when it is printed, in one piece, rather than when the process exits.
    pub line_buffered: bool,
}

/// Whether Ctrl-C reaches Python as `KeyboardInterrupt` (the CLI). Elsewhere no signal handler
/// is installed, so a `KeyboardInterrupt` can only be the app's own exception, and is treated
/// like any other.
static INTERRUPTIBLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a `KeyboardInterrupt` means the user pressed Ctrl-C.
pub(crate) fn interruptible() -> bool {
    INTERRUPTIBLE.load(std::sync::atomic::Ordering::Relaxed)
}

/// The version of the Python this binary embeds, as `(major, minor, full)`, read from the
/// library itself (the call is valid before the interpreter starts).
pub(crate) fn embedded_version() -> (u32, u32, String) {
    // SAFETY: Py_GetVersion returns a pointer to a static, NUL-terminated string.
    let full = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }
        .to_string_lossy()
        .into_owned();
    let number = full.split_whitespace().next().unwrap_or("").to_string();
    let mut parts = number.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor, number)
}

/// Starts the interpreter once for this process and sets up `sys.path`.
pub(crate) fn start(options: &StartOptions) -> Result<()> {
    let venv = match &options.venv {
        Some(dir) => Some(check_venv(dir)?),
        None => None,
    };
    if let Some(warning) = library_warning(
        env!("RWSGI_BUILD_PYTHON_VERSION"),
        env!("RWSGI_BUILD_LIBPYTHON"),
        &loaded_version(),
        loaded_library().as_deref(),
        std::env::var_os("PYTHONHOME").is_some_and(|h| !h.is_empty()),
    ) {
        crate::log::warn(&warning);
    }
    initialize(options)?;
    Python::attach(|py| configure_paths(py, options, venv.as_deref()))
        .map_err(|e| Error::PythonStart(e.to_string()))
}

/// A virtualenv folder that holds a `pyvenv.cfg` for the embedded Python's version.
fn check_venv(dir: &Path) -> Result<PathBuf> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let cfg_path = dir.join("pyvenv.cfg");
    let cfg = std::fs::read_to_string(&cfg_path).map_err(|e| {
        Error::Venv(format!(
            "{} is not a virtualenv: cannot read {}: {e}",
            dir.display(),
            cfg_path.display()
        ))
    })?;
    let (major, minor, full) = embedded_version();
    if let Some((vmaj, vmin, vtext)) = venv_version(&cfg, &dir)
        && (vmaj, vmin) != (major, minor)
    {
        return Err(Error::Venv(format!(
            "the virtualenv {} was made for Python {vtext}, but rwsgi embeds Python {full}; \
             recreate it with python{major}.{minor} -m venv, or build rwsgi with \
             PYO3_PYTHON=python{vmaj}.{vmin}",
            dir.display()
        )));
    }
    Ok(dir)
}

/// The Python version a virtualenv was made for: `version` (the venv module), `version_info`
/// (virtualenv, uv), else the `lib/pythonX.Y` folder it holds.
fn venv_version(cfg: &str, dir: &Path) -> Option<(u32, u32, String)> {
    let from_cfg = cfg.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        (key == "version" || key == "version_info").then(|| value.trim().to_string())
    });
    let text = from_cfg.or_else(|| {
        std::fs::read_dir(dir.join("lib"))
            .ok()?
            .filter_map(|e| e.ok())
            .find_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("python").map(str::to_string)
            })
    })?;
    let mut parts = text.split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts.next()?.trim().parse().ok()?;
    Some((major, minor, text))
}

/// The loaded library's `sys.version` (valid before the interpreter starts).
fn loaded_version() -> String {
    // SAFETY: Py_GetVersion returns a pointer to a static, NUL-terminated string.
    unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }
        .to_string_lossy()
        .into_owned()
}

/// The file the dynamic loader took libpython from.
fn loaded_library() -> Option<PathBuf> {
    let mut info = MaybeUninit::<libc::Dl_info>::uninit();
    // SAFETY: dladdr only reads the address and fills `info`; Py_GetVersion is a function of
    // the loaded libpython, so its address lies in that library's mapping.
    let found =
        unsafe { libc::dladdr(ffi::Py_GetVersion as *const libc::c_void, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr succeeded, so `info` is filled; dli_fname, when set, is a NUL-terminated
    // path owned by the loader.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is non-null here and, as above, a NUL-terminated path the loader owns
    // for as long as the library stays loaded (libpython never unloads).
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
    Some(std::fs::canonicalize(&path).unwrap_or(path))
}

/// What to say when the loaded Python is another build than the one rwsgi was built against.
///
/// The binary's rpath names the build's libpython, but the loader tries LD_LIBRARY_PATH first,
/// and passes over a library it cannot read (a pyenv Python under /root, seen from a CGI
/// program running as www-data) for the system's of the same name: rwsgi then runs on another
/// Python and its standard library. A copy of the same build (same `sys.version`) is fine, and
/// with PYTHONHOME set the choice of Python is the user's (the Lambda bootstrap sets it).
fn library_warning(
    built_version: &str,
    built_library: &str,
    loaded_version: &str,
    loaded_library: Option<&Path>,
    python_home_set: bool,
) -> Option<String> {
    if built_version.is_empty() || built_version == loaded_version || python_home_set {
        return None;
    }
    let number = |v: &str| v.split_whitespace().next().unwrap_or("").to_string();
    let built_at = if built_library.is_empty() {
        String::new()
    } else {
        format!(" ({built_library})")
    };
    let loaded_at = loaded_library
        .map(|p| format!(" from {}", p.display()))
        .unwrap_or_default();
    Some(format!(
        "rwsgi was built against Python {}{built_at}, but this process loaded Python {}{loaded_at}, \
         another build, and runs the app on it and its standard library. Is the build's library \
         unreadable to this user (uid {}), or does LD_LIBRARY_PATH point elsewhere? Make that \
         Python readable (or copy it, cgi/README.md says how), or set PYTHONHOME to the Python \
         you mean to run on",
        number(built_version),
        number(loaded_version),
        rustix::process::getuid().as_raw()
    ))
}

fn initialize(options: &StartOptions) -> Result<()> {
    // SAFETY: the PyConfig is initialised by PyConfig_InitPythonConfig before any field is
    // touched, cleared after use, and the interpreter is initialised once: `start` is called
    // once per process, before any other Python use.
    unsafe {
        if ffi::Py_IsInitialized() != 0 {
            return Ok(());
        }
        // Before the interpreter maps its first arena.
        super::arena::install();
        let mut config = MaybeUninit::<ffi::PyConfig>::uninit();
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let mut config = config.assume_init();
        // `site` runs after start-up, once sys.executable names the virtualenv, so its own
        // venv logic (pyvenv.cfg, include-system-site-packages, .pth files) applies.
        config.site_import = 0;
        config.parse_argv = 0;
        config.install_signal_handlers = options.signal_handlers.into();
        INTERRUPTIBLE.store(
            options.signal_handlers,
            std::sync::atomic::Ordering::Relaxed,
        );
        let args: Vec<CString> = options
            .argv
            .iter()
            .map(|a| CString::new(a.replace('\0', "")).unwrap_or_default())
            .collect();
        let mut ptrs: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
        let status = ffi::PyConfig_SetBytesArgv(
            &mut config,
            ptrs.len() as ffi::Py_ssize_t,
            ptrs.as_mut_ptr(),
        );
        if ffi::PyStatus_Exception(status) != 0 {
            ffi::PyConfig_Clear(&mut config);
            return Err(Error::PythonStart(status_message(&status)));
        }
        let status = ffi::Py_InitializeFromConfig(&config);
        ffi::PyConfig_Clear(&mut config);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(Error::PythonStart(status_message(&status)));
        }
        // Release the thread state so that Python::attach can take it from any thread.
        ffi::PyEval_SaveThread();
    }
    Ok(())
}

fn status_message(status: &ffi::PyStatus) -> String {
    if status.err_msg.is_null() {
        return format!("exit code {}", status.exitcode);
    }
    // SAFETY: err_msg is a static C string set by CPython.
    let msg = unsafe { CStr::from_ptr(status.err_msg) }.to_string_lossy();
    format!(
        "{msg} (check PYTHONHOME and that the Python rwsgi was built against, {}, is installed)",
        env!("RWSGI_BUILD_PYTHON")
    )
}

fn configure_paths(py: Python<'_>, options: &StartOptions, venv: Option<&Path>) -> PyResult<()> {
    let sys = py.import("sys")?;
    // An embedded interpreter's sys.executable is the embedding binary (rwsgi); code that runs
    // `sys.executable -m ...` or multiprocessing's spawn needs a real Python: the virtualenv's,
    // else the installation's own.
    let executable = match venv {
        Some(dir) => Some(dir.join("bin").join("python")),
        None => {
            let base: PathBuf = sys.getattr("base_exec_prefix")?.extract()?;
            let candidate = base
                .join("bin")
                .join(format!("python{}", env!("RWSGI_BUILD_PYTHON")));
            candidate.is_file().then_some(candidate)
        }
    };
    if let Some(exe) = executable {
        sys.setattr("executable", path_str(py, &exe)?)?;
    }
    if options.line_buffered {
        for stream in ["stdout", "stderr"] {
            let stream = sys.getattr(stream)?;
            if !stream.is_none() {
                let kwargs = pyo3::types::PyDict::new(py);
                kwargs.set_item("line_buffering", true)?;
                stream.call_method("reconfigure", (), Some(&kwargs))?;
            }
        }
    }
    pause_gc(py);
    py.import("site")?.call_method0("main")?;
    let sys_path = sys.getattr("path")?.cast_into::<PyList>()?;
    let mut front: Vec<PathBuf> = Vec::new();
    for dir in &options.path {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        if !front.contains(&dir) {
            sys_path.insert(front.len(), path_str(py, &dir)?)?;
            front.push(dir);
        }
    }
    Ok(())
}

/// The collector's thresholds before [`pause_gc`], while the pause lasts.
static GC_PAUSED: std::sync::Mutex<Option<(i64, i64, i64)>> = std::sync::Mutex::new(None);

/// Holds Python's cyclic garbage collector off while the app is imported.
///
/// An import makes objects by the ten thousand (a Flask app: about 30,000), and nearly all of
/// them live as long as the process. Each 700 new objects start a collection that walks the
/// young ones and finds nothing to free; importing Flask runs some 80 of them, several percent
/// of its import time. The pause is a threshold of 0 (the collector's own "off" setting), so an
/// app that calls `gc.disable()` or sets thresholds during its import keeps what it chose.
///
/// For as long, new arenas of Python objects come with all their pages (see `arena`).
pub(crate) fn pause_gc(py: Python<'_>) {
    super::arena::populate(true);
    let result = py.import("gc").and_then(|gc| {
        let old: (i64, i64, i64) = gc.call_method0("get_threshold")?.extract()?;
        if old.0 != 0 {
            gc.call_method1("set_threshold", (0,))?;
            *GC_PAUSED.lock().unwrap_or_else(|p| p.into_inner()) = Some(old);
        }
        Ok(())
    });
    if let Err(e) = result {
        crate::log::warn(&format!("cannot pause the garbage collector: {e}"));
    }
}

/// Ends [`pause_gc`]: the thresholds come back (unless the app set its own meanwhile), and what
/// the import made is moved out of the collector's reach with `gc.freeze()`, so that no later
/// collection during a request walks those objects again. They were reachable when the import
/// ended; what the app drops later is collected as usual. Arenas are mapped as CPython maps
/// them again.
pub(crate) fn resume_gc(py: Python<'_>) {
    super::arena::populate(false);
    let Some(old) = GC_PAUSED.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    let result = py.import("gc").and_then(|gc| {
        let now: (i64, i64, i64) = gc.call_method0("get_threshold")?.extract()?;
        if now.0 == 0 {
            gc.call_method1("set_threshold", (old.0, now.1, now.2))?;
        }
        gc.call_method0("freeze").map(drop)
    });
    if let Err(e) = result {
        crate::log::warn(&format!("cannot resume the garbage collector: {e}"));
    }
}

/// A path as Python's `os.fsdecode` would give it (surrogate escapes for undecodable bytes).
pub(crate) fn path_str<'py>(py: Python<'py>, path: &Path) -> PyResult<Bound<'py, PyAny>> {
    let bytes = pyo3::types::PyBytes::new(py, path.as_os_str().as_bytes());
    py.import("os")?.call_method1("fsdecode", (bytes,))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_python_build_is_warned_about() {
        let built = "3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]";
        let system = "3.11.2 (main, Apr 28 2025, 14:11:48) [GCC 12.2.0]";
        let lib = Path::new("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0");
        let warning = library_warning(
            built,
            "/opt/py/lib/libpython3.11.so.1.0",
            system,
            Some(lib),
            false,
        )
        .expect("a warning");
        assert!(
            warning.starts_with(
                "rwsgi was built against Python 3.11.7 (/opt/py/lib/libpython3.11.so.1.0), but \
                 this process loaded Python 3.11.2 from /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
            ),
            "{warning}"
        );
        // The same build (a copy), a Python chosen with PYTHONHOME, an unknown build: silence.
        assert_eq!(library_warning(built, "", built, Some(lib), false), None);
        assert_eq!(library_warning(built, "", system, Some(lib), true), None);
        assert_eq!(library_warning("", "", system, Some(lib), false), None);
    }

    #[test]
    fn venv_versions() {
        let dir = Path::new("/nonexistent");
        let cases = [
            ("home = /usr/bin\nversion = 3.11.7\n", Some((3, 11))),
            (
                "home = /usr/bin\nversion_info = 3.12.1.final.0\n",
                Some((3, 12)),
            ),
            ("version_info = 3.13.0\n", Some((3, 13))),
            ("Version = 3.9.2\n", Some((3, 9))),
            ("home = /usr/bin\n", None),
            ("version = junk\n", None),
        ];
        for (cfg, want) in cases {
            let got = venv_version(cfg, dir).map(|(a, b, _)| (a, b));
            assert_eq!(got, want, "{cfg}");
        }
    }
}
