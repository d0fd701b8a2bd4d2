#![no_main]
//! See `src/command.rs` for the input layout and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_proto_fuzz::command::check(data));
