//! How the binary is linked (build.rs): at a fixed address on Linux, so that the loader has
//! no relocations to apply at start-up and the relocated data stays file-backed.

#[cfg(target_os = "linux")]
#[test]
fn the_binary_is_a_position_dependent_executable() {
    use std::io::Read;
    let mut header = [0u8; 18];
    std::fs::File::open(env!("CARGO_BIN_EXE_vendor-access"))
        .and_then(|mut binary| binary.read_exact(&mut header))
        .expect("the binary's ELF header");
    assert_eq!(&header[..4], b"\x7fELF");
    let e_type = u16::from_le_bytes([header[16], header[17]]);
    // ET_EXEC = 2; a position-independent executable is ET_DYN = 3.
    assert_eq!(e_type, 2, "the binary is not linked at a fixed address");
}
