#![no_main]
//! See `src/body.rs` for the input layout and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_proto_fuzz::body::check(data));
