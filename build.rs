//! Links the binaries as position-dependent executables on Linux (`-no-pie`).
//!
//! A position-independent executable is relocated by the dynamic loader at every start:
//! about 0.8 MB of `.rela.dyn` entries read and applied, and the pages they land on
//! (`.data.rel.ro`, 0.5 MB) copied into anonymous memory. Lambda loads the function at one
//! address anyway, so a fixed address costs nothing and both disappear from its resident
//! memory (bench/README.md). The code itself stays position-independent: only the link
//! changes, so proc macros and build scripts, which are shared objects, are untouched.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
