//! [`notify_exit`]: one thread learns of the exits of any number of
//! children. Each child's pidfd sits in one epoll set; the thread sleeps in
//! epoll_wait until a pidfd turns readable (that child has exited and is a
//! zombie) and runs the child's callback. As with [`wait_exit`], nothing is
//! reaped here: the owner reaps once it has the news, so the pid cannot be
//! reused before the owner knows it is gone.
//!
//! A blocked thread per child would do the same, but some children (conmon)
//! live as long as their containers: one thread for all of them is leaner.
//! Kernels without pidfd_open (before 5.3) get that thread per child.

use std::collections::HashMap;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use sys_error::{errno, owned_fd, Result, SysError};

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
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(err) if err.errno == libc::ENOSYS => return wait_on_own_thread(pid, on_exit),
        Err(err) => return on_exit(Err(err.with_detail(format!("pid {}", pid)))),
    };
    match watcher() {
        Ok(watch) => watch.add(pidfd, on_exit),
        Err(err) => on_exit(Err(err)),
    }
}

/// Opens a pidfd for `pid` (ENOSYS on kernels before 5.3).
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd> {
    loop {
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
        if fd >= 0 {
            // A new fd that nobody else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let err = SysError::last("pidfd_open");
        if err.errno != libc::EINTR {
            return Err(err);
        }
    }
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
    children: HashMap<u64, (OwnedFd, OnExit)>,
}

/// Made with its thread on first use; a watcher whose epoll_wait failed is
/// replaced by the next caller.
static WATCH: Mutex<Option<&'static Watch>> = Mutex::new(None);

fn watcher() -> Result<&'static Watch> {
    let mut slot = WATCH.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(watch) = *slot {
        return Ok(watch);
    }
    let epoll = unsafe { owned_fd(libc::epoll_create1(libc::EPOLL_CLOEXEC), "epoll_create1") }?;
    // Lives as long as the process: the thread never returns while it is in use.
    let watch: &'static Watch = Box::leak(Box::new(Watch { epoll, waiting: Mutex::new(Waiting::default()) }));
    std::thread::Builder::new()
        .name("skiff:exits".into())
        .spawn(move || watch.run())
        .map_err(|err| SysError::new(err.raw_os_error().unwrap_or(libc::EAGAIN), "pthread_create"))?;
    *slot = Some(watch);
    Ok(watch)
}

impl Watch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, pidfd: OwnedFd, on_exit: OnExit) {
        let fd = pidfd.as_raw_fd();
        // In the map before it is in the set: the thread may see it ready at once.
        let key = {
            let mut waiting = self.lock();
            waiting.next += 1;
            let key = waiting.next;
            waiting.children.insert(key, (pidfd, on_exit));
            key
        };
        let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: key };
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
            let err = SysError::last("epoll_ctl");
            if let Some((_, cb)) = self.lock().children.remove(&key) {
                cb(Err(err));
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
                return self.fail(SysError::last("epoll_wait"));
            }
            for event in &events[..n as usize] {
                let entry = self.lock().children.remove(&{ event.u64 });
                if let Some((pidfd, cb)) = entry {
                    // Out of the set before it is closed: closing alone leaves it there
                    // while a copy lives on (in a child between posix_spawn's clone and exec).
                    unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, pidfd.as_raw_fd(), std::ptr::null_mut()) };
                    drop(pidfd);
                    cb(Ok(()));
                }
            }
        }
    }

    /// Hands every waiting child the error, and lets the next caller make a new watcher.
    fn fail(&self, err: SysError) {
        let mut slot = WATCH.lock().unwrap_or_else(|e| e.into_inner());
        if slot.map_or(false, |w| std::ptr::eq(w, self)) {
            *slot = None;
        }
        drop(slot);
        let waiting: Vec<_> = self.lock().children.drain().collect();
        for (_, (_, cb)) in waiting {
            cb(Err(err.clone()));
        }
    }
}
