//! openPty / setTerminalSize / connectSeqpacket / bridgeFd / dialLoopback:
//! the fds exec, attach and port-forward hand to `net.Socket`; and
//! captureOutput, ExecSync's bounded output.

use std::os::unix::io::{IntoRawFd, RawFd};
use std::time::Duration;

use napi_ffi::{spawn_promise, CallContext, JsError, JsResult, Value};
use stdio::Framing;

/// openPty(): Promise<{ master: number, slave: number }>. Both fds are
/// close-on-exec and owned by JS from then on; the slave is raw.
pub fn open_pty(cx: &CallContext) -> JsResult<Value> {
    spawn_promise(
        cx.env(),
        "openPty",
        || stdio::open_pty().map(|p| (p.master.into_raw_fd(), p.slave.into_raw_fd())),
        |env, (master, slave)| {
            let out = env.object()?;
            env.set_named(out, "master", env.double(f64::from(master))?)?;
            env.set_named(out, "slave", env.double(f64::from(slave))?)?;
            Ok(out)
        },
    )
}

/// setTerminalSize(fd, columns, rows): void. A TIOCSWINSZ ioctl never
/// waits, so it runs on the JS thread.
pub fn set_terminal_size(cx: &CallContext) -> JsResult<Value> {
    let args = cx.args();
    let fd = fd_arg(cx, 0, "fd")?;
    let columns = u16_arg(args.safe_integer(cx.arg(1), "columns")?, "columns")?;
    let rows = u16_arg(args.safe_integer(cx.arg(2), "rows")?, "rows")?;
    stdio::set_window_size(fd, columns, rows)?;
    cx.env().undefined()
}

/// connectSeqpacket(path): Promise<number>, a connected SOCK_SEQPACKET fd.
pub fn connect_seqpacket(cx: &CallContext) -> JsResult<Value> {
    let path = cx.args().path(cx.arg(0), "path")?;
    spawn_promise(
        cx.env(),
        "connectSeqpacket",
        move || stdio::connect_seqpacket(&path).map(IntoRawFd::into_raw_fd),
        |env, fd| env.double(f64::from(fd)),
    )
}

/// bridgeFd(fd, framing: 'bytes' | 'packets'): number. Relays a copy of
/// `fd` onto a new stream socket on a thread of its own and returns that
/// socket's fd (JS keeps, and must close, its own `fd`). Creating a
/// socketpair and a thread never waits, so this runs on the JS thread.
pub fn bridge_fd(cx: &CallContext) -> JsResult<Value> {
    let fd = fd_arg(cx, 0, "fd")?;
    let framing = match cx.args().string(cx.arg(1), "framing")?.as_str() {
        "bytes" => Framing::Bytes,
        "packets" => Framing::Packets,
        other => {
            return Err(JsError::invalid_value(format!(
                "The \"framing\" argument must be one of 'bytes', 'packets'. Received '{}'",
                other
            )))
        }
    };
    // The relay gets a duplicate of its own; JS keeps (and closes) `fd`.
    let target = stdio::duplicate(fd)?;
    let js = stdio::spawn_relay(target, framing)?;
    cx.env().double(f64::from(js.into_raw_fd()))
}

/// dialLoopback({ netns?, port, timeoutMs? }): Promise<number>, a connected
/// non-blocking TCP socket to localhost:port inside the network namespace
/// pinned at `netns` (absent: the host's).
pub fn dial_loopback(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    let args = cx.args();
    let spec = cx.arg(0);
    args.object(spec, "options")?;
    let netns = args.optional_path(env.get_named(spec, "netns")?, "options.netns")?;
    let port = args.safe_integer(env.get_named(spec, "port")?, "options.port")?;
    if port == 0 || port > 65535 {
        return Err(JsError::out_of_range(format!(
            "The value of \"options.port\" is out of range. It must be >= 1 and <= 65535. Received {}",
            port
        )));
    }
    let timeout_ms = args
        .optional_safe_integer(env.get_named(spec, "timeoutMs")?, "options.timeoutMs")?
        .unwrap_or(10_000);
    spawn_promise(
        env,
        "dialLoopback",
        move || {
            netdial::dial_loopback(netns.as_deref(), port as u16, Duration::from_millis(timeout_ms))
                .map(IntoRawFd::into_raw_fd)
        },
        |env, fd| env.double(f64::from(fd)),
    )
}

/// captureOutput(count, maxBytes): { fds: number[], cancelFd: number,
/// done: Promise<{ outputs: Buffer[], dropped: number }> }. `fds` are the
/// write ends of `count` pipes, for a child's stdio (JS closes its copies
/// after spawning); `done` settles once every pipe reached end of file or
/// JS closed `cancelFd` (which it must close in any case).
pub fn capture_output(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    let args = cx.args();
    let count = args.safe_integer(cx.arg(0), "count")?;
    if count == 0 || count > 8 {
        return Err(JsError::out_of_range(format!(
            "The value of \"count\" is out of range. It must be >= 1 and <= 8. Received {}",
            count
        )));
    }
    let max = args.safe_integer(cx.arg(1), "maxBytes")?;
    let pipes = stdio::capture_pipes(count as usize, max.min(usize::MAX as u64) as usize)?;
    let capture = pipes.capture;
    let done = spawn_promise(env, "captureOutput", move || capture.run(), |env, captured| {
        let out = env.object()?;
        let outputs = env.array(captured.outputs.len())?;
        for (i, bytes) in captured.outputs.iter().enumerate() {
            env.set_element(outputs, i as u32, env.buffer_copy(bytes)?)?;
        }
        env.set_named(out, "outputs", outputs)?;
        env.set_named(out, "dropped", env.double(captured.dropped as f64)?)?;
        Ok(out)
    })?;
    let out = env.object()?;
    let fds = env.array(pipes.writers.len())?;
    for (i, w) in pipes.writers.into_iter().enumerate() {
        env.set_element(fds, i as u32, env.double(f64::from(w.into_raw_fd()))?)?;
    }
    env.set_named(out, "fds", fds)?;
    env.set_named(out, "cancelFd", env.double(f64::from(pipes.cancel.into_raw_fd()))?)?;
    env.set_named(out, "done", done)?;
    Ok(out)
}

fn fd_arg(cx: &CallContext, i: usize, name: &str) -> JsResult<RawFd> {
    let n = cx.args().safe_integer(cx.arg(i), name)?;
    if n > i32::MAX as u64 {
        return Err(JsError::out_of_range(format!("The value of \"{}\" is not a file descriptor. Received {}", name, n)));
    }
    Ok(n as RawFd)
}

fn u16_arg(n: u64, name: &str) -> JsResult<u16> {
    u16::try_from(n).map_err(|_| {
        JsError::out_of_range(format!(
            "The value of \"{}\" is out of range. It must be >= 0 and <= 65535. Received {}",
            name, n
        ))
    })
}
