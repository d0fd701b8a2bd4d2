//! Every error type of the crate, in one place.

pub use crate::body::BodyError;
pub use crate::command::InvalidInput;
pub use crate::reply::ParseError;
pub use crate::sasl::SaslError;
