//! Links pause statically against glibc, so that it runs in any rootfs (or
//! none).
//!
//! `-C target-feature=+crt-static` would be the usual way, but rustflags
//! apply to the whole build and crt-static cannot produce the addon's
//! cdylib; and a `no_std` pause is impossible while the workspace's release
//! profile keeps panic=unwind (which the addon needs). So the binary is an
//! ordinary std program, and its link line is made static here instead:
//!
//! * `-static` makes gcc start it with crt1.o, without an interpreter, and
//!   drop its default -pie;
//! * rustc still asks for `-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc`,
//!   after an explicit `-Bdynamic` (newer rustc) that would undo -static.
//!   A directory searched first (bins only) holds a linker script named
//!   lib<name>.so for each, which a -Bdynamic search finds before the
//!   real shared library and which pulls in the static archive instead
//!   (never a .a of the same name: the script would find itself). gcc_s
//!   has no archive at all, so its script is also there as libgcc_s.a and
//!   links libgcc_eh, its static counterpart. libc, libgcc and libgcc_eh
//!   go in one group: rustc links with -nodefaultlibs, and static glibc
//!   and libgcc refer to each other.
//!
//! Works with GNU ld and lld alike; `tests/pause.rs` checks the result has
//! no PT_INTERP.
use std::path::PathBuf;

const LIBS: &[(&str, &str)] = &[
    ("gcc_s", "GROUP ( libgcc_eh.a libgcc.a libc.a )"),
    ("c", "GROUP ( libc.a libgcc.a libgcc_eh.a )"),
    ("m", "INPUT ( libm.a )"),
    ("pthread", "INPUT ( libpthread.a )"),
    ("rt", "INPUT ( librt.a )"),
    ("dl", "INPUT ( libdl.a )"),
    ("util", "INPUT ( libutil.a )"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir = out.join("static-libs");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/static-libs");
    for (name, script) in LIBS {
        let text = format!(
            "/* skiff: link -l{} statically */\n{}\n",
            name, script
        );
        let exts: &[&str] = if *name == "gcc_s" {
            &["so", "a"]
        } else {
            &["so"]
        };
        for ext in exts {
            let file = dir.join(format!("lib{}.{}", name, ext));
            std::fs::write(&file, &text).expect("write a linker script");
        }
    }
    println!("cargo:rustc-link-arg-bins=-static");
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
}
