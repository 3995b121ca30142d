// skiff's RuntimeDefault seccomp profile.
//
// Everything not listed fails with EPERM. The allow list is what ordinary
// programs need (files, memory, processes, signals, time, sockets, IPC).
// Calls that reach kernel-global state, or that let an unprivileged process
// build new namespaces (the usual first step of a container escape), are
// allowed only when the container holds the capability the kernel checks
// anyway: CAP_SYS_ADMIN for mounts, namespaces and the keyring,
// CAP_SYS_MODULE for modules, CAP_SYS_BOOT for reboot/kexec, and so on.
//
// clone and unshare stay usable without CAP_SYS_ADMIN as long as no
// CLONE_NEW* flag is set. clone3 passes its flags in memory seccomp cannot
// inspect, so without CAP_SYS_ADMIN it reports ENOSYS and libc falls back to
// clone.

import type { SeccompProfile, ProfileSyscall } from './seccomp_profile.js';

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;

// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
const cloneNamespaceFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;
// unshare also takes CLONE_NEWTIME (0x80); for clone that bit is part of the exit signal.
const unshareNamespaceFlags = cloneNamespaceFlags | 0x00000080;

const files = [
  'access', 'chdir', 'chmod', 'chown', 'chown32', 'close', 'close_range', 'copy_file_range', 'creat', 'dup', 'dup2',
  'dup3', 'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fanotify_mark', 'fchdir', 'fchmod',
  'fchmodat', 'fchmodat2', 'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64', 'fdatasync', 'fgetxattr',
  'flistxattr', 'flock', 'fremovexattr', 'fsetxattr', 'fstat', 'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64',
  'fsync', 'ftruncate', 'ftruncate64', 'futimesat', 'getcwd', 'getdents', 'getdents64', 'getxattr',
  'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'lchown', 'lchown32', 'lgetxattr',
  'link', 'linkat', 'listxattr', 'llistxattr', '_llseek', 'lremovexattr', 'lseek', 'lsetxattr', 'lstat', 'lstat64',
  'mkdir', 'mkdirat', 'mknod', 'mknodat', 'name_to_handle_at', 'newfstatat', 'open', 'openat', 'openat2', 'pipe',
  'pipe2', 'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink',
  'readlinkat', 'readv', 'removexattr', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'sendfile64',
  'setxattr', 'splice', 'stat', 'stat64', 'statfs', 'statfs64', 'statx', 'symlink', 'symlinkat', 'sync',
  'sync_file_range', 'syncfs', 'tee', 'truncate', 'truncate64', 'umask', 'unlink', 'unlinkat', 'utime',
  'utimensat', 'utimensat_time64', 'utimes', 'vmsplice', 'write', 'writev', 'cachestat', 'statmount', 'listmount',
];

const asyncIo = [
  'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
  'epoll_wait_old', 'eventfd', 'eventfd2', 'io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents',
  'io_pgetevents_time64', 'io_setup', 'io_submit', 'ioctl', 'poll', 'ppoll', 'ppoll_time64', 'pselect6',
  'pselect6_time64', 'select', '_newselect', 'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_gettime',
  'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64',
];

const memory = [
  'brk', 'get_mempolicy', 'madvise', 'map_shadow_stack', 'mbind', 'membarrier', 'memfd_create', 'mincore', 'mlock',
  'mlock2', 'mlockall', 'mmap', 'mmap2', 'mprotect', 'mremap', 'mseal', 'msync', 'munlock', 'munlockall', 'munmap',
  'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'remap_file_pages', 'set_mempolicy', 'set_mempolicy_home_node',
];

const processes = [
  'capget', 'capset', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'getcpu', 'getegid', 'getegid32',
  'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getpgid', 'getpgrp', 'getpid',
  'getppid', 'getpriority', 'getrandom', 'getresgid', 'getresgid32', 'getresuid', 'getresuid32', 'getrlimit',
  'get_robust_list', 'getrusage', 'getsid', 'gettid', 'getuid', 'getuid32', 'ioprio_get', 'ioprio_set',
  'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self', 'pidfd_getfd', 'pidfd_open', 'prctl',
  'prlimit64', 'process_mrelease', 'rseq', 'sched_getaffinity', 'sched_getattr', 'sched_getparam',
  'sched_get_priority_max', 'sched_get_priority_min', 'sched_getscheduler', 'sched_rr_get_interval',
  'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr', 'sched_setparam', 'sched_setscheduler',
  'sched_yield', 'seccomp', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid', 'setgid32', 'setgroups',
  'setgroups32', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid', 'setresgid32', 'setresuid',
  'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'set_robust_list', 'setsid', 'set_tid_address', 'setuid',
  'setuid32', 'ugetrlimit', 'uname', 'vfork', 'wait4', 'waitid', 'waitpid', 'sysinfo', 'futex', 'futex_requeue',
  'futex_time64', 'futex_wait', 'futex_waitv', 'futex_wake',
];

