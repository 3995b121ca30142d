//! spawnChild: child processes started with posix_spawn on a thread of
//! their own, so the event loop never pays for fork copying the daemon's
//! page tables, as child_process.spawn does. runProgram: a short-lived
//! program run start to finish on one such thread, settling one promise.

use std::os::unix::io::IntoRawFd;
use std::time::Duration;

use napi_ffi::{spawn_promise, Args, CallContext, Completion, Deferred, Env, JsError, JsResult, Value, ValueType};
use spawn::{Command, RunOptions, Stdio};

/// More than any caller needs; bounds the fds one call can create.
const MAX_STDIO: usize = 16;

/// spawnChild({ file, args, env, cwd?, stdio, newSession?, unref? }):
///   Promise<{ pid, fds: (number | null)[], exited: Promise<{ code, signal }> }>
///
/// `stdio[i]` ('null' | 'pipe' | 'start' | an fd of the caller's) becomes
/// the child's fd i; `fds[i]` is JS's end of each 'pipe' or 'start' slot (a
/// stream socket, JS owns and must close it). A 'start' slot is a pipe whose
/// reader fails (ECONNRESET) if JS's end closes before JS wrote to it.
/// `exited` settles once the child has exited and been reaped: until then
/// the pid cannot be reused, so process.kill on it is safe. With `unref`, waiting for it does not keep node alive.
pub fn spawn_child(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    let args = cx.args();
    let spec = cx.arg(0);
    let mut cmd = command_of(env, args, spec)?;
    let field = |key: &str| env.get_named(spec, key);
    let stdio = args.array(field("stdio")?, "options.stdio", |v, name| stdio_slot(env, args, v, name))?;
    if stdio.is_empty() || stdio.len() > MAX_STDIO {
        return Err(JsError::out_of_range(format!(
            "The length of \"options.stdio\" is out of range. It must be >= 1 and <= {}. Received {}",
            MAX_STDIO,
            stdio.len()
        )));
    }
    cmd.stdio = stdio;

    let unref = args.optional_bool(field("unref")?, "options.unref")?.unwrap_or(false);

    spawn_promise(env, "spawnChild", move || spawn::spawn(&cmd), move |env, child| {
        let pid = child.pid;
        let exited = exit_promise(env, pid, unref)?;
        let out = env.object()?;
        env.set_named(out, "pid", env.double(f64::from(pid))?)?;
        let fds = env.array(child.pipes.len())?;
        for (i, pipe) in child.pipes.into_iter().enumerate() {
            let fd = match pipe {
                Some(fd) => env.double(f64::from(fd.into_raw_fd()))?,
                None => env.null()?,
            };
            env.set_element(fds, i as u32, fd)?;
        }
        env.set_named(out, "fds", fds)?;
        env.set_named(out, "exited", exited)?;
        Ok(out)
    })
}

/// runProgram({ file, args, env, cwd?, input?, timeoutMs, maxOutput, newSession? }):
///   Promise<{ code, signal, stdout: Buffer, stderr: Buffer, dropped,
///             stdoutDropped, stderrDropped, timedOut }>
///
/// Spawns, feeds `input` (a Buffer, Uint8Array or string; absent: stdin is
/// /dev/null), collects up to `maxOutput` bytes of stdout and of stderr
/// each, SIGKILLs the child (and its process group, with newSession) at
/// `timeoutMs`, and reaps it, all on one
/// thread: one wake-up of the event loop for the whole run. Resolves once
/// the child is reaped and its outputs ended, or a second after its exit
/// while a grandchild holds them. Rejects when the program cannot be
/// started (as spawnChild does).
pub fn run_program(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    let args = cx.args();
    let spec = cx.arg(0);
    // run() fills slots 0-2 itself.
    let cmd = command_of(env, args, spec)?;
    let field = |key: &str| env.get_named(spec, key);
    let input = optional_input(env, args, field("input")?, "options.input")?;
    let timeout = Duration::from_millis(args.safe_integer(field("timeoutMs")?, "options.timeoutMs")?);
    let max_output = args.safe_integer(field("maxOutput")?, "options.maxOutput")?;
    let opts = RunOptions { timeout, max_output: usize::try_from(max_output).unwrap_or(usize::MAX), input };

    spawn_promise(env, "runProgram", move || spawn::run(&cmd, &opts), |env, run| {
        let out = env.object()?;
        env.set_named(out, "code", optional_number(env, run.status.code)?)?;
        env.set_named(out, "signal", optional_number(env, run.status.signal)?)?;
        env.set_named(out, "stdout", env.buffer_copy(&run.stdout)?)?;
        env.set_named(out, "stderr", env.buffer_copy(&run.stderr)?)?;
        env.set_named(out, "dropped", env.double(run.dropped as f64)?)?;
        env.set_named(out, "stdoutDropped", env.double(run.stdout_dropped as f64)?)?;
        env.set_named(out, "stderrDropped", env.double(run.stderr_dropped as f64)?)?;
        env.set_named(out, "timedOut", env.boolean(run.timed_out)?)?;
        Ok(out)
    })
}

