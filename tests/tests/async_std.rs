//! `smtp-async-std` (the smol driver on async-std's streams) through the conformance matrix,
//! plus the async-only scenarios.

smtp_tests::conformance_tests!(smtp_tests::matrix::AsyncStd);

smtp_tests::async_only_tests!(smtp_async_std::AsyncStd);