const signals = [
  'kill', 'pause', 'pidfd_send_signal', 'restart_syscall', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask',
  'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64',
  'rt_tgsigqueueinfo', 'sigaltstack', 'sigprocmask', 'sigreturn', 'tgkill', 'tkill',
];

const time = [
  'adjtimex', 'alarm', 'clock_getres', 'clock_getres_time64', 'clock_gettime', 'clock_gettime64', 'clock_nanosleep',
  'clock_nanosleep_time64', 'getitimer', 'gettimeofday', 'nanosleep', 'setitimer', 'time', 'timer_create',
  'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime', 'timer_settime64', 'times',
];

const network = [
  'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'listen', 'recv', 'recvfrom',
  'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'send', 'sendmmsg', 'sendmsg', 'sendto', 'setsockopt', 'shutdown',
  'socketcall', 'socketpair',
];

const ipc = [
  'ipc', 'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend',
  'mq_timedsend_time64', 'mq_unlink', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop',
  'semtimedop', 'semtimedop_time64', 'shmat', 'shmctl', 'shmdt', 'shmget',
];

const allow = (names: string[], extra: Partial<ProfileSyscall> = {}): ProfileSyscall => ({ names, action: 'SCMP_ACT_ALLOW', ...extra });
const withCap = (cap: string, names: string[]): ProfileSyscall => allow(names, { includes: { caps: [cap] } });

// personality(2) personas that change nothing dangerous: the query value,
// PER_LINUX, PER_LINUX32 and their UNAME26 variants.
const safePersonalities = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const syscalls: ProfileSyscall[] = [
  allow([...files, ...asyncIo, ...memory, ...processes, ...signals, ...time, ...network, ...ipc]),
  ...safePersonalities.map((value) => allow(['personality'], { args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
  // Every socket family but vsock, which reaches the host or hypervisor directly.
  allow(['socket'], { args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] }),
  // Since 4.8 seccomp is re-checked after a tracer changes a syscall, so tracing cannot bypass the filter.
  allow(['ptrace', 'process_vm_readv', 'process_vm_writev'], { includes: { minKernel: '4.8' } }),

  allow(['arch_prctl', 'modify_ldt', 'get_thread_area', 'set_thread_area'], { includes: { arches: ['amd64', 'x32', '386'] } }),
  allow(['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'], {
    includes: { arches: ['arm', 'arm64'] },
  }),

  // Namespaces: only CLONE_NEW*-free calls without CAP_SYS_ADMIN.
  allow(['clone'], {
    args: [{ index: 0, value: cloneNamespaceFlags, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  }),
  allow(['unshare'], {
    args: [{ index: 0, value: unshareNamespaceFlags, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  }),
  { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },

  withCap('CAP_SYS_ADMIN', [
    'clone', 'clone3', 'unshare', 'setns',
    'mount', 'mount_setattr', 'move_mount', 'open_tree', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'umount',
    'umount2', 'pivot_root',
    'bpf', 'perf_event_open', 'fanotify_init', 'lookup_dcookie', 'quotactl', 'quotactl_fd', 'syslog',
    'sethostname', 'setdomainname', 'swapon', 'swapoff',
    'keyctl', 'add_key', 'request_key',
  ]),
  withCap('CAP_BPF', ['bpf']),
  withCap('CAP_PERFMON', ['perf_event_open']),
  withCap('CAP_SYSLOG', ['syslog']),
  withCap('CAP_SYS_BOOT', ['reboot', 'kexec_load', 'kexec_file_load']),
  withCap('CAP_SYS_CHROOT', ['chroot']),
  withCap('CAP_SYS_MODULE', ['init_module', 'finit_module', 'delete_module']),
  withCap('CAP_SYS_PACCT', ['acct']),
  withCap('CAP_SYS_PTRACE', ['kcmp', 'process_madvise', 'userfaultfd']),
  withCap('CAP_SYS_RAWIO', ['iopl', 'ioperm']),
  withCap('CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64']),
  withCap('CAP_SYS_TTY_CONFIG', ['vhangup']),
  withCap('CAP_DAC_READ_SEARCH', ['open_by_handle_at']),
];

/** skiff's RuntimeDefault profile, before it is compiled for a container's capabilities and architecture. */
export const defaultSeccompProfile: SeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: EPERM,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls,
};
