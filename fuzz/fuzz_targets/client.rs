#![no_main]
//! See `src/client.rs` for the script layout and the properties checked.

use smtp_proto_fuzz::client::{run, Script};

libfuzzer_sys::fuzz_target!(|script: Script| {
    run(&script, smtp_proto_fuzz::start());
});
