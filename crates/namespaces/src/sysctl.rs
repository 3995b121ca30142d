//! Which namespace a sysctl belongs to, and key validation.

use crate::pin::Kind;

/// The IPC namespace's sysctls (as runc lists them), besides fs.mqueue.*.
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The namespace whose copy of `key` (dotted form) a write changes, or
/// None for a sysctl that is not namespaced (writing it would change the
/// host).
pub fn sysctl_kind(key: &str) -> Option<Kind> {
    if key.starts_with("net.") {
        Some(Kind::Net)
    } else if key.starts_with("fs.mqueue.") || IPC_SYSCTLS.contains(&key) {
        Some(Kind::Ipc)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(Kind::Uts)
    } else {
        None
    }
}

/// Checks a sysctl key is dotted components of [A-Za-z0-9_-] (at least
/// two), so its /proc/sys path can name nothing else: no `/`, no `..`, no
/// empty component. Returns why not.
pub fn check_sysctl_key(key: &str) -> Result<(), String> {
    let name_ok = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if key.split('.').count() < 2 || !key.split('.').all(name_ok) {
        return Err(format!(
            "sysctl '{}' must be two or more dot-separated names of letters, digits, '_' and '-'",
            key
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_sysctls_map_to_their_namespace() {
        assert_eq!(
            sysctl_kind("net.ipv4.ip_unprivileged_port_start"),
            Some(Kind::Net)
        );
        assert_eq!(sysctl_kind("net.ipv4.ping_group_range"), Some(Kind::Net));
        assert_eq!(sysctl_kind("kernel.shm_rmid_forced"), Some(Kind::Ipc));
        assert_eq!(sysctl_kind("fs.mqueue.msg_max"), Some(Kind::Ipc));
        assert_eq!(sysctl_kind("kernel.domainname"), Some(Kind::Uts));
        assert_eq!(sysctl_kind("kernel.panic"), None);
        assert_eq!(sysctl_kind("vm.overcommit_memory"), None);
        assert_eq!(sysctl_kind("netfilter.x"), None);
    }

    #[test]
    fn keys_cannot_name_other_paths() {
        assert!(check_sysctl_key("net.ipv4.ip_unprivileged_port_start").is_ok());
        assert!(check_sysctl_key("net.ipv4.conf.eth-0.forwarding").is_ok());
        for bad in [
            "",
            "net",
            "net..x",
            ".net.x",
            "net.x.",
            "net/ipv4/ip_forward",
            "net.ipv4.../../../kernel/panic",
            "net.ipv4.conf.eth0 .x",
            "net.ipv4.a\0b",
        ] {
            assert!(check_sysctl_key(bad).is_err(), "{:?}", bad);
        }
    }
}
