//! Lexical path cleaning relative to a root.

/// `path` as a relative path inside a root: empty, `.` and `/` components
/// dropped, `..` removing the component before it and never climbing above
/// the root. "" is the root itself. Done before symlinks are seen, as
/// runc and securejoin do; either way every lookup stays in the root.
pub fn clean(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join(&b'/')
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn cleans_like_a_rooted_path() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("/", ""),
            (".", ""),
            ("/etc/passwd", "etc/passwd"),
            ("etc//passwd/", "etc/passwd"),
            ("./a/./b", "a/b"),
            ("a/../b", "b"),
            ("../../../etc", "etc"),
            ("/a/b/../../../..", ""),
            ("a/..b/c", "a/..b/c"),
        ];
        for (input, want) in cases {
            assert_eq!(
                String::from_utf8(clean(input.as_bytes())).unwrap(),
                *want,
                "clean({:?})",
                input
            );
        }
    }
}
