use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("filewrite-{}-{}", name, std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

const fn opts(replace: bool, durable: bool) -> WriteOptions {
    WriteOptions { mode: 0o600, replace, durable, parent_mode: None }
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.contains(TMP_INFIX)).collect()
}

#[test]
fn writes_and_replaces_whole_files_in_every_mode() {
    let dir = scratch("modes");
    for (i, o) in [opts(false, false), opts(false, true), opts(true, false), opts(true, true)].iter().enumerate() {
        let path = dir.join(format!("f{}", i));
        write_file(&path, b"first, and longer", o).unwrap();
        write_file(&path, b"second", o).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second", "{:?}", o);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(leftovers(&dir).is_empty());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_replace_keeps_the_old_file_open_readers_see() {
    let dir = scratch("replace");
    let path = dir.join("state.json");
    write_file(&path, b"old", &opts(true, true)).unwrap();
    let before = fs::File::open(&path).unwrap();
    write_file(&path, b"new", &opts(true, true)).unwrap();
    // The reader that had the file open still has the old inode, whole.
    let mut old = String::new();
    std::io::Read::read_to_string(&mut &before, &mut old).unwrap();
    assert_eq!(old, "old");
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn makes_the_parent_when_asked() {
    let dir = scratch("parent");
    let path = dir.join("rec").join("record.json");
    let o = WriteOptions { parent_mode: Some(0o700), ..opts(false, false) };
    write_file(&path, b"{}", &o).unwrap();
    assert_eq!(fs::metadata(dir.join("rec")).unwrap().permissions().mode() & 0o777, 0o700);
    // An existing parent is fine.
    write_file(&path, b"{ }", &o).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"{ }");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn failures_name_the_call_and_path_and_leave_no_sibling() {
    let dir = scratch("fail");
    let missing = dir.join("no-such-dir").join("f");
    let err = write_file(&missing, b"x", &opts(true, true)).unwrap_err();
    assert_eq!((err.errno, err.syscall), (libc::ENOENT, "open"));
    assert!(err.path.as_ref().unwrap().starts_with(dir.join("no-such-dir")));
    // Renaming a file over a directory fails after the sibling was written: it is removed.
    fs::create_dir(dir.join("taken")).unwrap();
    let err = write_file(&dir.join("taken"), b"x", &opts(true, false)).unwrap_err();
    assert_eq!((err.errno, err.syscall), (libc::EISDIR, "rename"));
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    assert!(fs::metadata(dir.join("taken")).unwrap().is_dir());
    fs::remove_dir_all(dir).unwrap();
}
