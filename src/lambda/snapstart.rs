//! SnapStart: Lambda snapshots the execution environment once init is done and starts later
//! environments from the snapshot ("Improving startup performance with Lambda SnapStart"). A
//! custom runtime takes part through the Runtime API ("Implementing SnapStart hooks for
//! container images", https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-custom.html):
//! after init it calls `GET /runtime/restore/next` instead of its first `/next`; the snapshot is
//! taken while that request waits, and the answer comes in each environment restored from it.
//!
//! On the python3.12+ managed runtimes rwsgi takes the place of AWS's runtime client
//! (`AWS_LAMBDA_EXEC_WRAPPER`), so it runs the app's hooks as that client does: the ones
//! registered through `snapshot_restore_py` (the module the managed runtime ships; without it
//! there are none), before-snapshot hooks newest first, after-restore hooks in registration
//! order ("Lambda SnapStart runtime hooks for Python",
//! https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html). A failing
//! before-snapshot hook is an init error (`Runtime.BeforeSnapshotError`, exit status 64), a
//! failing after-restore hook goes to `/runtime/restore/error` (`Runtime.AfterRestoreError`,
//! exit status 65), the types and statuses of AWS's Python runtime client.
//!
//! Beyond what AWS's client does, rwsgi reopens its Runtime API connection after the restore
//! (a kept-alive connection from before the snapshot does not survive it) and re-seeds
//! Python's `random` from `os.urandom` before the app's after-restore hooks run: every
//! environment restored from one snapshot would otherwise draw the same "random" numbers
//! ("Handling uniqueness with Lambda SnapStart",
//! https://docs.aws.amazon.com/lambda/latest/dg/snapstart-uniqueness.html).
//!
//! `lambda_runtime`'s SnapStart support (`SnapStartResource`) is not used: it runs inside
//! `lambda_runtime::Runtime::run`, which rwsgi's loop replaces, and it reports every hook
//! failure as `Runtime.InitError` with a Rust type name in place of the Python exception.

use pyo3::PyTypeInfo;
use pyo3::prelude::*;

use lambda_runtime_api_client::body::Body;

use super::error_body;
use super::runtime::Api;
use crate::ExitStatus;
use crate::lambda::ErrorReport;

/// The error type of a failed before-snapshot hook (or `/restore/next`), as AWS's client
/// reports it.
pub(crate) const BEFORE_SNAPSHOT_ERROR: &str = "Runtime.BeforeSnapshotError";
/// The error type of a failed after-restore hook.
pub(crate) const AFTER_RESTORE_ERROR: &str = "Runtime.AfterRestoreError";

/// Whether this init is one that Lambda snapshots (`AWS_LAMBDA_INITIALIZATION_TYPE`, "Defined
/// runtime environment variables").
pub(crate) fn enabled() -> bool {
    std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").is_ok_and(|t| t.trim() == "snap-start")
}

/// The exit status for an init failure: AWS's for a before-snapshot failure, else a failure.
pub(crate) fn init_failure_status(report: &ErrorReport) -> ExitStatus {
    if report.error_type == BEFORE_SNAPSHOT_ERROR {
        ExitStatus::BeforeSnapshot
    } else {
        ExitStatus::Failure
    }
}

/// Runs the before-snapshot hooks, newest first, taking each off the registry as AWS's client
/// does (so a hook list is run once). Called right after the import, before the Runtime API
/// client exists, so that nothing of it is in the snapshot.
pub(crate) fn before_snapshot() -> Result<(), ErrorReport> {
    Python::attach(|py| {
        let Some(module) = hooks_module(py)? else {
            return Ok(());
        };
        let hooks = module
            .call_method0("get_before_snapshot")
            .map_err(|e| report(py, &e, BEFORE_SNAPSHOT_ERROR))?;
        while hooks
            .len()
            .map_err(|e| report(py, &e, BEFORE_SNAPSHOT_ERROR))?
            > 0
        {
            let hook = hooks
                .call_method0("pop")
                .map_err(|e| report(py, &e, BEFORE_SNAPSHOT_ERROR))?;
            call_hook(&hook).map_err(|e| report(py, &e, BEFORE_SNAPSHOT_ERROR))?;
        }
        Ok(())
    })
}

/// Waits on `/runtime/restore/next` for the restore, then gives a fresh Runtime API client,
/// re-seeds and runs the after-restore hooks. `Err` is the exit status, the failure having been
/// reported to the Runtime API and logged.
pub(crate) async fn restore(mut api: Api) -> Result<Api, ExitStatus> {
    if let Err(e) = api.restore_next().await {
        let report = ErrorReport {
            error_type: BEFORE_SNAPSHOT_ERROR.into(),
            message: e,
            stack: Vec::new(),
        };
        fail(&mut api, "/runtime/init/error", &report).await;
        return Err(ExitStatus::BeforeSnapshot);
    }
    // A connection kept alive from before the snapshot leads nowhere after the restore.
    let mut api = api.reopened();
    if let Err(report) = after_restore() {
        fail(&mut api, "/runtime/restore/error", &report).await;
        return Err(ExitStatus::AfterRestore);
    }
    Ok(api)
}

