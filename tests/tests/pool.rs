//! The connection pool of every adapter against a server that misbehaves on purpose
//! (`smtp_tests::pool_server`): limits per connection, idle closes, 421/4xx/5xx on command,
//! resets at chosen points, refused connections, and a chaos proxy. Each scenario runs on
//! blocking, smol and async-std; the reports must account for every message exactly once, the
//! server must hold each delivered message exactly once, and nothing may be reported delivered
//! that the server did not acknowledge.

#![allow(unreachable_pub)]

mod pool {
    pub mod harness;
    pub mod scenarios;
}

use pool::harness::{AsyncPool, BlockingPool};

macro_rules! pool_tests {
    ($($runtime:ident: $pool:ty;)*) => {$(
        mod $runtime {
            use super::pool::scenarios;
            #[allow(unused_imports)]
            use super::*;
            type P = $pool;

            #[test]
            fn messages_spread_over_the_connections_and_arrive_once() {
                scenarios::messages_spread_over_the_connections_and_arrive_once::<P>();
            }
            #[test]
            fn many_threads_share_one_pool() {
                scenarios::many_threads_share_one_pool::<P>();
            }
            #[test]
            fn a_per_connection_limit_452_renews_the_connection() {
                scenarios::a_per_connection_limit_renews_the_connection::<P>(false);
            }
            #[test]
            fn a_per_connection_limit_421_renews_the_connection() {
                scenarios::a_per_connection_limit_renews_the_connection::<P>(true);
            }
            #[test]
            fn the_pools_own_quota_renews_connections() {
                scenarios::the_pools_own_quota_renews_connections::<P>();
            }
            #[test]
            fn an_idle_close_by_the_server_costs_nothing() {
                scenarios::an_idle_close_by_the_server_costs_nothing::<P>(false);
            }
            #[test]
            fn an_idle_close_with_421_costs_nothing() {
                scenarios::an_idle_close_by_the_server_costs_nothing::<P>(true);
            }
            #[test]
            fn an_idle_connection_is_checked_before_reuse() {
                scenarios::an_idle_connection_is_checked_before_reuse::<P>();
            }
            #[test]
            fn a_421_mid_session_is_retried_on_a_new_connection() {
                scenarios::a_421_mid_session_is_retried_on_a_new_connection::<P>();
            }
            #[test]
            fn a_5xx_is_reported_and_never_retried() {
                scenarios::a_5xx_is_reported_and_never_retried::<P>();
            }
            #[test]
            fn a_4xx_is_retried_until_the_retries_are_spent() {
                scenarios::a_4xx_is_retried_until_the_retries_are_spent::<P>();
            }
            #[test]
            fn a_reset_before_the_end_of_data_is_retried() {
                scenarios::a_reset_before_the_end_of_data_is_retried::<P>();
            }
            #[test]
            fn a_reset_after_the_end_of_data_is_unknown_and_never_resent() {
                scenarios::a_reset_after_the_end_of_data_is_unknown_and_never_resent::<P>();
            }
            #[test]
            fn refused_connections_are_retried_with_backoff() {
                scenarios::refused_connections_are_retried_with_backoff::<P>();
            }
            #[test]
            fn a_server_that_stays_down_fails_each_message_once() {
                scenarios::a_server_that_stays_down_fails_each_message_once::<P>();
            }
            #[test]
            fn pooled_connections_use_starttls_verified() {
                scenarios::pooled_connections_use_starttls_verified::<P>();
            }
            #[test]
            fn pooled_connections_log_in() {
                scenarios::pooled_connections_log_in::<P>();
            }
            #[test]
            fn chaos_two_thousand_messages_through_a_resetting_proxy() {
                scenarios::chaos::<P>(2000);
            }
        }
    )*};
}

pool_tests! {
    blocking: BlockingPool;
    smol: AsyncPool<smtp_smol::Smol>;
    async_std: AsyncPool<smtp_async_std::AsyncStd>;
}
