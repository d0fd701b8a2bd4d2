#![no_main]
//! See `src/reply_stream.rs` for the input layout and the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_proto_fuzz::reply_stream::check(data));