/// Logs a lifecycle failure and posts it to `path`.
async fn fail(api: &mut Api, path: &str, report: &ErrorReport) {
    crate::log::error(&format!(
        "{} ({}): {}\n{}",
        if report.error_type == AFTER_RESTORE_ERROR {
            "restore failed"
        } else {
            "init failed"
        },
        report.error_type,
        report.message,
        report.stack.concat()
    ));
    let body = Body::from(error_body(report));
    if let Err(e) = api.post(path, body, Some(&report.error_type), None).await {
        crate::log::error(&format!("cannot report the error: {e}"));
    }
}

/// Re-seeds the random generators, then runs the after-restore hooks in registration order.
fn after_restore() -> Result<(), ErrorReport> {
    Python::attach(|py| {
        reseed(py).map_err(|e| report(py, &e, AFTER_RESTORE_ERROR))?;
        let Some(module) = hooks_module(py).map_err(|mut r| {
            r.error_type = AFTER_RESTORE_ERROR.into();
            r
        })?
        else {
            return Ok(());
        };
        let hooks = module
            .call_method0("get_after_restore")
            .map_err(|e| report(py, &e, AFTER_RESTORE_ERROR))?;
        // A list copy: a hook that registers another while running does not extend this run.
        let hooks = pyo3::types::PyList::type_object(py)
            .call1((hooks,))
            .map_err(|e| report(py, &e, AFTER_RESTORE_ERROR))?;
        for hook in hooks
            .try_iter()
            .map_err(|e| report(py, &e, AFTER_RESTORE_ERROR))?
        {
            let hook = hook.map_err(|e| report(py, &e, AFTER_RESTORE_ERROR))?;
            call_hook(&hook).map_err(|e| report(py, &e, AFTER_RESTORE_ERROR))?;
        }
        Ok(())
    })
}

/// `random.seed()` (from `os.urandom`), and numpy's global generator when the app imported it.
/// `uuid.uuid4` and `secrets` read `os.urandom` on each call and need nothing; the string hash
/// seed (`PYTHONHASHSEED`) is fixed when the interpreter starts and cannot be changed.
fn reseed(py: Python<'_>) -> PyResult<()> {
    py.import("random")?.call_method0("seed")?;
    let modules = py.import("sys")?.getattr("modules")?;
    if modules.contains("numpy.random")? {
        py.import("numpy.random")?.call_method0("seed")?;
    }
    Ok(())
}

/// `snapshot_restore_py`, or `None` when it is not installed (no hooks can have been
/// registered). Any other failure to import it is the app's error.
fn hooks_module(py: Python<'_>) -> Result<Option<Bound<'_, PyAny>>, ErrorReport> {
    match py.import("snapshot_restore_py") {
        Ok(m) => Ok(Some(m.into_any())),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyModuleNotFoundError>(py) => {
            let missing = e
                .value(py)
                .getattr("name")
                .and_then(|n| n.extract::<String>())
                .unwrap_or_default();
            if missing == "snapshot_restore_py" {
                Ok(None)
            } else {
                Err(report(py, &e, BEFORE_SNAPSHOT_ERROR))
            }
        }
        Err(e) => Err(report(py, &e, BEFORE_SNAPSHOT_ERROR)),
    }
}

/// Calls one registry entry, `(func, args, kwargs)`.
fn call_hook(entry: &Bound<'_, PyAny>) -> PyResult<()> {
    let func = entry.get_item(0)?;
    let args = entry.get_item(1)?;
    let kwargs = entry.get_item(2)?;
    let args = args
        .cast_into::<pyo3::types::PyTuple>()
        .map_err(PyErr::from)?;
    let kwargs = kwargs.cast_into::<pyo3::types::PyDict>().ok();
    func.call(args, kwargs.as_ref())?;
    Ok(())
}

/// The Python error as the Runtime API's error body, under `error_type` (the exception's class
/// goes into the message, as AWS's client puts it there too).
fn report(py: Python<'_>, err: &PyErr, error_type: &str) -> ErrorReport {
    let inner = ErrorReport::from_py(py, err);
    ErrorReport {
        error_type: error_type.into(),
        message: format!("{}: {}", inner.error_type, inner.message),
        stack: inner.stack,
    }
}
