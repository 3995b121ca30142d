//! A check that a binary is statically linked, shared by the tests of the
//! binaries built by crates/pause/build.rs (pause, runtime-gate).

use std::fs;
use std::process::Command;

/// No PT_INTERP or PT_DYNAMIC program header: the kernel runs it without
/// ld.so, and it needs nothing from the root it lands in.
pub fn assert_statically_linked(path: &str) {
    let elf = fs::read(path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit ELF expected");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    const PT_DYNAMIC: u32 = 2;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
        assert_ne!(p_type, PT_INTERP, "{} asks for a dynamic loader", path);
        assert_ne!(p_type, PT_DYNAMIC, "{} has a dynamic section", path);
    }
    if let Ok(out) = Command::new("ldd").arg(path).output() {
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("not a dynamic executable"), "ldd says: {}", text);
    }
}