/// A promise for how child `pid` ended. The watching thread (one for all
/// children) only learns of the exit; the reap happens here on the JS
/// thread, after everything JS queued before it. `unref`: the wait does
/// not keep node's event loop alive (a child that outlives its work, as
/// conmon outlives its container's create).
fn exit_promise(env: Env, pid: i32, unref: bool) -> JsResult<Value> {
    let done = Completion::new(env, !unref)?;
    let (deferred, promise) = Deferred::new(env)?;
    spawn::notify_exit(
        pid,
        Box::new(move |watched| {
            // A refused call means node is exiting and nobody awaits the result.
            let _ = done.complete(move |env| {
                let value = watched.map_err(JsError::Sys).and_then(|()| {
                    let status = spawn::reap(pid).map_err(JsError::Sys)?;
                    let out = env.object()?;
                    env.set_named(out, "code", optional_number(env, status.code)?)?;
                    env.set_named(out, "signal", optional_number(env, status.signal)?)?;
                    Ok(out)
                });
                deferred.settle(env, value);
            });
        }),
    );
    Ok(promise)
}

/// A string (sent as UTF-8) or the bytes of a Buffer or Uint8Array.
fn optional_input(env: Env, args: Args, value: Value, name: &str) -> JsResult<Option<Vec<u8>>> {
    if args.is_absent(value)? {
        return Ok(None);
    }
    if env.type_of(value)? == ValueType::String {
        return Ok(Some(env.get_string(value)?.into_bytes()));
    }
    args.bytes(value, name).map(Some).map_err(|err| match err {
        JsError::InvalidArg { code, message } => JsError::InvalidArg {
            code,
            message: message.replacen("must be an instance of", "must be of type string or an instance of", 1),
        },
        other => other,
    })
}

/// The program, arguments, environment, working directory and newSession
/// every options object here carries; no stdio slots.
fn command_of(env: Env, args: Args, spec: Value) -> JsResult<Command> {
    args.object(spec, "options")?;
    let field = |key: &str| env.get_named(spec, key);
    Ok(Command {
        program: args.path(field("file")?, "options.file")?,
        args: args.array(field("args")?, "options.args", |v, name| c_string(args, v, name))?,
        env: args.array(field("env")?, "options.env", |v, name| c_string(args, v, name))?,
        cwd: args.optional_path(field("cwd")?, "options.cwd")?,
        stdio: Vec::new(),
        new_session: args.optional_bool(field("newSession")?, "options.newSession")?.unwrap_or(false),
    })
}

/// A string that can cross into C: no NUL bytes.
fn c_string(args: Args, value: Value, name: &str) -> JsResult<String> {
    let s = args.string(value, name)?;
    if s.contains('\0') {
        return Err(JsError::invalid_value(format!(
            "The \"{}\" argument must be a string without null bytes",
            name
        )));
    }
    Ok(s)
}

fn stdio_slot(env: Env, args: Args, value: Value, name: &str) -> JsResult<Stdio> {
    let expected = format!("The \"{}\" argument must be 'null', 'pipe', 'start' or a file descriptor.", name);
    match env.type_of(value)? {
        ValueType::String => match env.get_string(value)?.as_str() {
            "null" => Ok(Stdio::Null),
            "pipe" => Ok(Stdio::Pipe),
            "start" => Ok(Stdio::StartPipe),
            other => Err(JsError::invalid_value(format!("{} Received '{}'", expected, other))),
        },
        ValueType::Number => {
            let fd = args.safe_integer(value, name)?;
            i32::try_from(fd).map(Stdio::Fd).map_err(|_| {
                JsError::out_of_range(format!("The value of \"{}\" is not a file descriptor. Received {}", name, fd))
            })
        }
        ValueType::Undefined => Err(JsError::invalid_type(format!("{} Received undefined", expected))),
        ValueType::Null => Err(JsError::invalid_type(format!("{} Received null", expected))),
        other => Err(JsError::invalid_type(format!(
            "{} Received type {}",
            expected,
            format!("{:?}", other).to_lowercase()
        ))),
    }
}

fn optional_number(env: Env, n: Option<i32>) -> JsResult<Value> {
    match n {
        Some(n) => env.double(f64::from(n)),
        None => env.null(),
    }
}
