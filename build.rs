//! Links cw's executables as position-dependent (non-PIE) binaries.
//!
//! Every agent starts at least one `cw` process (`cw mcp`, and `cw sim-agent` for the scripted
//! agent), so cw's start-up cost is paid once per agent session. As a PIE, the dynamic loader
//! applies ~16,000 relative relocations at every start, copying each page of `.data.rel.ro` it
//! touches; a fixed-address executable has them resolved at link time. (Only the binaries: the
//! library, tests' dependencies and proc macros stay position-independent.)

fn main() {
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
