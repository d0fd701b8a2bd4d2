//! `smtp-async-std` (the smol driver on async-std's streams) through the conformance matrix,
//! plus the async-only scenarios. The transcripts over a real socket are one test each,
//! `async_std::FILE.smtp`, in `tests/tests/transcripts.rs`.

smtp_tests::conformance_tests!(smtp_tests::matrix::AsyncStd);

smtp_tests::async_only_tests!(smtp_async_std::AsyncStd);
