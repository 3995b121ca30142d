// The addon calls napi_* functions that the node executable provides when it
// loads the library. ELF linkers leave undefined symbols in a shared object
// alone; the Mach-O linker rejects them unless told to look them up at load.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-cdylib-link-arg=-undefined");
        println!("cargo:rustc-cdylib-link-arg=dynamic_lookup");
    }
}
