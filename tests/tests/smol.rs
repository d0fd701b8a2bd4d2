//! `smtp-smol` through the conformance matrix (every replayable transcript over a real socket,
//! every integration scenario), plus what only the async adapters have: cancellation and
//! sessions over any `futures-io` stream.

smtp_tests::conformance_tests!(smtp_tests::matrix::Smol);

smtp_tests::async_only_tests!(smtp_smol::Smol);
