//! [`notify_exit`]: one thread learns of the exits of any number of
//! children. Each child's pidfd sits in one epoll set; the thread sleeps in
//! epoll_wait until a pidfd turns readable (that child has exited and is a
//! zombie) and runs the child's callback. As with [`wait_exit`], nothing is
//! reaped here: the owner reaps once it has the news, so the pid cannot be
//! reused before the owner knows it is gone.
//!
//! A blocked thread per child would do the same, but some children (conmon)
//! live as long as their containers: one thread for all of them is leaner.
//! A child whose pidfd cannot be had or watched (a kernel before 5.3, a
//! seccomp filter that refuses pidfd_open, no fds left) gets that thread.

use std::collections::HashMap;
use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use sys_error::{errno, owned_fd, retry, Result, SysError};

use crate::wait::{check_pid, wait_exit};

/// Told once: Ok when the child has exited (not yet reaped), or why its
/// exit cannot be watched.
pub type OnExit = Box<dyn FnOnce(Result<()>) + Send>;

/// Runs `on_exit` exactly once: on the watching thread after child `pid`
/// has exited, or at once (on this thread) with the error that kept it from
/// being watched.
pub fn notify_exit(pid: libc::pid_t, on_exit: OnExit) {
    if let Err(err) = check_pid(pid, "pidfd_open") {
        return on_exit(Err(err));
    }
    match pidfd_open(pid) {
        Ok(pidfd) => Watch::add(pid, pidfd, on_exit),
        // No such process: not ours to wait for (or reaped already).
        Err(err) if err.errno == libc::ESRCH => on_exit(Err(err.with_detail(format!("pid {}", pid)))),
        Err(_) => wait_on_own_thread(pid, on_exit),
    }
}

/// Opens a pidfd for `pid` (ENOSYS on kernels before 5.3).
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd> {
    let fd = retry("pidfd_open", || unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) } as RawFd)?;
    // A new fd that nobody else owns.
    unsafe { owned_fd(fd, "pidfd_open") }
}

fn wait_on_own_thread(pid: libc::pid_t, on_exit: OnExit) {
    // The closure owns on_exit: if the thread cannot start, it comes back in the error.
    let slot = std::sync::Arc::new(Mutex::new(Some(on_exit)));
    let theirs = slot.clone();
    let started = std::thread::Builder::new().name("skiff:exit".into()).spawn(move || {
        let result = wait_exit(pid);
        if let Some(cb) = take(&theirs) {
            cb(result);
        }
    });
    if let Err(err) = started {
        if let Some(cb) = take(&slot) {
            cb(Err(SysError::new(err.raw_os_error().unwrap_or(libc::EAGAIN), "pthread_create")));
        }
    }
}

fn take(slot: &Mutex<Option<OnExit>>) -> Option<OnExit> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

struct Watch {
    epoll: OwnedFd,
    /// Keyed by a number never reused: an fd number can be, and a closed
    /// fd stays in the epoll set while a child being spawned holds a copy.
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    next: u64,
    children: HashMap<u64, Entry>,
}

struct Entry {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    on_exit: OnExit,
}

/// Made with its thread on first use. Children are added with this held,
/// so none is added to a watcher that has failed (see [`Watch::fail`]).
static WATCH: Mutex<Option<&'static Watch>> = Mutex::new(None);

impl Watch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches `pidfd` on the current watcher (made first if there is none);
    /// the child gets a thread of its own when that cannot be done.
    fn add(pid: libc::pid_t, pidfd: OwnedFd, on_exit: OnExit) {
        let mut slot = WATCH.lock().unwrap_or_else(|e| e.into_inner());
        let watch = match *slot {
            Some(watch) => Some(watch),
            None => Watch::start(&mut slot),
        };
        let refused = match watch {
            Some(watch) => watch.watch(pid, pidfd, on_exit),
            None => Some(on_exit),
        };
        drop(slot);
        // Outside the lock: the fallback may run the callback here and now.
        if let Some(on_exit) = refused {
            wait_on_own_thread(pid, on_exit);
        }
    }

    /// Puts the child in the set; gives the callback back if epoll refuses it.
    fn watch(&self, pid: libc::pid_t, pidfd: OwnedFd, on_exit: OnExit) -> Option<OnExit> {
        let fd = pidfd.as_raw_fd();
        // In the map before it is in the set: the thread may see it ready at once.
        let key = {
            let mut waiting = self.lock();
            waiting.next += 1;
            let key = waiting.next;
            waiting.children.insert(key, Entry { pid, pidfd, on_exit });
            key
        };
        let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: key };
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) } == 0 {
            return None;
        }
        let entry = self.lock().children.remove(&key);
        entry.map(|e| e.on_exit)
    }

    /// A new watcher and its thread, put in `slot`; None when either cannot be made.
    fn start(slot: &mut Option<&'static Watch>) -> Option<&'static Watch> {
        let epoll = unsafe { owned_fd(libc::epoll_create1(libc::EPOLL_CLOEXEC), "epoll_create1") }.ok()?;
        let watch: &'static Watch = Box::leak(Box::new(Watch { epoll, waiting: Mutex::new(Waiting::default()) }));
        match std::thread::Builder::new().name("skiff:exits".into()).spawn(move || watch.run()) {
            Ok(_) => {
                *slot = Some(watch);
                Some(watch)
            }
            Err(_) => {
                // The thread's closure, the only other holder, was dropped unrun.
                drop(unsafe { Box::from_raw(watch as *const Watch as *mut Watch) });
                None
            }
        }
    }

    fn run(&self) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 32];
        loop {
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), events.len() as libc::c_int, -1) };
            if n < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return self.fail();
            }
            for event in &events[..n as usize] {
                let entry = self.lock().children.remove(&{ event.u64 });
                if let Some(Entry { pidfd, on_exit, .. }) = entry {
                    // Out of the set before it is closed: closing alone leaves it there
                    // while a copy lives on (in a child between posix_spawn's clone and exec).
                    unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, pidfd.as_raw_fd(), std::ptr::null_mut()) };
                    drop(pidfd);
                    // A callback's panic must not end the thread every other child relies on.
                    let _ = catch_unwind(AssertUnwindSafe(|| on_exit(Ok(()))));
                }
            }
        }
    }

    /// epoll_wait failed (it cannot, short of a bug): the next caller makes
    /// a new watcher, and every child waiting here gets a thread of its own.
    fn fail(&self) {
        let mut slot = WATCH.lock().unwrap_or_else(|e| e.into_inner());
        if slot.map_or(false, |w| std::ptr::eq(w, self)) {
            *slot = None;
        }
        drop(slot);
        let waiting: Vec<Entry> = self.lock().children.drain().map(|(_, entry)| entry).collect();
        for entry in waiting {
            wait_on_own_thread(entry.pid, entry.on_exit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{reap, spawn, Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_child_without_a_pidfd_is_waited_for_on_a_thread_of_its_own() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args = vec!["-c".to_string(), "sleep 0.2; exit 5".to_string()];
        cmd.stdio = vec![Stdio::Null, Stdio::Null, Stdio::Null];
        let child = spawn(&cmd).unwrap();
        let (tx, rx) = mpsc::channel();
        wait_on_own_thread(child.pid, Box::new(move |r| tx.send((r, std::thread::current().name().map(String::from))).unwrap()));
        let (result, thread) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        result.unwrap();
        assert_eq!(thread.as_deref(), Some("skiff:exit"));
        assert_eq!(reap(child.pid).unwrap().code, Some(5));
    }
}
